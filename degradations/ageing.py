"""Ageing: fading, yellowing (sepia), vignetting and conversion to grayscale."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import rgb2lab

from pikfix_bench.color import BT601_LUMA, bt601_gray
from pikfix_bench.degradations.base import Operation, Param, register, to_uint8

# Classic sepia toning matrix (rows: output R, G, B).
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)


@register
class Fade(Operation):
    """Contrast and black-level loss: values are mapped linearly from [0, 255] to [black, white]."""

    name = "fade"
    description = "fading: lifted blacks and dimmed whites"
    params = (
        Param("black", "float", [10.0, 60.0], 0.0, 127.0, unit="0..255", doc="new level of black"),
        Param("white", "float", [200.0, 250.0], 128.0, 255.0, unit="0..255", doc="new level of white"),
    )

    def _apply(self, image, black, white):
        return to_uint8(black + image.astype(np.float32) * ((white - black) / 255.0)), None


@register
class Sepia(Operation):
    """Yellowing: a blend towards sepia toning. On a grayscale image it changes the tone curve only."""

    name = "sepia"
    description = "yellowing / sepia toning"
    params = (Param("amount", "float", [0.2, 0.8], 0.0, 1.0, doc="0 = unchanged, 1 = full sepia"),)

    def _apply(self, image, amount):
        rgb = (
            image.astype(np.float32)
            if image.ndim == 3
            else np.repeat(image[..., None], 3, axis=2).astype(np.float32)
        )
        toned = np.clip(rgb @ SEPIA.T, 0, 255)
        blended = (1 - amount) * rgb + amount * toned
        return to_uint8(blended if image.ndim == 3 else blended @ BT601_LUMA), None


@register
class Vignette(Operation):
    """Darkened corners: multiplies by ``1 - strength * (r / r_corner) ** 2``."""

    name = "vignette"
    description = "vignetting: darker corners"
    params = (Param("strength", "float", [0.2, 0.5], 0.0, 1.0, doc="darkening at the corners"),)

    def _apply(self, image, strength):
        height, width = image.shape[:2]
        yy, xx = np.ogrid[:height, :width]
        radius2 = ((yy - (height - 1) / 2) / (height / 2)) ** 2 + ((xx - (width - 1) / 2) / (width / 2)) ** 2
        gain = (1.0 - strength * radius2 / 2.0).astype(np.float32)
        return to_uint8(image * (gain if image.ndim == 2 else gain[..., None])), None


@register
class Grayscale(Operation):
    """Conversion to a one-channel image.

    ``bt601``: luma 0.299 R + 0.587 G + 0.114 B, rounded (as OpenCV and Pillow). ``bgr2gray-on-rgb``:
    what the public Pik-Fix code does (``datasets/OldPhotoDataset.py``: ``cv2.cvtColor(gt_image,
    cv2.COLOR_BGR2GRAY)`` on an RGB array), i.e. 0.114 R + 0.587 G + 0.299 B with OpenCV's rounding.
    ``lab``: CIE L* (scikit-image's ``rgb2lab``) scaled from [0, 100] to [0, 255], the lightness a
    Lab-space model takes as its input.
    """

    name = "grayscale"
    description = "conversion to grayscale (BT.601 luma or Lab L*)"
    params = (
        Param("method", "choice", "bt601", choices=("bt601", "bgr2gray-on-rgb", "lab"), doc="luma formula"),
    )

    def _apply(self, image, method):
        if image.ndim == 2:
            return image.copy(), None
        if method == "lab":
            return to_uint8(rgb2lab(image)[..., 0] * 2.55), None
        if method == "bgr2gray-on-rgb":
            return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), None
        return bt601_gray(image), None
