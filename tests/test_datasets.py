"""build-dataset on miniature official layouts made from skimage photographs; verify, diff, export, resume."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.datasets import builder, diff_datasets, open_dataset, verify_dataset
from pikfix_bench.datasets.store import group_name

PHOTOS = {
    "astronaut": data.astronaut,
    "chelsea": data.chelsea,
    "coffee": data.coffee,
    "rocket": data.rocket,
    "immunohistochemistry": data.immunohistochemistry,
    "hubble": data.hubble_deep_field,
}


def small(name: str, scale: int = 2) -> np.ndarray:
    return np.ascontiguousarray(PHOTOS[name]()[::scale, ::scale])


def build(*args: str, expect: int = 0):
    result = CliRunner().invoke(main, ["build-dataset", *args], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp("VOCdevkit") / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    (root / "ImageSets" / "Main").mkdir(parents=True)
    labels = {
        "astronaut": "person",
        "chelsea": "cat",
        "coffee": "diningtable",
        "rocket": "aeroplane",
        "immunohistochemistry": "cat",
        "hubble": "person",
    }
    ids = []
    for index, (name, label) in enumerate(labels.items()):
        image_id = f"2008_{index:06d}"
        ids.append(image_id)
        Image.fromarray(small(name)).save(root / "JPEGImages" / f"{image_id}.jpg", quality=92)
        objects = f"<object><name>{label}</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>90</xmax><ymax>80</ymax></bndbox></object>"
        objects += "<object><name>bottle</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
        (root / "Annotations" / f"{image_id}.xml").write_text(f"<annotation>{objects}</annotation>")
    (root / "ImageSets" / "Main" / "val.txt").write_text("\n".join(ids) + "\n")
    (root / "ImageSets" / "Main" / "train.txt").write_text("\n".join(ids[:2]) + "\n2008_999999\n")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(small(name)).save(root / f"{name}.png")
    (root / "nested").mkdir()
    Image.fromarray(small("rocket")).save(root / "nested" / "rocket.jpg")
    return root


def test_folder_build_is_reproducible_across_workers_and_runs(folder, tmp_path):
    build("folder", "--source", str(folder), "--out", str(tmp_path / "a"), "--size", "64")
    build("folder", "--source", str(folder), "--out", str(tmp_path / "b"), "--size", "64", "--workers", "2")
    assert (tmp_path / "a" / "samples.h5").read_bytes() == (tmp_path / "b" / "samples.h5").read_bytes()
    dataset = open_dataset(tmp_path / "a")
    assert dataset.ids == ["astronaut", "chelsea", "coffee", "nested/rocket"]
    assert dataset.content_hash == open_dataset(tmp_path / "b").content_hash
    for sample in dataset:
        assert (
            sample.gt.shape == (64, 64, 3)
            and sample.input.shape == (64, 64)
            and sample.ref.shape == (64, 64, 3)
        )
        assert sample.mask.shape == (64, 64) and sample.input.dtype == np.uint8
        assert (
            sample.record["pipeline"] == "pikfix-procedural"
            and sample.record["sample_id"] == sample.sample_id
        )
    assert verify_dataset(tmp_path / "a") == []


def test_full_size_geometry_crops_to_multiple_of_32(folder, tmp_path):
    build(
        "folder",
        "--source",
        str(folder),
        "--out",
        str(tmp_path / "d"),
        "--size",
        "0",
        "--preset",
        "clean-gray",
    )
    sample = next(iter(open_dataset(tmp_path / "d")))
    assert sample.gt.shape == (256, 256, 3)  # astronaut 256 x 256 already a multiple of 32
    chelsea = open_dataset(tmp_path / "d").read(["chelsea"])[0]
    assert chelsea.gt.shape == (128, 224, 3)  # 150 x 226 cropped top-left
    assert np.array_equal(chelsea.gt, small("chelsea")[:128, :224])


def test_resume_after_interruption_gives_the_same_bytes(folder, tmp_path, monkeypatch):
    build("folder", "--source", str(folder), "--out", str(tmp_path / "whole"), "--size", "64")
    calls = {"n": 0}
    original = builder.build_sample

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(builder, "build_sample", interrupted)
    aborted = CliRunner().invoke(
        main,
        ["build-dataset", "folder", "--source", str(folder), "--out", str(tmp_path / "cut"), "--size", "64"],
    )
    assert aborted.exit_code == 1 and "Aborted" in aborted.output
    monkeypatch.setattr(builder, "build_sample", original)
    assert (tmp_path / "cut.partial").is_dir() and not (tmp_path / "cut").exists()
    refused = CliRunner().invoke(
        main,
        ["build-dataset", "folder", "--source", str(folder), "--out", str(tmp_path / "cut"), "--size", "64"],
    )
    assert refused.exit_code == 2 and "--resume" in refused.output
    build("folder", "--source", str(folder), "--out", str(tmp_path / "cut"), "--size", "64", "--resume")
    assert (tmp_path / "cut" / "samples.h5").read_bytes() == (tmp_path / "whole" / "samples.h5").read_bytes()
    assert open_dataset(tmp_path / "cut").content_hash == open_dataset(tmp_path / "whole").content_hash


def test_existing_output_needs_force(folder, tmp_path):
    build("folder", "--source", str(folder), "--out", str(tmp_path / "x"), "--size", "32")
    again = CliRunner().invoke(
        main, ["build-dataset", "folder", "--source", str(folder), "--out", str(tmp_path / "x")]
    )
    assert again.exit_code == 2 and "--force" in again.output
    build("folder", "--source", str(folder), "--out", str(tmp_path / "x"), "--size", "48", "--force")
    assert open_dataset(tmp_path / "x").manifest["recipe"]["size"] == 48


def test_verify_catches_a_changed_byte(folder, tmp_path):
    build("folder", "--source", str(folder), "--out", str(tmp_path / "v"), "--size", "32")
    with h5py.File(tmp_path / "v" / "samples.h5", "r+") as handle:
        handle["samples"][group_name("chelsea")]["gt"][0, 0, 0] ^= 1
    result = CliRunner().invoke(main, ["dataset", "verify", str(tmp_path / "v")])
    assert result.exit_code == 1 and "chelsea: array gt does not match" in result.stderr
    assert "astronaut" not in result.stderr


def test_verify_reports_a_damaged_compressed_chunk(tmp_path):
    build("sample", "--out", str(tmp_path / "v"), "--size", "32")
    with h5py.File(tmp_path / "v" / "samples.h5", "r+") as handle:
        mask = handle["samples"][group_name("coffee")]["mask"]
        assert mask.compression == "gzip"
        mask.id.write_direct_chunk((0, 0), b"not deflate data")
    result = CliRunner().invoke(main, ["dataset", "verify", str(tmp_path / "v")])
    assert result.exit_code == 1 and "coffee: array mask cannot be read" in result.stderr


def test_diff_reports_changes_and_recipe(folder, tmp_path):
    build("folder", "--source", str(folder), "--out", str(tmp_path / "s0"), "--size", "32")
    build("folder", "--source", str(folder), "--out", str(tmp_path / "s1"), "--size", "32", "--seed", "1")
    difference = diff_datasets(tmp_path / "s0", tmp_path / "s1")
    assert difference["recipe"] == {"seed": [0, 1]} and not difference["same_content"]
    assert difference["changed"] and not difference["added"] and not difference["removed"]
    output = CliRunner().invoke(main, ["dataset", "diff", str(tmp_path / "s0"), str(tmp_path / "s0")]).output
    assert "identical content" in output


def test_export_png_folders(folder, tmp_path):
    build("folder", "--source", str(folder), "--out", str(tmp_path / "e"), "--size", "32")
    CliRunner().invoke(
        main,
        ["dataset", "export", str(tmp_path / "e"), "--out", str(tmp_path / "png")],
        catch_exceptions=False,
    )
    for kind in ("input", "gt", "ref", "mask"):
        assert (tmp_path / "png" / kind / "nested" / "rocket.png").is_file()
    info = CliRunner().invoke(main, ["dataset", "info", str(tmp_path / "e")]).output
    assert "content hash" in info and "pikfix" in info


def test_bad_files_are_skipped_with_reasons_or_fail_with_strict(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    Image.fromarray(small("coffee")).save(root / "good.png")
    (root / "fake.png").write_bytes(b"not an image at all")
    Image.fromarray(small("coffee")).save(root / "cut.jpg")
    (root / "cut.jpg").write_bytes((root / "cut.jpg").read_bytes()[:500])
    Image.fromarray(small("coffee")[..., 0]).save(root / "gray.png")
    rgba = np.dstack([small("chelsea"), np.full(small("chelsea").shape[:2], 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(root / "alpha.png")
    result = build("folder", "--source", str(root), "--out", str(tmp_path / "m"), "--size", "32")
    reasons = {
        entry["path"].split("/")[-1]: entry["reason"]
        for entry in open_dataset(tmp_path / "m").manifest["skipped"]
    }
    assert set(reasons) == {"fake.png", "cut.jpg", "gray.png"}
    assert "not an image" in reasons["fake.png"] and "colour ground truth" in reasons["gray.png"]
    assert reasons["fake.png"] == "not an image file (format not recognised)"  # the path is the entry's own
    assert open_dataset(tmp_path / "m").ids == ["alpha", "good"]
    assert "skipped: " in result.stderr
    strict = CliRunner().invoke(
        main,
        [
            "build-dataset",
            "folder",
            "--source",
            str(root),
            "--out",
            str(tmp_path / "n"),
            "--size",
            "32",
            "--strict",
        ],
    )
    assert strict.exit_code == 2 and "--strict" in strict.output


def test_pascal_same_class_references_and_selection(voc, tmp_path):
    build(
        "pascal",
        "--source",
        str(voc),
        "--out",
        str(tmp_path / "p"),
        "--size",
        "32",
        "--reference",
        "same-class",
    )
    manifest = open_dataset(tmp_path / "p").manifest
    by_id = {s["id"]: s["reference"] for s in manifest["samples"]}
    assert by_id["2008_000001"]["partner"] == "2008_000004" and by_id["2008_000001"]["label"] == "cat"
    assert by_id["2008_000000"]["partner"] == "2008_000005"  # person <-> person
    assert by_id["2008_000002"]["fallback"] == "nearest"  # diningtable has no other member
    assert by_id["2008_000002"]["partner"] != "2008_000002"
    build(
        "pascal",
        "--source",
        str(voc),
        "--out",
        str(tmp_path / "q"),
        "--size",
        "32",
        "--num",
        "3",
        "--selection-seed",
        "4",
    )
    chosen = open_dataset(tmp_path / "q").ids
    build(
        "pascal",
        "--source",
        str(voc),
        "--out",
        str(tmp_path / "r"),
        "--size",
        "32",
        "--num",
        "3",
        "--selection-seed",
        "4",
    )
    assert len(chosen) == 3 and chosen == open_dataset(tmp_path / "r").ids
    train = build(
        "pascal", "--source", str(voc), "--out", str(tmp_path / "t"), "--size", "32", "--split", "train"
    )
    assert "listed in the split but missing" in train.stderr


def test_nearest_reference_is_never_the_sample_itself(folder, tmp_path):
    build(
        "folder",
        "--source",
        str(folder),
        "--out",
        str(tmp_path / "n"),
        "--size",
        "32",
        "--reference",
        "nearest",
    )
    for sample in open_dataset(tmp_path / "n").manifest["samples"]:
        assert sample["reference"]["partner"] != sample["id"]


def test_div2k_defaults_to_clean_gray(tmp_path):
    for split, first in (("train", 1), ("valid", 801)):
        folder = tmp_path / "DIV2K" / f"DIV2K_{split}_HR"
        folder.mkdir(parents=True)
        for offset, name in enumerate(("coffee", "rocket")):
            Image.fromarray(small(name)).save(folder / f"{first + offset:04d}.png")
    build("div2k", "--source", str(tmp_path / "DIV2K"), "--out", str(tmp_path / "d"), "--size", "64")
    dataset = open_dataset(tmp_path / "d")
    assert dataset.ids == ["0801", "0802"] and dataset.manifest["recipe"]["pipeline"]["name"] == "clean-gray"
    sample = next(iter(dataset))
    assert sample.mask is None
    assert np.abs(sample.input.astype(int) - (sample.gt @ [0.299, 0.587, 0.114])).max() <= 1


def test_realold_release_layout(tmp_path):
    root = tmp_path / "RealOld"
    (root / "real_old_data").mkdir(parents=True)
    (root / "real_old_ref").mkdir()
    for sample_id, name in (("1", "chelsea"), ("2", "coffee"), ("3", "rocket")):
        target = small(name)
        old = np.clip(target.mean(axis=2, keepdims=True) * [1.0, 0.9, 0.7], 0, 255).astype(np.uint8)
        Image.fromarray(target).save(root / "real_old_data" / f"{sample_id}t.png")
        Image.fromarray(old).save(root / "real_old_data" / f"{sample_id}o.png")
    Image.fromarray(small("astronaut")).save(root / "real_old_data" / "4o.jpg")
    Image.fromarray(small("astronaut")).save(root / "real_old_data" / "5m.jpg")
    Image.fromarray(small("astronaut")).save(root / "real_old_ref" / "1.jpg")
    Image.fromarray(small("rocket")).save(root / "real_old_ref" / "2r.jpg")
    result = build("realold", "--source", str(root), "--out", str(tmp_path / "ro"), "--size", "64")
    dataset = open_dataset(tmp_path / "ro")
    assert dataset.ids == ["1", "2"]
    reasons = " ".join(entry["reason"] for entry in dataset.manifest["skipped"])
    assert "contains 'm'" in reasons and "no matching target" in reasons and "no reference" in reasons
    sample = dataset.read(["1"])[0]
    assert sample.input.ndim == 2 and sample.input_color.shape == (64, 64, 3) and sample.mask is None
    assert "skipped" in result.stderr
    (tmp_path / "pairs.csv").write_text(
        "sample_id,reference\n3,RealOld/real_old_ref/1.jpg\n1,RealOld/real_old_ref/2r.jpg\n"
    )
    build(
        "realold",
        "--source",
        str(root),
        "--out",
        str(tmp_path / "ro2"),
        "--size",
        "64",
        "--pairs",
        str(tmp_path / "pairs.csv"),
    )
    assert open_dataset(tmp_path / "ro2").ids == ["1", "3"]
    refused = CliRunner().invoke(
        main,
        [
            "build-dataset",
            "realold",
            "--source",
            str(root),
            "--out",
            str(tmp_path / "x"),
            "--preset",
            "pikfix",
        ],
    )
    assert refused.exit_code == 2 and "damage is real" in refused.output


def test_sample_set_builds_offline(tmp_path):
    build("sample", "--out", str(tmp_path / "s"), "--size", "64")
    dataset = open_dataset(tmp_path / "s")
    assert len(dataset) == 8 and verify_dataset(tmp_path / "s") == []


def test_unreadable_source_is_skipped_with_its_reason_under_nearest_references(folder, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(folder, root)
    (root / "broken.png").write_bytes(b"not an image")
    build(
        "folder",
        "--source",
        str(root),
        "--out",
        str(tmp_path / "n"),
        "--size",
        "32",
        "--reference",
        "nearest",
    )
    reasons = {
        entry["path"].split("/")[-1]: entry["reason"]
        for entry in open_dataset(tmp_path / "n").manifest["skipped"]
    }
    assert "not an image" in reasons["broken.png"]


def test_the_default_preset_follows_the_textures_given(folder, texture_dir, tmp_path):
    """Without textures the default damage is pikfix-procedural; with --texture-dir, the paper's rules."""
    build("folder", "--source", str(folder), "--out", str(tmp_path / "p"), "--size", "32")
    build(
        "folder",
        "--source",
        str(folder),
        "--out",
        str(tmp_path / "t"),
        "--size",
        "32",
        "--texture-dir",
        str(texture_dir),
    )
    procedural, textured = (next(iter(open_dataset(tmp_path / name))).record for name in ("p", "t"))
    assert procedural["pipeline"] == "pikfix-procedural" and textured["pipeline"] == "pikfix"
    assert [step["op"] for step in textured["steps"]][-2:] == ["texture_cracks", "texture_dust"]
    assert not any(step["op"].startswith("texture_") for step in procedural["steps"])
