"""The same dataset build with the local process pool (2 workers) and Dask (``local:2``), on one machine.

Reports both build times (target: the Dask path within 1.25x of the local pool), the share of the
total spent merging shards, and the per-sample costs that ``docs/scale.md`` projects from. Both builds
must give the same content hash. The Dask cluster's start and its workers' first imports are timed
apart, as a long-lived cluster pays them once.

Usage: ``python bench/scale.py [--images 200]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from build import make_images  # noqa: E402

from pikfix_bench.datasets import Recipe, build_dataset  # noqa: E402
from pikfix_bench.datasets.sources import folder_source  # noqa: E402
from pikfix_bench.degradations import build_pipeline  # noqa: E402
from pikfix_bench.execution import make_executor  # noqa: E402


def timed_build(source: Path, out: Path, executor) -> tuple[float, object]:
    """Seconds and result of one build of the default recipe."""
    recipe = Recipe("folder", build_pipeline("pikfix-procedural").spec)
    start = time.perf_counter()
    result = build_dataset(
        folder_source(source), recipe, out, name="scale", executor=executor, progress=False
    )
    return time.perf_counter() - start, result


def main() -> None:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        make_images(source, args.images)
        print(f"{args.images} generated 512-px images -> 256 x 256 pikfix samples, 2 workers")
        print(f"{'executor':<14} {'seconds':>8} {'img/s':>7} {'merge share':>12}  content hash")
        times = {}
        for label, kind, scheduler in (("local (pool)", "local", None), ("dask local:2", "dask", "local:2")):
            start = time.perf_counter()
            executor = make_executor(kind, workers=2, scheduler=scheduler)
            if kind == "dask":
                executor.warm_up("pikfix_bench.datasets.builder")  # imports, as on a long-lived cluster
            setup = time.perf_counter() - start
            seconds, result = timed_build(source, Path(tmp) / kind, executor)
            executor.close()
            times[kind] = seconds
            print(
                f"{label:<14} {seconds:>8.2f} {args.images / seconds:>7.1f} {result.merge_seconds / seconds:>11.1%}  "
                f"{result.content_hash[:16]}"
                + (f"  (+{setup:.1f} s cluster start)" if kind == "dask" else "")
            )
        ratio = times["dask"] / times["local"]
        print(f"dask / local: {ratio:.2f}x (target <= 1.25x): {'met' if ratio <= 1.25 else 'NOT met'}")
        print(f"per-sample cost on one worker-core: {2 * times['local'] / args.images * 1000:.0f} ms build")


if __name__ == "__main__":
    main()
