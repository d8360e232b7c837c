"""BRISQUE as the LIVE release's ``brisquescore`` computes it, batched in torch float64.

BRISQUE (Blind/Referenceless Image Spatial Quality Evaluator) fits generalised Gaussian distributions to
the MSCN coefficients of the whole image and to their products with four neighbours, at two scales, and
maps the 36 fitted parameters to a score with a support vector regression trained on the LIVE IQA
database (DMOS: about 0 for pristine photographs, 100 for the worst; lower is better; values outside
0..100 occur). The SVR is data: the release's ``allmodel`` (libsvm, epsilon-SVR, RBF kernel) and its
scaling ranges ``allrange``, shipped as ``weights/brisque_live_model.npz`` and checked against its
recorded sha256 on every load (provenance and the LIVE notice in ``weights/brisque_live_model.json``).
libsvm is not needed.

What ``brisquescore(im)`` does, and this module too:

1. ``rgb2gray`` of the uint8 image (MATLAB weights, rounded), then ``double``.
2. At two scales (the image, then ``imresize(im, 0.5)``: antialiased bicubic, not rounded): MSCN
   coefficients ``(im - mu) / (sigma + 1)`` with a 7 x 7 Gaussian window (sigma 7/6) applied by
   ``filter2(window, im, 'same')``: zeros outside the image (NIQE and PIQE replicate the border).
3. Per scale, 18 features of the whole image: ``estimateggdparam`` of the coefficients (shape from the
   grid ``0.2:0.001:10``, first minimum of ``|rho - r(alpha)|``; ``sigma^2``) and ``estimateaggdparam``
   of their products with the neighbours ``circshift``-ed by ``[0 1; 1 0; 1 1; -1 1]`` (whole image,
   wrapping around): shape, mean parameter, left and right variance.
4. The libsvm round trip of ``brisquescore.m``, with its text files: the features are written with
   ``fprintf('%f')`` (6 decimals), ``svm-scale -r allrange`` maps them linearly to [-1, 1] (a value equal
   to a feature's min or max becomes -1 or 1 exactly; values outside the range are extrapolated, not
   clipped) and writes them with ``%g`` (6 significant digits), ``svm-predict`` evaluates
   ``sum_i coef_i exp(-gamma |sv_i - x|^2) - rho`` in that order and writes it with ``%g``, which
   ``load output`` reads back: the score has 6 significant digits, as MATLAB's.

Where a 7 x 7 window is flat the coefficient is exactly 0 here (:func:`~pikfix_bench.metrics.matlab.mscn`);
MATLAB leaves rounding noise whose sign decides which side of the AGGD fits the pixel joins, and which
cannot be reproduced. Images without flat windows get MATLAB's value; images with many can differ by
several points (``docs/metrics.md``).

Reference: A. Mittal, A. K. Moorthy, A. C. Bovik, "No-Reference Image Quality Assessment in the Spatial
Domain", IEEE Transactions on Image Processing 21(12), 4695-4708, 2012, :DOI:`10.1109/TIP.2012.2214050`.
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
from pikfix_bench.metrics.matlab import colon, gray_chunks, imresize, mscn
from pikfix_bench.metrics.niqe import aggd_fit, neighbour_product

BRISQUE_MODEL = "brisque_live_model.npz"
BRISQUE_SHA256 = "d34912520d83caccb5f884655902d822778b395c10e851457d1a1f604bd7e084"
FEATURES = 36
# Both sides at least this long: the second scale (ceil(n / 2)) then holds one whole 7 x 7 window.
MIN_SIZE = 13
# ``brisque_feature.m``'s neighbours, as ``circshift`` shifts (rows, columns); NIQE's last one is [1 -1].
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


def verified_model() -> bytes:
    """The shipped SVR file, after checking its sha256 (raises :class:`PikfixError`)."""
    return shipped_file("pikfix_bench.metrics", BRISQUE_MODEL, BRISQUE_SHA256)


@functools.lru_cache(maxsize=1)
def svr_model() -> dict[str, np.ndarray]:
    """The release's SVR and scaling ranges: ``support_vectors`` (774 x 36), ``coefficients``, ``gamma``,
    ``rho``, ``scale_limits`` (svm-scale's lower and upper), ``feature_min`` and ``feature_max`` (36)."""
    with np.load(io.BytesIO(verified_model()), allow_pickle=False) as params:
        model = {name: params[name].astype(np.float64) for name in params.files}
    for name in ("gamma", "rho"):
        model[name] = model[name].reshape(())
    if model["support_vectors"].shape[1:] != (FEATURES,) or model["feature_min"].shape != (FEATURES,):
        raise PikfixError(f"{BRISQUE_MODEL}: unexpected shapes")
    return model


def provenance() -> dict:
    """The provenance record shipped beside the model (source, licence, sha256)."""
    resource = resources.files("pikfix_bench.metrics") / "weights" / "brisque_live_model.json"
    return json.loads(resource.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _tables() -> np.ndarray:
    """Per value of the grid ``0.2:0.001:10``: the grid, ``estimateggdparam``'s ratio ``r_gam`` and the two
    factors of ``brisque_feature``'s mean parameter, ``gamma(2/a)/gamma(1/a)`` and
    ``sqrt(gamma(1/a))/sqrt(gamma(3/a))`` (``4 x 9801``), each as the MATLAB line writes it."""
    grid = colon(0.2, 0.001, 10.0)
    ratio = (gamma(1.0 / grid) * gamma(3.0 / grid)) / gamma(2.0 / grid) ** 2
    mean = gamma(2.0 / grid) / gamma(1.0 / grid)
    const = np.sqrt(gamma(1.0 / grid)) / np.sqrt(gamma(3.0 / grid))
    return np.stack([grid, ratio, mean, const])


@functools.lru_cache(maxsize=8)
def _tables_on(device: torch.device) -> torch.Tensor:
    """:func:`_tables` on ``device`` (made once per device)."""
    return torch.as_tensor(_tables(), device=device)


def _ggd(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``estimateggdparam`` over the last dimension: ``(alpha, sigma)``.

    ``rho = mean(x^2) / mean(|x|)^2`` and the first grid value minimising ``|rho - r_gam|`` (an exhaustive
    search, as MATLAB's ``min``; an undefined ``rho`` gives the first grid value, as ``min`` of NaNs).
    """
    grid, ratio = _tables_on(values.device)[:2]
    sigma_sq = (values * values).mean(-1)
    mean_abs = values.abs().mean(-1)
    rho = sigma_sq / mean_abs**2
    index = torch.argmin(torch.abs(rho[:, None] - ratio[None, :]), dim=-1)  # first minimum
    index = torch.where(torch.isfinite(rho), index, 0)
    return grid[index], torch.sqrt(sigma_sq)


def brisque_features(gray: torch.Tensor) -> torch.Tensor:
    """``brisque_feature`` of ``N x H x W`` float64 gray images on 0..255: ``N x 36`` (unrounded).

    NaN where a fit is undefined (no negative or no positive neighbour product: a flat image).
    """
    tables = _tables_on(gray.device)
    features = []
    image = gray
    for scale in (1, 2):
        coefficients = mscn(image, padding="zeros")
        alpha, overall_std = _ggd(coefficients.flatten(1))
        features += [alpha, overall_std**2]
        pairs = torch.empty_like(coefficients)
        for shift in _SHIFTS:
            index, alpha, left_std, right_std = aggd_fit(
                neighbour_product(coefficients, shift, pairs).flatten(1)
            )
            mean_param = (right_std - left_std) * tables[2][index] * tables[3][index]
            features += [alpha, mean_param, left_std**2, right_std**2]
        if scale == 1:
            image = imresize(image, 0.5)
    return torch.stack(features, dim=-1)


def _printed(values: np.ndarray, spec: str) -> np.ndarray:
    """``values`` written with C's ``printf(spec)`` and read back (``strtod``): Python's ``%`` formatting
    is C's, correctly rounded."""
    return np.array([float(spec % value) for value in values.ravel()]).reshape(values.shape)


def svm_scale(features: np.ndarray) -> np.ndarray:
    """``svm-scale -r allrange`` of ``N x 36`` features as read from MATLAB's ``%f`` text.

    libsvm's ``output()``: a value equal to the feature's min (max) becomes ``lower`` (``upper``), any
    other ``lower + (upper - lower) * (value - min) / (max - min)`` (extrapolated outside the range),
    written with ``%g``; zeros are left out of the sparse line, which is the same as writing them.
    """
    model = svr_model()
    lower, upper = model["scale_limits"]
    low, high = model["feature_min"], model["feature_max"]
    scaled = lower + (upper - lower) * (features - low) / (high - low)  # C's left-to-right order
    scaled = np.where(features == low, lower, np.where(features == high, upper, scaled))
    return _printed(scaled, "%g")


def svm_predict(scaled: np.ndarray) -> np.ndarray:
    """``svm-predict`` of the epsilon-SVR on ``N x 36`` scaled features, written with ``%g`` and read back.

    libsvm's ``k_function`` sums the squared differences feature by feature in index order (a feature
    left out of a sparse line is a zero: the same terms) and returns ``exp(-gamma * sum)``;
    ``svm_predict_values`` adds ``coef_i * k_i`` over the support vectors in file order and subtracts
    ``rho``. Both sums run in that order here (``cumsum`` is sequential).
    """
    model = svr_model()
    vectors = model["support_vectors"]
    distance = np.zeros((scaled.shape[0], vectors.shape[0]))
    for feature in range(FEATURES):
        difference = scaled[:, feature, None] - vectors[None, :, feature]
        distance += difference * difference
    terms = model["coefficients"] * np.exp(-model["gamma"] * distance)
    return _printed(np.cumsum(terms, axis=1)[:, -1] - model["rho"], "%g")


def brisque_from_features(features: torch.Tensor) -> torch.Tensor:
    """The score of ``N x 36`` features through ``brisquescore.m``'s libsvm round trip: ``N`` values.

    An image with an undefined feature (NaN) scores NaN: MATLAB would write ``NaN`` into the libsvm input,
    which ``svm-scale`` reads differently on different C libraries.
    """
    values = features.detach().cpu().numpy().astype(np.float64)
    defined = np.isfinite(values).all(axis=1)
    scores = np.full(values.shape[0], math.nan)
    if defined.any():
        written = _printed(values[defined], "%f")  # brisquescore.m: fprintf(fid, '%d:%f ', ...)
        scores[defined] = svm_predict(svm_scale(written))
    return torch.as_tensor(scores, device=features.device)


def brisque(image: torch.Tensor) -> torch.Tensor:
    """Per-image BRISQUE of uint8 images, as the LIVE release's ``brisquescore`` computes it.

    Parameters
    ----------
    image : torch.Tensor
        ``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray, ``uint8``, on any device.
        RGB goes through MATLAB's ``rgb2gray`` (weights from the NTSC matrix, rounded).

    Returns
    -------
    torch.Tensor
        ``N`` float64 values with 6 significant digits, as the release prints them (lower is better;
        near 0, even below, for good photographs; outside 0..100 for some images), NaN where a feature
        is undefined (a flat image) or the image is under 13 x 13 (its half-size second scale would not
        hold one 7 x 7 window; MATLAB would return a number made of the zero border).

    Notes
    -----
    The features are computed in float64 on the device, the SVR on the CPU. Validation against the
    published MATLAB values and pyiqa is in ``docs/metrics.md``.
    """
    values = []
    for gray in gray_chunks("brisque", image):
        if min(gray.shape[-2:]) < MIN_SIZE:  # the half-size scale would not hold one 7 x 7 window
            values.append(undefined_values(gray))
        else:
            values.append(brisque_from_features(brisque_features(gray)))
    return torch.cat(values)
