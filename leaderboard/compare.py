"""Paired comparison of two runs on the same dataset: differences, intervals, p-values, wins and losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.statistics import bootstrap_ci
from pikfix_bench.leaderboard.runs import Run
from pikfix_bench.leaderboard.table import paired_p_value
from pikfix_bench.metrics import METRICS


def compare_runs(first: Run, second: Run) -> dict[str, Any]:
    """Per metric: mean of ``second - first`` over common images (finite pairs), its 95% bootstrap interval,
    the Wilcoxon p-value, and how often ``second`` wins, ties or loses (in the metric's direction); for a
    metric without a direction (colourfulness) how often ``second`` is higher, equal or lower instead.

    Raises
    ------
    PikfixError
        When the runs are on different dataset contents or under different profiles.
    """
    if first.key != second.key:
        raise PikfixError(
            f"cannot compare runs on different columns: {first.key.label} vs {second.key.label}"
        )
    a, b = first.per_image.set_index("sample_id"), second.per_image.set_index("sample_id")
    common = a.index.intersection(b.index)
    if len(common) == 0:
        raise PikfixError("the two runs share no scored sample")
    result: dict[str, Any] = {
        "first": str(first.path),
        "second": str(second.path),
        "first_name": first.name,
        "second_name": second.name,
        "images": int(len(common)),
        "samples": max(first.samples, second.samples),
        "first_scored": int(len(a)),
        "second_scored": int(len(b)),
        "metrics": {},
    }
    for metric in METRICS:
        if metric not in a.columns or metric not in b.columns:
            continue
        x, y = a.loc[common, metric].to_numpy(float), b.loc[common, metric].to_numpy(float)
        both_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
        difference = np.where(both_inf, 0.0, y - x)
        finite = difference[np.isfinite(difference)]
        low, high = bootstrap_ci(finite)
        if METRICS[metric].ranked:
            better = difference if METRICS[metric].higher_is_better else -difference
            counts = ("wins", "ties", "losses")
        else:
            better = difference
            counts = ("higher", "equal", "lower")
        result["metrics"][metric] = {
            "mean_difference": float(finite.mean()) if finite.size else float("nan"),
            "ci95": [low, high],
            "p_value": paired_p_value(y, x),
            counts[0]: int((better > 0).sum()),
            counts[1]: int((better == 0).sum()),
            counts[2]: int((better < 0).sum()),
        }
    return result
