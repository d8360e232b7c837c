"""MATLAB's image primitives as the no-reference metrics' original releases call them, in torch float64.

The original NIQE (LIVE release, ``computequality.m``), BRISQUE (LIVE release, ``brisque_feature.m``)
and PIQE (Image Processing Toolbox ``piqe``) are MATLAB code. Their numbers depend on MATLAB's own
definitions, which the usual Python stand-ins do not share: ``rgb2gray`` weights and rounding of uint8
images (OpenCV and Pillow use 0.299/0.587/0.114 and round half to even), ``imresize``'s antialiased
bicubic kernel with mirrored borders (Pillow renormalises truncated kernels instead), the colon
operator's grid, ``min``'s NaN rule and ``nanmean``/``nancov``.
This module holds those definitions; every function works on batches on any torch device.

References
----------
MathWorks documentation of ``rgb2gray``, ``imresize``, ``fspecial``, ``imfilter``, ``filter2``, ``colon``,
``min``, ``nanmean``, ``nancov`` and ``pinv``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch

from pikfix_bench.errors import PikfixError
from pikfix_bench.metrics.checks import check_batch

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


# Pixels converted and scored at once on a GPU: bounds the float64 temporaries of the no-reference
# metrics (about 60 bytes a pixel) on large scans. The CPU takes one image at a time: batched tensors fall
# out of the caches and their fresh allocations page-fault, which costs more than the per-operation
# overhead that batching saves (``bench/metrics.py``).
PIXELS_PER_CHUNK = 8_000_000


def gray_chunks(metric: str, image: torch.Tensor) -> Iterator[torch.Tensor]:
    """The MATLAB ``rgb2gray`` of a checked ``uint8`` batch, in chunks of :data:`PIXELS_PER_CHUNK`.

    Parameters
    ----------
    metric : str
        The metric's name, for messages.
    image : torch.Tensor
        ``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray ``uint8`` on any device.

    Yields
    ------
    torch.Tensor
        ``n x H x W`` float64 gray images, consecutive chunks of the batch (one image on the CPU).
    """
    check_batch(metric, image)
    if image.dtype != torch.uint8 or image.shape[1] not in (1, 3):
        raise PikfixError(
            f"{metric}: expected N x 3 x H x W or N x 1 x H x W uint8, got {image.dtype} {tuple(image.shape)}"
        )
    pixels = image.shape[-1] * image.shape[-2]
    per_chunk = 1 if image.device.type == "cpu" else max(1, PIXELS_PER_CHUNK // pixels)
    for start in range(0, image.shape[0], per_chunk):
        yield rgb2gray_uint8(image[start : start + per_chunk])


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


# Integer images up to this magnitude take the int32 path of :func:`mscn`: the largest intermediate,
# ``centre * (T + S)`` below, stays under 24 * 4095^2 < 2^31.
EXACT_INTEGER_LIMIT = 4095


def window_orbits(half: int) -> list[tuple[int, int, int]]:
    """The symmetry orbits ``{(+-a, +-b), (+-b, +-a)}``, ``0 <= a <= b <= half``, of a square window.

    Returns ``(a, b, members)`` in the order :func:`mscn` sums them (the centre excluded); the Gaussian
    weight is the same on every member of an orbit.
    """
    orbits = []
    for a in range(half + 1):
        for b in range(a, half + 1):
            if a == b == 0:
                continue
            members = (1 if a == 0 else 2) * (1 if b == 0 else 2) * (1 if a == b else 2)
            orbits.append((a, b, members))
    return orbits


def _is_small_integer(image: torch.Tensor) -> bool:
    """Whether every value is an integer of magnitude at most :data:`EXACT_INTEGER_LIMIT` (NaN: no)."""
    if image.numel() == 0:
        return False
    low, high = torch.aminmax(image)
    in_range = bool(low >= -EXACT_INTEGER_LIMIT) and bool(high <= EXACT_INTEGER_LIMIT)
    return in_range and torch.equal(image, torch.round(image))


def _orbit_moments(
    padded: torch.Tensor, half: int, height: int, width: int, integer: bool
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Per orbit ``(a, b, SQ)`` with ``SQ[0] = S_g`` and ``SQ[1] = Q_g`` of :func:`mscn`, ``2 x N x H x W``.

    ``padded`` is the image with ``half`` border pixels (replicated, or zeros) on every side. The orbit
    totals ``T_g`` (sum of ``x``) and ``T2_g`` (sum of ``x^2``) are built from symmetric pair sums, first
    along rows, then along columns; then ``S_g = T_g - m im`` and ``Q_g = T2_g - 2 im T_g + m im^2``
    (``m`` members).

    For a ``float64`` image the operations and their order are exactly those of the reference
    formulation (so the values are bit-for-bit the same for any input). With ``integer=True`` (an integer
    image within :data:`EXACT_INTEGER_LIMIT`) the same sums run in ``int32``: every value is an integer
    below 2^31 and is computed exactly, so ``S_g`` and ``Q_g`` equal the ``float64`` ones (which are exact
    too: integers far below 2^53) at half the memory traffic, and ``Q_g`` is formed as
    ``T2_g - im (T_g + S_g)``, the same integer.

    The yielded tensor is a buffer reused for the next orbit (large temporaries allocated afresh for
    every operation cost more than the arithmetic on the CPU).
    """
    x = padded.to(torch.int32) if integer else padded
    both = torch.stack([x, x * x])  # 2 x N x (H + 2 half) x (W + 2 half): x and x^2 summed together
    # rows[a]: the sum over the row offsets +-a (one or two terms), for every padded column
    rows = [both[..., half : half + height, :]] + [
        both[..., half - a : half - a + height, :] + both[..., half + a : half + a + height, :]
        for a in range(1, half + 1)
    ]
    total, other, orbit = (both.new_empty(both.shape[:-2] + (height, width)) for _ in range(3))

    def pair_sum(a: int, b: int, out: torch.Tensor) -> torch.Tensor:
        # the sum over the offsets (+-a, +-b): 1, 2 or 4 terms, exact for repeated values (a flat window)
        row = rows[a]
        if b == 0:
            return row[..., half : half + width]
        return torch.add(
            row[..., half - b : half - b + width], row[..., half + b : half + b + width], out=out
        )

    centre = x[..., half : half + height, half : half + width]
    scaled = {m: m * centre for m in (4, 8)}  # members * im, exact (a power of two)
    twice = 2 * centre
    for a, b, members in window_orbits(half):
        if a == b:
            orbit_total = pair_sum(a, b, total)
        else:
            orbit_total = torch.add(pair_sum(a, b, total), pair_sum(b, a, other), out=total)
        torch.sub(orbit_total[0], scaled[members], out=orbit[0])  # S_g = sum of (x_k - im)
        if integer:  # Q_g = T2_g - im (T_g + S_g) = sum of (x_k - im)^2, exactly
            torch.add(orbit_total[0], orbit[0], out=orbit[1])
            orbit[1].mul_(centre)
            torch.sub(orbit_total[1], orbit[1], out=orbit[1])
        else:  # the reference order: T2_g - 2 im T_g + m im^2
            torch.mul(twice, orbit_total[0], out=orbit[1])
            torch.sub(orbit_total[1], orbit[1], out=orbit[1])
            orbit[1].add_(torch.mul(scaled[members], centre, out=other[0]))
        yield a, b, orbit


def mscn(
    image: torch.Tensor, size: int = 7, sigma: float = 7.0 / 6.0, padding: str = "replicate"
) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients ``(im - mu) / (sigma + 1)``, exact on flat windows.

    ``mu`` and ``sigma^2`` are the local mean and variance under ``fspecial('gaussian', size, sigma)``
    with replicated borders (``imfilter(..., 'replicate')``), as NIQE's ``computequality`` and PIQE
    define them, or with zeros outside the image (``padding="zeros"``: ``filter2(window, im, 'same')``,
    as BRISQUE's ``brisque_feature`` does; the weights sum to 1, so the identities below hold for any
    border values, and zeros keep an integer image integer). They are computed about each window's
    centre pixel and summed over the window's symmetry orbits (the Gaussian has
    ``(size + 1)(size + 3) / 8`` distinct weights)::

        mu - im = sum_g w_g S_g,  S_g = sum over the orbit g of (x_k - im)
        sigma^2 = sum_g w_g Q_g - (mu - im)^2,  Q_g = sum over the orbit g of (x_k - im)^2

    which equals the textbook ``imfilter(im) - im`` and ``imfilter(im.^2) - mu.^2`` in exact arithmetic
    (the weights sum to 1). On integer images ``S_g`` and ``Q_g`` are exact, so a coefficient is zero
    exactly when it is zero mathematically (a flat window, or one whose differences cancel), where the
    textbook form leaves rounding noise of about 1e-14 whose *sign* decides which side of NIQE's AGGD
    fit the pixel joins: on images with flat areas that noise moves NIQE by up to 0.4 between two
    orders of summation, and MATLAB's own (Intel IPP) rounding is not reproducible. See
    ``docs/metrics.md``.

    Integer images (within :data:`EXACT_INTEGER_LIMIT`) compute ``S_g`` and ``Q_g`` in ``int32``, which
    gives the same integers faster (:func:`_orbit_moments`); the weighted sums then run in ``float64``
    one orbit after another, in the same order for every input and device, so the coefficients are
    the same bit for bit either way. ``imresize(im, 0.5)`` of an integer image is exact too (its
    weights are multiples of 1/256), so NIQE's second scale is exact in the same sense.

    Parameters
    ----------
    image : torch.Tensor
        ``N x H x W`` float64.
    size, sigma : int, float
        Window size (odd) and standard deviation.
    padding : str
        ``"replicate"`` (``imfilter(..., 'replicate')``) or ``"zeros"`` (``filter2(..., 'same')``).

    Returns
    -------
    torch.Tensor
        ``N x H x W`` coefficients.
    """
    taps = gaussian_taps(size, sigma)
    half = size // 2
    height, width = image.shape[-2:]
    if padding not in ("replicate", "zeros"):
        raise ValueError(f"mscn: padding must be 'replicate' or 'zeros', got {padding!r}")
    mode = "replicate" if padding == "replicate" else "constant"  # zeros: filter2(..., 'same')
    padded = torch.nn.functional.pad(image[:, None], (half,) * 4, mode=mode)[:, 0]
    moments = torch.zeros((2,) + image.shape, dtype=image.dtype, device=image.device) if half == 0 else None
    weighted = torch.empty((2,) + image.shape, dtype=image.dtype, device=image.device)
    for a, b, orbit in _orbit_moments(padded, half, height, width, _is_small_integer(image)):
        # offset_sum (mu - im) and offset_square: w_g S_g and w_g Q_g summed one orbit after another
        torch.mul(weighted.copy_(orbit), float(taps[half + a] * taps[half + b]), out=weighted)
        if moments is None:  # the first orbit: 0 + w S is w S
            moments, weighted = weighted, torch.empty_like(weighted)
        else:
            moments.add_(weighted)
    offset_sum, variance = moments
    variance.sub_(offset_sum * offset_sum)
    return offset_sum.neg().div_(variance.abs_().sqrt_().add_(1))


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


def _as_windows(indices: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``imresize``'s taps as windows of one index sequence, when every output has the same weights.

    Returns ``(sequence, step)`` with ``indices[k, t] == sequence[k * step + t]`` for all ``k, t``, or
    ``None``. For ``scale = 1/k`` (NIQE's 0.5) every output's taps are consecutive input pixels (mirrored
    at the borders) starting ``k`` pixels after the previous output's, with the same weights; the taps
    are then views (``Tensor.unfold``) of the image gathered once along ``sequence``.
    """
    count, taps = indices.shape
    if count < 2 or np.ptp(weights, axis=0).max() != 0:
        return None
    step = int(indices[count // 2, 0] - indices[count // 2 - 1, 0])  # away from the mirrored borders
    if step < 1:
        return None
    sequence = np.empty((count - 1) * step + taps, dtype=np.int64)
    positions = np.arange(count)[:, None] * step + np.arange(taps)[None, :]
    sequence[positions] = indices  # a position seen twice must hold one index (checked below)
    if not np.array_equal(sequence[positions], indices) or len(np.unique(positions)) != len(sequence):
        return None
    return sequence, step


def imresize(image: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(image, scale)`` (bicubic, antialiased) of ``N x H x W`` float images.

    Rows are resized first, then columns (MATLAB's order for equal scales); the output is
    ``ceil(scale * size)`` and is not rounded (double in, double out). Each output is computed as its
    first tap plus the weighted differences of the others (the weights sum to 1), so a flat region
    stays exactly flat instead of gaining rounding noise (see :func:`mscn`). For ``scale = 0.5`` the
    weights are multiples of 1/256 (``-3, -9, 29, 111`` and mirrored), so on an integer image every
    product and sum is exact and the output is exactly ``sum_s sum_t w_s w_t x``, a multiple of 2^-16.
    """
    for dim in (1, 2):
        indices, weights = _contributions(image.shape[dim], float(scale))
        windows = _as_windows(indices, weights)
        if windows is not None:  # views of the taps; the same arithmetic, one tap after another
            sequence, step = windows
            source = image.index_select(dim, torch.as_tensor(sequence, device=image.device))
            taps = source.unfold(dim, indices.shape[1], step)  # ... x outputs (along dim) x ... x taps
            reference = taps[..., 0]
            out = torch.zeros_like(reference)
            difference = torch.empty_like(reference)
            for tap in range(1, indices.shape[1]):
                out.add_(torch.sub(taps[..., tap], reference, out=difference).mul_(float(weights[0, tap])))
            image = reference + out
            continue
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
