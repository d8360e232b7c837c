"""Summaries with bootstrap intervals, and paired comparisons of per-image values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pikfix_bench.metrics import METRICS
from pikfix_bench.metrics.summary import json_number, summarize

BOOTSTRAP_SEED = 20221
BOOTSTRAP_RESAMPLES = 2000


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of the finite ``values`` (fixed seed: reproducible).

    Returns ``(nan, nan)`` for fewer than two finite values.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = finite[rng.integers(0, finite.size, size=(resamples, finite.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def metric_summary(values: np.ndarray) -> dict[str, Any]:
    """``mean, std, median, count, inf_count, aggregation`` and ``ci95`` of one metric (JSON-ready)."""
    summary = summarize(values).to_dict()
    summary["ci95"] = [json_number(bound) for bound in bootstrap_ci(values)]
    return summary


def summarize_rows(rows: pd.DataFrame, failed: int, samples: int) -> dict[str, Any]:
    """A run's summary from its validated per-image rows (``summary.json``).

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per scored sample, a column per metric.
    failed : int
        Samples that failed (``errors.csv``).
    samples : int
        Samples in the dataset.

    Returns
    -------
    dict
        ``samples``, ``scored``, ``failed``, ``missing`` (neither scored nor failed) and the
        summary of every metric column.
    """
    return {
        "samples": int(samples),
        "scored": int(len(rows)),
        "failed": int(failed),
        "missing": int(samples - len(rows) - failed),
        "metrics": {
            name: metric_summary(rows[name].to_numpy(dtype=np.float64))
            for name in METRICS
            if name in rows.columns
        },
    }
