"""The Pik-Fix network: restoration -> similarity -> colourization (Xu et al., WACV 2023).

Conventions: lightness L on [0, 1] (Lab L / 100), chroma ab on [-1, 1] (Lab ab / 110). The input
height and width must be multiples of 32 (the adapter pads and crops back).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pikfix_bench.model.colorization import ColorizationUNet, SPHist, pool_to_grids, similarity_map, warp
from pikfix_bench.model.config import PikFixConfig
from pikfix_bench.model.restoration import RestorationNet
from pikfix_bench.model.similarity import SCALES, SimilarityNet
from pikfix_bench.model.vgg import VGGFeatures

MULTIPLE = 32


@dataclass
class PikFixOutput:
    """What a forward pass returns (all tensors keep the batch dimension)."""

    lightness: torch.Tensor  # N x 1 x H x W restored L'
    ab: torch.Tensor  # N x 2 x H x W predicted ab / 110
    similarity: list[torch.Tensor]  # Phi_i, N x P_i x P'_i, finest first (when asked for)


class PikFix(nn.Module):
    """Restoration, similarity and colourization sub-networks, each selectable for the ablations."""

    def __init__(self, config: PikFixConfig, vgg: VGGFeatures | None = None) -> None:
        super().__init__()
        self.config = config
        self.restoration = RestorationNet(
            3 if config.restoration == "multi" else 1,
            config.restoration_channels,
            config.rdn_blocks,
            config.rdn_growth,
            config.rdn_layers,
        )
        self.vgg = vgg or VGGFeatures()
        self.similarity = SimilarityNet(
            "single" if config.similarity == "single" else "multi",
            config.similarity_channels,
            config.max_positions,
            config.similarity_scale,
            config.level_weights,
        )
        self.sphist = SPHist(config.bins, config.sigma)
        evidence = 2 * config.bins if config.fusion.endswith("hist") else 2
        fused = {"multi-hist": 4, "multi-ab": 4, "single-hist": 1, "input-ab": 0}[config.fusion]
        self.colorization = ColorizationUNet(
            config.unet_channels,
            config.dense_growth,
            config.dense_layers,
            evidence,
            fused,
            input_channels=3 if config.fusion == "input-ab" else 1,
        )

    def forward(
        self,
        lightness: torch.Tensor,
        reference_lightness: torch.Tensor,
        reference_ab: torch.Tensor,
        return_similarity: bool = False,
    ) -> PikFixOutput:
        """Restore, correlate with the reference, colourize.

        Parameters
        ----------
        lightness : torch.Tensor
            ``N x 1 x H x W`` input L / 100 (H, W multiples of 32).
        reference_lightness, reference_ab : torch.Tensor
            ``N x 1 x H' x W'`` and ``N x 2 x H' x W'`` reference L / 100 and ab / 110.
        return_similarity : bool
            Also form the similarity maps Phi_i (``N x P x P'`` each; the warp never needs them).
        """
        config = self.config
        restored = self.restoration(lightness)
        size, reference_size = tuple(lightness.shape[-2:]), tuple(reference_lightness.shape[-2:])
        scales = self.similarity(
            self.vgg(restored.clamp(0, 1)), self.vgg(reference_lightness), size, reference_size
        )
        grids = [grid_ref for _, _, _, grid_ref in scales]
        if config.fusion.endswith("hist"):
            pooled = self.sphist.pooled(reference_ab, grids)
        else:
            pooled = pool_to_grids(reference_ab, grids)
        use = config.similarity != "none"
        warped = [
            warp(values, query if use else None, key if use else None, grid_in, config.temperature)
            for values, (query, key, grid_in, _) in zip(pooled, scales, strict=True)
        ]
        if config.similarity == "single":  # one map, its result resized to every scale the decoder fuses
            warped = [_rescaled(warped[0], config.similarity_scale / divisor) for divisor in SCALES]
        if config.fusion == "input-ab":
            full = F.interpolate(warped[0], size=size, mode="bilinear", align_corners=False)
            ab = self.colorization(torch.cat([restored, full], 1), [])
        elif config.fusion == "single-hist":
            ab = self.colorization(restored, [warped[0]])
        else:
            ab = self.colorization(restored, warped[::-1])  # coarsest first
        similarity = [similarity_map(query, key) for query, key, _, _ in scales] if return_similarity else []
        return PikFixOutput(restored, ab, similarity)


def _rescaled(evidence: torch.Tensor, factor: float) -> torch.Tensor:
    """Evidence at a scale ``factor`` times finer (> 1: bilinear up) or coarser (< 1: average-pooled)."""
    if factor >= 1:
        return evidence if factor == 1 else F.interpolate(evidence, scale_factor=factor, mode="bilinear")
    return F.avg_pool2d(evidence, round(1 / factor))
