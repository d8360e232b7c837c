"""Weight-free colourization baselines: the gray floor, Reinhard transfer and Welsh exemplar colourization."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import color

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelOption,
    as_rgb,
    register_model,
)
from pikfix_bench.color import l_ab_to_rgb, rgb_to_l_ab


@register_model
class GrayAdapter(ModelAdapter):
    """The input as it is (grayscale replicated to RGB): the floor every colouriser must beat."""

    descriptor = ModelDescriptor(
        "gray", "the input as is (the floor)", "any", uses_reference=False, input_mode="RGB"
    )

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        return [as_rgb(image) for image in batch.inputs]


def lightness_of(image: np.ndarray) -> np.ndarray:
    """Lab lightness (0..100) of a grayscale or RGB uint8 image."""
    return rgb_to_l_ab(as_rgb(image))[0]


@register_model
class ReinhardAdapter(ModelAdapter):
    """Global colour statistics transfer from the reference (Reinhard et al. 2001), in CIE Lab.

    The input's lightness is kept; its ``a, b`` channels are shifted and scaled to the reference's
    mean and standard deviation. A grayscale input has no chroma spread, so it takes the reference's
    mean chroma. Reference: E. Reinhard, M. Ashikhmin, B. Gooch, P. Shirley, "Color transfer between
    images", IEEE CG&A 21(5), 2001, :DOI:`10.1109/38.946629` (which used l-alpha-beta; Lab is the
    common modern choice).
    """

    descriptor = ModelDescriptor(
        "reinhard",
        "global Lab colour statistics transfer from the reference",
        "colorization",
        uses_reference=True,
        input_mode="RGB",
    )

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        outputs = []
        for image, reference in zip(batch.inputs, batch.references, strict=True):
            rgb = as_rgb(image)
            lightness, ab = rgb_to_l_ab(rgb)
            _, ref_ab = rgb_to_l_ab(as_rgb(reference))
            mean, spread = ab.reshape(-1, 2).mean(axis=0), ab.reshape(-1, 2).std(axis=0)
            ref_mean, ref_spread = ref_ab.reshape(-1, 2).mean(axis=0), ref_ab.reshape(-1, 2).std(axis=0)
            # A gray input is decided on its pixels, not on its chroma spread: rgb2lab gives gray values a
            # rounding-error chroma (|ab| ~ 1e-3) whose spread passed the 1e-3 threshold below (1.3e-3 for a
            # 96 px photograph), and scaling it up to the reference's spread painted noise of up to 47 levels.
            gray = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
            scale = (
                np.zeros(2) if gray else np.where(spread > 1e-3, ref_spread / np.maximum(spread, 1e-3), 0.0)
            )
            outputs.append(l_ab_to_rgb(lightness, (ab - mean) * scale + ref_mean))
        return outputs


def local_std(lightness: np.ndarray, size: int = 5) -> np.ndarray:
    """Standard deviation of lightness over a ``size x size`` neighbourhood."""
    mean = cv2.blur(lightness, (size, size), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.blur(lightness * lightness, (size, size), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0))


@register_model
class WelshAdapter(ModelAdapter):
    """Exemplar colourization by luminance remapping and neighbourhood matching (Welsh et al. 2002).

    The reference's lightness is remapped to the input's mean and spread; about 200 jittered-grid
    samples of the reference are described by lightness and 5x5 standard deviation (weighted
    equally); every input pixel takes the ``a, b`` of its best-matching sample and keeps its own
    lightness. Vectorised; the sample grid is seeded, so results are deterministic.
    Reference: T. Welsh, M. Ashikhmin, K. Mueller, "Transferring color to greyscale images",
    ACM TOG 21(3), 2002, :DOI:`10.1145/566654.566576`.
    """

    descriptor = ModelDescriptor(
        "welsh",
        "exemplar colourization by luminance/texture matching (Welsh 2002)",
        "colorization",
        uses_reference=True,
        input_mode="L",
        options={"samples": ModelOption("number of reference samples", "int", default=200, minimum=1)},
    )

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        count = self.settings["samples"]
        return [
            self._one(image, reference, count)
            for image, reference in zip(batch.inputs, batch.references, strict=True)
        ]

    @staticmethod
    def _one(gray: np.ndarray, reference: np.ndarray, count: int) -> np.ndarray:
        target_l = lightness_of(gray).astype(np.float32)
        ref_lab = color.rgb2lab(as_rgb(reference)).astype(np.float32)
        ref_l = ref_lab[..., 0]
        ref_l = (ref_l - ref_l.mean()) * (target_l.std() / max(float(ref_l.std()), 1e-3)) + target_l.mean()
        side = max(1, int(np.sqrt(count)))
        rng = np.random.default_rng(0)
        rows = np.clip(
            ((np.arange(side) + rng.random(side)) * ref_l.shape[0] / side).astype(int), 0, ref_l.shape[0] - 1
        )
        cols = np.clip(
            ((np.arange(side) + rng.random(side)) * ref_l.shape[1] / side).astype(int), 0, ref_l.shape[1] - 1
        )
        grid_r, grid_c = np.meshgrid(rows, cols, indexing="ij")
        ref_std = local_std(ref_l)
        samples = np.stack([ref_l[grid_r, grid_c].ravel(), ref_std[grid_r, grid_c].ravel()], axis=1)
        sample_ab = ref_lab[grid_r, grid_c, 1:].reshape(-1, 2)
        features = np.stack([target_l.ravel(), local_std(target_l).ravel()], axis=1)
        best = np.empty(len(features), dtype=np.int64)
        for start in range(0, len(features), 65536):  # bounded memory: 64k pixels x samples at a time
            chunk = features[start : start + 65536]
            distance = 0.5 * np.square(chunk[:, None, 0] - samples[None, :, 0]) + 0.5 * np.square(
                chunk[:, None, 1] - samples[None, :, 1]
            )
            best[start : start + len(chunk)] = distance.argmin(axis=1)
        return l_ab_to_rgb(target_l, sample_ab[best].reshape(*target_l.shape, 2))
