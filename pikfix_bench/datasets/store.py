"""The dataset directory: ``samples.h5`` with the arrays and ``manifest.json`` with what they are.

See ``docs/formats.md``. Array hashes are ``sha256(dtype | shape | bytes)``; the
``content_hash`` of a dataset is the sha256 of its recipe and of the per-sample
array hashes and records in sample-id order, so it does not depend on time,
paths, machine or worker count.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import h5py
import numpy as np

from pikfix_bench.degradations.base import path_settings, without_paths
from pikfix_bench.errors import PikfixError
from pikfix_bench.hashing import array_sha256
from pikfix_bench.json_io import read_json

FORMAT_VERSION = 1
ARRAY_NAMES = ("input", "gt", "ref", "mask", "input_color")
SAMPLES_FILE, MANIFEST_FILE = "samples.h5", "manifest.json"
LIBVER = ("earliest", "v110")  # pinned so that the same content gives the same bytes
CHUNK_BYTES = 4 << 20
GZIP_LEVEL = 4
# Store compressed only when deflate at least halves an array (masks, flat images): photographs deflate
# to 60-80 % only, and inflating a 256 x 256 RGB array costs about 1.3 ms against 0.1 ms to read it raw.
COMPRESS_IF_BELOW = 0.5


def group_name(sample_id: str) -> str:
    """HDF5-safe group name for a sample id (ids may contain ``/``)."""
    return quote(sample_id, safe="")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def content_hash(recipe: dict[str, Any], samples: Iterable[dict[str, Any]]) -> str:
    """sha256 of the recipe and, in the order given (sample-id order), each sample's id, array hashes,
    degradation record and reference: streamed, so it needs no more memory than one sample. Paths in
    the recipe and records (``texture_dir``) are left out: the files they name enter through the
    recipe's ``files`` digests."""
    paths = path_settings()
    digest = hashlib.sha256(_canonical(without_paths(recipe, paths)))
    for sample in samples:
        view = without_paths({key: sample[key] for key in ("id", "arrays", "record", "reference")}, paths)
        digest.update(b"\n" + _canonical(view))
    return digest.hexdigest()


def chunk_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Whole images up to 4 MiB in one chunk (read in one piece, see :func:`read_array`), else bands of rows."""
    row_bytes = int(np.prod(shape[1:], dtype=np.int64))
    rows = max(1, min(shape[0], CHUNK_BYTES // max(row_bytes, 1)))
    return (rows, *shape[1:])


def read_array(dataset: h5py.Dataset) -> np.ndarray:
    """Read a stored array. A single-chunk array is read as one raw chunk (several times faster than
    h5py's selection machinery) and, when gzip-compressed, inflated by :mod:`zlib` outside the GIL."""
    if dataset.chunks == dataset.shape:
        filter_mask, raw = dataset.id.read_direct_chunk((0,) * dataset.ndim)
        compressed = dataset.compression
        if compressed is None or (compressed == "gzip" and filter_mask == 0):
            data = zlib.decompress(raw) if compressed else raw
            return np.frombuffer(data, dtype=dataset.dtype).reshape(dataset.shape).copy()
    return dataset[()]


def _write_array(group: h5py.Group, name: str, array: np.ndarray) -> None:
    """Store an array chunked, gzip-compressed when that at least halves its size.

    Photographs (noisy, textured) barely compress with deflate, and inflating them costs more
    evaluation time than the disk it saves; masks and flat images compress well. A single-chunk
    array is deflated here, once, and written as a raw gzip chunk (the same bytes the HDF5 filter
    would write), so readers anywhere decode it with the standard deflate filter.
    """
    array = np.ascontiguousarray(array)
    chunks = chunk_shape(array.shape)
    if chunks == array.shape:
        packed = zlib.compress(array.tobytes(), GZIP_LEVEL)
        if len(packed) <= COMPRESS_IF_BELOW * array.nbytes:
            dataset = group.create_dataset(
                name,
                shape=array.shape,
                dtype=array.dtype,
                chunks=chunks,
                compression="gzip",
                compression_opts=GZIP_LEVEL,
                track_times=False,
            )
            dataset.id.write_direct_chunk((0,) * array.ndim, packed)
        else:
            group.create_dataset(name, data=array, chunks=chunks, track_times=False)
        return
    group.create_dataset(
        name, data=array, chunks=chunks, compression="gzip", compression_opts=GZIP_LEVEL, track_times=False
    )


def write_sample(
    handle: h5py.File, sample_id: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> None:
    """Write one sample group: chunked arrays (see :func:`_write_array`) without timestamps, and its metadata."""
    group = handle.require_group("samples").create_group(group_name(sample_id))
    for name in ARRAY_NAMES:
        if name in arrays:
            _write_array(group, name, arrays[name])
    group.attrs["meta"] = json.dumps(meta, sort_keys=True)


def sample_meta(handle: h5py.File, key: str) -> dict[str, Any]:
    """Metadata stored with a sample group."""
    return json.loads(handle["samples"][key].attrs["meta"])


@dataclass
class Sample:
    """One sample read back from a dataset (uint8 arrays; ``mask`` and ``input_color`` may be ``None``;
    ``crop``: where input and ground truth were cut from the damaged picture, for pipelines that crop after
    the damage)."""

    sample_id: str
    input: np.ndarray
    gt: np.ndarray
    ref: np.ndarray
    mask: np.ndarray | None = None
    input_color: np.ndarray | None = None
    record: dict[str, Any] = field(default_factory=dict)
    crop: dict[str, int] | None = None


class Dataset:
    """Read access to a built dataset.

    Parameters
    ----------
    path : str or Path
        The dataset directory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        manifest_path = self.path / MANIFEST_FILE
        if not manifest_path.is_file() or not (self.path / SAMPLES_FILE).is_file():
            raise PikfixError(
                f"{self.path}: not a pikfix-bench dataset (no {MANIFEST_FILE} and {SAMPLES_FILE})"
            )
        try:
            self.manifest = read_json(manifest_path)
        except json.JSONDecodeError as exc:
            raise PikfixError(f"{manifest_path}: not valid JSON ({exc})") from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise PikfixError(
                f"{manifest_path}: format version {self.manifest.get('format_version')} is not {FORMAT_VERSION}"
            )
        self.ids = [sample["id"] for sample in self.manifest["samples"]]

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Sample]:
        with h5py.File(self.path / SAMPLES_FILE, "r") as handle:
            for sample_id in self.ids:
                yield self._read(handle, sample_id)

    def read(self, sample_ids: list[str], arrays: tuple[str, ...] = ARRAY_NAMES) -> list[Sample]:
        """Read the named samples; ``arrays`` limits which arrays are decompressed (``input, gt, ref`` at least)."""
        with h5py.File(self.path / SAMPLES_FILE, "r") as handle:
            return [self._read(handle, sample_id, arrays) for sample_id in sample_ids]

    @staticmethod
    def _read(handle: h5py.File, sample_id: str, names: tuple[str, ...] = ARRAY_NAMES) -> Sample:
        group = handle["samples"][group_name(sample_id)]
        arrays = {name: read_array(group[name]) for name in names if name in group}
        meta = json.loads(group.attrs["meta"])
        return Sample(
            sample_id,
            arrays["input"],
            arrays["gt"],
            arrays["ref"],
            arrays.get("mask"),
            arrays.get("input_color"),
            meta.get("record") or {},
            meta.get("crop"),
        )

    @property
    def content_hash(self) -> str:
        """The recorded content hash."""
        return self.manifest["content_hash"]


def open_dataset(path: str | Path) -> Dataset:
    """Open a built dataset for reading; iterate it for :class:`Sample` objects with numpy arrays."""
    return Dataset(path)


def verify_dataset(path: str | Path) -> list[str]:
    """Re-hash every stored array; return a message per sample that no longer matches the manifest."""
    dataset = Dataset(path)
    problems = []
    with h5py.File(dataset.path / SAMPLES_FILE, "r") as handle:
        stored = set(handle["samples"]) if "samples" in handle else set()
        for entry in dataset.manifest["samples"]:
            key = group_name(entry["id"])
            if key not in stored:
                problems.append(f"{entry['id']}: missing from {SAMPLES_FILE}")
                continue
            group = handle["samples"][key]
            for name, expected in entry["arrays"].items():
                if name not in group:
                    problems.append(f"{entry['id']}: array {name} missing")
                    continue
                try:
                    found = array_sha256(read_array(group[name]))
                except (OSError, zlib.error) as exc:  # a damaged chunk no longer inflates
                    problems.append(f"{entry['id']}: array {name} cannot be read ({exc})")
                    continue
                if found != expected:
                    problems.append(f"{entry['id']}: array {name} does not match its sha256")
        extra = stored - {group_name(entry["id"]) for entry in dataset.manifest["samples"]}
        problems += [f"{key}: in {SAMPLES_FILE} but not in the manifest" for key in sorted(extra)]
    ordered = sorted(dataset.manifest["samples"], key=lambda sample: sample["id"])
    recomputed = content_hash(dataset.manifest["recipe"], ordered)
    if recomputed != dataset.manifest["content_hash"]:
        problems.append("manifest: content_hash does not match the recipe and sample hashes it lists")
    return problems


def diff_datasets(a: str | Path, b: str | Path) -> dict[str, Any]:
    """Samples added, removed and changed from ``a`` to ``b``, and the recipe keys that differ."""
    first, second = Dataset(a).manifest, Dataset(b).manifest
    by_id_a = {s["id"]: s for s in first["samples"]}
    by_id_b = {s["id"]: s for s in second["samples"]}
    changed = sorted(
        i for i in by_id_a.keys() & by_id_b.keys() if by_id_a[i]["arrays"] != by_id_b[i]["arrays"]
    )
    keys = sorted(set(first["recipe"]) | set(second["recipe"]))
    return {
        "added": sorted(by_id_b.keys() - by_id_a.keys()),
        "removed": sorted(by_id_a.keys() - by_id_b.keys()),
        "changed": changed,
        "recipe": {
            k: [first["recipe"].get(k), second["recipe"].get(k)]
            for k in keys
            if first["recipe"].get(k) != second["recipe"].get(k)
        },
        "same_content": first["content_hash"] == second["content_hash"],
    }
