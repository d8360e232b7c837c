"""``build-dataset``: sources -> geometry -> degradation -> reference -> ``samples.h5`` + ``manifest.json``.

Every sample is a pure function of the recipe, the global seed and the sample
id, built in a worker process and streamed to one writer. The build happens in
``OUT.partial/`` (resumable with ``resume=True``) and ends with a canonical copy
in sample-id order renamed into place, so the same recipe gives the same bytes
whatever the worker count or interruptions.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pikfix_bench import __version__
from pikfix_bench.datasets.geometry import crop_window, cut, damage_source, normalise, shifted_crop
from pikfix_bench.datasets.references import colour_descriptor, plan_references
from pikfix_bench.datasets.sources import (
    SKIMAGE_PREFIX,
    SourceItem,
    SourceListing,
    check_colour,
    load_source_image,
    skip_entry,
)
from pikfix_bench.datasets.store import (
    FORMAT_VERSION,
    LIBVER,
    MANIFEST_FILE,
    SAMPLES_FILE,
    SCAN_KIND,
    Sample,
    content_hash,
    sample_meta,
    write_sample,
)
from pikfix_bench.degradations import (
    DegradationResult,
    Pipeline,
    degrade,
    get_operation,
    paired_ground_truth,
    path_values,
    replay,
    sample_generator,
)
from pikfix_bench.errors import ImageReadError, PikfixError
from pikfix_bench.execution import Executor, given_or_local
from pikfix_bench.hashing import array_sha256, file_sha256
from pikfix_bench.image_io import atomic_write
from pikfix_bench.json_io import read_json, write_json
from pikfix_bench.locking import LOCK_FILE, folder_lock
from pikfix_bench.progress import Progress

SHARDS_DIR, RECIPE_FILE = "shards", "recipe.json"
DATASET_FILES = (MANIFEST_FILE, SAMPLES_FILE)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a dataset's content (and nothing that does not, such as paths or workers).

    Attributes
    ----------
    kind : str
        ``realold``, ``pascal``, ``div2k``, ``folder``, ``sample`` or ``scans`` (old photographs without
        ground truth: :func:`build_scan`).
    pipeline : dict or None
        The degradation pipeline spec (``None`` for RealOld and scan sets, whose damage is real).
    seed : int
        Global seed of degradations and references.
    size : int
        ``N``: short side to N then centre crop N x N; ``0``: full image cropped top-left to a multiple of 32.
    reference : str
        Reference strategy (see :mod:`pikfix_bench.datasets.references`).
    split, num, selection_seed : optional
        Source selection (Pascal VOC, DIV2K).
    files : dict, optional
        ``name -> sha256`` of the files in the folders the pipeline's path settings name (the
        paper's textures): they enter the content hash, the folders' paths do not
        (:meth:`with_file_digests`).
    """

    kind: str
    pipeline: dict[str, Any] | None
    seed: int = 0
    size: int = 256
    reference: str = "self-shifted"
    split: str | None = None
    num: int | None = None
    selection_seed: int | None = None
    files: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored in the manifest and hashed into ``content_hash`` (paths left out)."""
        return {key: value for key, value in asdict(self).items() if key != "files" or value is not None}

    def with_file_digests(self) -> Recipe:
        """This recipe with :attr:`files` filled from the folders its pipeline names (unchanged if none)."""
        folders = sorted(path_values(self.pipeline)) if self.pipeline else []
        files = {
            path.name: file_sha256(path)
            for folder in folders
            if Path(folder).is_dir()
            for path in sorted(Path(folder).iterdir())
            if path.is_file()
        }
        return replace(self, files=files or None)


def _source_record(location: str, image: np.ndarray) -> dict[str, str]:
    """Path and sha256 of a source: of the file's bytes, or of its (already loaded) array for ``skimage:``."""
    digest = array_sha256(image) if location.startswith(SKIMAGE_PREFIX) else file_sha256(location)
    return {"path": location, "sha256": digest}


@functools.lru_cache(maxsize=4)
def _pipeline(spec_json: str) -> Pipeline:
    return Pipeline(json.loads(spec_json))


def scan_geometry(image: np.ndarray, size: int) -> np.ndarray:
    """A scan (or its reference) as a scan set stores it: ``size == 0`` as it is, any size; ``size > 0``
    short side to ``size`` then centre crop, as every other kind (:func:`normalise`)."""
    return np.ascontiguousarray(image) if size == 0 else normalise(image, size)


def build_scan(
    item: SourceItem, recipe: Recipe, reference: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict]:
    """One sample of a scan set: the scan as the model input (``H x W`` when its channels are equal, else
    ``H x W x 3``), no ground truth, and a reference when the recipe's strategy gives one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpha/16-bit notes: the manifest records the source hash instead
        raw = load_source_image(item.gt)
    scan = scan_geometry(raw, recipe.size)
    gray = np.array_equal(scan[..., 0], scan[..., 1]) and np.array_equal(scan[..., 1], scan[..., 2])
    arrays = {"input": np.ascontiguousarray(scan[..., 0]) if gray else scan}
    sources = {"scan": _source_record(item.gt, raw)}
    info = {key: value for key, value in reference.items() if key != "location"}
    if reference["location"] is not None:
        ref = load_source_image(reference["location"])
        arrays["ref"] = scan_geometry(ref, recipe.size)
        sources["ref"] = _source_record(reference["location"], ref)
    meta = {
        "id": item.sample_id,
        "arrays": {name: array_sha256(array) for name, array in sorted(arrays.items())},
        "record": {},
        "reference": info,
        "sources": sources,
    }
    return arrays, meta


def build_sample(
    item: SourceItem, recipe: Recipe, reference: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict]:
    """Build one sample's arrays and metadata (raises :class:`PikfixError` when its sources are unusable)."""
    if recipe.kind == SCAN_KIND:
        return build_scan(item, recipe, reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpha/16-bit notes: the manifest records the source hash instead
        raw = load_source_image(item.gt)
    check_colour(raw, item.gt)
    sources = {"gt": _source_record(item.gt, raw)}
    arrays: dict[str, np.ndarray] = {}
    crop: dict[str, Any] | None = None  # where input and ground truth were cut from the damaged picture
    if recipe.kind == "realold":
        arrays["gt"] = normalise(raw, recipe.size)
        old = load_source_image(item.old_photo)
        if old.shape[:2] != raw.shape[:2]:
            raise PikfixError(
                f"{item.old_photo}: old photo is {old.shape[1]}x{old.shape[0]} but its target is {raw.shape[1]}x{raw.shape[0]}"
            )
        arrays["input_color"] = normalise(old, recipe.size)
        gray = get_operation("grayscale")()
        arrays["input"], _ = gray.apply(arrays["input_color"], {"method": "bt601"})
        sources["old_photo"] = _source_record(item.old_photo, old)
        record: dict[str, Any] = {}
    else:
        pipeline = _pipeline(json.dumps(recipe.pipeline, sort_keys=True))
        geometry = pipeline.geometry
        source = damage_source(raw, recipe.size, geometry)
        result = degrade(source, pipeline, seed=recipe.seed, sample_id=item.sample_id)
        gt = source
        if geometry.source_scale > 1:  # the ground truth is made from the larger source
            gt = geometry.ground_truth.run(source, sample_generator(recipe.seed, item.sample_id))[0]
        elif geometry.crop_after_damage and recipe.size > 0:  # input and ground truth cut alike
            window = crop_window(
                source.shape, recipe.size, sample_generator(recipe.seed, f"crop:{item.sample_id}")
            )
            crop = {"top": window[0].start, "left": window[1].start}
            gt, result = np.ascontiguousarray(source[window]), cut(result, window)
        expected = geometry.input_shape(gt.shape)
        if result.image.shape[:2] != expected:
            raise PikfixError(
                f"{item.gt}: pipeline {pipeline.name} made a {result.image.shape[1]}x{result.image.shape[0]} input "
                f"where a {gt.shape[1]}x{gt.shape[0]} ground truth needs {expected[1]}x{expected[0]}"
            )
        arrays["input"] = result.image
        arrays["gt"] = gt = paired_ground_truth(gt, result.record)
        if result.mask is not None:
            arrays["mask"] = result.mask
        record = {key: value for key, value in result.record.items() if key != "spec"}
    info = {key: value for key, value in reference.items() if key != "location"}
    if reference["location"] is None:
        arrays["ref"], info["crop"] = shifted_crop(
            raw, recipe.size, sample_generator(recipe.seed, f"reference:{item.sample_id}")
        )
    else:
        ref = load_source_image(reference["location"])
        arrays["ref"] = normalise(ref, recipe.size)
        sources["ref"] = _source_record(reference["location"], ref)
    meta = {
        "id": item.sample_id,
        "arrays": {name: array_sha256(array) for name, array in sorted(arrays.items())},
        "record": record,
        "reference": info,
        "sources": sources,
        **({"crop": crop} if crop else {}),
    }
    return arrays, meta


def replay_sample(raw: np.ndarray, sample: Sample, recipe: dict[str, Any]) -> DegradationResult:
    """A synthetic sample's input and mask again, from its source picture and its stored record.

    Parameters
    ----------
    raw : numpy.ndarray
        The source picture, as read from the path its manifest entry names.
    sample : Sample
        The sample read back from the dataset (its ``record`` and ``crop``).
    recipe : dict
        The dataset's recipe (``Dataset.manifest["recipe"]``): the pipeline and the size.

    Returns
    -------
    DegradationResult
        Its ``image`` and ``mask`` equal the stored ``input`` and ``mask``, byte for byte.
    """
    geometry = _pipeline(json.dumps(recipe["pipeline"], sort_keys=True)).geometry
    result = replay(damage_source(raw, recipe["size"], geometry), sample.record)
    if sample.crop is None:
        return result
    height, width = sample.gt.shape[:2]
    top, left = sample.crop["top"], sample.crop["left"]
    return cut(result, (slice(top, top + height), slice(left, left + width)))


def _descriptor_task(location: str) -> np.ndarray | str:
    """The colour descriptor of a source, or why it cannot be read (one image too large for the memory
    left costs that sample only)."""
    try:
        return colour_descriptor(location)
    except PikfixError as exc:
        return str(exc)
    except MemoryError:
        return f"{location}: not enough memory to read it"


def build_shard(task: tuple[int, list[tuple[SourceItem, dict]], Recipe, str]) -> dict[str, Any]:
    """Build one shard of samples into its own HDF5 file, atomically (temporary name, then rename).

    A pure function of its samples and the recipe: run twice (a retry after a lost worker), it writes
    the same bytes. Returns the ids it holds and the sources it skipped: a sample whose sources are
    unusable, or that runs out of memory (a huge image), is skipped with the reason and costs nothing else.
    """
    index, entries, recipe, path = task
    skipped = []
    ids = [item.sample_id for item, _ in entries]
    # Built in memory and written by Python: when HDF5 itself meets a full disk, h5py crashes the
    # process in its clean-up (a segmentation fault); a Python write raises a plain OSError.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=LIBVER) as handle:
        handle.attrs["ids"] = json.dumps(ids)
        for item, reference in entries:
            try:
                arrays, meta = build_sample(item, recipe, reference)
            except PikfixError as exc:
                # the sample's own file is the entry's path already; any other file is named in the reason
                own = isinstance(exc, ImageReadError) and str(exc.path) == item.gt
                skipped.append(skip_entry(item.gt, exc.reason if own else str(exc)))
                continue
            except MemoryError:  # its arrays are freed as the exception unwinds: the next sample has room
                skipped.append(skip_entry(item.gt, "not enough memory to build this sample"))
                continue
            write_sample(handle, meta["id"], arrays, meta)
        handle.attrs["skipped"] = json.dumps(skipped)
    atomic_write(Path(path), lambda temporary: temporary.write_bytes(buffer.getbuffer()))
    return {"index": index, "count": len(entries), "skipped": skipped}


def shard_path(partial: Path, index: int) -> Path:
    """Where shard ``index`` is written."""
    return partial / SHARDS_DIR / f"shard-{index:06d}.h5"


def _finished_shard(path: Path, ids: list[str]) -> list[dict[str, str]] | None:
    """The skipped list of a complete shard holding exactly ``ids``, else ``None`` (to be built)."""
    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as handle:
            if json.loads(handle.attrs["ids"]) != ids:
                return None
            return json.loads(handle.attrs["skipped"])
    except (OSError, KeyError):
        return None


def default_shard_size(count: int, workers: int) -> int:
    """Shards small enough to spread over the workers (about four each), at most 32 samples."""
    return max(1, min(32, math.ceil(count / (4 * max(1, workers)))))


@dataclass
class BuildResult:
    """What a build produced."""

    path: Path
    content_hash: str
    built: int
    skipped: list[dict[str, str]]
    merge_seconds: float = 0.0  # time spent merging shards into the final files


def _prepare_output(out: Path, partial: Path, recipe: Recipe, resume: bool, force: bool) -> None:
    """Check the output and make ``partial`` (locked by this process) ready to build in."""
    if out.is_symlink():
        raise PikfixError(f"--out {out} is a link; give the folder it points to")
    if out.exists() and not out.is_dir():
        raise PikfixError(f"--out {out}: a file is there, not a dataset folder; choose another --out")
    if out.exists() and not force:
        raise PikfixError(f"{out} exists; use --force to replace it")
    others = (
        sorted(path.name for path in out.iterdir() if path.name not in DATASET_FILES) if out.exists() else []
    )
    if others:  # --force deletes the folder: only ever one that holds a dataset and nothing else
        raise PikfixError(
            f"--out {out} holds files that are not a pikfix-bench dataset ({', '.join(others[:3])}); "
            "--force only replaces a folder that holds a dataset and nothing else"
        )
    started = [path for path in partial.iterdir() if path.name != LOCK_FILE]  # the lock: this process's
    if started:
        if force and not resume:
            for path in started:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        elif not resume:
            raise PikfixError(
                f"{partial} holds an interrupted build: use --resume to continue it or --force to start over"
            )
        else:
            stored = read_json(partial / RECIPE_FILE) if (partial / RECIPE_FILE).exists() else None
            if stored != recipe.to_dict():
                raise PikfixError(f"{partial} was started with another recipe; use --force to start over")
            return
    (partial / SHARDS_DIR).mkdir()
    write_json(partial / RECIPE_FILE, recipe.to_dict())


def build_dataset(
    listing: SourceListing,
    recipe: Recipe,
    out: str | Path,
    *,
    name: str,
    version: str = "1.0.0",
    source_root: str | None = None,
    pairs: dict[str, str] | None = None,
    workers: int = 1,
    executor: Executor | None = None,
    shard_size: int | None = None,
    resume: bool = False,
    force: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Build a dataset directory from a source listing and a recipe.

    Parameters
    ----------
    listing : SourceListing
        From one of :mod:`pikfix_bench.datasets.sources`.
    recipe : Recipe
        What to build.
    out : str or Path
        The dataset directory to create.
    name, version : str
        Label and semantic version recorded in the manifest.
    source_root : str, optional
        Recorded for information (not hashed).
    pairs : dict, optional
        ``sample_id -> reference file`` for the ``pairs`` strategy.
    workers : int
        Worker processes of the local executor (when ``executor`` is not given).
    executor : Executor, optional
        Where shards run (:func:`pikfix_bench.execution.make_executor`); the caller closes it.
    shard_size : int, optional
        Samples per shard (default: about four shards per worker, at most 32 samples).
    resume, force, strict : bool
        Continue an interrupted build; replace an existing output; fail on the first unusable source.
    progress : bool
        Show progress on standard error: a bar on a terminal, a line every tenth or 30 s otherwise.

    Returns
    -------
    BuildResult
        Where it is, its content hash, and what was built and skipped.
    """
    out = Path(out)
    if strict and listing.skipped:
        first = listing.skipped[0]
        raise PikfixError(f"{first['path']}: {first['reason']} (--strict)")
    if not listing.items:
        raise PikfixError("the source holds no usable images")
    recipe = recipe.with_file_digests()
    partial = out.with_name(out.name + ".partial")
    with folder_lock(partial):  # a second build of this --out stops here, naming this one
        _prepare_output(out, partial, recipe, resume, force)
        with given_or_local(executor, workers) as runner:
            entries, skipped = _plan(listing, recipe, pairs, runner, progress)
            size = shard_size or default_shard_size(len(entries), runner.workers)
            shards = [entries[start : start + size] for start in range(0, len(entries), size)]
            skipped += _build_shards(shards, recipe, partial, runner, strict, progress)
        started = time.perf_counter()
        result = _finalise(
            partial,
            [shard_path(partial, i) for i in range(len(shards))],
            out,
            recipe,
            name=name,
            version=version,
            source_root=source_root,
            skipped=skipped,
        )
    result.merge_seconds = time.perf_counter() - started
    return result


def _plan(
    listing: SourceListing, recipe: Recipe, pairs: dict[str, str] | None, executor: Executor, progress: bool
) -> tuple[list[tuple[SourceItem, dict]], list[dict[str, str]]]:
    """The samples to build with their references, in sample-id order, and the sources skipped."""
    items = listing.items
    descriptors, skipped_unreadable = None, []
    if recipe.reference in ("nearest", "same-class"):
        with Progress(len(items), "describing", enabled=progress) as shown:
            found = dict(shown.iterate(executor.run(_descriptor_task, [item.gt for item in items])))
        unreadable = {item.sample_id: found[i] for i, item in enumerate(items) if isinstance(found[i], str)}
        descriptors = {
            item.sample_id: found[i] for i, item in enumerate(items) if item.sample_id not in unreadable
        }
        skipped_unreadable = [
            skip_entry(item.gt, unreadable[item.sample_id]) for item in items if item.sample_id in unreadable
        ]
        items = [item for item in items if item.sample_id not in unreadable]
    plan = plan_references(items, recipe.reference, recipe.seed, descriptors, pairs)
    skipped = list(listing.skipped) + skipped_unreadable
    skipped += [
        skip_entry(item.gt, "no reference could be chosen") for item in items if item.sample_id not in plan
    ]
    entries = sorted(
        ((item, plan[item.sample_id]) for item in items if item.sample_id in plan),
        key=lambda entry: entry[0].sample_id,
    )
    return entries, skipped


def _build_shards(
    shards: list[list[tuple[SourceItem, dict]]],
    recipe: Recipe,
    partial: Path,
    executor: Executor,
    strict: bool,
    progress: bool,
) -> list[dict[str, str]]:
    """Build the shards a finished earlier attempt did not leave; returns the samples they skipped."""
    tasks, skipped = [], []
    for index, shard in enumerate(shards):
        done = _finished_shard(shard_path(partial, index), [item.sample_id for item, _ in shard])
        if done is None:
            tasks.append((index, shard, recipe, str(shard_path(partial, index))))
        else:
            skipped += done
    total = sum(map(len, shards))
    with Progress(total, "building", initial=total - sum(len(t[1]) for t in tasks), enabled=progress) as bar:
        for _, result in executor.run(build_shard, tasks):
            if strict and result["skipped"]:
                first = result["skipped"][0]
                raise PikfixError(f"{first['path']}: {first['reason']} (--strict)")
            skipped += result["skipped"]
            bar.update(result["count"])
    return skipped


def _relative(path: str, root: str | None) -> str:
    """A source path relative to the source root when it lies inside it (manifests stay portable)."""
    if root is None or path.startswith(SKIMAGE_PREFIX):
        return path
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path


def _finalise(
    partial: Path,
    shards: list[Path],
    out: Path,
    recipe: Recipe,
    *,
    name: str,
    version: str,
    source_root: str | None,
    skipped: list[dict[str, str]],
) -> BuildResult:
    """Merge the shards in sample-id order into the canonical samples file, write the manifest, rename.

    Shards hold consecutive ranges of the sorted sample ids, so copying them in order gives the global
    order with one shard open at a time; the content hash is computed as the samples are copied. The
    manifest is written with :func:`~pikfix_bench.json_io.write_json` into the staging folder, which
    then replaces ``out`` by a rename.
    """
    unique_skipped = sorted({(s["path"], s["reason"]): s for s in skipped}.values(), key=lambda s: s["path"])
    _remove_scratch_copies(out)
    _check_free_space(out.parent, sum(shard.stat().st_size for shard in shards if shard.is_file()))
    # A scratch name of its own beside ``out``, so that a user's folder named "OUT.staging" is never
    # touched; mkdtemp reserves the name and the folder is made again with the umask's permissions.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    staging.rmdir()
    staging.mkdir()
    try:
        return _merge(partial, shards, out, staging, recipe, unique_skipped, name, version, source_root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # the shards in .partial stay: --resume merges again
        raise


def _remove_scratch_copies(out: Path) -> None:
    """Remove the scratch folders of ``out`` that a build killed during its merge left beside it.

    ``.OUT.staging-XXXXXXXX`` (a whole copy of the data) and ``.OUT.old-XXXXXXXX`` (the replaced dataset,
    in the swap) are made by :func:`tempfile.mkdtemp` with these prefixes; this build holds ``out``'s lock,
    so no other build is using them. Only names of exactly that form are touched.
    """
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(staging|old)-[a-z0-9_]{{8}}")
    for path in out.parent.iterdir():
        if pattern.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)


def _check_free_space(folder: Path, shard_bytes: int) -> None:
    """Refuse to merge when the disk cannot hold a copy of the shards and the manifest.

    HDF5 must never meet a full disk itself (h5py then crashes the process in its clean-up), so the
    merge, which copies the shards' bytes, first checks that they fit, with 5 % and 1 MiB to spare.
    """
    needed = int(shard_bytes * 1.05) + (1 << 20)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise PikfixError(
            f"{folder}: No space left on device for the merged dataset ({needed / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free); free some space and run the same command with --resume"
        )


def _merge(
    partial: Path,
    shards: list[Path],
    out: Path,
    staging: Path,
    recipe: Recipe,
    unique_skipped: list[dict[str, str]],
    name: str,
    version: str,
    source_root: str | None,
) -> BuildResult:
    """Copy the shards into ``staging``, write the manifest, and move ``staging`` onto ``out``."""
    metas: list[dict[str, Any]] = []
    with h5py.File(staging / SAMPLES_FILE, "w", libver=LIBVER) as target:
        target_group = target.create_group("samples")

        def merged():
            for shard in shards:
                with h5py.File(shard, "r") as source:
                    group = source.get("samples")
                    if group is None:
                        continue
                    by_key = {key: sample_meta(source, key) for key in group}
                    for key, meta in sorted(by_key.items(), key=lambda entry: entry[1]["id"]):
                        source.copy(group[key], target_group, key)
                        meta["sources"] = {
                            role: {**entry, "path": _relative(entry["path"], source_root)}
                            for role, entry in meta["sources"].items()
                        }
                        metas.append(meta)
                        yield meta

        digest = content_hash(recipe.to_dict(), merged())
    count = len(metas)
    if count == 0:
        first = f": {unique_skipped[0]['path']}: {unique_skipped[0]['reason']}" if unique_skipped else ""
        raise PikfixError(f"no sample could be built{first}")
    header = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": recipe.kind,
        "version": version,
        "content_hash": digest,
        "toolkit_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "recipe": recipe.to_dict(),
        "source_root": source_root,
        "samples_count": count,
    }
    write_json(staging / MANIFEST_FILE, {**header, "samples": metas, "skipped": unique_skipped})
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))  # a name of its own
        old.rmdir()
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        os.replace(staging, out)
    shutil.rmtree(partial)
    return BuildResult(out, digest, count, unique_skipped)
