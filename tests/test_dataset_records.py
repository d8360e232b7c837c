"""What the docs promise of built datasets: stored records replay byte for byte, texture files (not
their folder's path) enter the content hash, and the manifest is plain JSON."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image
from skimage import data

from pikfix_bench.datasets import Recipe, build_dataset, open_dataset, replay_sample
from pikfix_bench.datasets.sources import folder_source, load_source_image
from pikfix_bench.degradations import build_pipeline


def test_records_read_back_from_a_dataset_replay_byte_for_byte(dataset):
    opened = open_dataset(dataset)
    samples = list(opened)
    assert samples and all("spec" not in sample.record for sample in samples)
    for sample, entry in zip(samples, opened.manifest["samples"], strict=True):
        raw = load_source_image(entry["sources"]["gt"]["path"])  # the sample set's skimage: photographs
        result = replay_sample(raw, sample, opened.manifest["recipe"])  # was KeyError: 'spec'
        np.testing.assert_array_equal(result.image, sample.input)
        if sample.mask is not None:
            np.testing.assert_array_equal(result.mask, sample.mask)
    assert all(sample.crop is not None for sample in samples)  # pikfix-procedural: damage, then crop
    with h5py.File(dataset / "samples.h5", "r") as handle:  # the attribute the docs name
        group = handle["samples"][next(iter(handle["samples"]))]
        assert set(group.attrs) == {"meta"} and "record" in json.loads(group.attrs["meta"])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(getattr(data, name)()[::4, ::4]).save(root / f"{name}.png")
    return root


def _textures(folder, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for stem in [f"texture{n:02d}" for n in range(1, 13)] + [f"dust{n:02d}" for n in range(1, 12)]:
        Image.fromarray(rng.integers(0, 256, (64, 80), dtype=np.uint8)).save(folder / f"{stem}.jpg")
    return folder


def _build(photos, textures, out):
    recipe = Recipe("folder", build_pipeline("pikfix", texture_dir=textures).spec, seed=1, size=48)
    return build_dataset(folder_source(photos), recipe, out, name="t", progress=False)


def test_texture_files_enter_the_content_hash_by_sha256_not_by_path(photos, tmp_path):
    first = _build(photos, _textures(tmp_path / "a" / "texture2"), tmp_path / "one")
    moved = shutil.copytree(tmp_path / "a" / "texture2", tmp_path / "elsewhere" / "textures")
    second = _build(photos, moved, tmp_path / "two")
    assert first.content_hash == second.content_hash  # was: the folder's path changed the hash
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert set(manifest["recipe"]["files"]) >= {"texture01.jpg", "dust11.jpg"}
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(moved / "texture05.jpg")
    changed = _build(photos, moved, tmp_path / "three")
    assert changed.content_hash != first.content_hash


def test_a_dataset_without_textures_keeps_its_recipe(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert "files" not in manifest["recipe"] and manifest["samples_count"] == len(manifest["samples"])
