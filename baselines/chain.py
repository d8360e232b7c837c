"""``a+b``: a restorer followed by a colouriser (for example ``classical-restore+welsh``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pikfix_bench.baselines.base import Batch, ModelAdapter, ModelDescriptor, ModelError


class ChainAdapter(ModelAdapter):
    """Runs ``first`` then feeds its output (as the input mode ``second`` wants) to ``second``."""

    descriptor = ModelDescriptor(
        "chain", "a restorer followed by a colouriser", "restoration+colorization", True
    )

    def __init__(self, first: ModelAdapter, second: ModelAdapter) -> None:
        if first.descriptor.task not in ("restoration", "any"):
            raise ModelError(
                f"{first.descriptor.name} is a {first.descriptor.task} model; the first of a chain must restore"
            )
        self.first, self.second = first, second
        self.options = {}
        name = f"{first.descriptor.name}+{second.descriptor.name}"
        self.descriptor = ModelDescriptor(
            name,
            f"{first.descriptor.description}, then {second.descriptor.description}",
            "restoration+colorization",
            first.descriptor.uses_reference or second.descriptor.uses_reference,
            first.descriptor.input_mode,
            devices=tuple(set(first.descriptor.devices) & set(second.descriptor.devices)),
        )

    def load(self, device: str) -> None:  # noqa: D102
        self.first.load(device)
        self.second.load(device)

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        restored = self.first.predict(batch)
        if self.second.descriptor.input_mode == "L":
            restored = [image[..., 0] if image.ndim == 3 else image for image in restored]
        return self.second.predict(Batch(batch.ids, restored, batch.references))

    def describe(self) -> dict[str, Any]:  # noqa: D102
        return {
            "name": self.descriptor.name,
            "chain": [self.first.describe(), self.second.describe()],
            "options": {},
            "weights_sha256": None,
        }
