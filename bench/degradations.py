"""Speed of every degradation operation and preset, beside imagecorruptions where that package runs.

Operations are timed on 512x512 RGB images with matched parameters for the
ImageNet-C counterparts (severity 3 of ``imagecorruptions``); presets on 256x256
images. Everything runs on one core (OpenCV and BLAS limited to one thread).
Targets: no operation slower than its imagecorruptions counterpart; the
``pikfix`` preset at least 50 images/s at 256x256 (its texture rules timed on
stand-in textures of random values, as the authors' files are not public); a
512x512 ``pikfix-procedural`` sample in under 40 ms.

Usage: ``python bench/degradations.py [--repeats 15]``; ``make bench`` installs
imagecorruptions (without its opencv-python dependency) first.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from pikfix_bench.degradations import OPERATIONS, PRESETS, build_pipeline, degrade  # noqa: E402
from pikfix_bench.resize import square_crop  # noqa: E402

# Our operation and parameters matched to imagecorruptions' corruption at severity 3.
COUNTERPARTS = {
    "gaussian_noise": ("gaussian_noise", {"sigma": 0.18 * 255, "gray": False}),
    "poisson_noise": ("shot_noise", {"photons": 12.0}),
    "salt_pepper": ("impulse_noise", {"amount": 0.09, "salt_ratio": 0.5, "per_channel": True}),
    "speckle_noise": ("speckle_noise", {"sigma": 0.35}),
    "defocus_blur": ("defocus_blur", {"radius": 6.0}),
    "motion_blur": ("motion_blur", {"length": 15.0, "angle": 30.0}),
    "jpeg": ("jpeg_compression", {"quality": 15}),
    "resolution": ("pixelate", {"scale": 0.4, "scale_y": -1.0, "down": "area", "up": "nearest"}),
}


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def paired_median_seconds(ours, theirs, repeats: int) -> tuple[float, float]:
    """Median wall times of two functions measured in alternation, so that machine noise hits both alike."""
    ours()
    theirs()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for function, bucket in ((ours, times[0]), (theirs, times[1])):
            start = time.perf_counter()
            function()
            bucket.append(time.perf_counter() - start)
    return float(np.median(times[0])), float(np.median(times[1]))


def load_imagecorruptions():
    """``imagecorruptions.corrupt``, or ``None`` with the reason when it cannot run here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from imagecorruptions import corrupt
        corrupt(np.zeros((64, 64, 3), np.uint8), corruption_name="gaussian_noise", severity=1)
        return corrupt, ""
    except Exception as exc:  # any import or runtime failure means "not comparable here"
        return None, f"{type(exc).__name__}: {exc}"


def stand_in_textures(folder: str) -> str:
    """``textureNN.jpg`` (1..12) and ``dustNN.jpg`` (1..11) of random values, 512 x 512, in ``folder``."""
    rng = np.random.default_rng(0)
    for stem, count in (("texture", 12), ("dust", 11)):
        for code in range(1, count + 1):
            cv2.imwrite(f"{folder}/{stem}{code:02d}.jpg", rng.integers(0, 256, (512, 512), dtype=np.uint8))
    return folder


def preset_rate(image: np.ndarray, preset: str, repeats: int, texture_dir: str) -> float:
    """Images per second of ``preset`` on ``image`` (a new sample id, so new draws, every call)."""
    pipeline = build_pipeline(preset, texture_dir=texture_dir if PRESETS[preset].takes_textures else None)
    counter = iter(range(10**9))
    return 1 / median_seconds(lambda: degrade(image, pipeline, sample_id=str(next(counter))), repeats)


def main() -> None:
    """Print the operation table and the preset table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    image512 = square_crop(data.astronaut(), 512)
    image256 = square_crop(data.astronaut(), 256)
    corrupt, why_not = load_imagecorruptions()
    print(
        f"one core; 512x512 RGB; median of {args.repeats}; imagecorruptions: {'yes' if corrupt else 'no (' + why_not + ')'}"
    )
    print(f"{'operation':<16} {'ms':>8} {'imagecorruptions':>18} {'ms':>8} {'speed-up':>9}")
    slower = []
    for name, cls in OPERATIONS.items():
        if cls.needs_files():
            continue
        operation = cls()
        theirs, params = COUNTERPARTS.get(name, (None, None))
        params = dict(params) if params else operation.sample(np.random.default_rng(0), image512.shape)
        if cls.uses_seed:
            params.setdefault("seed", 0)
        apply = functools.partial(operation.apply, image512, params)
        if theirs and corrupt:
            reference = functools.partial(corrupt, image512, corruption_name=theirs, severity=3)
            ours, theirs_seconds = (1000 * t for t in paired_median_seconds(apply, reference, args.repeats))
            line = (
                f"{name:<16} {ours:>8.2f} {theirs:>18} {theirs_seconds:>8.2f} {theirs_seconds / ours:>8.1f}x"
            )
            if ours > theirs_seconds:
                slower.append(name)
        else:
            line = f"{name:<16} {median_seconds(apply, args.repeats) * 1000:>8.2f}"
        print(line)
    print(f"\n{'preset (256x256)':<28} {'images/s':>9}")
    with tempfile.TemporaryDirectory() as folder:
        textures = stand_in_textures(folder)
        rates = {name: preset_rate(image256, name, args.repeats * 4, textures) for name in PRESETS}
    for name, rate in rates.items():
        print(f"{name:<28} {rate:>9.1f}")
    procedural_ms = 1000 / preset_rate(image512, "pikfix-procedural", args.repeats * 4, "")
    print(f"\npikfix-procedural, one 512x512 sample: {procedural_ms:.1f} ms")
    verdict_ops = (
        "not measured" if not corrupt else ("met" if not slower else f"NOT met ({', '.join(slower)})")
    )
    print(
        f"\ntargets: no operation slower than imagecorruptions: {verdict_ops}; "
        f"pikfix >= 50 img/s: {'met' if rates['pikfix'] >= 50 else 'NOT met'} ({rates['pikfix']:.0f}); "
        f"pikfix-procedural 512x512 < 40 ms: {'met' if procedural_ms < 40 else 'NOT met'} ({procedural_ms:.1f})"
    )


if __name__ == "__main__":
    main()
