"""The run directory: ``run.json``, ``per_image.csv``, ``summary.json``, ``errors.csv``, ``outputs/``.

Per-image rows are appended (and flushed) as they are scored, so an interrupted
run keeps what it did; at the end both CSV files are rewritten in sample-id
order, atomically. See ``docs/formats.md``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

from pikfix_bench.image_io import atomic_write
from pikfix_bench.json_io import read_json, write_json

RUN_FILE, PER_IMAGE_FILE, SUMMARY_FILE, ERRORS_FILE, OUTPUTS_DIR = (
    "run.json",
    "per_image.csv",
    "summary.json",
    "errors.csv",
    "outputs",
)
ERROR_COLUMNS = ["sample_id", "stage", "message"]


class RunDirectory:
    """Paths and files of one evaluation run.

    Parameters
    ----------
    path : str or Path
        The run directory (created when needed).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        """Whether a run was started here (``run.json`` exists)."""
        return (self.path / RUN_FILE).is_file()

    def is_finished(self) -> bool:
        """Whether a run finished here (``run.json`` and ``summary.json`` exist)."""
        return self.exists() and (self.path / SUMMARY_FILE).is_file()

    def read_run(self) -> dict[str, Any]:
        """The run description."""
        return read_json(self.path / RUN_FILE)

    def write_run(self, run: dict[str, Any]) -> None:
        """Write ``run.json`` atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / RUN_FILE, run)

    def per_image(self) -> pd.DataFrame:
        """The per-image table (empty when nothing was scored)."""
        path = self.path / PER_IMAGE_FILE
        if not path.is_file() or path.stat().st_size == 0:
            return pd.DataFrame()
        return pd.read_csv(path, dtype={"sample_id": str})

    def errors(self) -> pd.DataFrame:
        """The failed samples."""
        path = self.path / ERRORS_FILE
        if not path.is_file():
            return pd.DataFrame(columns=ERROR_COLUMNS)
        return pd.read_csv(path, dtype={"sample_id": str})

    def append_rows(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        """Append rows to a CSV file (writing the header first if the file is new), then flush."""
        path = self.path / name
        new = not path.is_file() or path.stat().st_size == 0
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)
            handle.flush()

    def rewrite_sorted(self, name: str) -> None:
        """Rewrite a CSV in sample-id order, atomically (the canonical form of a finished run)."""
        path = self.path / name
        if not path.is_file():
            return
        frame = pd.read_csv(path, dtype={"sample_id": str}).drop_duplicates("sample_id", keep="last")
        text = frame.sort_values("sample_id", kind="stable").to_csv(index=False, float_format="%.17g")
        atomic_write(path, lambda tmp: tmp.write_text(text))

    def read_summary(self) -> dict[str, Any]:
        """The summary of a finished run."""
        return read_json(self.path / SUMMARY_FILE)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically."""
        write_json(self.path / SUMMARY_FILE, summary)

    @property
    def outputs(self) -> Path:
        """Folder of saved outputs (``--save-outputs``)."""
        return self.path / OUTPUTS_DIR
