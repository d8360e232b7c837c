"""Argument checks shared by the functional metrics: they refuse to guess, on every device."""

from __future__ import annotations

import math

import torch

from pikfix_bench.errors import PikfixError, ShapeMismatchError


def check_batch(
    metric: str, pred: torch.Tensor, target: torch.Tensor | None = None, channels: int | None = None
) -> None:
    """Refuse anything but non-empty ``N x C x H x W`` batches of one shape.

    Parameters
    ----------
    metric : str
        The metric's name, for the message.
    pred, target : torch.Tensor
        The batches (``target`` is ``None`` for a no-reference metric).
    channels : int, optional
        The number of channels the metric needs.

    Raises
    ------
    PikfixError
        For a batch that is not 4-D, is empty or has the wrong number of channels.
    ShapeMismatchError
        When the two batches differ in any dimension (batch size included: nothing is broadcast).
    """
    for name, batch in (("pred", pred), ("target", target)):
        if batch is None:
            continue
        if not isinstance(batch, torch.Tensor) or batch.ndim != 4:
            shape = tuple(batch.shape) if hasattr(batch, "shape") else type(batch).__name__
            raise PikfixError(f"{metric}: {name} must be an N x C x H x W tensor, got {shape}")
        if batch.shape[0] == 0:
            raise PikfixError(f"{metric}: {name} is an empty batch")
        if channels is not None and batch.shape[1] != channels:
            raise PikfixError(f"{metric}: {name} must have {channels} channels, got {batch.shape[1]}")
    if target is not None and pred.shape != target.shape:
        raise ShapeMismatchError(
            f"{metric}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape "
            "(batch sizes included: nothing is broadcast)"
        )


def resolve_data_range(metric: str, batch: torch.Tensor, data_range: float | None) -> float:
    """The peak value: as given, 1.0 for float images, and never guessed for integer images.

    Raises
    ------
    PikfixError
        For integer images without an explicit ``data_range`` (``255`` for ``uint8``), or a
        range that is not positive.
    """
    if data_range is None:
        if not batch.dtype.is_floating_point:
            raise PikfixError(
                f"{metric}: {batch.dtype} images need an explicit data_range (255 for uint8 on 0..255); "
                "float images default to 1.0"
            )
        return 1.0
    if not data_range > 0:
        raise PikfixError(f"{metric}: data_range must be positive, got {data_range}")
    return float(data_range)


def check_window(window_size: int, sigma: float) -> None:
    """Refuse an even or non-positive Gaussian window, or a non-positive sigma."""
    if int(window_size) != window_size or window_size < 1 or window_size % 2 == 0:
        raise PikfixError(f"ssim: window_size must be an odd positive integer, got {window_size}")
    if not sigma > 0:
        raise PikfixError(f"ssim: sigma must be positive, got {sigma}")


def undefined_values(batch: torch.Tensor) -> torch.Tensor:
    """One NaN per image of ``N x ... `` ``batch``, in float64 on its device: the value of a metric that is
    undefined for these pictures (too small for its window, blocks or network), a missing value that
    tables leave out of means, never an error that would stop the other pictures' scoring."""
    return torch.full(batch.shape[:1], math.nan, dtype=torch.float64, device=batch.device)
