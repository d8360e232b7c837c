"""Untrusted names and folders: names checked and joined without leaving a folder, files opened without links.

A sample id comes from a file someone else wrote (a manifest, an HDF5 file, a folder of scans) and
becomes a file name (``outputs/<id>.png``, ``input/<id>.png``). Every such path is built by
:func:`path_inside`, which refuses a name that is absolute, has ``..``, ``.`` or empty parts, holds
a control character, a backslash or text that is not UTF-8, or resolves (through a link) outside
the folder. ``/`` inside a name is allowed: it makes sub-folders, as in ``2008/000123``.

A folder someone else made (a run directory, a training folder) may also hold a link or a FIFO where
the toolkit reads or appends: :func:`open_regular`, :func:`read_regular` and :func:`append_text` never
follow a link and refuse anything but a regular file.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from pathlib import Path
from typing import TextIO

from pikfix_bench.errors import PikfixError

# A file name part longer than this cannot be created on common file systems (255 bytes, less room
# for a suffix such as ".png" and the atomic writer's temporary prefix and suffix).
MAX_PART_BYTES = 200


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be used as a relative file name, or ``None`` when it can.

    Parameters
    ----------
    name : object
        The untrusted value (anything: it is checked to be a string first).

    Returns
    -------
    str or None
        The problem in words, e.g. ``"has a '..' part"``.
    """
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name:
        return "is empty"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "holds a control character (newline, tab, NUL, ...)"
    if any(unicodedata.category(char) in ("Cf", "Zl", "Zp") for char in name):
        # Invisible or reordering characters (U+202E, U+200B, U+FEFF, U+2028) make a name that
        # reads as another one ("r\u202egnp.exe" shows as "rexe.png").
        return "holds an invisible or text-reordering character (U+202E, U+200B, U+2028, ...)"
    if "\\" in name:
        return "holds a backslash"
    if name.startswith("/"):
        return "is an absolute path"
    for part in name.split("/"):
        if not part:
            return "has an empty part ('//' or a trailing '/')"
        if part in (".", ".."):
            return f"has a {part!r} part"
        if len(part.encode("utf-8")) > MAX_PART_BYTES:
            return f"has a part longer than {MAX_PART_BYTES} bytes"
    return None


def check_name(name: object, what: str = "sample id") -> str:
    """Return ``name`` when it is a safe relative file name, else raise :class:`PikfixError`.

    Parameters
    ----------
    name : object
        The untrusted value.
    what : str
        What it is, for the message (``"sample id"``, ``"bundle member"``).
    """
    problem = name_problem(name)
    if problem:
        raise PikfixError(f"{what} {name!r} {problem}")
    return name  # type: ignore[return-value]  # name_problem checked it is a str


def path_inside(
    root: str | Path, name: str, suffix: str = "", what: str = "sample id", base: str | Path | None = None
) -> Path:
    """``root / (name + suffix)``, refused when ``name`` is unsafe or the path leaves ``base``.

    Parameters
    ----------
    root : str or Path
        The folder every output must stay in.
    name : str
        An untrusted relative name (a sample id); ``/`` makes sub-folders.
    suffix : str
        Appended to the last part (``".png"``).
    what : str
        What ``name`` is, for the message.
    base : str or Path, optional
        The folder the path must resolve inside (default ``root``). Give the folder the user chose
        (``--out``) when ``root`` is a sub-folder of it (``RUN/outputs``), so that a sub-folder
        replaced by a link to elsewhere is refused too.

    Returns
    -------
    Path
        The joined path (not resolved).

    Raises
    ------
    PikfixError
        When the name is unsafe (see :func:`name_problem`), or when the joined path resolves outside
        ``base`` (a link planted in the folder).
    """
    check_name(name, what)
    path = Path(root) / f"{name}{suffix}"
    base = root if base is None else base
    real_base = os.path.realpath(base)
    if os.path.commonpath([real_base, os.path.realpath(path)]) != real_base:
        raise PikfixError(f"{what} {name!r}: {path} leads outside {base} (through a link)")
    return path


def open_regular(path: str | Path, flags: int, what: str = "file") -> int:
    """``os.open`` that never follows a link and refuses anything but a regular file.

    A folder given by someone else may hold a link where the toolkit writes (``RUN/per_image.csv ->
    /etc/cron.d/x``) or a FIFO where it reads (which would block). ``O_NOFOLLOW`` refuses the link,
    ``O_NONBLOCK`` keeps a FIFO from blocking the open, and ``fstat`` refuses every non-regular file.

    Parameters
    ----------
    path : str or Path
        The file.
    flags : int
        ``os.O_*`` flags (``O_CREAT`` creates it with the permissions the umask gives).
    what : str
        What the file is, for the message.

    Returns
    -------
    int
        An open file descriptor (blocking mode restored).
    """
    try:
        descriptor = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PikfixError(f"{path}: the {what} is a link; it must be a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise PikfixError(f"{path}: the {what} is not a regular file (a FIFO, device or folder)")
    os.set_blocking(descriptor, True)
    return descriptor


def read_regular(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file (never through a link), refused when it is larger than ``max_bytes``."""
    descriptor = open_regular(path, os.O_RDONLY, what)
    with os.fdopen(descriptor, "rb") as handle:
        if os.fstat(descriptor).st_size > max_bytes:  # refused before a byte is read
            raise PikfixError(f"{path}: the {what} is larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)  # and a file that grows meanwhile is still cut at the limit
    if len(data) > max_bytes:
        raise PikfixError(f"{path}: the {what} is larger than {max_bytes} bytes")
    return data


def append_text(path: str | Path, what: str = "file") -> TextIO:
    """A regular file opened to append text (created with the umask's permissions), never through a link."""
    return os.fdopen(open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, what), "a", newline="")
