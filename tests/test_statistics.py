"""The bootstrap interval of a summary against SciPy's percentile bootstrap, on the same resamples.

:func:`~pikfix_bench.evaluation.statistics.bootstrap_ci` draws its resample indices as
``numpy.random.default_rng(seed).integers(0, n, (resamples, n))``, which is exactly how
``scipy.stats.bootstrap`` draws them for one sample when given that generator (``rng=``) and no batching.
Both then take the mean of each resample and the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
with linear interpolation, so the two intervals agree to rounding (about 1e-16), not merely in
distribution: any change to the resampling, the statistic or the percentiles shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pikfix_bench.evaluation.statistics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    bootstrap_ci,
    metric_summary,
)


def _scipy_percentile_interval(
    values: np.ndarray, level: float, resamples: int, seed: int
) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    result = stats.bootstrap(
        (finite,),
        np.mean,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _samples() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "psnr-like": rng.normal(24.0, 3.0, 37),
        "skewed": rng.exponential(0.15, 12),  # LPIPS-like: the percentile interval is not symmetric
        "with-inf-and-nan": np.concatenate([rng.normal(0.8, 0.05, 20), [np.inf, np.nan]]),
        "two": np.array([0.25, 0.75]),
    }


@pytest.mark.parametrize("name", sorted(_samples()))
def test_summary_ci95_equals_scipy_percentile_bootstrap(name):
    values = _samples()[name]
    low, high = metric_summary(values)["ci95"]
    expected = _scipy_percentile_interval(values, 0.95, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
    assert (low, high) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert low < np.mean(values[np.isfinite(values)]) < high


@pytest.mark.parametrize(("level", "resamples", "seed"), [(0.9, 500, 3), (0.5, 1000, 42)])
def test_other_levels_and_seeds_equal_scipy(level, resamples, seed):
    values = _samples()["skewed"]
    ours = bootstrap_ci(values, level=level, resamples=resamples, seed=seed)
    assert ours == pytest.approx(
        _scipy_percentile_interval(values, level, resamples, seed), rel=1e-12, abs=1e-15
    )


def test_fewer_than_two_finite_values_have_no_interval():
    assert all(np.isnan(bound) for bound in bootstrap_ci(np.array([1.0, np.inf])))
