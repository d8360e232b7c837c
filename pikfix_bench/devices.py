"""Choosing the torch device: ``auto`` takes CUDA when it is present."""

from __future__ import annotations

import torch

from pikfix_bench.errors import PikfixError


def resolve_device(name: str = "auto") -> str:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a usable device string.

    Parameters
    ----------
    name : str
        ``"auto"`` picks ``"cuda"`` when available, else ``"cpu"``.

    Returns
    -------
    str
        The device string.

    Raises
    ------
    PikfixError
        When CUDA is asked for but not available, or the name is not a device.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PikfixError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PikfixError(
            f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto"
        )
    return str(device)
