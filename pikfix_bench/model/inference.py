"""Running a Pik-Fix network on uint8 images, and its checkpoint format."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pikfix_bench import __version__
from pikfix_bench.color import l_ab_to_rgb
from pikfix_bench.color_torch import rgb_to_lab_torch
from pikfix_bench.errors import PikfixError
from pikfix_bench.model.config import PikFixConfig
from pikfix_bench.model.network import MULTIPLE, PikFix, ReferenceCode
from pikfix_bench.torch_files import load_plain

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
    payload = load_plain(path, "pikfix")
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


# Precision names -> the autocast dtype of the convolutions (None: float32 throughout).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

# Peak inference memory per input pixel, measured on an H200 before the memory savers (10.4 GiB for one
# 2048 x 2048 image, issue 16): a conservative figure for choosing a tile from a memory budget.
BYTES_PER_PIXEL = 10.4 * 2**30 / 2048**2
TILE_OVERLAP = 64


def tile_for_budget(gibibytes: float) -> int:
    """The largest tile side (a multiple of 32, at least 256) whose forward pass fits ``gibibytes``."""
    side = int((gibibytes * 2**30 / BYTES_PER_PIXEL) ** 0.5) // MULTIPLE * MULTIPLE
    return max(256, side)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering ``length`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))
    return sorted({round(i * (length - tile) / (count - 1)) for i in range(count)})


def _ramp(length: int, tile_length: int, start: int, overlap: int) -> torch.Tensor:
    """Blending weights along one axis: 1 inside, linear ramps where the tile overlaps its neighbours."""
    weight = torch.ones(tile_length, dtype=torch.float64)
    ramp = torch.linspace(0, 1, overlap + 2, dtype=torch.float64)[1:-1]
    if start > 0:
        weight[:overlap] = ramp
    if start + tile_length < length:
        weight[-overlap:] = ramp.flip(0)
    return weight


def _forward(
    model: PikFix, lightness, reference: ReferenceCode, device, dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """One padded pass against an encoded reference; returns L' and ab on the CPU, cropped (float64)."""
    height, width = lightness.shape[-2:]
    with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
        result = model.decode(pad_to_multiple(lightness).to(device), reference)
    crop = (..., slice(0, height), slice(0, width))
    return result.lightness[crop].float().cpu().double(), result.ab[crop].float().cpu().double()


def _encode(model: PikFix, ref_l, ref_ab, device, dtype, tile: int) -> ReferenceCode:
    """The reference encoded once for every tile; with tiling, a reference of more pixels than a tile is
    first shrunk (area) to a tile's pixel count, so that it too stays within the tile's memory."""
    height, width = ref_l.shape[-2:]
    if tile and height * width > tile * tile:
        factor = tile / (height * width) ** 0.5
        size = (max(MULTIPLE, round(height * factor)), max(MULTIPLE, round(width * factor)))
        ref_l, ref_ab = (F.interpolate(part, size=size, mode="area") for part in (ref_l, ref_ab))
    with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
        return model.encode_reference(pad_to_multiple(ref_l).to(device), pad_to_multiple(ref_ab).to(device))


def _tiled_forward(
    model, lightness, reference: ReferenceCode, device, dtype, tile: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward pass tile by tile (overlapping by :data:`TILE_OVERLAP`, linearly blended)."""
    height, width = lightness.shape[-2:]
    restored = torch.zeros(lightness.shape, dtype=torch.float64)
    ab = torch.zeros((lightness.shape[0], 2, height, width), dtype=torch.float64)
    total = torch.zeros((height, width), dtype=torch.float64)
    for top in _starts(height, tile, TILE_OVERLAP):
        for left in _starts(width, tile, TILE_OVERLAP):
            window = (..., slice(top, top + tile), slice(left, left + tile))
            part_l, part_ab = _forward(model, lightness[window], reference, device, dtype)
            rows, cols = part_l.shape[-2:]
            weight = torch.outer(
                _ramp(height, rows, top, TILE_OVERLAP), _ramp(width, cols, left, TILE_OVERLAP)
            )
            restored[window] += part_l * weight
            ab[window] += part_ab * weight
            total[top : top + rows, left : left + cols] += weight
    return restored / total, ab / total


@torch.inference_mode()
def colorize(
    model: PikFix,
    inputs: list[np.ndarray],
    references: list[np.ndarray],
    device: str = "cpu",
    precision: str = "fp32",
    tile: int = 0,
) -> list[np.ndarray]:
    """Restore and colourize uint8 grayscale inputs with uint8 RGB references; returns uint8 RGB images.

    Images of equal (input, reference) sizes run as one batch; any size works (padded to a multiple of 32
    and cropped back). ``precision`` bf16 or fp16 runs the convolutions in that precision (fp32 by
    default, whatever the model was trained with). ``tile`` > 0 bounds memory on large scans: inputs larger
    than ``tile`` pixels a side run tile by tile, the tiles overlapping by :data:`TILE_OVERLAP` pixels and
    blended linearly, against the reference encoded once (shrunk, area, to a tile's pixel count when it is
    larger). Not exact: each tile's similarity is mean-centred over the tile, its receptive field ends at
    the tile's border, and a large reference is seen smaller, so results differ from an untiled pass (the
    blending hides the seams; an image no larger than ``tile`` is exactly untiled).
    """
    dtype = PRECISIONS[precision]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, (image, reference) in enumerate(zip(inputs, references, strict=True)):
        groups[(image.shape[:2], reference.shape[:2])].append(index)
    outputs: list[np.ndarray | None] = [None] * len(inputs)
    for indices in groups.values():
        lightness = torch.cat([lab_tensors(inputs[i])[0] for i in indices])
        ref_l, ref_ab = (
            torch.cat(parts) for parts in zip(*(lab_tensors(references[i]) for i in indices), strict=True)
        )
        tiled = bool(tile) and max(lightness.shape[-2:]) > tile  # an image no larger than a tile: untiled
        reference = _encode(model, ref_l, ref_ab, device, dtype, tile if tiled else 0)
        if tiled:
            restored, ab = _tiled_forward(model, lightness, reference, device, dtype, tile)
        else:
            restored, ab = _forward(model, lightness, reference, device, dtype)
        restored = restored.clamp(0, 1).numpy() * 100.0
        ab = ab.numpy() * 110.0
        for row, index in enumerate(indices):
            outputs[index] = l_ab_to_rgb(restored[row, 0], ab[row].transpose(1, 2, 0))
    return outputs
