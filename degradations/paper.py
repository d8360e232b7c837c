"""Damage of the print as an object: fibres and hairs, foxing, stains, worn edges, silvering.

Like :mod:`~pikfix_bench.degradations.structural`, sizes are pixels of a 512-pixel picture (scaled with
the picture's short side), shapes are anti-aliased soft alpha layers, and every operation but
``silvering`` (a sheen over whole regions, like ``fade``) returns a soft mask that is non-zero exactly
where it changed the picture.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pikfix_bench.color import BT601_LUMA
from pikfix_bench.degradations.base import Operation, Param, register, to_uint8
from pikfix_bench.degradations.strokes import (
    Ink,
    paint,
    picture_scale,
    power_law,
    smooth_profile,
    soft_mask,
    soften,
    taper,
    walk,
)

RUST = np.array([0.86, 0.62, 0.42], np.float32)  # foxing: the colour a spot multiplies the picture by
TIDE = np.array([0.93, 0.84, 0.66], np.float32)  # water stains: yellow-brown


def _tint(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray, strength: float) -> np.ndarray:
    """Multiply the picture by ``colour`` (RGB; its luma on a gray picture) through ``alpha``."""
    factor = colour if image.ndim == 3 else np.float32(colour @ BT601_LUMA)
    weight = alpha.astype(np.float32) * np.float32(strength / 255)
    if image.ndim == 3:
        weight = weight[..., None]
    return to_uint8(image * (1 - weight * (1 - factor)))


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a ``cells`` x ``cells`` grid of uniform draws, bicubic to ``shape``."""
    grid = rng.random((cells, cells)).astype(np.float32)
    return np.clip(cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), 0, 1)


def _paste_max(canvas: np.ndarray, patch: np.ndarray, top: int, left: int) -> None:
    """``canvas = max(canvas, patch)`` over the patch placed at (``top``, ``left``), clipped to the canvas."""
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + patch.shape[0], canvas.shape[0]), min(left + patch.shape[1], canvas.shape[1])
    if y1 > y0 and x1 > x0:
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, patch[y0 - top : y1 - top, x0 - left : x1 - left], out=region)


@register
class Fibres(Operation):
    """Hairs and paper fibres lying on the print or the scanner glass: thin curling soft lines,
    dark (hairs) or bright (lint)."""

    name = "fibres"
    description = "procedural hairs and fibres: thin curling lines, dark or bright"
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param("count", "int", [3, 10], 0, 200, doc="number of fibres"),
        Param("length", "float", [0.05, 0.2], 0.005, 1.0, unit="x image diagonal", doc="fibre length"),
        Param("width", "float", [0.4, 1.2], 0.1, 6.0, unit="px at 512", doc="fibre width"),
        Param("curl", "float", [2.0, 10.0], 0.0, 60.0, unit="degrees per step", doc="how much a fibre curls"),
        Param("dark_share", "float", 0.6, 0.0, 1.0, doc="share of dark (vs bright) fibres"),
        Param("opacity", "float", [0.4, 0.9], 0.0, 1.0, doc="how strongly a fibre covers the picture"),
    )

    def _apply(self, image, count, length, width, curl, dark_share, opacity, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        scale = picture_scale(image.shape)
        step = max(0.75, 1.5 * scale)
        inks = {"dark": Ink(image.shape), "bright": Ink(image.shape)}
        for _ in range(count):
            steps = max(3, int(length * math.hypot(height, width_px) / step))
            # curvature: a random walk of the turn per step, plus a steady drift
            turning = np.cumsum(rng.normal(0, curl, steps)) + rng.normal(0, curl / 4) * np.arange(
                1, steps + 1
            )
            headings = rng.uniform(0, 360) + turning
            start = np.array([rng.uniform(0, width_px), rng.uniform(0, height)])
            points = walk(start, headings, step)
            widths = width * scale * smooth_profile(rng, steps, 4, 0.7, 1.1) * taper(steps, 0.3)
            alphas = opacity * smooth_profile(rng, steps, 4, 0.6, 1.0)
            inks["dark" if rng.random() < dark_share else "bright"].stroke(points, widths, alphas)
        dark, bright = (soften(ink.draw(), 0.35 * scale) for ink in inks.values())
        return paint(image, [(dark, rng.uniform(10, 60)), (bright, rng.uniform(215, 250))])


@register
class Foxing(Operation):
    """Foxing: rust-brown spots of many sizes, in clusters, with a dark core and a soft halo."""

    name = "foxing"
    description = "procedural foxing: clustered rust-brown spots with soft halos"
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param("count", "int", [10, 60], 0, 2000, doc="number of spots"),
        Param("clusters", "int", [1, 3], 1, 20, doc="number of clusters they gather in"),
        Param("radius", "float", [3.0, 8.0], 0.5, 60.0, unit="px at 512", doc="largest spot radius"),
        Param("strength", "float", [0.4, 0.9], 0.0, 1.0, doc="how brown a spot's core is"),
    )

    def _apply(self, image, count, clusters, radius, strength, seed):
        rng = np.random.default_rng(seed)
        height, width = image.shape[:2]
        scale = picture_scale(image.shape)
        hubs = rng.random((clusters, 2)) * (width, height)
        spread = 0.12 * min(height, width)
        centres = hubs[rng.integers(clusters, size=count)] + rng.normal(0, spread, (count, 2))
        radii = power_law(rng, count, min(0.6, radius), radius) * scale
        core, halo = Ink(image.shape), Ink(image.shape)
        core.spots(rng, centres, radii, rng.uniform(0.6, 1.0, count), 8, 0.25)
        halo.spots(rng, centres, 2.2 * radii, rng.uniform(0.25, 0.45, count), 10, 0.3)
        alpha = np.maximum(soften(core.draw(), 0.4 * scale), soften(halo.draw(), 1.5 * scale))
        out = _tint(image, alpha, RUST, strength)
        return out, soft_mask(image, out, alpha)


@register
class Stains(Operation):
    """Water or chemical stains: irregular yellow-brown patches, a darker tide line at their rim."""

    name = "stains"
    description = "procedural stains: irregular tinted patches with a darker tide line"
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param("count", "int", [1, 2], 0, 20, doc="number of stains"),
        Param("size", "float", [0.15, 0.45], 0.02, 1.5, unit="x short side", doc="stain diameter"),
        Param("strength", "float", [0.25, 0.6], 0.0, 1.0, doc="how strongly a stain tints"),
        Param("rim", "float", [0.08, 0.25], 0.0, 1.0, doc="extra darkening of the tide line"),
    )

    def _apply(self, image, count, size, strength, rim, seed):
        rng = np.random.default_rng(seed)
        height, width = image.shape[:2]
        alpha = np.zeros((height, width), np.float32)
        line = np.zeros((height, width), np.float32)
        for _ in range(count):
            diameter = max(4, int(size * min(height, width)))
            top, left = (
                int(rng.integers(-diameter // 2, limit - diameter // 2)) for limit in (height, width)
            )
            yy, xx = np.mgrid[:diameter, :diameter].astype(np.float32) / (diameter / 2) - 1
            shape = 1 - np.hypot(yy, xx) + 0.4 * (_smooth_field(rng, (diameter, diameter), 5) - 0.5)
            edge = 2.0 / diameter  # one pixel, in these units
            inside = np.clip(shape / edge / 2 + 0.5, 0, 1)  # anti-aliased outline
            inside *= 0.55 + 0.45 * np.exp(-shape / 0.15)  # deposits gather towards the rim
            tide = np.exp(-((shape / (0.02 + 4 * edge)) ** 2)) * inside
            _paste_max(alpha, inside * np.float32(rng.uniform(0.7, 1.0)), top, left)
            _paste_max(line, tide, top, left)
        patch, tide_line = to_uint8(255 * alpha), to_uint8(255 * line)
        out = _tint(_tint(image, patch, TIDE, strength), tide_line, np.full(3, 1 - rim, np.float32), 1.0)
        return out, soft_mask(image, out, np.maximum(patch, tide_line))


@register
class WornEdges(Operation):
    """Worn and chipped print edges: the paper base shows through along the border, to a depth that
    varies along each side, with chips and a rounded wear at the corners."""

    name = "worn_edges"
    description = "procedural worn, chipped edges showing the paper base"
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param("depth", "float", [1.0, 6.0], 0.0, 100.0, unit="px at 512", doc="typical depth of the wear"),
        Param("chips", "int", [2, 12], 0, 200, doc="number of deeper chips along the border"),
        Param("paper", "float", [215.0, 250.0], 0.0, 255.0, unit="0..255", doc="value of the paper base"),
    )

    def _apply(self, image, depth, chips, paper, seed):
        rng = np.random.default_rng(seed)
        height, width = image.shape[:2]
        scale = picture_scale(image.shape)
        alpha = np.zeros((height, width), np.float32)
        for side in range(4):
            length, across = (width, height) if side in (0, 2) else (height, width)
            profile = (
                depth * scale * (smooth_profile(rng, length, max(2, length // int(12 * scale + 1)), 0.0, 1.6))
            )
            profile *= smooth_profile(rng, length, 5, 0.3, 1.0) ** 2  # some stretches barely worn
            band = int(min(across, math.ceil(profile.max() + 2)))
            offset = np.arange(band, dtype=np.float32)[:, None]
            cover = np.clip(profile[None, :] - offset, 0, 1)  # anti-aliased: a column holds its depth
            view = {0: cover, 2: cover[::-1], 1: cover.T[:, ::-1], 3: cover.T}[side]
            target = {
                0: alpha[:band],
                2: alpha[height - band :],
                1: alpha[:, width - band :],
                3: alpha[:, :band],
            }[side]
            np.maximum(target, view, out=target)
        ink = Ink(image.shape)
        along = rng.random(chips)
        side = rng.integers(4, size=chips)
        centres = np.column_stack(
            [
                np.select([side == 0, side == 1, side == 2], [along * width, width, along * width], 0.0),
                np.select([side == 0, side == 1, side == 2], [0.0, along * height, height], along * height),
            ]
        )
        ink.spots(rng, centres, power_law(rng, chips, 2.0, 10.0) * scale, np.ones(chips), 8, 0.45)
        corner = max(1.0, depth * scale * rng.uniform(1, 3))  # corners wear round
        box = min(height, width, int(2 * corner + 2))
        yy, xx = np.mgrid[:box, :box].astype(np.float32)
        rounded = np.clip(corner - (yy + xx) / 2 + 0.5, 0, 1)
        for flip_y, flip_x in ((False, False), (False, True), (True, False), (True, True)):
            patch = rounded[::-1] if flip_y else rounded
            _paste_max(
                alpha,
                patch[:, ::-1] if flip_x else patch,
                height - box if flip_y else 0,
                width - box if flip_x else 0,
            )
        alpha_u8 = np.maximum(to_uint8(255 * alpha), soften(ink.draw(), 0.4 * scale))
        return paint(image, [(alpha_u8, paper)])


@register
class Silvering(Operation):
    """Silver mirroring: a bluish-grey metallic sheen in the dark parts of a print, strongest near its
    edges, in patches. A tonal change over whole regions, so no mask (like ``fade``)."""

    name = "silvering"
    description = "silver mirroring: bluish sheen over dark areas near the edges"
    params = (
        Param("strength", "float", [0.3, 0.7], 0.0, 1.0, doc="sheen at the edges, over black"),
        Param("reach", "float", [0.15, 0.35], 0.01, 1.0, unit="x short side", doc="how far it reaches in"),
    )
    uses_seed = True

    def _apply(self, image, strength, reach, seed):
        rng = np.random.default_rng(seed)
        height, width = image.shape[:2]
        yy, xx = np.ogrid[:height, :width]
        border = np.minimum(np.minimum(yy, height - 1 - yy), np.minimum(xx, width - 1 - xx)).astype(
            np.float32
        )
        falloff = np.clip(1 - border / (reach * min(height, width)), 0, 1) ** 2
        patches = _smooth_field(rng, (height, width), 5)
        luma = image.astype(np.float32) if image.ndim == 2 else image.astype(np.float32) @ BT601_LUMA
        darkness = (1 - luma / 255) ** 1.5
        weight = strength * falloff * patches * darkness
        silver = np.array([150, 160, 176], np.float32)
        target = silver if image.ndim == 3 else np.float32(silver @ BT601_LUMA)
        if image.ndim == 3:
            weight = weight[..., None]
        return to_uint8(image + weight * (target - image)), None
