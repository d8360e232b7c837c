"""A pairwise preference study's design: which sample and which two runs each trial shows, and ``study.json``.

``create_study`` reads runs saved with ``--save-outputs`` on one dataset, copies the images raters will
see into ``STUDY/images/`` (re-encoded as PNG, so only pixels leave a run), and writes ``study.json``:
the runs by label with the sha256 of their ``run.json`` and outputs, the dataset's identity, the design
and the sha256 of every image. The study's identity (``study_id``) is the sha256 of all of that but the
creation time and paths, so it changes exactly when the runs, the dataset or the design do.

The design is a list of blocks of ``trials_per_rater`` trials; each rater is given one block. Trial
``t`` of the concatenated blocks compares pair ``t mod P`` on sample ``(t div P + t mod P) mod S``
(pairs and samples in a seeded order), so every (pair, sample) combination appears once per ``P * S``
trials: the blocks together are balanced over pairs and samples, and so is each block as far as its
length allows. Within a block the order is shuffled, left and right are drawn per trial, and gold
trials (the ground truth against a heavily degraded copy of it, ``oldphoto`` at severity 5) are put in
at random places to screen raters. See ``docs/study.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pikfix_bench import __version__
from pikfix_bench.errors import PikfixError, PikfixWarning
from pikfix_bench.hashing import file_sha256
from pikfix_bench.image_io import read_image, write_png
from pikfix_bench.json_io import write_json
from pikfix_bench.safe_paths import path_inside
from pikfix_bench.schema import SHA256_HEX, read_json_record

STUDY_FILE, IMAGES_DIR, FORMAT = "study.json", "images", 1
# The two sides of a gold trial, as the design, the database and imported CSV files name them; a run
# may not carry either label.
GOLD_CLEAN, GOLD_DEGRADED = "gold:clean", "gold:degraded"
GOLD_LABELS = (GOLD_CLEAN, GOLD_DEGRADED)
GOLD_PRESET, GOLD_SEVERITY = "oldphoto", 5

_LABEL = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\x00-\\x1f\\x7f]+$"}
_ID = {"type": "string", "minLength": 1}
STUDY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "study.json",
    "type": "object",
    "required": [
        "format",
        "study_id",
        "created",
        "dataset",
        "runs",
        "samples",
        "show_reference",
        "allow_tie",
        "design",
        "images",
    ],
    "properties": {
        "format": {"const": FORMAT},
        "study_id": SHA256_HEX,
        "toolkit": {"type": "string"},
        "created": {"type": "string"},
        "dataset": {
            "type": "object",
            "required": ["name", "version", "content_hash", "samples"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "content_hash": SHA256_HEX,
                "samples": {"type": "integer", "minimum": 0},
            },
        },
        "runs": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["label", "model", "run_sha256", "outputs_sha256"],
                "properties": {
                    "label": _LABEL,
                    "model": {"type": "string"},
                    "run_sha256": SHA256_HEX,
                    "outputs_sha256": SHA256_HEX,
                    "path": {"type": "string"},
                },
            },
        },
        "samples": {"type": "array", "minItems": 1, "items": _ID},
        "show_reference": {"type": "boolean"},
        "allow_tie": {"type": "boolean"},
        "design": {
            "type": "object",
            "required": ["seed", "trials_per_rater", "gold_per_rater", "blocks"],
            "properties": {
                "seed": {"type": "integer", "minimum": 0},
                "trials_per_rater": {"type": "integer", "minimum": 1},
                "gold_per_rater": {"type": "integer", "minimum": 0},
                "blocks": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["id", "sample", "left", "right"],
                            "additionalProperties": False,
                            "properties": {
                                "id": {"type": "string", "pattern": "^b[0-9]+-[0-9]+$"},
                                "sample": _ID,
                                "left": _LABEL,
                                "right": _LABEL,
                            },
                        },
                    },
                },
            },
        },
        "images": {"type": "object", "additionalProperties": SHA256_HEX},
    },
}


def run_label(info: dict[str, Any]) -> str:
    """A run's name in a study: the one the leaderboard gives its row.

    The run's ``label`` when it has one, else the model with the options that differ from their
    defaults (:func:`pikfix_bench.leaderboard.runs.setup_name`). This is the one place a study
    names runs, so that a preference column lands on the right leaderboard row.

    Parameters
    ----------
    info : dict
        ``run.json``, checked by its schema (:meth:`RunDirectory.read_run`).

    Returns
    -------
    str
        The label.
    """
    from pikfix_bench.leaderboard.runs import setup_name

    return setup_name(info)


@dataclass(frozen=True)
class Trial:
    """One trial of the design: a sample and the two labels shown left and right."""

    id: str
    sample: str
    left: str
    right: str

    @property
    def gold(self) -> bool:
        """Whether this is a gold trial (ground truth against a degraded copy)."""
        return self.left in GOLD_LABELS


@dataclass
class Study:
    """A study folder read back: its record, checked, and where its files are.

    Parameters
    ----------
    path : Path
        The study folder.
    record : dict
        ``study.json``, checked against :data:`STUDY_SCHEMA` and its ``study_id`` recomputed.
    """

    path: Path
    record: dict[str, Any]

    @property
    def study_id(self) -> str:
        """The study's identity (sha256 hex)."""
        return self.record["study_id"]

    @property
    def labels(self) -> list[str]:
        """The runs' labels, in the study's order."""
        return [run["label"] for run in self.record["runs"]]

    @property
    def samples(self) -> list[str]:
        """The sample ids trials may show."""
        return self.record["samples"]

    @property
    def blocks(self) -> list[list[Trial]]:
        """The design: one block of trials per rater (rater ``k`` gets block ``k mod len(blocks)``)."""
        return [[Trial(**trial) for trial in block] for block in self.record["design"]["blocks"]]

    @property
    def trials(self) -> dict[str, Trial]:
        """Every trial of the design by id."""
        return {trial.id: trial for block in self.blocks for trial in block}

    def image(self, kind: str, sample: str) -> Path:
        """The file of one picture a trial shows, refused unless ``study.json`` lists it.

        Parameters
        ----------
        kind : str
            ``input``, ``ref``, a run label, or a gold side (:data:`GOLD_LABELS`).
        sample : str
            The sample id.

        Returns
        -------
        Path
            A path inside ``STUDY/images/`` (built by :func:`~pikfix_bench.safe_paths.path_inside`).
        """
        name = image_name(self.labels, kind, sample)
        if name not in self.record["images"]:
            raise PikfixError(f"{self.path / STUDY_FILE}: lists no image {name}")
        return path_inside(self.path / IMAGES_DIR, name, what="study image")


def image_name(labels: list[str], kind: str, sample: str) -> str:
    """The name, relative to ``STUDY/images/``, of one picture (runs by their index, not their label)."""
    folder = {"input": "input", "ref": "ref", GOLD_CLEAN: "gt", GOLD_DEGRADED: "degraded"}.get(kind)
    if folder is None:
        folder = f"run{labels.index(kind)}"
    return f"{folder}/{sample}.png"


def study_identity(record: dict[str, Any]) -> str:
    """The sha256 of what a study is: runs, dataset, samples, settings, design and images (not time or paths)."""
    core = {
        "format": record["format"],
        "dataset": record["dataset"],
        "runs": [
            {key: run[key] for key in ("label", "model", "run_sha256", "outputs_sha256")}
            for run in record["runs"]
        ],
        "samples": record["samples"],
        "show_reference": record["show_reference"],
        "allow_tie": record["allow_tie"],
        "design": record["design"],
        "images": record["images"],
    }
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_study(path: str | Path) -> Study:
    """Open a study folder: ``study.json`` checked by its schema, its identity and its design's names.

    Parameters
    ----------
    path : str or Path
        The study folder.

    Returns
    -------
    Study
        The study.

    Raises
    ------
    PikfixError
        When ``study.json`` is missing, does not fit, was edited after it was made, or its design names
        a run or sample the study does not have.
    """
    path = Path(path)
    source = path / STUDY_FILE
    if not source.is_file():
        raise PikfixError(f"{path}: not a study (no {STUDY_FILE}; make one with `pikfix-bench study create`)")
    record = read_json_record(source, STUDY_SCHEMA)
    if study_identity(record) != record["study_id"]:
        raise PikfixError(f"{source}: study_id does not match its contents (edited after it was made)")
    labels = [run["label"] for run in record["runs"]]
    if len(set(labels)) != len(labels) or set(labels) & set(GOLD_LABELS):
        raise PikfixError(f"{source}: run labels must be distinct and not {' or '.join(GOLD_LABELS)}")
    samples, known = set(record["samples"]), set(labels)
    for block in record["design"]["blocks"]:
        for trial in block:
            sides = {trial["left"], trial["right"]}
            if trial["sample"] not in samples or not (sides <= known or sides == set(GOLD_LABELS)):
                raise PikfixError(f"{source}: design trial {trial['id']} names an unknown sample or run")
            if trial["left"] == trial["right"]:
                raise PikfixError(f"{source}: design trial {trial['id']} shows {trial['left']} twice")
    return Study(path, record)


def _read_runs(runs_dir: Path, dataset: Any) -> list[tuple[str, Any]]:
    """The finished runs under ``runs_dir`` on ``dataset`` with saved outputs, as ``(label, Run)``."""
    from pikfix_bench.evaluation.rundir import OUTPUTS_DIR
    from pikfix_bench.leaderboard.runs import find_runs

    left_out: list[str] = []
    found = find_runs([runs_dir], [dataset], left_out=left_out)
    for problem in left_out:
        warnings.warn(problem, PikfixWarning, stacklevel=3)
    runs = []
    for run in found:
        if run.info["dataset"]["content_hash"] != dataset.content_hash:
            warnings.warn(f"run {run.path} left out: it scored another dataset", PikfixWarning, stacklevel=3)
        elif not (run.path / OUTPUTS_DIR).is_dir():
            warnings.warn(
                f"run {run.path} left out: saved without --save-outputs", PikfixWarning, stacklevel=3
            )
        else:
            runs.append((run_label(run.info), run))
    by_label: dict[str, list[Path]] = {}
    for label, run in runs:
        by_label.setdefault(label, []).append(run.path)
    for label, paths in by_label.items():
        if len(paths) > 1:
            raise PikfixError(
                f"runs {', '.join(map(str, paths))} are all named {label!r}: keep one, or tell them apart "
                "with `evaluate --label`"
            )
        if label in GOLD_LABELS:
            raise PikfixError(f"run {paths[0]}: the label {label!r} is reserved for gold trials")
    if len(runs) < 2:
        raise PikfixError(f"{runs_dir}: a study needs at least two runs with saved outputs on this dataset")
    return sorted(runs, key=lambda item: item[0])


def _uses_reference(models: list[str]) -> bool:
    """Whether any of these models reads the reference image (exemplar-based colourization)."""
    from pikfix_bench.baselines import list_models

    registered = list_models()
    parts = [part for model in models for part in model.split("+")]
    return any(part in registered and registered[part].descriptor.uses_reference for part in parts)


def design_blocks(
    labels: list[str], samples: list[str], trials_per_rater: int, gold: int, seed: int
) -> list[list[dict[str, str]]]:
    """The design's blocks (see the module's description), seeded.

    Parameters
    ----------
    labels : list of str
        The runs' labels (at least two).
    samples : list of str
        The sample ids (at least one).
    trials_per_rater : int
        Comparisons of runs in each block.
    gold : int
        Gold trials added to each block.
    seed : int
        The seed of every random choice.

    Returns
    -------
    list of list of dict
        Blocks of trials ``{"id", "sample", "left", "right"}``.
    """
    rng = np.random.default_rng(seed)
    pairs = list(itertools.combinations(labels, 2))
    pair_order = rng.permutation(len(pairs))
    sample_order = rng.permutation(len(samples))
    combos = len(pairs) * len(samples)
    count = math.ceil(combos / trials_per_rater)
    blocks = []
    for index in range(count):
        chosen = []
        for t in range(index * trials_per_rater, (index + 1) * trials_per_rater):
            t %= combos
            pair = pairs[pair_order[t % len(pairs)]]
            chosen.append((samples[sample_order[(t // len(pairs) + t % len(pairs)) % len(samples)]], pair))
        gold_samples = rng.choice(len(samples), size=gold, replace=gold > len(samples))
        chosen += [(samples[i], GOLD_LABELS) for i in gold_samples]
        trials = []
        for position, order in enumerate(rng.permutation(len(chosen))):
            sample, (first, second) = chosen[order]
            if rng.random() < 0.5:
                first, second = second, first
            trials.append({"id": f"b{index}-{position}", "sample": sample, "left": first, "right": second})
        blocks.append(trials)
    return blocks


def create_study(
    runs_dir: str | Path,
    dataset_path: str | Path,
    out: str | Path,
    *,
    trials_per_rater: int | None = None,
    seed: int = 0,
    gold: int = 3,
    allow_tie: bool = True,
) -> Study:
    """Make a study folder from runs saved with ``--save-outputs`` on one dataset.

    Parameters
    ----------
    runs_dir : str or Path
        A run directory or a folder of them; runs of other datasets, or without outputs, are left out
        with a warning.
    dataset_path : str or Path
        The dataset the runs scored.
    out : str or Path
        The study folder (must not exist, or be empty).
    trials_per_rater : int, optional
        Run comparisons per rater (default: every pair on every sample, at most 40).
    seed : int
        Seed of the design.
    gold : int
        Gold trials per rater (0: none; none on a scan set, which has no ground truth, with a warning).
    allow_tie : bool
        Whether raters may answer "no preference".

    Returns
    -------
    Study
        The study written.
    """
    from pikfix_bench.datasets import open_dataset
    from pikfix_bench.degradations import degrade
    from pikfix_bench.evaluation.rundir import OUTPUTS_DIR, RUN_FILE

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PikfixError(f"--out {out}: exists and is not an empty folder")
    dataset = open_dataset(dataset_path)
    if gold and not dataset.ground_truth:
        warnings.warn(
            f"{dataset.path} is a scan set (no ground truth): no gold trials (they show a ground truth against a "
            "damaged copy); raters are not screened",
            PikfixWarning,
            stacklevel=2,
        )
        gold = 0
    runs = _read_runs(Path(runs_dir), dataset)
    labels = [label for label, _ in runs]
    samples = [
        sample_id
        for sample_id in dataset.ids
        if all(path_inside(run.path / OUTPUTS_DIR, sample_id, ".png").is_file() for _, run in runs)
    ]
    if not samples:
        raise PikfixError(f"{runs_dir}: no sample has an output in every run")
    if len(samples) < len(dataset.ids):
        warnings.warn(
            f"{len(dataset.ids) - len(samples)} samples left out: not every run has an output for them",
            PikfixWarning,
            stacklevel=2,
        )
    show_reference = _uses_reference([run.model for _, run in runs])
    images_dir = out / IMAGES_DIR
    images: dict[str, str] = {}

    def put(kind: str, sample_id: str, image: np.ndarray) -> None:
        name = image_name(labels, kind, sample_id)
        target = path_inside(images_dir, name, what="study image")
        write_png(target, image)
        images[name] = file_sha256(target)

    for sample in dataset.read(samples):
        put("input", sample.sample_id, sample.input)
        if show_reference and sample.ref is not None:
            put("ref", sample.sample_id, sample.ref)
        if gold:
            put(GOLD_CLEAN, sample.sample_id, sample.gt)
            damaged = degrade(
                sample.gt, GOLD_PRESET, severity=GOLD_SEVERITY, seed=seed, sample_id=sample.sample_id
            )
            put(GOLD_DEGRADED, sample.sample_id, damaged.image)
    run_records = []
    for label, run in runs:
        outputs = hashlib.sha256()
        for sample_id in samples:
            source = path_inside(run.path / OUTPUTS_DIR, sample_id, ".png")
            outputs.update(f"{sample_id}\0{file_sha256(source)}\n".encode())
            put(label, sample_id, read_image(source))
        run_records.append(
            {
                "label": label,
                "model": run.model,
                "run_sha256": file_sha256(run.path / RUN_FILE),
                "outputs_sha256": outputs.hexdigest(),
                "path": str(run.path.resolve()),
            }
        )
    if trials_per_rater is None:
        trials_per_rater = min(40, len(samples) * len(labels) * (len(labels) - 1) // 2)
    record = {
        "format": FORMAT,
        "study_id": "",
        "toolkit": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": {
            "name": dataset.manifest["name"],
            "version": dataset.manifest["version"],
            "content_hash": dataset.content_hash,
            "samples": len(dataset.ids),
        },
        "runs": run_records,
        "samples": samples,
        "show_reference": show_reference,
        "allow_tie": allow_tie,
        "design": {
            "seed": seed,
            "trials_per_rater": trials_per_rater,
            "gold_per_rater": gold,
            "blocks": design_blocks(labels, samples, trials_per_rater, gold, seed),
        },
        "images": dict(sorted(images.items())),
    }
    record["study_id"] = study_identity(record)
    write_json(out / STUDY_FILE, record)
    return read_study(out)
