"""The Real-ESRGAN second-order degradation (Wang et al., ICCV-W 2021), as one recorded operation.

It follows basicsr 1.4.2 (``basicsr/data/realesrgan_dataset.py::__getitem__`` draws the kernels,
``basicsr/models/realesrgan_model.py::feed_data`` applies them; ``basicsr/data/degradations.py`` holds
the kernel and noise functions) with the ranges of Real-ESRGAN's ``options/train_realesrnet_x4plus.yml``
(:data:`RANGES`). The image stays in float [0, 1] between the stages, as there, and is rounded once at the
end; blurs are ``filter2D`` (reflect padding, ``conv2d``) and resizes ``torch.nn.functional.interpolate``,
as there. The differences (``docs/degradations.md``): JPEG is a real JPEG codec (OpenCV, 4:2:0, the quality
rounded, the image rounded to 8 bits before encoding) where basicsr uses DiffJPEG, its differentiable
approximation; noise fields come from a seeded ``torch.Generator``; the training crops (400 px pad/crop,
``gt_size`` 256) are left to dataset building.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import special

from pikfix_bench.degradations.base import Operation, Param, register, to_uint8
from pikfix_bench.degradations.resample import jpeg_roundtrip

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RANGES: dict[str, Any] = {  # options/train_realesrnet_x4plus.yml
    "kernel_prob": (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
    "kernel_sizes": tuple(range(7, 22, 2)),  # realesrgan_dataset.py: kernel_range = [2 v + 1 for v in 3..10]
    "sinc_prob": (0.1, 0.1),
    "blur_sigma": ((0.2, 3.0), (0.2, 1.5)),
    "betag_range": (0.5, 4.0),
    "betap_range": (1.0, 2.0),
    "final_sinc_prob": 0.8,
    "resize_prob": ((0.2, 0.7, 0.1), (0.3, 0.4, 0.3)),  # up, down, keep
    "resize_range": ((0.15, 1.5), (0.3, 1.2)),
    "gaussian_noise_prob": (0.5, 0.5),
    "noise_range": ((1.0, 30.0), (1.0, 25.0)),
    "poisson_scale_range": ((0.05, 3.0), (0.05, 2.5)),
    "gray_noise_prob": (0.4, 0.4),
    "jpeg_range": ((30.0, 95.0), (30.0, 95.0)),
    "second_blur_prob": 0.8,
}
PADDED_KERNEL = 21
USM_RADIUS = 51  # USMSharp(radius=50): made odd


def _grid(size: int) -> np.ndarray:
    """``mesh_grid``: (size, size, 2) pixel offsets from the centre (x, y)."""
    axis = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(axis, axis)
    return np.stack([xx, yy], axis=-1)


def kernel(spec: dict[str, Any]) -> np.ndarray:
    """The normalised blur kernel a recorded ``spec`` describes, padded to 21 x 21.

    ``spec``: ``{"type": one of KERNEL_TYPES or "sinc", "size", ...}`` with ``sigma_x``, ``sigma_y``,
    ``theta`` (radians) and ``beta`` for the Gaussian family, ``omega`` for ``sinc``.
    """
    size = spec["size"]
    if spec["type"] == "sinc":  # circular_lowpass_kernel
        grid = np.hypot(*np.moveaxis(_grid(size), -1, 0))
        omega = spec["omega"]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = omega * special.j1(omega * grid) / (2 * np.pi * grid)
        values[size // 2, size // 2] = omega**2 / (4 * np.pi)
    else:
        if spec["type"].endswith("aniso"):
            rotation = np.array(
                [
                    [math.cos(spec["theta"]), -math.sin(spec["theta"])],
                    [math.sin(spec["theta"]), math.cos(spec["theta"])],
                ]
            )
            sigma = rotation @ np.diag([spec["sigma_x"] ** 2, spec["sigma_y"] ** 2]) @ rotation.T
        else:
            sigma = np.diag([spec["sigma_x"] ** 2] * 2)
        grid = _grid(size)
        distance = np.sum((grid @ np.linalg.inv(sigma)) * grid, axis=2)
        if spec["type"].startswith("generalized"):
            values = np.exp(-0.5 * distance ** spec["beta"])
        elif spec["type"].startswith("plateau"):
            values = 1 / (distance ** spec["beta"] + 1)
        else:
            values = np.exp(-0.5 * distance)
    values = values / values.sum()
    pad = (PADDED_KERNEL - size) // 2
    return np.pad(values, pad)


def _draw_kernel(rng: np.random.Generator, stage: int) -> dict[str, Any]:
    """``random_mixed_kernels`` or a sinc kernel, as ``RealESRGANDataset.__getitem__`` draws them."""
    size = int(rng.choice(RANGES["kernel_sizes"]))
    if rng.uniform() < RANGES["sinc_prob"][stage]:
        low = np.pi / 3 if size < 13 else np.pi / 5
        return {"type": "sinc", "size": size, "omega": float(rng.uniform(low, np.pi))}
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=RANGES["kernel_prob"]))]
    low, high = RANGES["blur_sigma"][stage]
    spec: dict[str, Any] = {"type": kind, "size": size, "sigma_x": float(rng.uniform(low, high))}
    if kind.endswith("aniso"):
        spec["sigma_y"] = float(rng.uniform(low, high))
        spec["theta"] = float(rng.uniform(-np.pi, np.pi))
    else:
        spec["sigma_y"], spec["theta"] = spec["sigma_x"], 0.0
    if kind.startswith(("generalized", "plateau")):
        beta_low, beta_high = RANGES["betag_range" if kind.startswith("generalized") else "betap_range"]
        spec["beta"] = float(rng.uniform(beta_low, 1) if rng.uniform() < 0.5 else rng.uniform(1, beta_high))
    return spec


def _draw_resize(rng: np.random.Generator, stage: int) -> dict[str, Any]:
    direction = ("up", "down", "keep")[int(rng.choice(3, p=RANGES["resize_prob"][stage]))]
    low, high = RANGES["resize_range"][stage]
    factor = {"up": lambda: rng.uniform(1, high), "down": lambda: rng.uniform(low, 1), "keep": lambda: 1.0}
    return {"factor": float(factor[direction]()), "mode": str(rng.choice(["area", "bilinear", "bicubic"]))}


def _draw_noise(rng: np.random.Generator, stage: int) -> dict[str, Any]:
    if rng.uniform() < RANGES["gaussian_noise_prob"][stage]:
        low, high = RANGES["noise_range"][stage]
        noise: dict[str, Any] = {"kind": "gaussian", "sigma": float(rng.uniform(low, high))}
    else:
        low, high = RANGES["poisson_scale_range"][stage]
        noise = {"kind": "poisson", "scale": float(rng.uniform(low, high))}
    noise["gray"] = bool(rng.uniform() < RANGES["gray_noise_prob"][stage])
    return noise


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


def _jpeg(image: torch.Tensor, quality: float) -> torch.Tensor:
    """A JPEG round trip of a clamped float image (OpenCV's codec; basicsr's DiffJPEG approximates it)."""
    array = to_uint8(torch.clamp(image, 0, 1)[0].permute(1, 2, 0).numpy() * 255)
    decoded = jpeg_roundtrip(array[..., 0] if array.shape[2] == 1 else array, round(quality))
    decoded = decoded[..., None] if decoded.ndim == 2 else decoded
    return torch.from_numpy(decoded).permute(2, 0, 1)[None].float() / 255


def _resize(image: torch.Tensor, mode: str, **size: Any) -> torch.Tensor:
    return F.interpolate(image, mode=mode, **size)


@register
class RealESRGAN(Operation):
    """The Real-ESRGAN second-order degradation; the output is the input's size // ``scale``.

    Stage 1 blurs the USM-sharpened picture (``gt_usm``), resizes it up, down or not, adds Gaussian or
    Poisson noise (gray with p 0.4) and JPEG; stage 2 blurs with p 0.8, resizes to ``ori / scale``
    times a factor, adds noise; the last step resizes to ``ori // scale`` with a sinc filter (p 0.8) and
    JPEG, in either order with p 0.5; the result is ``clamp(round(255 x))``.
    """

    name = "realesrgan"
    description = (
        "Real-ESRGAN second-order degradation (blur, resize, noise, JPEG twice; sinc): size // scale"
    )
    uses_seed = True
    changes_size = True
    min_size = 80  # reflect padding of a 21-tap kernel after a resize to 0.15 needs 11 px
    params = (
        Param("scale", "choice", 4, choices=(1, 2, 4), doc="the output is the input's size // scale"),
        Param("usm", "bool", True, doc="blur the USM-sharpened image in stage 1 (gt_usm: True)"),
    )

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw as basicsr does: three kernels (dataset), then the two stages and the final order (model)."""
        params = super().sample(rng, shape)
        params["kernel1"], params["kernel2"] = _draw_kernel(rng, 0), _draw_kernel(rng, 1)
        params["final_sinc"] = None
        if rng.uniform() < RANGES["final_sinc_prob"]:
            params["final_sinc"] = {"type": "sinc", "size": int(rng.choice(RANGES["kernel_sizes"]))}
            params["final_sinc"]["omega"] = float(rng.uniform(np.pi / 3, np.pi))
        for stage in (0, 1):
            if stage == 1:
                params["blur2"] = bool(rng.uniform() < RANGES["second_blur_prob"])
            params[f"resize{stage + 1}"] = _draw_resize(rng, stage)
            params[f"noise{stage + 1}"] = _draw_noise(rng, stage)
            if stage == 0:
                params["jpeg1"] = float(rng.uniform(*RANGES["jpeg_range"][0]))
        params["jpeg_first"] = bool(rng.uniform() >= 0.5)  # feed_data: uniform() < 0.5 -> resize+sinc first
        params["final_mode"] = str(rng.choice(["area", "bilinear", "bicubic"]))
        params["jpeg2"] = float(rng.uniform(*RANGES["jpeg_range"][1]))
        return params

    def _apply(self, image, scale, usm, seed, **drawn):
        generator = torch.Generator().manual_seed(seed % 2**63)
        tensor = torch.from_numpy(image.reshape(*image.shape[:2], -1)).permute(2, 0, 1)[None].float() / 255
        height, width = image.shape[:2]
        out = filter2d(usm_sharpen(tensor) if usm else tensor, kernel(drawn["kernel1"]))
        out = _resize(out, drawn["resize1"]["mode"], scale_factor=drawn["resize1"]["factor"])
        out = _jpeg(_noise(out, drawn["noise1"], generator), drawn["jpeg1"])
        if drawn["blur2"]:
            out = filter2d(out, kernel(drawn["kernel2"]))
        factor = drawn["resize2"]["factor"]
        size2 = (int(height / scale * factor), int(width / scale * factor))
        out = _noise(_resize(out, drawn["resize2"]["mode"], size=size2), drawn["noise2"], generator)
        final = (height // scale, width // scale)
        sinc = kernel(drawn["final_sinc"]) if drawn["final_sinc"] else None
        if drawn["jpeg_first"]:
            out = _jpeg(out, drawn["jpeg2"])
        out = _resize(out, drawn["final_mode"], size=final)
        out = out if sinc is None else filter2d(out, sinc)
        if not drawn["jpeg_first"]:
            out = _jpeg(out, drawn["jpeg2"])
        result = torch.clamp((out * 255).round(), 0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
        return (result[..., 0] if image.ndim == 2 else result).copy(), None
