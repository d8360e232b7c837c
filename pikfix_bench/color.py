"""CIE Lab helpers, following scikit-image's conventions (sRGB, D65, 2° observer).

Colourization models predict the ``ab`` channels and keep (or restore) ``L``;
these helpers split an RGB image into the two and put a prediction back
together as RGB. :func:`rgb_to_lab_torch` is a batched, vectorised port of
``skimage.color.rgb2lab`` used by the CIEDE2000 metric.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from skimage import color as skcolor

from pikfix_bench.errors import ShapeMismatchError

# sRGB (linear) -> XYZ matrix and the D65/2° white point, as in skimage.color.colorconv.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.95047, 1.0, 1.08883)


BT601_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def bt601_gray(image: np.ndarray) -> np.ndarray:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of a uint8 RGB image, rounded (as OpenCV and Pillow).

    A grayscale (``H x W``) image is returned as it is.
    """
    if image.ndim == 2:
        return image
    return np.clip(np.rint(image.astype(np.float32) @ BT601_LUMA), 0, 255).astype(np.uint8)


def rgb_to_l_ab(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a uint8 RGB image into Lab lightness and chroma.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8`` RGB image, ``H x W x 3``.

    Returns
    -------
    L : numpy.ndarray
        Lightness, float64 ``H x W`` in ``[0, 100]``.
    ab : numpy.ndarray
        Chroma, float64 ``H x W x 2``, roughly in ``[-128, 127]``.
    """
    lab = skcolor.rgb2lab(np.asarray(image, dtype=np.uint8))
    return lab[..., 0], lab[..., 1:]


def l_ab_to_rgb(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Combine Lab lightness with predicted chroma into a uint8 RGB image.

    Parameters
    ----------
    lightness : numpy.ndarray
        ``H x W`` lightness in ``[0, 100]``.
    ab : numpy.ndarray
        ``H x W x 2`` chroma.

    Returns
    -------
    numpy.ndarray
        ``uint8`` RGB image (out-of-gamut colours are clipped, then rounded).
    """
    lightness = np.asarray(lightness, dtype=np.float64)
    ab = np.asarray(ab, dtype=np.float64)
    if lightness.shape != ab.shape[:2] or ab.ndim != 3 or ab.shape[2] != 2:
        raise ShapeMismatchError(
            f"L has shape {lightness.shape} but ab has shape {ab.shape}; want H x W and H x W x 2"
        )
    with warnings.catch_warnings():  # out-of-gamut colours: clipped below, as documented
        warnings.simplefilter("ignore", UserWarning)
        rgb = skcolor.lab2rgb(np.concatenate([lightness[..., None], ab], axis=-1))
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


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
