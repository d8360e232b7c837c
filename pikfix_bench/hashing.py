"""sha256 of files and arrays: the hashes recorded in manifests, run files and weight checks."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np

from pikfix_bench.errors import PikfixError


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """Hex sha256 of an array's dtype, shape and bytes."""
    digest = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(np.ascontiguousarray(array).data)  # the buffer itself, no copy
    return digest.hexdigest()


def shipped_file(package: str, name: str, sha256: str, remedy: str = "reinstall pikfix-bench") -> bytes:
    """The bytes of ``weights/NAME`` shipped inside ``package``, after checking them against ``sha256``.

    Weights and model parameters ship inside the package (nothing is downloaded); a file that was
    changed or damaged since is refused with one :class:`PikfixError` naming it and what to do.
    """
    resource = resources.files(package) / "weights" / name
    data = resource.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise PikfixError(f"{resource}: sha256 {found} does not match the recorded {sha256}; {remedy}")
    return data
