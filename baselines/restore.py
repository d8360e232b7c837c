"""``classical-restore``: weight-free restoration of damaged grayscale photographs."""

from __future__ import annotations

import cv2
import numpy as np

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelOption,
    as_rgb,
    register_model,
)


def damage_mask(gray: np.ndarray, threshold: float = 40.0, size: int = 9) -> np.ndarray:
    """Thin bright or dark structures (cracks, scratches, dust) by white and black top-hat transforms."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    bright = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    mask = ((bright > threshold) | (dark > threshold)).astype(np.uint8) * 255
    return cv2.dilate(mask, np.ones((3, 3), np.uint8))


def restore_gray(
    gray: np.ndarray, denoise: float = 7.0, threshold: float = 40.0, sharpen: float = 0.3
) -> np.ndarray:
    """Non-local-means denoising, top-hat damage detection with Telea inpainting, then mild unsharp masking."""
    mask = damage_mask(gray, threshold)
    inpainted = cv2.inpaint(gray, mask, 3, cv2.INPAINT_TELEA) if mask.any() else gray
    denoised = cv2.fastNlMeansDenoising(inpainted, None, h=denoise, templateWindowSize=7, searchWindowSize=21)
    blurred = cv2.GaussianBlur(denoised, (0, 0), 1.5).astype(np.float32)
    return np.clip(np.rint(denoised + sharpen * (denoised - blurred)), 0, 255).astype(np.uint8)


@register_model
class ClassicalRestoreAdapter(ModelAdapter):
    """Denoise, detect cracks and scratches by morphology and inpaint them, sharpen a little (no colour)."""

    descriptor = ModelDescriptor(
        "classical-restore",
        "NL-means, morphological crack detection + OpenCV inpainting, mild sharpening (tuned on synthetic damage)",
        "restoration",
        uses_reference=False,
        input_mode="L",
        options={
            "denoise": ModelOption("NL-means strength h", "float", default=7.0, minimum=0),
            "threshold": ModelOption(
                "top-hat threshold in grey levels; the default suits synthetic damage, but on real scans it also "
                "takes eyes, mouths and building edges for cracks and paints them over: raise it and check the "
                "outputs (--save-outputs)",
                "float",
                default=40.0,
                minimum=0,
            ),
            "sharpen": ModelOption("unsharp amount", "float", default=0.3, minimum=0),
        },
    )

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        return [as_rgb(restore_gray(image, **self.settings)) for image in batch.inputs]
