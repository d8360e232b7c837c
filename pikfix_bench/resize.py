"""Resizing and cropping, the one way the toolkit does it: area interpolation when shrinking, bicubic when
enlarging."""

from __future__ import annotations

import cv2
import numpy as np


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a uint8 image to ``height x width`` (area when shrinking, bicubic when enlarging)."""
    if (height, width) == image.shape[:2]:
        return image.copy()
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def resize_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the short side is ``size`` pixels, keeping the aspect ratio."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    return resize_to(image, max(size, round(height * scale)), max(size, round(width * scale)))


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window."""
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


def square_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Short side resized to ``size``, then the central ``size x size`` window (contiguous)."""
    return np.ascontiguousarray(centre_crop(resize_short_side(image, size), size))
