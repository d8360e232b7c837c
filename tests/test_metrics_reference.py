"""Every profile and metric against its reference implementation, on real photographs.

References: scikit-image (PSNR, SSIM, CIEDE2000, Lab), the official ``lpips``
module, OpenCV filtering as BasicSR uses it, and small independent numpy
re-implementations where no library computes the same thing (zero padding).
"""

from __future__ import annotations

import importlib

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import color, metrics

from pikfix_bench.color_torch import rgb_to_lab_torch
from pikfix_bench.metrics import ImageScorer, load_lpips_alex
from pikfix_bench.metrics.ciede2000 import delta_e_ciede2000

SSIM_KW = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def gaussian_2d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    kernel = cv2.getGaussianKernel(size, sigma)
    return kernel @ kernel.T


def ssim_zero_padding_reference(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-ssim / Pik-Fix SSIM: zero-padded 'same' Gaussian filtering, full map mean, range 1."""
    window, c1, c2 = gaussian_2d(), 0.01**2, 0.03**2
    maps = []
    for ch in range(x.shape[2]):
        a, b = x[..., ch], y[..., ch]
        f = lambda img: ndimage.correlate(img, window, mode="constant", cval=0.0)  # noqa: E731
        mu_a, mu_b = f(a), f(b)
        var_a, var_b, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
        maps.append(
            ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        )
    return float(np.mean(maps))


def ssim_basicsr_reference(x: np.ndarray, y: np.ndarray) -> float:
    """BasicSR's ``_ssim``: cv2.filter2D then a 5-pixel crop, on 0..255 float64 values."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = gaussian_2d()
    f = lambda img: cv2.filter2D(img, -1, window)[5:-5, 5:-5]  # noqa: E731
    mu_a, mu_b = f(x), f(y)
    var_a, var_b, cov = f(x * x) - mu_a**2, f(y * y) - mu_b**2, f(x * y) - mu_a * mu_b
    return float(
        (((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))).mean()
    )


def y_channel(image: np.ndarray) -> np.ndarray:
    """BT.601 limited-range Y in 0..255, unrounded (BasicSR's ``rgb2ycbcr(y_only=True) * 255``)."""
    return 16.0 + image.astype(np.float64) / 255.0 @ np.array([65.481, 128.553, 24.966])


def matlab_gray(image: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` on uint8: weighted sum rounded half away from zero."""
    gray = image.astype(np.float64) @ np.array([0.298936, 0.587043, 0.114021])
    return np.floor(gray + 0.5)


def crop(image: np.ndarray, border: int) -> np.ndarray:
    return image[border:-border, border:-border] if border else image


def reference_psnr_ssim(
    profile: str, pred: np.ndarray, gt: np.ndarray, border: int = 0
) -> tuple[float, float]:
    p, g = pred / 255.0, gt / 255.0
    if profile == "pikfix":
        return metrics.peak_signal_noise_ratio(g, p, data_range=1.0), ssim_zero_padding_reference(p, g)
    if profile == "skimage":
        return (
            metrics.peak_signal_noise_ratio(g, p, data_range=1.0),
            metrics.structural_similarity(g, p, data_range=1.0, channel_axis=-1, **SSIM_KW),
        )
    if profile == "basicsr":
        yp, yg = crop(y_channel(pred), border), crop(y_channel(gt), border)
        return metrics.peak_signal_noise_ratio(yg, yp, data_range=255.0), ssim_basicsr_reference(yp, yg)
    assert profile == "matlab"
    return (
        metrics.peak_signal_noise_ratio(g, p, data_range=1.0),
        metrics.structural_similarity(matlab_gray(gt), matlab_gray(pred), data_range=255.0, **SSIM_KW),
    )


@pytest.mark.parametrize("profile", ["pikfix", "skimage", "basicsr", "matlab"])
def test_psnr_ssim_match_reference(profile, photo_pairs):
    names, preds, gts = zip(*photo_pairs, strict=True)
    ours = ImageScorer(profile, ["psnr", "ssim"], batch_size=3).score(list(preds), list(gts))
    for name, pred, gt, values in zip(names, preds, gts, ours, strict=True):
        ref_psnr, ref_ssim = reference_psnr_ssim(profile, pred, gt)
        assert values["psnr"] == pytest.approx(ref_psnr, abs=1e-9), name
        assert values["ssim"] == pytest.approx(ref_ssim, abs=1e-9), name


def test_ssim_is_the_same_without_kept_work_buffers(photo_pairs, monkeypatch):
    """Work buffers are kept per thread only for small images; larger ones (all of them, here) get
    fresh buffers and the same values."""
    ssim_module = importlib.import_module("pikfix_bench.metrics.ssim")
    names, preds, gts = zip(*photo_pairs, strict=True)
    kept = ImageScorer("skimage", ["ssim"]).score(list(preds), list(gts))
    monkeypatch.setattr(ssim_module, "_KEEP_BUFFERS_UP_TO", 0)
    fresh = ImageScorer("skimage", ["ssim"]).score(list(preds), list(gts))
    assert fresh == kept


def test_profiles_really_differ(photo_pairs):
    _, pred, gt = photo_pairs[0]
    ssims = {
        p: ImageScorer(p, ["ssim"]).score([pred], [gt])[0]["ssim"]
        for p in ["pikfix", "skimage", "basicsr", "matlab"]
    }
    assert len({round(v, 6) for v in ssims.values()}) == 4, ssims


@pytest.mark.parametrize("border", [4, 7])
def test_basicsr_crop_border(border, photo_pairs):
    from pikfix_bench.metrics import get_profile

    _, pred, gt = photo_pairs[1]
    ours = ImageScorer(get_profile("basicsr", crop_border=border), ["psnr", "ssim"]).score([pred], [gt])[0]
    ref_psnr, ref_ssim = reference_psnr_ssim("basicsr", pred, gt, border)
    assert ours["psnr"] == pytest.approx(ref_psnr, abs=1e-9)
    assert ours["ssim"] == pytest.approx(ref_ssim, abs=1e-9)


def test_identical_images(photo_pairs):
    _, _, gt = photo_pairs[0]
    values = ImageScorer("pikfix").score([gt], [gt])[0]
    assert values["psnr"] == float("inf")
    assert values["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert values["lpips"] == pytest.approx(0.0, abs=1e-7)
    assert values["ciede2000"] == 0.0


def _official_lpips_one(model, pred: np.ndarray, gt: np.ndarray) -> float:
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
    with torch.no_grad():
        return float(model(to_tensor(pred), to_tensor(gt), normalize=True).item())


def test_lpips_matches_official_module_batched_and_one_by_one(photo_pairs):
    model = load_lpips_alex("cpu")
    same_size = [pair for pair in photo_pairs if pair[2].shape == photo_pairs[0][2].shape]
    _, preds, gts = zip(*same_size, strict=True)
    batched = ImageScorer("pikfix", ["lpips"], batch_size=len(preds)).score(list(preds), list(gts))
    singles = ImageScorer("pikfix", ["lpips"], batch_size=1).score(list(preds), list(gts))
    for pred, gt, b, s in zip(preds, gts, batched, singles, strict=True):
        reference = _official_lpips_one(model, pred, gt)
        assert b["lpips"] == pytest.approx(reference, abs=1e-5)
        assert s["lpips"] == pytest.approx(reference, abs=1e-5)


def test_lpips_orders_distortions_sensibly(photo_pairs):
    _, _, gt = photo_pairs[0]
    rng = np.random.default_rng(0)
    mild = np.clip(gt + rng.normal(0, 3, gt.shape), 0, 255).astype(np.uint8)
    strong = np.clip(gt + rng.normal(0, 40, gt.shape), 0, 255).astype(np.uint8)
    values = ImageScorer("pikfix", ["lpips"]).score([mild, strong], [gt, gt])
    assert 0 < values[0]["lpips"] < 0.1 < values[1]["lpips"]


def test_lab_conversion_matches_skimage(photo_pairs):
    _, pred, _ = photo_pairs[0]
    ours = (
        rgb_to_lab_torch(torch.from_numpy(pred).permute(2, 0, 1)[None].double() / 255.0)[0]
        .permute(1, 2, 0)
        .numpy()
    )
    np.testing.assert_allclose(ours, color.rgb2lab(pred), atol=1e-10)


def test_lab_conversion_matches_skimage_over_the_colour_cube():
    """uint8 input (table path) and float input, float64, on a grid through the whole RGB cube,
    near-black colours (Lab's linear segment) included."""
    levels = np.arange(0, 256, 5, dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
    reference = color.rgb2lab(cube)
    as_tensor = torch.from_numpy(cube).permute(2, 0, 1)[None]
    for rgb in (as_tensor, as_tensor.double() / 255.0):
        ours = rgb_to_lab_torch(rgb, dtype=torch.float64)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_ciede2000_matches_skimage(photo_pairs):
    names, preds, gts = zip(*photo_pairs, strict=True)
    ours = ImageScorer("pikfix", ["ciede2000"]).score(list(preds), list(gts))
    for name, pred, gt, values in zip(names, preds, gts, ours, strict=True):
        reference = color.deltaE_ciede2000(color.rgb2lab(gt), color.rgb2lab(pred)).mean()
        assert values["ciede2000"] == pytest.approx(reference, abs=2e-5), name


# Sharma, Wu & Dalal (2005), Table 1: all 34 published CIEDE2000 test pairs (Lab1, Lab2, dE00).
# Pairs 9-16 sit on the hue wrap-around (differences of about 180 degrees) and test its ties.
SHARMA_PAIRS = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -1.1848, -84.8006), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -0.9009, -85.5211), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, -1.0000, 2.0000), (50.0000, 0.0000, 0.0000), 2.3669),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0010), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0012), 7.2195),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0009, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0010, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    ((50.0000, 2.5000, 0.0000), (50.0000, 0.0000, -2.5000), 4.3065),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (61.0000, -5.0000, 29.0000), 22.8977),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((50.0000, 2.5000, 0.0000), (58.0000, 24.0000, 15.0000), 19.4535),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.1736, 0.5854), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2972, 0.0000), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 1.8634, 0.5757), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def _sharma_lab(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    lab1 = torch.tensor([p[0] for p in SHARMA_PAIRS], dtype=dtype).T.reshape(1, 3, 1, -1)
    lab2 = torch.tensor([p[1] for p in SHARMA_PAIRS], dtype=dtype).T.reshape(1, 3, 1, -1)
    return lab1, lab2


def test_ciede2000_published_values():
    ours = delta_e_ciede2000(*_sharma_lab(torch.float64)).flatten().numpy()
    np.testing.assert_allclose(ours, [p[2] for p in SHARMA_PAIRS], atol=5e-5)
    # symmetric, and exactly 0 between a colour and itself
    swapped = delta_e_ciede2000(*reversed(_sharma_lab(torch.float64))).flatten().numpy()
    np.testing.assert_allclose(swapped, ours, atol=1e-12)
    lab1, _ = _sharma_lab(torch.float64)
    assert delta_e_ciede2000(lab1, lab1).abs().max() == 0


def test_ciede2000_float32_matches_float64_off_the_hue_tie():
    """The float32 path (used on images) agrees with float64 wherever rounding the inputs to
    float32 cannot move a hue difference across 180 degrees (pairs 9-15 sit within 1e-3 of it)."""
    far = [i for i in range(len(SHARMA_PAIRS)) if not 8 <= i <= 14]
    single = delta_e_ciede2000(*_sharma_lab(torch.float32)).flatten().double().numpy()
    double = delta_e_ciede2000(*_sharma_lab(torch.float64)).flatten().numpy()
    np.testing.assert_allclose(single[far], double[far], atol=2e-5)


def test_ciede2000_of_gray_and_dark_predictions_matches_skimage(photo_pairs):
    """Gray predictions (chroma near 0, where float32 powers underflow) and near-black ones
    (the linear segment of Lab's f) against skimage."""
    _, _, gt = photo_pairs[0]
    gray = np.repeat(gt.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    dark = (gt // 12).astype(np.uint8)
    ours = ImageScorer("pikfix", ["ciede2000"]).score([gray, dark], [gt, gt])
    for pred, values in zip((gray, dark), ours, strict=True):
        reference = color.deltaE_ciede2000(color.rgb2lab(gt), color.rgb2lab(pred)).mean()
        assert values["ciede2000"] == pytest.approx(reference, abs=2e-5)


def colorfulness_reference(image: np.ndarray) -> float:
    r, g, b = (image[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def test_colorfulness_matches_numpy(photo_pairs):
    names, preds, gts = zip(*photo_pairs, strict=True)
    ours = ImageScorer("pikfix", ["colorfulness"]).score(list(preds), list(gts))
    for name, pred, values in zip(names, preds, ours, strict=True):
        assert values["colorfulness"] == pytest.approx(colorfulness_reference(pred), abs=1e-9), name
    gray = np.repeat(gts[0][..., :1], 3, axis=2)
    assert ImageScorer("pikfix", ["colorfulness"]).score([gray], [gts[0]])[0]["colorfulness"] == 0.0


@pytest.mark.parametrize("padding", ["zero", "valid"])
def test_ssim_convolution_path_matches_opencv_path(photo_pairs, padding):
    """The grouped-convolution SSIM (used on GPUs) equals the OpenCV one (used on CPUs), here run on the CPU."""
    from pikfix_bench.metrics.ssim import _ssim_opencv, _ssim_torch, gaussian_window_1d

    _, pred, gt = photo_pairs[0]
    x = torch.from_numpy(pred).permute(2, 0, 1)[None].double() / 255.0
    y = torch.from_numpy(gt).permute(2, 0, 1)[None].double() / 255.0
    window = gaussian_window_1d(11, 1.5, torch.float64, x.device)
    conv = _ssim_torch(x, y, window, padding, 0.01**2, 0.03**2)
    opencv = _ssim_opencv(x, y, 11, 1.5, padding, 0.01**2, 0.03**2)
    assert float(conv[0]) == pytest.approx(float(opencv[0]), abs=1e-12)
