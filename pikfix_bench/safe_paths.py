"""Untrusted names (sample ids, bundle members) checked, and joined to a folder without leaving it.

A sample id comes from a file someone else wrote (a manifest, an HDF5 file, a folder of scans) and
becomes a file name (``outputs/<id>.png``, ``input/<id>.png``). Every such path is built by
:func:`path_inside`, which refuses a name that is absolute, has ``..``, ``.`` or empty parts, holds
a control character, a backslash or text that is not UTF-8, or resolves (through a link) outside
the folder. ``/`` inside a name is allowed: it makes sub-folders, as in ``2008/000123``.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

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


def path_inside(root: str | Path, name: str, suffix: str = "", what: str = "sample id") -> Path:
    """``root / (name + suffix)``, refused when ``name`` is unsafe or the path leaves ``root``.

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

    Returns
    -------
    Path
        The joined path (not resolved).

    Raises
    ------
    PikfixError
        When the name is unsafe (see :func:`name_problem`), or when the joined path resolves outside
        ``root`` (a link planted in the folder).
    """
    check_name(name, what)
    path = Path(root) / f"{name}{suffix}"
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise PikfixError(f"{what} {name!r}: {path} leads outside {root} (through a link)")
    return path
