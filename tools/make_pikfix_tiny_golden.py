"""Write ``tests/data/pikfix_tiny_golden.npz``: what the tiny Pik-Fix network of ``tests/tiny_pikfix.py``,
with weights drawn by ``torch.manual_seed(0)``, makes of fixed photographs through ``colorize`` untiled
and tiled (tile 128), of a picture padded along one side only, of a 16 x 16 one (padded by replication:
reflection needs a pad shorter than the side), and of two pictures tiled in one batch against a reference
of more pixels than a tile (shrunk before encoding). ``tests/test_pikfix_golden.py`` holds the inference path (Lab scaling, padding,
precision, tile blending) to it; regenerate only for a deliberate change, and say why in CHANGELOG.md.

Usage: ``python tools/make_pikfix_tiny_golden.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from skimage import color, data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from tiny_pikfix import tiny  # noqa: E402

from pikfix_bench.model import PikFix, colorize  # noqa: E402


def golden_inputs() -> dict[str, np.ndarray]:
    """The gray inputs (odd sizes: padded and cropped back) and the colour reference."""
    astronaut = data.astronaut()
    gray = (color.rgb2gray(astronaut) * 255).round().astype(np.uint8)
    return {
        "small": np.ascontiguousarray(gray[::4, ::4][:90, :117]),
        "large": np.ascontiguousarray(gray[::2, ::2][:170, :230]),
        "one_side": np.ascontiguousarray(gray[::4, ::4][:96, :117]),  # only the width is padded
        "tiny": np.ascontiguousarray(gray[::16, ::16][:16, :16]),  # padded by its own size: replicated
        "reference": np.ascontiguousarray(data.coffee()[::6, ::6]),
        "large_reference": np.ascontiguousarray(data.coffee()[::2, ::2]),  # more pixels than a tile
    }


def golden_outputs() -> dict[str, np.ndarray]:
    """``colorize`` of the inputs by the seeded tiny network, untiled and tiled."""
    torch.manual_seed(0)
    model = PikFix(tiny()).eval()
    inputs = golden_inputs()
    with torch.no_grad():
        untiled = colorize(model, [inputs["small"]], [inputs["reference"]])[0]
        tiled = colorize(model, [inputs["large"]], [inputs["reference"]], tile=128)[0]
        one_side = colorize(model, [inputs["one_side"]], [inputs["reference"]])[0]
        tiny_image = colorize(model, [inputs["tiny"]], [inputs["reference"]])[0]
        pair = [inputs["large"], np.ascontiguousarray(inputs["large"][::-1])]  # one batch of two, tiled
        tiled_pair = colorize(model, pair, [inputs["large_reference"]] * 2, tile=128)
    return {
        "untiled": untiled,
        "tiled": tiled,
        "one_side": one_side,
        "tiny": tiny_image,
        "tiled_pair_0": tiled_pair[0],
        "tiled_pair_1": tiled_pair[1],
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    outputs = golden_outputs()
    np.savez_compressed(ROOT / "tests" / "data" / "pikfix_tiny_golden.npz", **outputs)
    print({name: (array.shape, int(array.std())) for name, array in outputs.items()})
