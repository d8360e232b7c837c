"""Noise: Gaussian, Poisson (shot), speckle, salt-and-pepper and film grain.

Intensities are on the 0..255 scale unless a parameter says otherwise.
"""

from __future__ import annotations

import cv2
import numpy as np

from pikfix_bench.degradations.base import Operation, Param, register, to_uint8


def _field_shape(image: np.ndarray, gray: bool) -> tuple[int, ...]:
    """Shape of a noise field: one plane shared by all channels when ``gray``."""
    return image.shape[:2] + ((1,) if image.ndim == 3 and gray else image.shape[2:])


ROUNDING = Param(
    "rounding",
    "choice",
    "round",
    choices=("round", "truncate"),
    doc="to uint8: round, or truncate (Wan et al.)",
)


def _quantise(values: np.ndarray, rounding: str) -> np.ndarray:
    """Float values on 0..255 to uint8: rounded, or clipped and truncated as Wan et al.'s ``np_to_pil``."""
    return to_uint8(values) if rounding == "round" else np.clip(values, 0, 255).astype(np.uint8)


@register
class GaussianNoise(Operation):
    """Additive white Gaussian noise."""

    name = "gaussian_noise"
    description = "additive white Gaussian noise"
    uses_seed = True
    params = (
        Param("sigma", "float", [5.0, 50.0], 0.0, 255.0, unit="0..255", doc="standard deviation"),
        Param("gray", "bool", False, doc="one noise plane for all channels (luminance noise)"),
        ROUNDING,
    )

    def _apply(self, image, sigma, gray, rounding, seed):
        noise = np.random.default_rng(seed).standard_normal(_field_shape(image, gray), dtype=np.float32)
        return _quantise(image + noise * np.float32(sigma), rounding), None


@register
class PoissonNoise(Operation):
    """Shot noise: each pixel is a Poisson photon count, as ImageNet-C's ``shot_noise``."""

    name = "poisson_noise"
    description = "shot (Poisson) noise; fewer photons = stronger"
    uses_seed = True
    params = (
        Param(
            "photons",
            "float",
            [5.0, 60.0],
            1.0,
            1000.0,
            unit="counts at white",
            doc="photon count of a white pixel",
        ),
    )

    def _apply(self, image, photons, seed):
        counts = np.random.default_rng(seed).poisson(image.astype(np.float64) * (photons / 255.0))
        return to_uint8(counts * (255.0 / photons)), None


@register
class SpeckleNoise(Operation):
    """Multiplicative noise ``x + x * n`` with ``n ~ N(0, sigma)`` (Wan et al.; ImageNet-C)."""

    name = "speckle_noise"
    description = "multiplicative (speckle) noise"
    uses_seed = True
    params = (
        Param(
            "sigma",
            "float",
            [0.02, 0.2],
            0.0,
            2.0,
            unit="fraction of the pixel value",
            doc="standard deviation",
        ),
        ROUNDING,
    )

    def _apply(self, image, sigma, rounding, seed):
        noise = np.random.default_rng(seed).standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
        return _quantise(image * (1.0 + noise), rounding), None


@register
class SaltPepperNoise(Operation):
    """Impulse noise: a fraction of pixels set to white (salt) or black (pepper).

    ``per_channel`` draws hit and salt for every channel value (a mask over H x W x C), as Wan et al.'s
    ``synthesize_salt_pepper`` does: about three times the hits of a pixel mask, and coloured impulses.
    """

    name = "salt_pepper"
    description = "impulse noise: random white and black pixels"
    uses_seed = True
    params = (
        Param("amount", "float", [0.0, 0.01], 0.0, 1.0, unit="fraction of pixels", doc="share of pixels hit"),
        Param("salt_ratio", "float", [0.3, 0.8], 0.0, 1.0, doc="share of the hits that are white"),
        Param("per_channel", "bool", False, doc="hit each channel value on its own (Wan et al.)"),
    )

    def _apply(self, image, amount, salt_ratio, per_channel, seed):
        rng = np.random.default_rng(seed)
        shape = image.shape if per_channel else image.shape[:2]
        hit = rng.random(shape) < amount
        salt = rng.random(shape) < salt_ratio
        out = image.copy()
        out[hit & salt] = 255
        out[hit & ~salt] = 0
        return out, None


@register
class FilmGrain(Operation):
    """Spatially correlated, luminance-dependent grain (strongest in mid-tones), shared by all channels."""

    name = "film_grain"
    description = "film grain: correlated noise, strongest in mid-tones"
    uses_seed = True
    params = (
        Param("strength", "float", [4.0, 16.0], 0.0, 100.0, unit="0..255", doc="grain std in mid-gray"),
        Param(
            "grain_size", "float", [0.6, 1.5], 0.3, 5.0, unit="px", doc="correlation length (Gaussian sigma)"
        ),
    )

    def _apply(self, image, strength, grain_size, seed):
        field = np.random.default_rng(seed).standard_normal(image.shape[:2], dtype=np.float32)
        field = cv2.GaussianBlur(field, (0, 0), grain_size, borderType=cv2.BORDER_REFLECT)
        field /= max(float(field.std()), 1e-6)
        luminance = (image if image.ndim == 2 else image.mean(axis=2)).astype(np.float32) / 255.0
        grain = field * (4.0 * luminance * (1.0 - luminance)) * np.float32(strength)
        return to_uint8(image + (grain if image.ndim == 2 else grain[..., None])), None
