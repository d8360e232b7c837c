"""Pik-Fix's objective: alpha L1(L) + beta perceptual(L) + lambda EMD(hist) + gamma L1(ab) + eta adversarial."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pikfix_bench.model.colorization import SPHist
from pikfix_bench.model.config import PikFixConfig
from pikfix_bench.model.vgg import VGGFeatures


def perceptual_loss(vgg: VGGFeatures, restored: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum_j ||phi_j(L') - phi_j(L_gt)||^2 / (C_j H_j W_j)`` over the four VGG16 levels.

    Written as the mean of the squared difference, which keeps the difference for backward
    (``mse_loss`` keeps both feature maps).
    """
    return sum((a - b).square().mean() for a, b in zip(vgg(restored), vgg(target), strict=True))


def emd_loss(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Squared differences of the cumulative histograms (``N x K`` each), summed over bins, batch mean."""
    return (torch.cumsum(first, dim=1) - torch.cumsum(second, dim=1)).square().sum(dim=1).mean()


def colour_histograms(sphist: SPHist, ab: torch.Tensor) -> torch.Tensor:
    """Global a and b histograms of ab in [-1, 1]: ``N x 2 x K``, measured with the bin centres held fixed.

    The centres learn through the warp path only: with a gradient from the EMD into them, moving the
    bins apart lowered the loss (5.9 to 0.67 in 5,000 Adam steps on the centres alone) without changing
    a colour. The authors' code keeps its bins fixed too.
    """
    return torch.stack(
        [sphist.global_histogram(ab[:, :1], True), sphist.global_histogram(ab[:, 1:], True)], dim=1
    )


class PatchDiscriminator(nn.Module):
    """A 70x70 PatchGAN (pix2pix) judging an L+ab image conditioned on the reference's L+ab."""

    def __init__(self, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(6, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = width
        for index in range(1, layers + 1):
            out = width * min(2**index, 8)
            stride = 2 if index < layers else 1
            blocks += [
                nn.Conv2d(channels, out, 4, stride, 1),
                nn.InstanceNorm2d(out),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out
        blocks.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Patch logits; ``reference`` (``N x 3 x H' x W'``: L, a, b) is resized to the image."""
        reference = F.interpolate(reference, size=lightness.shape[-2:], mode="bilinear", align_corners=False)
        return self.net(torch.cat([lightness, ab, reference], 1))


@dataclass
class LossTerms:
    """The weighted terms of the generator objective and their total."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]  # detached, on the device: read them once per logging interval


def generator_loss(
    config: PikFixConfig,
    vgg: VGGFeatures,
    sphist: SPHist,
    restored: torch.Tensor,
    ab: torch.Tensor,
    target_lightness: torch.Tensor,
    target_ab: torch.Tensor,
    reference_ab: torch.Tensor,
    fake_logits: torch.Tensor | None,
) -> LossTerms:
    """The talk's objective with its weights (adversarial term only when ``fake_logits`` is given)."""
    parts = {
        "l1_lightness": config.alpha * F.l1_loss(restored, target_lightness),
        "perceptual": config.beta * perceptual_loss(vgg, restored, target_lightness),
        "emd": config.lam
        * emd_loss(
            colour_histograms(sphist, ab).flatten(0, 1), colour_histograms(sphist, reference_ab).flatten(0, 1)
        ),
        "l1_ab": config.gamma * F.l1_loss(ab, target_ab),
    }
    if fake_logits is not None:
        parts["adversarial"] = config.eta * F.binary_cross_entropy_with_logits(
            fake_logits, torch.ones_like(fake_logits)
        )
    total = sum(parts.values())
    return LossTerms(total, {name: value.detach() for name, value in parts.items()})


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: real patches 1, generated patches 0."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    )
