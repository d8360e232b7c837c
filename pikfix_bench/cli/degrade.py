"""``pikfix-bench degrade`` and ``pikfix-bench degradations list|gallery|page``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

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
from pikfix_bench.image_io import is_image_file, read_image, write_png
from pikfix_bench.json_io import write_json


def collect_inputs(inputs: tuple[Path, ...]) -> list[tuple[str, Path]]:
    """``(sample_id, path)`` for image files and folders (recursive); ids are relative paths without suffix."""
    found: dict[str, Path] = {}
    for root in inputs:
        if root.is_file():
            candidates = [(root.stem, root)]
        elif root.is_dir():
            candidates = [
                (p.relative_to(root).with_suffix("").as_posix(), p)
                for p in sorted(root.rglob("*"))
                if p.is_file() and is_image_file(p)
            ]
        else:
            raise PikfixError(f"{root}: no such file or folder")
        for sample_id, path in candidates:
            if sample_id in found:
                raise PikfixError(f"{path} and {found[sample_id]} would both be written as {sample_id}.png")
            found[sample_id] = path
    if not found:
        raise PikfixError("no images found in " + ", ".join(map(str, inputs)))
    return sorted(found.items())


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
    samples = collect_inputs(inputs)
    failures = []
    for sample_id, path in tqdm(
        samples, desc="degrading", unit="img", file=sys.stderr, disable=len(samples) < 2
    ):
        try:
            result = degrade(read_image(path), pipeline, seed=seed, sample_id=sample_id)
        except PikfixError as exc:
            failures.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
            continue
        write_png(out / f"{sample_id}.png", result.image)
        if result.mask is not None:
            write_png(out / f"{sample_id}.mask.png", result.mask)
        write_json(out / f"{sample_id}.json", {"source": str(path), **result.record})
    for message in failures:
        click.echo(f"error: {message}", err=True)
    click.echo(f"{len(samples) - len(failures)} of {len(samples)} images degraded into {out}", err=True)
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
