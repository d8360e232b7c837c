"""Harness overhead of ``evaluate``: its wall time against pure model time plus pure metric time.

On one generated dataset (the pikfix preset over 512-px photographs, 256 x 256
samples), for the ``gray`` and ``reinhard`` baselines, in one run:

- pure model time: ``model.predict`` over the in-memory samples, in the harness's batches;
- pure metric time: ``ImageScorer.score`` over those outputs and the ground truths;
- harness time: ``evaluate(...)`` end to end (reading HDF5, alignment, CSV and JSON writing).

Target: overhead ``harness / (model + metric) - 1`` under 15 %.

Usage: ``python bench/evaluate.py [--images 96]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from build import make_images  # noqa: E402

from pikfix_bench.baselines import Batch, create_model  # noqa: E402
from pikfix_bench.datasets import Recipe, build_dataset, open_dataset  # noqa: E402
from pikfix_bench.datasets.sources import folder_source  # noqa: E402
from pikfix_bench.degradations import build_pipeline  # noqa: E402
from pikfix_bench.evaluation import evaluate  # noqa: E402
from pikfix_bench.evaluation.alignment import (
    DEFAULT_BATCH,  # noqa: E402
    prepare_input,  # noqa: E402
)
from pikfix_bench.metrics import ImageScorer  # noqa: E402


def pure_times(model_name: str, samples: list) -> tuple[float, float]:
    """Seconds of model prediction and of scoring, without any harness around them."""
    model = create_model(model_name)
    model.load("cpu")
    scorer = ImageScorer("pikfix")
    scorer.score([samples[0].gt], [samples[0].gt])  # warm-up
    model_seconds = metric_seconds = 0.0
    for start in range(0, len(samples), DEFAULT_BATCH):
        chunk = samples[start : start + DEFAULT_BATCH]
        batch = Batch(
            [s.sample_id for s in chunk],
            [prepare_input(s.input, model.descriptor).image for s in chunk],
            [s.ref for s in chunk],
        )
        began = time.perf_counter()
        outputs = model.predict(batch)
        model_seconds += time.perf_counter() - began
        began = time.perf_counter()
        scorer.score(outputs, [s.gt for s in chunk])
        metric_seconds += time.perf_counter() - began
    return model_seconds, metric_seconds


def main() -> None:
    """Print pure and harness times and the overhead per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_images(Path(tmp) / "src", args.images)
        build_dataset(
            folder_source(Path(tmp) / "src"),
            Recipe("folder", build_pipeline("pikfix-procedural").spec),
            Path(tmp) / "ds",
            name="bench",
            progress=False,
        )
        samples = list(open_dataset(Path(tmp) / "ds"))
        print(f"{args.images} samples of 256x256, CPU; times in seconds")
        print(f"{'model':<10} {'model':>7} {'metrics':>8} {'sum':>7} {'harness':>8} {'overhead':>9}")
        for model_name in ("gray", "reinhard"):
            evaluate(
                model_name, Path(tmp) / "ds", Path(tmp) / f"warm-{model_name}", progress=False
            )  # warm caches
            model_s, metric_s = pure_times(model_name, samples)
            began = time.perf_counter()
            evaluate(model_name, Path(tmp) / "ds", Path(tmp) / f"run-{model_name}", progress=False)
            harness = time.perf_counter() - began
            total = model_s + metric_s
            print(
                f"{model_name:<10} {model_s:>7.2f} {metric_s:>8.2f} {total:>7.2f} {harness:>8.2f} {harness / total - 1:>8.1%}"
            )
    print("target: overhead under 15%")


if __name__ == "__main__":
    main()
