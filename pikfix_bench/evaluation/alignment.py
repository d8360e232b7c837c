"""Getting inputs into the shape a model wants, and its outputs back to the ground truth's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pikfix_bench.baselines.base import Batch, ModelAdapter, ModelDescriptor, ModelError, as_rgb
from pikfix_bench.color import bt601_gray
from pikfix_bench.errors import ShapeMismatchError
from pikfix_bench.resize import resize_to

AlignMode = Literal["error", "resize", "crop"]
ALIGN_MODES = ("error", "resize", "crop")


@dataclass(frozen=True)
class Prepared:
    """An input as the model wants it, and how to undo the geometry on its output."""

    image: np.ndarray
    original: tuple[int, int]
    resized: bool


def prepare_input(image: np.ndarray, descriptor: ModelDescriptor) -> Prepared:
    """Convert to the model's input mode, then resize to its fixed size or pad (reflect) to its size multiple."""
    if descriptor.input_mode == "L":
        converted = bt601_gray(image)
    else:
        converted = as_rgb(image)
    height, width = converted.shape[:2]
    if descriptor.fixed_size is not None:
        return Prepared(resize_to(converted, *descriptor.fixed_size), (height, width), True)
    multiple = descriptor.size_multiple
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        pad = ((0, pad_h), (0, pad_w)) + (((0, 0),) if converted.ndim == 3 else ())
        converted = np.pad(
            converted, pad, mode="reflect" if min(height, width) > max(pad_h, pad_w) else "edge"
        )
    return Prepared(converted, (height, width), False)


def restore_geometry(output: np.ndarray, prepared: Prepared) -> np.ndarray:
    """Undo :func:`prepare_input`'s resize or padding on a model output (same size as its input)."""
    height, width = prepared.original
    if prepared.resized:
        return resize_to(output, height, width)
    if output.shape[:2] == prepared.image.shape[:2]:
        return output[:height, :width]
    return output  # another size: left to align_output


class OutputCountError(ModelError):
    """A model returned another number of images than it was given: the whole batch fails."""


def predict_images(
    model: ModelAdapter, ids: list[str], images: list[np.ndarray], references: list[np.ndarray]
) -> list[np.ndarray | None]:
    """Run a model as its descriptor says: prepare the inputs, predict, check the count, undo the geometry.

    Parameters
    ----------
    model : ModelAdapter
        A loaded model.
    ids, images, references : list
        One sample id, input image and reference per sample.

    Returns
    -------
    list
        One output per input at the input's size (or at the model's own size when it changed it),
        ``None`` where the model produced none.

    Raises
    ------
    OutputCountError
        When the model returns another number of images than it was given.
    """
    prepared = [prepare_input(image, model.descriptor) for image in images]
    raw = model.predict(Batch(list(ids), [p.image for p in prepared], list(references)))
    if raw is None or len(raw) != len(ids):
        got = "nothing" if raw is None else f"{len(raw)} images"
        raise OutputCountError(f"model {model.descriptor.name} returned {got} for {len(ids)} inputs")
    return [
        None if out is None else restore_geometry(np.asarray(out), prep)
        for out, prep in zip(raw, prepared, strict=True)
    ]


def align_output(
    output: np.ndarray,
    gt_shape: tuple[int, ...],
    mode: AlignMode,
    sample_id: str,
    target: str = "ground truth",
) -> np.ndarray:
    """Bring an output to the ground truth's size as ``mode`` says (``error``: refuse); ``target`` names
    what the size is taken from in the message (a scan set's ``scan``)."""
    height, width = gt_shape[:2]
    if output.shape[:2] == (height, width):
        return output
    got = f"{output.shape[1]}x{output.shape[0]}"
    if mode == "resize":
        return resize_to(output, height, width)
    if mode == "crop" and output.shape[0] >= height and output.shape[1] >= width:
        return output[:height, :width]
    raise ShapeMismatchError(
        f"{sample_id}: output is {got} but the {target} is {width}x{height}"
        + (" (--align crop needs a larger output)" if mode == "crop" else "; use --align resize or crop")
    )


DEFAULT_BATCH = 8


def batch_size_for(model: ModelAdapter, requested: int | None, count: int) -> int:
    """Images per model call: ``requested``, else the model's preference (``0``: all ``count`` at once), else 8."""
    preferred = model.descriptor.batch_size
    return max(1, requested or (count if preferred == 0 else preferred) or DEFAULT_BATCH)


def _checked(output: np.ndarray | None) -> np.ndarray | str:
    """An output the harness can use (uint8 ``H x W x 3``), or why it cannot."""
    if output is None:
        return "the model produced no output"
    if output.dtype != np.uint8 or output.ndim != 3 or output.shape[2] != 3:
        return f"model returned {output.dtype} {output.shape}, not uint8 H x W x 3"
    return output


def predict_each(
    model: ModelAdapter,
    ids: list[str],
    images: list[np.ndarray],
    references: list[np.ndarray],
    on_failure: Callable[[list[str], str, BaseException], None] | None = None,
) -> list[np.ndarray | str]:
    """Each image's output (uint8 ``H x W x 3``, as the model returned it) or, in its place, why it has none.

    A model may raise anything: one bad image must not lose the rest. When a call fails, a model that
    allows it (``retry_single``) is called again one image at a time; after a wrong number of outputs
    (:class:`OutputCountError`) nobody knows which output is whose, so the whole batch fails.

    Parameters
    ----------
    model : ModelAdapter
        A loaded model.
    ids, images, references : list
        The batch (:func:`predict_images`).
    on_failure : callable, optional
        Told ``(ids, message, exception)`` of every call that raised, before any retry (``evaluate
        --strict`` stops there).

    Returns
    -------
    list
        Per image, its output or the message saying why it has none.
    """
    try:
        outputs = predict_images(model, ids, images, references)
    except Exception as exc:  # noqa: BLE001 - third-party model code may raise anything
        message = str(exc) if isinstance(exc, OutputCountError) else f"{type(exc).__name__}: {exc}"
        if on_failure is not None:
            on_failure(ids, message, exc)
        if len(ids) == 1 or isinstance(exc, OutputCountError) or not model.retry_single:
            return [message] * len(ids)
        return [
            result
            for one in zip(ids, images, references, strict=True)
            for result in predict_each(model, [one[0]], [one[1]], [one[2]], on_failure)
        ]
    return [_checked(output) for output in outputs]
