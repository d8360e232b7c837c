"""Blur: Gaussian, defocus (disc) and motion (line) kernels."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pikfix_bench.degradations.base import DegradationError, Operation, Param, register


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve with a normalised kernel, reflecting at the borders, rounding to uint8."""
    out = cv2.filter2D(
        image.astype(np.float32), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101
    )
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def imgaug_kernel_size(sigma: float) -> int:
    """imgaug 0.4's kernel for ``GaussianBlur`` (``blur._compute_gaussian_blur_ksize``, made odd)."""
    factor = 3.3 if sigma < 3.0 else 2.9 if sigma < 5.0 else 2.6
    size = int(max(factor * sigma, 5))
    return size + 1 if size % 2 == 0 else size


@register
class GaussianBlur(Operation):
    """Gaussian blur (the paper: sigma ~ U(0, 3) through imgaug; Wan et al.: kernel 3/5/7, sigma ~ U(1, 5)).

    ``implementation=cv2`` is ``cv2.GaussianBlur`` on the uint8 image (OpenCV's fixed-point filter, reflect-101
    border), as both imgaug (the Pik-Fix code) and Wan et al.'s ``blur_image_v2`` call it; ``float`` filters
    in float32 and rounds. ``size_rule=imgaug`` takes imgaug's kernel size (odd of ``max(3.3 sigma, 5)`` below
    sigma 3) and, as imgaug, leaves the image alone for sigma <= 0.001.
    """

    name = "gaussian_blur"
    description = "Gaussian blur"
    params = (
        Param("sigma", "float", [0.1, 3.0], 0.0, 20.0, unit="px", doc="standard deviation"),
        Param("kernel_size", "int", 0, 0, 99, unit="px", doc="odd kernel size; 0 = from size_rule"),
        Param("size_rule", "choice", "3sigma", choices=("3sigma", "imgaug"), doc="3sigma: 2*ceil(3 sigma)+1"),
        Param(
            "implementation",
            "choice",
            "float",
            choices=("float", "cv2"),
            doc="float32 filter, or cv2 on uint8",
        ),
    )

    def _check_settings(self):
        sizes = self.settings["kernel_size"]
        values = sizes["choice"] if isinstance(sizes, dict) else sizes if isinstance(sizes, list) else [sizes]
        if isinstance(sizes, list) or any(value and value % 2 == 0 for value in values):
            raise DegradationError(
                f"{self.name}: kernel_size must be 0 or odd (use {{'choice': [3, 5, 7]}} for several)"
            )

    def _apply(self, image, sigma, kernel_size, size_rule, implementation):
        if sigma <= (1e-3 if size_rule == "imgaug" else 0):
            return image.copy(), None
        size = kernel_size or (
            imgaug_kernel_size(sigma) if size_rule == "imgaug" else 2 * math.ceil(3 * sigma) + 1
        )
        if implementation == "cv2":
            return cv2.GaussianBlur(
                image, (size, size), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101
            ), None
        kernel = cv2.getGaussianKernel(size, sigma, cv2.CV_32F)
        return _filter(image, kernel @ kernel.T), None


def disc_kernel(radius: float) -> np.ndarray:
    """Normalised anti-aliased disc of ``radius`` pixels (4x supersampled coverage)."""
    half = math.ceil(radius)
    size = 2 * half + 1
    fine = (np.arange(size * 4) + 0.5) / 4.0 - half - 0.5  # 4 x 4 sample positions per pixel
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    kernel = inside.reshape(size, 4, size, 4).mean(axis=(1, 3))
    return kernel / kernel.sum()


@register
class DefocusBlur(Operation):
    """Out-of-focus blur with a disc kernel (ImageNet-C's ``defocus_blur`` without its extra Gaussian)."""

    name = "defocus_blur"
    description = "defocus blur (disc kernel)"
    params = (Param("radius", "float", [1.0, 4.0], 0.5, 30.0, unit="px", doc="disc radius"),)

    def _apply(self, image, radius):
        return _filter(image, disc_kernel(radius)), None


def line_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised anti-aliased line of ``length`` pixels at ``angle`` degrees (counter-clockwise from x)."""
    size = 2 * math.ceil(length / 2) + 1
    centre = (size - 1) / 2
    dx, dy = (
        math.cos(math.radians(angle)) * (length - 1) / 2,
        -math.sin(math.radians(angle)) * (length - 1) / 2,
    )
    canvas = np.zeros((size * 8, size * 8), np.float32)
    start = (round((centre - dx) * 8 + 4), round((centre - dy) * 8 + 4))
    end = (round((centre + dx) * 8 + 4), round((centre + dy) * 8 + 4))
    cv2.line(canvas, start, end, 1.0, thickness=8, lineType=cv2.LINE_AA)
    kernel = canvas.reshape(size, 8, size, 8).mean(axis=(1, 3))
    return kernel / kernel.sum()


@register
class MotionBlur(Operation):
    """Linear camera-shake blur along a line at an angle."""

    name = "motion_blur"
    description = "motion blur (line kernel at an angle)"
    params = (
        Param("length", "float", [3.0, 15.0], 1.0, 100.0, unit="px", doc="blur length"),
        Param(
            "angle",
            "float",
            [0.0, 180.0],
            0.0,
            360.0,
            unit="degrees",
            doc="direction, counter-clockwise from x",
        ),
    )

    def _apply(self, image, length, angle):
        return _filter(image, line_kernel(length, angle)), None
