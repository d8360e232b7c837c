"""``pix2pix``: the U-Net-256 generator of the official pix2pix code, loading its ``*_net_G.pth`` files.

The network mirrors ``UnetGenerator`` / ``UnetSkipConnectionBlock`` of
junyanz/pytorch-CycleGAN-and-pix2pix (BSD licence; checked at commit 00d5574, Nov 2021) module for
module, so the official state-dict keys (``model.model.0.weight`` ...) load unchanged. By default it
works as the official ``--model colorization`` test does (``models/colorization_model.py``,
``data/colorization_dataset.py``): ``rgb2lab`` in float32, input ``L / 50 - 1`` (one channel), output
``ab * 110`` recombined with ``(L_in + 1) * 50``, ``lab2rgb * 255`` truncated to uint8
(``util/util.py::tensor2im``'s ``astype``). ``mode=rgb`` is ``--model pix2pix`` (3 -> 3 channels,
``Normalize(0.5, 0.5)`` in, ``(y + 1) / 2 * 255`` truncated out).

Protocols (``test.py``): ``eval`` is ``test.py --eval`` (batch norm with its running statistics,
dropout off: deterministic); ``paper`` is ``test.py`` without ``--eval``, as in the pix2pix paper: batch
norm on each image's own statistics (the official test runs batch size 1, so images are run one at a
time) and dropout on, with the torch generator seeded per sample from ``seed`` and the sample id, so
that a run is reproducible and independent of batching. ``input=resize256`` is the official test's
input handling (``--preprocess resize_and_crop`` with ``load_size = crop_size = 256``: PIL bicubic to
256 x 256, aspect not kept); the 256 x 256 output is then resized back to the input's size with PIL
bicubic (the official code stops at 256 x 256). ``input=pad`` (default) pads to a multiple of 256 and
crops back, so the network sees the native resolution.

Reference: P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017, :DOI:`10.1109/CVPR.2017.632`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import warnings
from typing import Any

import numpy as np
import torch
from PIL import Image
from skimage import color as skcolor
from torch import nn

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelError,
    ModelOption,
    as_rgb,
    register_model,
)
from pikfix_bench.torch_files import load_plain


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: down, the inner block, up, and the skip connection."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm_layer=nn.BatchNorm2d,
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        use_bias = (
            norm_layer.func if isinstance(norm_layer, functools.partial) else norm_layer
        ) == nn.InstanceNorm2d
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu, downnorm = nn.LeakyReLU(0.2, True), norm_layer(inner_nc)
        uprelu, upnorm = nn.ReLU(True), norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias
            )
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The official U-Net generator (``unet_256``: ``num_downs=8``)."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        num_downs: int = 8,
        ngf: int = 64,
        norm_layer=nn.BatchNorm2d,
        use_dropout: bool = False,
    ):
        super().__init__()
        block = UnetSkipConnectionBlock(
            ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer, innermost=True
        )
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer, use_dropout=use_dropout
            )
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm_layer=norm_layer
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model(x)


NORMS = {
    "batch": functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True),
    "instance": functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
}


def build_generator(
    mode: str = "lab", norm: str = "batch", ngf: int = 64, dropout: bool = True
) -> UnetGenerator:
    """The generator for ``mode`` (``lab``: 1 -> 2 channels; ``rgb``: 3 -> 3) with the official defaults
    (pix2pix trains with dropout unless ``--no_dropout``; dropout has no weights, so it only matters
    for the ``paper`` protocol)."""
    channels = (1, 2) if mode == "lab" else (3, 3)
    return UnetGenerator(*channels, num_downs=8, ngf=ngf, norm_layer=NORMS[norm], use_dropout=dropout)


OFFICIAL_SIZE = 256  # test_options.py: load_size = crop_size = 256


def sample_seed(seed: int, sample_id: str) -> int:
    """The torch seed of one sample under ``protocol=paper`` (the same whatever the batch it comes in)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:8], "little") >> 1


def to_uint8(values: np.ndarray, rounding: str) -> np.ndarray:
    """Float RGB on 0..255 to uint8: ``truncate`` as the official ``astype(np.uint8)``, or ``round``."""
    values = np.clip(values, 0, 255)
    return (np.floor(values) if rounding == "truncate" else np.rint(values)).astype(np.uint8)


def _likely_setup(state: dict[str, Any]) -> str:
    """What a generator checkpoint was most likely trained as, read from its tensors' shapes, in one line.

    The first convolution is ``ngf x in x 4 x 4`` and the last (transposed) one ``2 ngf x out x 4 x 4``;
    batch normalisation stores running statistics, instance normalisation (not affine) nothing.
    """
    kernels = [value for value in state.values() if getattr(value, "ndim", 0) == 4]
    if not kernels:
        return "it holds no convolution weights: is it a generator (*_net_G.pth)?"
    ngf, channels_in, channels_out = kernels[0].shape[0], kernels[0].shape[1], kernels[-1].shape[1]
    mode = {(1, 2): "lab", (3, 3): "rgb"}.get((channels_in, channels_out))
    norm = "batch" if any(key.endswith("running_mean") for key in state) else "instance"
    if mode is None:
        return f"it maps {channels_in} to {channels_out} channels, which neither mode=lab (1 to 2) nor rgb (3 to 3) does"
    return f"it looks like --model-opt mode={mode} norm={norm} ngf={ngf} (a checkpoint of another network if that fails)"


@register_model
class Pix2PixAdapter(ModelAdapter):
    """The official pix2pix U-Net-256 generator with a user's ``*_net_G.pth`` checkpoint."""

    descriptor = ModelDescriptor(
        "pix2pix",
        "pix2pix U-Net-256 generator (official *_net_G.pth checkpoints, test.py protocols)",
        "colorization",
        uses_reference=False,
        input_mode="RGB",
        size_multiple=OFFICIAL_SIZE,
        devices=("cpu", "cuda"),
        requires_weights=True,
        options={
            "weights": ModelOption("a *_net_G.pth file of the official code", "file", required=True),
            "mode": ModelOption(
                "lab: L -> ab (--model colorization); rgb: RGB -> RGB (--model pix2pix)",
                "choice",
                "lab",
                choices=("lab", "rgb"),
            ),
            "norm": ModelOption(
                "normalisation layers (--norm)", "choice", "batch", choices=("batch", "instance")
            ),
            "ngf": ModelOption("generator width (--ngf)", "int", 64, minimum=1),
            "dropout": ModelOption(
                "on, or off for a model trained with --no_dropout", "choice", "on", choices=("on", "off")
            ),
            "protocol": ModelOption(
                "eval: test.py --eval (deterministic); paper: test.py without --eval (batch statistics, dropout)",
                "choice",
                "eval",
                choices=("eval", "paper"),
            ),
            "seed": ModelOption("torch seed of protocol=paper, mixed with each sample id", "int", 0),
            "input": ModelOption(
                "pad: native size, padded to a multiple of 256; resize256: the official PIL bicubic 256x256",
                "choice",
                "pad",
                choices=("pad", "resize256"),
            ),
            "rounding": ModelOption(
                "truncate (the official astype) or round", "choice", "truncate", choices=("truncate", "round")
            ),
        },
    )

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        if self.settings["input"] == "resize256":  # the adapter resizes itself, as the official loader does
            self.descriptor = dataclasses.replace(self.descriptor, size_multiple=1)

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        weights, mode, norm = (self.settings[key] for key in ("weights", "mode", "norm"))
        self.network = build_generator(mode, norm, self.settings["ngf"], self.settings["dropout"] == "on")
        state = load_plain(weights, "pix2pix", ModelError)
        state = {key.removeprefix("module."): value for key, value in state.items()}
        try:
            self.network.load_state_dict(state, strict=True)
        except RuntimeError:  # its message lists every mismatched tensor, over many lines
            raise ModelError(
                f"pix2pix: {weights} does not fit a mode={mode} norm={norm} ngf={self.settings['ngf']} "
                f"U-Net-256 generator; {_likely_setup(state)}"
            ) from None
        self.network.to(self.device)
        self.network.train(self.settings["protocol"] == "paper")

    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        images = [as_rgb(image) for image in batch.inputs]
        if self.settings["input"] == "resize256":
            images = [pil_resize(image, OFFICIAL_SIZE, OFFICIAL_SIZE) for image in images]
        if (
            self.settings["protocol"] == "paper"
        ):  # batch size 1, as the official test: batch statistics per image
            outputs = [
                self.run([image], sample_seed(self.settings["seed"], sample_id))[0]
                for image, sample_id in zip(images, batch.ids, strict=True)
            ]
        else:
            outputs = self.run(images, None)
        if self.settings["input"] == "resize256":
            outputs = [
                pil_resize(out, *image.shape[:2]) for out, image in zip(outputs, batch.inputs, strict=True)
            ]
        return outputs

    @torch.inference_mode()
    def run(self, images: list[np.ndarray], seed: int | None) -> list[np.ndarray]:
        """The official forward and post-processing on same-sized RGB images (``seed``: dropout's torch seed)."""
        if self.settings["mode"] == "lab":
            lab = [skcolor.rgb2lab(image).astype(np.float32) for image in images]
            x = torch.from_numpy(np.stack([item[..., 0] for item in lab]))[:, None] / 50.0 - 1.0
        else:
            x = (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5
        with torch.random.fork_rng(devices=[self.device] if self.device.startswith("cuda") else []):
            if seed is not None:
                torch.manual_seed(seed)
            y = self.network(x.to(self.device)).cpu()
        rounding = self.settings["rounding"]
        if self.settings["mode"] == "rgb":
            return [to_uint8((out.permute(1, 2, 0).numpy() + 1) / 2.0 * 255.0, rounding) for out in y]
        lab = torch.cat([(x + 1.0) * 50.0, y * 110.0], dim=1).numpy().astype(np.float64)
        with (
            warnings.catch_warnings()
        ):  # out-of-gamut colours are clipped by lab2rgb, as in the official code
            warnings.simplefilter("ignore", UserWarning)
            return [to_uint8(skcolor.lab2rgb(item.transpose(1, 2, 0)) * 255, rounding) for item in lab]


def pil_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """PIL bicubic resize of a uint8 RGB image (torchvision's ``Resize`` on a PIL image does this)."""
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))
