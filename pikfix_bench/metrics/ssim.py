"""Structural similarity (Wang et al. 2004) with a Gaussian window, batched.

Two border conventions cover the reference implementations the toolkit matches:

- ``"zero"``: the image is zero-padded so the map has the image's size, and the
  whole map is averaged (``pytorch-ssim``, the Pik-Fix code);
- ``"valid"``: only positions whose window lies inside the image are kept
  (scikit-image after its border crop, BasicSR, Wang's MATLAB script).

Reference: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 13(4),
2004, :DOI:`10.1109/TIP.2003.819861`.
"""

from __future__ import annotations

import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pikfix_bench.errors import ShapeMismatchError
from pikfix_bench.metrics.checks import check_batch, check_window, resolve_data_range

SsimPadding = Literal["zero", "valid"]
K1, K2 = 0.01, 0.03


def gaussian_window_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (odd) and standard deviation ``sigma`` pixels."""
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    window = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return window / window.sum()


def _ssim_map(mu_x, mu_y, e_sq, e_xy, spare, c1: float, c2: float):
    """The SSIM map from filtered moments, computed in the buffers given (numpy arrays or torch tensors).

    ``(2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``,
    where ``e_sq`` is the filtered ``x^2 + y^2`` (the variances only appear summed, which saves one
    filtering) and ``e_xy`` the filtered ``x y``. ``spare`` is a buffer of the same shape that
    receives the map; reusing the buffers avoids a dozen full-size temporaries per image.
    """
    spare[...] = mu_x
    spare *= mu_y  # mu_x mu_y
    e_xy -= spare
    e_xy *= 2.0
    e_xy += c2  # 2 sigma_xy + C2
    spare *= 2.0
    spare += c1  # 2 mu_x mu_y + C1
    mu_x *= mu_x
    mu_y *= mu_y
    mu_x += mu_y  # mu_x^2 + mu_y^2
    e_sq -= mu_x
    e_sq += c2  # sigma_x^2 + sigma_y^2 + C2
    mu_x += c1  # mu_x^2 + mu_y^2 + C1
    spare *= e_xy
    mu_x *= e_sq
    spare /= mu_x
    return spare


def _ssim_torch(pred, target, window, padding, c1, c2) -> torch.Tensor:
    """Batched SSIM with grouped convolutions (the CUDA path)."""
    channels, size = pred.shape[1] * 4, window.numel()
    pad = size // 2 if padding == "zero" else 0
    stack = torch.cat([pred, target, pred * pred + target * target, pred * target], dim=1)
    horizontal = window.view(1, 1, 1, size).expand(channels, 1, 1, size)
    vertical = window.view(1, 1, size, 1).expand(channels, 1, size, 1)
    filtered = F.conv2d(
        F.conv2d(stack, horizontal, padding=(0, pad), groups=channels),
        vertical,
        padding=(pad, 0),
        groups=channels,
    )
    moments = filtered.chunk(4, dim=1)
    return _ssim_map(*moments, torch.empty_like(moments[0]), c1, c2).flatten(1).mean(dim=1)


@functools.lru_cache(maxsize=1)
def _image_pool() -> ThreadPoolExecutor:
    """Threads for per-image CPU work (OpenCV and numpy release the GIL)."""
    return ThreadPoolExecutor(max_workers=torch.get_num_threads(), thread_name_prefix="pikfix-ssim")


# Per-thread float64 work buffers, kept for the last image shape when it holds at most this many
# values (8 MiB a buffer): fresh multi-megabyte arrays cost page faults on every image.
_KEEP_BUFFERS_UP_TO = 1 << 20
_workspace = threading.local()


def _buffers(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Five float64 arrays of ``shape`` for the calling thread."""
    kept = getattr(_workspace, "buffers", None)
    if kept is not None and kept[0].shape == shape:
        return kept
    buffers = [np.empty(shape, dtype=np.float64) for _ in range(5)]
    _workspace.buffers = buffers if math.prod(shape) <= _KEEP_BUFFERS_UP_TO else None
    return buffers


def _ssim_opencv(pred, target, window_size, sigma, padding, c1, c2) -> torch.Tensor:
    """SSIM image by image with OpenCV's float64 ``GaussianBlur`` (the CPU path).

    One channels-last image at a time in per-thread buffers keeps the working set in cache,
    and images are spread over threads: on two cores this is about ten times faster than
    torch's float64 grouped convolution over a batch. OpenCV builds the same normalised kernel
    (``getGaussianKernel``) and blurs in place; values agree with the torch path to about 1e-16.
    """
    radius = window_size // 2
    # whole rows keep the arrays contiguous (cropped columns run numpy several times slower);
    # the columns are cropped for the mean only
    keep = slice(None) if padding == "zero" else slice(radius, -radius)

    def one_image(index: int) -> float:
        x, y, sq, xy, spare = _buffers((pred.shape[2], pred.shape[3], pred.shape[1]))
        np.copyto(x, pred[index].permute(1, 2, 0).numpy())
        np.copyto(y, target[index].permute(1, 2, 0).numpy())
        np.multiply(x, x, out=sq)
        np.multiply(y, y, out=xy)
        sq += xy
        np.multiply(x, y, out=xy)
        for moment in (x, y, sq, xy):
            cv2.GaussianBlur(
                moment,
                (window_size, window_size),
                sigma,
                dst=moment,
                sigmaY=sigma,
                borderType=cv2.BORDER_CONSTANT,
            )
        rows = [moment[keep] for moment in (x, y, sq, xy, spare)]
        return float(_ssim_map(*rows, c1, c2)[:, keep].mean())

    return torch.tensor(list(_image_pool().map(one_image, range(len(pred)))), dtype=torch.float64)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    padding: SsimPadding = "zero",
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float | None = None,
) -> torch.Tensor:
    """Per-image mean SSIM, averaged over channels and map positions.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``N x C x H x W`` images on the scale of ``data_range``: float64, or ``uint8``
        with ``data_range=255`` (converted to float64 image by image).
    padding : {"zero", "valid"}
        Border convention (see the module docstring).
    window_size : int
        Gaussian window size in pixels (odd).
    sigma : float
        Gaussian standard deviation in pixels.
    data_range : float, optional
        Dynamic range of the images (1.0 by default for float images; required for ``uint8``); sets ``C1 = (0.01 L)^2`` and ``C2 = (0.03 L)^2``.

    Returns
    -------
    torch.Tensor
        ``N`` float64 SSIM values (1 for identical images), on the input's device.
    """
    check_batch("ssim", pred, target)
    check_window(window_size, sigma)
    data_range = resolve_data_range("ssim", pred, data_range)
    height, width = pred.shape[-2:]
    if padding == "valid" and (height < window_size or width < window_size):
        raise ShapeMismatchError(
            f"SSIM in 'valid' mode needs images of at least {window_size}x{window_size} pixels, got {height}x{width}"
        )
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    if pred.device.type == "cpu":
        return _ssim_opencv(pred, target, window_size, sigma, padding, c1, c2)
    pred, target = pred.to(torch.float64), target.to(torch.float64)
    window = gaussian_window_1d(window_size, sigma, torch.float64, pred.device)
    return _ssim_torch(pred, target, window, padding, c1, c2)
