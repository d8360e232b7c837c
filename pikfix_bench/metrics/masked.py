"""PSNR, SSIM and LPIPS inside the damaged region of a picture, and outside it.

A restoration model can score well on a whole picture by leaving it alone: most pixels were never
damaged. Datasets store where the structural damage is (``mask``: soft alpha 0..255, non-zero
exactly where a structural step changed the picture, docs/formats.md); these functions average each
metric's per-pixel terms over one region of that mask:

- **damaged**: alpha ≥ :data:`DAMAGE_THRESHOLD` (32 of 255: the damage makes up at least an eighth of
  the pixel, where it is visible);
- **undamaged**: alpha = 0 (no structural step touched the pixel).

The faint edges between (alpha 1..31) belong to neither, so neither score mixes in the other. A
picture without such a region (no damage, or no mask as in RealOld) scores ``nan`` for it: missing,
not an error, and left out of means as any ``nan`` is.

Per region: PSNR is ``10 log10(peak² / MSE)`` with the MSE over the region's pixels and channels; SSIM
is the mean over the region's positions of the SSIM map (averaged over channels), the map being the
profile's (zero padding: every pixel; ``valid``: positions whose window lies inside the picture);
LPIPS is the mean over the region of the official spatial LPIPS map (``lpips.LPIPS(spatial=True)``:
each layer's distance map upsampled bilinearly to the picture's size, summed over layers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F

from pikfix_bench.metrics.checks import undefined_values
from pikfix_bench.metrics.lpips_metric import LPIPS_MIN_SIZE
from pikfix_bench.metrics.ssim import K1, K2, SsimPadding, gaussian_window_1d

if TYPE_CHECKING:
    import lpips

Region = Literal["damaged", "undamaged"]
REGIONS: tuple[Region, ...] = ("damaged", "undamaged")
DAMAGE_THRESHOLD = 32


def damage_region(masks: torch.Tensor, region: Region) -> torch.Tensor:
    """The pixels of ``region`` in an ``N x H x W`` uint8 batch of soft damage masks (bool, same shape)."""
    return masks >= DAMAGE_THRESHOLD if region == "damaged" else masks == 0


def _region_mean(values: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per image, the mean of ``N x H x W`` values over the region's pixels (``nan`` for an empty region)."""
    weights = region.to(values.dtype)
    return (values * weights).flatten(1).sum(dim=1) / weights.flatten(1).sum(dim=1)


def region_psnr(
    pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor, data_range: float
) -> torch.Tensor:
    """Per-image PSNR over a region.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``N x C x H x W`` images on the scale of ``data_range`` (uint8 or float).
    region : torch.Tensor
        ``N x H x W`` bool.
    data_range : float
        The peak value.

    Returns
    -------
    torch.Tensor
        ``N`` float64 values: ``inf`` where the region is identical, ``nan`` where it is empty.
    """
    error = (pred.to(torch.float64) - target.to(torch.float64)).pow(2).mean(dim=1)  # channels share a pixel
    return 10.0 * torch.log10(data_range**2 / _region_mean(error, region))


def region_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    region: torch.Tensor,
    *,
    padding: SsimPadding,
    window_size: int,
    sigma: float,
    data_range: float,
) -> torch.Tensor:
    """Per-image mean of the SSIM map over a region (Gaussian window, float64, as :func:`~pikfix_bench.metrics.ssim`).

    Parameters
    ----------
    pred, target : torch.Tensor
        ``N x C x H x W`` images on the scale of ``data_range``.
    region : torch.Tensor
        ``N x H x W`` bool; with ``padding="valid"`` only its positions whose window lies inside count.
    padding : {"zero", "valid"}
        The profile's border convention.
    window_size, sigma : int, float
        Gaussian window.
    data_range : float
        Sets ``C1 = (0.01 L)^2`` and ``C2 = (0.03 L)^2``.

    Returns
    -------
    torch.Tensor
        ``N`` float64 values (``nan`` for an empty region).
    """
    x, y = pred.to(torch.float64), target.to(torch.float64)
    channels = x.shape[1]
    window = gaussian_window_1d(window_size, sigma, torch.float64, x.device)
    pad = window_size // 2 if padding == "zero" else 0

    def blur(image: torch.Tensor) -> torch.Tensor:
        rows = F.conv2d(
            image, window.view(1, 1, 1, -1).expand(channels, 1, 1, -1), padding=(0, pad), groups=channels
        )
        return F.conv2d(
            rows, window.view(1, 1, -1, 1).expand(channels, 1, -1, 1), padding=(pad, 0), groups=channels
        )

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    covariance = blur(x * y) - mu_x * mu_y
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    inner = window_size // 2 - pad  # map positions start this far into the picture
    if inner:
        region = region[..., inner:-inner, inner:-inner]
    return _region_mean(ssim_map.mean(dim=1), region)


def region_lpips(
    model: lpips.LPIPS, pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor
) -> torch.Tensor:
    """Per-image mean of the spatial LPIPS map over a region.

    Parameters
    ----------
    model : lpips.LPIPS
        From :func:`~pikfix_bench.metrics.lpips_metric.load_lpips_alex`.
    pred, target : torch.Tensor
        ``N x 3 x H x W`` uint8 RGB.
    region : torch.Tensor
        ``N x H x W`` bool.

    Returns
    -------
    torch.Tensor
        ``N`` float64 values (``nan`` for an empty region, and for pictures under
        :data:`~pikfix_bench.metrics.lpips_metric.LPIPS_MIN_SIZE` pixels a side, as whole-image LPIPS).

    Notes
    -----
    The map is ``lpips.LPIPS.forward`` with ``spatial=True``: each layer's weighted squared
    difference of unit-normalised features, upsampled to ``H x W`` (bilinear, ``align_corners=False``)
    and summed over layers; its mean over the whole picture is close to, not equal to, LPIPS.
    """
    import lpips

    if min(pred.shape[-2:]) < LPIPS_MIN_SIZE:
        return undefined_values(pred)
    dtype = next(model.parameters()).dtype
    count, size = pred.shape[0], pred.shape[-2:]
    with torch.inference_mode():
        # uint8 -> [-1, 1] -> the module's ScalingLayer, as lpips_distance does
        gain = (2.0 / 255.0) / model.scaling_layer.scale
        offset = (-1.0 - model.scaling_layer.shift) / model.scaling_layer.scale
        both = torch.addcmul(offset, torch.cat([pred, target]).to(dtype), gain)
        features = model.net(both.contiguous(memory_format=torch.channels_last))
        total = torch.zeros((count, 1, *size), dtype=dtype, device=pred.device)
        for layer, feature in enumerate(features):
            unit = lpips.normalize_tensor(feature)
            distance = model.lins[layer]((unit[:count] - unit[count:]) ** 2)
            total += F.interpolate(distance, size=size, mode="bilinear", align_corners=False)
        return _region_mean(total[:, 0].to(torch.float64), region)
