"""The model adapter interface, its descriptor, and the registry with its factory.

An adapter is a small class: a :class:`ModelDescriptor` saying what the model
does and wants, ``load(device)`` and ``predict(batch)``. The evaluation harness
reads the descriptor to convert inputs (L or RGB), pad to a size multiple or
resize to a fixed size and back, and batch; adapters never see the ground truth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from pikfix_bench.errors import PikfixError, did_you_mean
from pikfix_bench.hashing import file_sha256

ENTRY_POINT_GROUP = "pikfix_bench.models"
Task = Literal["colorization", "restoration", "restoration+colorization", "any"]


class ModelError(PikfixError):
    """A model cannot be created, loaded or run."""


@dataclass(frozen=True)
class ModelDescriptor:
    """What a model does and what input it wants.

    Attributes
    ----------
    name, description : str
        Registry name and one line for ``models list``.
    task : str
        ``colorization``, ``restoration``, ``restoration+colorization`` (or ``any`` for wrappers).
    uses_reference : bool
        Whether it reads the reference image.
    input_mode : {"L", "RGB"}
        What the harness hands it: grayscale ``H x W`` or RGB ``H x W x 3`` uint8.
    size_multiple : int
        The harness pads inputs (reflect) to a multiple of this and crops outputs back.
    fixed_size : tuple of int, optional
        ``(height, width)`` the model runs at: the harness resizes there and back (bicubic).
    devices : tuple of str
        Device types it can run on.
    options : dict
        ``--model-opt`` keys it takes, with their meaning.
    requires_weights : bool
        Whether ``weights=PATH`` (or a checkout) is needed.
    batch_size : int, optional
        Preferred batch size; ``0`` = the whole dataset at once (external commands).
    """

    name: str
    description: str
    task: Task
    uses_reference: bool
    input_mode: Literal["L", "RGB"] = "L"
    size_multiple: int = 1
    fixed_size: tuple[int, int] | None = None
    devices: tuple[str, ...] = ("cpu",)
    options: dict[str, str] = field(default_factory=dict)
    requires_weights: bool = False
    batch_size: int | None = None


@dataclass
class Batch:
    """What a model is given: ids, inputs and references (never the ground truth)."""

    ids: list[str]
    inputs: list[np.ndarray]
    references: list[np.ndarray]


class ModelAdapter(ABC):
    """Base class of every model.

    Parameters
    ----------
    **options
        ``--model-opt`` values (strings from the command line), checked against the descriptor.
    """

    descriptor: ClassVar[ModelDescriptor]

    def __init__(self, **options: str) -> None:
        unknown = sorted(set(options) - set(self.descriptor.options))
        if unknown:
            known = ", ".join(self.descriptor.options) or "none"
            raise ModelError(
                f"model {self.descriptor.name}: unknown option(s) {', '.join(unknown)} (it takes: {known})"
            )
        self.options = dict(options)
        self.device = "cpu"

    def load(self, device: str) -> None:
        """Prepare the model on ``device`` (read weights, start sessions); raise :class:`ModelError` if it cannot."""
        if device.split(":")[0] not in self.descriptor.devices:
            raise ModelError(
                f"model {self.descriptor.name} runs on {', '.join(self.descriptor.devices)}, not {device}"
            )
        self.device = device

    @abstractmethod
    def predict(self, batch: Batch) -> list[np.ndarray]:
        """Return one uint8 RGB ``H x W x 3`` image per input."""

    def weights_sha256(self) -> str | None:
        """sha256 of the weights file the model loaded (``None`` for weight-free models)."""
        weights = self.options.get("weights")
        return file_sha256(Path(weights)) if weights else None

    def describe(self) -> dict[str, Any]:
        """Name, options and weights hash, as recorded in ``run.json``."""
        return {
            "name": self.descriptor.name,
            "options": self.options,
            "weights_sha256": self.weights_sha256(),
        }


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A uint8 image as ``H x W x 3`` (grayscale replicated)."""
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


MODELS: dict[str, type[ModelAdapter]] = {}


def register_model(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    """Class decorator adding an adapter to the registry under its descriptor's name."""
    name = cls.descriptor.name
    if name in MODELS and MODELS[name] is not cls:
        raise ValueError(f"model {name!r} registered twice")
    MODELS[name] = cls
    return cls


def _load_plugins() -> None:
    """Import third-party adapters announced in the ``pikfix_bench.models`` entry-point group."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in MODELS:
            loaded = entry.load()
            if isinstance(loaded, type) and issubclass(loaded, ModelAdapter):
                register_model(loaded)


def list_models() -> dict[str, type[ModelAdapter]]:
    """Every registered adapter, plug-ins included, by name."""
    _load_plugins()
    return dict(sorted(MODELS.items()))


def create_model(name: str, **options: str) -> ModelAdapter:
    """Build a model by name; ``a+b`` chains a restorer with a colouriser.

    Raises
    ------
    ModelError
        For an unknown name (with a "did you mean") or bad options.
    """
    models = list_models()
    if "+" in name:
        from pikfix_bench.baselines.chain import ChainAdapter

        first, second = name.split("+", 1)
        return ChainAdapter(
            create_model(first, **_options_for(options, first)),
            create_model(second, **_options_for(options, second)),
        )
    if name not in models:
        raise ModelError(
            f"unknown model {name!r}{did_you_mean(name, models)} (see `pikfix-bench models list`)"
        )
    return models[name](**options)


def _options_for(options: dict[str, str], model: str) -> dict[str, str]:
    """In a chain, ``model.key=value`` options go to that model."""
    prefix = f"{model}."
    return {key[len(prefix) :]: value for key, value in options.items() if key.startswith(prefix)}
