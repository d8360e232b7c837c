"""Texture-based cracks and dust, following ``utils/texture_libs.py`` of the Pik-Fix code.

Given a folder in the paper's ``texture2/`` layout (``textureNN.jpg`` crack
textures, ``dustNN.jpg`` dust textures; available from the authors on request),
these operations reproduce the public code's synthetic damage (DerrickXuNu/Pik-Fix at 6c2f87c):

- crack (codes 1..12): for code 12 pixels below 120 are zeroed, then codes 6 and 8..12
  are rotated by an integer angle in [-30, 30] degrees; a half-size window at a random
  offset inside the central three quarters (:func:`crack_window`) is resized to the
  image and blended lighten-only: ``max(image, texture)``;
- dust (codes 1..8 online, 1..11 in the offline generator): the texture is thresholded
  (values <= 50 off for codes 8..11, <= 100 otherwise), its remaining pixels set to
  ``min(3 * mean of the image's middle row, 255)`` (truncated), then it is randomly
  cropped to the image (or resized, bilinear, when smaller) and its non-zero pixels
  replace the image.

Textures are read as one channel; the public code reads them as BGR, which is the same for
grayscale JPEG files.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from pikfix_bench.degradations.base import DegradationError, Operation, Param, changed_mask, register
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


def crack_window(height: int, width: int, region: int, x_u: float, y_u: float) -> tuple[int, int]:
    """Top-left corner of the half-size window, as ``utils/texture_libs.py::crack_generate`` draws it.

    The public code lists four regions, ``(randint(col//4, col*3//8), randint(row//4, row*3//8))``,
    ``(…col//4…, randint(row//8, row//4))``, ``(randint(col//8, col//4), randint(row//8, row//4))``,
    ``(randint(col//8, col//4), …row//4…)``, and picks one with ``randint(0, 3)``; ``x_u`` and ``y_u`` in
    [0, 1) choose the integer inside the region's inclusive bounds with the same distribution.
    """
    wide = (width // 4, width * 3 // 8) if region in (0, 1) else (width // 8, width // 4)
    tall = (height // 4, height * 3 // 8) if region in (0, 3) else (height // 8, height // 4)

    def pick(bounds: tuple[int, int], u: float) -> int:
        low, high = bounds
        return low + min(int(u * (high - low + 1)), high - low)

    return pick(wide, x_u), pick(tall, y_u)


@register
class TextureCracks(_TextureOperation):
    """The paper's crack rule on a user's ``textureNN.jpg`` files (lighten blend), as its public code does.

    ``utils/texture_libs.py::crack_generate`` (DerrickXuNu/Pik-Fix at 6c2f87c): code 12 zeroes the
    texture below 120 *before* rotating; codes 6 and 8–12 rotate by an integer angle ``randint(-30, 30)``
    about ``(w // 2, h // 2)`` (``imutils.rotate``: bilinear, black border); a half-size window at the
    offset of :func:`crack_window` is resized (bilinear) to the image and blended ``max(image, texture)``.
    """

    name = "texture_cracks"
    description = "cracks from the paper's texture files (needs texture_dir)"
    prefix = "texture"
    structural = True
    min_size = 2
    params = (
        Param("texture_dir", "path", "texture2", doc="folder in the paper's texture2/ layout"),
        Param("code", "int", [1, 12], 1, 99, doc="texture number NN"),
        Param("angle", "int", [-30, 30], -180, 180, unit="degrees", doc="rotation (codes 6, 8-12 only)"),
        Param("region", "int", [0, 3], 0, 3, doc="which of the public code's four offset regions"),
        Param("x_u", "float", [0.0, 1.0], 0.0, 1.0, doc="position of the window's left edge in its region"),
        Param("y_u", "float", [0.0, 1.0], 0.0, 1.0, doc="position of the window's top edge in its region"),
    )

    def _apply(self, image, texture_dir, code, angle, region, x_u, y_u):
        texture = load_texture(texture_dir, f"texture{code:02d}")
        if code == 12:
            texture = np.where(texture < 120, 0, texture).astype(np.uint8)
        height, width = texture.shape
        if code in ROTATED_CRACK_CODES:
            rotation = cv2.getRotationMatrix2D((width // 2, height // 2), angle, 1.0)
            texture = cv2.warpAffine(texture, rotation, (width, height))
        left, top = crack_window(height, width, region, x_u, y_u)
        window = texture[top : top + height // 2, left : left + width // 2]
        layer = cv2.resize(window, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        out = np.maximum(image, layer if image.ndim == 2 else layer[..., None])
        return out, changed_mask(image, out)


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
        texture = load_texture(texture_dir, f"dust{code:02d}").copy()
        threshold = 50 if 8 <= code <= 11 else 100
        height, width = image.shape[:2]
        # the public code's order: threshold, fill with the truncated colour, then crop or resize (the
        # resize makes soft, darker fringes around the spots, which it also writes into the image)
        texture[texture <= threshold] = 0
        texture[texture != 0] = np.uint8(min(3.0 * image[height // 2].astype(np.float64).mean(), 255.0))
        if texture.shape[0] >= height and texture.shape[1] >= width:
            top = int(rng.integers(texture.shape[0] - height + 1))
            left = int(rng.integers(texture.shape[1] - width + 1))
            texture = texture[top : top + height, left : left + width]
        else:
            texture = cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR)
        spots = texture != 0
        out = image.copy()
        out[spots] = texture[spots] if image.ndim == 2 else texture[spots][:, None]
        return out, changed_mask(image, out)
