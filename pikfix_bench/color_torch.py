"""A batched, vectorised port of ``skimage.color.rgb2lab`` in torch (used by CIEDE2000 and the Pik-Fix model).

Branches are written as arithmetic (a 0/1 weight and ``torch.lerp``) rather than
``torch.where``: on a CPU, boolean masks and ``where`` run unvectorised and cost
ten to twenty times an addition, and a general ``pow`` costs five times ``exp(log)``.
"""

from __future__ import annotations

import functools

import torch

from pikfix_bench.color import D65_WHITE, XYZ_FROM_RGB

# CIE constants as scikit-image writes them: the linear segment of f(t) below (6/29)^3.
_LAB_EPSILON = 0.008856
_LAB_SLOPE = 7.787
# Multiplies a difference of at least one float32 ulp near the threshold (~1e-9) far past 1.
_STEP_GAIN = 1e30


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve (IEC 61966-2-1) on values in ``[0, 1]``."""
    return torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def _at_most(values: torch.Tensor, threshold: float) -> torch.Tensor:
    """``1.0`` where ``values <= threshold`` and ``0.0`` elsewhere, in ``values``' dtype, without masks.

    Exact for every finite value: a difference of one ulp, times ``1e30``, is far beyond 1.
    """
    return (threshold - values).mul_(_STEP_GAIN).add_(1.0).clamp_(0.0, 1.0)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    """CIE Lab's ``f(t)``: the cube root above ``0.008856``, a straight line at or below it."""
    cube_root = t.clamp_min(0.0).log_().div_(3.0).exp_()  # log(0) = -inf, exp(-inf) = 0
    line = t.mul(_LAB_SLOPE).add_(16.0 / 116.0)
    # lerp returns either end exactly at weights 0 and 1
    return torch.lerp(cube_root, line, _at_most(t, _LAB_EPSILON))


@functools.lru_cache(maxsize=16)
def _constants(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The sRGB-to-linear table for uint8 codes, and RGB-to-XYZ over the white point, both made in float64."""
    codes = torch.arange(256, dtype=torch.float64, device=device) / 255.0
    matrix = torch.tensor(XYZ_FROM_RGB, dtype=torch.float64, device=device)
    matrix /= torch.tensor(D65_WHITE, dtype=torch.float64, device=device)[:, None]
    return _srgb_to_linear(codes).to(dtype), matrix.to(dtype)


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
    table, matrix = _constants(dtype, rgb.device)
    # pixel-interleaved (N x H x W x 3): a free view of images that came from numpy
    interleaved = rgb.permute(0, 2, 3, 1)
    if rgb.dtype == torch.uint8:
        linear = table.index_select(0, interleaved.reshape(-1).to(torch.int32))
    else:
        linear = _srgb_to_linear(interleaved.to(dtype))
    count, _, height, width = rgb.shape
    # one product per batch gives XYZ / white channel by channel (N x 3 x HW)
    f = _lab_f(torch.matmul(matrix, linear.view(count, height * width, 3).transpose(1, 2)))
    fx, fy, fz = f.unbind(1)
    lab = torch.empty_like(f)
    torch.mul(fy, 116.0, out=lab[:, 0]).sub_(16.0)
    torch.sub(fx, fy, out=lab[:, 1]).mul_(500.0)
    torch.sub(fy, fz, out=lab[:, 2]).mul_(200.0)
    return lab.view(count, 3, height, width)
