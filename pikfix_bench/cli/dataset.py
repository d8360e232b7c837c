"""``pikfix-bench build-dataset`` and ``pikfix-bench dataset info|verify|diff|export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pikfix_bench.cli.degrade import pipeline_from_options
from pikfix_bench.cli.options import executor_options
from pikfix_bench.datasets import (
    Dataset,
    Recipe,
    build_dataset,
    diff_datasets,
    export_dataset,
    verify_dataset,
)
from pikfix_bench.datasets.references import STRATEGIES
from pikfix_bench.datasets.sources import (
    SourceListing,
    div2k_source,
    folder_source,
    pascal_source,
    read_pairs_csv,
    realold_has_targets,
    realold_scans_source,
    realold_source,
    sample_source,
    scans_source,
    skip_entry,
    with_reference_folder,
)
from pikfix_bench.datasets.store import SCAN_KIND
from pikfix_bench.degradations import PRESETS
from pikfix_bench.errors import PikfixError
from pikfix_bench.execution import make_executor

KINDS = ("realold", "pascal", "div2k", "folder", "sample", SCAN_KIND)
DEFAULT_PRESET = {  # with --texture-dir, "pikfix" (the paper's textures) instead of "pikfix-procedural"
    "pascal": "pikfix-procedural",
    "folder": "pikfix-procedural",
    "sample": "pikfix-procedural",
    "div2k": "clean-gray",
    "realold": None,
    SCAN_KIND: None,
}
DEFAULT_SPLIT = {"pascal": "val", "div2k": "valid"}


@click.command("build-dataset")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Dataset directory to create.")
@click.option("--source", type=click.Path(path_type=Path), help="Root of the source in its official layout.")
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    help="Degradation preset [default: pikfix-procedural, or pikfix with --texture-dir; clean-gray for div2k; "
    "none for realold].",
)
@click.option(
    "--pipeline", "pipeline_file", type=click.Path(path_type=Path), help="Degradation pipeline YAML."
)
@click.option("--severity", type=click.IntRange(1, 5), help="Severity for presets that have them.")
@click.option("--texture-dir", type=click.Path(path_type=Path), help="The paper's texture2/ folder.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--size",
    type=click.IntRange(min=0),
    help="N: the ground truth is N x N. Most presets: short side to N, then centre crop; the pikfix presets damage "
    "each picture at its native resolution and cut a random N x N window (as the paper's training), so on large "
    "scans a sample shows a small part of the picture; pikfix-offline starts from 4N, realesrgan ends at N/4 "
    "(docs/datasets.md). 0: the full image cropped to a multiple of 32; scan sets: the scan as it is "
    "[default: 256; scan sets 0].",
)
@click.option(
    "--reference", type=click.Choice([*STRATEGIES]), help="Reference strategy [default: self-shifted]."
)
@click.option(
    "--references",
    "scan_references",
    metavar="DIR|nearest|none",
    help="scans (and realold without targets): a folder of references named as the scans, the nearest other "
    "scan by colour, or none [default: none; realold: its real_old_ref/]. Models that read a reference are "
    "refused on a set without references.",
)
@click.option("--pairs", "pairs_csv", type=click.Path(path_type=Path), help="CSV sample_id,reference.")
@click.option("--split", help="pascal: train|val|trainval (default val); div2k: train|valid (default valid).")
@click.option(
    "--num", type=click.IntRange(min=1), help="pascal: how many images of the split (seeded choice)."
)
@click.option("--selection-seed", default=0, show_default=True, type=int, help="Seed of the --num selection.")
@click.option("--name", help="Dataset name [default: KIND-SPLIT].")
@click.option("--version", "version", default="1.0.0", show_default=True, help="Semantic version to record.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@executor_options("a process pool of --workers")
@click.option(
    "--shard-size", type=click.IntRange(min=1), help="Samples per task [default: about 4 tasks per worker]."
)
@click.option("--resume", is_flag=True, help="Continue an interrupted build.")
@click.option("--force", is_flag=True, help="Replace an existing output.")
@click.option("--strict", is_flag=True, help="Fail on the first unusable source image.")
def build_dataset_command(
    kind,
    out,
    source,
    preset,
    pipeline_file,
    severity,
    texture_dir,
    seed,
    size,
    reference,
    scan_references,
    pairs_csv,
    split,
    num,
    selection_seed,
    name,
    version,
    workers,
    executor,
    scheduler,
    shard_size,
    resume,
    force,
    strict,
) -> None:
    """Build a versioned dataset: realold, pascal, div2k, folder (any images), sample (bundled photos) or
    scans (old photographs without ground truth, scored by no-reference metrics)."""
    if kind != "sample" and source is None:
        raise PikfixError(f"build-dataset {kind} needs --source DIR")
    if kind != "pascal" and (num is not None or reference == "same-class"):
        raise PikfixError("--num and --reference same-class apply to pascal only")
    split = split or DEFAULT_SPLIT.get(kind)
    pairs = read_pairs_csv(pairs_csv) if pairs_csv else None
    scans = kind == SCAN_KIND or (kind == "realold" and not realold_has_targets(source))
    if scan_references is not None and not scans:
        raise PikfixError("--references applies to scans (and realold without targets); use --reference")
    size = size if size is not None else (0 if scans else 256)
    if scans:
        if preset or pipeline_file or severity or texture_dir:
            raise PikfixError(
                "a scan set holds the scans as they are: --preset, --pipeline, --severity and --texture-dir "
                "do not apply"
            )
        listing, strategy = _scan_listing(kind, source, scan_references, reference, pairs_csv)
        name = name or kind  # "scans", or "realold" for a release without targets
        spec, native_window, kind = None, False, SCAN_KIND
    elif kind == "realold":
        if preset or pipeline_file:
            raise PikfixError("RealOld's damage is real: --preset and --pipeline do not apply")
        listing, spec, strategy = realold_source(source, pairs_csv), None, "pairs" if pairs_csv else "given"
        native_window = False
    else:
        if preset is None and pipeline_file is None:
            preset = "pikfix" if texture_dir is not None else DEFAULT_PRESET[kind]
        pipeline = pipeline_from_options(preset, pipeline_file, severity, texture_dir)
        spec, strategy = pipeline.spec, reference or "self-shifted"
        native_window = pipeline.geometry.crop_after_damage and size > 0
        if strategy == "pairs" and pairs is None:
            raise PikfixError("--reference pairs needs --pairs CSV")
        listing = {
            "pascal": lambda: pascal_source(source, split, num, selection_seed),
            "div2k": lambda: div2k_source(source, split),
            "folder": lambda: folder_source(source),
            "sample": sample_source,
        }[kind]()
    recipe = Recipe(kind, spec, seed, size, strategy, split, num, selection_seed if num else None)
    if scans:
        click.echo(
            f"building a scan set (no ground truth: scored by no-reference metrics; references: {strategy})",
            err=True,
        )
    runner = make_executor(executor, workers, scheduler)
    try:
        result = build_dataset(
            listing,
            recipe,
            out,
            name=name or "-".join(filter(None, [kind, split])),
            version=version,
            source_root=str(source) if source else None,
            pairs=pairs,
            executor=runner,
            shard_size=shard_size,
            resume=resume,
            force=force,
            strict=strict,
            progress=True,  # a bar on a terminal, plain lines in a log (pikfix_bench.progress)
        )
    finally:
        runner.close()
    for entry in result.skipped:
        click.echo(f"skipped: {entry['path']}: {entry['reason']}", err=True)
    if native_window:  # unlike --size's usual resize-and-centre-crop: say so where the user meets it
        click.echo(
            f"note: this pipeline damages each picture at its native resolution and cuts a random {size} x {size} "
            "window from it (the paper's training crops), not the whole picture resized; docs/datasets.md",
            err=True,
        )
    click.echo(
        f"{result.built} samples written to {result.path} (content hash {result.content_hash[:16]}…, "
        f"{len(result.skipped)} skipped)"
    )


def _scan_listing(
    kind: str, source: Path, references: str | None, reference: str | None, pairs_csv: Path | None
) -> tuple[SourceListing, str]:
    """The scans of a scan set and its reference strategy (``given``, ``nearest``, ``pairs`` or ``none``).

    ``--references`` is a folder (``given``), ``nearest`` or ``none``; ``--reference nearest`` and
    ``--pairs CSV`` are taken too. Without any, a ``scans`` set has no references and a RealOld release
    without targets takes its ``real_old_ref/`` where it has one.
    """
    if reference is not None and reference not in ("nearest", "pairs"):
        raise PikfixError(
            f"--reference {reference} does not apply to a scan set; use --references DIR|nearest|none"
        )
    choice = references or reference
    if pairs_csv is not None and choice not in (None, "pairs"):
        raise PikfixError("--pairs and --references are two ways to give references: choose one")
    if pairs_csv is not None or choice == "pairs":
        if pairs_csv is None:
            raise PikfixError("--reference pairs needs --pairs CSV")
        strategy = "pairs"
    elif choice in ("nearest", "none"):
        strategy = choice
    elif choice is not None:
        folder = Path(choice)
        if not folder.is_dir():
            raise PikfixError(f"--references {choice}: not a folder (give a folder, nearest or none)")
        strategy = "given"
    elif kind == "realold" and (source / "real_old_ref").is_dir():
        strategy = "given"
    else:
        strategy = "none"
    if kind == "realold":
        if strategy == "given" and choice is not None:  # --references DIR instead of real_old_ref/
            return with_reference_folder(realold_scans_source(source, None, False), Path(choice)), strategy
        return realold_scans_source(source, pairs_csv, strategy in ("given", "pairs")), strategy
    listing = scans_source(source, Path(choice) if strategy == "given" else None)
    if strategy == "pairs":
        pairs = read_pairs_csv(pairs_csv)
        missing = [item for item in listing.items if item.sample_id not in pairs]
        listing.skipped.extend(skip_entry(item.gt, "no reference in --pairs") for item in missing)
        listing.items[:] = [item for item in listing.items if item.sample_id in pairs]
    return listing, strategy


@click.group("dataset")
def dataset_group() -> None:
    """Inspect, check, compare and export built datasets."""


# Where a reference comes from, when that matters to how a colourization score is read.
_REFERENCE_NOTES = {
    "self-shifted": "each reference is cut from the sample's own ground truth (shifted, zoomed): it holds the "
    "very colours the model must find, so colourization scores are optimistic (colours leak); use "
    "--reference nearest/same-class/pairs for a reference of another picture",
}


@dataset_group.command("info")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--samples", "list_samples", is_flag=True, help="Also list every sample: size, gray/colour, damage."
)
def info_command(path: Path, list_samples: bool) -> None:
    """Summary of a dataset (with --samples, one line per sample)."""
    dataset = Dataset(path)
    manifest = dataset.manifest
    recipe = manifest["recipe"]
    pipeline = recipe["pipeline"]["name"] if recipe["pipeline"] else "none (real damage)"
    full = "full (multiple of 32)" if dataset.ground_truth else "full (as scanned)"
    rows = [
        ("name", f"{manifest['name']} v{manifest['version']} ({manifest['kind']})"),
        ("content hash", manifest["content_hash"]),
        ("samples", f"{len(dataset)} ({len(manifest['skipped'])} source files skipped)"),
        ("degradation", pipeline),
        ("seed / size", f"{recipe['seed']} / {recipe['size'] or full}"),
        ("reference", recipe["reference"]),
        ("built", f"{manifest['created']} with pikfix-bench {manifest['toolkit_version']}"),
    ]
    if not dataset.ground_truth:
        rows.insert(
            4,
            (
                "ground truth",
                "none: a scan set; evaluate scores no-reference metrics (NIQE, PIQE, colourfulness)",
            ),
        )
    if recipe["reference"] in _REFERENCE_NOTES:
        rows.append(("note", _REFERENCE_NOTES[recipe["reference"]]))
    for key, value in rows:
        click.echo(f"{key:<14} {value}")
    if list_samples:
        _list_samples(dataset)


def _list_samples(dataset: Dataset) -> None:
    """One line per sample: id, input size, gray or colour, reference, mask, the damage applied.

    Sizes come from the HDF5 metadata and the rest from the manifest: no pixel is read.
    """
    shapes = dataset.shapes("input")
    entries = {entry["id"]: entry for entry in dataset.manifest["samples"]}
    width = max(map(len, dataset.ids), default=2)
    click.echo(f"\n{'id':<{width}}  {'size':>9}  {'input':<6} {'mask':<4}  reference / damage applied")
    for sample_id in dataset.ids:
        entry, shape = entries[sample_id], shapes[sample_id]
        steps = (entry.get("record") or {}).get("steps", [])
        damage = (
            ", ".join(step["op"] for step in steps if step.get("applied")) or "none (real damage or clean)"
        )
        reference = (entry.get("reference") or {}).get("strategy", "?")
        click.echo(
            f"{sample_id:<{width}}  {f'{shape[1]}x{shape[0]}':>9}  {'gray' if len(shape) == 2 else 'colour':<6} "
            f"{'yes' if 'mask' in entry['arrays'] else 'no':<4}  {reference} / {damage}"
        )


@dataset_group.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
def verify_command(path: Path) -> None:
    """Re-hash every stored array; exit 1 naming each sample that no longer matches."""
    problems = verify_dataset(path)
    for problem in problems:
        click.echo(f"mismatch: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{path}: all {len(Dataset(path))} samples match the manifest")


@dataset_group.command("diff")
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def diff_command(first: Path, second: Path, as_json: bool) -> None:
    """Samples added, removed and changed from FIRST to SECOND, and recipe differences."""
    difference = diff_datasets(first, second)
    if as_json:
        click.echo(json.dumps(difference, indent=2))
        return
    if difference["same_content"]:
        click.echo("same content hash: identical content")
    for key in ("added", "removed", "changed"):
        click.echo(
            f"{key}: {len(difference[key])}"
            + (
                f"  ({', '.join(difference[key][:10])}{', …' if len(difference[key]) > 10 else ''})"
                if difference[key]
                else ""
            )
        )
    for key, (a, b) in difference["recipe"].items():
        click.echo(f"recipe.{key}: {json.dumps(a)} -> {json.dumps(b)}")


@dataset_group.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path))
def export_command(path: Path, out: Path) -> None:
    """Write input/, gt/, ref/ and mask/ PNG folders named by sample id (a scan set: input/, and ref/ when it
    has references)."""
    count = export_dataset(path, out)
    click.echo(f"{count} samples exported to {out}")
