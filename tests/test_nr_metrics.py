"""No-reference metrics: NIQE, BRISQUE (LIVE releases) and PIQE (MATLAB), their parameters, ``score`` alone.

Published MATLAB values are for five TID2013 distorted images that pyiqa's repository
(chaofengc/IQA-PyTorch, ``ResultsCalibra/dist_dir``) holds with its calibration table
(``ResultsCalibra/results_official.csv``: ``niqe`` = LIVE ``computequality`` on ``rgb2gray``, ``piqe`` =
MATLAB ``piqe``, ``brisque`` = LIVE ``brisquescore`` on ``rgb2gray``). TID2013's licence does not clearly
allow redistribution, so the images are not shipped: point ``PIKFIX_TID2013_CALIBRATION`` at a folder
holding them (checked by sha256) or those tests skip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from scipy.ndimage import correlate
from scipy.special import gamma
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.errors import PikfixError
from pikfix_bench.metrics import METRICS, ImageScorer, parse_metric_names
from pikfix_bench.metrics import brisque as brisque_module
from pikfix_bench.metrics import matlab as M
from pikfix_bench.metrics import niqe as niqe_module
from pikfix_bench.metrics.brisque import brisque
from pikfix_bench.metrics.niqe import niqe
from pikfix_bench.metrics.piqe import piqe

# name: (sha256 of the BMP, MATLAB NIQE (LIVE release), ours, MATLAB PIQE (2 decimals published))
TID2013 = {
    "I03": (
        "bb817e7fef614dcc12b3a99af33ce3d201bc4d56c4827254c0bcc4fa6ea11151",
        15.7536293917814,
        15.7459577144,
        100.00,
    ),
    "I04": (
        "f3d685983aacd76b2c131579ea60cee345205a1169a4bd2ff5f3039ecf81729e",
        3.65492152353770,
        3.6549215235,
        21.62,
    ),
    "I06": (
        "726e043e99d8e07235c2535107d4bb6fc85bad0cb3cc7d6ba3ecf3364ac97539",
        3.23547743716998,
        3.2343275796,
        35.86,
    ),
    "I08": (
        "8ad39042d7e17d6c96ecfd8c4b9f0e98c803b303a92d368ef57bc9c3c40f5330",
        3.18403333858339,
        3.2020138021,
        41.15,
    ),
    "I19": (
        "e0c6000652d270d1c39b7094761d01e14695fc5aa7cb76b945be6391327ee886",
        8.63519663862637,
        8.6654831154,
        76.95,
    ),
}
# name: (MATLAB BRISQUE (LIVE release on rgb2gray, published with 6 significant digits), ours)
TID2013_BRISQUE = {
    "I03": (94.6421, 94.6405),
    "I04": (-0.107618, -0.107618),
    "I06": (0.992889, 0.991165),
    "I08": (5.35827, 5.90331),
    "I19": (72.2617, 74.4303),
}
# Our values on scikit-image photographs (always available): (NIQE, PIQE, BRISQUE).
PHOTO_GOLDENS = {
    "astronaut": (3.0651568284306028, 33.7593866023507, 2.86586),
    "coffee": (4.0584620074881395, 27.719668321593062, 30.0664),
    "camera": (3.0962072441037236, 40.137401806553655, -7.30887),
}


def _tensor(image: np.ndarray) -> torch.Tensor:
    if image.ndim == 2:
        return torch.from_numpy(image)[None, None]
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def tid2013() -> dict[str, np.ndarray]:
    folder = os.environ.get("PIKFIX_TID2013_CALIBRATION")
    if not folder:
        pytest.skip("PIKFIX_TID2013_CALIBRATION not set (folder with pyiqa's ResultsCalibra/dist_dir images)")
    images = {}
    for name, (sha256, *_) in TID2013.items():
        path = Path(folder) / f"{name}.bmp"
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            pytest.skip(f"{path} missing or not the calibration image")
        images[name] = np.array(Image.open(path).convert("RGB"))
    return images


def test_niqe_params_verified_by_sha256(monkeypatch):
    mu, cov = niqe_module.pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36) and np.allclose(cov, cov.T)
    record = niqe_module.provenance()
    assert record["sha256"] == niqe_module.NIQE_SHA256
    monkeypatch.setattr(niqe_module, "NIQE_SHA256", "0" * 64)
    with pytest.raises(PikfixError, match="sha256"):
        niqe_module.verified_params()


def test_matlab_primitives():
    grid = M.colon(0.2, 0.001, 10.0)
    assert len(grid) == 9801 and grid[0] == 0.2 and grid[-1] == 10.0
    assert np.allclose(M.RGB2GRAY_WEIGHTS, (0.2989, 0.5870, 0.1140), atol=5e-5)  # MATLAB's documented weights
    flat = torch.full((1, 100, 130), 87.0, dtype=torch.float64)
    assert torch.equal(M.imresize(flat, 0.5), torch.full((1, 50, 65), 87.0, dtype=torch.float64))
    assert torch.count_nonzero(M.mscn(flat)) == 0  # exactly zero, not rounding noise
    ramp = torch.arange(96.0, dtype=torch.float64).repeat(1, 96, 1)
    assert torch.allclose(
        M.imresize(ramp, 0.5)[0, 0, 2:-2], torch.arange(4.5, 91.0, 2.0, dtype=torch.float64)
    )


def _reference_mscn(image: torch.Tensor, mode: str = "replicate") -> torch.Tensor:
    """The orbit formulation of ``M.mscn`` written plainly in float64, one elementwise pass at a time."""
    taps, half = M.gaussian_taps(7, 7.0 / 6.0), 3
    height, width = image.shape[-2:]
    padded = torch.nn.functional.pad(image[:, None], (half,) * 4, mode=mode)[:, 0]

    def sums(x):
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

    s, sq = sums(padded), sums(padded * padded)
    offset_sum, offset_square = torch.zeros_like(image), torch.zeros_like(image)
    for a, b, members in M.window_orbits(half):
        total = s[a][b] if a == b else s[a][b] + s[b][a]
        total_square = sq[a][b] if a == b else sq[a][b] + sq[b][a]
        weight = float(taps[half + a] * taps[half + b])
        offset_sum += weight * (total - members * image)
        offset_square += weight * (total_square - 2 * image * total + members * image * image)
    variance = offset_square - offset_sum * offset_sum
    return -offset_sum / (torch.sqrt(torch.abs(variance)) + 1)


def _reference_imresize(image: torch.Tensor, scale: float) -> torch.Tensor:
    """``M.imresize`` with one gather per tap (the formulation its fast path must equal bit for bit)."""
    for dim in (1, 2):
        indices, weights = M._contributions(image.shape[dim], scale)
        moved = image.movedim(dim, -1)
        reference = moved[..., torch.as_tensor(indices[:, 0])]
        out = torch.zeros_like(reference)
        for tap in range(1, indices.shape[1]):
            out += (moved[..., torch.as_tensor(indices[:, tap])] - reference) * torch.as_tensor(
                weights[:, tap]
            )
        image = (reference + out).movedim(-1, dim)
    return image


def test_fast_primitives_equal_reference_bit_for_bit():
    generator = torch.Generator().manual_seed(5)
    gray = M.rgb2gray_uint8(_tensor(data.coffee()[:200, :300]))
    images = {
        "uint8 gray (int32 path)": gray,
        "its imresize (float path)": M.imresize(gray, 0.5),
        "12-bit signed integers": torch.randint(-4095, 4096, (2, 40, 53), generator=generator).double(),
        "past the int32 bound": torch.randint(0, 9000, (1, 30, 31), generator=generator).double(),
        "floats": torch.rand((2, 37, 41), generator=generator, dtype=torch.float64) * 255,
        "flat": torch.full((1, 20, 24), 87.0, dtype=torch.float64),
    }
    for name, image in images.items():
        assert torch.equal(M.mscn(image), _reference_mscn(image)), name
        zeros = M.mscn(image, padding="zeros")  # BRISQUE's filter2(..., 'same')
        assert torch.equal(zeros, _reference_mscn(image, "constant")), name
        for scale in (0.5, 0.25, 0.3):
            assert torch.equal(M.imresize(image, scale), _reference_imresize(image, scale)), (name, scale)
    assert M._is_small_integer(gray) and not M._is_small_integer(images["its imresize (float path)"])
    assert not M._is_small_integer(torch.full((1, 9, 9), math.nan, dtype=torch.float64))
    exact = M.imresize(gray, 0.5) * 65536  # weights are multiples of 1/256: exact on integer images
    assert torch.equal(exact, exact.round())
    ramp = torch.arange(40.0, dtype=torch.float64)[:, None] * 3 + torch.arange(40.0)[None, :] * 2
    assert torch.count_nonzero(M.mscn(ramp[None])[0, 3:-3, 3:-3]) == 0  # differences cancel: exactly 0
    flat = torch.full((1, 20, 24), 87.0, dtype=torch.float64)
    zeros = M.mscn(flat, padding="zeros")
    assert torch.count_nonzero(zeros[0, 3:-3, 3:-3]) == 0 and bool((zeros[0, 0] > 0).all())  # borders: zeros
    with pytest.raises(ValueError, match="padding"):
        M.mscn(flat, padding="reflect")


def test_block_features_equal_reference():
    coefficients = M.mscn(M.rgb2gray_uint8(_tensor(data.astronaut()[:192, :288])))
    blocks = niqe_module._blocks(coefficients, 96)
    for shift in [None, *niqe_module._SHIFTS]:
        if shift is None:
            values = blocks
        else:
            values = blocks * torch.roll(blocks, shifts=shift, dims=(-2, -1))
            assert torch.equal(niqe_module.neighbour_product(blocks, shift, torch.empty_like(blocks)), values)
        values = values.flatten(-2)
        index, _, beta_l, beta_r = niqe_module._aggd(values)
        squares = values * values  # the plain estimateaggdparam sums
        left = torch.sqrt(torch.where(values < 0, squares, 0.0).sum(-1) / (values < 0).sum(-1))
        right = torch.sqrt(torch.where(values > 0, squares, 0.0).sum(-1) / (values > 0).sum(-1))
        scale = torch.as_tensor(niqe_module._aggd_tables()[2])[index]
        assert torch.equal(beta_l, left * scale) and torch.equal(beta_r, right * scale)


@pytest.mark.parametrize("name", list(PHOTO_GOLDENS))
def test_photo_goldens_and_batching(name):
    image = getattr(data, name)()
    batch = _tensor(image)
    expected_niqe, expected_piqe, expected_brisque = PHOTO_GOLDENS[name]
    assert float(niqe(batch)[0]) == pytest.approx(expected_niqe, abs=1e-9)
    assert float(piqe(batch)[0]) == pytest.approx(expected_piqe, abs=1e-9)
    assert float(brisque(batch)[0]) == expected_brisque  # 6 significant digits, as the release prints
    if image.ndim == 3:  # gray stored as RGB scores as gray
        gray = np.floor(image.astype(np.float64) @ np.array(M.RGB2GRAY_WEIGHTS) + 0.5).astype(np.uint8)
        assert float(niqe(_tensor(np.repeat(gray[..., None], 3, 2)))[0]) == float(niqe(_tensor(gray))[0])


def test_niqe_matches_numpy_port_and_batches(photo_pairs):
    spec = importlib.util.spec_from_file_location(
        "bench_metrics", Path(__file__).parents[1] / "bench" / "metrics.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    images = [data.coffee()[:288, :384], data.astronaut()[100:292, 50:434]]
    noisy = [
        np.clip(im + np.random.default_rng(3).normal(0, 5, im.shape), 0, 255).astype(np.uint8)
        for im in images
    ]
    batch = torch.stack([_tensor(im)[0] for im in noisy[:1] * 2])
    values = niqe(batch)
    assert values[0] == values[1]
    for image, table_per_fit in zip(noisy, (True, False), strict=True):  # both ports of bench/metrics.py
        assert float(niqe(_tensor(image))[0]) == pytest.approx(
            bench.numpy_niqe(image, table_per_fit), abs=1e-8
        )


def test_flat_and_small_images():
    flat = torch.full((1, 3, 200, 200), 128, dtype=torch.uint8)
    assert math.isnan(float(niqe(flat)[0]))
    assert float(piqe(flat)[0]) == 100.0
    # an image without a whole 96 x 96 block has no NIQE: NaN, as a flat one (a scan set or a folder
    # may hold one; it must not stop the scoring of the others)
    assert math.isnan(float(niqe(torch.zeros((1, 3, 95, 300), dtype=torch.uint8))[0]))
    with pytest.raises(PikfixError, match="96"):
        niqe_module.niqe_features(torch.zeros((1, 95, 300), dtype=torch.float64))


def test_niqe_against_published_matlab(tid2013):
    within = 0
    for name, (_, matlab, ours, _) in TID2013.items():
        value = float(niqe(_tensor(tid2013[name]))[0])
        assert value == pytest.approx(ours, abs=1e-9)  # pinned: a change shows here first
        within += abs(value - matlab) <= 0.02
    assert within >= 4
    assert abs(float(niqe(_tensor(tid2013["I04"]))[0]) - TID2013["I04"][1]) < 1e-9  # no flat window: exact


def test_piqe_against_published_matlab(tid2013):
    batch = torch.stack([_tensor(tid2013[name])[0] for name in TID2013])
    for value, (_, _, _, matlab) in zip(piqe(batch).tolist(), TID2013.values(), strict=True):
        assert value == pytest.approx(matlab, abs=0.005)


def test_score_without_gt(tmp_path):
    crops = {"astronaut": data.astronaut()[:200, :300], "coffee": data.coffee()[:200, :200]}
    for name, crop in crops.items():
        Image.fromarray(crop).save(tmp_path / f"{name}.png")
    result = CliRunner().invoke(
        main, ["score", "--pred", str(tmp_path), "--metrics", "niqe,piqe,colorfulness", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["pred"] for row in rows] == ["astronaut.png", "coffee.png"] and "gt" not in rows[0]
    assert rows[0]["niqe"] == float(niqe(_tensor(crops["astronaut"]))[0])
    assert rows[1]["piqe"] == float(piqe(_tensor(crops["coffee"]))[0])
    table = CliRunner().invoke(main, ["score", "--pred", str(tmp_path)])
    assert table.exit_code == 0 and "niqe ↓" in table.output and "mean" in table.output
    refused = CliRunner().invoke(main, ["score", "--pred", str(tmp_path), "--metrics", "psnr"])
    assert refused.exit_code != 0 and "--gt" in refused.output


def test_nr_metrics_on_request_only():
    assert "niqe" not in parse_metric_names(None) and "piqe" not in parse_metric_names(None)
    assert not METRICS["niqe"].higher_is_better and not METRICS["piqe"].higher_is_better
    image = data.astronaut()
    row = ImageScorer("pikfix", ("psnr", "niqe")).score([image], [image])[0]
    assert math.isinf(row["psnr"]) and row["niqe"] == pytest.approx(PHOTO_GOLDENS["astronaut"][0], abs=1e-9)


def test_brisque_model_verified_by_sha256(monkeypatch, tmp_path):
    model = brisque_module.svr_model()
    assert model["support_vectors"].shape == (774, 36) and model["coefficients"].shape == (774,)
    assert float(model["gamma"]) == 0.05 and float(model["rho"]) == -153.591
    assert np.abs(model["coefficients"]).max() == 1024  # the release's C: bounded support vectors at +-C
    assert model["scale_limits"].tolist() == [-1.0, 1.0] and np.all(
        model["feature_min"] < model["feature_max"]
    )
    assert (model["feature_min"][22], model["feature_max"][29]) == (1.5e-5, 0.09832299999999999)  # allrange
    record = brisque_module.provenance()
    assert record["sha256"] == brisque_module.BRISQUE_SHA256 and "University of Texas" in record["notice"]
    altered = bytearray(brisque_module.verified_model())
    altered[-100] ^= 1
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / brisque_module.BRISQUE_MODEL).write_bytes(bytes(altered))
    with monkeypatch.context() as patch:
        patch.setattr("pikfix_bench.hashing.resources.files", lambda package: tmp_path)
        with pytest.raises(PikfixError, match="sha256"):
            brisque_module.verified_model()
    monkeypatch.setattr(brisque_module, "BRISQUE_SHA256", "0" * 64)
    with pytest.raises(PikfixError, match="sha256"):
        brisque_module.verified_model()


def _numpy_brisque(image: np.ndarray) -> tuple[np.ndarray, float]:
    """BRISQUE of one uint8 image written plainly from the release's MATLAB files, with their text roundings.

    ``brisquescore.m``: ``rgb2gray``, ``double``; ``brisque_feature.m``: ``filter2(window, im, 'same')``
    (zeros outside), GGD and AGGD fits on the whole image, ``circshift`` neighbours, ``imresize(im, 0.5)``;
    then ``fprintf('%f')``, libsvm's ``svm-scale`` (``%g``) and ``svm-predict`` (``%g``). The textbook
    filter leaves rounding noise in flat windows (``M.mscn`` is exact there): use images without any.
    """
    gray = image.astype(np.float64)
    if gray.ndim == 3:
        gray = np.floor(gray @ np.array(M.RGB2GRAY_WEIGHTS) + 0.5)
    grid = M.colon(0.2, 0.001, 10.0)
    x = np.arange(-3.0, 4.0)
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    window /= window.sum()
    features = []
    for _ in range(2):
        mu = correlate(gray, window, mode="constant")
        sigma = np.sqrt(np.abs(correlate(gray * gray, window, mode="constant") - mu * mu))
        coefficients = (gray - mu) / (sigma + 1)
        vec = coefficients.ravel(order="F")
        rho = np.mean(vec**2) / np.mean(np.abs(vec)) ** 2
        r_gam = gamma(1 / grid) * gamma(3 / grid) / gamma(2 / grid) ** 2
        features += [grid[np.argmin(np.abs(rho - r_gam))], np.sqrt(np.mean(vec**2)) ** 2]
        for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
            pair = (coefficients * np.roll(coefficients, shift, axis=(0, 1))).ravel(order="F")
            left, right = np.sqrt(np.mean(pair[pair < 0] ** 2)), np.sqrt(np.mean(pair[pair > 0] ** 2))
            g = left / right
            r_norm = np.mean(np.abs(pair)) ** 2 / np.mean(pair**2) * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
            r_gam = gamma(2 / grid) ** 2 / (gamma(1 / grid) * gamma(3 / grid))
            alpha = grid[np.argmin((r_gam - r_norm) ** 2)]
            const = np.sqrt(gamma(1 / alpha)) / np.sqrt(gamma(3 / alpha))
            features += [
                alpha,
                (right - left) * gamma(2 / alpha) / gamma(1 / alpha) * const,
                left**2,
                right**2,
            ]
        for axis in (0, 1):  # imresize(im, 0.5): antialiased bicubic, mirrored borders
            index, weight = M._contributions(gray.shape[axis], 0.5)
            gray = np.moveaxis((np.moveaxis(gray, axis, -1)[..., index] * weight).sum(-1), -1, axis)
    model = brisque_module.svr_model()
    lower, upper = model["scale_limits"]
    scaled = []
    for value, low, high in zip(features, model["feature_min"], model["feature_max"], strict=True):
        value = float(f"{value:f}")  # fprintf(fid, '%d:%f ', kk, feat(jj, kk))
        if value == low:
            value = lower
        elif value == high:
            value = upper
        else:
            value = lower + (upper - lower) * (value - low) / (high - low)
        scaled.append(float(f"{value:g}"))  # svm-scale: printf("%d:%g ", index, value)
    total = 0.0
    for coefficient, vector in zip(model["coefficients"], model["support_vectors"], strict=True):
        distance = sum((a - b) ** 2 for a, b in zip(scaled, vector, strict=True))
        total += coefficient * math.exp(-model["gamma"] * distance)
    return np.array(features), float(f"{total - model['rho']:g}")  # svm-predict: fprintf(output, "%g\n", v)


def test_brisque_matches_numpy_reference_and_batches():
    rng = np.random.default_rng(3)
    images = [data.coffee()[:192, :384], data.astronaut()[100:292, 50:434], data.camera()[:200, :301]]
    noisy = [np.clip(im + rng.normal(0, 5, im.shape), 0, 255).astype(np.uint8) for im in images]
    for image in noisy:
        features, score = _numpy_brisque(image)
        batch = _tensor(image)
        ours = brisque_module.brisque_features(M.rgb2gray_uint8(batch))[0].numpy()
        np.testing.assert_allclose(ours, features, rtol=0, atol=1e-10)
        assert float(brisque(batch)[0]) == pytest.approx(score, abs=1e-8)
    batch = torch.stack([_tensor(im)[0] for im in noisy[:2]])
    singles = torch.cat([brisque(_tensor(im)) for im in noisy[:2]])
    assert torch.equal(brisque(batch), singles)
    gray = np.floor(noisy[0].astype(np.float64) @ np.array(M.RGB2GRAY_WEIGHTS) + 0.5).astype(np.uint8)
    assert torch.equal(brisque(_tensor(gray)), singles[:1])  # gray scores as its rgb2gray


def test_brisque_libsvm_round_trip():
    model = brisque_module.svr_model()
    low, high = model["feature_min"], model["feature_max"]
    scaled = brisque_module.svm_scale(np.stack([low, high, 2 * high - low]))
    assert np.all(scaled[0] == -1) and np.all(scaled[1] == 1) and np.allclose(scaled[2], 3)  # extrapolated
    assert brisque_module._printed(np.array([94.64213, -0.10761849]), "%g").tolist() == [94.6421, -0.107618]
    printed = brisque_module._printed(np.array([0.1234565, 0.12345651, 2.0]), "%f").tolist()
    assert printed == [0.123456, 0.123457, 2.0]  # 0.1234565 is stored just below the tie: C rounds it down
    undefined = torch.tensor([[math.nan] * 36], dtype=torch.float64)
    assert math.isnan(float(brisque_module.brisque_from_features(undefined)[0]))


def test_brisque_flat_and_small_images():
    for level in (0, 128, 255):  # no negative neighbour product: the AGGD fits are undefined
        assert math.isnan(float(brisque(torch.full((1, 3, 64, 80), level, dtype=torch.uint8))[0]))
    small = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 1, 13, 13), dtype=np.uint8))
    assert math.isfinite(float(brisque(small)[0]))
    assert math.isnan(float(brisque(torch.zeros((1, 3, 12, 300), dtype=torch.uint8))[0]))  # under 13 x 13
    with pytest.raises(PikfixError, match="uint8"):
        brisque(torch.zeros((1, 3, 20, 20), dtype=torch.float32))


def test_brisque_against_published_matlab(tid2013):
    batch = torch.stack([_tensor(tid2013[name])[0] for name in TID2013_BRISQUE])
    values = dict(zip(TID2013_BRISQUE, brisque(batch).tolist(), strict=True))
    for name, (_, ours) in TID2013_BRISQUE.items():
        assert values[name] == ours  # pinned: a change shows here first
    assert values["I04"] == TID2013_BRISQUE["I04"][0]  # no flat window: MATLAB's value, all six digits
    assert sum(abs(values[name] - matlab) <= 0.002 for name, (matlab, _) in TID2013_BRISQUE.items()) == 3


def test_brisque_scored_without_gt(tmp_path):
    crop = data.astronaut()[:200, :300]
    Image.fromarray(crop).save(tmp_path / "astronaut.png")
    result = CliRunner().invoke(
        main, ["score", "--pred", str(tmp_path), "--metrics", "brisque", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["brisque"] == float(brisque(_tensor(crop))[0])
    assert "brisque" not in parse_metric_names(None)
    spec = METRICS["brisque"]
    assert not spec.higher_is_better and not spec.needs_reference and spec.header == "BRISQUE ↓"


@pytest.mark.parametrize("size", [(1, 1), (5, 5), (6, 10), (7, 20), (17, 3)])
def test_piqe_pads_tiny_images_as_matlab_padarray(size):
    """PIQE pads to 16 x 16 blocks with ``padarray(..., 'symmetric', 'post')``; on a side shorter than the
    padding MATLAB keeps reflecting (period 2n, as numpy's ``symmetric``): it crashed below 8 px."""
    from pikfix_bench.metrics.piqe import _pad_symmetric_post

    rng = np.random.default_rng(sum(size))
    image = rng.integers(0, 256, size, dtype=np.uint8)
    padded = _pad_symmetric_post(torch.from_numpy(image.astype(np.float64))[None], 16)[0].numpy()
    expected = np.pad(image, ((0, -size[0] % 16), (0, -size[1] % 16)), mode="symmetric")
    np.testing.assert_array_equal(padded, expected)
    value = float(piqe(torch.from_numpy(np.repeat(image[None, None], 3, axis=1))))
    assert 0.0 <= value <= 100.0


def test_score_names_images_a_metric_cannot_score_and_scores_the_rest(tmp_path):
    """A scan under 96 px (no NIQE) or under 13 px (no BRISQUE) scores NaN there; ``score`` scores the
    other images and metrics, and says which images have no value and why, instead of stopping."""
    from click.testing import CliRunner

    from pikfix_bench.cli import main
    from pikfix_bench.image_io import write_png

    write_png(tmp_path / "photo.png", np.ascontiguousarray(data.astronaut()[::2, ::2]))
    write_png(tmp_path / "small.png", np.ascontiguousarray(data.astronaut()[:80, :90]))
    write_png(tmp_path / "tiny.png", np.ascontiguousarray(data.astronaut()[:10, :10]))
    result = CliRunner().invoke(main, ["score", "--pred", str(tmp_path), "--metrics", "niqe,brisque,piqe"])
    assert result.exit_code == 0, result.output
    assert "note: niqe has no value (nan) for 2 of 3 images (small.png, tiny.png)" in result.output
    assert "note: brisque has no value (nan) for 1 of 3 images (tiny.png)" in result.output
    rows = json.loads(
        CliRunner()
        .invoke(main, ["score", "--pred", str(tmp_path), "--metrics", "niqe,piqe", "--format", "json"])
        .output
    )
    assert {row["pred"]: row["niqe"] for row in rows}["small.png"] == "nan"
    assert all(isinstance(row["piqe"], float) for row in rows)
