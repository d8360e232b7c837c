"""Scan sets (old photographs without ground truth) and ``restore`` (issue 23: 1, 2, 4).

The scans are real photographs from scikit-image damaged by the project's own ``degrade`` (gray old-photo
damage, and a sepia-toned colour scan), at sizes NIQE accepts (at least 96 px a side).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.datasets import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation import RunDirectory
from pikfix_bench.image_io import read_image, write_png

PHOTOS = {
    "astronaut": lambda: data.astronaut()[::4, ::4],
    "camera": lambda: data.camera()[::4, ::4],
    "sub/coffee": lambda: data.coffee()[::3, ::3],
}


def invoke(*args: str, code: int = 0):
    """Run the command line in-process and check its exit status."""
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == code, result.output
    return result


def _images_only(folder: Path) -> None:
    """Drop degrade's side files (records, masks): a scan folder holds the scans only."""
    for path in list(folder.rglob("*")):
        if path.suffix == ".json" or path.name.endswith(".mask.png"):
            path.unlink()


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    """Three gray old-photo scans and one sepia colour scan, degraded by ``pikfix-bench degrade``."""
    root = tmp_path_factory.mktemp("scans")
    photos = root / "photos"
    for name, load in PHOTOS.items():
        write_png(photos / f"{name}.png", np.ascontiguousarray(load()))
    write_png(root / "colour" / "chelsea.png", np.ascontiguousarray(data.chelsea()[::3, ::3]))
    invoke("degrade", photos, "--preset", "oldphoto", "--seed", "3", "--out", root / "scans")
    invoke("degrade", root / "colour", "--op", "sepia", "--severity", "3", "--out", root / "sepia")
    shutil.copy(root / "sepia" / "chelsea.png", root / "scans" / "chelsea.png")
    _images_only(root / "scans")
    return root


@pytest.fixture(scope="module")
def scan_set(scans: Path) -> Path:
    out = scans / "ds"
    invoke("build-dataset", "scans", "--source", scans / "scans", "--out", out)
    return out


@pytest.fixture(scope="module")
def scan_runs(scan_set: Path) -> Path:
    runs = scan_set.parent / "runs"
    for model in ("gray", "classical-restore"):
        invoke("evaluate", "--model", model, "--dataset", scan_set, "--out", runs / model, "--save-outputs")
    return runs


def test_scan_set_holds_the_scans_as_they_are(scans: Path, scan_set: Path) -> None:
    dataset = Dataset(scan_set)
    manifest = dataset.manifest
    assert manifest["kind"] == "scans" and manifest["recipe"]["reference"] == "none"
    assert not dataset.ground_truth and dataset.target_array == "input"
    assert dataset.ids == ["astronaut", "camera", "chelsea", "sub/coffee"]
    for sample in dataset:
        assert sample.gt is None and sample.ref is None
        assert set(manifest["samples"][dataset.ids.index(sample.sample_id)]["arrays"]) == {"input"}
        scan = read_image(scans / "scans" / f"{sample.sample_id}.png")
        if sample.sample_id == "chelsea":  # a colour scan stays colour, at its own size
            assert sample.input.shape == scan.shape and np.array_equal(sample.input, scan)
        else:  # a gray scan is stored as H x W
            assert sample.input.ndim == 2 and np.array_equal(sample.input, scan[..., 0])
    # content-hashed and reproducible: the same scans give the same hash and bytes
    again = scans / "again"
    invoke("build-dataset", "scans", "--source", scans / "scans", "--out", again)
    assert Dataset(again).content_hash == dataset.content_hash
    assert (again / "samples.h5").read_bytes() == (scan_set / "samples.h5").read_bytes()
    info = invoke("dataset", "info", scan_set).output
    assert "ground truth   none" in info and "full (as scanned)" in info
    invoke("dataset", "verify", scan_set)
    invoke("dataset", "export", scan_set, "--out", scans / "exported")
    assert sorted(p.name for p in (scans / "exported").iterdir()) == ["input"]


def test_scan_set_references(scans: Path) -> None:
    given = scans / "given"
    invoke(
        "build-dataset",
        "scans",
        "--source",
        scans / "scans",
        "--references",
        scans / "photos",
        "--out",
        given,
    )
    dataset = Dataset(given)
    assert dataset.ids == ["astronaut", "camera", "sub/coffee"]  # chelsea has no reference: skipped
    assert dataset.manifest["skipped"][0]["reason"].startswith("no reference named chelsea")
    (scans / "photos" / "chelsea.png").symlink_to(scans / "photos" / "nowhere.png")  # a broken reference
    linked = Dataset(invoke_build(scans, "linked", "--references", scans / "photos"))
    reason = linked.manifest["skipped"][0]["reason"]
    assert (
        reason
        == f"{scans / 'photos' / 'chelsea.png'}: broken symbolic link (to {scans / 'photos' / 'nowhere.png'})"
    )
    (scans / "photos" / "chelsea.png").unlink()
    shutil.copy(
        scans / "photos" / "camera.png", scans / "photos" / "camera.jpg"
    )  # two references of one name
    args = ("build-dataset", "scans", "--source", scans / "scans", "--references", scans / "photos")
    result = invoke(*args, "--out", scans / "twice", code=2)
    assert "camera.jpg and camera.png have the same name; cannot pair them" in result.output
    (scans / "photos" / "camera.jpg").unlink()
    sample = dataset.read(["astronaut"])[0]
    assert np.array_equal(sample.ref, read_image(scans / "photos" / "astronaut.png"))
    near = Dataset(invoke_build(scans, "near", "--references", "nearest"))
    assert all(entry["reference"]["strategy"] == "nearest" for entry in near.manifest["samples"])
    assert all(sample.ref is not None for sample in near)
    invoke(
        "build-dataset",
        "scans",
        "--source",
        scans / "scans",
        "--preset",
        "oldphoto",
        "--out",
        scans / "x",
        code=2,
    )


def invoke_build(scans: Path, name: str, *options: str) -> Path:
    out = scans / name
    invoke("build-dataset", "scans", "--source", scans / "scans", "--out", out, *options)
    return out


def test_realold_without_targets_is_a_scan_set(scans: Path) -> None:
    root = scans / "realold"
    (root / "real_old_data").mkdir(parents=True)
    (root / "real_old_ref").mkdir()
    shutil.copy(scans / "scans" / "astronaut.png", root / "real_old_data" / "1o.png")
    shutil.copy(scans / "scans" / "camera.png", root / "real_old_data" / "2o.png")
    shutil.copy(scans / "photos" / "astronaut.png", root / "real_old_ref" / "1.png")
    out = scans / "realold-set"
    invoke("build-dataset", "realold", "--source", root, "--out", out)
    dataset = Dataset(out)
    assert dataset.manifest["kind"] == "scans" and dataset.manifest["name"] == "realold"
    assert dataset.ids == ["1"] and dataset.read(["1"])[0].ref is not None  # 2 has no reference
    invoke(
        "build-dataset", "realold", "--source", root, "--out", scans / "realold-none", "--references", "none"
    )
    assert Dataset(scans / "realold-none").ids == ["1", "2"]


def test_evaluate_scores_no_reference_metrics_and_leaderboard_says_so(
    scan_set: Path, scan_runs: Path
) -> None:
    for model in ("gray", "classical-restore"):
        run = json.loads((scan_runs / model / "run.json").read_text())
        assert run["metrics"] == ["niqe", "piqe", "colorfulness"]
        assert run["dataset"]["ground_truth"] is False
        header = (scan_runs / model / "per_image.csv").read_text().splitlines()[0]
        assert header == "sample_id,niqe,piqe,colorfulness,seconds"
        assert read_image(scan_runs / model / "outputs" / "sub" / "coffee.png").shape[:2] == (134, 200)
    table = invoke("leaderboard", scan_runs).output
    head = table.splitlines()[0]
    assert "NIQE ↓" in head and "PIQE ↓" in head and "Colourfulness |" in head and "PSNR" not in head
    assert "no ground truth" in head and "Note: no ground truth" in table
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines()[2:4]}
    assert set(rows) == {"gray", "classical-restore"}
    assert not any("**" in row[3] or "<u>" in row[3] for row in rows.values())  # colourfulness: no rank
    assert any("**" in row[1] for row in rows.values())  # NIQE is ranked
    csv = invoke("leaderboard", scan_runs, "--format", "csv").output
    assert ",niqe," in csv and ",psnr," not in csv


def test_a_board_of_a_ground_truth_set_and_a_scan_set_shows_each_its_own_metrics(
    scans: Path, scan_runs: Path, tmp_path: Path
) -> None:
    """By default a ground-truth set's column shows PSNR/SSIM/LPIPS and a scan set's NIQE/PIQE/colourfulness,
    whatever else the runs scored and whoever else is on the board; with --metrics, a column shows those
    of the asked metrics its runs have, and a column with none of them is left out (with a note)."""
    synthetic = tmp_path / "synthetic"
    invoke("build-dataset", "folder", "--source", scans / "photos", "--size", "96", "--preset", "clean-gray",
           "--out", synthetic)  # fmt: skip
    runs = tmp_path / "runs"
    shutil.copytree(scan_runs, runs)
    invoke("evaluate", "--model", "gray", "--dataset", synthetic, "--out", runs / "synthetic-gray",
           "--metrics", "psnr,ssim,lpips,niqe,colorfulness")  # fmt: skip
    html = invoke("leaderboard", runs, "--format", "html").output
    thead = html[html.index("<thead>") : html.index("</thead>")]
    assert thead.count('class="sortable"') == 6 and thead.count('colspan="3"') == 2
    head = invoke("leaderboard", runs).output.splitlines()[0].split(" | ")
    assert [cell.split("<br>")[-1].strip(" |") for cell in head[1:]] == [
        "PSNR ↑", "SSIM ↑", "LPIPS ↓", "NIQE ↓", "PIQE ↓", "Colourfulness"
    ]  # fmt: skip
    assert "no ground truth" not in "".join(head[1:4]) and all("no ground truth" in c for c in head[4:])
    tex = invoke("leaderboard", runs, "--format", "tex").output
    assert r"\begin{tabular}{lcccccc}" in tex and r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}" in tex
    model_line = next(line for line in tex.splitlines() if line.startswith("Model & "))
    assert model_line.count("&") == 6
    asked = invoke("leaderboard", runs, "--metrics", "psnr,niqe").output
    head = asked.splitlines()[0].split(" | ")
    assert [cell.split("<br>")[-1].strip(" |") for cell in head[1:]] == ["PSNR ↑", "NIQE ↓", "NIQE ↓"]
    only_psnr = invoke("leaderboard", runs, "--metrics", "psnr").output
    assert "no ground truth" not in only_psnr.splitlines()[0] and "PSNR ↑" in only_psnr.splitlines()[0]
    assert "none of the metrics shown (psnr) was scored there; left out" in only_psnr


def test_scan_set_refusals(scan_set: Path, tmp_path: Path) -> None:
    result = invoke(
        "evaluate",
        "--model",
        "gray",
        "--dataset",
        scan_set,
        "--out",
        tmp_path / "a",
        "--metrics",
        "psnr",
        code=2,
    )
    assert "scan set (no ground truth): psnr need(s) a ground truth" in result.output
    result = invoke("evaluate", "--model", "welsh", "--dataset", scan_set, "--out", tmp_path / "b", code=2)
    assert "was built without references" in result.output
    invoke("evaluate", "--model", "gray", "--dataset", scan_set, "--out", tmp_path / "c", "--masked", code=2)
    assert "scan set" in invoke("train", "--dataset", scan_set, "--out", tmp_path / "t", code=2).output


def test_figure_report_bundle_and_study_on_a_scan_set(
    scan_set: Path, scan_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pikfix_bench.leaderboard import figure

    labels = []
    original = figure.labelled_tile
    monkeypatch.setattr(
        figure, "labelled_tile", lambda image, text: labels.append(text) or original(image, text)
    )
    invoke(
        "figure", "--dataset", scan_set, "--runs", scan_runs, "--out", tmp_path / "figure.png", "--count", "2"
    )
    assert sum(label.startswith("scan ") for label in labels) == 2
    assert not any("ground truth" in label or "reference" in label for label in labels)
    invoke("report", scan_runs, "--dataset", scan_set, "--out", tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "NIQE ↓" in page and "no ground truth" in page
    invoke("bundle", scan_runs / "gray", "--out", tmp_path / "gray.zip")
    result = invoke("rescore", tmp_path / "gray.zip", "--dataset", scan_set, "--out", tmp_path / "rescored")
    assert "every value agrees" in result.output
    result = invoke("study", "create", scan_runs, "--dataset", scan_set, "--out", tmp_path / "study")
    assert "no gold trials" in result.output and "+ 0 gold" in result.output


def test_nr_metrics_beside_full_reference_on_a_synthetic_set(scans: Path, tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    invoke(
        "build-dataset",
        "folder",
        "--source",
        scans / "photos",
        "--size",
        "96",
        "--preset",
        "clean-gray",
        "--out",
        out,
    )
    run = tmp_path / "run"
    invoke("evaluate", "--model", "gray", "--dataset", out, "--out", run, "--metrics", "psnr,ssim,niqe")
    assert (run / "per_image.csv").read_text().splitlines()[0] == "sample_id,psnr,ssim,niqe,seconds"
    head = invoke("leaderboard", run, "--metrics", "psnr,niqe").output.splitlines()[0]
    assert "PSNR ↑" in head and "NIQE ↓" in head and "no ground truth" not in head
    with pytest.raises(PikfixError, match="unknown metric"):
        from pikfix_bench.evaluation.runner import run_metrics

        run_metrics(Dataset(out), "psnr,musiq")
    assert run_metrics(Dataset(out), "psnr,brisque") == ("psnr", "brisque")  # a no-reference one, on request


def test_restore_a_folder(scans: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    shutil.copytree(scans / "scans", source)
    (source / "broken.png").write_bytes((source / "camera.png").read_bytes()[:200])
    out = tmp_path / "out"
    result = invoke(
        "restore", "--model", "classical-restore", "--input", source, "--out", out, "--device", "cpu", code=1
    )
    assert "failed: broken:" in result.output and "4 restored" in result.output
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert names == ["astronaut.png", "camera.png", "chelsea.png", "sub/coffee.png"]
    coffee = read_image(out / "sub" / "coffee.png")
    assert coffee.shape == read_image(source / "sub" / "coffee.png").shape
    from pikfix_bench.baselines.restore import restore_gray

    assert np.array_equal(coffee[..., 0], restore_gray(read_image(source / "sub" / "coffee.png", mode="L")))
    # resumed: outputs already there are kept (not made again), a torn one is made again
    stamp = (out / "astronaut.png").stat().st_mtime_ns
    (out / "camera.png").write_bytes(b"torn")
    (source / "broken.png").unlink()
    result = invoke("restore", "--model", "classical-restore", "--input", source, "--out", out)
    assert "1 restored" in result.output and "3 already there" in result.output
    assert (out / "astronaut.png").stat().st_mtime_ns == stamp
    assert read_image(out / "camera.png").shape[:2] == read_image(source / "camera.png").shape[:2]
    result = invoke("restore", "--model", "welsh", "--input", source, "--out", tmp_path / "w", code=2)
    assert "--references" in result.output
    references = tmp_path / "refs"
    shutil.copytree(scans / "photos", references)
    (references / "camera.png").unlink()
    (references / "camera.png").symlink_to(references / "nowhere.png")  # a broken reference link
    args = ("restore", "--model", "reinhard", "--input", source, "--references", references)
    result = invoke(*args, "--out", tmp_path / "r", code=1)
    assert f"camera: {references / 'camera.png'}: broken symbolic link" in result.output


def test_a_folder_written_by_degrade_gives_one_scan_per_photo(scans: Path, tmp_path: Path) -> None:
    """degrade writes NAME.png, NAME.mask.png and NAME.json: the masks are named as skipped, never scans."""
    invoke("degrade", scans / "photos", "--preset", "oldphoto", "--seed", "3", "--out", tmp_path / "raw")
    invoke("build-dataset", "scans", "--source", tmp_path / "raw", "--out", tmp_path / "ds")
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert sorted(sample["id"] for sample in manifest["samples"]) == sorted(PHOTOS)
    masks = [entry for entry in manifest["skipped"] if entry["path"].endswith(".mask.png")]
    assert len(masks) == len(PHOTOS) and all("mask" in entry["reason"] for entry in masks)


def test_a_flat_scan_keeps_its_row_with_nan_where_a_metric_is_undefined(scans: Path, tmp_path: Path) -> None:
    """NIQE and BRISQUE are undefined on a flat image (NaN); the run's per_image.csv must keep that row,
    its NaN written as ``nan`` (not an empty cell, which the reader refuses), so the sample's PIQE and
    colourfulness count and ``--resume`` has nothing left to do."""
    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(scans / "scans" / "camera.png", folder / "camera.png")
    write_png(folder / "flat.png", np.full((120, 120), 120, np.uint8))
    out = tmp_path / "ds"
    invoke("build-dataset", "scans", "--source", folder, "--out", out)
    run = tmp_path / "run"
    invoke(
        "evaluate",
        "--model",
        "gray",
        "--dataset",
        out,
        "--out",
        run,
        "--metrics",
        "niqe,piqe,brisque,colorfulness",
    )
    lines = (run / "per_image.csv").read_text().splitlines()
    flat = next(line for line in lines if line.startswith("flat,"))
    assert flat.split(",")[1] == "nan" and flat.split(",")[3] == "nan", lines
    rows = RunDirectory(run).per_image()
    assert sorted(rows["sample_id"]) == ["camera", "flat"] and rows["piqe"].notna().all()
    table = invoke("leaderboard", run, "--metrics", "niqe,piqe").output
    assert "left out" not in table and "(1/2)" in table.splitlines()[2] and "(2/2)" not in table
    resumed = invoke("evaluate", "--model", "gray", "--dataset", out, "--out", run, "--resume",
                     "--metrics", "niqe,piqe,brisque,colorfulness").output  # fmt: skip
    assert "scored again" not in resumed
