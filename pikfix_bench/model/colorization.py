"""Colourization sub-net: space-preserving histograms (SPHist) of the reference, warped by the similarity
maps, fused into a dense-block U-Net that predicts ab."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pikfix_bench.model.blocks import ConcatConv2d, DenseBlock, Recomputed, recomputed


class SPHist(nn.Module):
    """Per-pixel soft assignment of a channel in [-1, 1] to K bins with learnable centres.

    ``h(i, j, k) = exp(-(D_ij - u_k)^2 / 2 sigma^2) / sum_k' exp(-(D_ij - u_k')^2 / 2 sigma^2)``:
    every pixel's row sums to 1, and the spatial layout is kept. The network only ever needs pooled
    histograms (:meth:`pooled`, :meth:`global_histogram`): those are computed with the full-resolution
    ``N x K x H x W`` tensor recomputed in backward instead of kept (the same values, a fraction of the
    memory).
    """

    def __init__(self, bins: int, sigma: float) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.linspace(-1.0, 1.0, bins))
        self.sigma = sigma

    def forward(self, channel: torch.Tensor, fixed_centres: bool = False) -> torch.Tensor:
        """``N x 1 x H x W`` values -> ``N x K x H x W`` soft histograms.

        ``fixed_centres`` measures with the centres as they are, without a gradient into them (the
        loss's histograms: a ruler the loss could move would let it fall without changing the colours).
        """
        centres = self.centres.detach() if fixed_centres else self.centres
        channel = at_least_float32(channel)  # float32 also under autocast
        logits = -((channel - centres.view(1, -1, 1, 1)) ** 2) / (2 * self.sigma**2)
        return torch.softmax(logits, dim=1)

    def global_histogram(self, channel: torch.Tensor, fixed_centres: bool = False) -> torch.Tensor:
        """``N x K`` histogram of the whole image (mean of the per-pixel ones)."""
        return recomputed(
            lambda x: at_least_float32(self.forward(x, fixed_centres)).mean(dim=(2, 3)), channel
        )

    def pooled(self, ab: torch.Tensor, grids: list[tuple[int, int]]) -> list[torch.Tensor]:
        """The a and b histograms of ``ab`` (``N x 2 x H x W``) average-pooled to each grid: ``N x 2K x h x w``."""

        def histograms(values: torch.Tensor) -> tuple[torch.Tensor, ...]:
            full = torch.cat([self.forward(values[:, :1]), self.forward(values[:, 1:])], 1)
            return tuple(F.adaptive_avg_pool2d(full, grid) for grid in grids)

        return list(recomputed(histograms, ab))


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32 when it is in a reduced precision (float64 stays float64)."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def pool_to_grids(values: torch.Tensor, grids: list[tuple[int, int]]) -> list[torch.Tensor]:
    """``values`` average-pooled to each grid (the reference evidence that ``warp`` carries)."""
    return [F.adaptive_avg_pool2d(values, grid) for grid in grids]


def similarity_map(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Phi = the centred cosine correlation ``N x P x P'`` of normalised features ``N x C x P`` and ``N x C x P'``."""
    return torch.einsum("ncu,ncv->nuv", query, key)


def warp(
    pooled: torch.Tensor,
    query: torch.Tensor | None,
    key: torch.Tensor | None,
    grid_in: tuple[int, int],
    temperature: float,
) -> torch.Tensor:
    """Carry pooled reference values (``N x C x h' x w'``) to the input grid with softmax(Phi / T).

    Phi = ``query^T key`` is never materialised: the warp is one ``scaled_dot_product_attention``
    (scale 1/T) in float32, since T = 0.01 magnifies logit error 100x. Queries, keys and values are
    zero-padded to one width, which the fused (flash / memory-efficient) kernels need; without them
    PyTorch falls back to the kernel that keeps ``softmax(Phi / T)`` for backward. With ``query=None``
    every input position takes the reference's average (no similarity).
    """
    count, channels = pooled.shape[:2]
    values = pooled.flatten(2)  # N x C x P'
    if query is None:
        return (
            values.mean(dim=2, keepdim=True)
            .expand(-1, -1, grid_in[0] * grid_in[1])
            .reshape(count, channels, *grid_in)
        )
    query, key, values = (at_least_float32(t).transpose(1, 2).unsqueeze(1) for t in (query, key, values))
    width = max(query.shape[-1], values.shape[-1])  # the fused kernels take one width for all three
    with torch.autocast(query.device.type, enabled=False):
        carried = F.scaled_dot_product_attention(
            _widened(query, width), _widened(key, width), _widened(values, width), scale=1.0 / temperature
        )  # N x 1 x P x width
    carried = carried[:, 0, :, :channels]
    return carried.transpose(1, 2).reshape(count, channels, *grid_in)


def _widened(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """``tensor`` with zeros appended to its last dimension up to ``width`` (dot products unchanged),
    contiguous in it (the fused kernels' other condition)."""
    return F.pad(tensor, (0, width - tensor.shape[-1])).contiguous()


class Fusion(Recomputed):
    """Combines deep features with warped colour evidence (residual)."""

    def __init__(self, channels: int, evidence: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConcatConv2d(channels + evidence, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def compute(self, features: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # the evidence resized to the features (2K channels at full size at the finest level) is resized
        # again in backward rather than kept; when the whole fusion is recomputed, that already does it
        mixed = self._mix(features, evidence) if self.recompute else recomputed(self._mix, features, evidence)
        return features + self.body[2](self.body[1](mixed))

    def _mix(self, features: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
        evidence = F.interpolate(evidence, size=features.shape[-2:], mode="bilinear", align_corners=False)
        return self.body[0]([features, evidence])


class ColorizationUNet(nn.Module):
    """A four-level U-Net of dense blocks whose finest ``fused_levels`` decoder levels fuse warped evidence.

    ``evidence_channels`` is the channel count of what is fused (2K for SPHist, 2 for ab);
    ``input_channels`` is 3 when warped ab is concatenated to the lightness input. Output: ab/110 in [-1, 1].
    """

    def __init__(
        self,
        width: int,
        growth: int,
        layers: int,
        evidence_channels: int,
        fused_levels: int,
        input_channels: int = 1,
    ) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(4)]
        self.head = nn.Conv2d(input_channels, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList(DenseBlock(w, w, growth, layers) for w in widths)
        self.downs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1) for i in range(3)
        )
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(3))
        self.decoders = nn.ModuleList(DenseBlock(2 * widths[i], widths[i], growth, layers) for i in range(3))
        # decoder level 0 is the bottleneck (coarsest), level 3 the finest; the last fused_levels are fused
        self.first_fused = 4 - fused_levels
        self.fusions = nn.ModuleList(
            Fusion(widths[3 - level], evidence_channels) for level in range(self.first_fused, 4)
        )
        self.tail = nn.Conv2d(widths[0], 2, 3, padding=1)

    def _fuse(self, level: int, features: torch.Tensor, evidence: list[torch.Tensor]) -> torch.Tensor:
        if level < self.first_fused:
            return features
        return self.fusions[level - self.first_fused](features, evidence[level - self.first_fused])

    def forward(self, x: torch.Tensor, evidence: list[torch.Tensor]) -> torch.Tensor:
        """``evidence``: one warped map per fused decoder level, coarsest first."""
        skips = []
        features = self.head(x)
        for index, encoder in enumerate(self.encoders):
            features = encoder(features)
            if index < 3:
                skips.append(features)
                features = self.downs[index](features)
        features = self._fuse(0, features, evidence)
        for level, index in enumerate(reversed(range(3)), start=1):
            up = self.ups[index](features)
            if up.shape[-2:] != skips[index].shape[-2:]:
                up = F.interpolate(up, size=skips[index].shape[-2:], mode="nearest")
            features = self._fuse(level, self.decoders[index](up, skips[index]), evidence)
        return torch.tanh(self.tail(features))
