"""``pikfix-bench score`` on files and folders, every profile and output format, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from pikfix_bench.cli import main
from pikfix_bench.image_io import write_png
from pikfix_bench.metrics import ImageScorer


@pytest.fixture
def folders(tmp_path, photo_pairs):
    """pred/ and gt/ with three pairs (one identical, one in a subfolder as JPEG gt), plus one stray file each side."""
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    (name0, distorted0, original0), (name1, distorted1, original1) = photo_pairs[0], photo_pairs[4]
    write_png(pred / f"{name0}.png", distorted0)
    write_png(gt / f"{name0}.png", original0)
    write_png(pred / "same.png", original0)
    write_png(gt / "same.png", original0)
    write_png(pred / "sub" / f"{name1}.png", distorted1)
    (gt / "sub").mkdir()
    Image.fromarray(original1).save(gt / "sub" / f"{name1}.jpg", quality=95)
    write_png(pred / "stray.png", original0)
    write_png(gt / "orphan.png", original0)
    return pred, gt


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("profile", ["pikfix", "skimage", "basicsr", "matlab"])
def test_folder_json_matches_scorer(folders, profile):
    pred, gt = folders
    result = run(
        "score",
        "--pred",
        str(pred),
        "--gt",
        str(gt),
        "--profile",
        profile,
        "--format",
        "json",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["pred"] for r in records] == ["astronaut-noise.png", "same.png", "sub/coffee-noise.png"]
    assert set(records[0]) == {"pred", "gt", "psnr", "ssim", "lpips", "ciede2000", "colorfulness", "profile"}
    assert all(r["profile"] == profile for r in records)
    assert records[1]["psnr"] == "inf" and records[1]["ssim"] == pytest.approx(1.0)
    from pikfix_bench.image_io import read_image

    expected = ImageScorer(profile).score(
        [read_image(pred / "astronaut-noise.png")], [read_image(gt / "astronaut-noise.png")]
    )
    for name, value in expected[0].items():
        assert records[0][name] == pytest.approx(value, abs=1e-12)
    assert "stray.png" in result.stderr and "orphan.png" in result.stderr


def test_table_shows_inf_and_mean(folders):
    pred, gt = folders
    result = run("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr,ssim")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("profile: pikfix")
    assert any(line.split()[0] == "same.png" and " inf " in f" {line} " for line in lines)
    assert any(line.split()[0] == "mean" for line in lines)
    assert "infinite left out" in result.stdout


def test_csv_round_trip_through_pandas(folders, tmp_path):
    pred, gt = folders
    result = run("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--format", "csv")
    (tmp_path / "out.csv").write_text(result.stdout)
    frame = pd.read_csv(tmp_path / "out.csv")
    assert list(frame.columns) == ["pred", "gt", "psnr", "profile"]
    assert frame["pred"].iloc[-1] == "(mean)"
    finite = frame["psnr"].iloc[:-1][np.isfinite(frame["psnr"].iloc[:-1])]
    assert frame["psnr"].iloc[-1] == pytest.approx(finite.mean())


def test_single_pair_of_files(folders):
    pred, gt = folders
    result = run(
        "score",
        "--pred",
        str(pred / "astronaut-noise.png"),
        "--gt",
        str(gt / "astronaut-noise.png"),
        "--metrics",
        "ssim",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 1


def test_size_mismatch_names_both_sizes(tmp_path, photo_pairs):
    _, distorted, original = photo_pairs[0]
    write_png(tmp_path / "p.png", distorted)
    write_png(tmp_path / "g.png", original[:-3])
    result = CliRunner().invoke(
        main, ["score", "--pred", str(tmp_path / "p.png"), "--gt", str(tmp_path / "g.png")]
    )
    assert result.exit_code == 2
    assert "203x181" in result.output and "203x178" in result.output and "Traceback" not in result.output


def test_bad_file_in_folder_is_reported_and_others_scored(folders):
    pred, gt = folders
    (pred / "same.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = CliRunner().invoke(
        main, ["score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--format", "json"]
    )
    assert result.exit_code == 1
    assert "same.png" in result.stderr
    assert [r["pred"] for r in json.loads(result.stdout)] == ["astronaut-noise.png", "sub/coffee-noise.png"]


@pytest.mark.parametrize("with_gt", [True, False])
def test_broken_links_and_devices_named_image_are_reported_not_skipped(folders, with_gt):
    """A broken link and a link to a device, named like images, are listed as errors (exit 1) with why;
    the other images are scored, and a folder named like an image is only a folder."""
    pred, gt = folders
    (pred / "gone.png").symlink_to(pred / "nowhere.png")
    (pred / "zero.png").symlink_to("/dev/zero")
    (pred / "folder.png").mkdir()
    args = [
        "score",
        "--pred",
        str(pred),
        "--metrics",
        "psnr" if with_gt else "colorfulness",
        "--format",
        "json",
    ]
    result = CliRunner().invoke(main, args + (["--gt", str(gt)] if with_gt else []))
    assert result.exit_code == 1, result.output
    assert f"error: {pred / 'gone.png'}: broken symbolic link (to {pred / 'nowhere.png'})" in result.stderr
    assert f"error: {pred / 'zero.png'}: not a regular file (a FIFO, socket or device)" in result.stderr
    assert "folder.png" not in result.stderr and "Traceback" not in result.output
    scored = [r["pred"] for r in json.loads(result.stdout)]
    assert "astronaut-noise.png" in scored and "sub/coffee-noise.png" in scored


def test_file_names_cannot_forge_lines_of_the_report(folders):
    """A file named with a newline is written as one escaped line (``\\n``) in every warning and error,
    so that it cannot print a line of its own such as a fake ``error:``."""
    pred, gt = folders
    write_png(pred / "evil\nerror: forged.png", np.zeros((40, 40, 3), np.uint8))  # without a partner
    (gt / "torn\nwarning: forged.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")
    (pred / "torn\nwarning: forged.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")
    result = CliRunner().invoke(main, ["score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith(("error: forged", "warning: forged"))], lines
    assert any(
        line.startswith("warning: prediction without a partner:") and "evil\\nerror" in line for line in lines
    )
    assert any(line.startswith("error: ") and "torn\\nwarning" in line for line in lines)


def test_unreadable_entries_are_named_when_nothing_pairs(tmp_path, photo_pairs):
    """With ``--gt``: a prediction that is a broken link is named with why, and its ground truth is not
    also called "without a partner"; when no pair is left the error still names the unreadable entries."""
    _, pred, gt = photo_pairs[0]
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "a.png").symlink_to(tmp_path / "nowhere.png")
    write_png(tmp_path / "gt" / "a.png", gt)
    args = ["score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--metrics", "psnr"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "without a partner" not in result.stderr
    assert (
        f"{tmp_path / 'pred' / 'a.png'}: broken symbolic link (to {tmp_path / 'nowhere.png'})"
        in result.stderr
    )
    write_png(tmp_path / "pred" / "b.png", pred)
    write_png(tmp_path / "gt" / "b.png", gt)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "without a partner" not in result.stderr
    assert f"error: {tmp_path / 'pred' / 'a.png'}: broken symbolic link" in result.stderr
    (tmp_path / "pred" / "a.jpg").symlink_to(tmp_path / "elsewhere.jpg")  # a second entry of the same name
    result = CliRunner().invoke(main, args)
    assert f"error: {tmp_path / 'pred' / 'a.png'}: broken symbolic link" in result.stderr
    assert f"error: {tmp_path / 'pred' / 'a.jpg'}: broken symbolic link" in result.stderr


def test_names_in_the_table_and_csv_are_one_escaped_line(tmp_path, photo_pairs):
    """In the table (its rows and its notes) and in CSV a name's control characters are escaped (``\\n``,
    ``\\r``, ``\\x1b``), so that no name forges a line or a row; JSON keeps the names as they are."""
    import csv
    import io

    _, pred, _ = photo_pairs[0]
    names = ["tiny\nerror: forged.png", "cr\rerror: cr.png", "esc\x1b[2K.png"]
    for name in names:
        write_png(tmp_path / name, pred[:20, :20] if name.startswith("tiny") else pred[:100, :100])
    base = ["score", "--pred", str(tmp_path), "--metrics", "niqe,colorfulness"]
    table = CliRunner().invoke(main, base)
    assert table.exit_code == 0, table.output
    assert not [line for line in table.stdout.splitlines() if line.startswith("error")]
    assert "tiny\\nerror: forged.png" in table.stdout and "(tiny\\nerror: forged.png)" in table.stdout
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(main, [*base, "--format", "csv"]).stdout)))
    assert [row["pred"] for row in rows] == [
        "cr\\rerror: cr.png",
        "esc\\x1b[2K.png",
        "tiny\\nerror: forged.png",
        "(mean)",
    ]
    records = json.loads(CliRunner().invoke(main, [*base, "--format", "json"]).stdout)
    assert sorted(record["pred"] for record in records) == sorted(names)


def test_without_gt_two_images_of_one_name_are_both_scored(tmp_path, photo_pairs):
    """Nothing is paired without ``--gt``: ``a.png`` and ``a.jpg`` are two images, each scored on its row."""
    _, pred, _ = photo_pairs[0]
    write_png(tmp_path / "a.png", pred)
    Image.fromarray(pred).save(tmp_path / "a.jpg", quality=90)
    result = CliRunner().invoke(
        main, ["score", "--pred", str(tmp_path), "--metrics", "colorfulness", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert [row["pred"] for row in json.loads(result.stdout)] == ["a.jpg", "a.png"]


def test_a_pred_that_is_no_file_nor_folder_is_named_as_such(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.png")
    result = CliRunner().invoke(main, ["score", "--pred", str(tmp_path / "pipe.png")])
    assert result.exit_code == 2
    assert (
        f"--pred {tmp_path / 'pipe.png'}: not a regular file or a folder (a FIFO, socket or device)"
        in result.output
    )
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "torn.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")
    result = CliRunner().invoke(main, ["score", "--pred", str(tmp_path / "only")])
    assert result.exit_code == 2 and result.stderr.count("torn.png") == 1
    assert "Error: no image could be scored (the errors above say why)" in result.stderr


def test_grayscale_prediction_scored_as_replicated_rgb(tmp_path, photo_pairs):
    _, _, original = photo_pairs[0]
    gray = original.mean(axis=2).astype(np.uint8)
    write_png(tmp_path / "p.png", gray)
    write_png(tmp_path / "g.png", original)
    result = run(
        "score", "--pred", str(tmp_path / "p.png"), "--gt", str(tmp_path / "g.png"), "--format", "json"
    )
    expected = ImageScorer("pikfix").score([np.repeat(gray[..., None], 3, axis=2)], [original])[0]
    assert json.loads(result.stdout)[0]["psnr"] == pytest.approx(expected["psnr"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "psnr,bogus"], "unknown metric"),
        (["--device", "cuda:7"], "CUDA"),
    ],
)
def test_bad_options(folders, args, message):
    pred, gt = folders
    result = CliRunner().invoke(main, ["score", "--pred", str(pred), "--gt", str(gt), *args])
    assert result.exit_code == 2 and message in result.output  # cuda:7: no CUDA here, or fewer than 8 devices


def test_file_against_folder_refused(folders):
    pred, gt = folders
    result = CliRunner().invoke(main, ["score", "--pred", str(pred / "same.png"), "--gt", str(gt)])
    assert result.exit_code == 2 and "both be files or both be folders" in result.output


def test_version_and_help():
    assert "pikfix-bench, version" in run("--version").output
    assert "score" in run("--help").output
