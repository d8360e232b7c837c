"""Pipelines: ordered, probabilistic, optionally shuffled compositions of operations.

A pipeline is described by a plain dict (or a YAML file of the same shape)::

    name: my-damage
    steps:
      - op: gaussian_blur          # an operation, with settings for its parameters
        p: 0.7                     # probability of applying it (default 1)
        sigma: [1, 5]
      - one_of:                    # exactly one of these, chosen uniformly
          - {op: gaussian_noise, sigma: [5, 50]}
          - {op: speckle_noise}
        p: 0.7
      - shuffle:                   # these, in a random order
          - {op: jpeg, quality: [40, 100]}
          - {op: resolution, scale: [0.5, 1.0]}
      - preset: wan2020            # the steps of a preset that keeps the size (severity, texture_dir)

Running a pipeline on an image with a generator gives a :class:`DegradationResult`
whose ``record`` lists every operation in the order it was considered, whether it
was applied and with which parameters; :func:`replay` re-applies a record.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from pikfix_bench.degradations.base import DegradationError, Operation, check_image, get_operation
from pikfix_bench.degradations.severity import severity_settings


@dataclass
class DegradationResult:
    """A degraded image with its mask and the record that reproduces it.

    Attributes
    ----------
    image : numpy.ndarray
        uint8 ``H x W`` or ``H x W x 3``.
    mask : numpy.ndarray or None
        uint8 ``H x W``, 255 where structural damage was drawn; ``None`` when the pipeline has no
        structural operation.
    record : dict
        JSON-able: pipeline name and spec, seed, sample id and the steps (see ``docs/formats.md``).
    """

    image: np.ndarray
    mask: np.ndarray | None
    record: dict[str, Any]

    @property
    def params(self) -> list[dict[str, Any]]:
        """The steps of :attr:`record`: ``{"op", "applied", "params"}`` per operation considered."""
        return self.record["steps"]


class _Node:
    """A pipeline element: an operation, a one-of choice or a shuffled group.

    Every node is made by :func:`_parse`, which gives each field (``p`` defaults to 1 there).
    """

    probability: float

    def run(self, image, rng, steps, masks):  # pragma: no cover - interface
        raise NotImplementedError

    def structural(self) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def min_size(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class _OpNode(_Node):
    operation: Operation
    probability: float
    ground_truth_too: bool  # the ground truth takes the step too, with the same draw

    def run(self, image, rng, steps, masks):
        applied = bool(rng.random() < self.probability)
        if not applied:
            steps.append({"op": self.operation.name, "applied": False})
            return image
        params = self.operation.sample(rng, image.shape)
        step = {"op": self.operation.name, "applied": True, "params": params}
        steps.append({**step, "ground_truth_too": True} if self.ground_truth_too else step)
        return apply_step(self.operation, image, params, masks)

    def structural(self) -> bool:
        return self.operation.structural

    def min_size(self) -> int:
        return self.operation.min_size


@dataclass
class _GroupNode(_Node):
    """A node made of other nodes."""

    children: list[_Node]
    probability: float

    def structural(self) -> bool:
        return any(child.structural() for child in self.children)

    def min_size(self) -> int:
        return max(child.min_size() for child in self.children)


class _OneOfNode(_GroupNode):
    def run(self, image, rng, steps, masks):
        if rng.random() >= self.probability:
            return image
        return self.children[int(rng.integers(len(self.children)))].run(image, rng, steps, masks)


class _ShuffleNode(_GroupNode):
    def run(self, image, rng, steps, masks):
        if rng.random() >= self.probability:
            return image
        for index in rng.permutation(len(self.children)):
            image = self.children[int(index)].run(image, rng, steps, masks)
        return image


class _SequenceNode(_GroupNode):
    """The steps of a preset, included in a pipeline file (``{preset: NAME}``)."""

    def run(self, image, rng, steps, masks):
        if rng.random() >= self.probability:
            return image
        for child in self.children:
            image = child.run(image, rng, steps, masks)
        return image


def _probability(spec: dict, where: str) -> float:
    value = spec.get("p", 1.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise DegradationError(f"{where}: p must be a number in [0, 1], got {value!r}")
    return float(value)


def _parse(spec: Any, where: str) -> _Node:
    if not isinstance(spec, dict):
        raise DegradationError(
            f"{where}: a step must be a mapping with 'op', 'one_of', 'shuffle' or 'preset', got {spec!r}"
        )
    kinds = [key for key in ("op", "one_of", "shuffle", "preset") if key in spec]
    if len(kinds) != 1:
        raise DegradationError(
            f"{where}: a step needs exactly one of 'op', 'one_of', 'shuffle', 'preset' (got {sorted(spec)})"
        )
    probability = _probability(spec, where)
    if kinds[0] == "preset":
        return _SequenceNode(_preset_steps(spec, where), probability)
    if kinds[0] == "op":
        settings = {
            key: value
            for key, value in spec.items()
            if key not in ("op", "p", "severity", "ground_truth_too")
        }
        operation = get_operation(spec["op"])
        paired = spec.get("ground_truth_too", False)
        if not isinstance(paired, bool):
            raise DegradationError(f"{where}: ground_truth_too must be true or false, got {paired!r}")
        try:
            if "severity" in spec:  # the severity row, then the step's own settings
                settings = {**severity_settings(operation.name, spec["severity"]), **settings}
            return _OpNode(operation(**settings), probability, paired)
        except DegradationError as exc:
            raise DegradationError(f"{where}: {exc}") from None
    extra = set(spec) - {kinds[0], "p"}
    children = spec[kinds[0]]
    if extra or not isinstance(children, list) or not children:
        raise DegradationError(f"{where}: '{kinds[0]}' takes a non-empty list of steps and optionally 'p'")
    nodes = [_parse(child, f"{where}.{kinds[0]}[{index}]") for index, child in enumerate(children)]
    return (_OneOfNode if kinds[0] == "one_of" else _ShuffleNode)(nodes, probability)


def _preset_steps(spec: dict, where: str) -> list[_Node]:
    """The steps of ``{preset: NAME, severity: k, texture_dir: DIR}`` (a preset that keeps the size)."""
    from pikfix_bench.degradations.presets import build_pipeline  # presets are built from this module

    extra = set(spec) - {"preset", "p", "severity", "texture_dir"}
    if extra:
        raise DegradationError(
            f"{where}: a preset step takes severity, texture_dir and p, not {sorted(extra)}"
        )
    try:
        included = build_pipeline(
            spec["preset"], severity=spec.get("severity"), texture_dir=spec.get("texture_dir")
        )
    except DegradationError as exc:
        raise DegradationError(f"{where}: {exc}") from None
    if included.geometry != Geometry():
        raise DegradationError(
            f"{where}: preset {included.name} changes sizes (geometry); use it as the whole pipeline"
        )
    return included._steps


def sample_generator(seed: int, sample_id: str) -> np.random.Generator:
    """The generator of one sample: ``SeedSequence([seed, *sha256(sample_id) as 8 uint32 words])``.

    It depends only on the global seed and the sample's id, never on the order in which samples
    are processed, the number of workers, or which other samples exist.
    """
    digest = hashlib.sha256(str(sample_id).encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def apply_step(operation, image: np.ndarray, params: dict[str, Any], masks: list[np.ndarray]) -> np.ndarray:
    """Apply one operation; masks drawn before it follow a change of size (nearest neighbour)."""
    out, mask = operation.apply(image, params)
    if out.shape[:2] != image.shape[:2]:
        size = (out.shape[1], out.shape[0])
        masks[:] = [cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in masks]
    if mask is not None:
        masks.append(mask)
    return out


@dataclass(frozen=True)
class Geometry:
    """How a pipeline's sizes relate to the dataset's (``geometry`` in a spec).

    Attributes
    ----------
    source_scale : int
        The steps start from a source this many times the dataset's size (Pik-Fix's offline data: 4).
    ground_truth : Pipeline or None
        Deterministic steps that make the ground truth from that source.
    input_downscale : int
        The steps end at the ground truth's size // this (Real-ESRGAN: 4; a super-resolution input).
    crop_after_damage : bool
        The steps damage the whole picture, and input and ground truth are cropped afterwards at one
        random position (Pik-Fix's online training data: ``RandomCrop(256)`` after ``CrackGenerator``).
    """

    source_scale: int = 1
    ground_truth: Pipeline | None = None
    input_downscale: int = 1
    crop_after_damage: bool = False

    @classmethod
    def parse(cls, spec: Any, name: str) -> Geometry:
        """Validate ``{source_scale: k, ground_truth: [steps], input_downscale: d, crop_after_damage: b}``
        (all optional)."""
        if spec is None:
            return cls()
        keys = {"source_scale", "ground_truth", "input_downscale", "crop_after_damage"}
        if not isinstance(spec, dict) or set(spec) - keys:
            raise DegradationError(f"{name}: geometry takes {', '.join(sorted(keys))}")
        for key in ("source_scale", "input_downscale"):
            value = spec.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
                raise DegradationError(f"{name}: geometry.{key} must be a whole number 1..16, got {value!r}")
        crop = spec.get("crop_after_damage", False)
        if not isinstance(crop, bool):
            raise DegradationError(f"{name}: geometry.crop_after_damage must be true or false, got {crop!r}")
        if crop and (spec.get("source_scale", 1) != 1 or spec.get("input_downscale", 1) != 1):
            raise DegradationError(
                f"{name}: geometry.crop_after_damage keeps the size: no source_scale or input_downscale"
            )
        steps = spec.get("ground_truth")
        return cls(
            spec.get("source_scale", 1),
            None if steps is None else Pipeline({"name": f"{name}.ground_truth", "steps": steps}),
            spec.get("input_downscale", 1),
            crop,
        )

    def input_shape(self, ground_truth_shape: tuple[int, ...]) -> tuple[int, int]:
        """Height and width the steps must end at for a ground truth of this shape."""
        return ground_truth_shape[0] // self.input_downscale, ground_truth_shape[1] // self.input_downscale


class Pipeline:
    """A validated pipeline built from a spec (see the module docstring).

    Parameters
    ----------
    spec : dict
        ``{"name": str (optional), "description": str (optional), "steps": [...], "geometry": {...} (optional)}``.
        ``geometry`` (:class:`Geometry`) tells dataset building that the steps start from a source larger
        than the ground truth (the Pik-Fix offline data), or end smaller than it (Real-ESRGAN).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list):
            raise DegradationError("a pipeline spec must be a mapping with a 'steps' list")
        unknown = set(spec) - {"name", "description", "steps", "geometry"}
        if unknown:
            raise DegradationError(
                f"pipeline spec: unknown keys {sorted(unknown)} (allowed: name, description, steps, geometry)"
            )
        self.spec = copy.deepcopy(spec)
        self.name = str(spec.get("name", "custom"))
        self._steps = [
            _parse(step, f"{self.name}.steps[{index}]") for index, step in enumerate(spec["steps"])
        ]
        self.geometry = Geometry.parse(spec.get("geometry"), self.name)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Pipeline:
        """Load a pipeline from a YAML (or JSON) file."""
        path = Path(path)
        try:
            spec = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise DegradationError(f"{path}: cannot read pipeline file ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise DegradationError(f"{path}: not valid YAML ({exc})") from None
        spec = spec if isinstance(spec, dict) else {"steps": spec}
        spec.setdefault("name", path.stem)
        try:
            return cls(spec)
        except DegradationError as exc:
            raise DegradationError(f"{path}: {exc}") from None

    @property
    def structural(self) -> bool:
        """Whether any operation of the pipeline draws structural damage (and so gives a mask)."""
        return any(step.structural() for step in self._steps)

    @property
    def min_size(self) -> int:
        """Smallest image side every operation of the pipeline accepts."""
        return max((step.min_size() for step in self._steps), default=1)

    def run(
        self, image: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None, list[dict]]:
        """Apply the pipeline with ``rng``; returns the image, the union mask and the step records."""
        check_image(image, self.name)
        if min(image.shape[:2]) < self.min_size:
            raise DegradationError(
                f"{self.name}: image of {image.shape[1]}x{image.shape[0]} is too small "
                f"(this pipeline needs at least {self.min_size} pixels per side)"
            )
        steps: list[dict] = []
        masks: list[np.ndarray] = []
        for node in self._steps:
            image = node.run(image, rng, steps, masks)
        return image, _union(masks, image.shape[:2]) if self.structural else None, steps


def _union(masks: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The union of the operations' soft masks: the largest alpha at each pixel (all zero when none drew)."""
    union = np.zeros(shape, np.uint8)
    for mask in masks:
        np.maximum(union, mask, out=union)
    return union


def paired_ground_truth(ground_truth: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """The ground truth after the recorded steps marked ``ground_truth_too`` (Wan et al. gray both images
    with p = 0.1), kept RGB: a gray result is replicated to three channels, as their ``convert("RGB")``."""
    for step in record["steps"]:
        if step.get("ground_truth_too") and step["applied"]:
            cls = get_operation(step["op"])
            names = {param.name for param in cls.params}
            ground_truth, _ = cls(**{k: v for k, v in step["params"].items() if k in names}).apply(
                ground_truth, step["params"]
            )
    return ground_truth if ground_truth.ndim == 3 else np.repeat(ground_truth[..., None], 3, axis=2)


def degrade(
    image: np.ndarray,
    pipeline: Pipeline | str | dict[str, Any],
    *,
    seed: int = 0,
    sample_id: str = "0",
    severity: int | None = None,
    texture_dir: str | Path | None = None,
) -> DegradationResult:
    """Degrade one image reproducibly.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 RGB (``H x W x 3``) or grayscale (``H x W``).
    pipeline : Pipeline, str or dict
        A pipeline, a preset name (see :data:`pikfix_bench.degradations.PRESETS`) or a spec.
    seed : int
        Global seed of the dataset or run.
    sample_id : str
        Identity of the sample; with ``seed`` it fixes the damage (see :func:`sample_generator`).
    severity : int, optional
        1..5 for presets with severities (``oldphoto``).
    texture_dir : str or Path, optional
        Folder in the paper's ``texture2/`` layout, for presets that can use it.

    Returns
    -------
    DegradationResult
        The image, the mask and the record.
    """
    from pikfix_bench.degradations.presets import build_pipeline

    if not isinstance(pipeline, Pipeline):
        pipeline = build_pipeline(pipeline, severity=severity, texture_dir=texture_dir)
    out, mask, steps = pipeline.run(image, sample_generator(seed, sample_id))
    record = {
        "pipeline": pipeline.name,
        "spec": pipeline.spec,
        "seed": int(seed),
        "sample_id": str(sample_id),
        "steps": steps,
    }
    return DegradationResult(out, mask, record)


def replay(image: np.ndarray, record: dict[str, Any]) -> DegradationResult:
    """Re-apply a recorded degradation to the same source image, giving the same bytes.

    Parameters
    ----------
    image : numpy.ndarray
        The source image the record was made from.
    record : dict
        :attr:`DegradationResult.record` (for example read back from JSON), or the record a dataset
        stores for a sample (``Sample.record``, which leaves out the spec).

    Returns
    -------
    DegradationResult
        Identical to the original result.
    """
    masks: list[np.ndarray] = []
    for step in record["steps"]:
        if not step["applied"]:
            continue
        cls = get_operation(step["op"])
        names = {param.name for param in cls.params}
        operation = cls(**{key: value for key, value in step["params"].items() if key in names})
        image = apply_step(operation, image, step["params"], masks)
    if "spec" in record:
        structural = Pipeline(record["spec"]).structural
    else:  # a dataset's stored record (no spec): structural if any recorded step is
        structural = any(get_operation(step["op"]).structural for step in record["steps"])
    return DegradationResult(
        image, _union(masks, image.shape[:2]) if structural else None, copy.deepcopy(record)
    )
