"""Tiled Pik-Fix inference for large scans: bounded tiles that cover the image, blended across seams."""

from __future__ import annotations

import numpy as np
import torch
from tiny_pikfix import tiny

from pikfix_bench.model import PikFix, colorize
from pikfix_bench.model.inference import TILE_OVERLAP, _starts, tile_for_budget
from pikfix_bench.model.network import PikFixOutput


def _images(height: int, width: int):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (height, width), dtype=np.uint8)
    reference = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return gray, reference


def test_tiles_cover_the_image_with_the_overlap():
    for length, tile in ((100, 256), (500, 256), (4096, 2048), (1000, 320)):
        starts = _starts(length, tile, TILE_OVERLAP)
        assert starts[0] == 0 and min(starts[-1] + tile, length) == length
        assert all(b - a <= tile - TILE_OVERLAP for a, b in zip(starts, starts[1:], strict=False))
    assert tile_for_budget(10.4) == 2048 and tile_for_budget(0.01) == 256


def test_an_image_within_one_tile_is_exactly_untiled_and_larger_ones_run_in_tiles():
    torch.manual_seed(0)
    model = PikFix(tiny()).eval()
    gray, reference = _images(96, 160)
    whole = colorize(model, [gray], [reference])[0]
    assert np.array_equal(colorize(model, [gray], [reference], tile=160)[0], whole)
    tiled = colorize(model, [gray], [reference], tile=96)[0]
    assert tiled.shape == whole.shape and tiled.dtype == np.uint8
    difference = np.abs(tiled.astype(int) - whole)
    # Not exact (each tile's similarity is mean-centred over the tile, its receptive field ends at the
    # border) but close: a mean of 0.14 levels and at most 3 here, on a noise image that maximises seams
    # (0.25 and 9 with tiles that barely overlap).
    assert difference.mean() < 0.3 and difference.max() <= 4, (difference.mean(), difference.max())


def test_a_pointwise_model_runs_tiled_exactly_as_untiled():
    """Where the model's output at a pixel depends on that pixel alone, blending overlapping tiles must give
    the untiled result exactly: any misplaced window, weight or normalisation shows."""
    torch.manual_seed(0)
    model = PikFix(tiny()).eval()

    def pointwise(lightness, reference, return_similarity=False):
        ab = torch.cat([torch.sin(7 * lightness), torch.cos(5 * lightness)], dim=1) * 0.4
        return PikFixOutput(0.15 + 0.7 * lightness**2, ab, [])

    model.decode = pointwise
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (200, 263), dtype=np.uint8)  # 3 x 4 tiles of 96, uneven overlaps
    reference = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = colorize(model, [gray], [reference])[0]
    assert np.array_equal(colorize(model, [gray], [reference], tile=96)[0], whole)


def test_the_reference_is_encoded_once_and_within_a_tiles_memory():
    """Every tile reuses one encoding of the reference (it was re-encoded per tile: 25 VGG passes over a
    3072-px reference for a 4096-px scan), and a reference larger than a tile is encoded at a tile's size."""
    torch.manual_seed(0)
    model = PikFix(tiny()).eval()
    seen = []
    encode = model.encode_reference
    model.encode_reference = lambda ref_l, ref_ab: (
        seen.append(tuple(ref_l.shape[-2:])) or encode(ref_l, ref_ab)
    )
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (200, 260), dtype=np.uint8)
    big_reference = rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)
    colorize(model, [gray], [big_reference], tile=96)
    assert len(seen) == 1 and seen[0][0] * seen[0][1] <= 128 * 128  # 96 x 96 pixels, padded to 32
    seen.clear()
    colorize(model, [gray], [big_reference])  # untiled: the whole reference
    assert seen == [(256, 320)]
