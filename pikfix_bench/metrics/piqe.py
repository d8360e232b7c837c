"""PIQE, the training-free no-reference score of MATLAB's ``piqe``, batched in torch float64.

PIQE (Perception-based Image Quality Evaluator) needs no model: the image's MSCN coefficients are cut
into 16 x 16 blocks; blocks with variance above 0.1 are "active"; an active block is *distorted* when
one of its four edges has a 6-pixel segment of standard deviation below 0.1 (blockiness, sudden
artifacts), and *noisy* when its standard deviation exceeds twice the relative difference between it
and the ratio of the deviations of the block's centre columns and surround. The score is
``100 (1 + sum over active blocks of [distorted] (1 - var) + [noisy] var) / (1 + active blocks)``, in
``[0, 100]``, lower is better; an image without active blocks (flat) scores 100.

As MATLAB computes it: ``rgb2gray`` of the uint8 image; symmetric padding after the last row and
column to whole blocks; scaling to ``round(255 * im / max(im))``; MSCN with a 7 x 7 Gaussian window
(sigma 7/6, replicated borders); variances and standard deviations normalised by ``n - 1``. The
centre of a block is its columns 8 and 9 (1-based) and its surround every column but 8 and 10, as
MATLAB's deletion of two columns in turn leaves it (the scikit-image-free ``pypiqe`` port and pyiqa
agree; the published MATLAB values of ``docs/metrics.md`` are met only this way).

Reference: N. Venkatanath, D. Praneeth, M. C. Bh, S. S. Channappayya, S. S. Medasani, "Blind Image
Quality Evaluation Using Perception Based Features", Proc. 21st National Conference on Communications
(NCC), 2015, :DOI:`10.1109/NCC.2015.7084843`.
"""

from __future__ import annotations

import torch

from pikfix_bench.metrics.matlab import gray_chunks, mscn

BLOCK_SIZE = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT = 6


def _pad_symmetric_post(image: torch.Tensor, size: int) -> torch.Tensor:
    """``padarray(image, pad, 'symmetric', 'post')`` to multiples of ``size`` (edge pixel repeated).

    MATLAB mirrors with period ``2 n`` (``[1:n, n:-1:1]`` repeated), so a side shorter than the padding
    is reflected again and again.
    """
    for dim in (-2, -1):
        length = image.shape[dim]
        missing = -length % size
        if missing:
            period = [k % (2 * length) for k in range(length + missing)]
            index = [k if k < length else 2 * length - 1 - k for k in period]
            image = image.index_select(dim, torch.as_tensor(index, device=image.device))
    return image


def _std(values: torch.Tensor) -> torch.Tensor:
    return values.std(dim=-1, unbiased=True)


def piqe(image: torch.Tensor) -> torch.Tensor:
    """Per-image PIQE of uint8 images, as MATLAB's ``piqe`` computes it.

    Parameters
    ----------
    image : torch.Tensor
        ``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray, ``uint8``, on any device.

    Returns
    -------
    torch.Tensor
        ``N`` float64 scores in ``[0, 100]`` (lower is better; 100 for a flat image).
    """
    return torch.cat([_piqe_of_gray(gray) for gray in gray_chunks("piqe", image)])


def _piqe_of_gray(gray: torch.Tensor) -> torch.Tensor:
    """PIQE of ``N x H x W`` float64 gray images (MATLAB ``rgb2gray`` of uint8)."""
    gray = _pad_symmetric_post(gray, BLOCK_SIZE)
    peak = gray.flatten(1).amax(dim=1)[:, None, None]
    scaled = torch.floor(255.0 * (gray / peak) + 0.5)  # round(); NaN for an all-black image, as MATLAB
    coefficients = mscn(scaled)
    count, height, width = coefficients.shape
    blocks = coefficients.reshape(count, height // BLOCK_SIZE, BLOCK_SIZE, width // BLOCK_SIZE, BLOCK_SIZE)
    blocks = blocks.permute(0, 1, 3, 2, 4).reshape(count, -1, BLOCK_SIZE, BLOCK_SIZE)
    variance = blocks.flatten(-2).var(dim=-1, unbiased=True)
    active = variance > ACTIVITY_THRESHOLD

    edges = torch.stack([blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], dim=2)
    segments = edges.unfold(-1, SEGMENT, 1)  # N x P x 4 x 11 x 6
    impaired = (_std(segments) < IMPAIRED_THRESHOLD).flatten(2).any(dim=-1)

    centre1 = BLOCK_SIZE // 2 - 1  # 0-based columns 7 and 8
    centre = torch.cat([blocks[..., centre1], blocks[..., centre1 + 1]], dim=-1)
    keep = [c for c in range(BLOCK_SIZE) if c not in (centre1, centre1 + 2)]
    surround = blocks[..., keep].flatten(-2)
    ratio = torch.nan_to_num(_std(centre) / _std(surround), nan=0.0)
    sigma = torch.sqrt(variance)
    beta = torch.abs(sigma - ratio) / torch.maximum(sigma, ratio)
    noisy = sigma > 2 * beta

    scores = torch.where(active, impaired * (1 - variance) + noisy * variance, 0.0).sum(dim=1)
    return (scores + 1) / (active.sum(dim=1) + 1) * 100
