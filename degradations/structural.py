"""Procedural structural damage: cracks, scratches, dust, torn corners and edges, folds.

The Pik-Fix paper's crack and dust textures are not public, so these are drawn
procedurally (and named as such: ``cracks``, not ``texture_cracks``). Every
operation returns a soft mask (uint8 alpha, 0..255: how strongly the damage covers a pixel) that is
non-zero exactly where the operation changed the image. Generators draw anti-aliased, sub-pixel
alpha layers (:mod:`~pikfix_bench.degradations.strokes`) sized relative to the picture.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from pikfix_bench.degradations.base import Operation, Param, register, to_uint8
from pikfix_bench.degradations.strokes import (
    Ink,
    blend_towards,
    paint,
    picture_scale,
    power_law,
    smooth_profile,
    soft_mask,
    soften,
    taper,
    walk,
)


def _jagged_walk(rng: np.random.Generator, start, heading: float, steps: int, step: float) -> np.ndarray:
    """Points of a crack-like walk: a slowly drifting heading (N(0, 6) degrees a step), each step
    jittered around it by N(0, 30) degrees, so the path is jagged but keeps its course."""
    headings = heading + np.cumsum(rng.normal(0.0, 6.0, steps))
    return walk(start, headings + rng.normal(0.0, 30.0, steps), step)


def _network(rng: np.random.Generator, ink: Ink, shape, share: float, width: float, scale: float) -> None:
    """Craquelure: the edges of Voronoi cells over a disc covering ``share`` of the picture, each kept
    with p = 0.7, bent at two points, fading towards the rim of the disc."""
    height, width_px = shape[:2]
    radius = math.sqrt(share * height * width_px / math.pi)
    centre = np.array([rng.uniform(0, width_px), rng.uniform(0, height)])
    cell = 30.0 * scale * rng.uniform(0.7, 1.4)
    count = int(np.clip(math.pi * radius**2 / cell**2, 3, 400))
    angle, distance = rng.uniform(0, 2 * math.pi, count), radius * np.sqrt(rng.random(count))
    seeds = centre + distance[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    seeds = seeds[(seeds[:, 0] > 0) & (seeds[:, 0] < width_px) & (seeds[:, 1] > 0) & (seeds[:, 1] < height)]
    if len(seeds) < 3:
        return
    subdivision = cv2.Subdiv2D((0, 0, width_px, height))
    subdivision.insert([tuple(map(float, seed)) for seed in seeds])
    facets, _ = subdivision.getVoronoiFacetList([])
    ends = np.concatenate([np.stack([f, np.roll(f, -1, axis=0)], axis=1) for f in facets]).astype(float)
    # each inner edge belongs to two cells: keep it once (its end points in a fixed order)
    key = np.round(ends, 2)
    swap = (key[:, 0, 0] > key[:, 1, 0]) | ((key[:, 0, 0] == key[:, 1, 0]) & (key[:, 0, 1] > key[:, 1, 1]))
    key[swap] = key[swap][:, ::-1]
    _, first = np.unique(key.reshape(len(key), 4), axis=0, return_index=True)
    a, b = ends[np.sort(first), 0], ends[np.sort(first), 1]
    fade = 1 - (np.linalg.norm((a + b) / 2 - centre, axis=1) / radius) ** 2
    keep = (fade > 0) & (rng.random(len(a)) < 0.7)
    a, b, fade = a[keep], b[keep], fade[keep]
    normal = np.column_stack([a[:, 1] - b[:, 1], b[:, 0] - a[:, 0]])
    bends = rng.normal(0, 0.08, (len(a), 2, 1)) * normal[:, None, :]
    points = np.stack([a, a + (b - a) / 3 + bends[:, 0], a + 2 * (b - a) / 3 + bends[:, 1], b], axis=1)
    ink.paths(
        points, 0.6 * width * scale * rng.uniform(0.5, 1.0, len(a)), fade * rng.uniform(0.5, 0.9, len(a))
    )


@register
class Cracks(Operation):
    """Cracks in the emulsion: jagged fractures whose width and brightness vary along their length,
    branching, with flakes of lost emulsion along them and an optional craquelure network, soft-edged;
    blended lighten-only as the paper blends its crack textures (or darken).

    Widths are pixels of a 512-pixel picture (scaled with the picture's short side), so the damage looks
    the same at every resolution."""

    name = "cracks"
    description = (
        "procedural cracks: jagged, branching, varying width, flakes, craquelure (lighten or darken)"
    )
    structural = True
    uses_seed = True
    min_size = 16
    params = (
        Param("count", "int", [1, 3], 0, 20, doc="number of main cracks"),
        Param(
            "length", "float", [0.3, 0.8], 0.05, 2.0, unit="x image diagonal", doc="length of a main crack"
        ),
        Param("width", "float", [0.8, 1.8], 0.2, 10.0, unit="px at 512", doc="width of a main crack"),
        Param("branching", "float", [0.01, 0.04], 0.0, 0.5, doc="chance per step to fork"),
        Param("network", "float", [0.0, 0.2], 0.0, 1.0, doc="share of the picture under a craquelure net"),
        Param("flaking", "float", [0.0, 0.05], 0.0, 0.5, doc="chance per step of a flake of lost emulsion"),
        Param("brightness", "float", [210.0, 250.0], 0.0, 255.0, unit="0..255", doc="crack value"),
        Param("mode", "choice", "lighten", choices=("lighten", "darken"), doc="lighten: max(image, crack)"),
    )

    def _apply(self, image, count, length, width, branching, network, flaking, brightness, mode, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        scale = picture_scale(image.shape)
        diagonal = math.hypot(height, width_px)
        step = max(1.0, 3.0 * scale)
        ink = Ink(image.shape)
        pending = []
        for _ in range(count):  # a main crack runs both ways from a point inside the picture
            start = np.array([rng.uniform(0.1, 0.9) * width_px, rng.uniform(0.1, 0.9) * height])
            angle, steps = rng.uniform(0, 360), max(2, int(length * diagonal / step / 2))
            pending += [
                (start, angle, steps, width * scale, 0),
                (start, angle + 180, steps, width * scale, 0),
            ]
        while pending:
            start, angle, steps, stroke, depth = pending.pop()
            points = _jagged_walk(rng, start, angle, steps, step)
            widths = stroke * smooth_profile(rng, steps, steps // 8 + 2, 0.4, 1.3) * taper(steps)
            ink.stroke(points, widths, smooth_profile(rng, steps, steps // 6 + 2, 0.55, 1.0))
            flakes = np.flatnonzero(rng.random(steps) < flaking)
            radii = stroke * rng.uniform(1.0, 3.0, len(flakes))
            ink.spots(rng, points[flakes], radii, rng.uniform(0.7, 1.0, len(flakes)))
            if depth >= 2:
                continue
            for index in np.flatnonzero(rng.random(steps) < branching):
                turn = rng.choice([-1, 1]) * rng.uniform(30, 70)
                pending.append(
                    (points[index], angle + turn, max(2, (steps - index) // 3), stroke * 0.6, depth + 1)
                )
        if network > 0:
            _network(rng, ink, image.shape, network, width, scale)
        alpha = soften(ink.draw(), 0.4 * scale)
        if mode == "lighten":
            out = blend_towards(image, alpha, brightness, limit="lighten")
        else:
            out = blend_towards(image, alpha, 255 - brightness, limit="darken")
        return out, soft_mask(image, out, alpha)


@register
class Scratches(Operation):
    """Long, thin, gently curved lines, bright or dark, fading in and out along their length;
    ``vertical`` gives film-like scratches."""

    name = "scratches"
    description = "procedural long thin scratches (any direction, or vertical film scratches)"
    structural = True
    uses_seed = True
    min_size = 8
    params = (
        Param("count", "int", [1, 6], 1, 100, doc="number of scratches"),
        Param("length", "float", [0.3, 1.0], 0.05, 1.5, unit="x image diagonal", doc="scratch length"),
        Param("width", "float", [0.6, 2.0], 0.2, 12.0, unit="px at 512", doc="line width"),
        Param("direction", "choice", "any", choices=("any", "vertical"), doc="orientation"),
        Param("bright_share", "float", 0.7, 0.0, 1.0, doc="share of bright (vs dark) scratches"),
        Param("opacity", "float", [0.6, 1.0], 0.0, 1.0, doc="how strongly a scratch covers the picture"),
    )

    def _apply(self, image, count, length, width, direction, bright_share, opacity, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        scale = picture_scale(image.shape)
        diagonal = math.hypot(height, width_px)
        inks = {"bright": Ink(image.shape), "dark": Ink(image.shape)}
        t = np.linspace(0, 1, 48)[:, None]
        for _ in range(count):
            angle = math.radians(rng.normal(90.0, 3.0) if direction == "vertical" else rng.uniform(0, 180))
            centre = np.array([rng.uniform(0, width_px), rng.uniform(0, height)])
            half = 0.5 * length * diagonal * np.array([math.cos(angle), math.sin(angle)])
            bend = rng.normal(0, 0.03) * np.array([-half[1], half[0]])
            curve = (
                (1 - t) ** 2 * (centre - half) + 2 * t * (1 - t) * (centre + bend) + t**2 * (centre + half)
            )
            widths = width * scale * smooth_profile(rng, 47, 6, 0.6, 1.2) * taper(47)
            alphas = opacity * smooth_profile(rng, 47, 5, 0.3, 1.0)
            inks["bright" if rng.random() < bright_share else "dark"].stroke(curve, widths, alphas)
        bright, dark = (soften(ink.draw(), 0.4 * scale) for ink in inks.values())
        return paint(image, [(bright, rng.uniform(225, 255)), (dark, rng.uniform(0, 30))])


@register
class Dust(Operation):
    """Dust, lint and spots as on scanned prints: irregular soft-edged blots whose sizes follow a power
    law (many specks, few blotches), the larger ones clumped, mostly bright."""

    name = "dust"
    description = "procedural dust: soft irregular specks and blotches of many sizes"
    structural = True
    uses_seed = True
    min_size = 8
    params = (
        Param(
            "density", "float", [20.0, 120.0], 0.0, 2000.0, unit="spots per square picture", doc="how many"
        ),
        Param("radius", "float", [2.0, 6.0], 0.5, 40.0, unit="px at 512", doc="largest spot radius"),
        Param("bright_share", "float", 0.8, 0.0, 1.0, doc="share of bright (vs dark) spots"),
    )

    def _apply(self, image, density, radius, bright_share, seed):
        rng = np.random.default_rng(seed)
        height, width = image.shape[:2]
        scale = picture_scale(image.shape)
        count = int(round(density * height * width / min(height, width) ** 2))
        radii = power_law(rng, count, min(0.4, radius), radius) * scale
        centres = rng.random((count, 2)) * (width, height)
        bright = rng.random(count) < bright_share
        opacity = rng.uniform(0.6, 1.0, count)
        # a blotch (over 2 px at 512) is a clump: up to three smaller blots around it
        parent = np.repeat(np.flatnonzero(radii > 2 * scale), 3)
        parent = parent[rng.random(len(parent)) < 0.67]
        angle = rng.uniform(0, 2 * math.pi, len(parent))
        offset = (radii[parent] * rng.uniform(0.5, 1.2, len(parent)))[:, None]
        centres = np.vstack(
            [centres, centres[parent] + offset * np.column_stack([np.cos(angle), np.sin(angle)])]
        )
        radii = np.r_[radii, radii[parent] * rng.uniform(0.3, 0.6, len(parent))]
        bright, opacity = np.r_[bright, bright[parent]], np.r_[opacity, opacity[parent]]
        inks = {kind: Ink(image.shape) for kind in (True, False)}
        for kind, ink in inks.items():
            ink.spots(rng, centres[bright == kind], radii[bright == kind], opacity[bright == kind], 7, 0.3)
        light, dark = (soften(inks[kind].draw(), 0.4 * scale) for kind in (True, False))
        return paint(image, [(light, rng.uniform(220, 255)), (dark, rng.uniform(0, 40))])


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
        if target < 1:  # nothing to tear (a polygon would still cover one pixel)
            return image.copy(), np.zeros((height, width), np.uint8)
        for shrink in 0.85 ** np.arange(30):  # jaggedness can overshoot the area: shrink until under it
            polygon = self._polygon(
                np.random.default_rng(seed), width, height, target * shrink, where, roughness
            )
            ink = Ink(image.shape)
            ink.blots(polygon[None], [1.0])
            alpha = ink.draw()
            if alpha.sum(dtype=np.int64) <= 255 * target:
                break
        return paint(image, [(alpha, fill)])

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
        Param("width", "float", [2.0, 6.0], 0.5, 50.0, unit="px at 512", doc="half-width of the crease"),
        Param("strength", "float", [30.0, 80.0], 0.0, 255.0, unit="0..255", doc="brightness of the ridge"),
    )

    def _apply(self, image, width, strength, seed):
        rng = np.random.default_rng(seed)
        height, width_px = image.shape[:2]
        width = max(0.5, width * picture_scale(image.shape))
        angle = math.radians(rng.uniform(0, 180))
        point = (rng.uniform(0.2, 0.8) * width_px, rng.uniform(0.2, 0.8) * height)
        yy, xx = np.mgrid[:height, :width_px].astype(np.float32)
        distance = (xx - point[0]) * -math.sin(angle) + (yy - point[1]) * math.cos(angle)
        ridge = strength * np.clip(1 - np.abs(distance) / width, 0, None)
        shadow = -0.4 * strength * ((distance < -width) & (distance > -3 * width))
        change = (ridge + shadow).astype(np.float32)
        out = to_uint8(image + (change if image.ndim == 2 else change[..., None]))
        alpha = to_uint8(255 * np.abs(change) / max(strength, 1e-6))
        return out, soft_mask(image, out, alpha)


# Sides of a picture as Pik-Fix's damage_libs.seed_point numbers them: 1 left, 2 bottom, 3 right, 4 top.
LEFT, BOTTOM, RIGHT, TOP = 1, 2, 3, 4


def _edge_point(rng: np.random.Generator, side: int, height: int, width: int) -> list[int]:
    """A point on a side, its free coordinate ``randint(1, size - 5)`` (inclusive), as ``seed_point``."""
    if side in (LEFT, RIGHT):
        return [0 if side == LEFT else width - 1, int(rng.integers(1, height - 4))]
    return [int(rng.integers(1, width - 4)), height - 1 if side == BOTTOM else 0]


def _tear_estimate(points, sides, height: int, width: int, threshold: int) -> float:
    """``cal_area``: the triangle cut off at a corner (legs measured from the corner at 0 or the full size),
    for opposite sides 0 when both points lie in the same end band (``size // threshold``) and the whole
    picture otherwise (rejected)."""
    (x1, y1), (x2, y2) = points
    if set(sides) in ({LEFT, RIGHT}, {TOP, BOTTOM}):
        along, size = ((y1, y2), height) if LEFT in sides else ((x1, x2), width)
        band = size // threshold
        same_end = max(along) <= band or min(along) >= size - band
        return 0.0 if same_end else float(height * width)
    legs = []
    for (x, y), side in zip(points, sides, strict=True):
        if side in (LEFT, RIGHT):
            legs.append(y if TOP in sides else height - y)
        else:
            legs.append(x if LEFT in sides else width - x)
    return legs[0] * legs[1] / 2


def _tear_corners(points, sides, height: int, width: int, threshold: int) -> list[tuple[int, int]]:
    """The picture corners that close the torn region (``mask_generate``), in its order."""
    (x1, y1), (x2, y2) = points
    if set(sides) == {LEFT, RIGHT}:
        y = 0 if y1 <= height / threshold else height - 1
        return [(width - 1, y), (0, y)] if x1 < x2 else [(0, y), (width - 1, y)]
    if set(sides) == {TOP, BOTTOM}:
        x = 0 if x1 <= width / threshold else width - 1
        return [(x, height - 1), (x, 0)] if y1 < y2 else [(x, 0), (x, height - 1)]
    x = 0 if LEFT in sides else width - 1
    return [(x, 0 if TOP in sides else height - 1)]


@register
class PikfixTear(Operation):
    """The torn-off region of Pik-Fix's offline data: ``utils/damage_libs.py::damage_generate``.

    Two points on two different sides (``randint`` positions), redrawn until the estimated torn area is
    under ``h * w // threshold`` (their generator passes 20); the region between them and the picture's
    corner(s) is cut along a line whose inner points, a few random samples of the segment, are pulled
    half-way towards the centroid of the region outside the picture's middle (the central 3/5 in each
    direction); it is filled white (hard edges, as ``cv2.fillPoly``)."""

    name = "pikfix_tear"
    description = "Pik-Fix's torn region (damage_libs.damage_generate), filled white"
    structural = True
    min_size = 16
    params = (
        Param("threshold", "int", 20, 2, 100, doc="the estimated torn area stays under h * w // threshold"),
    )

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw the sides and points as ``damage_generate`` does, then the cut's inner samples."""
        params = super().sample(rng, shape)
        height, width = shape[:2]
        threshold, estimate = params["threshold"], float(height * width)
        while estimate >= height * width // threshold:
            first = int(rng.integers(1, 5))
            second = first
            while second == first:  # "very rare to see the damage only on one edge"
                second = int(rng.integers(1, 5))
            points = [_edge_point(rng, first, height, width), _edge_point(rng, second, height, width)]
            estimate = _tear_estimate(points, (first, second), height, width, threshold)
        count = abs(points[0][0] - points[1][0])  # hull_points: np.linspace(p1, p2, |x1 - x2|)
        chosen = min(count, int(rng.integers(count // 5, count // 5 + 4)))
        picks = sorted(int(value) for value in rng.integers(count, size=chosen)) if count else []
        return {**params, "sides": [first, second], "points": points, "picks": picks}

    def _apply(self, image, threshold, sides, points, picks):
        height, width = image.shape[:2]
        corners = _tear_corners(points, sides, height, width, threshold)
        region = np.zeros((height, width), np.uint8)
        cv2.fillPoly(region, [np.asarray([*points, *corners], np.int32)], 255)
        region[height // 5 : 4 * height // 5, width // 5 : 4 * width // 5] = 0  # the middle is never torn
        ys, xs = np.nonzero(region)
        centroid = np.array([xs.mean(), ys.mean()]) if len(xs) else np.array([width / 2, height / 2])
        line = np.linspace(points[0], points[1], abs(points[0][0] - points[1][0]))
        inner = (centroid + line[picks]) // 2 if picks else np.zeros((0, 2))
        outline = np.vstack([[points[0]], inner, [points[1]], corners]).astype(np.int32)
        layer = np.zeros((height, width), np.uint8)
        cv2.fillPoly(layer, [outline], 255)
        out = image.copy()
        out[layer > 0] = 255
        return out, soft_mask(image, out, layer)
