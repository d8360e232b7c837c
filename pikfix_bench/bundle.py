"""Run bundles: one zip file that anyone can re-score, and its reader that trusts nothing in it.

A bundle holds a finished run's ``run.json``, ``per_image.csv``, ``summary.json``, ``errors.csv`` (when
samples failed) and ``outputs/<sample_id>.png``, and ``bundle.json``::

    {"format": 1, "toolkit": VERSION, "dataset": {"name", "version", "content_hash"},
     "files": {"relative/path": "sha256 hex", ...}}

covering every other member. :func:`write_bundle` makes the same bytes from the same run (members in
name order, fixed times and modes). :func:`open_bundle` reads a bundle made by anyone: a member that
is not one of those names, is a link or a folder, has an unsafe name, appears twice, is larger than
its kind allows (an output larger than an uncompressed image of its sample's size), is not a PNG of
its sample's size, or does not match its sha256 is refused with one :class:`PikfixError` before
anything is written, and members are extracted only into a temporary folder, each through
:func:`~pikfix_bench.safe_paths.path_inside`.
"""

from __future__ import annotations

import hashlib
import json
import stat
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from pikfix_bench import __version__
from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.rundir import (
    ERRORS_FILE,
    OUTPUTS_DIR,
    PER_IMAGE_FILE,
    RUN_FILE,
    SUMMARY_FILE,
    RunDirectory,
)
from pikfix_bench.hashing import file_sha256
from pikfix_bench.image_io import atomic_write
from pikfix_bench.safe_paths import name_problem, path_inside
from pikfix_bench.schema import SHA256_HEX, check_schema

BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 1
RECORD_FILES = (RUN_FILE, PER_IMAGE_FILE, SUMMARY_FILE, ERRORS_FILE)
RECORD_LIMIT = 64 << 20  # bytes: a per_image.csv of a million samples fits
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_OVERHEAD = 1 << 16  # bytes a PNG may need beyond its pixels (headers, filter bytes, stored blocks)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: no build time in the bytes

BUNDLE_SCHEMA = {
    "type": "object",
    "required": ["format", "toolkit", "dataset", "files"],
    "properties": {
        "format": {"const": BUNDLE_FORMAT},
        "toolkit": {"type": "string"},
        "dataset": {
            "type": "object",
            "required": ["name", "version", "content_hash"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "content_hash": SHA256_HEX,
            },
        },
        "files": {"type": "object", "additionalProperties": SHA256_HEX},
    },
}


def _member_bytes(data: bytes, name: str, compress: bool) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.create_system = 3  # unix, so that the mode below is read as one
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    return info, data


def write_bundle(run: str | Path, out: str | Path) -> dict[str, Any]:
    """Write a finished run saved with ``--save-outputs`` as one deterministic zip file.

    Parameters
    ----------
    run : str or Path
        The run directory.
    out : str or Path
        The zip file to write (atomically).

    Returns
    -------
    dict
        The ``bundle.json`` record.

    Raises
    ------
    PikfixError
        When the run is not finished, or an output of a scored sample is missing (a run saved without
        ``--save-outputs``).
    """
    directory, out = RunDirectory(run), Path(out)
    if not directory.is_finished():
        raise PikfixError(f"{directory.path}: not a finished run (needs {RUN_FILE} and {SUMMARY_FILE})")
    if out.is_dir():
        raise PikfixError(f"--out {out}: a folder is there, not a zip file")
    record = directory.read_run()
    rows = directory.per_image()
    outputs = [f"{OUTPUTS_DIR}/{sample_id}.png" for sample_id in sorted(rows["sample_id"])]
    missing = [name for name in outputs if not (directory.path / name).is_file()]
    if missing:
        raise PikfixError(
            f"{directory.path}: {len(missing)} outputs are missing (first: {missing[0]}); a bundle is the "
            "evidence of its numbers: run evaluate again with --save-outputs"
        )
    members = [name for name in RECORD_FILES if (directory.path / name).is_file()] + outputs
    files = {name: file_sha256(directory.path / name) for name in members}
    dataset = record["dataset"]
    index = {
        "format": BUNDLE_FORMAT,
        "toolkit": __version__,
        "dataset": {key: dataset[key] for key in ("name", "version", "content_hash")},
        "files": files,
    }
    entries = [_member_bytes(json.dumps(index, indent=2, sort_keys=True).encode(), BUNDLE_FILE, True)]
    entries += [
        _member_bytes((directory.path / name).read_bytes(), name, not name.startswith(f"{OUTPUTS_DIR}/"))
        for name in sorted(members)
    ]

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for info, data in entries:
                archive.writestr(info, data, compresslevel=9 if info.compress_type else None)

    atomic_write(out, write)
    return index


@dataclass
class OpenedBundle:
    """A bundle checked member by member and extracted into a temporary folder."""

    path: Path  # the zip file
    sha256: str  # of the zip file's bytes
    index: dict[str, Any]  # bundle.json
    folder: Path  # where the checked members were extracted (removed when the ``with`` block ends)

    @property
    def run(self) -> RunDirectory:
        """The extracted run directory (its files as the bundle holds them)."""
        return RunDirectory(self.folder)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's header, or ``None`` when ``data`` does not start as a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _check_member(info: zipfile.ZipInfo, bundle: Path, seen: set[str]) -> None:
    """Refuse a member whose name, kind or declared size cannot be part of a bundle."""
    name = info.filename
    problem = name_problem(name)
    if problem:
        raise PikfixError(f"{bundle}: member {name!r} {problem}")
    if name in seen:
        raise PikfixError(f"{bundle}: member {name!r} appears more than once")
    seen.add(name)
    kind = stat.S_IFMT(info.external_attr >> 16)
    if info.is_dir() or (kind and kind != stat.S_IFREG):
        raise PikfixError(f"{bundle}: member {name!r} is a folder or a link, not a file")
    if info.flag_bits & 0x1:
        raise PikfixError(f"{bundle}: member {name!r} is encrypted")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, bundle: Path) -> bytes:
    """A member's bytes, refused when it declares or yields more than ``limit`` bytes."""
    if info.file_size > limit:
        raise PikfixError(f"{bundle}: member {info.filename!r} is {info.file_size} bytes, more than {limit}")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise PikfixError(f"{bundle}: member {info.filename!r} cannot be read ({exc})") from None
    if len(data) > limit:
        raise PikfixError(f"{bundle}: member {info.filename!r} holds more than {limit} bytes")
    return data


@contextmanager
def open_bundle(path: str | Path, dataset: Dataset) -> Iterator[OpenedBundle]:
    """Check a bundle against ``dataset`` and extract it into a temporary folder for the ``with`` block.

    Parameters
    ----------
    path : str or Path
        The zip file (from anyone).
    dataset : Dataset
        The dataset its run claims to have scored (opened, so its content hash was recomputed).

    Yields
    ------
    OpenedBundle
        The checked bundle.

    Raises
    ------
    PikfixError
        One line naming the bundle and the first problem found; nothing is extracted then.
    """
    path = Path(path)
    if not path.is_file():
        raise PikfixError(f"{path}: no such bundle file")
    # outputs have the ground truth's size, or a scan set's scan size
    sample_sizes = {sample_id: shape[:2] for sample_id, shape in dataset.shapes(dataset.target_array).items()}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise PikfixError(f"{path}: not a readable zip file ({exc})") from None
    with archive, TemporaryDirectory(prefix="pikfix-bundle-") as temporary:
        seen: set[str] = set()
        contents: dict[str, bytes] = {}
        for info in archive.infolist():
            _check_member(info, path, seen)
            contents[info.filename] = _read_member(
                archive, info, _limit(info.filename, sample_sizes, path), path
            )
        index = _check_index(contents, path, dataset)
        for name, data in contents.items():
            if name.startswith(f"{OUTPUTS_DIR}/"):
                _check_output(name, data, sample_sizes, path)
            target = path_inside(temporary, name, what="bundle member")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        yield OpenedBundle(path, file_sha256(path), index, Path(temporary))


def _limit(name: str, sample_sizes: dict[str, tuple[int, int]], bundle: Path) -> int:
    """The most bytes member ``name`` may hold; a name that is no part of a bundle is refused."""
    if name == BUNDLE_FILE or name in RECORD_FILES:
        return RECORD_LIMIT
    sample_id = name.removeprefix(f"{OUTPUTS_DIR}/").removesuffix(".png")
    if not name.startswith(f"{OUTPUTS_DIR}/") or not name.endswith(".png") or sample_id not in sample_sizes:
        raise PikfixError(
            f"{bundle}: member {name!r} is not part of a bundle (outputs/<sample id>.png for a sample of the "
            f"dataset, {BUNDLE_FILE}, {', '.join(RECORD_FILES)})"
        )
    height, width = sample_sizes[sample_id]
    return height * (width * 3 + 1) + PNG_OVERHEAD  # an uncompressed PNG of that size, and some


def _check_index(contents: dict[str, bytes], bundle: Path, dataset: Dataset) -> dict[str, Any]:
    """``bundle.json`` checked: its schema, the dataset's content hash, and every member's sha256."""
    if BUNDLE_FILE not in contents:
        raise PikfixError(f"{bundle}: no {BUNDLE_FILE} in it")
    try:
        index = json.loads(contents[BUNDLE_FILE].decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise PikfixError(f"{bundle}: {BUNDLE_FILE} is not valid JSON ({exc})") from None
    check_schema(index, BUNDLE_SCHEMA, f"{bundle}: {BUNDLE_FILE}")
    if index["dataset"]["content_hash"] != dataset.content_hash:
        raise PikfixError(
            f"{bundle}: made on dataset content {index['dataset']['content_hash'][:12]}…, but "
            f"{dataset.path} holds {dataset.content_hash[:12]}…: re-score it on the dataset it was made on"
        )
    listed, present = set(index["files"]), set(contents) - {BUNDLE_FILE}
    if listed != present:
        extra, absent = sorted(present - listed), sorted(listed - present)
        which = (
            f"{extra[0]!r} is not listed in {BUNDLE_FILE}" if extra else f"{absent[0]!r} is listed but absent"
        )
        raise PikfixError(f"{bundle}: member {which}")
    for name in sorted(listed):
        if hashlib.sha256(contents[name]).hexdigest() != index["files"][name]:
            raise PikfixError(f"{bundle}: member {name!r} does not match its sha256 in {BUNDLE_FILE}")
    for name in (RUN_FILE, PER_IMAGE_FILE, SUMMARY_FILE):
        if name not in contents:
            raise PikfixError(f"{bundle}: no {name} in it")
    return index


def _check_output(name: str, data: bytes, sample_sizes: dict[str, tuple[int, int]], bundle: Path) -> None:
    """An output must be a PNG of its sample's ground-truth size (checked before any pixel is decoded)."""
    size = _png_size(data)
    if size is None:
        raise PikfixError(f"{bundle}: member {name!r} is not a PNG file (outputs must be lossless PNG)")
    sample_id = name.removeprefix(f"{OUTPUTS_DIR}/").removesuffix(".png")
    height, width = sample_sizes[sample_id]
    if size != (width, height):
        raise PikfixError(
            f"{bundle}: member {name!r} is {size[0]} x {size[1]}, but sample {sample_id} is {width} x {height}"
        )
