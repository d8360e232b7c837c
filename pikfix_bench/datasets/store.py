"""The dataset directory: ``samples.h5`` with the arrays and ``manifest.json`` with what they are.

See ``docs/formats.md``. Array hashes are ``sha256(dtype | shape | bytes)``; the
``content_hash`` of a dataset is the sha256 of its recipe and of the per-sample
array hashes and records in sample-id order, so it does not depend on time,
paths, machine or worker count.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import h5py
import numpy as np

from pikfix_bench.degradations.base import path_settings, without_paths
from pikfix_bench.errors import PikfixError
from pikfix_bench.hashing import array_sha256
from pikfix_bench.safe_paths import name_problem
from pikfix_bench.schema import SHA256_HEX, read_json_record

FORMAT_VERSION = 1
ARRAY_NAMES = ("input", "gt", "ref", "mask", "input_color")
# The recipe kind of a scan set: old photographs as they are, without ground truth (and, with
# ``--references none``, without references): samples hold ``input`` and optionally ``ref``.
SCAN_KIND = "scans"
SAMPLES_FILE, MANIFEST_FILE = "samples.h5", "manifest.json"
LIBVER = ("earliest", "v110")  # pinned so that the same content gives the same bytes
CHUNK_BYTES = 4 << 20
GZIP_LEVEL = 4
# Store compressed only when deflate at least halves an array (masks, flat images): photographs deflate
# to 60-80 % only, and inflating a 256 x 256 RGB array costs about 1.3 ms against 0.1 ms to read it raw.
COMPRESS_IF_BELOW = 0.5
MAX_ARRAY_BYTES = 1 << 31  # 2 GiB: a 26000 x 26000 RGB scan; a declared shape beyond it is refused unread


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


def _stored_array(group: h5py.Group, name: str, where: str) -> h5py.Dataset:
    """The stored array ``name`` of a sample group, refused before any byte of it is read when it is
    not plain data inside this file.

    A hostile ``samples.h5`` can make HDF5 read other files (external raw storage, external links,
    virtual datasets: a FIFO there hangs the reader) or declare a shape that allocates without bound.
    Arrays are ``uint8``, ``H x W`` or ``H x W x 3``, at most :data:`MAX_ARRAY_BYTES`, stored in the file.
    """
    link = group.get(name, getlink=True)
    if link is None:
        raise PikfixError(f"{where}: array {name} is missing")
    if not isinstance(link, h5py.HardLink):
        raise PikfixError(f"{where}: array {name} is a link to elsewhere, not data in this file")
    stored = group[name]
    if not isinstance(stored, h5py.Dataset):
        raise PikfixError(f"{where}: array {name} is not an array")
    if stored.is_virtual or stored.id.get_create_plist().get_external_count():
        raise PikfixError(f"{where}: array {name} is stored in other files, not in this one")
    shape = stored.shape or ()
    if stored.dtype != np.uint8 or len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3):
        raise PikfixError(f"{where}: array {name} is {stored.dtype} {shape}, not uint8 H x W or H x W x 3")
    if math.prod(shape) > MAX_ARRAY_BYTES:
        raise PikfixError(f"{where}: array {name} declares {shape}, more than {MAX_ARRAY_BYTES} bytes")
    return stored


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
    """One sample read back from a dataset (uint8 arrays; ``mask`` and ``input_color`` may be ``None``,
    and so are ``gt`` in a scan set and ``ref`` in a scan set built with ``--references none``;
    ``crop``: where input and ground truth were cut from the damaged picture, for pipelines that crop after
    the damage)."""

    sample_id: str
    input: np.ndarray
    gt: np.ndarray | None
    ref: np.ndarray | None
    mask: np.ndarray | None = None
    input_color: np.ndarray | None = None
    record: dict[str, Any] = field(default_factory=dict)
    crop: dict[str, int] | None = None


_ARRAY_HASHES = {
    "type": "object",
    "required": ["input"],  # and gt, ref unless the set is a scan set (MANIFEST_SCHEMA's "if")
    "propertyNames": {"enum": list(ARRAY_NAMES)},
    "additionalProperties": SHA256_HEX,
}
# What a manifest must hold before any field is used; fields the readers do not use may be added freely.
MANIFEST_SCHEMA = {
    "type": "object",
    "required": [
        "format_version",
        "name",
        "kind",
        "version",
        "content_hash",
        "toolkit_version",
        "created",
        "recipe",
        "samples",
        "skipped",
    ],  # fmt: skip
    "properties": {
        "format_version": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "version": {"type": "string"},
        "content_hash": SHA256_HEX,
        "toolkit_version": {"type": "string"},
        "created": {"type": "string"},
        "recipe": {
            "type": "object",
            "required": ["kind", "pipeline", "seed", "size", "reference"],
            "properties": {
                "pipeline": {"type": ["object", "null"], "properties": {"name": {"type": "string"}}},
                "seed": {"type": "integer"},
                "size": {"type": "integer", "minimum": 0},
                "reference": {"type": "string"},
            },
        },
        "samples": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "arrays", "record", "reference"],
                "properties": {
                    "id": {"type": "string"},
                    "arrays": _ARRAY_HASHES,
                    "record": {"type": ["object", "null"]},
                    "reference": {"type": ["object", "null"]},
                    "crop": {
                        "type": ["object", "null"],
                        "required": ["top", "left"],
                        "properties": {"top": {"type": "integer"}, "left": {"type": "integer"}},
                    },
                },
            },
        },
        "skipped": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
    # a scan set has no ground truth; every other set has a ground truth and a reference per sample
    "if": {"properties": {"recipe": {"properties": {"kind": {"const": SCAN_KIND}}}}},
    "then": {"properties": {"samples": {"items": {"properties": {"arrays": {"not": {"required": ["gt"]}}}}}}},
    "else": {
        "properties": {"samples": {"items": {"properties": {"arrays": {"required": ["input", "gt", "ref"]}}}}}
    },
}


def has_ground_truth(manifest: dict[str, Any]) -> bool:
    """Whether a (schema-checked) manifest's samples have a ground truth: every set but a scan set."""
    return manifest["recipe"]["kind"] != SCAN_KIND


class Dataset:
    """Read access to a built dataset, checked at the door and as it is read.

    Opening checks the manifest against :data:`MANIFEST_SCHEMA`, every sample id
    (:func:`~pikfix_bench.safe_paths.name_problem`, and each id once), the content hash recomputed from
    the manifest, and that ``samples.h5`` opens and holds a group for every sample. Reading an array
    checks its sha256 against the manifest. Every problem is one :class:`PikfixError` naming the file
    (and the sample and array).

    Parameters
    ----------
    path : str or Path
        The dataset directory.
    check_content_hash : bool
        Refuse a manifest whose ``content_hash`` differs from the one recomputed from its recipe and
        sample hashes (``dataset verify`` lists that problem among others instead).
    """

    def __init__(self, path: str | Path, check_content_hash: bool = True) -> None:
        self.path = Path(path)
        manifest_path, self.samples_path = self.path / MANIFEST_FILE, self.path / SAMPLES_FILE
        if not manifest_path.is_file() or not self.samples_path.is_file():
            raise PikfixError(
                f"{self.path}: not a pikfix-bench dataset (no {MANIFEST_FILE} and {SAMPLES_FILE})"
            )
        self.manifest = read_json_record(manifest_path, MANIFEST_SCHEMA)
        if self.manifest["format_version"] != FORMAT_VERSION:
            raise PikfixError(
                f"{manifest_path}: format version {self.manifest['format_version']} is not {FORMAT_VERSION}"
            )
        self.ids = [sample["id"] for sample in self.manifest["samples"]]
        for sample_id in self.ids:
            problem = name_problem(sample_id)
            if problem:
                raise PikfixError(f"{manifest_path}: sample id {sample_id!r} {problem}")
        repeated = sorted(sample_id for sample_id, n in Counter(self.ids).items() if n > 1)
        if repeated:
            raise PikfixError(f"{manifest_path}: sample id {repeated[0]!r} appears more than once")
        self._entries = {sample["id"]: sample for sample in self.manifest["samples"]}
        if check_content_hash and self.recomputed_content_hash() != self.manifest["content_hash"]:
            raise PikfixError(
                f"{manifest_path}: content_hash does not match the recipe and sample hashes it lists "
                "(the manifest was edited after the build; `pikfix-bench dataset verify` says what differs)"
            )
        with self._open() as handle:
            stored = set(_hard_group(handle, "samples") or ())
        missing = [sample_id for sample_id in self.ids if group_name(sample_id) not in stored]
        if missing and check_content_hash:
            raise PikfixError(
                f"{self.samples_path}: sample {missing[0]!r} is missing ({len(missing)} in all)"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[Sample]:
        with self._open() as handle:
            for sample_id in self.ids:
                yield self._read(handle, sample_id)

    @property
    def ground_truth(self) -> bool:
        """Whether the samples have a ground truth (``False`` for a scan set: no-reference metrics only)."""
        return has_ground_truth(self.manifest)

    @property
    def target_array(self) -> str:
        """The array outputs are sized by: ``gt``, or a scan set's ``input`` (outputs keep the scan's size)."""
        return "gt" if self.ground_truth else "input"

    def read(self, sample_ids: list[str], arrays: tuple[str, ...] = ARRAY_NAMES) -> list[Sample]:
        """Read the named samples; ``arrays`` limits which arrays are decompressed (``input, gt, ref`` at least;
        those a sample does not have, as a scan set's ``gt``, are ``None``)."""
        with self._open() as handle:
            return [self._read(handle, sample_id, arrays) for sample_id in sample_ids]

    def shapes(self, array: str = "gt") -> dict[str, tuple[int, ...]]:
        """Each sample's shape of ``array`` from the HDF5 metadata, without reading the pixels.

        For sizing and planning only: the shape enters the array's sha256, so a shape that was
        tampered with is refused when the array itself is read.
        """
        with self._open() as handle:
            found = {}
            for sample_id in self.ids:
                where = f"{self.samples_path}: sample {sample_id}"
                group = _sample_group(handle, sample_id)
                if group is None:
                    raise PikfixError(f"{where} is missing")
                found[sample_id] = tuple(_stored_array(group, array, where).shape)
        return found

    def recomputed_content_hash(self) -> str:
        """The content hash of the recipe and sample records as the manifest lists them now."""
        ordered = sorted(self.manifest["samples"], key=lambda sample: sample["id"])
        try:
            return content_hash(self.manifest["recipe"], ordered)
        except (ValueError, TypeError, RecursionError) as exc:  # NaN or nesting deeper than JSON allows
            raise PikfixError(f"{self.path / MANIFEST_FILE}: records cannot be hashed ({exc})") from None

    @contextmanager
    def _open(self) -> Iterator[h5py.File]:
        """``samples.h5`` open for reading; a file that is not HDF5 or is truncated is one error."""
        try:
            handle = h5py.File(self.samples_path, "r")
        except OSError as exc:
            raise PikfixError(f"{self.samples_path}: not a readable HDF5 file ({_first_line(exc)})") from None
        with handle:
            yield handle

    def _read(self, handle: h5py.File, sample_id: str, names: tuple[str, ...] = ARRAY_NAMES) -> Sample:
        """One sample, each array checked against the sha256 its manifest entry records."""
        entry = self._entries[sample_id]
        where = f"{self.samples_path}: sample {sample_id}"
        group = _sample_group(handle, sample_id)
        if group is None:
            raise PikfixError(f"{where} is missing")
        arrays = {}
        for name in (name for name in names if name in entry["arrays"]):
            stored = _stored_array(group, name, where)
            try:
                arrays[name] = read_array(stored)
            except (OSError, RuntimeError, ValueError, MemoryError, zlib.error) as exc:
                raise PikfixError(f"{where}: array {name} cannot be read ({_first_line(exc)})") from None
            if array_sha256(arrays[name]) != entry["arrays"][name]:
                raise PikfixError(
                    f"{where}: array {name} does not match its sha256 in {MANIFEST_FILE} "
                    "(changed after the build; `pikfix-bench dataset verify` lists every difference)"
                )
        return Sample(
            sample_id,
            arrays["input"],
            arrays.get("gt"),
            arrays.get("ref"),
            arrays.get("mask"),
            arrays.get("input_color"),
            entry["record"] or {},
            entry.get("crop"),
        )

    @property
    def content_hash(self) -> str:
        """The content hash (checked against the manifest's records when the dataset was opened)."""
        return self.manifest["content_hash"]


def _hard_group(parent: h5py.Group, name: str) -> h5py.Group | None:
    """``parent[name]`` when it is a group held in this file; ``None`` when absent or a link (never followed)."""
    if not isinstance(parent.get(name, getlink=True), h5py.HardLink):
        return None
    group = parent[name]
    return group if isinstance(group, h5py.Group) else None


def _sample_group(handle: h5py.File, sample_id: str) -> h5py.Group | None:
    """A sample's group in this file, or ``None``."""
    samples = _hard_group(handle, "samples")
    return None if samples is None else _hard_group(samples, group_name(sample_id))


def _first_line(exc: BaseException) -> str:
    """An exception's message without the multi-line detail HDF5 appends."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def open_dataset(path: str | Path) -> Dataset:
    """Open a built dataset for reading; iterate it for :class:`Sample` objects with numpy arrays."""
    return Dataset(path)


def verify_dataset(path: str | Path) -> list[str]:
    """Re-hash every stored array; return a message per sample that no longer matches the manifest."""
    dataset = Dataset(path, check_content_hash=False)
    problems = []
    with dataset._open() as handle:
        stored = set(_hard_group(handle, "samples") or ())
        for sample_id in dataset.ids:
            try:
                dataset._read(handle, sample_id)
            except PikfixError as exc:
                problems.append(str(exc).removeprefix(f"{dataset.samples_path}: sample "))
            group = _sample_group(handle, sample_id)
            unlisted = (
                sorted(set(group) - set(dataset._entries[sample_id]["arrays"])) if group is not None else []
            )
            problems += [
                f"{sample_id}: array {name} is stored but not listed in {MANIFEST_FILE}" for name in unlisted
            ]
        extra = stored - {group_name(sample_id) for sample_id in dataset.ids}
        problems += [f"{key}: in {SAMPLES_FILE} but not in the manifest" for key in sorted(extra)]
    if dataset.recomputed_content_hash() != dataset.content_hash:
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
