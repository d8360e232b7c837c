"""The run directory: ``run.json``, ``per_image.csv``, ``summary.json``, ``errors.csv``, ``outputs/``.

Per-image rows are appended (and flushed) as they are scored, so an interrupted
run keeps what it did; at the end both CSV files are rewritten in sample-id
order, atomically. Nothing read back is trusted: :meth:`RunDirectory.scored_rows`
keeps only complete rows with a known, unique sample id and a number for every
metric, and says why it dropped the others. See ``docs/formats.md``.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pikfix_bench.evaluation.run_record import read_run_record
from pikfix_bench.image_io import atomic_write, named_os_error
from pikfix_bench.json_io import write_json
from pikfix_bench.safe_paths import append_text, read_regular

RUN_FILE, PER_IMAGE_FILE, SUMMARY_FILE, ERRORS_FILE, OUTPUTS_DIR = (
    "run.json",
    "per_image.csv",
    "summary.json",
    "errors.csv",
    "outputs",
)
ERROR_COLUMNS = ["sample_id", "stage", "message"]
MAX_RECORD_BYTES = 256 << 20  # per_image.csv of a few million samples; more is no run of this toolkit


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
        """The run description, checked against the ``run.json`` schema (one PikfixError if it does not fit)."""
        return read_run_record(self.path / RUN_FILE)

    def write_run(self, run: dict[str, Any]) -> None:
        """Write ``run.json`` atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / RUN_FILE, run)

    def per_image(self) -> pd.DataFrame:
        """The per-image rows that can be trusted (:meth:`scored_rows` with every metric of the header)."""
        return self.scored_rows()[0]

    def scored_rows(
        self, metrics: Sequence[str] | None = None, known_ids: Collection[str] | None = None
    ) -> tuple[pd.DataFrame, list[str]]:
        """The per-image rows that can be trusted, and why each other row was dropped.

        A row is kept when it ends with a line ending (a torn last line does not), has exactly the
        header's fields, a sample id that is known (when ``known_ids`` is given) and appears once,
        and a number (``inf`` and ``nan`` included) for each of ``metrics``.

        Parameters
        ----------
        metrics : sequence of str, optional
            The metric columns every row must have (default: every column of the header but
            ``sample_id`` and ``seconds``).
        known_ids : collection of str, optional
            The dataset's sample ids.

        Returns
        -------
        pandas.DataFrame
            ``sample_id``, the metrics (float) and ``seconds``, in file order.
        list of str
            One line per dropped row: its line number, id and reason.
        """
        text = self._read_text(PER_IMAGE_FILE)
        records, problems = _csv_records(text)
        header = records[0][1] if records else []
        if metrics is None:
            metrics = [name for name in header if name not in ("sample_id", "seconds")]
        columns = ["sample_id", *metrics, "seconds"]
        empty = pd.DataFrame(
            {name: pd.Series(dtype=str if name == "sample_id" else float) for name in columns}
        )
        if not records:
            return empty, problems
        if header[:1] != ["sample_id"] or not set(metrics) <= set(header):
            return empty, [
                f"{PER_IMAGE_FILE}: header {header} lacks sample_id or a metric; every row is scored again"
            ]
        parsed = []
        for number, fields in records[1:]:
            row, reason = _parse_row(fields, header, metrics, known_ids)
            if reason:
                problems.append(f"{PER_IMAGE_FILE} line {number}: {reason}")
            else:
                parsed.append(row)
        repeated = {sample_id for sample_id, n in Counter(r["sample_id"] for r in parsed).items() if n > 1}
        problems += [
            f"{PER_IMAGE_FILE}: sample {sample_id} appears more than once" for sample_id in sorted(repeated)
        ]
        rows = [row for row in parsed if row["sample_id"] not in repeated]
        if not rows:
            return empty, problems
        frame = pd.DataFrame(rows).reindex(columns=columns)
        return frame.astype({name: float for name in columns[1:]}), problems

    def write_rows(self, frame: pd.DataFrame) -> None:
        """Replace ``per_image.csv`` with these rows, atomically (full float precision; NaN as ``nan``,
        as the appended rows have it: an empty cell is refused on reading, as a damaged row)."""
        text = frame.to_csv(index=False, float_format="%.17g", na_rep="nan")
        atomic_write(self.path / PER_IMAGE_FILE, lambda tmp: tmp.write_text(text))

    def _read_text(self, name: str) -> str:
        """A record file's text (``""`` when absent); a link, FIFO or oversized file is refused."""
        path = self.path / name
        if not os.path.lexists(path):
            return ""
        return read_regular(path, MAX_RECORD_BYTES, f"run's {name}").decode("utf-8", errors="replace")

    def errors(self) -> pd.DataFrame:
        """The failed samples."""
        text = self._read_text(ERRORS_FILE)
        if not text:
            return pd.DataFrame(columns=ERROR_COLUMNS)
        return pd.read_csv(io.StringIO(text), dtype={"sample_id": str})

    def append_rows(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        """Append rows to a CSV file (writing the header first if the file is new), then flush."""
        try:
            with append_text(self.path / name, f"run's {name}") as handle:
                new = os.fstat(handle.fileno()).st_size == 0
                writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerows(rows)
                handle.flush()
        except OSError as exc:
            raise named_os_error(exc, self.path / name) from None

    def sort_errors(self) -> None:
        """Rewrite ``errors.csv`` in sample-id order, atomically (the canonical form of a finished run)."""
        path = self.path / ERRORS_FILE
        if not os.path.lexists(path):
            return
        frame = self.errors().drop_duplicates("sample_id", keep="last")
        text = frame.sort_values("sample_id", kind="stable").to_csv(index=False)
        atomic_write(path, lambda tmp: tmp.write_text(text))

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically."""
        write_json(self.path / SUMMARY_FILE, summary)

    @property
    def outputs(self) -> Path:
        """Folder of saved outputs (``--save-outputs``)."""
        return self.path / OUTPUTS_DIR


def _csv_records(text: str) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """The CSV records of ``text`` with the line each starts on, and why any were left out.

    Parsed by :mod:`csv` alone, so a quoted field may hold a line break. A last record that does not
    end with a line ending was cut by an interruption and is left out; so is everything from a
    record the csv module cannot read on.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    records, problems, start = [], [], 1
    try:
        for fields in reader:
            records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(
            f"{PER_IMAGE_FILE} line {start}: not readable as CSV ({exc}); later rows are scored again"
        )
        return records, problems
    if text and not text.endswith(("\n", "\r")) and records:
        number, fields = records.pop()
        problems.append(
            f"{PER_IMAGE_FILE} line {number}: cut before its line ending ({','.join(fields)[:40]!r})"
        )
    return records, problems


def _parse_row(
    fields: list[str], header: list[str], metrics: Sequence[str], known_ids: Collection[str] | None
) -> tuple[dict[str, Any], str]:
    """One CSV record as a row, or the reason it cannot be trusted."""
    if len(fields) != len(header):
        return {}, f"{len(fields)} fields where the header has {len(header)} ({','.join(fields)[:40]!r})"
    row: dict[str, Any] = dict(zip(header, fields, strict=True))
    sample_id = row["sample_id"]
    if known_ids is not None and sample_id not in known_ids:
        return {}, f"sample id {sample_id!r} is not in the dataset"
    for name in (*metrics, "seconds"):
        try:
            row[name] = float(row.get(name, ""))
        except ValueError:
            return {}, f"sample {sample_id!r}: {name} is {row.get(name)!r}, not a number"
    return row, ""
