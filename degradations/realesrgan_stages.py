"""The stages of the ``realesrgan`` operation, in torch as basicsr runs them (imported only when applied).

See :mod:`pikfix_bench.degradations.realesrgan` for what is drawn and where it comes from.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pikfix_bench.degradations.base import to_uint8
from pikfix_bench.degradations.diffjpeg import diffjpeg
from pikfix_bench.degradations.realesrgan import kernel
from pikfix_bench.degradations.resample import jpeg_roundtrip

USM_RADIUS = 51  # USMSharp(radius=50): made odd


def degrade_image(
    image: np.ndarray, scale: int, usm: bool, seed: int, drawn: dict[str, Any], jpeg: str = "diffjpeg"
) -> np.ndarray:
    """Apply recorded draws (:meth:`RealESRGAN.sample`) to a uint8 gray or RGB image; the result is
    ``size // scale``. ``jpeg``: ``diffjpeg`` (basicsr's DiffJPEG, as ``feed_data``) or ``libjpeg`` (OpenCV)."""
    generator = torch.Generator().manual_seed(seed)
    codec = _diffjpeg if jpeg == "diffjpeg" else _libjpeg
    tensor = torch.from_numpy(image.reshape(*image.shape[:2], -1)).permute(2, 0, 1)[None].float() / 255
    height, width = image.shape[:2]
    out = filter2d(usm_sharpen(tensor) if usm else tensor, kernel(drawn["kernel1"]))
    out = F.interpolate(out, scale_factor=drawn["resize1"]["factor"], mode=drawn["resize1"]["mode"])
    out = codec(_noise(out, drawn["noise1"], generator), drawn["jpeg1"])
    if drawn["blur2"]:
        out = filter2d(out, kernel(drawn["kernel2"]))
    factor = drawn["resize2"]["factor"]
    size2 = (int(height / scale * factor), int(width / scale * factor))
    out = _noise(F.interpolate(out, size=size2, mode=drawn["resize2"]["mode"]), drawn["noise2"], generator)
    final = (height // scale, width // scale)
    sinc = kernel(drawn["final_sinc"]) if drawn["final_sinc"] else None
    if drawn["jpeg_first"]:
        out = codec(out, drawn["jpeg2"])
    out = F.interpolate(out, size=final, mode=drawn["final_mode"])
    out = out if sinc is None else filter2d(out, sinc)
    if not drawn["jpeg_first"]:
        out = codec(out, drawn["jpeg2"])
    result = torch.clamp((out * 255).round(), 0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    return (result[..., 0] if image.ndim == 2 else result).copy()


def filter2d(image: torch.Tensor, weights: np.ndarray) -> torch.Tensor:
    """``basicsr.utils.img_process_util.filter2D``: reflect padding, then a per-channel ``conv2d``."""
    size = weights.shape[-1]
    padded = F.pad(image, (size // 2,) * 4, mode="reflect")
    channels = image.shape[1]
    weight = torch.as_tensor(weights, dtype=torch.float32).view(1, 1, size, size).repeat(channels, 1, 1, 1)
    return F.conv2d(padded, weight, groups=channels)


def usm_sharpen(image: torch.Tensor, weight: float = 0.5, threshold: float = 10) -> torch.Tensor:
    """``USMSharp`` (radius 50 -> 51, sigma from OpenCV's rule): sharpen where the detail exceeds 10/255.

    The residual is blurred by ``filter2D`` with the full 51 x 51 kernel, as there: which pixels pass the
    threshold depends on its float rounding (a 1-D pass pair flips some and moves the result by up to
    1e-4). The binary mask is then blurred by two 1-D passes over the same padding (within 1e-6 of the
    2-D filter, at 1/25 of its cost)."""
    gaussian = cv2.getGaussianKernel(USM_RADIUS, 0)
    residual = image - filter2d(image, gaussian @ gaussian.T)
    soft = _separable_blur((residual.abs() * 255 > threshold).float(), gaussian[:, 0])
    sharp = torch.clip(image + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * image


def _separable_blur(image: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """``filter2D`` with the outer product of ``taps``, as a vertical then a horizontal 1-D pass."""
    weights = torch.as_tensor(taps, dtype=torch.float32)
    channels, size = image.shape[1], len(taps)
    padded = F.pad(image, (size // 2,) * 4, mode="reflect")
    down = F.conv2d(padded, weights.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(down, weights.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)


def _noise(image: torch.Tensor, spec: dict[str, Any], generator: torch.Generator) -> torch.Tensor:
    """``random_add_gaussian_noise_pt`` / ``random_add_poisson_noise_pt`` with recorded settings, clipped."""
    _, channels, height, width = image.shape
    gray = spec["gray"] and channels == 3
    if spec["kind"] == "gaussian":  # the gray field is drawn first, the colour field always
        gray_field = torch.randn(height, width, generator=generator) * spec["sigma"] / 255 if gray else None
        noise = torch.randn(image.shape, generator=generator) * spec["sigma"] / 255
    else:
        luma = image[:, :1] * 0.2989 + image[:, 1:2] * 0.587 + image[:, 2:3] * 0.114  # rgb_to_grayscale
        gray_field = _poisson_field(luma, generator) * spec["scale"] if gray else None
        noise = _poisson_field(image, generator) * spec["scale"]
    if gray_field is not None:
        noise = gray_field.expand_as(noise)
    return torch.clamp(image + noise, 0, 1)


def _poisson_field(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shot noise of an image quantised to 8 bits, with 2^ceil(log2(distinct values)) photon levels."""
    rounded = torch.clamp((image * 255).round(), 0, 255) / 255
    levels = 2 ** math.ceil(math.log2(len(torch.unique(rounded))))
    return torch.poisson(rounded * levels, generator=generator) / levels - rounded


def _diffjpeg(image: torch.Tensor, quality: float) -> torch.Tensor:
    """``feed_data``'s JPEG: clamp to [0, 1], then ``DiffJPEG(differentiable=False)``, unrounded."""
    return diffjpeg(torch.clamp(image, 0, 1), quality)


def _libjpeg(image: torch.Tensor, quality: float) -> torch.Tensor:
    """A JPEG round trip of the clamped image rounded to 8 bits, by OpenCV's codec at the rounded quality."""
    array = to_uint8(torch.clamp(image, 0, 1)[0].permute(1, 2, 0).numpy() * 255)
    decoded = jpeg_roundtrip(array[..., 0] if array.shape[2] == 1 else array, round(quality))
    decoded = decoded[..., None] if decoded.ndim == 2 else decoded
    return torch.from_numpy(decoded).permute(2, 0, 1)[None].float() / 255
