"""Tests written to kill mutants that survived the mutation runs of docs/mutation.md.

Each test names the module and the mutants it kills; all of them are fast (no photographs, no LPIPS net
unless the mutant is in ``lpips_metric``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pikfix_bench.errors import PikfixError, ShapeMismatchError
from pikfix_bench.evaluation.statistics import bootstrap_ci, metric_summary, summarize_rows


def test_the_default_bootstrap_interval_is_pinned():
    """statistics.py: ``BOOTSTRAP_SEED = 20221`` and ``BOOTSTRAP_RESAMPLES = 2000`` changed (or ``None``).

    ``test_statistics.py`` imports both constants, so it follows any change to them; the defaults are
    documented (docs/metrics.md), and a changed seed or count changes every published interval.
    """
    values = np.arange(1.0, 11.0) ** 1.5
    expected = [8.410029532383252, 20.58875648558278]
    assert metric_summary(values)["ci95"] == pytest.approx(expected, rel=1e-12)
    assert bootstrap_ci(values) == pytest.approx(tuple(expected), rel=1e-12)


def test_summarize_rows_counts_and_keys():
    """statistics.py ``summarize_rows``: its keys (string mutants), the counts and ``missing``'s arithmetic,
    and that only metric columns (in ``METRICS``) are summarised; ``test_statistics.py`` does not call it."""
    import pandas as pd

    rows = pd.DataFrame({"name": ["a", "b", "c"], "psnr": [20.0, 22.0, np.inf], "lpips": [0.1, 0.2, 0.3]})
    summary = summarize_rows(rows, failed=2, samples=7)
    assert {k: summary[k] for k in ("samples", "scored", "failed", "missing")} == {
        "samples": 7,
        "scored": 3,
        "failed": 2,
        "missing": 2,
    }
    assert list(summary) == ["samples", "scored", "failed", "missing", "metrics"]
    assert sorted(summary["metrics"]) == ["lpips", "psnr"]
    assert summary["metrics"]["psnr"]["mean"] == 21.0
    assert summary["metrics"]["psnr"]["inf_count"] == 1
    assert summary["metrics"]["lpips"] == metric_summary(np.array([0.1, 0.2, 0.3]))


def _uint8_pair(n: int = 2, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    a = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    return a, 255 - a


def test_psnr_messages_name_the_metric():
    """psnr.py: the metric name passed to ``check_batch`` / ``resolve_data_range`` mutated."""
    from pikfix_bench.metrics import psnr

    pred, target = _uint8_pair()
    with pytest.raises(ShapeMismatchError, match=r"^psnr: "):
        psnr(pred, target[:1], data_range=255)
    with pytest.raises(PikfixError, match=r"^psnr: "):
        psnr(pred, target)


def test_ssim_messages_name_the_metric_and_the_valid_window():
    """ssim.py: the metric name given to the checks, and the 'valid' size check (``<`` -> ``<=``, ``or``)."""
    from pikfix_bench.metrics import ssim

    pred, target = _uint8_pair(size=11)
    with pytest.raises(ShapeMismatchError, match=r"^ssim: "):
        ssim(pred, target[:1], data_range=255)
    with pytest.raises(PikfixError, match=r"^ssim: "):
        ssim(pred, target)
    # exactly one window fits: allowed; one pixel less in either direction: refused
    assert ssim(pred, target, padding="valid", data_range=255).shape == (2,)
    for crop in (pred[..., :10, :], pred[..., :10]):
        with pytest.raises(ShapeMismatchError, match="at least 11x11 pixels"):
            ssim(crop, crop, padding="valid", data_range=255)


def test_ciede2000_messages_name_the_metric():
    """ciede2000.py: the metric name passed to ``check_batch`` mutated."""
    from pikfix_bench.metrics import ciede2000

    pred, target = _uint8_pair()
    with pytest.raises(ShapeMismatchError, match=r"^ciede2000: "):
        ciede2000(pred, target[:1])
