"""Building blocks: residual dense blocks (RDN, Zhang et al. 2018) and dense blocks (DenseNet)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint


class Recomputed(nn.Module):
    """A module whose activations can be recomputed in backward instead of kept (``recompute = True``).

    Subclasses implement :meth:`compute`; the result is the same either way, only the memory differs.
    """

    recompute: bool = False

    def forward(self, *inputs: torch.Tensor):  # noqa: D102
        if self.recompute and torch.is_grad_enabled():
            return checkpoint(self.compute, *inputs, use_reentrant=False)
        return self.compute(*inputs)

    def compute(self, *inputs: torch.Tensor):
        """The module's computation."""
        raise NotImplementedError


def recomputed(function, *inputs: torch.Tensor):
    """``function(*inputs)``, its intermediate tensors recomputed in backward rather than kept (when
    gradients are being recorded; the same values either way)."""
    if torch.is_grad_enabled():
        return checkpoint(function, *inputs, use_reentrant=False)
    return function(*inputs)


def recompute_activations(model: nn.Module, enabled: bool = True) -> None:
    """Switch recomputation on (or off) for every :class:`Recomputed` module of ``model``."""
    for module in model.modules():
        if isinstance(module, Recomputed):
            module.recompute = enabled


def convolution_backward(
    conv: nn.Conv2d,
    grad: torch.Tensor,
    inputs: torch.Tensor,
    weight: torch.Tensor,
    needed: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Autograd's own gradients of ``conv``'s convolution of ``inputs`` with ``weight``: those of the input,
    the weight and the bias that ``needed`` asks for (``None`` for the others)."""
    return torch.ops.aten.convolution_backward(
        grad,
        inputs,
        weight,
        [weight.shape[0]] if conv.bias is not None else None,
        conv.stride,
        conv.padding,
        conv.dilation,
        False,
        [0, 0],
        conv.groups,
        list(needed),
    )


class _ConvolutionOfConcatenation(torch.autograd.Function):
    """``conv2d(cat(parts, 1))`` keeping the parts for backward and rebuilding their concatenation there.

    The gradients are autograd's own: the same ``convolution_backward`` on the same (rebuilt) values, in
    the precision the forward convolution ran in (autocast included), split back to the parts.
    """

    @staticmethod
    def forward(ctx, conv: ConcatConv2d, weight, bias, *parts: torch.Tensor) -> torch.Tensor:  # noqa: D102
        joined = torch.cat(parts, 1)
        output = F.conv2d(joined, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
        ctx.conv, ctx.dtype = conv, output.dtype
        ctx.save_for_backward(weight, *parts)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        weight, *parts = ctx.saved_tensors
        conv, dtype = ctx.conv, ctx.dtype
        needs_parts = any(ctx.needs_input_grad[3:])
        grad_joined, grad_weight, grad_bias = convolution_backward(
            conv,
            grad.to(dtype),
            torch.cat(parts, 1).to(dtype),
            weight.to(dtype),
            (needs_parts, ctx.needs_input_grad[1], ctx.needs_input_grad[2]),
        )
        grads_parts = (
            [
                g.to(p.dtype)
                for g, p in zip(grad_joined.split([p.shape[1] for p in parts], 1), parts, strict=True)
            ]
            if needs_parts
            else [None] * len(parts)
        )
        return (
            None,
            None if grad_weight is None else grad_weight.to(weight.dtype),
            None if grad_bias is None else grad_bias.to(weight.dtype),
            *grads_parts,
        )


class ConcatConv2d(nn.Conv2d):
    """A convolution of the channel-wise concatenation of several maps that keeps the maps, not their
    concatenation, for backward (a dense layer's input repeats every earlier map: kept whole, a dense
    block's memory grows with the square of its depth). Same parameters and values as ``nn.Conv2d``.
    """

    def forward(self, parts: Sequence[torch.Tensor], weight: torch.Tensor | None = None) -> torch.Tensor:
        """Convolve the concatenation of ``parts`` with ``weight`` (default: the module's own)."""
        if isinstance(parts, torch.Tensor):  # would be unpacked along the batch
            raise TypeError("ConcatConv2d takes a sequence of maps to concatenate, not one tensor")
        weight = self.weight if weight is None else weight
        return _ConvolutionOfConcatenation.apply(self, weight, self.bias, *parts)


class ResidualDenseBlock(Recomputed):
    """``layers`` densely connected 3x3 conv+ReLU (growth ``growth``), 1x1 local fusion, residual."""

    def __init__(self, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(ConcatConv2d(channels + i * growth, growth, 3, padding=1), nn.ReLU(inplace=True))
            for i in range(layers)
        )
        self.fuse = ConcatConv2d(channels + layers * growth, channels, 1)

    def compute(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        features = [x]
        for conv in self.convs:
            features.append(conv(features))
        return x + self.fuse(features)


class DenseBlock(Recomputed):
    """A DenseNet block over the concatenation of its inputs, followed by a 1x1 transition to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(
                ConcatConv2d(in_channels + i * growth, growth, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)
            )
            for i in range(layers)
        )
        self.transition = nn.Sequential(
            ConcatConv2d(in_channels + layers * growth, out_channels, 1), nn.LeakyReLU(0.2, inplace=True)
        )

    def compute(self, *inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        features = list(inputs)
        for conv in self.convs:
            features.append(conv(features))
        return self.transition(features)
