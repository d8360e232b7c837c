"""Write ``tests/data/pikfix_tear.npz``: torn regions drawn by Pik-Fix's own ``damage_generate``.

``utils/damage_libs.py`` (DerrickXuNu/Pik-Fix at 6c2f87c) draws with Python's ``random.randint`` and
``np.random.randint``. Here both are replaced by draws from a ``numpy.random.Generator`` with the mapping
``pikfix_tear`` uses (``randint(a, b)`` -> ``integers(a, b + 1)``, ``np.random.randint(n, size=k)`` ->
``integers(n, size=k)``); as both make the same calls in the same order, the same seed gives the same
draws, and ``tests/test_degradation_fidelity.py`` compares the regions. Run once by a maintainer::

    python tools/pikfix_tear_goldens.py PATH/TO/Pik-Fix/checkout
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "pikfix_tear.npz"
CASES = [(48, 64, seed) for seed in range(6)] + [(80, 40, seed) for seed in range(6, 12)] + [(200, 150, 12)]
THRESHOLD = 20  # utils/data_generation.py: damage_generate(..., threash=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of DerrickXuNu/Pik-Fix")
    path = parser.parse_args().checkout / "utils" / "damage_libs.py"
    spec = importlib.util.spec_from_file_location("pikfix_damage_libs", path)
    damage_libs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(damage_libs)
    golden = {}
    for height, width, seed in CASES:
        rng = np.random.default_rng(seed)
        damage_libs.randint = lambda a, b, rng=rng: int(rng.integers(a, b + 1))
        damage_libs.np.random.randint = lambda n, size, rng=rng: rng.integers(n, size=size)
        out = damage_libs.damage_generate(np.zeros((height, width, 3), np.uint8), threash=THRESHOLD)
        golden[f"{height}x{width}s{seed}"] = np.packbits(out[..., 0] == 255)
    np.savez_compressed(OUT, **golden)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
