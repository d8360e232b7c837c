"""The leaderboard: models x (dataset, profile) columns x metrics, with ranks and significance marks.

Coverage is part of the table: every column says how many samples its dataset has, a cell whose run
lacks some of them (failed or missing) shows its coverage (``7/8``) and is neither ranked nor used as
the best for significance unless ``rank_partial`` says so, and significance is computed on the
samples both runs scored, with their number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from pikfix_bench.errors import PikfixError
from pikfix_bench.leaderboard.runs import ColumnKey, Run
from pikfix_bench.metrics import METRICS, NO_REFERENCE_METRICS

# The leaderboard's metrics unless --metrics says otherwise: the paper's three, and on scan sets (no ground
# truth) the no-reference ones.
DEFAULT_TABLE_METRICS = ("psnr", "ssim", "lpips")
NO_GROUND_TRUTH_NOTE = (
    "no ground truth: a scan set's column scores the outputs alone with no-reference metrics (NIQE, PIQE, "
    "BRISQUE: lower is better; colourfulness is shown, never ranked, as no direction is right); full-reference "
    "metrics are not computed there"
)

ALPHA = 0.05
SIGNIFICANCE_NOTE = (
    f"† not significantly different from the best of its column (paired Wilcoxon signed-rank test on "
    f"the per-image values of the samples both runs scored, p ≥ {ALPHA}; n= where fewer than the column's)"
)


@dataclass
class Cell:
    """One model's result for one metric in one column."""

    mean: float
    ci95: tuple[float, float]
    count: int  # samples with a value (inf included)
    inf_count: int
    run_id: str
    samples: int  # samples of the column's dataset
    rank: int | None = None  # 1 = best, 2 = second (dense ranking on the displayed value)
    not_significant: bool = False  # not significantly different from the best
    p_value: float | None = None
    paired: int | None = None  # samples the significance test compared

    @property
    def complete(self) -> bool:
        """Whether the run has a value for every sample of the column."""
        return self.count >= self.samples

    @property
    def value(self) -> float:
        """The value ranked and shown: ``inf`` when every image scored ``inf`` (identical images)."""
        if self.count and self.inf_count == self.count:
            return math.inf
        return self.mean


@dataclass
class Leaderboard:
    """Everything a renderer needs."""

    columns: list[ColumnKey]
    metrics: list[str]
    models: list[str]
    cells: dict[tuple[str, ColumnKey, str], Cell]
    runs: dict[tuple[str, ColumnKey], Run]
    samples: dict[ColumnKey, int]
    notes: list[str] = field(default_factory=list)
    # row -> a preference study's result for it ("score", "ci_low", "ci_high"; ``leaderboard --study``)
    preference: dict[str, dict[str, Any]] = field(default_factory=dict)
    no_ground_truth: set[ColumnKey] = field(default_factory=set)  # columns of scan sets
    asked: bool = False  # the metrics were asked for (--metrics), not the defaults

    def heading(self, column: ColumnKey) -> str:
        """A column's label with its number of samples (and ``no ground truth`` for a scan set's)."""
        scan = " · no ground truth" if column in self.no_ground_truth else ""
        return f"{column.label} · n={self.samples[column]}{scan}"

    def column_metrics(self, column: ColumnKey) -> list[str]:
        """The metrics shown under ``column``, in the board's order: by default the paper's three for a set
        with ground truth and the no-reference ones for a scan set, whatever else its runs scored; with
        ``--metrics``, those of them that some run of the column has."""
        if self.asked:
            candidates = self.metrics
        else:
            candidates = NO_REFERENCE_METRICS if column in self.no_ground_truth else DEFAULT_TABLE_METRICS
        return [
            m
            for m in self.metrics
            if m in candidates and any((model, column, m) in self.cells for model in self.models)
        ]

    def cell(self, model: str, column: ColumnKey, metric: str) -> Cell | None:
        """The cell, or ``None`` when that model has no run in that column."""
        return self.cells.get((model, column, metric))


def display(value: float, metric: str) -> str:
    """A value at the metric's display precision (``inf`` as such, missing as ``–``)."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "–"
    return f"{value:.{METRICS[metric].decimals}f}"


def _rank(cells: list[Cell], metric: str) -> None:
    """Dense ranks on displayed values, in the metric's direction (none for an unranked metric): equal
    displayed values share a rank; the renderers set 1 in bold and 2 underlined."""
    if not METRICS[metric].ranked:
        return
    higher, decimals = METRICS[metric].higher_is_better, METRICS[metric].decimals
    shown = sorted(
        {
            round(c.value, decimals) if math.isfinite(c.value) else c.value
            for c in cells
            if not math.isnan(c.value)
        },
        reverse=higher,
    )
    for cell in cells:
        if math.isnan(cell.value):
            continue
        key = round(cell.value, decimals) if math.isfinite(cell.value) else cell.value
        position = shown.index(key) + 1
        cell.rank = position


def paired_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired values (1.0 when they never differ)."""
    differences = a - b
    differences = differences[np.isfinite(differences)]
    if differences.size == 0 or not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)


def _significance(board: Leaderboard, column: ColumnKey, metric: str) -> None:
    cells = {model: board.cell(model, column, metric) for model in board.models}
    ranked = [(model, cell) for model, cell in cells.items() if cell is not None and cell.rank == 1]
    if not ranked:
        return
    best_model = ranked[0][0]
    best = board.runs[(best_model, column)].per_image.set_index("sample_id")[metric]
    for model, cell in cells.items():
        if cell is None or model == best_model or cell.rank == 1:
            continue
        other = board.runs[(model, column)].per_image.set_index("sample_id")[metric]
        common = best.index.intersection(other.index)
        cell.paired = len(common)
        if len(common) == 0:
            continue
        cell.p_value = paired_p_value(best[common].to_numpy(float), other[common].to_numpy(float))
        cell.not_significant = cell.p_value >= ALPHA


def _age(run: Run) -> tuple[str, bool, str]:
    """Sorts runs oldest first; on equal times a run ``rescore`` verified counts as newer (it keeps the
    submitted run's times), then the path decides, so the choice does not depend on the search order."""
    return run.finished, run.verified, str(run.path)


def _row_names(newest: dict[tuple[str, ColumnKey], Run]) -> dict[str, str]:
    """A unique row name per setup: its newest run's name (:attr:`Run.name`); setups that share a name
    (two checkpoints of one file name, a label equal to another row's name) add their run directory,
    so that different setups never merge into one row."""
    latest: dict[str, Run] = {}
    for (setup, _), run in sorted(newest.items(), key=lambda item: _age(item[1])):
        latest[setup] = run
    sharing: dict[str, list[str]] = defaultdict(list)
    for setup, run in latest.items():
        sharing[run.name].append(setup)
    names: dict[str, str] = {}
    for name, setups in sharing.items():
        for setup in setups:
            names[setup] = name if len(setups) == 1 else f"{name} [{latest[setup].run_id}]"
    taken: set[str] = set()
    for setup in sorted(names, key=names.get):  # the same directory name under two folders: number them
        name, count = names[setup], 1
        while names[setup] in taken:
            count += 1
            names[setup] = f"{name} #{count}"
        taken.add(names[setup])
    return names


def _order(model: str, columns: list[ColumnKey], metric: str, cells: dict) -> tuple:
    """Rows best first by ``metric`` in the first column (then the next ones), rows without it last."""
    sign = -1.0 if METRICS[metric].higher_is_better else 1.0
    key = []
    for column in columns:
        cell = cells.get((model, column, metric))
        missing = cell is None or math.isnan(cell.value)
        key.append((missing, 0.0 if missing else sign * cell.value))
    return (*key, model)


def _only_in_older_runs(used: Run, candidates: list[Run], metrics: list[str]) -> str:
    """The tail of a re-run note: the metrics shown that the run used lacks and an older run of the same
    setup has (each with the newest such run), which stay empty; ``""`` when there are none."""
    older: dict[Path, list[str]] = defaultdict(list)
    for metric in metrics:
        if metric in used.summary["metrics"]:
            continue
        having = [run for run in candidates if metric in run.summary["metrics"]]
        if having:
            older[max(having, key=_age).path].append(metric)
    return "".join(
        f"; {', '.join(names)} only in an older run ({path}): not shown for this setup (score the newest run with "
        f"{'it' if len(names) == 1 else 'them'}, or leave the newest out)"
        for path, names in older.items()
    )


def build_leaderboard(
    runs: list[Run],
    metrics: list[str] | None = None,
    rank_partial: bool = False,
    left_out: Sequence[str] = (),
) -> Leaderboard:
    """Arrange runs into a leaderboard.

    Runs on different dataset contents or under different metric profiles never share a column;
    a row is a setup (:attr:`Run.setup`: the label, else the model, its effective options and weights
    hashes) named as :attr:`Run.name` says, so variants of one model are separate rows; when one setup
    has several runs in a column (re-runs), the newest finished one is used and a note says so. Rows
    are ordered best first by the first metric.
    Cells of runs that lack samples of their column are shown with their coverage and not ranked.
    A note says which runs' sample ids could not be checked against their dataset (their coverage is
    then as the run records it).

    Parameters
    ----------
    runs : list of Run
        From :func:`pikfix_bench.leaderboard.find_runs`.
    metrics : list of str, optional
        Metrics to show (default: PSNR, SSIM, LPIPS, as the paper's tables; where runs were made on scan
        sets, which have no ground truth, NIQE, PIQE and colourfulness, after them when both kinds are there).
    rank_partial : bool
        Rank cells of incomplete runs too (and let them be the best); the table says so.
    left_out : sequence of str
        Runs that could not be read, and why (from :func:`~pikfix_bench.leaderboard.find_runs`):
        the table names them, so that it does not pass for complete.

    Returns
    -------
    Leaderboard
        Columns, rows, cells with ranks and significance, and notes.
    """
    scans = [run for run in runs if run.info["dataset"].get("ground_truth", True) is False]
    asked = bool(metrics)
    if not metrics:
        metrics = [
            *(DEFAULT_TABLE_METRICS if len(scans) < len(runs) else ()),
            *(NO_REFERENCE_METRICS if scans else ()),
        ]
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise PikfixError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    grouped: dict[tuple[str, ColumnKey], list[Run]] = defaultdict(list)
    for run in runs:
        grouped[(run.setup, run.key)].append(run)
    newest = {group: max(candidates, key=_age) for group, candidates in grouped.items()}
    names = _row_names(newest)
    chosen, notes = {}, []
    for (setup, key), candidates in sorted(
        grouped.items(), key=lambda item: (names[item[0][0]], item[0][1].label)
    ):
        model = names[setup]
        chosen[(model, key)] = newest[(setup, key)]
        if len(candidates) > 1:
            notes.append(
                f"{model} has {len(candidates)} runs on {key.label}: the newest ({chosen[(model, key)].path}) is used"
                + _only_in_older_runs(chosen[(model, key)], candidates, metrics)
            )
    columns = sorted(
        {key for _, key in chosen}, key=lambda key: (key.dataset, key.version, key.profile, key.content_hash)
    )
    by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key in columns:
        by_name[(key.dataset, key.version)].add(key.content_hash)
    for (dataset, version), hashes in by_name.items():
        if len(hashes) > 1:
            notes.append(
                f"{dataset} v{version} appears with {len(hashes)} different contents: shown as separate columns"
            )
    profiles = {key.profile for key in columns}
    if len(profiles) > 1:
        notes.append(
            f"runs use {len(profiles)} metric profiles ({', '.join(sorted(profiles))}): separate columns"
        )
    models = list(dict.fromkeys(model for model, _ in chosen))
    samples = {key: max(run.samples for (_, k), run in chosen.items() if k == key) for key in columns}
    cells = {}
    for (model, key), run in chosen.items():
        notes += [f"{run.path}: {problem}; left out" for problem in run.problems]
        for metric in metrics:
            values = run.summary["metrics"].get(metric)
            if values is None:
                continue
            ci = tuple(float(v) for v in values["ci95"])  # JSON numbers, or the strings "inf"/"nan"
            cells[(model, key, metric)] = Cell(
                float(values["mean"]), ci, values["count"], values["inf_count"], run.run_id, samples[key]
            )
    unchecked = [str(run.path) for run in chosen.values() if not run.ids_checked]
    if unchecked:
        subject = "the runs" if len(unchecked) == len(chosen) else ", ".join(unchecked)
        notes.append(
            f"sample ids of {subject} could not be checked against their dataset (pass it with --dataset): "
            "a row of an id the dataset lacks counts as a scored sample"
        )
    notes += list(left_out)
    models.sort(key=lambda model: _order(model, columns, metrics[0], cells))
    no_ground_truth = {run.key for run in scans}
    if no_ground_truth:
        notes.append(NO_GROUND_TRUTH_NOTE)
    board = Leaderboard(
        columns, metrics, models, cells, chosen, samples, notes, no_ground_truth=no_ground_truth, asked=asked
    )
    for column in [column for column in board.columns if not board.column_metrics(column)]:
        board.columns.remove(column)
        board.notes.append(
            f"{column.label}: none of the metrics shown ({', '.join(metrics)}) was scored there; left out"
        )
    if any(not cell.complete for cell in cells.values()):
        board.notes.append(
            "k/n: the run has a value for only k of the column's n samples (the others failed or are missing); "
            + ("ranked anyway (--rank-partial)" if rank_partial else "not ranked (--rank-partial ranks them)")
        )
    for column in board.columns:
        for metric in board.metrics:
            column_cells = [c for m in board.models if (c := board.cell(m, column, metric)) is not None]
            _rank([c for c in column_cells if c.complete or rank_partial], metric)
            _significance(board, column, metric)
    return board
