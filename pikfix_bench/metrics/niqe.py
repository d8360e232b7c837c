"""NIQE, the LIVE release's ``computequality`` exactly, batched in torch float64.

NIQE (Naturalness Image Quality Evaluator) is the distance between a multivariate Gaussian fitted to
natural-scene-statistics features of 96 x 96 blocks of an image and the one fitted to pristine images;
lower is better, and no reference image is needed. The pristine model is data: the LIVE release's
``modelparameters.mat`` (``mu_prisparam``, ``cov_prisparam``), shipped as
``weights/niqe_pris_params.npz`` and checked against its recorded sha256 on every load (the
provenance and the LIVE copyright notice are in ``weights/niqe_pris_params.json``).

What ``computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam)`` does, and this module too:

1. ``rgb2gray`` of the uint8 image (MATLAB weights, rounded), then ``double``; the image is cropped to
   whole 96 x 96 blocks from the top left.
2. At two scales (the image, then ``imresize(im, 0.5)``: antialiased bicubic, not rounded): MSCN
   coefficients ``(im - mu) / (sigma + 1)`` with a 7 x 7 Gaussian window (sigma 7/6, ``imfilter``
   with replicated borders), split into blocks of 96 / scale.
3. Per block, 18 features: the AGGD fit (``estimateaggdparam``: the shape from a search over the grid
   ``0.2:0.001:10``, first minimum wins, NaN fits give the first grid value) of the coefficients
   (shape, mean of the two scales) and of the products with their four neighbours, the block shifted
   circularly within itself (shape, mean, left and right scale each).
4. ``nanmean`` and ``nancov`` of the 36 features over all blocks (every block: the sharpness selection
   of the release's ``estimatemodelparam`` is for training only), and
   ``sqrt(d' pinv((cov_pris + cov) / 2) d)`` with ``d`` the difference of the means.

Reference: A. Mittal, R. Soundararajan, A. C. Bovik, "Making a 'Completely Blind' Image Quality
Analyzer", IEEE Signal Processing Letters 20(3), 209-212, 2013, :DOI:`10.1109/LSP.2012.2227726`.
"""

from __future__ import annotations

import functools
import io
import json
import math
from importlib import resources

import numpy as np
import torch
from scipy.special import gamma

from pikfix_bench.errors import PikfixError
from pikfix_bench.hashing import shipped_file
from pikfix_bench.metrics.checks import undefined_values
from pikfix_bench.metrics.matlab import (
    colon,
    gray_chunks,
    imresize,
    mscn,
    nancov_rows,
    nanmean,
    pinv,
)

NIQE_PARAMS = "niqe_pris_params.npz"
NIQE_SHA256 = "d902b44e6c4818a2c5b57e9728ad690080da46a525b8eeeb557cd8538b972373"
BLOCK_SIZE = 96
# The four neighbour directions of the paired products, as ``circshift`` shifts (rows, columns).
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def verified_params() -> bytes:
    """The shipped pristine-model file, after checking its sha256 (raises :class:`PikfixError`)."""
    return shipped_file("pikfix_bench.metrics", NIQE_PARAMS, NIQE_SHA256)


@functools.lru_cache(maxsize=1)
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """``(mu_prisparam, cov_prisparam)`` of the LIVE release: 36 means and a 36 x 36 covariance."""
    with np.load(io.BytesIO(verified_params()), allow_pickle=False) as params:
        return params["mu_prisparam"].astype(np.float64), params["cov_prisparam"].astype(np.float64)


def provenance() -> dict:
    """The provenance record shipped beside the parameters (source, licence, sha256)."""
    resource = resources.files("pikfix_bench.metrics") / "weights" / "niqe_pris_params.json"
    return json.loads(resource.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _aggd_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The shape grid ``0.2:0.001:10``, its moment ratio ``r`` and the two gamma ratios per grid value."""
    grid = colon(0.2, 0.001, 10.0)
    ratio = gamma(2.0 / grid) ** 2 / (gamma(1.0 / grid) * gamma(3.0 / grid))
    if not np.all(np.diff(ratio) > 0):  # the nearest-value search below relies on it
        raise PikfixError("NIQE: the AGGD moment ratio is not increasing on its grid")
    scale = np.sqrt(gamma(1.0 / grid) / gamma(3.0 / grid))  # beta = std * scale
    mean = gamma(2.0 / grid) / gamma(1.0 / grid)  # AGGD mean = (beta_r - beta_l) * mean
    return grid, ratio, scale, mean


@functools.lru_cache(maxsize=8)
def _aggd_tables_on(device: torch.device) -> torch.Tensor:
    """:func:`_aggd_tables` as one ``4 x 9801`` float64 tensor on ``device`` (made once per device)."""
    return torch.as_tensor(np.stack(_aggd_tables()), device=device)


def aggd_fit(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``estimateaggdparam`` over the last dimension: grid index, alpha, left and right standard deviations.

    The LIVE NIQE and BRISQUE releases ship the same ``estimateaggdparam.m`` up to what it returns
    (BRISQUE's returns ``leftstd`` and ``rightstd``, NIQE's scales them to ``betal`` and ``betar``: see
    :func:`_aggd`). Any leading dimensions are fits of their own (NIQE fits every block of every image
    in one call). A side without values has a NaN deviation, and the fit then the first grid value.
    """
    grid, ratio, _, _ = _aggd_tables_on(values.device)
    work, side = torch.empty_like(values), torch.empty_like(values)  # reused: fresh large tensors page-fault
    mean_square = torch.mul(values, values, out=work).mean(-1)
    mean_abs = torch.abs(values, out=work).mean(-1)
    left_std = _side_std(torch.clamp(values, max=0.0, out=side), work)
    right_std = _side_std(torch.clamp(values, min=0.0, out=side), work)
    gamma_hat = left_std / right_std
    r_hat = mean_abs**2 / mean_square
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    # argmin((ratio - r_norm)^2), first index on ties: the ratio increases, so compare the two neighbours.
    upper = torch.searchsorted(ratio, r_norm.contiguous()).clamp(1, len(grid) - 1)
    lower = upper - 1
    pick_lower = (ratio[lower] - r_norm) ** 2 <= (ratio[upper] - r_norm) ** 2
    index = torch.where(pick_lower, lower, upper)
    index = torch.where(torch.isfinite(r_norm), index, 0)  # MATLAB's min: all NaN (or inf) -> first
    return index, grid[index], left_std, right_std


def _aggd(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """NIQE's ``estimateaggdparam`` over the last dimension: grid index, alpha, beta_left, beta_right."""
    index, alpha, left_std, right_std = aggd_fit(values)
    scale = _aggd_tables_on(values.device)[2]
    return index, alpha, left_std * scale[index], right_std * scale[index]


def _side_std(side: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
    """``sqrt(mean(x^2))`` over ``x < 0`` (or ``x > 0``) along the last dimension, from ``clamp(x, max=0)``.

    ``clamp(x, max=0)^2`` holds ``x^2`` where ``x < 0`` and 0 elsewhere: the same summands, in the same
    order, as ``where(x < 0, x^2, 0)`` (which costs several times more on the CPU); the count of the
    nonzero entries is exact in float64. ``side`` is overwritten and ``work`` used as scratch.
    """
    sum_of_squares = torch.mul(side, side, out=work).sum(-1)
    count = side.sign_().abs_().sum(-1)
    return torch.sqrt(sum_of_squares / count)


def neighbour_product(blocks: torch.Tensor, shift: tuple[int, int], out: torch.Tensor) -> torch.Tensor:
    """``blocks .* circshift(blocks, shift)`` per ``h x w`` block (last two dimensions), into ``out``.

    ``circshift`` shifts the block circularly within itself, as NIQE's ``computefeature`` does per block
    and BRISQUE's ``brisque_feature`` for the whole image; the product is written region by region from
    slices of the block: the same values without the shifted copy.
    """

    def regions(step: int, size: int) -> list[tuple[slice, slice]]:
        # (destination, source) index ranges along one axis: out[i] = block[i] * block[(i - step) % size]
        if step == 0:
            return [(slice(None), slice(None))]
        cut = step % size
        return [(slice(cut, None), slice(None, size - cut)), (slice(None, cut), slice(size - cut, None))]

    for rows_to, rows_from in regions(shift[0], blocks.shape[-2]):
        for cols_to, cols_from in regions(shift[1], blocks.shape[-1]):
            torch.mul(
                blocks[..., rows_to, cols_to],
                blocks[..., rows_from, cols_from],
                out=out[..., rows_to, cols_to],
            )
    return out


def _block_features(blocks: torch.Tensor) -> torch.Tensor:
    """``computefeature`` for ``N x P x b x b`` MSCN blocks: ``N x P x 18`` features.

    Each fit covers every block of every image at once; the five value sets (the coefficients, then
    their products with each of :data:`_SHIFTS`' neighbours) go one after another through one buffer,
    which keeps the temporaries at the size of the coefficients.
    """
    mean_of = _aggd_tables_on(blocks.device)[3]
    _, alpha, beta_l, beta_r = _aggd(blocks.flatten(-2))
    features = [alpha, (beta_l + beta_r) / 2]
    pairs = torch.empty_like(blocks)
    for shift in _SHIFTS:
        index, alpha, beta_l, beta_r = _aggd(neighbour_product(blocks, shift, pairs).flatten(-2))
        features += [alpha, (beta_r - beta_l) * mean_of[index], beta_l, beta_r]
    return torch.stack(features, dim=-1)


def _blocks(image: torch.Tensor, size: int) -> torch.Tensor:
    """``N x H x W`` -> ``N x P x size x size`` non-overlapping blocks (H and W multiples of size)."""
    count, height, width = image.shape
    blocks = image.reshape(count, height // size, size, width // size, size).permute(0, 1, 3, 2, 4)
    return blocks.reshape(count, -1, size, size)


def niqe_features(gray: torch.Tensor) -> torch.Tensor:
    """The 36 NIQE features of every 96 x 96 block of ``N x H x W`` float64 gray images on 0..255.

    Returns
    -------
    torch.Tensor
        ``N x P x 36`` (P blocks per image; scale-1 features first), NaN where a fit is undefined.
    """
    rows, cols = gray.shape[-2] // BLOCK_SIZE, gray.shape[-1] // BLOCK_SIZE
    if rows == 0 or cols == 0:
        raise PikfixError(
            f"niqe: a {gray.shape[-1]}x{gray.shape[-2]} image has no whole {BLOCK_SIZE}x{BLOCK_SIZE} block "
            "(NIQE needs at least 96 x 96 pixels)"
        )
    image = gray[:, : rows * BLOCK_SIZE, : cols * BLOCK_SIZE]
    scales = []
    for scale in (1, 2):
        scales.append(_block_features(_blocks(mscn(image), BLOCK_SIZE // scale)))
        if scale == 1:
            image = imresize(image, 0.5)
    return torch.cat(scales, dim=-1)


def niqe_from_features(features: torch.Tensor) -> torch.Tensor:
    """NIQE from ``N x P x 36`` block features: the MVG distance to the pristine model, ``N`` values."""
    mu_pris, cov_pris = (torch.as_tensor(t, device=features.device) for t in pristine_model())
    mu = nanmean(features, dim=1)
    cov = nancov_rows(features)
    difference = (mu_pris - mu)[:, None, :]
    pooled = (cov_pris + cov) / 2
    defined = torch.isfinite(pooled).flatten(1).all(dim=1) & torch.isfinite(difference).flatten(1).all(dim=1)
    # an undefined fit (a flat image: every block's AGGD is NaN) is NaN; MATLAB's pinv would stop with an error
    pooled = torch.where(
        defined[:, None, None], pooled, torch.eye(pooled.shape[-1], dtype=pooled.dtype, device=pooled.device)
    )
    distance = difference.nan_to_num() @ pinv(pooled) @ difference.nan_to_num().transpose(1, 2)
    return torch.where(defined, torch.sqrt(distance[:, 0, 0]), math.nan)


def niqe(image: torch.Tensor) -> torch.Tensor:
    """Per-image NIQE of uint8 images, as the LIVE release's ``computequality`` computes it.

    Parameters
    ----------
    image : torch.Tensor
        ``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray, ``uint8``, on any device; at least 96 x 96.
        RGB goes through MATLAB's ``rgb2gray`` (weights from the NTSC matrix, rounded).

    Returns
    -------
    torch.Tensor
        ``N`` float64 values (lower is better; about 3-5 for good photographs), NaN if every block
        of a feature is undefined (a flat image) or the image holds no whole 96 x 96 block.

    Notes
    -----
    Computed in float64 on the device. Validation against the published MATLAB values and the
    BasicSR and scikit-video ports is in ``docs/metrics.md``.
    """
    values = []
    for gray in gray_chunks("niqe", image):
        if min(gray.shape[-2:]) < BLOCK_SIZE:  # no whole block: no NIQE (``computequality`` has no features)
            values.append(undefined_values(gray))
        else:
            values.append(niqe_from_features(niqe_features(gray)))
    return torch.cat(values)
