"""``pikfix``: the paper's own method, from a checkpoint written by ``pikfix-bench train``."""

from __future__ import annotations

import numpy as np

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelError,
    ModelOption,
    register_model,
)
from pikfix_bench.errors import PikfixError


@register_model
class PikFixAdapter(ModelAdapter):
    """Restoration + reference-based colourization with a trained Pik-Fix network (config inside the checkpoint)."""

    descriptor = ModelDescriptor(
        "pikfix",
        "Pik-Fix (Xu et al. 2023): restoration + SPHist reference colourization (train it first)",
        "restoration+colorization",
        uses_reference=True,
        input_mode="L",
        size_multiple=32,
        devices=("cpu", "cuda"),
        requires_weights=True,
        options={
            "weights": ModelOption("model.pth written by `pikfix-bench train`", "file", required=True),
            "tile": ModelOption("tile side in px for large scans (0: whole images)", "int", 0, minimum=0),
            "memory_budget": ModelOption(
                "GiB the forward pass may use: sets the tile from a measured bytes-per-pixel figure",
                "float",
                0.0,
                minimum=0,
            ),
            "precision": ModelOption(
                "inference precision of the convolutions (whatever the training used)",
                "choice",
                "fp32",
                choices=("fp32", "bf16", "fp16"),
            ),
        },
    )

    def trained_on(self) -> set[str]:
        """The dataset ``pikfix-bench train`` recorded in ``model.pth`` (read without its tensors)."""
        import torch

        try:  # mmap: only the small records are read; a bad file is load()'s to report, in its words
            payload = torch.load(self.settings["weights"], map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # torch raises many types for a bad file
            return set()
        dataset = payload.get("dataset") if isinstance(payload, dict) else None
        content_hash = dataset.get("content_hash") if isinstance(dataset, dict) else None
        return {content_hash} if isinstance(content_hash, str) else set()

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        from pikfix_bench.model.inference import load_model  # torch model code only when this model is used

        try:
            self.network, self.checkpoint = load_model(self.settings["weights"], self.device)
        except PikfixError as exc:
            raise ModelError(str(exc)) from None

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        from pikfix_bench.model.inference import colorize, tile_for_budget

        tile = self.settings["tile"]
        if not tile and self.settings["memory_budget"]:
            tile = tile_for_budget(self.settings["memory_budget"])
        return colorize(
            self.network, batch.inputs, batch.references, self.device, self.settings["precision"], tile
        )
