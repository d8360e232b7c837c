"""Finding and reading evaluation run directories for tables and figures.

A run is read, not trusted: its per-image rows are validated
(:meth:`~pikfix_bench.evaluation.rundir.RunDirectory.scored_rows`) and its summary is computed
again from the rows that passed, so a torn or edited ``per_image.csv`` cannot reach a table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.rundir import RUN_FILE, SUMMARY_FILE, RunDirectory
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

    @property
    def model(self) -> str:
        """Model name as the run recorded it."""
        return self.info["model"]["name"]

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


def load_run(path: str | Path) -> Run:
    """Read one run directory (``run.json``, ``summary.json``, ``per_image.csv``)."""
    directory = RunDirectory(path)
    if not directory.is_finished():
        raise PikfixError(f"{directory.path}: not a finished run (needs {RUN_FILE} and {SUMMARY_FILE})")
    info = directory.read_run()
    rows, problems = directory.scored_rows()
    rows = rows.sort_values("sample_id", kind="stable", ignore_index=True)  # as the run's own summary
    failed = len(directory.errors())
    samples = info["dataset"].get("samples", len(rows) + failed)
    return Run(directory.path, info, summarize_rows(rows, failed, samples), rows, problems)


def find_runs(paths: list[str | Path]) -> list[Run]:
    """Runs at the given paths: run directories themselves, or folders searched recursively for them."""
    runs = []
    for path in map(Path, paths):
        if not path.exists():
            raise PikfixError(f"{path}: no such run directory or folder")
        if (path / RUN_FILE).is_file():
            runs.append(load_run(path))
            continue
        found = sorted(p.parent for p in path.rglob(RUN_FILE) if RunDirectory(p.parent).is_finished())
        runs += [load_run(p) for p in found]
    if not runs:
        raise PikfixError("no finished runs found in " + ", ".join(map(str, paths)))
    return runs
