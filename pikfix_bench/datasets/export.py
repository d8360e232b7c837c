"""Exporting a dataset to PNG folders for tools that want files."""

from __future__ import annotations

from pathlib import Path

from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.image_io import write_png
from pikfix_bench.safe_paths import path_inside

EXPORTED = {"input": "input", "gt": "gt", "ref": "ref", "mask": "mask"}


def export_dataset(path: str | Path, out: str | Path) -> int:
    """Write ``input/``, ``gt/``, ``ref/`` and ``mask/`` PNGs named by sample id; return the sample count.

    Every array is checked against its manifest sha256 as it is read, and every file name is built
    by :func:`~pikfix_bench.safe_paths.path_inside`, so no id can lead outside ``out``.
    """
    out = Path(out)
    dataset = Dataset(path)
    if out.exists() and not out.is_dir():
        raise PikfixError(f"--out {out}: not a folder (a file is there)")
    count = 0
    for sample in dataset:
        for folder, attribute in EXPORTED.items():
            array = getattr(sample, attribute)
            if array is not None:
                write_png(path_inside(out / folder, sample.sample_id, ".png", base=out), array)
        count += 1
    return count
