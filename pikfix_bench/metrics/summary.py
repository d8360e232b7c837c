"""Aggregating per-image metric values.

The toolkit aggregates by the mean of per-image values (never a pooled MSE).
PSNR is ``inf`` for identical images: such values are counted, kept in the
per-image files, and left out of the mean, which then says so. A missing value
(``nan``) is never counted as a value: the summary says how many there were.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MetricSummary:
    """Aggregate of one metric over images.

    Attributes
    ----------
    mean, std, median : float
        Over the finite values (``nan`` when there are none); ``std`` is the population std.
    count : int
        Number of values (finite and infinite; missing ones not).
    inf_count : int
        Number of infinite values (identical images, for PSNR).
    missing : int
        Number of missing values (``nan``), counted in neither the mean nor :attr:`count`.
    """

    mean: float
    std: float
    median: float
    count: int
    inf_count: int
    missing: int = 0

    @property
    def aggregation(self) -> str:
        """How :attr:`mean` was formed, in words."""
        text = f"mean of {self.count - self.inf_count} finite per-image values"
        if self.inf_count:
            text += f"; {self.inf_count} infinite left out"
        if self.missing:
            text += f"; {self.missing} missing"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (infinite and missing values as strings, see :func:`json_number`)."""
        return {key: json_number(value) for key, value in asdict(self).items()} | {
            "aggregation": self.aggregation
        }


def json_number(value: float | int) -> float | int | str:
    """A number as strict JSON allows: ``inf``, ``-inf`` and ``nan`` become those strings."""
    return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def summarize(values: np.ndarray | list[float]) -> MetricSummary:
    """Summarise per-image values of one metric.

    Parameters
    ----------
    values : array_like
        Per-image values; ``inf``/``-inf`` allowed, ``nan`` counted as missing.

    Returns
    -------
    MetricSummary
        Mean, std and median over the finite values, with counts.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        mean = std = median = float("nan")
    else:
        mean, std, median = float(finite.mean()), float(finite.std()), float(np.median(finite))
    missing = int(np.isnan(values).sum())
    return MetricSummary(mean, std, median, int(values.size) - missing, int(np.isinf(values).sum()), missing)
