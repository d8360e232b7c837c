"""Resolution loss (down-then-up resampling) and JPEG compression."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from pikfix_bench.degradations.base import Operation, Param, register

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
PIL_FILTERS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "area": Image.BOX,
    "lanczos": Image.LANCZOS,
}
LIBRARIES = ("opencv", "pil")


@register
class Resolution(Operation):
    """Down-sample then up-sample back to the original size (the paper's offline 2x down-up; Wan et al.).

    ``library=pil`` resamples with Pillow, whose down-sampling filters are antialiased (their support grows
    with the factor), as Wan et al.'s ``synthesize_low_resolution`` does; ``opencv`` does not antialias
    except with ``area``.
    """

    name = "resolution"
    description = "low resolution: down-sample, then up-sample back"
    params = (
        Param("scale", "float", [0.25, 1.0], 0.05, 1.0, doc="down-sampling factor of the width"),
        Param("scale_y", "float", -1.0, -1.0, 1.0, doc="factor of the height; -1 = same as scale"),
        Param("down", "choice", "area", choices=tuple(INTERPOLATIONS), doc="down-sampling interpolation"),
        Param("up", "choice", "bicubic", choices=tuple(INTERPOLATIONS), doc="up-sampling interpolation"),
        Param("library", "choice", "opencv", choices=LIBRARIES, doc="opencv or pil (antialiased)"),
    )

    def _apply(self, image, scale, scale_y, down, up, library):
        height, width = image.shape[:2]
        factor_y = scale if scale_y < 0 else scale_y
        small_size = (max(1, round(width * scale)), max(1, round(height * factor_y)))
        if library == "pil":
            small = Image.fromarray(image).resize(small_size, PIL_FILTERS[down])
            return np.asarray(small.resize((width, height), PIL_FILTERS[up])).copy(), None
        small = cv2.resize(image, small_size, interpolation=INTERPOLATIONS[down])
        return cv2.resize(small, (width, height), interpolation=INTERPOLATIONS[up]).reshape(image.shape), None


@register
class Resize(Operation):
    """Change the image's size by a factor (``int(side * scale)``, as ``cv2.resize(img, (w // 8, h // 8))``).

    The one operation that changes an image's size: pipelines that use it declare a ``geometry`` (the
    Pik-Fix offline data: the full image at 1/8, then x2, against a ground truth at 1/4).
    """

    name = "resize"
    changes_size = True
    description = "resize by a factor (changes the image's size)"
    params = (
        Param(
            "scale", "float", 0.5, 0.01, 16.0, doc="factor of both sides (the new side is int(side * scale))"
        ),
        Param(
            "interpolation", "choice", "bicubic", choices=tuple(INTERPOLATIONS), doc="OpenCV interpolation"
        ),
    )

    def _apply(self, image, scale, interpolation):
        height, width = image.shape[:2]
        size = (max(1, int(width * scale + 1e-9)), max(1, int(height * scale + 1e-9)))
        return cv2.resize(image, size, interpolation=INTERPOLATIONS[interpolation]), None


@register
class Jpeg(Operation):
    """JPEG compression at a quality (4:2:0 chroma subsampling): OpenCV's encoder, or Pillow's (Wan et al.)."""

    name = "jpeg"
    description = "JPEG compression"
    params = (
        Param("quality", "int", [30, 90], 1, 100, doc="JPEG quality"),
        Param("library", "choice", "opencv", choices=LIBRARIES, doc="encoder: opencv or pil"),
    )

    def _apply(self, image, quality, library):
        return jpeg_roundtrip(image, quality, library), None


def jpeg_roundtrip(image: np.ndarray, quality: int, library: str = "opencv") -> np.ndarray:
    """Encode a uint8 gray or RGB image as JPEG at ``quality`` (4:2:0) and decode it again."""
    if library == "pil":
        with io.BytesIO() as buffer:
            Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
            buffer.seek(0)
            return np.asarray(Image.open(buffer).convert("L" if image.ndim == 2 else "RGB")).copy()
    bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid input, which check_image rules out
        raise RuntimeError("JPEG encoding failed")
    if image.ndim == 2:
        return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
