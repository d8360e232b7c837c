"""Results pinned across versions: the sample set's content hash and every preset's output, as literals.

"Reproducible byte for byte" is tested elsewhere within one version (rebuilds, resumes, workers, Dask).
These literals hold the numbers users publish across versions: a change to the sample set or to what a
preset draws for a given seed changes every dataset built with it, and so every score on it. Such a change
must be deliberate. Degradation recipes carry no version field of their own (``docs/datasets.md``,
"Versioning and checking"): a manifest records the on-disk ``format_version``
(``pikfix_bench.datasets.store.FORMAT_VERSION``), the dataset's semantic ``--version`` as its builder gave
it, and ``content_hash``, which changes exactly when the recipe or a stored array changes. So a deliberate
change updates the literal here, bumps the toolkit version (``pikfix_bench.__version__``) and says in
``CHANGELOG.md`` what changed and why, quoting the new hash (checked below); datasets rebuilt with it then
get a new ``content_hash`` and should take a new major ``--version``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from pikfix_bench.degradations import PRESETS, build_pipeline, degrade

CHANGELOG = Path(__file__).resolve().parents[1] / "CHANGELOG.md"

# ``build-dataset sample --size 48`` (the ``dataset`` fixture of conftest.py).
SAMPLE_48_CONTENT_HASH = "9534eb1fc0eebfd3c439111b3339d7b345b2d2c22fc5e3c040332272e79a465d"

# sha256 over (dtype, shape, bytes) of the image and the mask of each preset's output for seeds 3, 9 and
# 21 (between them every step of wan2020's random order is drawn), on astronaut at 96 x 128; the presets
# that read the paper's textures use conftest.py's ``texture_dir``.
SEEDS = (3, 9, 21)
PRESET_OUTPUT_SHA256 = {
    "pikfix": "a54d15d856c82909377d69fab9981f2c9b7921dd53e839ee06c9e3bfe98e83a7",
    "pikfix-procedural": "76e2aff000d8f0ae74f7330d7c4bcdcdc0fef93ee26e2890f5c9fdac29465aae",
    "pikfix-offline": "1055ba66e410074b57519620165e4b0e7d38d6efe7f52f97dd45eb16769eb60c",
    "pikfix-offline-procedural": "b31f6ad7e8a2690c0fe309ff44b6acab22177d6aad3c5c662af7c17dadc5c6e0",
    "wan2020": "3ee469aa8454a476882203efbff83567b5a99186e13e8629f3b770496107d7c5",
    "realesrgan": "0626e915875a6b60abe719799e88335808f26dd83e5aa95d73c87108690f182b",  # 0.2.0: DiffJPEG
    "clean-gray": "fd2cea83ee87c6d436ca7a8ffc8e9b593d2b131f6cde9aaa8ec284b45ce3daa1",
    "oldphoto": "00700c170068c01e8bf93d9f55398e59590916c754ca6a46149ac3c48787c22d",
}
TEXTURE_PRESETS = {"pikfix", "pikfix-offline"}

HOW_TO_CHANGE = (
    "If this change is deliberate: recipes have no version field of their own, so update the literal in "
    "tests/test_pinned_outputs.py, bump pikfix_bench.__version__ and add a CHANGELOG.md entry saying what "
    "changed and why, quoting the new hash (datasets rebuilt with it get a new content_hash and should take "
    "a new major --version, docs/datasets.md 'Versioning and checking'). Otherwise it is a regression: "
    "every dataset built with this code would differ from earlier ones."
)


def _output_digest(preset: str, texture_dir: Path) -> str:
    image = np.ascontiguousarray(data.astronaut()[::4, ::4][:96, :128])
    pipeline = build_pipeline(preset, texture_dir=texture_dir if preset in TEXTURE_PRESETS else None)
    digest = hashlib.sha256()
    for seed in SEEDS:
        result = degrade(image, pipeline, seed=seed, sample_id="astronaut")
        for array in (result.image, result.mask):
            if array is None:
                digest.update(b"no mask")
                continue
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_the_sample_set_content_hash_is_pinned(dataset):
    found = json.loads((dataset / "manifest.json").read_text())["content_hash"]
    assert found == SAMPLE_48_CONTENT_HASH, (
        f"build-dataset sample --size 48 now has content hash {found}, pinned {SAMPLE_48_CONTENT_HASH}. "
        + HOW_TO_CHANGE
    )


def test_every_preset_is_pinned():
    assert set(PRESET_OUTPUT_SHA256) == set(PRESETS), "pin the output of every preset (and only those)"


@pytest.mark.parametrize("preset", sorted(PRESET_OUTPUT_SHA256))
def test_preset_output_is_pinned(preset, texture_dir):
    found = _output_digest(preset, texture_dir)
    assert found == PRESET_OUTPUT_SHA256[preset], (
        f"preset {preset} now draws sha256 {found} for seeds {SEEDS}, pinned {PRESET_OUTPUT_SHA256[preset]}. "
        + HOW_TO_CHANGE
    )


def test_the_changelog_records_every_pinned_hash():
    """A pin cannot change without the changelog saying so: each pinned hash is quoted there (16 digits)."""
    text = CHANGELOG.read_text(encoding="utf-8")
    pins = {"sample --size 48": SAMPLE_48_CONTENT_HASH, **PRESET_OUTPUT_SHA256}
    missing = [name for name, value in pins.items() if value[:16] not in text]
    assert not missing, f"CHANGELOG.md does not quote the pinned hash of {missing}. " + HOW_TO_CHANGE
