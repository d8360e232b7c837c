"""``pikfix-bench degrade`` and ``pikfix-bench degradations list|gallery``."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.degradations import OPERATIONS, PRESETS, replay
from pikfix_bench.image_io import read_image, write_png


def _photos(folder, names=("astronaut", "coffee", "chelsea")):
    for name in names:
        write_png(folder / "sub" / f"{name}.png", getattr(data, name)()[::4, ::4])


def test_degrade_folder_writes_image_mask_and_replayable_record(tmp_path):
    _photos(tmp_path / "in")
    result = CliRunner().invoke(
        main,
        [
            "degrade",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--preset",
            "pikfix-procedural",
            "--seed",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("astronaut", "coffee", "chelsea"):
        record = json.loads((tmp_path / "out" / "sub" / f"{name}.json").read_text())
        assert (
            record["sample_id"] == f"sub/{name}"
            and record["seed"] == 3
            and record["pipeline"] == "pikfix-procedural"
        )
        image = read_image(tmp_path / "out" / "sub" / f"{name}.png", mode="L")
        mask = read_image(tmp_path / "out" / "sub" / f"{name}.mask.png", mode="L")
        again = replay(read_image(tmp_path / "in" / "sub" / f"{name}.png"), record)
        assert np.array_equal(again.image, image) and np.array_equal(again.mask, mask)


def test_damage_does_not_depend_on_the_other_inputs(tmp_path):
    _photos(tmp_path / "all")
    _photos(tmp_path / "one", names=("coffee",))
    for source in ("all", "one"):
        CliRunner().invoke(
            main,
            [
                "degrade",
                str(tmp_path / source),
                "--out",
                str(tmp_path / f"out-{source}"),
                "--preset",
                "oldphoto",
                "--severity",
                "4",
            ],
            catch_exceptions=False,
        )
    a = (tmp_path / "out-all" / "sub" / "coffee.png").read_bytes()
    assert a == (tmp_path / "out-one" / "sub" / "coffee.png").read_bytes()


def test_degrade_reports_bad_file_and_continues(tmp_path):
    _photos(tmp_path / "in", names=("coffee",))
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    result = CliRunner().invoke(
        main, ["degrade", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--preset", "wan2020"]
    )
    assert result.exit_code == 1
    assert "broken.png" in result.stderr and (tmp_path / "out" / "sub" / "coffee.png").exists()


def test_degrade_with_pipeline_file(tmp_path):
    _photos(tmp_path / "in", names=("coffee",))
    (tmp_path / "p.yaml").write_text("name: jpeg-only\nsteps:\n  - {op: jpeg, quality: 10}\n")
    result = CliRunner().invoke(
        main,
        [
            "degrade",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--pipeline",
            str(tmp_path / "p.yaml"),
        ],
    )
    assert result.exit_code == 0
    record = json.loads((tmp_path / "out" / "sub" / "coffee.json").read_text())
    assert record["pipeline"] == "jpeg-only"
    assert record["steps"][0]["params"] == {"quality": 10, "library": "opencv"}
    assert not (tmp_path / "out" / "sub" / "coffee.mask.png").exists()


def test_degrade_option_errors(tmp_path):
    _photos(tmp_path / "in", names=("coffee",))
    runner = CliRunner()
    both = runner.invoke(
        main,
        [
            "degrade",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "o"),
            "--preset",
            "pikfix",
            "--pipeline",
            "x.yaml",
        ],
    )
    assert both.exit_code == 2 and "exactly one of" in both.output
    severity = runner.invoke(
        main,
        [
            "degrade",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "o"),
            "--preset",
            "pikfix-procedural",
            "--severity",
            "2",
        ],
    )
    assert severity.exit_code == 2 and "no severities" in severity.output
    textures = runner.invoke(
        main, ["degrade", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--preset", "pikfix"]
    )
    assert textures.exit_code == 2 and "needs --texture-dir" in textures.output
    assert "use pikfix-procedural" in textures.output and "Traceback" not in textures.output


def test_list_names_every_operation_and_preset():
    output = CliRunner().invoke(main, ["degradations", "list"]).output
    for name in [*OPERATIONS, *PRESETS]:
        assert name in output


def test_gallery(tmp_path):
    write_png(tmp_path / "a.png", data.astronaut())
    result = CliRunner().invoke(
        main,
        ["degradations", "gallery", "--image", str(tmp_path / "a.png"), "--out", str(tmp_path / "g.png")],
    )
    assert result.exit_code == 0, result.output
    gallery = read_image(tmp_path / "g.png")
    procedural = sum(not cls.needs_files() for cls in OPERATIONS.values())
    rows = -(-(procedural + 1) // 6) + 1
    assert gallery.shape[0] > rows * 256 and gallery.shape[1] > 6 * 256


def test_page_shows_presets_at_full_size_beside_the_clean_picture_and_mask(tmp_path):
    write_png(tmp_path / "a.png", data.astronaut())
    args = ["degradations", "page", "--image", str(tmp_path / "a.png"), "--size", "200"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "p.png"), "--preset", "oldphoto:3"])
    assert result.exit_code == 0, result.output
    page = read_image(tmp_path / "p.png")
    assert page.shape[0] > 200 and page.shape[1] > 3 * 200
    (damaged,) = [page[44:244, 212:412]]  # the second tile, below its label band
    clean = page[44:244, 6:206]
    assert not np.array_equal(damaged, clean)
    bad = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "q.png"), "--preset", "oldphoto:x"])
    assert bad.exit_code == 2 and "must be a number" in bad.output
    unknown = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "q.png"), "--preset", "pikfx"])
    assert unknown.exit_code == 2 and "unknown preset" in unknown.output
