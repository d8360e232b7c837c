"""Exporting a dataset to PNG folders for tools that want files."""

from __future__ import annotations

from pathlib import Path

from pikfix_bench.datasets.store import Dataset
from pikfix_bench.image_io import write_png

EXPORTED = {"input": "input", "gt": "gt", "ref": "ref", "mask": "mask"}


def export_dataset(path: str | Path, out: str | Path) -> int:
    """Write ``input/``, ``gt/``, ``ref/`` and ``mask/`` PNGs named by sample id; return the sample count."""
    out = Path(out)
    count = 0
    for sample in Dataset(path):
        for folder, attribute in EXPORTED.items():
            array = getattr(sample, attribute)
            if array is not None:
                write_png(out / folder / f"{sample.sample_id}.png", array)
        count += 1
    return count
