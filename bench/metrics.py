"""Throughput of the toolkit's batched metrics against the naive per-image loop.

The naive loop is what the Pik-Fix code implies: one image at a time, skimage
PSNR, skimage SSIM, skimage CIEDE2000, numpy colourfulness and the official
lpips module with batch size 1. Both sides score the same 256x256 and 512x512
pairs (skimage photographs with noise, blur and JPEG) in one run, under the
``skimage`` profile so that every value can be compared. At 256 px it also prints
the toolkit's time per image for each metric scored alone, to show where the time goes.

Usage: ``python bench/metrics.py [--pairs 48] [--device cpu] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import copy
import time

import cv2
import numpy as np
import torch
from skimage import color, data, metrics

from pikfix_bench.metrics import ImageScorer, load_lpips_alex

TOLERANCE = {"psnr": 1e-6, "ssim": 1e-6, "lpips": 1e-5, "ciede2000": 1e-4, "colorfulness": 1e-6}
TARGET_RATIO = 2.5


def make_pairs(count: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Distorted/original pairs of ``size x size`` crops of skimage photographs."""
    rng = np.random.default_rng(0)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    pairs = []
    for index in range(count):
        photo = photos[index % len(photos)]
        scale = size / min(photo.shape[:2]) * rng.uniform(1.0, 1.3)
        resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        top, left = rng.integers(0, resized.shape[0] - size + 1), rng.integers(0, resized.shape[1] - size + 1)
        gt = np.ascontiguousarray(resized[top : top + size, left : left + size])
        noisy = np.clip(
            cv2.GaussianBlur(gt, (0, 0), rng.uniform(0.5, 2)) + rng.normal(0, 8, gt.shape), 0, 255
        )
        pairs.append((noisy.astype(np.uint8), gt))
    return pairs


def naive_scores(pairs, device: str) -> tuple[list[dict[str, float]], float]:
    """The per-image reference loop; returns values and seconds.

    Its LPIPS module is the official one as ``lpips.LPIPS`` builds it (default memory format), with the
    same weights as the toolkit's (whose copy is converted to channels-last).
    """
    model = copy.deepcopy(load_lpips_alex(device)).to(memory_format=torch.contiguous_format)
    rows = []
    start = time.perf_counter()
    for pred, gt in pairs:
        p, g = pred / 255.0, gt / 255.0
        r, gg, b = (pred[..., i].astype(np.float64) for i in range(3))
        rg, yb = r - gg, 0.5 * (r + gg) - b
        to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float().to(device) / 255.0  # noqa: E731
        with torch.no_grad():
            lpips_value = float(model(to_tensor(pred), to_tensor(gt), normalize=True).item())
        rows.append(
            {
                "psnr": metrics.peak_signal_noise_ratio(g, p, data_range=1.0),
                "ssim": metrics.structural_similarity(
                    g,
                    p,
                    data_range=1.0,
                    channel_axis=-1,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                ),
                "lpips": lpips_value,
                "ciede2000": float(color.deltaE_ciede2000(color.rgb2lab(gt), color.rgb2lab(pred)).mean()),
                "colorfulness": float(
                    np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.hypot(rg.mean(), yb.mean())
                ),
            }
        )
    return rows, time.perf_counter() - start


def toolkit_scores(
    pairs, device: str, batch_size: int | None, metrics: tuple[str, ...] | None = None
) -> tuple[list[dict[str, float]], float]:
    """The toolkit's batched scorer (all five metrics by default); returns values and seconds."""
    scorer = ImageScorer("skimage", metrics=metrics, device=device, batch_size=batch_size)
    preds, gts = [p for p, _ in pairs], [g for _, g in pairs]
    scorer.score(preds[:2], gts[:2])  # warm-up (thread pools, allocator)
    start = time.perf_counter()
    rows = scorer.score(preds, gts)
    return rows, time.perf_counter() - start


def per_metric_milliseconds(pairs, device: str, batch_size: int | None, repeats: int) -> dict[str, float]:
    """The toolkit's median milliseconds per image for each metric scored alone."""
    return {
        name: 1000
        * float(np.median([toolkit_scores(pairs, device, batch_size, (name,))[1] for _ in range(repeats)]))
        / len(pairs)
        for name in TOLERANCE
    }


def main() -> None:
    """Run both loops at 256 and 512 pixels and print throughput, ratio and worst differences."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=48, help="pairs per size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the scorer's")
    parser.add_argument(
        "--repeats", type=int, default=5, help="alternating timed runs per side; the median counts"
    )
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    header = f"{'size':>5} {'pairs':>5} {'naive img/s':>12} {'toolkit img/s':>14} {'ratio':>6}  max |difference| per metric"
    print(header)
    failed = False
    for size in (256, 512):
        pairs = make_pairs(args.pairs if size == 256 else max(args.pairs // 3, 4), size)
        naive_scores(pairs[:2], args.device)  # warm-up
        naive_times, ours_times = [], []
        for _ in range(args.repeats):  # alternate, so that machine noise hits both sides alike
            naive, seconds = naive_scores(pairs, args.device)
            naive_times.append(seconds)
            ours, seconds = toolkit_scores(pairs, args.device, args.batch_size)
            ours_times.append(seconds)
        naive_s, ours_s = float(np.median(naive_times)), float(np.median(ours_times))
        diffs = {
            name: max(abs(a[name] - b[name]) for a, b in zip(naive, ours, strict=True)) for name in TOLERANCE
        }
        ratio = naive_s / ours_s
        within = all(diffs[name] <= TOLERANCE[name] for name in TOLERANCE)
        failed |= not within or (size == 256 and ratio < TARGET_RATIO)
        print(
            f"{size:>5} {len(pairs):>5} {len(pairs) / naive_s:>12.1f} {len(pairs) / ours_s:>14.1f} {ratio:>5.2f}x  "
            + " ".join(f"{name}={value:.1e}" for name, value in diffs.items())
            + ("" if within else "  OUT OF TOLERANCE")
        )
        if size == 256:
            alone = per_metric_milliseconds(pairs, args.device, args.batch_size, args.repeats)
            breakdown = ", ".join(f"{name} {ms:.1f}" for name, ms in alone.items())
            print(f"      toolkit ms per image, each metric alone: {breakdown}")
    print(
        f"target: >= {TARGET_RATIO}x at 256 px, values within {TOLERANCE}: {'met' if not failed else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
