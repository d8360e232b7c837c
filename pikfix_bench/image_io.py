"""Reading and writing images as uint8 numpy arrays.

Everything the toolkit reads goes through :func:`read_image`, so that EXIF
orientation, palettes, alpha, 16-bit and CMYK files are handled the same way
everywhere, and a bad file always produces an :class:`ImageReadError` that
names it. Writes are atomic: a reader never sees half a PNG.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pikfix_bench.errors import ImageReadError, PikfixError, PikfixWarning

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")

# Formats whose extra frames are an animation (refused: which frame is the photograph is unknown); the
# extra frames of MPO (phone JPEGs) and multi-page TIFF are not, and the first one is read.
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")

ColorMode = Literal["RGB", "L"]


def is_image_file(path: str | Path) -> bool:
    """Return whether ``path`` has one of the image suffixes the toolkit reads."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files among ``paths``, and the entries with an image suffix that cannot be read, with why.

    Parameters
    ----------
    paths : iterable of Path
        A folder listing (``iterdir``, ``rglob``), in the order wanted.

    Returns
    -------
    files : list of Path
        Regular files (or links to them) with an image suffix.
    passed_over : list of (Path, str)
        Broken symbolic links and FIFOs, sockets or devices with an image suffix, and the reason: named so
        that they do not vanish silently (folders and files of other suffixes are not images).
    """
    files, passed_over = [], []
    for path in paths:
        if not is_image_file(path) or path.is_dir():
            continue
        if path.is_file():
            files.append(path)
        elif path.is_symlink() and not path.exists():
            passed_over.append((path, f"broken symbolic link (to {printable(os.readlink(path))})"))
        else:
            passed_over.append((path, "not a regular file (a FIFO, socket or device)"))
    return files, passed_over


def passed_over_message(path: Path, why: str) -> str:
    """One line naming an entry :func:`image_files` passed over and why (``x.png: broken symbolic link ...``)."""
    return f"{printable(str(path))}: {why}"


def printable(text: str) -> str:
    """``text`` as one line that always encodes to UTF-8, to name a file in a message or a manifest.

    The bytes of a file name that are not UTF-8 (which Python holds as lone surrogates) are written as
    ``\\xff``, control characters as ``\\n``, ``\\x1b``, ...; any other text is unchanged.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")  # a file name's undecodable bytes, as they were
    except UnicodeEncodeError:  # a surrogate that no file name decodes to
        raw = text.encode("utf-8", "backslashreplace")
    decoded = raw.decode("utf-8", "backslashreplace")
    return "".join(ascii(char)[1:-1] if unicodedata.category(char) == "Cc" else char for char in decoded)


def _to_8bit(samples: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits: ``round(v / 257)``, so 65535 maps to 255 and 256 to 1.

    ``(v + 128) // 257`` is that rounding in integers (no ties: ``v / 257`` never ends in .5), without a
    float64 copy of a large image. Pillow's 32-bit ``I`` mode is clipped to the 16-bit range first.
    """
    wide = np.clip(samples, 0, 65535).astype(np.uint32)
    wide += 128
    wide //= 257
    return wide.astype(np.uint8)


def _is_16bit_colour(image: Image.Image) -> bool:
    """Whether Pillow would keep only the high byte of this file's 16-bit colour samples.

    Pillow has no 16-bit colour mode: it opens 48/64-bit PNG and TIFF (and 16-bit gray with alpha) as
    ``RGB``/``RGBA``, truncating while it decodes; the raw mode of the file's tile says so (``RGB;16B``).
    """
    if image.mode not in ("RGB", "RGBA") or not image.tile:
        return False
    args = image.tile[0].args
    rawmode = args[0] if isinstance(args, tuple) else args
    return isinstance(rawmode, str) and ";16" in rawmode


def _read_16bit_colour(path: Path, opened: Image.Image) -> Image.Image:
    """The 16-bit colour file ``opened`` reduced by :func:`_to_8bit`, decoded by OpenCV, which keeps 16 bits.

    The EXIF of ``opened`` is carried over, so :func:`~PIL.ImageOps.exif_transpose` turns it as any file.
    """
    # decoded from bytes: OpenCV cannot open a path whose name is not UTF-8; unchanged: no rotation,
    # 16 bits kept, alpha kept (gray with alpha comes as four channels)
    try:
        decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        decoded = None
    width, height = opened.size
    if (
        decoded is None
        or decoded.dtype != np.uint16
        or decoded.ndim != 3
        or decoded.shape[:2] != (height, width)
    ):
        raise ImageReadError(path, "truncated or corrupt 16-bit colour data (OpenCV cannot decode it)")
    warnings.warn(f"{path}: 16-bit image reduced to 8 bits", PikfixWarning, stacklevel=3)
    order = [2, 1, 0, 3][: decoded.shape[2]]  # OpenCV's BGR(A) to RGB(A)
    image = Image.fromarray(_to_8bit(decoded[..., order]))
    image.info["exif"] = opened.getexif().tobytes()
    return image


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
        return Image.fromarray(_to_8bit(np.asarray(image)))
    if image.mode == "F":
        raise ImageReadError(path, "floating-point images are not supported (no known data range)")
    if image.mode in ("1", "L"):
        return image.convert("L")
    # CMYK, YCbCr, LAB, HSV (48-bit RGB was reduced by _read_16bit_colour).
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
        and 16-bit data (gray or colour) is scaled to 8 bits as ``round(v / 257)``, each with a
        :class:`PikfixWarning`.

    Raises
    ------
    ImageReadError
        If the file is missing, unreadable, truncated, not an image, animated (GIF, APNG, WebP), or
        too large to decode in the memory available.
    """
    path = Path(path)
    if mode not in ("RGB", "L"):
        raise PikfixError(f"read_image: mode must be 'RGB' or 'L', got {mode!r}")
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if not path.is_file():
        raise ImageReadError(path, "not a regular file")
    size = None
    try:
        with warnings.catch_warnings():  # Pillow's own names neither the file nor its size: ours below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            size = opened.size
            # above Pillow's threshold a picture is read with this warning; above twice it, refused below
            if Image.MAX_IMAGE_PIXELS and size[0] * size[1] > Image.MAX_IMAGE_PIXELS:
                warnings.warn(
                    f"{path}: a very large image ({size[0]} x {size[1]} pixels); reading and scoring it take "
                    "much memory",
                    PikfixWarning,
                    stacklevel=2,
                )
            if opened.format in ANIMATED_FORMATS and getattr(opened, "is_animated", False):
                raise ImageReadError(
                    path,
                    f"animated image ({opened.n_frames} frames): which frame is the photograph is not known",
                )
            if _is_16bit_colour(opened):
                image = _read_16bit_colour(path, opened)
            else:
                opened.load()
                image = opened
            image = ImageOps.exif_transpose(image)
            image = _normalise_mode(image, path).convert(mode)
            return np.array(image, dtype=np.uint8)
    except MemoryError:
        pixels = f"{size[0]} x {size[1]} " if size else ""
        raise ImageReadError(path, f"not enough memory to decode this {pixels}image") from None
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
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise named_os_error(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def named_os_error(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path`` when it names no file (a write to a full disk names none)."""
    return exc if exc.filename else OSError(exc.errno, exc.strerror or str(exc), str(path))


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
