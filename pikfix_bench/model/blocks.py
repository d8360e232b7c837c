"""Building blocks: residual dense blocks (RDN, Zhang et al. 2018) and dense blocks (DenseNet)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class Recomputed(nn.Module):
    """A module whose activations can be recomputed in backward instead of kept (``recompute = True``).

    Subclasses implement :meth:`compute`; the result is the same either way, only the memory differs.
    """

    recompute: bool = False

    def forward(self, *inputs: torch.Tensor):  # noqa: D102
        if self.recompute and torch.is_grad_enabled():
            return checkpoint(self.compute, *inputs, use_reentrant=False)
        return self.compute(*inputs)

    def compute(self, *inputs: torch.Tensor):
        """The module's computation."""
        raise NotImplementedError


def recompute_activations(model: nn.Module, enabled: bool = True) -> None:
    """Switch recomputation on (or off) for every :class:`Recomputed` module of ``model``."""
    for module in model.modules():
        if isinstance(module, Recomputed):
            module.recompute = enabled


class ResidualDenseBlock(Recomputed):
    """``layers`` densely connected 3x3 conv+ReLU (growth ``growth``), 1x1 local fusion, residual."""

    def __init__(self, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels + i * growth, growth, 3, padding=1), nn.ReLU(inplace=True))
            for i in range(layers)
        )
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1)

    def compute(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        features = [x]
        for conv in self.convs:
            features.append(conv(torch.cat(features, 1)))
        return x + self.fuse(torch.cat(features, 1))


class DenseBlock(Recomputed):
    """A DenseNet block followed by a 1x1 transition back to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels + i * growth, growth, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)
            )
            for i in range(layers)
        )
        self.transition = nn.Sequential(
            nn.Conv2d(in_channels + layers * growth, out_channels, 1), nn.LeakyReLU(0.2, inplace=True)
        )

    def compute(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        features = [x]
        for conv in self.convs:
            features.append(conv(torch.cat(features, 1)))
        return self.transition(torch.cat(features, 1))
