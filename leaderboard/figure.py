"""The paper's qualitative grid (Figures 3 and 4): input, reference, each model's output, ground truth."""

from __future__ import annotations

import numpy as np

from pikfix_bench.baselines.base import ModelError, as_rgb
from pikfix_bench.baselines.predictions import find_output
from pikfix_bench.datasets.store import Dataset
from pikfix_bench.degradations.gallery import GAP, labelled_tile
from pikfix_bench.errors import PikfixError
from pikfix_bench.image_io import read_image
from pikfix_bench.leaderboard.runs import Run
from pikfix_bench.resize import resize_to

# What samples are chosen by when no metric is named: the first one every run has (a scan set's runs: NIQE).
INFORMATIVE_METRICS = ("lpips", "niqe", "piqe", "psnr")


def pick_informative(runs: list[Run], count: int, metric: str | None = None) -> list[str]:
    """Samples where the models disagree most (largest spread of the metric across runs; by default the
    first of :data:`INFORMATIVE_METRICS` that every run has)."""
    if metric is None:
        metric = next(
            (name for name in INFORMATIVE_METRICS if all(name in run.per_image for run in runs)), "lpips"
        )
    tables = [run.per_image.set_index("sample_id")[metric] for run in runs if metric in run.per_image]
    if not tables:
        raise PikfixError(f"the runs have no {metric} values to choose samples by; pass --ids")
    common = tables[0].index
    for table in tables[1:]:
        common = common.intersection(table.index)
    spread = np.stack([table[common].to_numpy(float) for table in tables]).std(axis=0)
    order = np.argsort(-spread, kind="stable")
    return [str(common[i]) for i in order[:count]]


def draw_figure(dataset: Dataset, runs: list[Run], ids: list[str], tile: int = 192) -> np.ndarray:
    """Rows of samples; columns input, reference, each run's output (labelled by its name), ground truth.

    On a scan set (no ground truth) the first column is the scan, labelled ``scan``, and there is no
    ground-truth column; a set without references has no reference column.

    Raises
    ------
    PikfixError
        When a run did not save its outputs (``evaluate --save-outputs``) or the samples are unknown.
    """
    unknown = [sample_id for sample_id in ids if sample_id not in dataset.ids]
    if unknown:
        raise PikfixError(f"unknown sample id(s) in {dataset.path}: {', '.join(unknown)}")
    for run in runs:
        if not (run.path / "outputs").is_dir():
            raise PikfixError(f"{run.path} has no outputs/: evaluate it again with --save-outputs")
    rows = []
    for sample in dataset.read(ids):

        def fit(image):
            return resize_to(as_rgb(image), tile, max(1, round(tile * image.shape[1] / image.shape[0])))

        first = "input" if sample.gt is not None else "scan"
        tiles = [labelled_tile(fit(sample.input), f"{first} {sample.sample_id}"[:28])]
        if sample.ref is not None:
            tiles.append(labelled_tile(fit(sample.ref), "reference"))
        for run in runs:
            try:
                tiles.append(
                    labelled_tile(
                        fit(read_image(find_output(run.path / "outputs", sample.sample_id))), run.name[:28]
                    )
                )
            except ModelError:
                blank = np.full_like(fit(as_rgb(sample.input)), 235)
                tiles.append(labelled_tile(blank, f"{run.name[:20]} (none)"))
        if sample.gt is not None:
            tiles.append(labelled_tile(fit(sample.gt), "ground truth"))
        height = max(t.shape[0] for t in tiles)
        padded = [np.pad(t, ((0, height - t.shape[0]), (0, GAP), (0, 0)), constant_values=255) for t in tiles]
        rows.append(np.hstack(padded))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, GAP), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    return np.vstack(rows)
