"""``pikfix-bench restore``: run a model on a folder of photographs, outputs under the inputs' names."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pikfix_bench.cli.evaluate import parse_model_options


@click.command("restore")
@click.option(
    "--model", "model_name", required=True, help="Model name (see `pikfix-bench models list`); a+b chains."
)
@click.option(
    "--model-opt", "model_opts", multiple=True, metavar="KEY=VALUE", help="Model option (repeatable)."
)
@click.option(
    "--input",
    "input_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of photographs (recursive; gray or colour, any size).",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Output folder: OUT/<name>.png per input."
)
@click.option(
    "--references",
    type=click.Path(path_type=Path),
    help="Folder of references named as the inputs (needed by models that read one).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (as evaluate).")
@click.option(
    "--batch-size", type=click.IntRange(min=1), help="Images per model call [default: the model's, else 8]."
)
def restore_command(model_name, model_opts, input_dir, out, references, device, batch_size) -> None:
    """Restore (or colourize) every image of a folder with a model; outputs keep the inputs' names.

    IN/a/b.jpg becomes OUT/a/b.png. Outputs already there (and readable) are kept, so an interrupted
    command continues where it stopped. An image that cannot be read or restored is named on standard
    error and the others are restored; the exit status is then 1.
    """
    from pikfix_bench.restore import restore_folder

    result = restore_folder(
        model_name,
        input_dir,
        out,
        model_options=parse_model_options(model_opts),
        references=references,
        device=device,
        batch_size=batch_size,
        progress=True,  # a bar on a terminal, plain lines in a log (pikfix_bench.progress)
    )
    for name, reason in sorted(result.failed.items()):
        click.echo(f"failed: {name}: {reason}", err=True)
    kept = f", {len(result.skipped)} already there" if result.skipped else ""
    click.echo(
        f"{model_name}: {len(result.written)} restored into {out}{kept}, {len(result.failed)} failed"
        + (f" (model on {result.device})" if result.written else "")
    )
    if result.failed:
        sys.exit(1)
