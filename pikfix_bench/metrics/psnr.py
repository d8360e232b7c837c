"""Peak signal-to-noise ratio."""

from __future__ import annotations

import torch

from pikfix_bench.metrics.checks import check_batch, resolve_data_range


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float | None = None) -> torch.Tensor:
    """Per-image PSNR in dB over all pixels and channels.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``N x C x H x W`` images on the scale given by ``data_range``. Integer images
        (``uint8``) give an exact mean squared error.
    data_range : float, optional
        Peak value of the signal: 1.0 by default for float images; required for integer images
        (255 for ``uint8``), which are refused without it.

    Returns
    -------
    torch.Tensor
        ``N`` values in dB; ``inf`` where the images are identical.
    """
    check_batch("psnr", pred, target)
    data_range = resolve_data_range("psnr", pred, data_range)
    if pred.dtype.is_floating_point:
        mse = (pred - target).square().flatten(1).mean(dim=1)
    else:
        difference = pred.to(torch.int32) - target.to(torch.int32)
        mse = (
            difference.square().flatten(1).sum(dim=1, dtype=torch.int64).to(torch.float64)
            / difference[0].numel()
        )
    return 10.0 * torch.log10(data_range**2 / mse)
