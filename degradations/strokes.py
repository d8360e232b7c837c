"""Drawing helpers of the procedural damage: soft, anti-aliased, sub-pixel, scale-aware.

Every procedural generator draws an *alpha* layer (uint8, 0..255: how much of the damage covers a pixel)
and blends a value into the picture through it (:func:`blend_towards`). Lengths are given for a picture
whose short side is :data:`REFERENCE_SIDE` pixels and multiplied by :func:`picture_scale`, so a crack or a
speck covers the same share of a 256-pixel and a 2048-pixel picture. Lines and polygons are drawn by
OpenCV with ``LINE_AA`` at 1/16-pixel precision (``shift`` = 4); anti-aliasing in OpenCV needs 8-bit
canvases, which is why alpha layers are uint8.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

from pikfix_bench.degradations.base import to_uint8

REFERENCE_SIDE = 512
SHIFT = 4
ONE = 1 << SHIFT
AA_GROWTH = 0.6  # pixels an anti-aliased OpenCV fill reaches beyond its polygon (measured)
SMALLEST_SPOT = 0.75  # pixels: the smallest outline radius drawn (smaller spots: lower opacity)
ALPHA_LEVELS = 16  # opacities are drawn in this many steps (one OpenCV call per width and step)


def picture_scale(shape: tuple[int, ...]) -> float:
    """How many pixels of this picture make one pixel of a :data:`REFERENCE_SIDE` picture."""
    return min(shape[:2]) / REFERENCE_SIDE


def fixed_point(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates as OpenCV's fixed-point int32 (``shift`` = :data:`SHIFT`)."""
    return np.round(np.asarray(points, np.float64) * ONE).astype(np.int32)


def smooth_profile(rng: np.random.Generator, count: int, knots: int, low: float, high: float) -> np.ndarray:
    """``count`` values in ``[low, high]`` varying smoothly: ``knots`` uniform draws linearly interpolated."""
    knots = max(2, knots)
    values = rng.uniform(low, high, knots)
    return np.interp(np.linspace(0, knots - 1, count), np.arange(knots), values)


def walk(start, headings: np.ndarray, step: float) -> np.ndarray:
    """The points of a path from ``start`` taking one ``step`` (pixels) in each heading (degrees)."""
    radians = np.radians(headings)
    moves = step * np.column_stack([np.cos(radians), np.sin(radians)])
    return np.vstack([start, start + np.cumsum(moves, axis=0)])


def taper(count: int, ends: float = 0.15) -> np.ndarray:
    """1 along a stroke, falling smoothly to 0.2 over the first and last ``ends`` of its length."""
    t = np.linspace(0.0, 1.0, count)
    rise = np.clip(np.minimum(t, 1 - t) / ends, 0.0, 1.0)
    return 0.2 + 0.8 * np.sin(rise * math.pi / 2)


def _levels(widths, alphas) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV thickness (whole pixels, at least 1) and opacity step (0..ALPHA_LEVELS - 1) of each
    width (pixels) and opacity (0..1). Widths under one pixel are drawn one pixel wide at a proportionally
    lower opacity (the same ink per length)."""
    widths, alphas = np.asarray(widths, float), np.asarray(alphas, float)
    thickness = np.maximum(1, np.rint(widths)).astype(int)
    coverage = np.clip(alphas * np.minimum(widths, 1.0), 0, 1)
    return thickness, np.rint(coverage * (ALPHA_LEVELS - 1)).astype(int)


class Ink:
    """The strokes and blots of one alpha layer, collected, then drawn in a few OpenCV calls.

    Shapes that draw alike (same opacity step and line width) share one call; faint ones are drawn
    first, so the stronger one wins where shapes meet.

    Parameters
    ----------
    shape : tuple of int
        Height and width of the layer.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape[:2]
        self.lines: dict[tuple[int, int], list[np.ndarray]] = {}  # (level, thickness) -> fixed-point paths
        self.fills: dict[int, list[np.ndarray]] = {}  # level -> fixed-point polygons

    def stroke(self, points: np.ndarray, widths: np.ndarray, alphas: np.ndarray) -> None:
        """One polyline (float vertices) whose width (pixels) and opacity (0..1) vary per segment."""
        if len(points) < 2:
            return
        thickness, level = _levels(widths, alphas)
        key = thickness * ALPHA_LEVELS + level
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(key)]
        fixed = fixed_point(points)
        for start, end in zip(starts, ends, strict=True):
            if level[start]:
                self.lines.setdefault((int(level[start]), int(thickness[start])), []).append(
                    fixed[start : end + 1]
                )

    def paths(self, points: np.ndarray, widths: np.ndarray, alphas: np.ndarray) -> None:
        """Many polylines of ``k`` vertices (``points``: N x k x 2), each at one width and opacity."""
        thickness, level = _levels(widths, alphas)
        fixed = fixed_point(points)
        for path, width, value in zip(fixed, thickness, level, strict=True):
            if value:
                self.lines.setdefault((int(value), int(width)), []).append(path)

    def blots(self, polygons: np.ndarray, alphas: np.ndarray) -> None:
        """Filled polygons (N x k x 2 float vertices), each at its opacity (0..1)."""
        level = np.rint(np.clip(np.asarray(alphas, float), 0, 1) * (ALPHA_LEVELS - 1)).astype(int)
        fixed = fixed_point(polygons)
        for polygon, value in zip(fixed, level, strict=True):
            if value:
                self.fills.setdefault(int(value), []).append(polygon)

    def spots(
        self,
        rng: np.random.Generator,
        centres: np.ndarray,
        radii: np.ndarray,
        alphas: np.ndarray,
        vertices: int = 9,
        roughness: float = 0.35,
    ) -> None:
        """Irregular round blots (see :func:`blobs`) that hold the ink of discs of ``radii``.

        OpenCV's anti-aliased fill reaches :data:`AA_GROWTH` px beyond a polygon, so outlines are drawn
        that much smaller; a spot too small for that is drawn at the smallest size with its opacity
        lowered by the ratio of the areas. Small specks so weigh the same at every resolution."""
        radii = np.asarray(radii, float)
        drawn = np.maximum(radii - AA_GROWTH, SMALLEST_SPOT)
        alphas = np.asarray(alphas, float) * np.minimum(radii / (drawn + AA_GROWTH), 1.0) ** 2
        self.blots(blobs(rng, centres, drawn, vertices, roughness), alphas)

    def draw(self) -> np.ndarray:
        """The uint8 alpha layer (blots first, then strokes)."""
        canvas = np.zeros(self.shape, np.uint8)
        for value, polygons in sorted(self.fills.items()):
            cv2.fillPoly(canvas, polygons, _value(value), cv2.LINE_AA, SHIFT)
        for (value, width), paths in sorted(self.lines.items()):
            cv2.polylines(canvas, paths, False, _value(value), width, cv2.LINE_AA, SHIFT)
        return canvas


def _value(level: int) -> int:
    return round(255 * level / (ALPHA_LEVELS - 1))


def blobs(
    rng: np.random.Generator,
    centres: np.ndarray,
    radii: np.ndarray,
    vertices: int = 9,
    roughness: float = 0.35,
) -> np.ndarray:
    """Irregular closed outlines (N x vertices x 2) around ``centres`` (N x 2): the radii of each are
    its radius times U(1 - roughness, 1 + roughness), at sorted uniform angles."""
    centres, radii = np.atleast_2d(centres), np.atleast_1d(radii)
    angles = np.sort(rng.uniform(0, 2 * math.pi, (len(radii), vertices)), axis=1)
    lengths = radii[:, None] * rng.uniform(1 - roughness, 1 + roughness, (len(radii), vertices))
    return centres[:, None, :] + lengths[..., None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def soften(alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Blur an alpha layer by ``sigma`` pixels (no-op under 0.3 px: anti-aliasing is soft enough)."""
    return cv2.GaussianBlur(alpha, (0, 0), sigma) if sigma >= 0.3 else alpha


def power_law(
    rng: np.random.Generator, count: int, low: float, high: float, exponent: float = 2.5
) -> np.ndarray:
    """Sizes with density ~ size^-exponent on ``[low, high]``: many small, few large (dust, spots)."""
    u = rng.random(count)
    a, b = low ** (1 - exponent), high ** (1 - exponent)
    return (a + u * (b - a)) ** (1 / (1 - exponent))


def blend_towards(
    image: np.ndarray, alpha: np.ndarray, value: float, limit: Literal["lighten", "darken"] | None = None
) -> np.ndarray:
    """``image + alpha * (target - image)``, ``alpha`` a uint8 layer (255 = fully ``target``).

    ``target`` is ``value``; with ``limit="lighten"`` it is ``max(image, value)`` (the damage only
    brightens, as Pik-Fix blends its crack textures), with ``"darken"`` ``min(image, value)``. Only the
    pixels under the layer are computed.
    """
    out = image.copy()
    where = np.nonzero(alpha)
    if not len(where[0]):
        return out
    pixels = image[where].astype(np.float32)
    target = np.float32(value)
    if limit == "lighten":
        target = np.maximum(pixels, target)
    elif limit == "darken":
        target = np.minimum(pixels, target)
    weight = alpha[where].astype(np.float32) * np.float32(1 / 255)
    out[where] = to_uint8(pixels + (weight if image.ndim == 2 else weight[:, None]) * (target - pixels))
    return out


def paint(image: np.ndarray, layers: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Blend each ``(alpha layer, value)`` into the picture in turn (:func:`blend_towards`).

    Returns the picture and its damage mask: the largest alpha where the picture changed."""
    out = image
    for alpha, value in layers:
        out = blend_towards(out, alpha, value)
    return out, soft_mask(image, out, np.maximum.reduce([alpha for alpha, _ in layers]))


def soft_mask(before: np.ndarray, after: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The damage mask: ``alpha`` where the image changed (at least 1), 0 where it did not."""
    changed = before != after
    if changed.ndim == 3:
        changed = changed.any(axis=2)
    return np.where(changed, np.maximum(alpha, 1), 0).astype(np.uint8)
