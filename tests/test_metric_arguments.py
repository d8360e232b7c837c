"""The functional metrics refuse to guess: integer ranges, shapes, batch sizes, windows, empty batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pikfix_bench.errors import PikfixError, ShapeMismatchError
from pikfix_bench.metrics import ciede2000, colorfulness, load_lpips_alex, lpips_distance, psnr, ssim
from pikfix_bench.metrics.summary import summarize

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _pair(device: str, n: int = 2, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(n)
    a = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    return a.to(device), (255 - a).to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_integer_images_need_an_explicit_range(device):
    pred, target = _pair(device)
    with pytest.raises(PikfixError, match="explicit data_range"):
        psnr(pred, target)  # was -37.5 dB instead of 10.65 dB for a 0..255 difference of 255 - 2x
    with pytest.raises(PikfixError, match="explicit data_range"):
        ssim(pred, target)
    exact = 10 * np.log10(255**2 / ((pred.double() - target.double()) ** 2).flatten(1).mean(1).cpu().numpy())
    np.testing.assert_allclose(psnr(pred, target, data_range=255).cpu().numpy(), exact, rtol=1e-12)
    assert psnr(pred.double() / 255, target.double() / 255).shape == (2,)  # floats default to 1.0


@pytest.mark.parametrize("device", DEVICES)
def test_shapes_and_batch_sizes_must_match(device):
    pred, target = _pair(device)
    one = target[:1]
    for call in (
        lambda: psnr(pred, one, data_range=255),
        lambda: ssim(pred, one, data_range=255),
        lambda: ciede2000(pred, one),
        lambda: lpips_distance(load_lpips_alex(device), pred, one),
        lambda: psnr(pred, target[..., :20], data_range=255),
    ):
        with pytest.raises(ShapeMismatchError, match="nothing is broadcast"):
            call()


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batches_and_bad_tensors_are_refused(device):
    pred, target = _pair(device)
    for call in (
        lambda: psnr(pred[:0], target[:0], data_range=255),
        lambda: ssim(pred[:0], target[:0], data_range=255),
        lambda: ciede2000(pred[:0], target[:0]),
        lambda: colorfulness(pred[:0]),
        lambda: lpips_distance(load_lpips_alex(device), pred[:0], target[:0]),
    ):
        with pytest.raises(PikfixError, match="empty batch"):
            call()
    with pytest.raises(PikfixError, match="3 channels"):
        ciede2000(pred[:, :1], target[:, :1])
    with pytest.raises(PikfixError, match="N x C x H x W"):
        psnr(pred[0], target[0], data_range=255)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("window", [10, 0, -3])
def test_ssim_windows_must_be_odd(device, window):
    pred, target = _pair(device)
    with pytest.raises(PikfixError, match="odd positive"):  # was a raw cv2.error on CPU, a number on GPU
        ssim(pred, target, data_range=255, window_size=window)


def test_summaries_count_exactly_what_they_average():
    summary = summarize([1.0, 3.0, np.inf, np.nan])
    assert (summary.count, summary.inf_count, summary.missing) == (3, 1, 1)
    assert summary.mean == 2.0
    assert summary.aggregation == "mean of 2 finite per-image values; 1 infinite left out; 1 missing"
    assert summarize([2.0, 4.0]).aggregation == "mean of 2 finite per-image values"


def test_a_metric_is_added_by_its_spec_alone(monkeypatch, photo_pairs):
    from pikfix_bench.leaderboard.table import display
    from pikfix_bench.metrics import METRICS, ImageScorer, MetricSpec

    def mae(profile, pred, gt):
        return (pred.double() - gt.double()).abs().flatten(1).mean(1)

    monkeypatch.setitem(METRICS, "mae", MetricSpec("mae", "MAE", False, True, "mean absolute error", 4, mae))
    _, pred, gt = photo_pairs[0]
    (value,) = ImageScorer(metrics=["mae"]).score([pred], [gt])
    assert value["mae"] == pytest.approx(np.abs(pred.astype(float) - gt).mean())
    assert display(value["mae"], "mae") == f"{value['mae']:.4f}"


def test_lpips_of_pictures_under_its_smallest_size_is_missing_not_an_error(photo_pairs, tmp_path):
    """AlexNet's pooling needs 31 pixels a side: a smaller picture has no LPIPS (NaN, a missing value as
    NIQE's under 96 pixels), whole-image or inside a damage region, and the other metrics and pictures
    are scored; 31 pixels is scored."""
    import json

    from click.testing import CliRunner

    from pikfix_bench.cli import main
    from pikfix_bench.image_io import write_png
    from pikfix_bench.metrics import ImageScorer
    from pikfix_bench.metrics.lpips_metric import LPIPS_MIN_SIZE

    assert LPIPS_MIN_SIZE == 31
    _, pred, gt = photo_pairs[0]
    crops = [
        (pred[:30, :200], gt[:30, :200]),
        (pred[:200, :30], gt[:200, :30]),
        (pred[:31, :31], gt[:31, :31]),
    ]
    names = ["psnr", "lpips", "lpips_damaged"]
    masks = [np.full(p.shape[:2], 255, np.uint8) for p, _ in crops]
    for (p, g), mask in zip(crops, masks, strict=True):
        (row,) = ImageScorer("pikfix", names).score([p], [g], [mask])
        assert np.isfinite(row["psnr"])
        small = min(p.shape[:2]) < 31
        assert np.isnan(row["lpips"]) == small and np.isnan(row["lpips_damaged"]) == small
    for side in ("pred", "gt"):
        write_png(tmp_path / side / "tiny.png", (pred if side == "pred" else gt)[:5, :5])
        write_png(tmp_path / side / "fine.png", (pred if side == "pred" else gt)[:64, :64])
    args = [
        "score",
        "--pred",
        str(tmp_path / "pred"),
        "--gt",
        str(tmp_path / "gt"),
        "--metrics",
        "psnr,lpips",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "note: lpips has no value (nan) for 1 of 2 images (tiny.png)" in result.output
    rows = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    assert [row["lpips"] == "nan" for row in rows] == [False, True]


@pytest.mark.parametrize("profile", ["skimage", "basicsr", "matlab"])
def test_ssim_valid_of_pictures_under_its_window_is_missing_not_an_error(photo_pairs, profile):
    """Under a ``valid`` profile SSIM needs the 11 x 11 window inside the picture: a smaller picture has no
    SSIM (NaN, a missing value, as LPIPS under 31 pixels), whole-image and masked, and the other pictures
    and metrics are scored instead of the whole run stopping."""
    from pikfix_bench.metrics import ImageScorer

    _, pred, gt = photo_pairs[0]
    crops = [(pred[:5, :40], gt[:5, :40]), (pred[:11, :11], gt[:11, :11]), (pred[:40, :40], gt[:40, :40])]
    names = ["psnr", "ssim", "ssim_damaged"]
    masks = [np.full(p.shape[:2], 255, np.uint8) for p, _ in crops]
    rows = ImageScorer(profile, names).score([p for p, _ in crops], [g for _, g in crops], masks)
    assert all(np.isfinite(row["psnr"]) for row in rows)
    assert [bool(np.isnan(row["ssim"])) for row in rows] == [True, False, False]
    assert [bool(np.isnan(row["ssim_damaged"])) for row in rows] == [True, False, False]
