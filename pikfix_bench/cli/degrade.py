"""``pikfix-bench degrade`` and ``pikfix-bench degradations list|gallery|page``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from pikfix_bench.datasets.sources import DEGRADE_MASK_SUFFIX
from pikfix_bench.degradations import (
    OPERATIONS,
    PRESETS,
    SEVERITIES,
    Pipeline,
    build_pipeline,
    degrade,
)
from pikfix_bench.degradations.gallery import PAGE_ROWS, draw_gallery, draw_page
from pikfix_bench.errors import PikfixError
from pikfix_bench.image_io import image_files, printable, read_image, write_png
from pikfix_bench.json_io import write_json
from pikfix_bench.safe_paths import name_problem


def collect_inputs(inputs: tuple[Path, ...]) -> tuple[list[tuple[str, Path]], list[str]]:
    """The images to degrade, and the files passed over.

    Parameters
    ----------
    inputs : tuple of Path
        Image files and folders (searched recursively).

    Returns
    -------
    samples : list of (str, Path)
        ``(sample_id, path)`` in id order; ids are relative paths without suffix.
    passed_over : list of str
        ``"PATH: reason"`` (printable) for each file with an image suffix that cannot be degraded: a
        broken link, or a name that cannot name the output files (not UTF-8, a control character, ...).
    """
    found: dict[str, Path] = {}
    passed_over: list[str] = []
    for root in inputs:
        if root.is_file():
            candidates = [(root.stem, root)]
        elif root.is_dir():
            files, unreadable = image_files(sorted(root.rglob("*")))
            passed_over += [f"{printable(str(path))}: {reason}" for path, reason in unreadable]
            candidates = [(p.relative_to(root).with_suffix("").as_posix(), p) for p in files]
        else:
            raise PikfixError(f"{printable(str(root))}: no such file or folder")
        for sample_id, path in candidates:
            if problem := name_problem(sample_id):
                passed_over.append(
                    f"{printable(str(path))}: cannot name its output files: '{printable(sample_id)}' {problem}"
                )
                continue
            if sample_id in found:
                raise PikfixError(
                    f"{printable(str(path))} and {printable(str(found[sample_id]))} would both be written as "
                    f"{sample_id}.png"
                )
            found[sample_id] = path
    if not found and not passed_over:
        raise PikfixError("no images found in " + ", ".join(printable(str(root)) for root in inputs))
    return sorted(found.items()), passed_over


def pipeline_from_options(
    preset: str | None,
    pipeline_file: Path | None,
    severity: int | None,
    texture_dir: Path | None,
    operation: str | None = None,
) -> Pipeline:
    """The pipeline chosen by ``--preset``, ``--pipeline`` or ``--op`` (exactly one)."""
    if sum(choice is not None for choice in (preset, pipeline_file, operation)) != 1:
        raise PikfixError("give exactly one of --preset NAME, --pipeline FILE or --op NAME")
    if operation is not None:
        if severity is None or texture_dir is not None:
            raise PikfixError("--op takes --severity 1..5 (and no --texture-dir)")
        return Pipeline(
            {"name": f"{operation}-s{severity}", "steps": [{"op": operation, "severity": severity}]}
        )
    if pipeline_file is not None:
        if severity is not None or texture_dir is not None:
            raise PikfixError("--severity and --texture-dir apply to presets, not to --pipeline files")
        return Pipeline.from_yaml(pipeline_file)
    return build_pipeline(preset, severity=severity, texture_dir=texture_dir)


@click.command("degrade")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--preset", type=click.Choice(list(PRESETS)), help="A shipped pipeline.")
@click.option("--pipeline", "pipeline_file", type=click.Path(path_type=Path), help="A pipeline YAML file.")
@click.option("--op", "operation", help="One operation at --severity k (see `degradations list`).")
@click.option(
    "--severity",
    type=click.IntRange(1, 5),
    help="Severity: of --op, or of presets that have them (oldphoto).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Global seed.")
@click.option(
    "--texture-dir", type=click.Path(path_type=Path), help="Folder in the paper's texture2/ layout."
)
def degrade_command(inputs, out, preset, pipeline_file, operation, severity, seed, texture_dir) -> None:
    """Degrade image files or folders reproducibly.

    Writes NAME.png (the damaged image), NAME.mask.png (the soft alpha, 0..255, of the structural damage,
    when the pipeline draws any) and NAME.json (the record that re-applies the damage byte for byte). The damage of an image
    depends only on --seed and its name (relative path without suffix), not on the other inputs.
    """
    pipeline = pipeline_from_options(preset, pipeline_file, severity, texture_dir, operation)
    samples, passed_over = collect_inputs(inputs)
    failures = list(passed_over)
    for sample_id, path in tqdm(
        samples, desc="degrading", unit="img", file=sys.stderr, disable=len(samples) < 2
    ):
        try:
            result = degrade(read_image(path), pipeline, seed=seed, sample_id=sample_id)
        except PikfixError as exc:
            failures.append(printable(str(exc) if str(path) in str(exc) else f"{path}: {exc}"))
            continue
        except MemoryError:  # one image too large for the memory left costs that image only
            failures.append(f"{printable(str(path))}: not enough memory to degrade it")
            continue
        write_png(out / f"{sample_id}.png", result.image)
        if result.mask is not None:
            write_png(out / f"{sample_id}{DEGRADE_MASK_SUFFIX}", result.mask)
        write_json(out / f"{sample_id}.json", {"source": str(path), **result.record})
    for message in failures:
        click.echo(f"error: {message}", err=True)
    total = len(samples) + len(passed_over)
    click.echo(f"{total - len(failures)} of {total} images degraded into {out}", err=True)
    if failures:
        sys.exit(1)


@click.group("degradations")
def degradations_group() -> None:
    """List the degradation operations and presets, or draw them."""


@degradations_group.command("list")
def list_command() -> None:
    """Operations (with their parameters and ranges) and presets."""
    click.echo("OPERATIONS")
    for name, cls in OPERATIONS.items():
        flags = (" [mask]" if cls.structural else "") + (" [severity 1..5]" if name in SEVERITIES else "")
        click.echo(f"  {name:<16} {cls.description}{flags}")
        for param in cls.params:
            click.echo(
                f"      {param.name:<13} {param.describe_range():<34} default {json.dumps(param.default)}"
                + (f"  {param.doc}" if param.doc else "")
            )
    click.echo("\nPRESETS")
    for preset in PRESETS.values():
        click.echo(f"  {preset.name:<16} {preset.description}\n  {'':<16} source: {preset.source}")
    click.echo("\nSEVERITIES (--op NAME --severity k, or {op: NAME, severity: k} in a pipeline)")
    for name, (source, rows) in SEVERITIES.items():
        click.echo(f"  {name:<16} {source}")
        for level, row in enumerate(rows, start=1):
            click.echo(f"      {level}  " + ", ".join(f"{key}={value}" for key, value in row.items()))


@degradations_group.command("gallery")
@click.option("--image", "image_path", required=True, type=click.Path(path_type=Path), help="Source picture.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="PNG to write.")
@click.option("--seed", default=0, show_default=True, type=int)
def gallery_command(image_path: Path, out: Path, seed: int) -> None:
    """Draw every operation and the oldphoto severities on one picture, in a labelled grid."""
    write_png(out, draw_gallery(read_image(image_path), seed=seed))
    click.echo(f"gallery written to {out}")


@degradations_group.command("page")
@click.option("--image", "image_path", required=True, type=click.Path(path_type=Path), help="Source picture.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="PNG to write.")
@click.option(
    "--preset",
    "presets",
    multiple=True,
    metavar="NAME[:SEVERITY]",
    help="A row (repeatable) [default: " + ", ".join(f"{p}:{s}" if s else p for p, s in PAGE_ROWS) + "].",
)
@click.option("--size", default=768, show_default=True, type=click.IntRange(64, 4096), help="Picture side.")
@click.option("--seed", default=0, show_default=True, type=int)
def page_command(image_path: Path, out: Path, presets: tuple[str, ...], size: int, seed: int) -> None:
    """Draw presets at full size, each beside the clean picture and its mask, to judge the damage by eye."""
    rows = tuple(_page_row(value) for value in presets) or PAGE_ROWS
    write_png(out, draw_page(read_image(image_path), rows, seed=seed, size=size))
    click.echo(f"page written to {out}")


def _page_row(value: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:SEVERITY`` as a page row."""
    name, _, severity = value.partition(":")
    if not severity:
        return name, None
    if not severity.isdigit():
        raise PikfixError(f"--preset {value}: the severity after ':' must be a number 1..5")
    return name, int(severity)
