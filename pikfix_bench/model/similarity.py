"""Similarity sub-net: multi-scale correlation between input and reference features.

For each scale i, learnable coefficients ``A_i`` (4 values) weight the four VGG16 levels f1..f4
resized to that scale; a 1x1 convolution ``W`` (shared by the scales) fuses their concatenation
into ``M_i``; the similarity map is the mean-centred cosine correlation

    Phi_i(u, v) = <M_I(u) - mean(M_I), M_R(v) - mean(M_R)> / (|M_I(u) - mean(M_I)| |M_R(v) - mean(M_R)|)

between every input position u and every reference position v, so its values lie in [-1, 1].
Scales are 1/4, 1/8, 1/16 and 1/32 of the image; a grid with more than ``max_positions``
positions is reduced to fit, which bounds memory on large images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pikfix_bench.model.vgg import CHANNELS

SCALES = (4, 8, 16, 32)


def grid_size(height: int, width: int, divisor: int, max_positions: int) -> tuple[int, int]:
    """The similarity grid of a ``height x width`` image at ``1/divisor``, capped at ``max_positions``."""
    h, w = max(1, height // divisor), max(1, width // divisor)
    if h * w > max_positions:
        factor = math.sqrt(max_positions / (h * w))
        h, w = max(1, int(h * factor)), max(1, int(w * factor))
    return h, w


def centred_cosine(input_features: torch.Tensor, reference_features: torch.Tensor) -> torch.Tensor:
    """``N x (h w) x (h' w')`` mean-centred cosine correlation of two ``N x C x h x w`` feature maps."""
    x = input_features.flatten(2)
    y = reference_features.flatten(2)
    x = F.normalize(x - x.mean(dim=2, keepdim=True), dim=1, eps=1e-6)
    y = F.normalize(y - y.mean(dim=2, keepdim=True), dim=1, eps=1e-6)
    return torch.einsum("ncu,ncv->nuv", x, y)


class SimilarityNet(nn.Module):
    """Similarity maps Phi_i between an input and a reference, from their VGG features."""

    def __init__(self, mode: str, channels: int, max_positions: int) -> None:
        super().__init__()
        self.mode = mode
        self.max_positions = max_positions
        self.scales = SCALES if mode == "multi" else SCALES[:1]
        self.coefficients = nn.Parameter(torch.ones(len(self.scales), len(CHANNELS)))  # A_i
        self.fuse = nn.Conv2d(sum(CHANNELS), channels, 1)  # W

    def _fused(self, features: list[torch.Tensor], scale_index: int, size: tuple[int, int]) -> torch.Tensor:
        resized = [
            F.interpolate(
                f * self.coefficients[scale_index, level], size=size, mode="bilinear", align_corners=False
            )
            for level, f in enumerate(features)
        ]
        return self.fuse(torch.cat(resized, 1))

    def forward(
        self,
        input_features: list[torch.Tensor],
        reference_features: list[torch.Tensor],
        input_size: tuple[int, int],
        reference_size: tuple[int, int],
    ) -> list[tuple[torch.Tensor, tuple, tuple]]:
        """``(Phi_i, input grid, reference grid)`` per scale (finest first)."""
        maps = []
        for index, divisor in enumerate(self.scales):
            grid_in = grid_size(*input_size, divisor, self.max_positions)
            grid_ref = grid_size(*reference_size, divisor, self.max_positions)
            phi = centred_cosine(
                self._fused(input_features, index, grid_in), self._fused(reference_features, index, grid_ref)
            )
            maps.append((phi, grid_in, grid_ref))
        return maps
