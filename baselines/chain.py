"""``a+b``: a restorer followed by a colouriser (for example ``classical-restore+welsh``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pikfix_bench.baselines.base import Batch, ModelAdapter, ModelDescriptor, ModelError


class ChainAdapter(ModelAdapter):
    """Runs ``first``, then ``second`` on its outputs.

    Each stage goes through the same input preparation as a model run alone
    (:func:`pikfix_bench.evaluation.alignment.predict_images`): its own input mode (BT.601 gray
    for ``L``), size multiple or fixed size, and the count check. Each stage is placed on a device
    by itself (a numpy restorer on the CPU, a torch colouriser on the GPU).
    """

    descriptor = ModelDescriptor(
        "chain", "a restorer followed by a colouriser", "restoration+colorization", True
    )

    def __init__(self, first: ModelAdapter, second: ModelAdapter) -> None:
        if first.descriptor.task not in ("restoration", "any"):
            raise ModelError(
                f"{first.descriptor.name} is a {first.descriptor.task} model; the first of a chain must restore"
            )
        self.first, self.second = first, second
        self.settings, self.options = {}, {}
        self.device = "cpu"
        name = f"{first.descriptor.name}+{second.descriptor.name}"
        self.descriptor = ModelDescriptor(
            name,
            f"{first.descriptor.description}, then {second.descriptor.description}",
            "restoration+colorization",
            first.descriptor.uses_reference or second.descriptor.uses_reference,
            # the harness hands the chain its input as is; each stage prepares its own
            input_mode="RGB",
            devices=tuple(sorted(set(first.descriptor.devices) | set(second.descriptor.devices))),
        )
        self.retry_single = first.retry_single and second.retry_single

    def load(self, device: str) -> None:  # noqa: D102
        self.first.load(device)
        self.second.load(device)
        devices = (self.first.device, self.second.device)
        self.device = devices[0] if devices[0] == devices[1] else "+".join(devices)  # as run.json records it

    def predict(self, batch: Batch) -> list[np.ndarray | None]:  # noqa: D102
        from pikfix_bench.evaluation.alignment import predict_images

        restored = predict_images(self.first, batch.ids, batch.inputs, batch.references)
        outputs: list[np.ndarray | None] = [None] * len(batch.ids)
        kept = [index for index, image in enumerate(restored) if image is not None]
        if kept:
            colourised = predict_images(
                self.second,
                [batch.ids[i] for i in kept],
                [restored[i] for i in kept],
                [batch.references[i] for i in kept],
            )
            for index, image in zip(kept, colourised, strict=True):
                outputs[index] = image
        return outputs

    def describe(self) -> dict[str, Any]:  # noqa: D102
        parts = [self.first.describe(), self.second.describe()]

        def prefixed(field: str) -> dict[str, Any]:  # as --model-opt names a stage's option: a.key
            return {f"{part['name']}.{key}": value for part in parts for key, value in part[field].items()}

        return {
            "name": self.descriptor.name,
            "chain": parts,
            "options": prefixed("options"),
            "defaults": prefixed("defaults"),
            "given": prefixed("given"),
            "weights_sha256": None,
            "files_sha256": prefixed("files_sha256"),
        }
