"""Irregular holes read from a folder of masks, as Wan et al. train their scratch-and-hole mapping.

``Global/data/online_dataset_for_old_photos.py`` (microsoft/Bringing-Old-Photos-Back-to-Life at
33875ec), ``PairOldPhotos_with_hole.__getitem__``: a mask drawn uniformly from the ``--irregular_mask`` set
is resized to the image (``Image.NEAREST``), and ``irregular_hole_synthesize`` paints it white:
``(image * (1 - m / 255) + m / 255 * 255).astype('uint8')`` (truncated). The mask set is not in their
repository (it is a folder of white-on-black hole masks, e.g. an irregular-mask set for inpainting); the
user gives it as ``mask_dir``, and its files enter a dataset's content hash by their sha256.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pikfix_bench.degradations.base import DegradationError, Operation, Param, register
from pikfix_bench.degradations.strokes import soft_mask
from pikfix_bench.errors import ImageReadError
from pikfix_bench.image_io import is_image_file, read_image


@functools.lru_cache(maxsize=8)
def mask_names(folder: str) -> tuple[str, ...]:
    """The image files of a mask folder, sorted by name."""
    return tuple(
        sorted(path.name for path in Path(folder).iterdir() if path.is_file() and is_image_file(path))
    )


@functools.lru_cache(maxsize=256)
def _load_mask(folder: str, name: str) -> np.ndarray:
    try:
        return read_image(Path(folder) / name, mode="L")
    except ImageReadError as exc:
        raise DegradationError(f"mask folder {folder}: {exc}") from None


@register
class IrregularHoles(Operation):
    """White holes from a mask file (white = hole), as Wan et al.'s ``irregular_hole_synthesize``."""

    name = "irregular_holes"
    description = "white irregular holes from a folder of mask images (Wan et al.; needs mask_dir)"
    structural = True
    params = (Param("mask_dir", "path", "masks", doc="folder of hole masks, white on black"),)

    def _check_settings(self) -> None:
        folder = Path(self.settings["mask_dir"])
        if not folder.is_dir():
            raise DegradationError(f"{self.name}: mask folder {folder} does not exist")
        if not mask_names(str(folder)):
            raise DegradationError(f"{self.name}: mask folder {folder} holds no images")

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        """One mask of the folder, uniformly (``random.randint(0, len(masks) - 1)``), recorded by name."""
        names = mask_names(self.settings["mask_dir"])
        return {"mask_dir": self.settings["mask_dir"], "mask": names[int(rng.integers(len(names)))]}

    def _apply(self, image, mask_dir, mask):
        height, width = image.shape[:2]
        hole = np.asarray(Image.fromarray(_load_mask(mask_dir, mask)).resize((width, height), Image.NEAREST))
        weight = hole.astype(np.float64) / 255
        if image.ndim == 3:
            weight = weight[..., None]
        out = (image * (1 - weight) + weight * 255).astype(np.uint8)
        return out, soft_mask(image, out, hole)
