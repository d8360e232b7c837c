"""The Real-ESRGAN second-order degradation (Wang et al., ICCV-W 2021), as one recorded operation.

It follows basicsr 1.4.2 (``basicsr/data/realesrgan_dataset.py::__getitem__`` draws the kernels,
``basicsr/models/realesrgan_model.py::feed_data`` applies them; ``basicsr/data/degradations.py`` holds
the kernel and noise functions) with the ranges of Real-ESRGAN's ``options/train_realesrnet_x4plus.yml``
(:data:`RANGES`). The image stays in float [0, 1] between the stages, as there, and is rounded once at the
end; blurs are ``filter2D`` (reflect padding, ``conv2d``), resizes ``torch.nn.functional.interpolate`` and
JPEG basicsr's ``DiffJPEG(differentiable=False)`` (:mod:`pikfix_bench.degradations.diffjpeg`), as there:
for the same draws and noise the output is byte-equal to ``feed_data``'s (``tests/test_realesrgan.py``).
``jpeg=libjpeg`` uses a real JPEG codec instead (OpenCV, 4:2:0, the quality rounded, the image rounded to
8 bits before encoding), what this operation did before the setting existed; records without it replay so.
The differences (``docs/degradations.md``): noise fields come from a seeded ``torch.Generator``; the
training crops (400 px pad/crop, ``gt_size`` 256) are left to dataset building.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from pikfix_bench.degradations.base import Operation, Param, register

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
JPEG_CODECS = ("diffjpeg", "libjpeg")  # basicsr's DiffJPEG(differentiable=False); OpenCV's libjpeg


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
    if direction == "keep":
        factor = 1.0
    else:
        factor = float(rng.uniform(1, high) if direction == "up" else rng.uniform(low, 1))
    return {"factor": factor, "mode": str(rng.choice(["area", "bilinear", "bicubic"]))}


def _draw_noise(rng: np.random.Generator, stage: int) -> dict[str, Any]:
    if rng.uniform() < RANGES["gaussian_noise_prob"][stage]:
        low, high = RANGES["noise_range"][stage]
        noise: dict[str, Any] = {"kind": "gaussian", "sigma": float(rng.uniform(low, high))}
    else:
        low, high = RANGES["poisson_scale_range"][stage]
        noise = {"kind": "poisson", "scale": float(rng.uniform(low, high))}
    noise["gray"] = bool(rng.uniform() < RANGES["gray_noise_prob"][stage])
    return noise


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
        Param(
            "jpeg",
            "choice",
            "diffjpeg",
            choices=JPEG_CODECS,
            doc="JPEG codec: diffjpeg (basicsr's DiffJPEG, as Real-ESRGAN trains) or libjpeg (OpenCV's)",
        ),
    )

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw as basicsr does: three kernels (dataset), then the two stages and the final order (model)."""
        params = super().sample(rng, shape)
        params["kernel1"], params["kernel2"] = _draw_kernel(rng, 0), _draw_kernel(rng, 1)
        params["final_sinc"] = None
        if rng.uniform() < RANGES["final_sinc_prob"]:
            params["final_sinc"] = {"type": "sinc", "size": int(rng.choice(RANGES["kernel_sizes"]))}
            params["final_sinc"]["omega"] = float(rng.uniform(np.pi / 3, np.pi))
        params["resize1"], params["noise1"] = _draw_resize(rng, 0), _draw_noise(rng, 0)
        params["jpeg1"] = float(rng.uniform(*RANGES["jpeg_range"][0]))
        params["blur2"] = bool(rng.uniform() < RANGES["second_blur_prob"])
        params["resize2"], params["noise2"] = _draw_resize(rng, 1), _draw_noise(rng, 1)
        params["jpeg_first"] = bool(rng.uniform() >= 0.5)  # feed_data: uniform() < 0.5 -> resize+sinc first
        params["final_mode"] = str(rng.choice(["area", "bilinear", "bicubic"]))
        params["jpeg2"] = float(rng.uniform(*RANGES["jpeg_range"][1]))
        return params

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply recorded draws; a record made before ``jpeg`` existed was coded by OpenCV and replays so."""
        return super().apply(image, {"jpeg": "libjpeg", **params})

    def _apply(self, image, scale, usm, jpeg, seed, **drawn):
        from pikfix_bench.degradations.realesrgan_stages import degrade_image  # torch, only when used

        return degrade_image(image, scale, usm, seed, drawn, jpeg=jpeg), None
