"""Running a Pik-Fix network on uint8 images, and its checkpoint format."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pikfix_bench import __version__
from pikfix_bench.color import l_ab_to_rgb
from pikfix_bench.color_torch import rgb_to_lab_torch
from pikfix_bench.errors import PikfixError
from pikfix_bench.model.config import PikFixConfig
from pikfix_bench.model.network import MULTIPLE, PikFix

CHECKPOINT_FORMAT = "pikfix-bench/pikfix-model"
CHECKPOINT_VERSION = 1


def lab_tensors(rgb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``1 x 1 x H x W`` L / 100 and ``1 x 2 x H x W`` ab / 110 of a uint8 RGB (or gray) image."""
    rgb = rgb if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, axis=2)
    lab = rgb_to_lab_torch(
        torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None], dtype=torch.float32
    )
    return lab[:, :1] / 100.0, lab[:, 1:] / 110.0


def trainable_state(model: PikFix) -> dict[str, torch.Tensor]:
    """The network's weights without the frozen VGG trunk (which ships with the toolkit)."""
    return {key: value for key, value in model.state_dict().items() if not key.startswith("vgg.")}


def save_model(path: str | Path, model: PikFix, extra: dict[str, Any]) -> None:
    """Write a model checkpoint (config inside) atomically."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "toolkit_version": __version__,
        "config": model.config.to_dict(),
        "state_dict": trainable_state(model),
        **extra,
    }
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)


def load_model(path: str | Path, device: str = "cpu") -> tuple[PikFix, dict[str, Any]]:
    """Rebuild a network from a checkpoint written by ``pikfix-bench train``; refuse anything else clearly."""
    path = Path(path)
    if not path.is_file():
        raise PikfixError(f"pikfix: checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise PikfixError(f"pikfix: cannot read {path} ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise PikfixError(f"pikfix: {path} is not a checkpoint written by `pikfix-bench train`")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise PikfixError(
            f"pikfix: {path} has checkpoint version {payload.get('version')}, expected {CHECKPOINT_VERSION}"
        )
    model = PikFix(PikFixConfig.from_dict(payload["config"]))
    expected = {key: value.shape for key, value in trainable_state(model).items()}
    found = {key: value.shape for key, value in payload["state_dict"].items()}
    if expected != found:
        differing = sorted(
            key for key in expected.keys() | found.keys() if expected.get(key) != found.get(key)
        )
        raise PikfixError(
            f"pikfix: {path} does not match its own config ({len(differing)} differing weights, "
            f"e.g. {differing[0]})"
        )
    model.load_state_dict({**model.state_dict(), **payload["state_dict"]})
    return model.eval().to(device), payload


def pad_to_multiple(tensor: torch.Tensor, multiple: int = MULTIPLE) -> torch.Tensor:
    """Reflect-pad the bottom and right edges to a multiple of ``multiple``."""
    height, width = tensor.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if not (pad_h or pad_w):
        return tensor
    mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "replicate"
    return torch.nn.functional.pad(tensor, (0, pad_w, 0, pad_h), mode=mode)


@torch.inference_mode()
def colorize(
    model: PikFix,
    inputs: list[np.ndarray],
    references: list[np.ndarray],
    device: str = "cpu",
    precision: str = "fp32",
) -> list[np.ndarray]:
    """Restore and colourize uint8 grayscale inputs with uint8 RGB references; returns uint8 RGB images.

    Images of equal (input, reference) sizes run as one batch; any size works (padded to a multiple of 32
    and cropped back). ``precision`` bf16 or fp16 runs the convolutions in that precision (fp32 by
    default, whatever the model was trained with).
    """
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, (image, reference) in enumerate(zip(inputs, references, strict=True)):
        groups[(image.shape[:2], reference.shape[:2])].append(index)
    outputs: list[np.ndarray | None] = [None] * len(inputs)
    for indices in groups.values():
        lightness = torch.cat([lab_tensors(inputs[i])[0] for i in indices])
        ref_l, ref_ab = (
            torch.cat(parts) for parts in zip(*(lab_tensors(references[i]) for i in indices), strict=True)
        )
        height, width = lightness.shape[-2:]
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            result = model(
                pad_to_multiple(lightness).to(device),
                pad_to_multiple(ref_l).to(device),
                pad_to_multiple(ref_ab).to(device),
            )
        restored = result.lightness[..., :height, :width].float().clamp(0, 1).cpu().double().numpy() * 100.0
        ab = result.ab[..., :height, :width].float().cpu().double().numpy() * 110.0
        for row, index in enumerate(indices):
            outputs[index] = l_ab_to_rgb(restored[row, 0], ab[row].transpose(1, 2, 0))
    return outputs
