"""The model adapter interface, its descriptor, and the registry with its factory.

An adapter is a small class: a :class:`ModelDescriptor` saying what the model
does and wants, ``load(device)`` and ``predict(batch)``. The evaluation harness
reads the descriptor to convert inputs (L or RGB), pad to a size multiple or
resize to a fixed size and back, and batch; adapters never see the ground truth.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from pikfix_bench.devices import place
from pikfix_bench.errors import PikfixError, PikfixWarning, did_you_mean
from pikfix_bench.hashing import file_sha256

ENTRY_POINT_GROUP = "pikfix_bench.models"
Task = Literal["colorization", "restoration", "restoration+colorization", "any"]


class ModelError(PikfixError):
    """A model cannot be created, loaded or run."""


OptionKind = Literal["str", "int", "float", "choice", "file", "dir"]
_METAVAR = {"str": "TEXT", "int": "N", "float": "X", "choice": "CHOICE", "file": "PATH", "dir": "PATH"}


@dataclass(frozen=True)
class ModelOption:
    """One ``--model-opt KEY=VALUE`` a model takes: its type, default and meaning.

    Attributes
    ----------
    help : str
        What it means, in a few words.
    kind : {"str", "int", "float", "choice", "file", "dir"}
        How the value is parsed: ``file`` and ``dir`` must exist.
    default : object, optional
        The value when the option is not given (``None``: absent).
    required : bool
        Whether the model refuses to start without it.
    choices : tuple of str
        The allowed values of a ``choice``.
    minimum : float, optional
        The smallest allowed ``int`` or ``float``.
    """

    help: str
    kind: OptionKind = "str"
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None

    @property
    def metavar(self) -> str:
        """How the value is written in help texts (``PATH``, ``N``, ``lab|rgb``)."""
        return "|".join(self.choices) if self.kind == "choice" else _METAVAR[self.kind]

    @property
    def help_text(self) -> str:
        """The help line: meaning, then ``required`` or the default."""
        if self.required:
            return f"{self.help} (required)"
        return self.help if self.default is None else f"{self.help} (default {self.default})"

    def parse(self, model: str, key: str, text: str) -> Any:
        """The value of ``key=text``, checked.

        Raises
        ------
        ModelError
            Naming the model, the option and what is wrong with the value.
        """
        where = f"model {model}: --model-opt {key}={text}"
        if self.kind in ("int", "float"):
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise ModelError(
                    f"{where}: expected {'an integer' if self.kind == 'int' else 'a number'}"
                ) from None
            if self.minimum is not None and not value >= self.minimum:
                raise ModelError(f"{where}: must be at least {self.minimum:g}")
            return value
        if self.kind == "choice" and text not in self.choices:
            raise ModelError(f"{where}: choose {' or '.join(self.choices)}")
        if self.kind == "file" and not Path(text).is_file():
            raise ModelError(f"{where}: no such file")
        if self.kind == "dir" and not Path(text).is_dir():
            raise ModelError(f"{where}: no such folder")
        return text


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
        Device types it can run on; under another ``--device`` it runs on the CPU
        (:func:`pikfix_bench.devices.place`).
    options : dict of str to ModelOption
        The ``--model-opt`` keys it takes.
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
    options: dict[str, ModelOption] = field(default_factory=dict)
    requires_weights: bool = False
    batch_size: int | None = None


@dataclass
class Batch:
    """What a model is given: ids, inputs and references (never the ground truth)."""

    ids: list[str]
    inputs: list[np.ndarray]
    references: list[np.ndarray]


def parse_options(descriptor: ModelDescriptor, options: dict[str, str]) -> dict[str, Any]:
    """Check ``--model-opt`` strings against a descriptor: known keys, valid values, required ones given.

    Returns
    -------
    dict
        Every option of the descriptor with its parsed value or default (absent ones are ``None``).

    Raises
    ------
    ModelError
        For an unknown key, a bad value, or a missing required option.
    """
    known = descriptor.options
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = ", ".join(known) or "none"
        raise ModelError(
            f"model {descriptor.name}: unknown option(s) {', '.join(unknown)} (it takes: {takes})"
        )
    settings = {key: known[key].parse(descriptor.name, key, text) for key, text in options.items()}
    for key, spec in known.items():
        if key not in settings and spec.required:
            raise ModelError(f"{descriptor.name} needs --model-opt {key}={spec.metavar}: {spec.help}")
        settings.setdefault(key, spec.default)
    return settings


class ModelAdapter(ABC):
    """Base class of every model.

    Parameters
    ----------
    **options
        ``--model-opt`` values (strings from the command line), parsed and checked against the
        descriptor at once (:func:`parse_options`): :attr:`settings` holds the typed values.
    """

    descriptor: ClassVar[ModelDescriptor]
    # Whether a failing batch is tried again one sample at a time (so one bad sample loses only itself).
    retry_single: ClassVar[bool] = True

    def __init__(self, **options: str) -> None:
        self.settings = parse_options(self.descriptor, options)
        self.options = dict(options)
        self.device = "cpu"

    def load(self, device: str) -> None:
        """Prepare the model for ``device`` (read weights, start sessions); raise :class:`ModelError` if it cannot.

        The model runs on ``device`` when its descriptor supports that device type and on the CPU
        otherwise; :attr:`device` says where.
        """
        self.device = place(self.descriptor.devices, device, self.descriptor.name)

    @abstractmethod
    def predict(self, batch: Batch) -> list[np.ndarray]:
        """Return one uint8 RGB ``H x W x 3`` image per input."""

    def weights_sha256(self) -> str | None:
        """sha256 of the weights file the model loaded (``None`` for weight-free models)."""
        weights = self.settings.get("weights")
        return file_sha256(Path(weights)) if weights else None

    def weight_files(self) -> dict[str, Path]:
        """The files the model's results depend on, by name: every ``file`` option given.

        Adapters whose weights live elsewhere (a checkout's ``checkpoints/``) add theirs.
        """
        return {
            key: Path(self.settings[key])
            for key, spec in self.descriptor.options.items()
            if spec.kind == "file" and self.settings.get(key)
        }

    def trained_on(self) -> set[str]:
        """Content hashes of the datasets the weights were trained on, where the weights record them.

        ``evaluate`` warns when it scores a model on one of them (its scores then measure fit).
        """
        return set()

    def describe(self) -> dict[str, Any]:
        """The setup as recorded in ``run.json``: what makes two runs the same model.

        ``options`` holds every option's effective value (defaults included, so a run stays readable
        when a default changes), ``defaults`` the descriptor's defaults, ``given`` what was typed, and
        ``files_sha256`` the sha256 of every weights file (:meth:`weight_files`). ``weights_sha256``
        is the ``weights=`` file's, as older versions recorded it.
        """
        return {
            "name": self.descriptor.name,
            "options": dict(self.settings),
            "defaults": {key: spec.default for key, spec in self.descriptor.options.items()},
            "given": dict(self.options),
            "weights_sha256": self.weights_sha256(),
            "files_sha256": {name: file_sha256(path) for name, path in sorted(self.weight_files().items())},
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


# Plug-ins that could not be loaded: entry-point name -> one line saying why. A broken third-party
# package must cost only its own model, so its failure is kept here (and warned about once) instead of
# reaching `models list` or an evaluation of another model as a traceback.
PLUGIN_ERRORS: dict[str, str] = {}


def _load_plugins() -> None:
    """Import third-party adapters announced in the ``pikfix_bench.models`` entry-point group.

    A plug-in whose import fails, or that is not a :class:`ModelAdapter` subclass, is left out with
    one :class:`~pikfix_bench.errors.PikfixWarning` naming it and its error (once per process);
    :data:`PLUGIN_ERRORS` keeps the reason for ``models list`` and for :func:`create_model`.
    """
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in MODELS or entry.name in PLUGIN_ERRORS:
            continue
        before = dict(MODELS)
        try:
            loaded = entry.load()
            if not (isinstance(loaded, type) and issubclass(loaded, ModelAdapter)):
                raise TypeError(f"{entry.value} is not a ModelAdapter subclass")
            register_model(loaded)
        except Exception as exc:  # third-party code may raise anything while it is imported
            # A module that registered its model and then failed is half-imported: none of it is used.
            MODELS.clear()
            MODELS.update(before)
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            PLUGIN_ERRORS[entry.name] = f"plug-in {entry.name} ({entry.value}) could not be loaded: {reason}"
            warnings.warn(PLUGIN_ERRORS[entry.name], PikfixWarning, stacklevel=3)


def list_models() -> dict[str, type[ModelAdapter]]:
    """Every registered adapter, plug-ins that loaded included, by name (see :data:`PLUGIN_ERRORS`)."""
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

        names = name.split("+")
        if len(names) != 2 or not all(names):
            raise ModelError(f"{name!r}: a chain is two models, a restorer and a colouriser (a+b)")
        return ChainAdapter(*(create_model(part, **_options_for(options, part, names)) for part in names))
    if name in PLUGIN_ERRORS and name not in models:
        raise ModelError(PLUGIN_ERRORS[name])
    if name not in models:
        raise ModelError(
            f"unknown model {name!r}{did_you_mean(name, models)} (see `pikfix-bench models list`)"
        )
    return models[name](**options)


def _options_for(options: dict[str, str], model: str, chain: list[str]) -> dict[str, str]:
    """In a chain ``a+b``, ``a.key=value`` goes to ``a``; an option that names no model of the chain is refused."""
    stray = [key for key in options if key.partition(".")[0] not in chain or "." not in key]
    if stray:
        raise ModelError(
            f"in the chain {'+'.join(chain)}, each option names its model ({chain[0]}.KEY=VALUE or "
            f"{chain[1]}.KEY=VALUE); got {', '.join(stray)}"
        )
    prefix = f"{model}."
    return {key[len(prefix) :]: value for key, value in options.items() if key.startswith(prefix)}
