"""Similarity sub-net: multi-scale correlation between input and reference features.

For each scale i, learnable coefficients ``A_i`` (4 values) weight the four VGG16 levels f1..f4
resized to that scale; a 1x1 convolution ``W`` (shared by the scales) fuses their concatenation
into ``M_i``; the similarity map is the mean-centred cosine correlation

    Phi_i(u, v) = <M_I(u) - mean(M_I), M_R(v) - mean(M_R)> / (|M_I(u) - mean(M_I)| |M_R(v) - mean(M_R)|)

between every input position u and every reference position v, so its values lie in [-1, 1]. The net
returns the two normalised factors; Phi itself is formed only when asked for
(:func:`pikfix_bench.model.colorization.similarity_map`), the warp never needs it.
Scales are 1/4, 1/8, 1/16 and 1/32 of the image; a grid with more than ``max_positions``
positions is reduced to fit, which bounds memory on large images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pikfix_bench.model.blocks import ConcatConv2d
from pikfix_bench.model.vgg import CHANNELS

SCALES = (4, 8, 16, 32)


def grid_size(height: int, width: int, divisor: int, max_positions: int) -> tuple[int, int]:
    """The similarity grid of a ``height x width`` image at ``1/divisor``, capped at ``max_positions``."""
    h, w = max(1, height // divisor), max(1, width // divisor)
    if h * w > max_positions:
        factor = math.sqrt(max_positions / (h * w))
        h, w = max(1, int(h * factor)), max(1, int(w * factor))
    return h, w


def normalised_features(features: torch.Tensor) -> torch.Tensor:
    """``N x C x h x w`` features, flattened, mean-centred over positions and unit-length per position."""
    flat = features.flatten(2)
    return F.normalize(flat - flat.mean(dim=2, keepdim=True), dim=1, eps=1e-6)


class SimilarityNet(nn.Module):
    """Normalised input and reference features per scale, whose products are the similarity maps Phi_i."""

    def __init__(
        self, mode: str, channels: int, max_positions: int, scale: int = 4, level_weights: bool = True
    ) -> None:
        super().__init__()
        self.mode = mode
        self.max_positions = max_positions
        self.scales = SCALES if mode == "multi" else (scale,)
        ones = torch.ones(len(self.scales), len(CHANNELS))
        if level_weights:
            self.coefficients = nn.Parameter(ones)  # A_i
        else:  # the public code weighs every level alike
            self.register_buffer("coefficients", ones, persistent=False)
        self.fuse = ConcatConv2d(sum(CHANNELS), channels, 1)  # W
        levels = torch.arange(len(CHANNELS)).repeat_interleave(torch.tensor(CHANNELS))
        self.register_buffer(
            "level_of_channel", levels, persistent=False
        )  # which level each input of W reads

    def _fused(self, features: list[torch.Tensor], scale_index: int, size: tuple[int, int]) -> torch.Tensor:
        # A_i scales W's input channels of each level (a 1x1 convolution is linear: the same values as
        # scaling the resized levels, which would keep a scaled copy of each for backward)
        resized = [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features]
        per_channel = self.coefficients[scale_index, self.level_of_channel]
        return self.fuse(resized, self.fuse.weight * per_channel.view(1, -1, 1, 1))

    def encode(
        self, features: list[torch.Tensor], size: tuple[int, int]
    ) -> list[tuple[torch.Tensor, tuple[int, int]]]:
        """``(normalised fused features, grid)`` per scale (finest first) of one side, input or reference:
        Phi_i = query^T key of the input's and the reference's."""
        encoded = []
        for index, divisor in enumerate(self.scales):
            grid = grid_size(*size, divisor, self.max_positions)
            with torch.autocast(self.fuse.weight.device.type, enabled=False):  # similarity in float32
                encoded.append(
                    (normalised_features(self._fused([f.float() for f in features], index, grid)), grid)
                )
        return encoded
