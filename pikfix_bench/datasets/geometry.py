"""Sample geometry: the evaluation size the paper never stated, made explicit and recorded."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pikfix_bench.degradations import DegradationResult
from pikfix_bench.degradations.pipeline import Geometry
from pikfix_bench.errors import PikfixError
from pikfix_bench.resize import resize_short_side, square_crop

PAPER_MULTIPLE = 32


def normalise(image: np.ndarray, size: int) -> np.ndarray:
    """``size > 0``: short side to ``size`` then centre crop ``size x size``; ``size == 0``: keep the image,
    cropped top-left to a multiple of 32 as the Pik-Fix code does."""
    if size > 0:
        return square_crop(image, size)
    height, width = (
        (image.shape[0] // PAPER_MULTIPLE) * PAPER_MULTIPLE,
        (image.shape[1] // PAPER_MULTIPLE) * PAPER_MULTIPLE,
    )
    if height == 0 or width == 0:
        raise PikfixError(f"image of {image.shape[1]}x{image.shape[0]} is smaller than {PAPER_MULTIPLE} px")
    return np.ascontiguousarray(image[:height, :width])


OFFLINE_SHORT_SIDE = 896  # utils/data_generation.py: downgrade // upgrade * crop_size = 8 // 2 * 224


def source_geometry(image: np.ndarray, size: int, scale: int) -> np.ndarray:
    """The source of a pipeline whose steps start ``scale`` times larger than the ground truth.

    ``size > 0``: short side to ``size * scale``, centre crop (the ground truth is then ``size``).
    ``size == 0``: as the Pik-Fix offline generator, the native image upscaled (bilinear, height then width)
    until both sides reach 896 px, then cropped top-left to a multiple of ``32 * scale`` (theirs: of 8) so that
    the ground truth keeps the multiple of 32 the model needs.
    """
    if size > 0:
        return square_crop(image, size * scale)
    image = enlarged_to(image, OFFLINE_SHORT_SIDE)
    unit = PAPER_MULTIPLE * scale
    height, width = (image.shape[0] // unit) * unit, (image.shape[1] // unit) * unit
    return np.ascontiguousarray(image[:height, :width])


def damage_source(raw: np.ndarray, size: int, geometry: Geometry) -> np.ndarray:
    """The picture a pipeline's steps start from: a larger source (:func:`source_geometry`), the whole
    picture to crop after the damage (at least ``size`` a side, as Pik-Fix's ``RandomCrop`` prepares it:
    :func:`enlarged_to`), or else the normalised picture, which is then also the ground truth."""
    if geometry.source_scale > 1:
        return source_geometry(raw, size, geometry.source_scale)
    if geometry.crop_after_damage and size > 0:
        return enlarged_to(raw, size)
    return normalise(raw, size)


def cut(result: DegradationResult, window: tuple[slice, slice]) -> DegradationResult:
    """A degradation result cut to a window (image and mask alike)."""
    image = np.ascontiguousarray(result.image[window])
    mask = None if result.mask is None else np.ascontiguousarray(result.mask[window])
    return replace(result, image=image, mask=mask)


def enlarged_to(image: np.ndarray, side: int) -> np.ndarray:
    """The picture scaled up, aspect kept, until both sides reach ``side``: height first, then width
    (``cv2.resize`` bilinear, ``fx = fy``), as Pik-Fix's ``RandomCrop`` and its offline generator do."""
    for axis in (0, 1):
        if image.shape[axis] < side:
            factor = side / image.shape[axis]
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    return image


def crop_window(shape: tuple[int, ...], size: int, rng: np.random.Generator) -> tuple[slice, slice]:
    """``RandomCrop``'s window: ``0`` when the side equals ``size``, else ``np.random.randint(0, side -
    size)`` (the last position is never drawn)."""
    top, left = (0 if side == size else int(rng.integers(0, side - size)) for side in shape[:2])
    return slice(top, top + size), slice(left, left + size)


def shifted_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The paper's synthetic reference: the same picture cut at an independent random position.

    ``size > 0``: the image is resized so its short side is ``size * zoom`` (zoom ~ U(1, 1.5)) and a
    ``size x size`` window is cut at a random position. ``size == 0``: a random window of 3/4 of each
    side of the full (normalised) image.
    """
    if size > 0:
        zoom = float(rng.uniform(1.0, 1.5))
        canvas = resize_short_side(image, round(size * zoom))
        window = (size, size)
    else:
        zoom = 1.0
        canvas = normalise(image, 0)
        window = (max(1, canvas.shape[0] * 3 // 4), max(1, canvas.shape[1] * 3 // 4))
    top = int(rng.integers(canvas.shape[0] - window[0] + 1))
    left = int(rng.integers(canvas.shape[1] - window[1] + 1))
    crop = np.ascontiguousarray(canvas[top : top + window[0], left : left + window[1]])
    return crop, {"zoom": zoom, "top": top, "left": left}
