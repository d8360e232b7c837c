"""The study's choices in SQLite (``STUDY/choices.sqlite``, WAL mode), and choices imported from CSV.

Every choice is committed the moment it is made, with ``synchronous=FULL``: a server killed with
SIGKILL (or a power cut) loses no recorded choice. Every statement takes its values as parameters;
no SQL is built from text. The database records the study's identity and refuses to serve another
study. Values are checked before they reach it: a rater id (:func:`rater_problem`), a trial of the
design, a choice among ``left``, ``right`` and ``tie``; imported rows are checked one by one and a
file with any bad row is refused whole, naming each bad line.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pikfix_bench.errors import PikfixError
from pikfix_bench.study.design import GOLD_LABELS, Study, Trial

DATABASE_FILE = "choices.sqlite"
CHOICES = ("left", "right", "tie")
CSV_COLUMNS = ("rater", "sample_id", "left", "right", "choice")
RATER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}")
MAX_IMPORT_PROBLEMS = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    rater TEXT PRIMARY KEY,
    block INTEGER NOT NULL,
    joined TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS choices (
    id INTEGER PRIMARY KEY,
    rater TEXT NOT NULL,
    trial TEXT,
    sample_id TEXT NOT NULL,
    left_label TEXT NOT NULL,
    right_label TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie')),
    seconds REAL,
    source TEXT NOT NULL,
    recorded TEXT NOT NULL,
    UNIQUE (rater, trial)
);
CREATE TABLE IF NOT EXISTS imports (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rows INTEGER NOT NULL,
    imported TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Choice:
    """One recorded choice: who, which sample, which label was shown on each side, and what was chosen."""

    rater: str
    sample_id: str
    left: str
    right: str
    choice: str

    @property
    def gold(self) -> bool:
        """Whether this was a gold trial."""
        return self.left in GOLD_LABELS


def rater_problem(rater: object) -> str | None:
    """Why ``rater`` cannot be a rater id (1 to 64 ASCII letters, digits, space and ``._@+-``), or ``None``."""
    if not isinstance(rater, str):
        return "a rater id must be text"
    if not RATER_PATTERN.fullmatch(rater):
        return (
            f"rater id {rater[:70]!r} must be 1 to 64 characters: letters, digits, space and . _ @ + -, "
            "starting with a letter or digit"
        )
    return None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class ChoiceStore:
    """The study's database; opened (and created) for one study, refusing a database of another.

    Parameters
    ----------
    study : Study
        The study whose choices are stored in ``STUDY/choices.sqlite``.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self.path = study.path / DATABASE_FILE
        with self._connect(transaction=False) as db:
            db.executescript(_SCHEMA)
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('study_id', ?)", (study.study_id,))
            (stored,) = db.execute("SELECT value FROM meta WHERE key = 'study_id'").fetchone()
        if stored != study.study_id:
            raise PikfixError(f"{self.path}: holds the choices of another study ({stored[:12]})")

    @contextmanager
    def _connect(self, transaction: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection in WAL mode with full syncing; the ``with`` block is one transaction (if asked)."""
        try:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise PikfixError(f"{self.path}: cannot be opened ({exc})") from None
        with closing(connection):
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
                if transaction:
                    connection.execute("BEGIN IMMEDIATE")
                yield connection
                if transaction:
                    connection.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise PikfixError(f"{self.path}: {exc}") from None
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def block_of(self, rater: str) -> int:
        """The block a rater answers, assigned in turn on the rater's first visit."""
        problem = rater_problem(rater)
        if problem:
            raise PikfixError(problem)
        with self._connect() as db:
            row = db.execute("SELECT block FROM raters WHERE rater = ?", (rater,)).fetchone()
            if row is not None:
                return int(row[0])
            (count,) = db.execute("SELECT COUNT(*) FROM raters").fetchone()
            block = int(count) % len(self.study.blocks)
            db.execute("INSERT INTO raters (rater, block, joined) VALUES (?, ?, ?)", (rater, block, _now()))
        return block

    def answered(self, rater: str) -> set[str]:
        """The trial ids this rater has answered."""
        with self._connect() as db:
            rows = db.execute("SELECT trial FROM choices WHERE rater = ? AND trial IS NOT NULL", (rater,))
            return {row[0] for row in rows}

    def progress(self, rater: str) -> tuple[list[Trial], Trial | None, int]:
        """A rater's block, the next trial to answer (``None`` when done) and how many are answered."""
        block = self.study.blocks[self.block_of(rater)]
        done = self.answered(rater)
        remaining = [trial for trial in block if trial.id not in done]
        return block, (remaining[0] if remaining else None), len(block) - len(remaining)

    def record(self, rater: str, trial_id: str, choice: str, seconds: float | None = None) -> bool:
        """Store a choice made in the web page, committed before returning.

        Parameters
        ----------
        rater : str
            The rater id.
        trial_id : str
            A trial of the rater's block.
        choice : str
            ``left``, ``right`` or (when the study allows it) ``tie``.
        seconds : float, optional
            How long the rater looked at the trial.

        Returns
        -------
        bool
            ``False`` when the rater had already answered this trial (the first answer stands).

        Raises
        ------
        PikfixError
            For a bad rater id, a trial not in the rater's block, or a choice not allowed.
        """
        allowed = CHOICES if self.study.record["allow_tie"] else CHOICES[:2]
        if choice not in allowed:
            raise PikfixError(f"choice must be one of {', '.join(allowed)}")
        block = self.study.blocks[self.block_of(rater)]
        trial = next((trial for trial in block if trial.id == trial_id), None)
        if trial is None:
            raise PikfixError(f"trial {str(trial_id)[:40]!r} is not one of this rater's trials")
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO choices (rater, trial, sample_id, left_label, right_label, choice, "
                "seconds, source, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, 'serve', ?)",
                (rater, trial.id, trial.sample, trial.left, trial.right, choice, seconds, _now()),
            )
            return cursor.rowcount == 1

    def choices(self) -> list[Choice]:
        """Every recorded choice, in the order recorded."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT rater, sample_id, left_label, right_label, choice FROM choices ORDER BY id"
            ).fetchall()
        return [Choice(*row) for row in rows]

    def import_csv(self, path: str | Path) -> int:
        """Add the choices of a CSV file (columns :data:`CSV_COLUMNS`), all or none.

        Parameters
        ----------
        path : str or Path
            The file; ``left`` and ``right`` name run labels (or both gold sides), ``choice`` is
            ``left``, ``right`` or ``tie``.

        Returns
        -------
        int
            The rows added.

        Raises
        ------
        PikfixError
            Naming every bad line (up to :data:`MAX_IMPORT_PROBLEMS`), or when this file was imported
            before (by its sha256).
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PikfixError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PikfixError(f"{path}: not UTF-8 text") from None
        rows = parse_choices_csv(text, self.study, str(path))
        digest = hashlib.sha256(data).hexdigest()
        with self._connect() as db:
            earlier = db.execute("SELECT name, imported FROM imports WHERE sha256 = ?", (digest,)).fetchone()
            if earlier is not None:
                raise PikfixError(f"{path}: the same file was imported on {earlier[1]} (as {earlier[0]})")
            now = _now()
            db.executemany(
                "INSERT INTO choices (rater, trial, sample_id, left_label, right_label, choice, seconds, "
                "source, recorded) VALUES (?, NULL, ?, ?, ?, ?, NULL, ?, ?)",
                [(r.rater, r.sample_id, r.left, r.right, r.choice, f"import:{digest}", now) for r in rows],
            )
            db.execute(
                "INSERT INTO imports (sha256, name, rows, imported) VALUES (?, ?, ?, ?)",
                (digest, path.name, len(rows), now),
            )
        return len(rows)


def parse_choices_csv(text: str, study: Study, source: str) -> list[Choice]:
    """The rows of a choices CSV, each checked against the study; any bad row refuses the file.

    Parameters
    ----------
    text : str
        The file's text.
    study : Study
        The study whose labels and samples the rows must name.
    source : str
        The file's name, for messages.

    Returns
    -------
    list of Choice
        The rows.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    labels, samples = set(study.labels), set(study.samples)
    try:
        header = next(reader, None)
        if header is None:
            raise PikfixError(f"{source}: empty file (expected the header {','.join(CSV_COLUMNS)})")
        header = [name.strip() for name in header]
        missing = [name for name in CSV_COLUMNS if name not in header]
        if missing:
            raise PikfixError(
                f"{source} line 1: header lacks {', '.join(missing)} (expected {','.join(CSV_COLUMNS)})"
            )
        where = {name: header.index(name) for name in CSV_COLUMNS}
        rows, start = [], reader.line_num + 1
        for fields in reader:
            number, start = start, reader.line_num + 1
            if not fields:
                continue
            if len(fields) != len(header):
                problems.append(f"line {number}: {len(fields)} fields where the header has {len(header)}")
                continue
            row = Choice(*(fields[where[name]].strip() for name in CSV_COLUMNS))
            problem = _row_problem(row, labels, samples)
            if problem:
                problems.append(f"line {number}: {problem}")
            else:
                rows.append(row)
    except csv.Error as exc:
        problems.append(f"line {start}: not readable as CSV ({exc})")
    if problems:
        shown = problems[:MAX_IMPORT_PROBLEMS]
        more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise PikfixError(f"{source}: nothing imported: " + "; ".join(shown) + more)
    if not rows:
        raise PikfixError(f"{source}: no choices after the header")
    return rows


def _row_problem(row: Choice, labels: set[str], samples: set[str]) -> str | None:
    """Why one imported row cannot be taken, or ``None``."""
    problem = rater_problem(row.rater)
    if problem:
        return problem
    if row.sample_id not in samples:
        return f"sample {row.sample_id[:80]!r} is not in the study"
    for side in (row.left, row.right):
        if side not in labels and side not in GOLD_LABELS:
            return f"{side[:80]!r} is not a run label of the study (labels: {', '.join(sorted(labels))})"
    if row.left == row.right:
        return f"left and right are both {row.left!r}"
    if (row.left in GOLD_LABELS) != (row.right in GOLD_LABELS):
        return f"a gold trial shows {GOLD_LABELS[0]} against {GOLD_LABELS[1]}, not a run"
    if row.choice not in CHOICES:
        return f"choice {row.choice[:20]!r} is not one of {', '.join(CHOICES)}"
    return None
