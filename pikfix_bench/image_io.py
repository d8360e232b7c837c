"""Reading and writing images as uint8 numpy arrays.

Everything the toolkit reads goes through :func:`read_image`, so that EXIF
orientation, palettes, alpha, 16-bit and CMYK files are handled the same way
everywhere, and a bad file always produces an :class:`ImageReadError` that
names it. Writes are atomic: a reader never sees half a PNG.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pikfix_bench.errors import ImageReadError, PikfixError, PikfixWarning

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

ColorMode = Literal["RGB", "L"]


def is_image_file(path: str | Path) -> bool:
    """Return whether ``path`` has one of the image suffixes the toolkit reads."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale a 16-bit grayscale image to 8 bits: ``round(v / 257)``, so 65535 maps to 255."""
    array = np.asarray(image).astype(np.float64)
    return Image.fromarray(np.clip(np.rint(array / 257.0), 0, 255).astype(np.uint8))


def _flatten_alpha(image: Image.Image, path: Path) -> Image.Image:
    """Composite an image with transparency onto white, with a warning."""
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    if alpha.min() < 255:
        warnings.warn(f"{path}: transparency composited on white", PikfixWarning, stacklevel=3)
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _normalise_mode(image: Image.Image, path: Path) -> Image.Image:
    """Bring any Pillow mode to 8-bit ``RGB`` or ``L``."""
    if image.mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _flatten_alpha(image, path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        warnings.warn(f"{path}: 16-bit image reduced to 8 bits", PikfixWarning, stacklevel=3)
        return _to_8bit(image)
    if image.mode == "F":
        raise ImageReadError(path, "floating-point images are not supported (no known data range)")
    if image.mode in ("1", "L"):
        return image.convert("L")
    # CMYK, YCbCr, LAB, HSV and 48-bit RGB (which Pillow already reduces to RGB).
    return image.convert("RGB")


def read_image(path: str | Path, mode: ColorMode = "RGB") -> np.ndarray:
    """Read an image file into a uint8 array.

    Parameters
    ----------
    path : str or Path
        A PNG, JPEG, BMP, TIFF or WebP file.
    mode : {"RGB", "L"}
        ``"RGB"`` returns ``H x W x 3`` (grayscale files are replicated to three
        channels); ``"L"`` returns ``H x W`` luma (ITU-R 601-2, as Pillow computes it).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array, EXIF orientation applied. Alpha is composited on white
        and 16-bit data is scaled to 8 bits, each with a :class:`PikfixWarning`.

    Raises
    ------
    ImageReadError
        If the file is missing, unreadable, truncated or not an image.
    """
    path = Path(path)
    if mode not in ("RGB", "L"):
        raise PikfixError(f"read_image: mode must be 'RGB' or 'L', got {mode!r}")
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if not path.is_file():
        raise ImageReadError(path, "not a regular file")
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            image = _normalise_mode(image, path).convert(mode)
            return np.array(image, dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower() or isinstance(exc, SyntaxError):
            reason = f"truncated or corrupt image data ({reason})"
        raise ImageReadError(path, reason) from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"image too large ({exc})") from None


def _new_temporary(path: Path) -> Path:
    """Create an empty, uniquely named file beside ``path``, with the permissions the umask gives.

    (:func:`tempfile.mkstemp` would make it ``0600`` whatever the umask, so colleagues on a shared
    disk could not read what the toolkit writes.)
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (mode as the umask says)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 ``H x W`` or ``H x W x 3`` array to a PNG file atomically.

    Parameters
    ----------
    path : str or Path
        Destination; parent folders are created.
    image : numpy.ndarray
        ``uint8`` grayscale or RGB image.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise PikfixError(f"write_png({path}): expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise PikfixError(f"write_png({path}): expected H x W or H x W x 3, got shape {image.shape}")
    atomic_write(Path(path), lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
