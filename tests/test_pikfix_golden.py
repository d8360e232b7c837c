"""The Pik-Fix inference path held to recorded outputs (``tools/make_pikfix_tiny_golden.py``).

Tiling is tested against untiled inference elsewhere, which a change made to both passes unnoticed (the
Lab scaling of inputs, padding to a multiple of 32, the precision context, the tile ramps: mutation
testing found each of them free to change). A seeded tiny network's outputs, untiled and tiled, are
recorded; the bound allows the last-bit differences of another CPU or thread count (a level or two on a
few pixels), not a changed computation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from make_pikfix_tiny_golden import golden_outputs  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "pikfix_tiny_golden.npz"


@pytest.fixture(scope="module")
def outputs() -> dict[str, np.ndarray]:
    return golden_outputs()


@pytest.mark.parametrize("name", ["untiled", "tiled", "one_side", "tiny", "tiled_pair_0", "tiled_pair_1"])
def test_colorize_reproduces_the_recorded_outputs(outputs, name):
    with np.load(GOLDEN) as golden:
        expected = golden[name]
    found = outputs[name]
    assert found.shape == expected.shape and found.dtype == np.uint8
    difference = np.abs(found.astype(int) - expected.astype(int))
    assert difference.max() <= 2 and (difference > 0).mean() < 0.01, (
        difference.max(),
        (difference > 0).mean(),
    )
