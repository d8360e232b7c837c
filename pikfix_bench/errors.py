"""Exceptions and warnings raised by pikfix-bench.

Every error that a user can cause (a bad file, a bad option, mismatched
images) is a :class:`PikfixError`, whose message names the file or argument
and the problem. The command line turns them into a one-line message and a
non-zero exit code instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class PikfixError(Exception):
    """Base class of the errors a user can cause and fix."""


class ImageReadError(PikfixError):
    """An image file is missing, truncated, or not an image.

    Parameters
    ----------
    path : str or Path
        The file that could not be read.
    reason : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ShapeMismatchError(PikfixError):
    """Two images that must have the same size do not."""


class PikfixWarning(UserWarning):
    """A recoverable oddity in the input (alpha dropped, 16-bit reduced, ...)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    hint = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""
