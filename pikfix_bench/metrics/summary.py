"""Aggregating per-image metric values.

The toolkit aggregates by the mean of per-image values (never a pooled MSE).
PSNR is ``inf`` for identical images: such values are counted, kept in the
per-image files, and left out of the mean, which then says so.
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
        Number of images, infinite values included.
    inf_count : int
        Number of infinite values (identical images, for PSNR).
    """

    mean: float
    std: float
    median: float
    count: int
    inf_count: int

    @property
    def aggregation(self) -> str:
        """How :attr:`mean` was formed, in words."""
        if self.inf_count:
            return f"mean of {self.count - self.inf_count} finite per-image values; {self.inf_count} infinite left out"
        return f"mean of {self.count} per-image values"

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
        Per-image values; ``inf``/``-inf`` allowed.

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
    return MetricSummary(mean, std, median, int(values.size), int(np.isinf(values).sum()))
