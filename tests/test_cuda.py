"""On a CUDA machine: every metric equals its CPU value, models are placed per stage, Pik-Fix trains.

Every test here is marked ``cuda`` and skipped where CUDA is absent (see ``conftest.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pikfix_bench.baselines.pix2pix import build_generator
from pikfix_bench.datasets import open_dataset
from pikfix_bench.evaluation import RunDirectory, evaluate
from pikfix_bench.metrics import DEFAULT_METRICS, ImageScorer, load_lpips_alex
from pikfix_bench.metrics.brisque import brisque_features
from pikfix_bench.metrics.matlab import rgb2gray_uint8
from pikfix_bench.model import PikFixConfig
from pikfix_bench.model.training import new_state, train_step, training_tensors

pytestmark = pytest.mark.cuda

# Largest CPU/GPU difference allowed per metric (issue 13: LPIPS 1e-6, PSNR/SSIM 1e-9).
PARITY = {"psnr": 1e-9, "ssim": 1e-9, "lpips": 1e-6, "ciede2000": 1e-5, "colorfulness": 1e-9}


@pytest.fixture
def tf32_by_default():
    """The fast setting many users run with: TF32 on for matmuls and convolutions."""
    saved = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "tf32"
    yield
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


@pytest.mark.parametrize("profile", ["pikfix", "skimage", "basicsr", "matlab"])
def test_every_metric_matches_the_cpu(profile, photo_pairs, tf32_by_default):
    _, preds, gts = zip(*photo_pairs, strict=True)
    cpu = ImageScorer(profile, device="cpu").score(list(preds), list(gts))
    gpu = ImageScorer(profile, device="cuda").score(list(preds), list(gts))
    for name, tolerance in PARITY.items():
        worst = max(abs(a[name] - b[name]) for a, b in zip(cpu, gpu, strict=True) if np.isfinite(a[name]))
        assert worst <= tolerance, (name, worst)
    assert torch.backends.cudnn.conv.fp32_precision == "tf32"  # the user's setting is back


def test_no_reference_metrics_match_the_cpu(photo_pairs, tf32_by_default):
    """NIQE, PIQE and BRISQUE in float64 on the GPU: the CPU values up to the GPU's own summation order
    (pinv, means). BRISQUE's features are rounded to 6 decimals and its score to 6 digits, as the release
    prints them: the same summands in another order can end on the other side of a rounding step."""
    _, preds, _ = zip(*photo_pairs, strict=True)
    metrics = ["niqe", "piqe", "brisque"]
    cpu = ImageScorer("pikfix", metrics, device="cpu").score(list(preds), None)
    gpu = ImageScorer("pikfix", metrics, device="cuda").score(list(preds), None)
    for name in ("niqe", "piqe"):
        worst = max(abs(a[name] - b[name]) for a, b in zip(cpu, gpu, strict=True))
        assert worst <= 1e-6, (name, worst)
    differences = [abs(a["brisque"] - b["brisque"]) for a, b in zip(cpu, gpu, strict=True)]
    assert differences.count(0.0) >= len(cpu) - 1 and max(differences) <= 1e-2, differences
    for pred in preds[:4]:
        image = torch.from_numpy(pred).permute(2, 0, 1)[None]
        on_cpu, on_gpu = (brisque_features(rgb2gray_uint8(image.to(device))) for device in ("cpu", "cuda"))
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=0, atol=1e-10)


def test_lpips_on_the_gpu_is_the_official_forward_whatever_the_batch(photo_pairs, tf32_by_default):
    same = [pair for pair in photo_pairs if pair[2].shape == photo_pairs[0][2].shape]
    _, preds, gts = zip(*same, strict=True)
    model = load_lpips_alex("cpu")
    with torch.no_grad():
        official = [
            float(
                model(
                    *(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255 for a in (p, g)),
                    normalize=True,
                )
            )
            for p, g in zip(preds, gts, strict=True)
        ]
    for batch_size in (1, 4, 16):
        values = ImageScorer("pikfix", ["lpips"], device="cuda", batch_size=batch_size).score(
            list(preds), list(gts)
        )
        np.testing.assert_allclose([v["lpips"] for v in values], official, rtol=0, atol=1e-6)


def test_a_cpu_model_and_gpu_metrics_under_device_cuda(dataset, tmp_path):
    evaluate("gray", dataset, tmp_path / "gray", device="cuda", progress=False)
    info = RunDirectory(tmp_path / "gray").read_run()
    assert info["environment"]["device"] == "cuda" and info["environment"]["model_device"] == "cpu"
    assert info["execution"]["device"] == "cuda" and info["precision"]["tf32_cudnn"] is False
    cpu = evaluate("gray", dataset, tmp_path / "gray-cpu", device="cpu", progress=False)
    gpu = RunDirectory(tmp_path / "gray").per_image()
    for name in DEFAULT_METRICS:  # what evaluate scores unless asked for more
        np.testing.assert_allclose(
            gpu[name], RunDirectory(cpu.path).per_image()[name], rtol=0, atol=PARITY[name]
        )


def test_a_torch_model_runs_on_the_gpu(dataset, tmp_path):
    torch.manual_seed(0)
    torch.save(build_generator("lab", "batch").state_dict(), tmp_path / "g.pth")
    result = evaluate(
        "pix2pix", dataset, tmp_path / "p2p", device="cuda", model_options={"weights": str(tmp_path / "g.pth")},
        progress=False,
    )  # fmt: skip
    assert result.scored == 8
    assert RunDirectory(tmp_path / "p2p").read_run()["environment"]["model_device"] == "cuda"


def test_a_pikfix_training_step_on_the_gpu(dataset):
    torch.manual_seed(0)
    config = PikFixConfig()
    state = new_state(config, "cuda")
    samples = list(open_dataset(dataset))[:4]
    batch = {k: v.cuda() for k, v in training_tensors(samples, 32, np.random.default_rng(0)).items()}
    before = [p.detach().clone() for p in state.model.parameters() if p.requires_grad]
    losses = train_step(state, config, batch)
    assert all(np.isfinite(value) for value in losses.values())
    after = [p for p in state.model.parameters() if p.requires_grad]
    assert all(p.is_cuda for p in after) and any(
        not torch.equal(a, b) for a, b in zip(before, after, strict=True)
    )
