"""Peak signal-to-noise ratio."""

from __future__ import annotations

import torch


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB over all pixels and channels.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``N x C x H x W`` images on the scale given by ``data_range``.
    data_range : float
        Peak value of the signal (1 for images in ``[0, 1]``).

    Returns
    -------
    torch.Tensor
        ``N`` values in dB; ``inf`` where the images are identical.
    """
    mse = (pred - target).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)
