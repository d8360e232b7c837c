"""Runs that can be trusted: validated resume, the adapter contract at the door, exit codes, chains."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from pikfix_bench.baselines import MODELS, Batch, ModelAdapter, ModelDescriptor, ModelError, register_model
from pikfix_bench.baselines.pix2pix import build_generator
from pikfix_bench.cli import main
from pikfix_bench.color import bt601_gray
from pikfix_bench.datasets import open_dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation import RunDirectory, evaluate
from pikfix_bench.image_io import write_png

COLUMNS = ["sample_id", "psnr", "ssim", "lpips", "ciede2000", "colorfulness"]


@pytest.fixture(scope="module")
def clean(dataset, tmp_path_factory):
    """A finished reinhard run in batches of 2, to compare resumed runs with."""
    path = tmp_path_factory.mktemp("clean") / "run"
    evaluate("reinhard", dataset, path, batch_size=2, progress=False)
    return path


def cli(*args: str) -> CliRunner:
    return CliRunner().invoke(main, list(args))


def torn_copy(clean, tmp_path, cut) -> RunDirectory:
    """A copy of the clean run whose per_image.csv is cut by ``cut(text)`` and whose summary is gone."""
    shutil.copytree(clean, tmp_path / "run")
    run = RunDirectory(tmp_path / "run")
    path = run.path / "per_image.csv"
    path.write_text(cut(path.read_text()))
    (run.path / "summary.json").unlink()
    return run


def _cut_mid_number(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[:5]) + lines[5][: lines[5].index(",") + 4]  # "coffee,16.9" and nothing more


def _cut_before_newline(text: str) -> str:
    return text[:-1]  # the last row lacks its line ending: the next append would run into it


def _bad_rows(text: str) -> str:
    lines = text.splitlines(keepends=True)
    unknown = lines[1].replace(lines[1].split(",")[0], "not-a-sample", 1)
    blank = ",".join(lines[2].split(",")[:2]) + ",,0.1,2.0,30.0,0.01\n"  # ssim missing
    return "".join([lines[0], unknown, blank, *lines[3:], lines[4]])  # and a duplicate id


@pytest.mark.parametrize("cut", [_cut_mid_number, _cut_before_newline, _bad_rows])
def test_resume_rescoring_untrusted_rows_gives_the_clean_values(cut, clean, dataset, tmp_path):
    run = torn_copy(clean, tmp_path, cut)
    result = evaluate("reinhard", dataset, run.path, batch_size=2, resume=True, progress=False)
    assert result.dropped, "the untrusted rows must be reported"
    # re-scored samples sit in other batches: LPIPS may move in the last bits (within 1e-6), nothing else
    resumed, whole = run.per_image()[COLUMNS], RunDirectory(clean).per_image()[COLUMNS]
    pd.testing.assert_frame_equal(resumed.drop(columns="lpips"), whole.drop(columns="lpips"))
    np.testing.assert_allclose(resumed["lpips"], whole["lpips"], rtol=0, atol=1e-6)
    summary = json.loads((run.path / "summary.json").read_text())
    expected = json.loads((clean / "summary.json").read_text())
    for metric, values in expected["metrics"].items():
        assert summary["metrics"][metric]["count"] == values["count"] == 8
        assert summary["metrics"][metric]["mean"] == pytest.approx(values["mean"], rel=1e-6)
    assert summary["scored"] == summary["samples"] == 8 and summary["missing"] == 0


def test_cli_says_which_rows_were_scored_again(clean, dataset, tmp_path):
    run = torn_copy(clean, tmp_path, _cut_mid_number)
    result = cli("evaluate", "--model", "reinhard", "--dataset", str(dataset), "--out", str(run.path))
    assert result.exit_code == 2 and "--resume" in result.output
    result = cli(
        "evaluate", "--model", "reinhard", "--dataset", str(dataset), "--out", str(run.path),
        "--resume", "--batch-size", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scored again" in result.output and "cut before its line ending" in result.output


def test_resume_refuses_another_batch_size(clean, dataset, tmp_path):
    shutil.copytree(clean, tmp_path / "run")
    with pytest.raises(PikfixError, match="batch_size"):
        evaluate("reinhard", dataset, tmp_path / "run", batch_size=4, resume=True, progress=False)
    info = RunDirectory(clean).read_run()
    assert info["execution"] == {"device": "cpu", "batch_size": 2}
    assert {"torch", "cuda", "device", "model_device", "threads"} <= set(info["environment"])
    assert info["environment"]["model_device"] == "cpu"
    assert info["precision"]["tf32_matmul"] is False and info["precision"]["tf32_cudnn"] is False


@pytest.mark.parametrize(
    ("model", "option", "message"),
    [
        ("welsh", "samples=abc", "samples=abc: expected an integer"),
        ("welsh", "samples=0", "must be at least 1"),
        ("classical-restore", "denoise=lots", "expected a number"),
        ("pix2pix", "weights=typo.pth", "weights=typo.pth: no such file"),
        ("pix2pix", "mode=hsv", "choose lab or rgb"),
        ("pikfix", "weights=typo.pth", "no such file"),
        ("predictions", "dir=nowhere", "no such folder"),
        ("classical-restore+welsh", "samples=5", "each option names its model"),
        ("classical-restore+welsh", "welsh.samples=x", "expected an integer"),
    ],
)
def test_bad_options_are_refused_before_any_work(model, option, message, dataset, tmp_path):
    result = cli(
        "evaluate", "--model", model, "--model-opt", option, "--dataset", str(dataset), "--out", str(tmp_path / "r")
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_models_list_shows_types_and_defaults():
    output = cli("models", "list").output
    assert "--model-opt samples=N  number of reference samples (default 200)" in output
    assert "--model-opt mode=lab|rgb" in output and "weights=PATH  a *_net_G.pth" in output


class _Short(ModelAdapter):
    """Returns one image too few for every batch of three samples."""

    descriptor = ModelDescriptor("test-short", "one output too few", "any", False, "RGB")

    def predict(self, batch: Batch) -> list[np.ndarray]:
        outputs = [np.repeat(image[..., :1], 3, axis=2) for image in batch.inputs]
        return outputs[:-1] if len(outputs) == 3 else outputs


class _Painter(ModelAdapter):
    """A 'restorer' whose output is pure red, to see what the next stage of a chain is given."""

    descriptor = ModelDescriptor("test-red", "paints red", "restoration", False, "L", size_multiple=16)

    def predict(self, batch: Batch) -> list[np.ndarray]:
        assert all(image.shape[0] % 16 == 0 for image in batch.inputs)
        return [np.tile(np.array([255, 0, 0], np.uint8), (*image.shape[:2], 1)) for image in batch.inputs]


class _Recorder(ModelAdapter):
    """A 'colouriser' that records its inputs and returns them as RGB."""

    descriptor = ModelDescriptor(
        "test-seen", "records its input", "colorization", False, "L", size_multiple=32
    )
    seen: list[np.ndarray] = []

    def predict(self, batch: Batch) -> list[np.ndarray]:
        type(self).seen += batch.inputs
        return [np.repeat(image[..., None], 3, axis=2) for image in batch.inputs]


@pytest.fixture
def test_models():
    for cls in (_Short, _Painter, _Recorder):
        register_model(cls)
    yield
    for cls in (_Short, _Painter, _Recorder):
        MODELS.pop(cls.descriptor.name)


def test_a_wrong_output_count_fails_that_batch_only(test_models, dataset, tmp_path):
    result = evaluate("test-short", dataset, tmp_path / "short", batch_size=3, progress=False)
    errors = RunDirectory(tmp_path / "short").errors()
    assert result.failed == 6 and result.scored == 2  # batches of 3 and 3 fail, no retry one by one; 2 pass
    assert errors["message"].str.contains("returned 2 images for 3 inputs").all()
    exit_code = cli(
        "evaluate", "--model", "test-short", "--dataset", str(dataset), "--out", str(tmp_path / "c"),
        "--batch-size", "3",
    )  # fmt: skip
    assert exit_code.exit_code == 1 and "--allow-failures" in exit_code.output
    allowed = cli(
        "evaluate", "--model", "test-short", "--dataset", str(dataset), "--out", str(tmp_path / "d"),
        "--allow-failures", "--batch-size", "3",
    )  # fmt: skip
    assert allowed.exit_code == 0 and (tmp_path / "d" / "summary.json").is_file()


def test_chains_prepare_each_stage_as_a_single_model(test_models, dataset, tmp_path):
    _Recorder.seen = []
    result = evaluate("test-red+test-seen", dataset, tmp_path / "chain", progress=False)
    assert result.scored == 8
    assert all(image.ndim == 2 and image.shape[0] % 32 == 0 for image in _Recorder.seen)
    red_as_gray = bt601_gray(np.array([[[255, 0, 0]]], np.uint8))[0, 0]
    assert {int(np.unique(image)[0]) for image in _Recorder.seen} == {
        int(red_as_gray)
    }  # not 255 (red channel)


def test_a_restorer_chained_with_pix2pix_scores_every_sample(dataset, tmp_path):
    torch.manual_seed(0)
    torch.save(build_generator("lab", "batch").state_dict(), tmp_path / "latest_net_G.pth")
    result = evaluate(
        "classical-restore+pix2pix",
        dataset,
        tmp_path / "run",
        model_options={"pix2pix.weights": str(tmp_path / "latest_net_G.pth")},
        progress=False,
    )
    assert result.scored == 8 and result.failed == 0


def test_strict_and_load_errors_hold_on_dask(dataset, tmp_path):
    pytest.importorskip("distributed")
    from pikfix_bench.execution import make_executor

    partial = tmp_path / "outputs"
    for sample in list(open_dataset(dataset))[:4]:
        write_png(partial / f"{sample.sample_id}.png", sample.gt)
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    cluster = make_executor("dask", scheduler="local:1")
    try:
        with pytest.raises(ModelError, match="--strict"):
            evaluate(
                "predictions", dataset, tmp_path / "strict", model_options={"dir": str(partial)},
                strict=True, executor=cluster, progress=False,
            )  # fmt: skip
        with pytest.raises(ModelError, match="garbage.pth is not a torch file"):
            evaluate(
                "pix2pix", dataset, tmp_path / "load", model_options={"weights": str(tmp_path / "garbage.pth")},
                executor=cluster, progress=False,
            )  # fmt: skip
        lenient = evaluate(
            "predictions", dataset, tmp_path / "lenient", model_options={"dir": str(partial)},
            executor=cluster, progress=False,
        )  # fmt: skip
    finally:
        cluster.close()
    assert (lenient.scored, lenient.failed) == (4, 4)
    assert list(RunDirectory(tmp_path / "lenient").per_image().columns) == [*COLUMNS, "seconds"]
