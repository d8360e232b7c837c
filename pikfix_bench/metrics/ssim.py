"""Structural similarity (Wang et al. 2004) with a Gaussian window, batched.

Two border conventions cover the reference implementations the toolkit matches:

- ``"zero"``: the image is zero-padded so the map has the image's size, and the
  whole map is averaged (``pytorch-ssim``, the Pik-Fix code);
- ``"valid"``: only positions whose window lies inside the image are kept
  (scikit-image after its border crop, BasicSR, Wang's MATLAB script).

Reference: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 13(4),
2004, :DOI:`10.1109/TIP.2003.819861`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from pikfix_bench.errors import ShapeMismatchError

SsimPadding = Literal["zero", "valid"]
K1, K2 = 0.01, 0.03


def gaussian_window_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (odd) and standard deviation ``sigma`` pixels."""
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    window = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return window / window.sum()


def _separable_filter(stack: torch.Tensor, window: torch.Tensor, padding: SsimPadding) -> torch.Tensor:
    """Filter every channel of ``stack`` with the outer product of ``window`` with itself."""
    channels, size = stack.shape[1], window.numel()
    pad = size // 2 if padding == "zero" else 0
    horizontal = window.view(1, 1, 1, size).expand(channels, 1, 1, size)
    vertical = window.view(1, 1, size, 1).expand(channels, 1, size, 1)
    out = F.conv2d(stack, horizontal, padding=(0, pad), groups=channels)
    return F.conv2d(out, vertical, padding=(pad, 0), groups=channels)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    padding: SsimPadding = "zero",
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Per-image mean SSIM, averaged over channels and map positions.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``N x C x H x W`` images (float64 recommended) on the scale of ``data_range``.
    padding : {"zero", "valid"}
        Border convention (see the module docstring).
    window_size : int
        Gaussian window size in pixels (odd).
    sigma : float
        Gaussian standard deviation in pixels.
    data_range : float
        Dynamic range of the images; sets ``C1 = (0.01 L)^2`` and ``C2 = (0.03 L)^2``.

    Returns
    -------
    torch.Tensor
        ``N`` SSIM values (1 for identical images).
    """
    if pred.shape != target.shape:
        raise ShapeMismatchError(f"SSIM needs images of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    height, width = pred.shape[-2:]
    if padding == "valid" and (height < window_size or width < window_size):
        raise ShapeMismatchError(
            f"SSIM in 'valid' mode needs images of at least {window_size}x{window_size} pixels, got {height}x{width}"
        )
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    window = gaussian_window_1d(window_size, sigma, pred.dtype, pred.device)
    stack = torch.cat([pred, target, pred * pred, target * target, pred * target], dim=1)
    mu_x, mu_y, e_xx, e_yy, e_xy = _separable_filter(stack, window, padding).chunk(5, dim=1)
    mu_xy = mu_x * mu_y
    mu_xx, mu_yy = mu_x * mu_x, mu_y * mu_y
    numerator = (2.0 * mu_xy + c1) * (2.0 * (e_xy - mu_xy) + c2)
    denominator = (mu_xx + mu_yy + c1) * ((e_xx - mu_xx) + (e_yy - mu_yy) + c2)
    return (numerator / denominator).flatten(1).mean(dim=1)
