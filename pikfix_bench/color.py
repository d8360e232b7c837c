"""CIE Lab helpers, following scikit-image's conventions (sRGB, D65, 2° observer).

Colourization models predict the ``ab`` channels and keep (or restore) ``L``;
these helpers split an RGB image into the two and put a prediction back
together as RGB. The batched torch port of ``rgb2lab`` is in
:mod:`pikfix_bench.color_torch` (this module does not import torch).
"""

from __future__ import annotations

import warnings

import numpy as np
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
