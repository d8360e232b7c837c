"""``predictions``: score a folder of outputs produced elsewhere, matched by sample id."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelError,
    ModelOption,
    register_model,
)
from pikfix_bench.image_io import IMAGE_SUFFIXES, read_image


def find_output(folder: Path, sample_id: str) -> Path:
    """The image named after ``sample_id`` (any image suffix) in ``folder``."""
    for suffix in IMAGE_SUFFIXES:
        path = folder / f"{sample_id}{suffix}"
        if path.is_file():
            return path
    raise ModelError(f"no output for sample {sample_id} in {folder} (looked for {sample_id}.png, .jpg, ...)")


@register_model
class PredictionsAdapter(ModelAdapter):
    """Reads ``DIR/<sample_id>.png`` (or any image suffix) for each sample."""

    descriptor = ModelDescriptor(
        "predictions",
        "a folder of outputs made elsewhere, by sample id",
        "any",
        uses_reference=False,
        input_mode="RGB",
        options={"dir": ModelOption("folder of <sample_id>.<ext> images", "dir", required=True)},
    )

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        return [read_image(find_output(Path(self.settings["dir"]), sample_id)) for sample_id in batch.ids]
