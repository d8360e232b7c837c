"""Reading ``.pth`` files that anyone may have written: plain data only, never a pickle program.

Checkpoints and weights come from other people. ``torch.load(weights_only=True)`` refuses every global that
is not a tensor type or a plain container, so a planted pickle is refused, never run. Torch's own messages
for such a refusal run to paragraphs and advise loading with ``weights_only=False``, which is exactly what
must not be done with a stranger's file; :func:`load_plain` says it in one line naming the file instead.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from pikfix_bench.errors import PikfixError


def brief(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters (torch's messages run to paragraphs)."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= 300 else text[:299] + "…"


def load_plain(path: str | Path, who: str, error: type[PikfixError] = PikfixError) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure one ``error`` naming ``path``.

    Parameters
    ----------
    path : str or Path
        The file.
    who : str
        What is reading it, the start of the message (``"pikfix"``, ``"--resume refused"``).
    error : type
        The :class:`PikfixError` subclass to raise.
    """
    try:
        with warnings.catch_warnings():  # torch warns about a file it then refuses: the refusal says it all
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise error(
            f"{who}: {path} is not a torch file of tensors and plain data (numbers, strings, lists, dicts), "
            "or it holds other objects; refusing to unpickle it"
        ) from None
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise error(f"{who}: cannot read {path} ({brief(exc)})") from None
