"""The operation interface: sample parameters from a generator, apply them as a pure function.

An :class:`Operation` declares its parameters (:class:`Param`: kind, allowed
range, default setting, unit). A *setting* says how a parameter is drawn:

- a scalar: that fixed value;
- a two-element list ``[low, high]``: uniform in the range (integers inclusive);
- ``{"choice": [a, b, ...]}``: one of the values, uniformly.

:meth:`Operation.sample` draws concrete values from a ``numpy.random.Generator``
(plus an integer ``seed`` for operations with a random field, such as noise),
and :meth:`Operation.apply` applies them. ``apply`` uses nothing but the image
and the parameters, so re-applying a recorded parameter set gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from pikfix_bench.errors import PikfixError, did_you_mean

ParamKind = Literal["float", "int", "choice", "bool", "path"]
SEED_BOUND = 2**63 - 1


class DegradationError(PikfixError):
    """A pipeline, operation or parameter is not valid, or an image cannot take the damage."""


@dataclass(frozen=True)
class Param:
    """One parameter of an operation.

    Attributes
    ----------
    name : str
        Keyword of :meth:`Operation.apply`.
    kind : {"float", "int", "choice", "bool", "path"}
        Value type. ``path`` parameters are fixed strings (a texture folder).
    default : Any
        Default setting (fixed value, ``[low, high]`` or ``{"choice": [...]}``).
    low, high : float, optional
        Allowed closed interval for numeric values.
    choices : tuple, optional
        Allowed values of a ``choice`` parameter.
    unit : str
        Unit of the value, for docs and ``degradations list``.
    doc : str
        What the parameter does.
    """

    name: str
    kind: ParamKind
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    unit: str = ""
    doc: str = ""

    def describe_range(self) -> str:
        """Human-readable allowed values."""
        if self.kind == "choice":
            return " | ".join(map(str, self.choices))
        if self.kind in ("bool", "path"):
            return self.kind
        return f"[{self.low:g}, {self.high:g}]" + (f" {self.unit}" if self.unit else "")

    def _check_value(self, value: Any, where: str) -> None:
        if self.kind == "choice":
            if value not in self.choices:
                raise DegradationError(f"{where}: {self.name}={value!r} is not one of {list(self.choices)}")
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise DegradationError(f"{where}: {self.name} must be true or false, got {value!r}")
        elif self.kind == "path":
            if not isinstance(value, str) or not value:
                raise DegradationError(f"{where}: {self.name} must be a folder path, got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DegradationError(f"{where}: {self.name} must be a number, got {value!r}")
            if self.kind == "int" and not float(value).is_integer():
                raise DegradationError(f"{where}: {self.name} must be a whole number, got {value!r}")
            if not (self.low <= value <= self.high):
                raise DegradationError(f"{where}: {self.name}={value!r} is outside {self.describe_range()}")

    def validate(self, setting: Any, where: str) -> None:
        """Raise :class:`DegradationError` unless ``setting`` is a valid setting of this parameter."""
        if isinstance(setting, dict):
            if set(setting) != {"choice"} or not isinstance(setting["choice"], list) or not setting["choice"]:
                raise DegradationError(
                    f"{where}: {self.name}: a dict setting must be {{'choice': [values...]}}"
                )
            for value in setting["choice"]:
                self._check_value(value, where)
        elif isinstance(setting, list | tuple):
            if self.kind not in ("float", "int") or len(setting) != 2:
                raise DegradationError(
                    f"{where}: {self.name}: a list setting must be a numeric range [low, high]"
                )
            for value in setting:
                self._check_value(value, where)
            if setting[0] > setting[1]:
                raise DegradationError(f"{where}: {self.name}: range {list(setting)} has low > high")
        else:
            self._check_value(setting, where)

    def draw(self, setting: Any, rng: np.random.Generator) -> Any:
        """Draw a concrete value from a (validated) setting."""
        if isinstance(setting, dict):
            options = setting["choice"]
            return options[int(rng.integers(len(options)))]
        if isinstance(setting, list | tuple):
            low, high = setting
            if self.kind == "int":
                return int(rng.integers(int(low), int(high) + 1))
            return float(rng.uniform(low, high))
        return int(setting) if self.kind == "int" else setting


def check_image(image: np.ndarray, where: str) -> None:
    """Raise unless ``image`` is a uint8 ``H x W`` or ``H x W x 3`` array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise DegradationError(
            f"{where}: expected a uint8 numpy image, got {getattr(image, 'dtype', type(image))}"
        )
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise DegradationError(f"{where}: expected H x W or H x W x 3, got shape {image.shape}")


class Operation:
    """Base class of a named, seeded degradation.

    Subclasses set the class attributes and implement :meth:`_apply`.

    Parameters
    ----------
    **settings
        Settings overriding the defaults of :attr:`params` (validated here).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    structural: ClassVar[bool] = False  # returns a mask of damaged pixels
    uses_seed: ClassVar[bool] = False  # draws an integer seed for a random field
    min_size: ClassVar[int] = 1  # smallest height/width it accepts
    changes_size: ClassVar[bool] = False  # its output may have another height and width than its input

    def __init__(self, **settings: Any) -> None:
        known = {param.name: param for param in self.params}
        for key in settings:
            if key not in known:
                raise DegradationError(
                    f"{self.name}: unknown parameter {key!r}"
                    + (did_you_mean(key, known) or f"; it takes {', '.join(known) or 'none'}")
                )
        self.settings = {param.name: settings.get(param.name, param.default) for param in self.params}
        for param in self.params:
            param.validate(self.settings[param.name], self.name)
        self._check_settings()

    @classmethod
    def needs_files(cls) -> bool:
        """Whether it reads files the user supplies (a ``path`` parameter: textures, masks)."""
        return any(param.kind == "path" for param in cls.params)

    def _check_settings(self) -> None:
        """Extra checks across parameters (subclasses); raise :class:`DegradationError`."""

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
        """Draw concrete parameters for an image of ``shape``.

        Parameters
        ----------
        rng : numpy.random.Generator
            The sample's generator.
        shape : tuple of int
            Shape of the image the parameters are for.

        Returns
        -------
        dict
            JSON-able parameters for :meth:`apply`.
        """
        params = {param.name: param.draw(self.settings[param.name], rng) for param in self.params}
        if self.uses_seed:
            params["seed"] = int(rng.integers(SEED_BOUND))
        return params

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply concrete parameters to a uint8 image.

        Returns
        -------
        image : numpy.ndarray
            The degraded uint8 image (same height and width unless :attr:`changes_size`).
        mask : numpy.ndarray or None
            ``uint8`` mask, 255 where structural damage was drawn; ``None`` for non-structural operations.
        """
        check_image(image, self.name)
        if min(image.shape[:2]) < self.min_size:
            raise DegradationError(
                f"{self.name}: image of {image.shape[1]}x{image.shape[0]} is too small "
                f"(needs at least {self.min_size} pixels per side)"
            )
        # a record made before a parameter existed replays with that parameter's fixed default
        defaults = {p.name: p.default for p in self.params if not isinstance(p.default, list | dict)}
        out, mask = self._apply(image, **{**defaults, **params})
        return out, mask

    def _apply(self, image: np.ndarray, **params: Any) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


OPERATIONS: dict[str, type[Operation]] = {}


def register(cls: type[Operation]) -> type[Operation]:
    """Class decorator adding an operation to :data:`OPERATIONS` under its ``name``."""
    if cls.name in OPERATIONS:
        raise ValueError(f"operation {cls.name!r} registered twice")
    OPERATIONS[cls.name] = cls
    return cls


def get_operation(name: str) -> type[Operation]:
    """Look an operation up by name, with a suggestion for near misses."""
    if name not in OPERATIONS:
        raise DegradationError(
            f"unknown degradation {name!r}{did_you_mean(name, OPERATIONS)} (see `pikfix-bench degradations list`)"
        )
    return OPERATIONS[name]


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip float values to uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def changed_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """A uint8 mask, 255 exactly where ``after`` differs from ``before`` (in any channel)."""
    changed = before != after
    return (changed if changed.ndim == 2 else changed.any(axis=2)).astype(np.uint8) * 255


def path_settings() -> frozenset[str]:
    """Names of the settings that name files or folders (``texture_dir``): their values are paths."""
    return frozenset(
        param.name for cls in OPERATIONS.values() for param in cls.params if param.kind == "path"
    )


def without_paths(value: Any, names: frozenset[str] | None = None) -> Any:
    """A copy of a spec or record with every path setting's value replaced by ``"<path>"``.

    What a path holds enters a dataset's content hash by the files' sha256 (the recipe's ``files``),
    so the same textures in another folder give the same hash. ``names`` defaults to :func:`path_settings`.
    """
    names = path_settings() if names is None else names
    if isinstance(value, dict):
        return {key: "<path>" if key in names else without_paths(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [without_paths(item, names) for item in value]
    return value


def path_values(value: Any, names: frozenset[str] | None = None) -> set[str]:
    """Every path a spec's settings name (``names`` defaults to :func:`path_settings`)."""
    names, found = path_settings() if names is None else names, set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in names and isinstance(item, str):
                found.add(item)
            else:
                found |= path_values(item, names)
    elif isinstance(value, list):
        for item in value:
            found |= path_values(item, names)
    return found
