"""A batched, vectorised port of ``skimage.color.rgb2lab`` in torch (used by CIEDE2000 and the Pik-Fix model)."""

from __future__ import annotations

import torch

from pikfix_bench.color import D65_WHITE, XYZ_FROM_RGB


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (IEC 61966-2-1) on values in ``[0, 1]``."""
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def rgb_to_lab_torch(rgb: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Convert sRGB to CIE Lab exactly as ``skimage.color.rgb2lab``.

    Parameters
    ----------
    rgb : torch.Tensor
        ``N x 3 x H x W`` RGB: ``uint8`` (0..255) or float in ``[0, 1]``. For ``uint8`` the
        transfer curve is a 256-entry table computed in float64, which is exact and fast.
    dtype : torch.dtype
        Floating type of the computation and of the result.

    Returns
    -------
    torch.Tensor
        ``N x 3 x H x W`` Lab (L in ``[0, 100]``), on the input's device.
    """
    if rgb.dtype == torch.uint8:
        table = _srgb_to_linear(torch.arange(256, dtype=torch.float64, device=rgb.device) / 255.0).to(dtype)
        linear = table.index_select(0, rgb.reshape(-1).to(torch.int32)).view(rgb.shape)
    else:
        linear = _srgb_to_linear(rgb.to(dtype))
    matrix = torch.tensor(XYZ_FROM_RGB, dtype=dtype, device=rgb.device)
    white = torch.tensor(D65_WHITE, dtype=dtype, device=rgb.device).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,njhw->nihw", matrix, linear) / white
    f = torch.where(xyz > 0.008856, torch.pow(xyz.clamp_min(0), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)
