"""Hasler–Süsstrunk colourfulness, a no-reference measure of how colourful an image is.

Reference: D. Hasler, S. Süsstrunk, "Measuring colourfulness in natural images",
Proc. SPIE 5007, Human Vision and Electronic Imaging VIII, 2003,
:DOI:`10.1117/12.477378`.
"""

from __future__ import annotations

import torch

from pikfix_bench.metrics.checks import check_batch


def colorfulness(image: torch.Tensor) -> torch.Tensor:
    """Per-image colourfulness ``M = sigma_rgyb + 0.3 mu_rgyb`` on the 0..255 scale.

    Parameters
    ----------
    image : torch.Tensor
        ``N x 3 x H x W`` RGB images: ``uint8``, or float in ``[0, 1]``.

    Returns
    -------
    torch.Tensor
        ``N`` values; 0 for a gray image, around 30–60 for typical photographs.
    """
    check_batch("colorfulness", image, channels=3)
    if image.dtype == torch.uint8:
        return _colorfulness_exact(image)
    red, green, blue = (255.0 * image).unbind(1)
    rg = (red - green).flatten(1)
    yb = (0.5 * (red + green) - blue).flatten(1)
    spread = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    offset = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return spread + 0.3 * offset


def _colorfulness_exact(image: torch.Tensor) -> torch.Tensor:
    """The uint8 case from exact integer sums (``2 yb = R + G - 2B`` keeps everything integral)."""
    red, green, blue = image.to(torch.int32).unbind(1)
    rg = (red - green).flatten(1)
    yb2 = (red + green - 2 * blue).flatten(1)
    count = rg.shape[1]
    sums = [
        values.sum(dim=1, dtype=torch.int64).to(torch.float64) for values in (rg, yb2, rg * rg, yb2 * yb2)
    ]
    mean_rg, mean_yb = sums[0] / count, sums[1] / (2 * count)
    var_rg = sums[2] / count - mean_rg**2
    var_yb = sums[3] / (4 * count) - mean_yb**2
    return torch.sqrt(var_rg.clamp_min(0) + var_yb.clamp_min(0)) + 0.3 * torch.sqrt(mean_rg**2 + mean_yb**2)
