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


@dataclass
class ReferenceCode:
    """An encoded reference (:meth:`PikFix.encode_reference`): per scale, finest first, the normalised
    features K_i and the colour evidence (SPHist or ab) pooled to the scale's grid."""

    keys: list[torch.Tensor]
    evidence: list[torch.Tensor]


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
        return self.decode(
            lightness, self.encode_reference(reference_lightness, reference_ab), return_similarity
        )

    def encode_reference(
        self, reference_lightness: torch.Tensor, reference_ab: torch.Tensor
    ) -> ReferenceCode:
        """What the reference contributes, whatever the input: the similarity keys and the colour evidence
        pooled to each scale's grid (computed once for every tile of a large input)."""
        size = tuple(reference_lightness.shape[-2:])
        keys = self.similarity.encode(self.vgg(reference_lightness), size)
        grids = [grid for _, grid in keys]
        if self.config.fusion.endswith("hist"):
            evidence = self.sphist.pooled(reference_ab, grids)
        else:
            evidence = pool_to_grids(reference_ab, grids)
        return ReferenceCode([key for key, _ in keys], evidence)

    def decode(
        self, lightness: torch.Tensor, reference: ReferenceCode, return_similarity: bool = False
    ) -> PikFixOutput:
        """Restore ``lightness`` and colourize it with an encoded reference."""
        config = self.config
        restored = self.restoration(lightness)
        queries = self.similarity.encode(self.vgg(restored.clamp(0, 1)), tuple(lightness.shape[-2:]))
        use = config.similarity != "none"
        warped = [
            warp(values, query if use else None, key if use else None, grid_in, config.temperature)
            for values, (query, grid_in), key in zip(reference.evidence, queries, reference.keys, strict=True)
        ]
        if config.similarity == "single":  # one map, its result resized to every scale the decoder fuses
            warped = [_rescaled(warped[0], config.similarity_scale / divisor) for divisor in SCALES]
        if config.fusion == "input-ab":
            full = F.interpolate(warped[0], size=lightness.shape[-2:], mode="bilinear", align_corners=False)
            ab = self.colorization(torch.cat([restored, full], 1), [])
        elif config.fusion == "single-hist":
            ab = self.colorization(restored, [warped[0]])
        else:
            ab = self.colorization(restored, warped[::-1])  # coarsest first
        similarity = (
            [similarity_map(query, key) for (query, _), key in zip(queries, reference.keys, strict=True)]
            if return_similarity
            else []
        )
        return PikFixOutput(restored, ab, similarity)


def _rescaled(evidence: torch.Tensor, factor: float) -> torch.Tensor:
    """Evidence at a scale ``factor`` times finer (> 1: bilinear up) or coarser (< 1: average-pooled)."""
    if factor >= 1:
        return evidence if factor == 1 else F.interpolate(evidence, scale_factor=factor, mode="bilinear")
    return F.avg_pool2d(evidence, round(1 / factor))
