"""Dataset build throughput with 1 and 2 workers, and peak memory for two dataset sizes.

Builds a ``folder`` source of generated 512x512 JPEG photographs (random crops,
flips and colour shifts of skimage pictures) with the default recipe (pikfix
preset, 256 px, self-shifted references). Each build runs in a fresh Python
process; peak memory is the largest resident set of that process and of its
worker processes. Memory must not grow with the dataset size.

Usage: ``python bench/build.py [--sizes 100 300]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import data

BUILD = """
import json, resource, sys, time
from pikfix_bench.datasets import Recipe, build_dataset
from pikfix_bench.datasets.sources import folder_source
from pikfix_bench.degradations import build_pipeline
source, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
recipe = Recipe("folder", build_pipeline("pikfix-procedural").spec)
start = time.perf_counter()
result = build_dataset(folder_source(__import__("pathlib").Path(source)), recipe, out, name="bench", workers=workers,
                       progress=False)
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "built": result.built, "hash": result.content_hash,
                  "peak_mib": max(own, children) / 1024}))
"""


def make_images(folder: Path, count: int) -> None:
    """``count`` 512 x 512 JPEGs derived from skimage photographs."""
    rng = np.random.default_rng(0)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field()]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        photo = photos[index % len(photos)]
        scale = 512 / min(photo.shape[:2]) * rng.uniform(1.0, 1.4)
        big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        top, left = rng.integers(0, big.shape[0] - 511), rng.integers(0, big.shape[1] - 511)
        crop = big[top : top + 512, left : left + 512]
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        shifted = np.clip(crop.astype(np.int16) + rng.integers(-20, 21, 3), 0, 255).astype(np.uint8)
        cv2.imwrite(
            str(folder / f"img{index:05d}.jpg"),
            cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 92],
        )


def run_build(source: Path, out: Path, workers: int) -> dict:
    """One build in a fresh process."""
    completed = subprocess.run(
        [sys.executable, "-c", BUILD, str(source), str(out), str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print throughput, speed-up and peak memory per dataset size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    args = parser.parse_args()
    print(f"{'images':>6} {'workers':>7} {'img/s':>7} {'speed-up':>8} {'peak MiB':>9}  content hash")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.sizes:
            source = Path(tmp) / f"src{count}"
            make_images(source, count)
            single = None
            for workers in (1, 2):
                result = run_build(source, Path(tmp) / f"out{count}-{workers}", workers)
                rate = result["built"] / result["seconds"]
                single = single or rate
                print(
                    f"{count:>6} {workers:>7} {rate:>7.1f} {rate / single:>7.2f}x {result['peak_mib']:>9.0f}  {result['hash'][:16]}"
                )


if __name__ == "__main__":
    main()
