"""Inputs and a checkpoint for the pix2pix golden test, rebuilt from seeds (nothing large is committed).

The golden outputs in ``tests/data/pix2pix_official/`` were made by the official code
(junyanz/pytorch-CycleGAN-and-pix2pix at commit 00d5574) from exactly these inputs and this
checkpoint; ``docs/baselines.md`` says how.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data

from pikfix_bench.baselines.pix2pix import build_generator

GOLDEN_DIR = Path(__file__).parent / "data" / "pix2pix_official"
PAPER_SEED = 7


def golden_inputs() -> dict[str, np.ndarray]:
    """Three inputs: a gray and a colour 256 x 256 image, and a 200 x 300 colour image (resized by the official loader)."""
    gray = cv2.resize(data.camera(), (256, 256), interpolation=cv2.INTER_AREA)
    return {
        "camera": np.repeat(gray[..., None], 3, axis=2),
        "coffee": cv2.resize(data.coffee(), (256, 256), interpolation=cv2.INTER_AREA),
        "chelsea": np.ascontiguousarray(data.chelsea()[50:250, 100:400]),
    }


def official_format_checkpoint(path: Path, seed: int = 2022) -> Path:
    """A ``latest_net_G.pth`` of the official ``unet_256`` colorization generator with seeded random values.

    Weights follow the official ``init_weights('normal', 0.02)`` in distribution; biases and batch-norm
    running statistics are random too, so that every parameter and buffer affects the output.
    """
    rng = np.random.default_rng(seed)
    state = build_generator("lab", "batch", 64).state_dict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        shape = tuple(value.shape)
        if key.endswith("running_var"):
            values = rng.uniform(0.5, 1.5, shape)
        elif key.endswith("running_mean"):
            values = rng.normal(0.0, 0.1, shape)
        elif value.ndim == 1 and key.endswith("weight"):  # batch-norm scale
            values = rng.normal(1.0, 0.02, shape)
        else:
            values = rng.normal(0.0, 0.02, shape)
        state[key] = torch.from_numpy(values.astype(np.float32))
    torch.save(state, path)
    return path
