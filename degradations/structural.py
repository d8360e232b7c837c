"""Procedural structural damage: cracks, scratches, dust, torn corners and edges, folds.

The Pik-Fix paper's crack and dust textures are not public, so these are drawn
procedurally (and named as such: ``cracks``, not ``texture_cracks``). Every
operation returns a mask (255 = damaged). On a mid-gray image the mask is
exactly the set of pixels the operation changes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pikfix_bench.degradations.base import Operation, Param, changed_mask, register, to_uint8


def _blend(
    image: np.ndarray, layer: np.ndarray, value: np.ndarray | float, opacity: np.ndarray | float
) -> np.ndarray:
    """Paint ``value`` over ``image`` where ``layer`` is set, with ``opacity`` (scalars or per-pixel maps)."""
    alpha = (layer > 0).astype(np.float32) * opacity
    if image.ndim == 3:
        alpha = alpha[..., None]
        value = value[..., None] if isinstance(value, np.ndarray) else value
    return to_uint8(image * (1 - alpha) + value * alpha)


def _jagged_walk(rng: np.random.Generator, start, heading: float, steps: int, step: float):
    """Points of a crack-like walk: a slowly drifting heading (N(0, 6) degrees a step), each step
    jittered around it by N(0, 30) degrees, so the path is jagged but keeps its course."""
    points = [start]
    x, y = start
    for _ in range(steps):
        heading += rng.normal(0.0, 6.0)
        direction = math.radians(heading + rng.normal(0.0, 30.0))
        x += step * math.cos(direction)
        y += step * math.sin(direction)
        points.append((x, y))
    return points


@register
class Cracks(Operation):
    """Branching fracture networks, blended lighten-only as the paper blends its crack textures (or darken)."""

    name = "cracks"
    description = "procedural branching cracks (lighten blend as in Pik-Fix, or darken)"
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param("count", "int", [1, 3], 1, 20, doc="number of main cracks"),
        Param(
            "length", "float", [0.4, 1.0], 0.05, 2.0, unit="x image diagonal", doc="length of a main crack"
        ),
        Param("width", "int", [1, 2], 1, 8, unit="px", doc="width of a main crack (branches are thinner)"),
        Param("branching", "float", [0.03, 0.08], 0.0, 0.5, doc="chance per step to fork"),
        Param("brightness", "float", [200.0, 255.0], 0.0, 255.0, unit="0..255", doc="crack value"),
        Param("mode", "choice", "lighten", choices=("lighten", "darken"), doc="lighten: max(image, crack)"),
    )

    def _apply(self, image, count, length, width, branching, brightness, mode, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        diagonal = math.hypot(height, width_px)
        step = max(2.0, diagonal / 120)
        layer = np.zeros((height, width_px), np.uint8)
        pending = []
        for _ in range(count):  # a main crack runs both ways from a point inside the picture
            start = (rng.uniform(0.1, 0.9) * width_px, rng.uniform(0.1, 0.9) * height)
            angle, steps = rng.uniform(0, 360), int(length * diagonal / step / 2)
            pending += [(start, angle, steps, width, 0), (start, angle + 180, steps, width, 0)]
        while pending:
            start, angle, steps, thickness, depth = pending.pop()
            points = _jagged_walk(rng, start, angle, steps, step)
            cv2.polylines(layer, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_8)
            if depth >= 2:
                continue
            for index in np.flatnonzero(rng.random(len(points)) < branching):
                turn = rng.choice([-1, 1]) * rng.uniform(30, 70)
                pending.append(
                    (
                        points[index],
                        angle + turn,
                        max(2, (steps - index) // 3),
                        max(1, thickness - 1),
                        depth + 1,
                    )
                )
        crack = np.where(layer > 0, np.float32(brightness), np.float32(0))
        if mode == "lighten":
            out = np.maximum(image, to_uint8(crack if image.ndim == 2 else crack[..., None]))
        else:
            out = np.minimum(image, to_uint8(255 - crack if image.ndim == 2 else (255 - crack)[..., None]))
        return out, changed_mask(image, out)  # a lighter-than-crack pixel is drawn over but not changed


@register
class Scratches(Operation):
    """Long, thin, nearly straight lines, bright or dark; ``vertical`` gives film-like scratches."""

    name = "scratches"
    description = "procedural long thin scratches (any direction, or vertical film scratches)"
    structural = True
    uses_seed = True
    min_size = 8
    params = (
        Param("count", "int", [1, 6], 1, 100, doc="number of scratches"),
        Param("length", "float", [0.3, 1.0], 0.05, 1.5, unit="x image diagonal", doc="scratch length"),
        Param("width", "int", [1, 2], 1, 6, unit="px", doc="line width"),
        Param("direction", "choice", "any", choices=("any", "vertical"), doc="orientation"),
        Param("bright_share", "float", 0.7, 0.0, 1.0, doc="share of bright (vs dark) scratches"),
        Param("opacity", "float", [0.6, 1.0], 0.0, 1.0, doc="how strongly a scratch covers the picture"),
    )

    def _apply(self, image, count, length, width, direction, bright_share, opacity, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        diagonal = math.hypot(height, width_px)
        value = np.zeros((height, width_px), np.float32)
        alpha = np.zeros((height, width_px), np.float32)
        for _ in range(count):
            angle = rng.normal(90.0, 3.0) if direction == "vertical" else rng.uniform(0, 180)
            centre = np.array([rng.uniform(0, width_px), rng.uniform(0, height)])
            half = (
                0.5
                * length
                * diagonal
                * np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
            )
            bend = rng.normal(0, 0.03) * np.array([-half[1], half[0]])
            t = np.linspace(0, 1, 32)[:, None]
            curve = (
                (1 - t) ** 2 * (centre - half) + 2 * t * (1 - t) * (centre + bend) + t**2 * (centre + half)
            )
            polyline = [np.round(curve).astype(np.int32)]
            shade = rng.uniform(225, 255) if rng.random() < bright_share else rng.uniform(0, 30)
            cv2.polylines(value, polyline, False, float(shade), width, cv2.LINE_8)
            cv2.polylines(alpha, polyline, False, float(opacity), width, cv2.LINE_8)
        # A scratch that happens to match the picture (alpha * |value - pixel| < 1) is not drawn.
        layer = (alpha > 0).astype(np.uint8) * 255
        return _blend(image, layer, value, alpha), layer


@register
class Dust(Operation):
    """Specks and spots of dust and mould: small irregular blobs, mostly bright as on scanned prints."""

    name = "dust"
    description = "procedural dust and spots"
    structural = True
    uses_seed = True
    min_size = 8
    params = (
        Param("density", "float", [20.0, 120.0], 0.0, 2000.0, unit="spots per 256x256", doc="how many spots"),
        Param("radius", "float", [0.5, 2.5], 0.5, 20.0, unit="px", doc="largest spot radius"),
        Param("bright_share", "float", 0.8, 0.0, 1.0, doc="share of bright (vs dark) spots"),
    )

    def _apply(self, image, density, radius, bright_share, seed):
        rng = np.random.default_rng(seed)
        height, width = image.shape[:2]
        count = int(round(density * height * width / 65536))
        value = np.zeros((height, width), np.float32)
        layer = np.zeros((height, width), np.uint8)
        for _ in range(count):
            centre = (int(rng.integers(width)), int(rng.integers(height)))
            axes = (int(rng.uniform(0, radius)), int(rng.uniform(0, radius)))
            angle = rng.uniform(0, 180)
            shade = rng.uniform(220, 255) if rng.random() < bright_share else rng.uniform(0, 40)
            cv2.ellipse(value, centre, axes, angle, 0, 360, float(shade), -1)
            cv2.ellipse(layer, centre, axes, angle, 0, 360, 255, -1)
        return _blend(image, layer, value, 1.0), layer


def _jagged_polygon(rng: np.random.Generator, start, end, roughness: float, pieces: int = 14) -> np.ndarray:
    """Points from ``start`` to ``end`` displaced sideways by N(0, roughness * segment length)."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    direction = end - start
    normal = np.array([-direction[1], direction[0]]) / max(np.linalg.norm(direction), 1e-9)
    t = np.linspace(0, 1, pieces + 1)[1:-1, None]
    offsets = rng.normal(0, roughness * np.linalg.norm(direction) / pieces, (pieces - 1, 1))
    return np.vstack([start, start + t * direction + offsets * normal, end])


@register
class TornCorner(Operation):
    """A torn-off corner (the paper's white jagged polygon under an area fraction) or a torn edge."""

    name = "torn_corner"
    description = "torn corner or edge filled white, under an area fraction"
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param(
            "area",
            "float",
            [0.01, 0.05],
            0.0,
            0.5,
            unit="fraction of the image",
            doc="area torn off (at most)",
        ),
        Param(
            "where", "choice", "corner", choices=("corner", "edge"), doc="a corner, or a strip along an edge"
        ),
        Param("roughness", "float", [0.2, 0.6], 0.0, 2.0, doc="jaggedness of the tear"),
        Param("fill", "float", 255.0, 0.0, 255.0, unit="0..255", doc="value of the missing paper"),
    )

    def _apply(self, image, area, where, roughness, fill, seed):
        height, width = image.shape[:2]
        target = area * height * width
        layer = np.zeros((height, width), np.uint8)
        if target < 1:  # nothing to tear (a polygon would still cover one pixel)
            return image.copy(), layer
        for shrink in 0.85 ** np.arange(30):  # jaggedness can overshoot the area: shrink until under it
            layer[:] = 0
            polygon = self._polygon(
                np.random.default_rng(seed), width, height, target * shrink, where, roughness
            )
            cv2.fillPoly(layer, [np.round(polygon).astype(np.int32)], 255)
            if np.count_nonzero(layer) <= target:
                break
        return _blend(image, layer, fill, 1.0), layer

    @staticmethod
    def _polygon(rng, width, height, target, where, roughness) -> np.ndarray:
        if where == "corner":
            aspect = rng.uniform(0.5, 2.0)
            along_x = min(width, math.sqrt(2 * target * aspect))
            along_y = min(height, 2 * target / max(along_x, 1.0))
            edge = _jagged_polygon(rng, (along_x, 0), (0, along_y), roughness)
            polygon = np.vstack([[(0, 0)], edge])
            corner = int(rng.integers(4))
            if corner in (1, 2):
                polygon[:, 0] = width - polygon[:, 0]
            if corner in (2, 3):
                polygon[:, 1] = height - polygon[:, 1]
            return polygon
        side = int(rng.integers(4))
        length = width if side in (0, 2) else height
        depth = target / length
        inner = _jagged_polygon(rng, (0, depth), (length, depth), roughness / 4)
        inner[:, 1] = np.clip(inner[:, 1], 0, None)
        strip = np.vstack([[(0, 0)], inner, [(length, 0)]])
        if side == 0:
            return strip
        if side == 2:
            return np.column_stack([strip[:, 0], height - strip[:, 1]])
        if side == 1:
            return np.column_stack([width - strip[:, 1], strip[:, 0]])
        return np.column_stack([strip[:, 1], strip[:, 0]])


@register
class Fold(Operation):
    """A crease across the print: a bright ridge of broken fibres with a shadow on one side."""

    name = "fold"
    description = "fold / crease line with highlight and shadow"
    structural = True
    uses_seed = True
    min_size = 8
    params = (
        Param("width", "float", [2.0, 6.0], 0.5, 50.0, unit="px", doc="half-width of the crease"),
        Param("strength", "float", [30.0, 80.0], 0.0, 255.0, unit="0..255", doc="brightness of the ridge"),
    )

    def _apply(self, image, width, strength, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        angle = math.radians(rng.uniform(0, 180))
        point = (rng.uniform(0.2, 0.8) * width_px, rng.uniform(0.2, 0.8) * height)
        yy, xx = np.mgrid[:height, :width_px].astype(np.float32)
        distance = (xx - point[0]) * -math.sin(angle) + (yy - point[1]) * math.cos(angle)
        ridge = strength * np.clip(1 - np.abs(distance) / width, 0, None)
        shadow = -0.4 * strength * ((distance < -width) & (distance > -3 * width))
        change = (ridge + shadow).astype(np.float32)
        change[np.abs(change) < 1] = 0  # no invisible changes: the mask is exactly what changed
        layer = (change != 0).astype(np.uint8) * 255
        return to_uint8(image + (change if image.ndim == 2 else change[..., None])), layer
