"""Torch devices: resolving ``--device``, placing a model, and strict fp32 while scoring.

``auto`` takes CUDA when it is present. A model runs on the requested device when its
descriptor supports that device type and on the CPU otherwise (a numpy model under
``--device cuda``), while metrics always run on the requested device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from pikfix_bench.errors import PikfixError


def cuda_devices() -> list[str]:
    """The CUDA devices of this machine (``["cuda:0", ...]``; empty without CUDA)."""
    if not torch.cuda.is_available():
        return []
    return [f"cuda:{index}" for index in range(torch.cuda.device_count())]


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
        When CUDA is asked for but not available, the index is not on this machine, or the name
        is not a device.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PikfixError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise PikfixError(f"device {name!r}: pikfix-bench runs on cpu or cuda")
    if device.type == "cuda":
        present = cuda_devices()
        if not present:
            raise PikfixError(
                f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto"
            )
        if device.index is not None and device.index >= len(present):
            raise PikfixError(
                f"device {name!r} is not on this machine; it has {', '.join(present)} (and cpu)"
            )
    return str(device)


def place(supported: tuple[str, ...], requested: str, model: str) -> str:
    """The device a model runs on: ``requested`` when it supports that type, else the CPU.

    Parameters
    ----------
    supported : tuple of str
        Device types the model runs on (its descriptor's ``devices``).
    requested : str
        The resolved ``--device``.
    model : str
        The model's name, for the message.

    Raises
    ------
    PikfixError
        When the model supports neither the requested device type nor the CPU (a CUDA-only model
        on a machine without CUDA).
    """
    if requested.split(":")[0] in supported:
        return requested
    if "cpu" in supported:
        return "cpu"
    raise PikfixError(f"model {model} runs only on {', '.join(supported)}, not on {requested}")


# torch >= 2.9 has per-backend ``fp32_precision`` flags; reading the legacy ``allow_tf32`` flags raises
# there once a user has set the new ones, so the new flags are used wherever they exist.
_NEW_API = hasattr(torch.backends.cudnn, "conv") and hasattr(torch.backends.cudnn.conv, "fp32_precision")


def _tf32_flags() -> tuple[Any, Any]:
    if _NEW_API:
        return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def _set_tf32_flags(flags: tuple[Any, Any]) -> None:
    if _NEW_API:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = flags
    else:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def tf32_enabled() -> dict[str, bool]:
    """Whether CUDA matrix products and cuDNN convolutions may use TF32 right now."""
    matmul, conv = _tf32_flags()
    if _NEW_API:  # "none" inherits: the matmul default is IEEE, the cuDNN convolution default TF32
        return {"matmul": matmul == "tf32", "cudnn": conv in ("tf32", "none")}
    return {"matmul": bool(matmul), "cudnn": bool(conv)}


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """Turn TF32 off for CUDA matrix products and convolutions, and restore the caller's settings.

    PyTorch's default TF32 convolutions move LPIPS by up to ~3e-4 on a GPU; inside this block
    float32 work is IEEE float32, as on the CPU. Without CUDA the flags change nothing.
    """
    saved = _tf32_flags()
    _set_tf32_flags(("ieee", "ieee") if _NEW_API else (False, False))
    try:
        yield
    finally:
        _set_tf32_flags(saved)


def precision_record() -> dict[str, Any]:
    """What ``run.json`` records of the scorer's arithmetic, measured inside :func:`strict_fp32`."""
    with strict_fp32():
        flags = tf32_enabled()
    return {
        "metrics": "float32 (LPIPS, CIEDE2000 per pixel), float64 (PSNR, SSIM, means)",
        "tf32_matmul": flags["matmul"],
        "tf32_cudnn": flags["cudnn"],
    }
