"""Pictures to judge the damage by eye: a gallery of every operation at severities 1, 3 and 5 (and the
``oldphoto`` severities) on small tiles, and a page of whole presets at full size beside the clean picture
and the mask."""

from __future__ import annotations

import cv2
import numpy as np

from pikfix_bench.degradations.base import OPERATIONS
from pikfix_bench.degradations.pipeline import degrade
from pikfix_bench.degradations.severity import SEVERITIES
from pikfix_bench.resize import square_crop

TILE = 256
LABEL_HEIGHT = 38
GAP = 6


def _summary(params: dict) -> str:
    """The first two numeric parameters, for a tile's second label line."""
    shown = [
        f"{key}={value:.3g}"
        for key, value in params.items()
        if key != "seed" and isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return ", ".join(shown[:2])


def labelled_tile(image: np.ndarray, title: str, subtitle: str = "") -> np.ndarray:
    """An image (grayscale or RGB) under a white band with a title and an optional subtitle."""
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    label = np.full((LABEL_HEIGHT, rgb.shape[1], 3), 255, np.uint8)
    cv2.putText(label, title, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if subtitle:
        cv2.putText(label, subtitle, (6, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    return np.vstack([label, rgb])


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    height, width = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (height + GAP) + GAP, columns * (width + GAP) + GAP, 3), 235, np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = GAP + row * (height + GAP), GAP + column * (width + GAP)
        canvas[top : top + height, left : left + width] = tile
    return canvas


def draw_gallery(image: np.ndarray, seed: int = 0, columns: int = 6) -> np.ndarray:
    """Draw every operation at severities 1, 3 and 5 (or its defaults when it has no strength), then
    ``oldphoto`` severities 1..5. Operations that read the user's files (textures, masks) are left out.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 RGB source picture (any size; centre-cropped to 256 x 256).
    seed : int
        Seed of the random draws.
    columns : int
        Tiles per row (a multiple of 3 keeps each operation's strengths on one row).

    Returns
    -------
    numpy.ndarray
        uint8 RGB gallery.
    """
    source = square_crop(image, TILE)
    tiles = [labelled_tile(source, "original")]
    for name in OPERATIONS:
        if OPERATIONS[name].needs_files():  # the authors' textures, a mask set
            continue
        levels = (1, 3, 5) if name in SEVERITIES else (None,)
        for level in levels:
            step = {"op": name} if level is None else {"op": name, "severity": level}
            result = degrade(source, {"name": name, "steps": [step]}, seed=seed, sample_id=name)
            title = name if level is None else f"{name} s{level}"
            shown = result.image  # a smaller output is shown pixel for pixel, enlarged (nearest)
            if shown.shape[:2] != source.shape[:2]:
                shown = cv2.resize(shown, (TILE, TILE), interpolation=cv2.INTER_NEAREST)
                title += f" ({result.image.shape[1]}x{result.image.shape[0]})"
            tiles.append(labelled_tile(shown, title, _summary(result.record["steps"][0].get("params", {}))))
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 235))
    severities = [labelled_tile(source, "original")]
    for level in range(1, 6):
        result = degrade(source, "oldphoto", seed=seed, severity=level, sample_id="gallery")
        severities.append(labelled_tile(result.image, f"oldphoto severity {level}"))
    return _grid(tiles + severities, columns)


PAGE_ROWS = (("pikfix-procedural", None), ("oldphoto", 2), ("oldphoto", 4))


def draw_page(
    image: np.ndarray, rows: tuple[tuple[str, int | None], ...] = PAGE_ROWS, seed: int = 0, size: int = 768
) -> np.ndarray:
    """Presets at full size: each row shows the clean picture, the damaged one and the damage mask.

    Nothing is resampled after the damage, so every crack, speck and fibre is seen pixel for pixel as a
    model will see it.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 RGB source picture (centre-cropped and resized to ``size`` x ``size`` first).
    rows : tuple of (str, int or None)
        Preset names, each with a severity (``None`` for presets without one).
    seed : int
        Seed of the random draws.
    size : int
        Side of each picture in pixels.

    Returns
    -------
    numpy.ndarray
        uint8 RGB page.
    """
    source = square_crop(image, size)
    tiles = []
    for preset, severity in rows:
        result = degrade(source, preset, seed=seed, severity=severity, sample_id=f"{preset}-{severity}")
        name = preset if severity is None else f"{preset} severity {severity}"
        mask = result.mask if result.mask is not None else np.zeros(source.shape[:2], np.uint8)
        tiles += [
            labelled_tile(source, "clean"),
            labelled_tile(result.image, name),
            labelled_tile(mask, f"{name}: mask (alpha)"),
        ]
    return _grid(tiles, 3)
