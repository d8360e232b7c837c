"""Texture-based cracks and dust, following the rules of the Pik-Fix code exactly.

Given a folder in the paper's ``texture2/`` layout (``textureNN.jpg`` crack
textures, ``dustNN.jpg`` dust textures; available from the authors on request),
these operations reproduce the paper's synthetic damage:

- crack (codes 1..12): for codes 6, 8, 9, 10, 11 and 12 the texture is rotated
  by a random angle in [-30, 30] degrees; for code 12 pixels below 120 are
  zeroed; a half-size window is cut from one of the texture's four quadrants,
  resized to the image and blended lighten-only: ``max(image, texture)``;
- dust (codes 1..8 online; up to 11 exist): the texture is thresholded (values
  <= 50 off for codes 8..11, <= 100 otherwise), randomly cropped to the image
  (or resized when smaller), and its remaining pixels replace the image with
  ``min(3 * mean of the image's middle row, 255)``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from pikfix_bench.degradations.base import DegradationError, Operation, Param, register
from pikfix_bench.errors import ImageReadError
from pikfix_bench.image_io import read_image

ROTATED_CRACK_CODES = (6, 8, 9, 10, 11, 12)


@functools.lru_cache(maxsize=64)
def load_texture(folder: str, stem: str) -> np.ndarray:
    """Read ``folder/stem.jpg`` (or .png) as a grayscale uint8 array, cached."""
    for suffix in (".jpg", ".png"):
        path = Path(folder) / f"{stem}{suffix}"
        if path.exists():
            try:
                return read_image(path, mode="L")
            except ImageReadError as exc:
                raise DegradationError(f"texture folder {folder}: {exc}") from None
    raise DegradationError(f"texture folder {folder}: {stem}.jpg is missing")


class _TextureOperation(Operation):
    """Shared checks: the folder exists and holds a texture for every code the settings can draw."""

    prefix: str

    def _check_settings(self):
        folder = Path(self.settings["texture_dir"])
        if not folder.is_dir():
            raise DegradationError(f"{self.name}: texture folder {folder} does not exist")
        codes = self.settings["code"]
        if isinstance(codes, dict):
            codes = codes["choice"]
        elif isinstance(codes, list):
            codes = range(int(codes[0]), int(codes[1]) + 1)
        else:
            codes = [codes]
        missing = [
            f"{self.prefix}{code:02d}.jpg"
            for code in codes
            if not any((folder / f"{self.prefix}{code:02d}{suffix}").exists() for suffix in (".jpg", ".png"))
        ]
        if missing:
            raise DegradationError(f"{self.name}: texture folder {folder} lacks {', '.join(missing)}")


@register
class TextureCracks(_TextureOperation):
    """The paper's crack rule on a user's ``textureNN.jpg`` files (lighten blend)."""

    name = "texture_cracks"
    description = "cracks from the paper's texture files (needs texture_dir)"
    prefix = "texture"
    structural = True
    min_size = 2
    params = (
        Param("texture_dir", "path", "texture2", doc="folder in the paper's texture2/ layout"),
        Param("code", "int", [1, 12], 1, 99, doc="texture number NN"),
        Param(
            "angle",
            "float",
            [-30.0, 30.0],
            -180.0,
            180.0,
            unit="degrees",
            doc="rotation (codes 6, 8-12 only)",
        ),
        Param("region", "int", [0, 3], 0, 3, doc="quadrant the half-size window is cut from"),
    )

    def _apply(self, image, texture_dir, code, angle, region):
        texture = load_texture(texture_dir, f"texture{code:02d}")
        if code in ROTATED_CRACK_CODES:
            height, width = texture.shape
            rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
            texture = cv2.warpAffine(texture, rotation, (width, height))
        if code == 12:
            texture = np.where(texture < 120, 0, texture).astype(np.uint8)
        height, width = texture.shape
        top, left = (region // 2) * (height // 2), (region % 2) * (width // 2)
        window = texture[top : top + height // 2, left : left + width // 2]
        layer = cv2.resize(window, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        out = np.maximum(image, layer if image.ndim == 2 else layer[..., None])
        changed = out != image
        return out, ((changed if image.ndim == 2 else changed.any(axis=2)).astype(np.uint8) * 255)


@register
class TextureDust(_TextureOperation):
    """The paper's dust rule on a user's ``dustNN.jpg`` files."""

    name = "texture_dust"
    description = "dust from the paper's texture files (needs texture_dir)"
    prefix = "dust"
    structural = True
    uses_seed = True
    min_size = 2
    params = (
        Param("texture_dir", "path", "texture2", doc="folder in the paper's texture2/ layout"),
        Param("code", "int", [1, 8], 1, 99, doc="texture number NN"),
    )

    def _apply(self, image, texture_dir, code, seed):
        rng = np.random.default_rng(seed)
        texture = load_texture(texture_dir, f"dust{code:02d}")
        threshold = 50 if 8 <= code <= 11 else 100
        height, width = image.shape[:2]
        if texture.shape[0] >= height and texture.shape[1] >= width:
            top = int(rng.integers(texture.shape[0] - height + 1))
            left = int(rng.integers(texture.shape[1] - width + 1))
            texture = texture[top : top + height, left : left + width]
        else:
            texture = cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR)
        spots = texture > threshold
        middle_row = image[height // 2].astype(np.float64)
        value = np.uint8(min(3.0 * middle_row.mean(), 255.0))
        out = image.copy()
        out[spots] = value
        return out, spots.astype(np.uint8) * 255
