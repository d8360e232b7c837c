"""Leaderboards, comparisons, figures and reports from evaluation runs (installed as ``pikfix_bench.leaderboard``)."""

from pikfix_bench.leaderboard.compare import compare_runs
from pikfix_bench.leaderboard.render import FORMATS, render
from pikfix_bench.leaderboard.runs import ColumnKey, Run, find_runs, load_run
from pikfix_bench.leaderboard.table import Leaderboard, build_leaderboard

__all__ = [
    "FORMATS",
    "ColumnKey",
    "Leaderboard",
    "Run",
    "build_leaderboard",
    "compare_runs",
    "find_runs",
    "load_run",
    "render",
]
