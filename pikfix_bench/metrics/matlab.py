"""MATLAB's image primitives as the no-reference metrics' original releases call them, in torch float64.

The original NIQE (LIVE release, ``computequality.m``) and PIQE (Image Processing Toolbox ``piqe``) are
MATLAB code. Their numbers depend on MATLAB's own definitions, which the usual Python stand-ins do not
share: ``rgb2gray`` weights and rounding of uint8 images (OpenCV and Pillow use 0.299/0.587/0.114 and
round half to even), ``imresize``'s antialiased bicubic kernel with mirrored borders (Pillow renormalises
truncated kernels instead), the colon operator's grid, ``min``'s NaN rule and ``nanmean``/``nancov``.
This module holds those definitions; every function works on batches on any torch device.

References
----------
MathWorks documentation of ``rgb2gray``, ``imresize``, ``fspecial``, ``imfilter``, ``colon``, ``min``,
``nanmean``, ``nancov`` and ``pinv``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

# rgb2gray: the first row of the inverse of the NTSC (YIQ) matrix, as MATLAB computes its weights.
_NTSC = np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]])
RGB2GRAY_WEIGHTS: tuple[float, float, float] = tuple(float(w) for w in np.linalg.inv(_NTSC)[0])


def rgb2gray_uint8(image: torch.Tensor) -> torch.Tensor:
    """MATLAB ``rgb2gray`` of uint8 RGB images: the weighted sum in double, rounded half away from zero.

    Parameters
    ----------
    image : torch.Tensor
        ``N x 3 x H x W`` ``uint8`` RGB (or ``N x 1 x H x W``, returned as it is).

    Returns
    -------
    torch.Tensor
        ``N x H x W`` float64 holding integers in ``0..255`` (what ``double(rgb2gray(I))`` holds).
    """
    if image.shape[1] == 1:
        return image[:, 0].to(torch.float64)
    red, green, blue = image.to(torch.float64).unbind(1)
    w_r, w_g, w_b = RGB2GRAY_WEIGHTS
    gray = w_r * red + w_g * green + w_b * blue
    return torch.floor(gray + 0.5).clamp_(0.0, 255.0)  # values are >= 0: round half away from zero


def colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop`` for a non-integer step.

    MATLAB fills the first half from ``start`` upwards and the second half from ``stop`` downwards
    (``start + k*step`` and ``stop - k*step``), with the exact midpoint ``(start+stop)/2`` when the
    count is even, so the last value is ``stop`` itself; ``numpy.arange`` accumulates from ``start``
    only. The two differ by a few ulps, which can matter for values used as features.
    """
    count = int(math.floor((stop - start) / step + 1e-10))  # MATLAB allows a relative tolerance
    values = np.empty(count + 1)
    half = np.arange(count // 2 + 1)
    values[half] = start + half * step
    values[count - half] = stop - half * step
    if count % 2 == 0:
        values[count // 2] = (start + stop) / 2
    return values


def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """The 1-D factor of ``fspecial('gaussian', size, sigma)`` normalised to sum 1.

    ``fspecial``'s 2-D window is ``exp(-(x^2+y^2)/(2 sigma^2))`` normalised, which is the outer product
    of this vector with itself; filtering with it separably (as ``imfilter`` does for a separable
    window of 49 taps or more) gives the same values to rounding.
    """
    half = (size - 1) / 2
    x = np.arange(-half, half + 1)
    taps = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def filter_replicate(image: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """``imfilter(image, taps' * taps, 'replicate')`` on ``N x H x W`` float64 images (correlation)."""
    kernel = torch.as_tensor(taps, dtype=image.dtype, device=image.device)
    pad = len(taps) // 2
    x = torch.nn.functional.pad(image[:, None], (pad, pad, pad, pad), mode="replicate")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1))
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1))
    return x[:, 0]


def mscn(image: torch.Tensor, size: int = 7, sigma: float = 7.0 / 6.0) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients ``(im - mu) / (sigma + 1)``, exact on flat windows.

    ``mu`` and ``sigma^2`` are the local mean and variance under ``fspecial('gaussian', size, sigma)``
    with replicated borders (``imfilter(..., 'replicate')``), as NIQE's ``computequality`` and PIQE
    define them. They are computed about each window's centre pixel and summed over the window's
    symmetry orbits (the Gaussian has ``(size + 1)(size + 3) / 8`` distinct weights)::

        mu - im = sum_g w_g S_g,  S_g = sum over the orbit g of (x_k - im)
        sigma^2 = sum_g w_g Q_g - (mu - im)^2,  Q_g = sum over the orbit g of (x_k - im)^2

    which equals the textbook ``imfilter(im) - im`` and ``imfilter(im.^2) - mu.^2`` in exact arithmetic
    (the weights sum to 1). On integer images ``S_g`` and ``Q_g`` are exact, so a coefficient is zero
    exactly when it is zero mathematically (a flat window, or one whose differences cancel), where the
    textbook form leaves rounding noise of about 1e-14 whose *sign* decides which side of NIQE's AGGD
    fit the pixel joins: on images with flat areas that noise moves NIQE by up to 0.4 between two
    orders of summation, and MATLAB's own (Intel IPP) rounding is not reproducible. See
    ``docs/metrics.md``.

    Parameters
    ----------
    image : torch.Tensor
        ``N x H x W`` float64.
    size, sigma : int, float
        Window size (odd) and standard deviation.

    Returns
    -------
    torch.Tensor
        ``N x H x W`` coefficients.
    """
    taps = gaussian_taps(size, sigma)
    half = size // 2
    height, width = image.shape[-2:]
    padded = torch.nn.functional.pad(image[:, None], (half,) * 4, mode="replicate")[:, 0]

    def symmetric_sums(x: torch.Tensor) -> list[list[torch.Tensor]]:
        # sums[a][b]: the sum of x over the offsets (+-a, +-b) (1, 2 or 4 of them), exact for integers
        # and for repeated values (1, 2 or 4 copies), so a flat window gives exactly 4 v, 2 v or v.
        rows = [x[:, half : half + height]] + [
            x[:, half - a : half - a + height] + x[:, half + a : half + a + height]
            for a in range(1, half + 1)
        ]
        return [
            [r[..., half : half + width]]
            + [
                r[..., half - b : half - b + width] + r[..., half + b : half + b + width]
                for b in range(1, half + 1)
            ]
            for r in rows
        ]

    sums, square_sums = symmetric_sums(padded), symmetric_sums(padded * padded)
    offset_sum = torch.zeros_like(image)
    offset_square = torch.zeros_like(image)
    for a in range(half + 1):  # the orbit {(+-a, +-b), (+-b, +-a)}, 0 <= a <= b
        for b in range(a, half + 1):
            if a == b == 0:
                continue
            members = (1 if a == 0 else 2) * (1 if b == 0 else 2) * (1 if a == b else 2)
            total = sums[a][b] if a == b else sums[a][b] + sums[b][a]
            total_square = square_sums[a][b] if a == b else square_sums[a][b] + square_sums[b][a]
            orbit_sum = total - members * image  # sum of (x_k - im): exact on integer images
            orbit_square = total_square - 2 * image * total + members * image * image  # sum of (x_k - im)^2
            weight = float(taps[half + a] * taps[half + b])
            offset_sum += weight * orbit_sum
            offset_square += weight * orbit_square
    variance = offset_square - offset_sum * offset_sum
    return -offset_sum / (torch.sqrt(torch.abs(variance)) + 1)


def _cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize``'s bicubic kernel (Keys, a = -0.5)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


@functools.lru_cache(maxsize=64)
def _contributions(in_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``imresize``'s ``contributions``: per output pixel, 0-based input indices and weights.

    Antialiased bicubic: for ``scale < 1`` the kernel is ``scale * cubic(scale * x)`` with width
    ``4 / scale``; borders are mirrored (``[1:n, n:-1:1]``); columns of zero weight are dropped.
    """
    out_length = int(math.ceil(in_length * scale))
    kernel_width = 4.0
    if scale < 1:
        kernel = lambda x: scale * _cubic(scale * x)  # noqa: E731
        kernel_width /= scale
    else:
        kernel = _cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(1, in_length + 1), np.arange(in_length, 0, -1)])
    indices = mirror[np.mod(indices - 1, len(mirror)).astype(np.int64)] - 1
    keep = np.any(weights != 0, axis=0)
    return indices[:, keep].astype(np.int64), weights[:, keep]


def imresize(image: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(image, scale)`` (bicubic, antialiased) of ``N x H x W`` float images.

    Rows are resized first, then columns (MATLAB's order for equal scales); the output is
    ``ceil(scale * size)`` and is not rounded (double in, double out). Each output is computed as its
    first tap plus the weighted differences of the others (the weights sum to 1), so a flat region
    stays exactly flat instead of gaining rounding noise (see :func:`mscn`).
    """
    for dim in (1, 2):
        indices, weights = _contributions(image.shape[dim], float(scale))
        index = torch.as_tensor(indices, device=image.device)
        weight = torch.as_tensor(weights, dtype=image.dtype, device=image.device)
        moved = image.movedim(dim, -1)  # resize along the last dimension
        reference = moved[..., index[:, 0]]
        out = torch.zeros_like(reference)
        for tap in range(1, index.shape[1]):
            out += (moved[..., index[:, tap]] - reference) * weight[:, tap]
        image = (reference + out).movedim(-1, dim)
    return image.contiguous()


def nanmean(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``nanmean``: the mean of the values that are not NaN (NaN where all are)."""
    valid = ~torch.isnan(values)
    return torch.where(valid, values, 0.0).sum(dim) / valid.sum(dim)


def nancov_rows(features: torch.Tensor) -> torch.Tensor:
    """``nancov`` of ``N x P x F`` feature rows, per image: rows holding a NaN are dropped.

    As ``cov``, normalised by ``n - 1``. MATLAB treats a single row (a vector) as observations of one
    variable and returns its scalar variance; that case is reproduced, broadcast to ``F x F``. With no
    complete row the result is NaN.
    """
    complete = ~torch.isnan(features).any(dim=-1)  # N x P
    count = complete.sum(dim=1).to(features.dtype)  # N
    rows = torch.where(complete[..., None], features, 0.0)
    mean = rows.sum(dim=1) / count[:, None]
    centred = torch.where(complete[..., None], features - mean[:, None, :], 0.0)
    cov = centred.transpose(1, 2) @ centred / (count - 1)[:, None, None]
    # a single complete row: MATLAB's vector rule, the variance of its F values
    single = torch.where(complete[..., None], features, 0.0).sum(dim=1)  # the one row, where count == 1
    variance = single.var(dim=1, unbiased=True)
    cov = torch.where((count == 1)[:, None, None], variance[:, None, None].expand_as(cov), cov)
    return torch.where((count == 0)[:, None, None], torch.full_like(cov, math.nan), cov)


def pinv(matrix: torch.Tensor) -> torch.Tensor:
    """MATLAB ``pinv``: SVD, singular values at or below ``max(size) * s_max * eps`` treated as zero."""
    return torch.linalg.pinv(matrix, rtol=max(matrix.shape[-2:]) * torch.finfo(matrix.dtype).eps)
