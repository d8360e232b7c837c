"""Restoration sub-net: a multi-level Residual Dense Network on the input lightness, predicting L' as a residual."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pikfix_bench.model.blocks import ConcatConv2d, ResidualDenseBlock


class RDNLevel(nn.Module):
    """Shallow conv, residual dense blocks, global feature fusion, global residual (one resolution)."""

    def __init__(self, channels: int, blocks: int, growth: int, layers: int) -> None:
        super().__init__()
        self.head = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(ResidualDenseBlock(channels, growth, layers) for _ in range(blocks))
        self.fuse = nn.Sequential(
            ConcatConv2d(channels * blocks, channels, 1), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        shallow = self.head(x)
        features, outputs = shallow, []
        for block in self.blocks:
            features = block(features)
            outputs.append(features)
        return shallow + self.fuse(outputs)


class RestorationNet(nn.Module):
    """RDN levels at full, half and quarter resolution (``multi``) or full only (``single``), fused.

    The wider receptive field of the coarse levels handles large damage (cracks, torn areas); the
    output is the input lightness plus a predicted residual. Lightness is on ``[0, 1]``.
    """

    def __init__(self, levels: int, channels: int, blocks: int, growth: int, layers: int) -> None:
        super().__init__()
        self.levels = nn.ModuleList(RDNLevel(channels, blocks, growth, layers) for _ in range(levels))
        self.tail = nn.Sequential(
            nn.Conv2d(channels * levels, channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:  # noqa: D102
        size = lightness.shape[-2:]
        features = []
        for index, level in enumerate(self.levels):
            scaled = F.avg_pool2d(lightness, 2**index) if index else lightness
            out = level(scaled)
            features.append(
                F.interpolate(out, size=size, mode="bilinear", align_corners=False) if index else out
            )
        return lightness + self.tail(torch.cat(features, 1))
