"""Hostile source files: undecodable names, animations, broken links, 16-bit colour, images too large.

Each one is skipped and named (``build-dataset``) or reported (``degrade``); the other images are still built.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.datasets import builder, open_dataset
from pikfix_bench.errors import ImageReadError, PikfixWarning
from pikfix_bench.image_io import read_image

# 16-bit samples around the rounding points of v / 257: 100.498 -> 100, 100.502 -> 101, 0.996 -> 1
SIXTEEN = np.array(
    [[[65535, 256, 128], [25828, 25829, 1000]], [[300, 65534, 0], [129, 385, 32896]]], dtype=np.uint16
)


def rounded(values: np.ndarray) -> np.ndarray:
    """``round(v / 257)`` as docs/conventions.md states it."""
    return np.rint(values / 257.0).astype(np.uint8)


def png16(path: Path, samples: np.ndarray, color_type: int, orientation: int | None = None) -> None:
    """A 16-bit PNG written chunk by chunk (Pillow cannot write 16-bit colour), with an optional eXIf."""
    height, width = samples.shape[:2]
    rows = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    exif = b""
    if orientation is not None:
        tags = Image.Exif()
        tags[0x0112] = orientation
        exif = chunk(b"eXIf", tags.tobytes()[6:])  # the chunk holds the TIFF header without "Exif\0\0"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + exif
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("kind", ["png-rgb", "png-rgba", "tiff-rgb"])
def test_16bit_colour_is_reduced_by_rounding(tmp_path, kind):
    path = tmp_path / ("a.tif" if kind.startswith("tiff") else "a.png")
    if kind == "png-rgba":  # opaque, so compositing on white changes nothing
        bgr = np.dstack([SIXTEEN[..., ::-1], np.full(SIXTEEN.shape[:2], 65535, np.uint16)])
    else:
        bgr = SIXTEEN[..., ::-1]
    assert cv2.imwrite(str(path), bgr)
    with pytest.warns(PikfixWarning, match="16-bit"):
        assert read_image(path).tolist() == rounded(SIXTEEN).tolist()


def test_16bit_gray_with_alpha_is_reduced_by_rounding(tmp_path):
    png16(tmp_path / "la.png", np.dstack([SIXTEEN[..., 0], np.full(SIXTEEN.shape[:2], 65535, np.uint16)]), 4)
    with pytest.warns(PikfixWarning, match="16-bit"):
        assert read_image(tmp_path / "la.png", mode="L").tolist() == rounded(SIXTEEN[..., 0]).tolist()


def test_16bit_colour_keeps_the_exif_orientation(tmp_path):
    png16(tmp_path / "r.png", SIXTEEN, 2, orientation=6)
    with pytest.warns(PikfixWarning, match="16-bit"):
        out = read_image(tmp_path / "r.png")
    assert out.tolist() == np.rot90(rounded(SIXTEEN), k=-1).tolist()  # 6: turn 90 degrees clockwise to show


def test_an_animated_gif_is_refused_and_a_still_one_read(tmp_path):
    frames = [Image.fromarray(data.coffee()[:32, :48]), Image.fromarray(data.chelsea()[:32, :48])]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match=r"animated.*2 frames") as info:
        read_image(tmp_path / "a.gif")
    assert "a.gif" in str(info.value)
    frames[0].save(tmp_path / "still.gif")
    assert read_image(tmp_path / "still.gif").shape == (32, 48, 3)


def test_running_out_of_memory_while_decoding_names_the_file(tmp_path, monkeypatch):
    Image.fromarray(data.coffee()[:32, :48]).save(tmp_path / "big.png")

    def exhausted(self):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", exhausted)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", exhausted)
    with pytest.raises(ImageReadError, match="memory") as info:
        read_image(tmp_path / "big.png")
    assert "big.png" in str(info.value)


BAD_NAME = b"bad\xff.png"  # not UTF-8: what a Latin-1 camera or an old archive leaves behind


def hostile_folder(root: Path) -> Path:
    """Two good photographs beside an undecodable name, an unsafe name, an animation and a broken link."""
    root.mkdir()
    for name, photo in (("coffee", data.coffee), ("chelsea", data.chelsea)):
        Image.fromarray(np.ascontiguousarray(photo()[::4, ::4])).save(root / f"{name}.png")
    with open(os.path.join(os.fsencode(root), BAD_NAME), "wb") as handle:
        handle.write((root / "coffee.png").read_bytes())
    (root / "line\nbreak.png").write_bytes((root / "coffee.png").read_bytes())
    frames = [Image.fromarray(data.rocket()[::8, ::8]), Image.fromarray(data.rocket()[::-8, ::8])]
    frames[0].save(root / "moving.gif", save_all=True, append_images=frames[1:])
    (root / "gone.png").symlink_to(root / "nowhere.png")
    return root


def test_build_skips_and_names_every_hostile_file(tmp_path):
    source = hostile_folder(tmp_path / "src")
    out = tmp_path / "ds"
    result = CliRunner().invoke(
        main, ["build-dataset", "folder", "--source", str(source), "--out", str(out), "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(open_dataset(out).ids) == ["chelsea", "coffee"]
    assert not out.with_name("ds.partial").exists()
    skipped = {Path(entry["path"]).name: entry["reason"] for entry in open_dataset(out).manifest["skipped"]}
    # names as printed: undecodable bytes and control characters escaped, so every message is one line
    assert set(skipped) == {"bad\\xff.png", "line\\nbreak.png", "moving.gif", "gone.png"}, skipped
    assert "UTF-8" in skipped["bad\\xff.png"] and "control character" in skipped["line\\nbreak.png"]
    assert "animated" in skipped["moving.gif"] and "broken symbolic link" in skipped["gone.png"]
    assert "bad\\xff.png" in result.stderr and "Traceback" not in result.output
    json.dumps(open_dataset(out).manifest, ensure_ascii=False).encode("utf-8")  # every name encodes


def test_one_sample_out_of_memory_costs_that_sample_only(tmp_path, monkeypatch):
    source = tmp_path / "src"
    source.mkdir()
    for name, photo in (("coffee", data.coffee), ("chelsea", data.chelsea), ("rocket", data.rocket)):
        Image.fromarray(np.ascontiguousarray(photo()[::4, ::4])).save(source / f"{name}.png")
    original = builder.load_source_image

    def huge_chelsea(location: str) -> np.ndarray:
        if location.endswith("chelsea.png"):
            raise MemoryError  # what a legal 12000 x 12000 PNG does under a 3 GB limit
        return original(location)

    monkeypatch.setattr(builder, "load_source_image", huge_chelsea)
    result = CliRunner().invoke(
        main,
        ["build-dataset", "folder", "--source", str(source), "--out", str(tmp_path / "ds"), "--size", "32"],
    )
    assert result.exit_code == 0, result.output
    assert sorted(open_dataset(tmp_path / "ds").ids) == ["coffee", "rocket"]
    [entry] = open_dataset(tmp_path / "ds").manifest["skipped"]
    assert entry["path"].endswith("chelsea.png") and "memory" in entry["reason"]


def test_one_reference_description_out_of_memory_costs_that_sample_only(tmp_path, monkeypatch):
    source = tmp_path / "src"
    source.mkdir()
    for name, photo in (("coffee", data.coffee), ("chelsea", data.chelsea), ("rocket", data.rocket)):
        Image.fromarray(np.ascontiguousarray(photo()[::4, ::4])).save(source / f"{name}.png")
    original = builder.colour_descriptor

    def huge_chelsea(location: str) -> np.ndarray:
        if location.endswith("chelsea.png"):
            raise MemoryError
        return original(location)

    monkeypatch.setattr(builder, "colour_descriptor", huge_chelsea)
    result = CliRunner().invoke(
        main,
        ["build-dataset", "folder", "--source", str(source), "--out", str(tmp_path / "ds"), "--size", "32",
         "--reference", "nearest"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(open_dataset(tmp_path / "ds").ids) == ["coffee", "rocket"]
    [entry] = open_dataset(tmp_path / "ds").manifest["skipped"]
    assert entry["path"].endswith("chelsea.png") and "memory" in entry["reason"]


def test_degrade_names_every_hostile_file_and_degrades_the_rest(tmp_path):
    source = hostile_folder(tmp_path / "src")
    result = CliRunner().invoke(
        main, ["degrade", str(source), "--out", str(tmp_path / "out"), "--preset", "wan2020"]
    )
    assert result.exit_code == 1, result.output  # the existing convention: some images failed
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["chelsea.json", "coffee.json"]
    for name in ("bad\\xff.png", "line\\nbreak.png", "moving.gif", "gone.png"):
        assert name in result.stderr, (name, result.stderr)
    assert "Traceback" not in result.output and "2 of 6 images degraded" in result.stderr


def test_degrade_goes_on_after_one_image_runs_out_of_memory(tmp_path, monkeypatch):
    from pikfix_bench.cli import degrade as degrade_cli

    source = tmp_path / "src"
    source.mkdir()
    for name, photo in (("coffee", data.coffee), ("chelsea", data.chelsea)):
        Image.fromarray(np.ascontiguousarray(photo()[::4, ::4])).save(source / f"{name}.png")
    original = degrade_cli.degrade

    def huge_chelsea(image, pipeline, *, seed, sample_id):
        if sample_id == "chelsea":
            raise MemoryError
        return original(image, pipeline, seed=seed, sample_id=sample_id)

    monkeypatch.setattr(degrade_cli, "degrade", huge_chelsea)
    result = CliRunner().invoke(
        main, ["degrade", str(source), "--out", str(tmp_path / "out"), "--preset", "wan2020"]
    )
    assert result.exit_code == 1, result.output
    assert (tmp_path / "out" / "coffee.png").exists() and not (tmp_path / "out" / "chelsea.png").exists()
    assert "chelsea.png" in result.stderr and "memory" in result.stderr
