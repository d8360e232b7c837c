"""Building, reading and checking versioned benchmark datasets (see ``docs/datasets.md``)."""

from pikfix_bench.datasets.builder import BuildResult, Recipe, build_dataset, replay_sample
from pikfix_bench.datasets.export import export_dataset
from pikfix_bench.datasets.store import Dataset, Sample, diff_datasets, open_dataset, verify_dataset

__all__ = [
    "BuildResult",
    "Dataset",
    "Recipe",
    "Sample",
    "build_dataset",
    "diff_datasets",
    "export_dataset",
    "open_dataset",
    "replay_sample",
    "verify_dataset",
]
