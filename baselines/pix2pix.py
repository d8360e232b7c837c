"""``pix2pix``: the U-Net-256 generator of the official pix2pix code, loading its ``*_net_G.pth`` files.

The network mirrors ``UnetGenerator`` / ``UnetSkipConnectionBlock`` of
junyanz/pytorch-CycleGAN-and-pix2pix (BSD licence) module for module, so the
official state-dict keys (``model.model.0.weight`` ...) load unchanged. By default
it works as the official ``--model colorization`` does: input ``L / 50 - 1``
(one channel), output ``ab * 110`` (two channels), recombined with the input's L.
``mode=rgb`` takes a 3-channel image in [-1, 1] and returns RGB (``input_nc=3 output_nc=3``).

Reference: P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017, :DOI:`10.1109/CVPR.2017.632`.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch
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
from pikfix_bench.color import l_ab_to_rgb, rgb_to_l_ab


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


def build_generator(mode: str = "lab", norm: str = "batch", ngf: int = 64) -> UnetGenerator:
    """The generator for ``mode`` (``lab``: 1 -> 2 channels; ``rgb``: 3 -> 3) with the official defaults."""
    channels = (1, 2) if mode == "lab" else (3, 3)
    return UnetGenerator(*channels, num_downs=8, ngf=ngf, norm_layer=NORMS[norm])


@register_model
class Pix2PixAdapter(ModelAdapter):
    """The official pix2pix U-Net-256 generator with a user's ``*_net_G.pth`` checkpoint."""

    descriptor = ModelDescriptor(
        "pix2pix",
        "pix2pix U-Net-256 generator (official *_net_G.pth checkpoints)",
        "colorization",
        uses_reference=False,
        input_mode="L",
        size_multiple=256,
        devices=("cpu", "cuda"),
        requires_weights=True,
        options={
            "weights": ModelOption("a *_net_G.pth file of the official code", "file", required=True),
            "mode": ModelOption(
                "lab: L -> ab (1->2 channels); rgb: RGB -> RGB (3->3)",
                "choice",
                "lab",
                choices=("lab", "rgb"),
            ),
            "norm": ModelOption("normalisation layers", "choice", "batch", choices=("batch", "instance")),
            "ngf": ModelOption("generator width", "int", 64, minimum=1),
        },
    )

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        if self.settings["mode"] == "rgb":  # colour in, colour out: the harness must not gray the input
            self.descriptor = dataclasses.replace(self.descriptor, input_mode="RGB")

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        weights, mode, norm = (self.settings[key] for key in ("weights", "mode", "norm"))
        self.network = build_generator(mode, norm, self.settings["ngf"])
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise ModelError(f"pix2pix: cannot read {weights} ({type(exc).__name__}: {exc})") from None
        state = {key.removeprefix("module."): value for key, value in state.items()}
        try:
            self.network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelError(
                f"pix2pix: {weights} does not fit a {mode}/{norm} U-Net-256 generator: {exc}"
            ) from None
        self.network.eval().to(self.device)

    @torch.inference_mode()
    def predict(self, batch: Batch) -> list[np.ndarray]:  # noqa: D102
        if self.settings["mode"] == "lab":
            lightness = np.stack([rgb_to_l_ab(as_rgb(image))[0] for image in batch.inputs])
            x = torch.from_numpy(lightness / 50.0 - 1.0).float()[:, None]
            ab = self.network(x.to(self.device)).cpu().double().numpy() * 110.0
            return [l_ab_to_rgb(light, a.transpose(1, 2, 0)) for light, a in zip(lightness, ab, strict=True)]
        x = (
            torch.from_numpy(np.stack([as_rgb(image) for image in batch.inputs])).permute(0, 3, 1, 2).float()
            / 127.5
            - 1
        )
        y = self.network(x.to(self.device)).cpu().permute(0, 2, 3, 1).numpy()
        return list(np.clip(np.rint((y + 1) * 127.5), 0, 255).astype(np.uint8))
