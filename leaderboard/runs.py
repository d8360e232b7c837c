"""Finding and reading evaluation run directories for tables and figures.

A run is read, not trusted: its ``run.json`` is checked against its schema, its per-image rows are
validated (:meth:`~pikfix_bench.evaluation.rundir.RunDirectory.scored_rows`), against the sample ids
of its dataset when that can be found, and its summary is computed again from the rows that passed, so
a torn or edited ``per_image.csv`` cannot reach a table. A run that cannot be read at all is left out
of a search with a warning that names it, so one broken directory does not hide the others (nor
stands, as the newest re-run, in a good run's place): a ``per_image.csv`` that is missing, a
``run.json``, ``per_image.csv`` or ``errors.csv`` that is a folder, FIFO or device (``/dev/zero``) or
too large, is such a run. Each warning is one line: control characters of a run's path are escaped.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError, PikfixWarning
from pikfix_bench.evaluation.run_record import model_setup
from pikfix_bench.evaluation.rundir import ERRORS_FILE, PER_IMAGE_FILE, RUN_FILE, SUMMARY_FILE, RunDirectory
from pikfix_bench.evaluation.statistics import summarize_rows


@dataclass(frozen=True)
class ColumnKey:
    """What makes results comparable: the same dataset content under the same metric profile."""

    dataset: str
    version: str
    content_hash: str
    profile: str
    profile_hash: str

    @property
    def label(self) -> str:
        """Human-readable column-group label."""
        return f"{self.dataset} v{self.version} [{self.content_hash[:8]}] · {self.profile}"


@dataclass
class Run:
    """One finished (or partial) evaluation run."""

    path: Path
    info: dict[str, Any]
    summary: dict[str, Any]
    per_image: pd.DataFrame
    problems: list[str] = field(default_factory=list)  # rows of per_image.csv left out, and why
    ids_checked: bool = False  # whether rows were checked against the sample ids of the run's dataset

    @property
    def model(self) -> str:
        """Model name as the run recorded it."""
        return self.info["model"]["name"]

    @property
    def name(self) -> str:
        """The run's name in tables: its label, else the model with the options that differ from their
        defaults (``welsh (samples=5)``)."""
        return setup_name(self.info)

    @property
    def setup(self) -> str:
        """What makes runs one row: the label, else the model, its effective options and weights hashes
        (:func:`~pikfix_bench.evaluation.run_record.model_setup`). Runs of one setup are re-runs."""
        if "label" in self.info:
            return json.dumps({"label": self.info["label"]})
        return json.dumps({"setup": model_setup(self.info["model"])}, sort_keys=True)

    @property
    def key(self) -> ColumnKey:
        """The column group this run belongs to."""
        dataset, profile = self.info["dataset"], self.info["profile"]
        profile_hash = hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()[:12]
        return ColumnKey(
            dataset["name"], dataset["version"], dataset["content_hash"], profile["name"], profile_hash
        )

    @property
    def finished(self) -> str:
        """When the run finished (empty when it never did)."""
        return self.info.get("finished", "")

    @property
    def samples(self) -> int:
        """Samples in the run's dataset (runs of older versions: scored plus failed)."""
        return int(self.summary["samples"])

    @property
    def run_id(self) -> str:
        """The run directory's name, as a short id in tables."""
        return self.path.name

    @property
    def rescored(self) -> bool:
        """Whether ``rescore`` made this run from a bundle (whatever it found)."""
        return "rescored_from" in self.info

    @property
    def verified(self) -> bool:
        """Whether ``rescore`` re-derived every number of this run from its bundle's outputs, and they agreed."""
        return self.rescored and self.info["rescored_from"]["agrees"] is True


def _shown(value: Any, longest: int = 32) -> str:
    """An option's value as a row name shows it: a path by its last part, long text shortened."""
    text = str(value)
    if "/" in text and " " not in text:  # a path (command templates have spaces and stay whole)
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return text if len(text) <= longest else text[: longest - 1] + "…"


def setup_name(info: dict[str, Any]) -> str:
    """A run record's name in tables: ``label``, else the model and the options that differ from their
    defaults (a record of an older version: the options it was given).

    Parameters
    ----------
    info : dict
        ``run.json``, checked by its schema.

    Returns
    -------
    str
        ``welsh``, ``welsh (samples=5)``, ``pix2pix (weights=latest_net_G.pth)`` or the label.
    """
    if "label" in info:
        return info["label"]
    model = info["model"]
    options = model.get("options") or {}
    if "defaults" in model:
        options = {key: value for key, value in options.items() if model["defaults"].get(key) != value}
    if not options:
        return model["name"]
    return (
        f"{model['name']} ({', '.join(f'{key}={_shown(value)}' for key, value in sorted(options.items()))})"
    )


class DatasetIndex:
    """The datasets whose sample ids runs are checked against: those given, and those the runs name.

    A run records the dataset it scored (``dataset_path`` in ``run.json``); that dataset is used when
    it still opens and has the run's content hash. Each named path is opened once.

    Parameters
    ----------
    given : iterable of Dataset
        Datasets given by the user (``--dataset``), matched to runs by content hash.
    """

    def __init__(self, given: Iterable[Dataset] = ()) -> None:
        self._by_hash = {dataset.content_hash: dataset for dataset in given}
        self._tried: set[str] = set()

    def ids(self, info: dict[str, Any]) -> set[str] | None:
        """The sample ids of the dataset a run record names, or ``None`` when it cannot be found."""
        content_hash, path = info["dataset"]["content_hash"], info.get("dataset_path")
        if content_hash not in self._by_hash and path and path not in self._tried:
            self._tried.add(path)
            try:
                dataset = Dataset(path)
            except PikfixError:  # moved, deleted or broken: ids stay unchecked and the table says so
                return None
            self._by_hash.setdefault(dataset.content_hash, dataset)
        dataset = self._by_hash.get(content_hash)
        return None if dataset is None else set(dataset.ids)


def _is_candidate(directory: Path) -> bool:
    """Whether a folder holding ``run.json`` is read as a run: a finished one, or one whose ``run.json``
    is a link, FIFO, folder or device (named, not skipped). A run that only started (no
    ``summary.json``) is skipped."""
    run_file = directory / RUN_FILE
    return os.path.lexists(directory / SUMMARY_FILE) or run_file.is_symlink() or not run_file.is_file()


def one_line(text: str) -> str:
    """``text`` with control, invisible and line-separating characters escaped (``\\n``, ``\\x1b``,
    ``\\u202e``), so that a run path cannot break or forge a line of a warning or a table note."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")
        else char
        for char in text
    )


def load_run(path: str | Path, datasets: DatasetIndex | None = None) -> Run:
    """Read one run directory (``run.json``, ``summary.json``, ``per_image.csv``, ``errors.csv``).

    Parameters
    ----------
    path : str or Path
        The run directory.
    datasets : DatasetIndex, optional
        Where to find the run's dataset (default: only where the run says it is). When it is found,
        rows of sample ids it lacks are left out and its size is the run's number of samples.

    Returns
    -------
    Run
        The run, its summary computed again from the rows that can be trusted.

    Raises
    ------
    PikfixError
        When the run is not finished or one of its files cannot be read: ``per_image.csv`` missing, or
        a file that is a link, not a regular file, or too large.
    """
    directory = RunDirectory(path)
    if not directory.is_finished():
        raise PikfixError(f"{directory.path}: not a finished run (needs {RUN_FILE} and {SUMMARY_FILE})")
    if not os.path.lexists(directory.path / PER_IMAGE_FILE):  # a finished run wrote its header at least
        raise PikfixError(f"{directory.path / PER_IMAGE_FILE}: missing, though the run finished")
    # Each file is read as a regular file within its size limit, never through a link: a FIFO, a
    # device or a link is one PikfixError from its reader (pikfix_bench.safe_paths.read_regular).
    info = directory.read_run()
    known = (datasets or DatasetIndex()).ids(info)
    try:
        rows, problems = directory.scored_rows(known_ids=known)
    except OSError as exc:
        raise PikfixError(
            f"{directory.path / PER_IMAGE_FILE}: cannot be read ({exc.strerror or exc})"
        ) from None
    try:
        failed = len(directory.errors())
    except (OSError, ValueError) as exc:  # pandas' parser and decoding errors are ValueErrors
        raise PikfixError(f"{directory.path / ERRORS_FILE}: cannot be read as CSV ({exc})") from None
    rows = rows.sort_values("sample_id", kind="stable", ignore_index=True)  # as the run's own summary
    samples = info["dataset"]["samples"] if known is None else len(known)
    summary = summarize_rows(rows, failed, samples)
    return Run(directory.path, info, summary, rows, problems, ids_checked=known is not None)


def find_runs(
    paths: list[str | Path], datasets: Iterable[Dataset] = (), left_out: list[str] | None = None
) -> list[Run]:
    """Runs at the given paths: run directories themselves, or folders searched recursively for them.

    A run that cannot be read (an unfinished run given by name, a ``run.json`` that is not JSON or
    does not fit its schema, a missing or unreadable ``per_image.csv``, an unreadable ``errors.csv``,
    any of them a folder, FIFO, device or too large) is left out, with a line naming it and the
    problem (:func:`one_line`: its control characters escaped). A run that only started (no
    ``summary.json``) is skipped in a search.

    Parameters
    ----------
    paths : list of str or Path
        Run directories or folders of them.
    datasets : iterable of Dataset
        Datasets to check the runs' sample ids against (matched by content hash); a run whose dataset
        is not among them is checked against the dataset it names, when that still exists.
    left_out : list of str, optional
        Receives one line per run left out (default: each is a :class:`PikfixWarning`).

    Returns
    -------
    list of Run
        The runs that could be read.

    Raises
    ------
    PikfixError
        When a path does not exist, or no run could be read (the message says why each was left out).
    """
    index = DatasetIndex(datasets)
    runs, problems = [], []
    for path in map(Path, paths):
        if not path.exists():
            raise PikfixError(f"{path}: no such run directory or folder")
        if (path / RUN_FILE).is_file():
            found = [path]
        else:
            found = sorted(p.parent for p in path.rglob(RUN_FILE) if _is_candidate(p.parent))
        for run_path in found:
            try:
                runs.append(load_run(run_path, index))
            except PikfixError as exc:
                problems.append(one_line(f"run {run_path} left out: {exc}"))
    if not runs:
        raise PikfixError(
            one_line("no finished runs found in " + ", ".join(map(str, paths)))
            + "".join(f"; {m}" for m in problems)
        )
    if left_out is None:
        for problem in problems:
            warnings.warn(problem, PikfixWarning, stacklevel=2)
    else:
        left_out += problems
    return runs
