"""The research workflow (issue 22): variants side by side, live progress, plug-ins that fail alone,
masked scores, and the smaller points a researcher meets when publishing a table."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage.metrics import structural_similarity
from test_leaderboard import make_run
from tiny_pikfix import TINY, tiny

from pikfix_bench import progress as progress_module
from pikfix_bench.baselines import MODELS, create_model, list_models
from pikfix_bench.baselines import base as base_module
from pikfix_bench.baselines.base import ModelError
from pikfix_bench.baselines.pix2pix import build_generator
from pikfix_bench.cli import main
from pikfix_bench.datasets.store import ARRAY_NAMES, Dataset
from pikfix_bench.evaluation import RunDirectory, evaluate
from pikfix_bench.leaderboard import build_leaderboard, find_runs, load_run
from pikfix_bench.metrics import ImageScorer, load_lpips_alex
from pikfix_bench.metrics.masked import DAMAGE_THRESHOLD
from pikfix_bench.progress import Progress


def invoke(*args: str, expect: int = 0):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


@pytest.fixture(scope="module")
def welsh_variants(dataset, tmp_path_factory):
    """Three welsh setups (default, samples=5, samples=50 labelled) and a true re-run of the default."""
    root = tmp_path_factory.mktemp("variants")
    common = ["--dataset", str(dataset)]
    invoke("evaluate", "--model", "welsh", *common, "--out", str(root / "default"))
    invoke("evaluate", "--model", "welsh", "--model-opt", "samples=5", *common, "--out", str(root / "s5"))
    invoke(
        "evaluate", "--model", "welsh", "--model-opt", "samples=50", "--label", "welsh-s50",
        *common, "--out", str(root / "s50"),
    )  # fmt: skip
    invoke("evaluate", "--model", "welsh", *common, "--out", str(root / "default-again"))
    return root


# 1. Variants never collapse into one row


def test_three_welsh_variants_are_three_rows(welsh_variants):
    board = build_leaderboard(find_runs([welsh_variants]), ["psnr"])
    assert sorted(board.models) == ["welsh", "welsh (samples=5)", "welsh-s50"]
    # the two default runs are one setup: one row, the newest, with the usual note
    assert any("2 runs" in note for note in board.notes)
    text = invoke("leaderboard", str(welsh_variants)).output
    assert "welsh (samples=5)" in text and "welsh-s50" in text


def test_run_json_records_effective_options_defaults_and_label(welsh_variants):
    default = RunDirectory(welsh_variants / "default").read_run()
    assert default["model"]["options"] == {"samples": 200}
    assert default["model"]["defaults"] == {"samples": 200}
    assert default["model"]["given"] == {}
    assert "label" not in default
    labelled = RunDirectory(welsh_variants / "s50").read_run()
    assert labelled["label"] == "welsh-s50"
    assert labelled["model"]["options"] == {"samples": 50}


def test_every_weights_file_is_hashed(tmp_path):
    weights = tmp_path / "latest_net_G.pth"
    weights.write_bytes(b"not really a checkpoint")
    record = create_model("pix2pix", weights=str(weights)).describe()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["files_sha256"] == {"weights": digest}
    assert record["weights_sha256"] == digest
    assert record["options"]["mode"] == "lab" and record["defaults"]["mode"] == "lab"


def test_label_is_used_by_compare_figure_and_report(welsh_variants, dataset, tmp_path):
    compared = invoke("compare", str(welsh_variants / "s5"), str(welsh_variants / "s50")).output
    assert "welsh-s50" in compared and "welsh (samples=5)" in compared
    assert load_run(welsh_variants / "s50").name == "welsh-s50"
    report = tmp_path / "report.html"
    invoke("report", str(welsh_variants), "--out", str(report))
    assert "welsh-s50" in report.read_text()


def test_runs_of_older_versions_still_load(welsh_variants, tmp_path):
    """An older run.json: options as typed, no defaults, no label."""
    old = tmp_path / "old"
    RunDirectory(old).path.mkdir()
    for name in ("per_image.csv", "summary.json"):
        (old / name).write_bytes((welsh_variants / "default" / name).read_bytes())
    record = RunDirectory(welsh_variants / "default").read_run()
    record["model"] = {"name": "welsh", "options": {"samples": "5"}, "weights_sha256": None}
    RunDirectory(old).write_run(record)
    board = build_leaderboard(find_runs([old]), ["psnr"])
    assert board.models == ["welsh (samples=5)"]


def test_resume_keeps_the_label_and_refuses_another(dataset, tmp_path):
    out = tmp_path / "run"
    evaluate("gray", dataset, out, label="mine", progress=False)
    (out / "summary.json").unlink()  # as if interrupted
    evaluate("gray", dataset, out, resume=True, progress=False)
    assert RunDirectory(out).read_run()["label"] == "mine"
    (out / "summary.json").unlink()
    refused = invoke(
        "evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(out), "--resume",
        "--label", "other", expect=2,
    )  # fmt: skip
    assert "label" in refused.output and "mine" in refused.output


def test_a_bad_label_is_refused(dataset, tmp_path):
    result = invoke(
        "evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(tmp_path / "r"),
        "--label", "two\nlines", expect=2,
    )  # fmt: skip
    assert "--label" in result.output and "control characters" in result.output


# 3. One broken plug-in does not take every command down


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch):
    (tmp_path / "brokenplug.py").write_text("import a_module_that_is_not_installed\n")
    dist = tmp_path / "brokenplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pikfix_bench.models]\nbroken-model = brokenplug:Model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "broken-model"
    MODELS.pop("broken-model", None)
    base_module.PLUGIN_ERRORS.pop("broken-model", None)  # so the next test meets the plug-in afresh


def test_a_broken_plugin_is_named_and_the_rest_works(broken_plugin, dataset, tmp_path):
    with pytest.warns(Warning, match="broken-model.*a_module_that_is_not_installed"):
        models = list_models()
    assert "gray" in models and broken_plugin not in models
    listed = invoke("models", "list")
    assert "broken-model" in listed.output and "a_module_that_is_not_installed" in listed.output
    assert "Traceback" not in listed.output
    invoke("evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(tmp_path / "gray"))
    used = invoke(
        "evaluate", "--model", broken_plugin, "--dataset", str(dataset), "--out", str(tmp_path / "b"),
        expect=2,
    )  # fmt: skip
    assert "plug-in" in used.output and "a_module_that_is_not_installed" in used.output
    assert len(used.output.strip().splitlines()) <= 3


def test_a_plugin_that_fails_after_registering_its_model_is_not_used(tmp_path, monkeypatch, dataset):
    (tmp_path / "halfplug.py").write_text(
        "from pikfix_bench.baselines.base import ModelAdapter, ModelDescriptor, register_model\n"
        "@register_model\n"
        "class Model(ModelAdapter):\n"
        "    descriptor = ModelDescriptor('half-model', 'registers, then its module fails', 'any', False)\n"
        "    def predict(self, batch):\n"
        "        return list(batch.inputs)\n"
        "raise RuntimeError('boom after registering')\n"
    )
    dist = tmp_path / "halfplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: halfplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pikfix_bench.models]\nhalf-model = halfplug:Model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(Warning, match="half-model.*boom after registering"):
            models = list_models()
        assert "half-model" not in models
        used = invoke(
            "evaluate",
            "--model",
            "half-model",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "h"),
            expect=2,
        )
        assert "boom after registering" in used.output
    finally:
        MODELS.pop("half-model", None)
        base_module.PLUGIN_ERRORS.pop("half-model", None)


def test_a_broken_plugin_warns_once(broken_plugin):
    with pytest.warns(Warning) as caught:
        list_models()
        list_models()
        create_model("gray")
    assert len([w for w in caught if "broken-model" in str(w.message)]) == 1


def test_models_list_json_names_the_broken_plugin(broken_plugin):
    rows = json.loads(invoke("models", "list", "--json").stdout)
    assert any(row["name"] == "broken-model" and "error" in row for row in rows)


# 2. Long work reports as it goes, also when its output is not a terminal


def test_progress_lines_off_a_terminal_every_tenth_and_flushed():
    stream = io.StringIO()
    with Progress(40, "scoring", unit="img", stream=stream) as progress:
        for _ in range(40):
            progress.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("scoring: 4/40 img (10%)") and lines[-1].startswith(
        "scoring: 40/40 img (100%)"
    )


def test_progress_lines_every_30_seconds_when_slow(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    with Progress(1000, "building", stream=stream) as progress:
        for _ in range(3):
            clock[0] += 31.0
            progress.update(1)
    assert [line.split(" (")[0] for line in stream.getvalue().splitlines()] == [
        "building: 1/1000 img",
        "building: 2/1000 img",
        "building: 3/1000 img",
    ]


def test_progress_is_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with Progress(10, "evaluating", stream=stream) as progress:
        progress.update(10)
    assert "\r" in stream.getvalue()  # tqdm redraws its line


def test_evaluate_and_build_dataset_show_progress_when_piped(dataset, tmp_path):
    runner = CliRunner()
    evaluated = runner.invoke(
        main, ["evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(tmp_path / "g")]
    )
    assert evaluated.exit_code == 0 and "gray: 8/8 img (100%)" in evaluated.stderr
    built = runner.invoke(main, ["build-dataset", "sample", "--out", str(tmp_path / "d"), "--size", "32"])
    assert built.exit_code == 0 and "building: 8/8 img (100%)" in built.stderr


def test_train_reports_each_epoch_as_it_ends_when_piped(dataset, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text("".join(f"{key}: {value}\n" for key, value in TINY.items()))
    command = [
        sys.executable, "-m", "pikfix_bench.cli", "train", "--dataset", str(dataset), "--out", str(tmp_path / "t"),
        "--config", str(config), "--epochs", "2", "--crop", "32", "--batch-size", "2", "--device", "cpu",
        "--workers", "0",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, running_at_first_epoch = [], None
    for line in process.stdout:
        seen.append(line)
        if line.startswith("epoch 1:"):
            running_at_first_epoch = process.poll() is None
    assert process.wait() == 0, "".join(seen)
    assert running_at_first_epoch, "".join(seen)  # the line came while epoch 2 was still to run
    text = "".join(seen)
    banner = text[: text.index("epoch 1:")]
    for part in ("7 training", "1 validation", "4 steps per epoch", "cpu", "fp32", "log.csv"):
        assert part in banner, text
    assert "epoch 1/2: 4/4 batch (100%)" in banner  # plain progress lines, not a bar
    # the first epoch's line came before the second epoch's work, not with the others at the end
    assert text.index("epoch 1:") < text.index("epoch 2/2: 1/4 batch") < text.index("epoch 2:")


# 5. Scores inside and outside the damaged region


def _soft_mask(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Crack-like strokes with soft edges (alpha 0..255), as the structural steps store them."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, np.uint8)
    for _ in range(4):
        points = rng.integers(0, [shape[1], shape[0]], size=(2, 2))
        cv2.line(mask, tuple(map(int, points[0])), tuple(map(int, points[1])), 255, int(rng.integers(2, 6)))
    return cv2.GaussianBlur(mask, (0, 0), 1.5)


def _direct(profile: str, pred: np.ndarray, gt: np.ndarray, region: np.ndarray, lpips_map: np.ndarray):
    """PSNR, SSIM and LPIPS of one region, computed directly (numpy, scikit-image, the official
    spatial LPIPS map)."""
    if not region.any():
        return {"psnr": np.nan, "ssim": np.nan, "lpips": np.nan}
    error = (pred.astype(np.float64) - gt.astype(np.float64))[region]
    psnr = 10 * np.log10(255.0**2 / np.mean(error**2))
    maps = [
        structural_similarity(
            pred[..., c], gt[..., c], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=255, full=True,
        )[1]
        for c in range(3)
    ]  # fmt: skip
    ssim_map = np.mean(maps, axis=0)
    inner = np.zeros_like(region)
    inner[5:-5, 5:-5] = True  # the skimage profile keeps the positions whose window lies inside
    ssim = ssim_map[region & inner].mean() if (region & inner).any() else np.nan
    return {"psnr": psnr, "ssim": ssim, "lpips": lpips_map[region].mean()}


def test_masked_metrics_match_a_direct_computation(photo_pairs):
    model = load_lpips_alex("cpu")
    names = [
        f"{metric}_{region}" for region in ("damaged", "undamaged") for metric in ("psnr", "ssim", "lpips")
    ]
    pairs = photo_pairs[::3]
    masks = [_soft_mask(gt.shape[:2], index) for index, (_, _, gt) in enumerate(pairs)]
    masks[-1][:] = 0  # an undamaged picture: no damaged region
    scores = ImageScorer("skimage", names).score([p for _, p, _ in pairs], [g for _, _, g in pairs], masks)
    model.spatial = True  # the official forward's per-pixel map (upsampled layer distances, summed)
    try:
        for (name, pred, gt), mask, got in zip(pairs, masks, scores, strict=True):
            tensors = [torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (pred, gt)]
            with torch.no_grad():
                lpips_map = model(*tensors, normalize=True)[0, 0].double().numpy()
            for region, where in (("damaged", mask >= DAMAGE_THRESHOLD), ("undamaged", mask == 0)):
                expected = _direct("skimage", pred, gt, where, lpips_map)
                for metric, value in expected.items():
                    found = got[f"{metric}_{region}"]
                    if np.isnan(value):
                        assert np.isnan(found), (name, region, metric)
                    else:
                        assert found == pytest.approx(value, rel=1e-5, abs=1e-6), (name, region, metric)
    finally:
        model.spatial = False


def test_masked_metrics_without_masks_are_missing_not_errors(photo_pairs):
    _, pred, gt = photo_pairs[0]
    scores = ImageScorer("pikfix", ["psnr", "psnr_damaged", "lpips_undamaged"]).score([pred], [gt], [None])
    assert np.isfinite(scores[0]["psnr"])
    assert np.isnan(scores[0]["psnr_damaged"]) and np.isnan(scores[0]["lpips_undamaged"])


def test_evaluate_masked_reads_masks_only_when_asked(dataset, tmp_path, monkeypatch):
    read = []
    original = Dataset.read

    def spy(self, ids, arrays=ARRAY_NAMES):
        read.append(tuple(arrays))
        return original(self, ids, arrays)

    monkeypatch.setattr(Dataset, "read", spy)
    evaluate("gray", dataset, tmp_path / "plain", progress=False)
    assert read and all("mask" not in arrays for arrays in read)
    read.clear()
    evaluate("gray", dataset, tmp_path / "masked", progress=False, masked=True)
    assert read and all("mask" in arrays for arrays in read)
    rows = RunDirectory(tmp_path / "masked").per_image()
    assert {"psnr_damaged", "ssim_undamaged", "lpips_damaged"} <= set(rows.columns)
    assert RunDirectory(tmp_path / "masked").read_run()["metrics"][-1] == "lpips_undamaged"
    table = invoke("leaderboard", str(tmp_path / "masked"), "--metrics", "psnr,psnr_damaged,psnr_undamaged")
    assert "PSNR damaged" in table.output


@pytest.mark.parametrize("profile", ["pikfix", "basicsr"])
def test_a_wholly_damaged_picture_scores_as_the_whole_image(photo_pairs, profile):
    _, pred, gt = photo_pairs[1]
    mask = np.full(gt.shape[:2], 255, np.uint8)
    [scores] = ImageScorer(profile, ["psnr", "ssim", "psnr_damaged", "ssim_damaged"]).score(
        [pred], [gt], [mask]
    )
    assert scores["psnr_damaged"] == pytest.approx(scores["psnr"], rel=1e-12)
    assert scores["ssim_damaged"] == pytest.approx(scores["ssim"], rel=1e-9)


# 7. Smaller points


def test_dataset_info_lists_samples_and_warns_of_a_self_reference(dataset):
    text = invoke("dataset", "info", str(dataset), "--samples").output
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith(("astronaut", "coffee"))}
    assert "48x48" in lines["astronaut"] and "gray" in lines["astronaut"]
    assert "cracks" in text or "dust" in text  # the damage applied, by operation
    assert "self-shifted" in text and "leak" in text  # the reference is cut from the ground truth


def test_rows_are_ordered_by_the_first_metric(tmp_path):
    for name, psnr, lpips in (("alpha", 20.0, 0.1), ("beta", 25.0, 0.3), ("gamma", 22.0, 0.2)):
        make_run(tmp_path, name, name, {"psnr": np.full(20, psnr), "lpips": np.full(20, lpips)})
    runs = find_runs([tmp_path])
    assert build_leaderboard(runs, ["psnr", "lpips"]).models == ["beta", "gamma", "alpha"]
    assert build_leaderboard(runs, ["lpips", "psnr"]).models == ["alpha", "gamma", "beta"]


def test_compare_names_its_runs_in_order_and_explains_a_disagreement(tmp_path):
    base = np.linspace(20, 30, 20)
    difference = np.r_[np.full(14, -0.1), np.full(6, 3.0)]  # the mean moves, the ranks balance
    make_run(tmp_path, "one", "first-model", {"psnr": base})
    make_run(tmp_path, "two", "second-model", {"psnr": base + difference})
    text = invoke("compare", str(tmp_path / "one"), str(tmp_path / "two")).output
    assert text.index("first-model") < text.index("second-model")
    assert "difference = second - first" in text
    assert "bootstrap" in text and "Wilcoxon" in text and "psnr" in text.split("note:")[1]


def test_report_provenance_is_readable_text(welsh_variants, tmp_path):
    report = tmp_path / "r.html"
    invoke("report", str(welsh_variants / "s5"), "--out", str(report))
    page = report.read_text()
    provenance = page[page.index("<h2>Provenance</h2>") :]
    assert "samples=5" in provenance and "{" not in provenance.split("<script>")[0]
    assert "ssim_padding=zero" in provenance


def test_a_pix2pix_checkpoint_that_does_not_fit_names_the_likely_cause(tmp_path):
    weights = tmp_path / "latest_net_G.pth"
    torch.save(build_generator("rgb", "batch", 32, True).state_dict(), weights)
    model = create_model("pix2pix", weights=str(weights))
    with pytest.raises(ModelError) as caught:
        model.load("cpu")
    message = str(caught.value)
    assert "\n" not in message and "mode=rgb" in message and "ngf=32" in message


# 4. Misleading defaults, stated where the user meets them


def test_evaluating_pikfix_on_its_training_data_warns(dataset, tmp_path):
    from pikfix_bench.model import PikFix
    from pikfix_bench.model.inference import save_model

    content_hash = Dataset(dataset).content_hash
    for name, trained_on in (("same", content_hash), ("other", "0" * 64)):
        save_model(
            tmp_path / f"{name}.pth",
            PikFix(tiny()),
            {"dataset": {"name": "sample", "version": "1.0.0", "content_hash": trained_on}, "epoch": 1},
        )
    common = ["evaluate", "--model", "pikfix", "--dataset", str(dataset)]
    same = invoke(*common, "--model-opt", f"weights={tmp_path / 'same.pth'}", "--out", str(tmp_path / "a"))
    assert "warning:" in same.stderr and "trained on this dataset" in same.stderr
    other = invoke(*common, "--model-opt", f"weights={tmp_path / 'other.pth'}", "--out", str(tmp_path / "b"))
    assert "trained on" not in other.stderr


def test_build_dataset_says_when_it_cuts_a_native_window(tmp_path):
    built = invoke("build-dataset", "sample", "--out", str(tmp_path / "d"), "--size", "32")
    assert "native resolution" in built.stderr  # the sample set's default preset cuts after the damage
    assert "random" in invoke("build-dataset", "--help").output


def test_variants_without_out_land_in_their_own_folders(dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    invoke("evaluate", "--model", "gray", "--dataset", str(dataset))
    invoke("evaluate", "--model", "welsh", "--model-opt", "samples=5", "--dataset", str(dataset))
    invoke(
        "evaluate", "--model", "welsh", "--model-opt", "samples=5", "--dataset", str(dataset), "--label", "w5"
    )
    folders = sorted(path.name for path in (tmp_path / "runs" / dataset.name).iterdir())
    assert folders == ["gray-pikfix", "w5-pikfix", "welsh-samples=5-pikfix"]
