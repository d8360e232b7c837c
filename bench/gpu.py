"""The GPU check: everything issue 13 asks to measure on one CUDA device, in one script (< 5 minutes).

Prints, in order:

1. metric throughput of the toolkit's batched scorer against the naive per-image loop of
   ``bench/metrics.py`` (skimage + the official ``lpips`` module, batch 1), both with TF32 off, and the
   largest difference per metric;
2. CPU/GPU parity: the largest per-image difference of every metric under every profile, with TF32 left
   on by default outside the scorer (the scorer turns it off);
3. ``evaluate`` wall time per model on the bundled sample set at 256 px (weight-free baselines, pix2pix
   and Pik-Fix with random weights), with the device each model ran on;
4. Pik-Fix training steps (generator + PatchGAN, the talk's losses) at batch 16, 256 x 256, fp32 and
   bf16: images per second and peak GPU memory, against issue 16's targets;
5. the Pik-Fix forward pass at 256..2048 px: time and peak memory (``bench/pikfix.py``'s measurement);
6. a 4096 x 4096 scan through tiled inference (``memory_budget`` 4 GiB, a 3072-px reference encoded once):
   time and peak memory (issue 16: "4096² runs").

Usage: ``python bench/gpu.py [--device cuda] [--quick]``. ``--quick`` (smaller sizes, fewer repeats)
with ``--device cpu`` checks the script itself on a machine without CUDA; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import metrics as metric_bench  # noqa: E402 - bench/metrics.py
import pikfix as pikfix_bench_script  # noqa: E402 - bench/pikfix.py

from pikfix_bench.baselines.pix2pix import build_generator  # noqa: E402
from pikfix_bench.datasets import open_dataset  # noqa: E402
from pikfix_bench.devices import strict_fp32  # noqa: E402
from pikfix_bench.evaluation import RunDirectory, evaluate  # noqa: E402
from pikfix_bench.metrics import DEFAULT_METRICS as METRICS  # noqa: E402 - the metrics every scorer computes
from pikfix_bench.metrics import PROFILES, ImageScorer  # noqa: E402
from pikfix_bench.model import PikFix, PikFixConfig, colorize  # noqa: E402
from pikfix_bench.model.inference import save_model, tile_for_budget  # noqa: E402
from pikfix_bench.model.training import new_state, train_step, training_tensors  # noqa: E402

PARITY = {"psnr": 1e-9, "ssim": 1e-9, "lpips": 1e-6, "ciede2000": 1e-5, "colorfulness": 1e-9}


def synchronize(device: str) -> None:
    """Wait for the device's queued work (timings must include it)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def metric_throughput(device: str, pairs: int, repeats: int) -> None:
    """Section 1: naive loop against the batched scorer, TF32 off on both sides."""
    print(f"\n== metrics at 256 px, {pairs} pairs, TF32 off on both sides, median of {repeats}")
    data = metric_bench.make_pairs(pairs, 256)
    with strict_fp32():
        metric_bench.naive_scores(data[:2], device)
        naive_times, ours_times = [], []
        for _ in range(repeats):
            naive, seconds = metric_bench.naive_scores(data, device)
            naive_times.append(seconds)
            ours, seconds = metric_bench.toolkit_scores(data, device, None)
            ours_times.append(seconds)
    naive_s, ours_s = float(np.median(naive_times)), float(np.median(ours_times))
    diffs = {name: max(abs(a[name] - b[name]) for a, b in zip(naive, ours, strict=True)) for name in METRICS}
    print(
        f"naive {pairs / naive_s:.1f} img/s, toolkit {pairs / ours_s:.1f} img/s, ratio {naive_s / ours_s:.1f}x"
    )
    print("max |difference| vs naive: " + " ".join(f"{k}={v:.1e}" for k, v in diffs.items()))


def parity(device: str, pairs: int) -> bool:
    """Section 2: every metric on the CPU and on ``device``, every profile; returns whether all are within PARITY."""
    print(f"\n== CPU/{device} parity, {pairs} pairs of 256 and 181x203 px (TF32 on outside the scorer)")
    data = metric_bench.make_pairs(pairs, 256) + [
        (p[:181, :203], g[:181, :203]) for p, g in metric_bench.make_pairs(4, 256)
    ]
    preds, gts = [p for p, _ in data], [g for _, g in data]
    saved = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "tf32"
    ok = True
    for profile in PROFILES:
        cpu = ImageScorer(profile, device="cpu").score(preds, gts)
        other = ImageScorer(profile, device=device).score(preds, gts)
        worst = {
            name: max(
                (abs(a[name] - b[name]) for a, b in zip(cpu, other, strict=True) if np.isfinite(a[name])),
                default=0.0,
            )
            for name in METRICS
        }
        within = all(worst[name] <= PARITY[name] for name in METRICS)
        ok &= within
        print(
            f"{profile:<8} "
            + " ".join(f"{k}={v:.1e}" for k, v in worst.items())
            + ("" if within else "  OUT OF TOLERANCE")
        )
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved
    return ok


def evaluate_times(device: str, root: Path) -> Path:
    """Section 3: ``evaluate`` per model on the sample set at 256 px; returns the dataset path."""
    from click.testing import CliRunner

    from pikfix_bench.cli import main

    dataset = root / "sample"
    CliRunner().invoke(
        main, ["build-dataset", "sample", "--out", str(dataset), "--size", "256"], catch_exceptions=False
    )
    torch.manual_seed(0)
    torch.save(build_generator("lab", "batch").state_dict(), root / "latest_net_G.pth")
    save_model(root / "pikfix.pth", PikFix(PikFixConfig()), {"note": "random weights (bench/gpu.py)"})
    models = {
        "gray": {},
        "reinhard": {},
        "welsh": {},
        "classical-restore": {},
        "classical-restore+welsh": {},
        "pix2pix": {"weights": str(root / "latest_net_G.pth")},
        "pikfix": {"weights": str(root / "pikfix.pth")},
    }
    print(f"\n== evaluate on the sample set (8 images, 256 px), --device {device}")
    print(f"{'model':<24} {'seconds':>8} {'img/s':>7} {'model on':>9}  PSNR / SSIM / LPIPS")
    for name, options in models.items():
        out = root / "runs" / name
        start = time.perf_counter()
        result = evaluate(name, dataset, out, model_options=options, device=device, progress=False)
        seconds = time.perf_counter() - start
        info = RunDirectory(out).read_run()
        means = [result.summary["metrics"][m]["mean"] for m in ("psnr", "ssim", "lpips")]
        print(
            f"{name:<24} {seconds:>8.2f} {result.scored / seconds:>7.1f} {info['environment']['model_device']:>9}  "
            + " / ".join(f"{v:.3f}" for v in means)
        )
    return dataset


# issue 16's targets for one H200-class GPU at batch 16, 256 x 256: images per second, peak GiB
TRAIN_TARGETS = {"fp32": (95, 12), "bf16": (190, 8)}


def train_speed(device: str, dataset: Path, batch: int, crop: int, steps: int) -> None:
    """Section 4: Pik-Fix training steps at ``batch`` x ``crop``^2 in fp32 and bf16 (against issue 16's
    targets, which hold at batch 16, 256 px)."""
    samples = list(open_dataset(dataset))
    samples = (samples * (batch // len(samples) + 1))[:batch]
    config = PikFixConfig()
    tensors = {k: v.to(device) for k, v in training_tensors(samples, crop, np.random.default_rng(0)).items()}
    print(f"\n== Pik-Fix training step, default config, batch {batch} at {crop}x{crop} on {device}")
    for precision, (target_rate, target_gib) in TRAIN_TARGETS.items():
        torch.manual_seed(0)
        state = new_state(config, device, precision)
        for _ in range(2):  # warm-up: cuDNN algorithm choice, allocator
            train_step(state, config, tensors)
        synchronize(device)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            train_step(state, config, tensors)
        synchronize(device)
        seconds = (time.perf_counter() - start) / steps
        rate = batch / seconds
        line = f"{precision}: {seconds * 1000:.0f} ms per step, {rate:.1f} img/s"
        if device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated() / 2**30
            met = rate >= target_rate and peak <= target_gib
            line += f", peak GPU memory {peak:.1f} GiB (target >= {target_rate} img/s, <= {target_gib} GiB: "
            line += f"{'met' if met else 'NOT met'})"
        print(line)
        del state


def forward_sizes(device: str, sizes: list[int]) -> None:
    """Section 5: the forward pass per size, each in a fresh process."""
    print(f"\n== Pik-Fix forward pass, default config, on {device}")
    print(f"{'size':>5} {'ms':>8} {'peak GPU MiB':>13}")
    for size in sizes:
        result = pikfix_bench_script.forward(size, device)
        if "error" in result:
            print(f"{size:>5}  failed: {result['error']}")
            continue
        gpu = f"{result['gpu_mib']:.0f}" if result["gpu_mib"] is not None else "-"
        print(f"{size:>5} {result['seconds'] * 1000:>8.1f} {gpu:>13}")


def large_scan(device: str, side: int, budget: float) -> None:
    """Section 6: one ``side`` x ``side`` scan, tiled for a memory budget (random weights and pixels)."""
    tile = tile_for_budget(budget)
    print(
        f"\n== Pik-Fix tiled inference, {side} x {side}, memory_budget {budget:g} GiB (tile {tile}), on {device}"
    )
    model = PikFix(PikFixConfig()).eval().to(device)
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (side, side), dtype=np.uint8)
    reference = rng.integers(0, 256, (side * 3 // 4, side * 3 // 4, 3), dtype=np.uint8)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    (out,) = colorize(model, [gray], [reference], device=device, tile=tile)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.startswith("cuda") else "-"
    print(
        f"  {out.shape[1]} x {out.shape[0]} in {time.perf_counter() - started:.1f} s, peak GPU memory {peak}"
    )


def main() -> None:
    """Run the six sections; exit 1 when a parity check fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (a check of the script)"
    )
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("bench/gpu.py: CUDA is not available here (use --device cpu --quick to check the script)")
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}")
    started = time.perf_counter()
    metric_throughput(args.device, 8 if args.quick else 48, 1 if args.quick else 3)
    ok = parity(args.device, 4 if args.quick else 16)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = evaluate_times(args.device, Path(tmp))
        train_speed(
            args.device, dataset, 2 if args.quick else 16, 64 if args.quick else 256, 1 if args.quick else 5
        )
    forward_sizes(args.device, [256] if args.quick else [256, 512, 1024, 2048])
    large_scan(args.device, 512 if args.quick else 4096, 0.1 if args.quick else 4.0)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; parity {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
