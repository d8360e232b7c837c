"""Hasler–Süsstrunk colourfulness, a no-reference measure of how colourful an image is.

Reference: D. Hasler, S. Süsstrunk, "Measuring colourfulness in natural images",
Proc. SPIE 5007, Human Vision and Electronic Imaging VIII, 2003,
:DOI:`10.1117/12.477378`.
"""

from __future__ import annotations

import torch


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
    scaled = image.to(torch.float64) if image.dtype == torch.uint8 else 255.0 * image
    red, green, blue = scaled.unbind(1)
    rg = (red - green).flatten(1)
    yb = (0.5 * (red + green) - blue).flatten(1)
    spread = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    offset = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return spread + 0.3 * offset
