"""``pikfix-bench evaluate`` and ``pikfix-bench models list``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from pikfix_bench.baselines import list_models
from pikfix_bench.baselines.base import PLUGIN_ERRORS
from pikfix_bench.cli.options import executor_options
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation import evaluate
from pikfix_bench.evaluation.alignment import ALIGN_MODES
from pikfix_bench.evaluation.rundir import RunDirectory
from pikfix_bench.execution import make_executor
from pikfix_bench.metrics import METRICS, PROFILES


def parse_model_options(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` strings to a dict."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PikfixError(f"--model-opt {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


@click.command("evaluate")
@click.option(
    "--model", "model_name", required=True, help="Model name (see `pikfix-bench models list`); a+b chains."
)
@click.option(
    "--model-opt", "model_opts", multiple=True, metavar="KEY=VALUE", help="Model option (repeatable)."
)
@click.option(
    "--dataset", required=True, type=click.Path(path_type=Path), help="A dataset built by build-dataset."
)
@click.option("--profile", default="pikfix", show_default=True, type=click.Choice(list(PROFILES)))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), help="Samples per model call [default: the model's, else 8]."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run directory [default: runs/DATASET/LABEL-PROFILE, or MODEL[-KEY=VALUE…]-PROFILE].",
)
@click.option(
    "--label",
    help="The run's name in leaderboard, compare, figure and report (an ablation, a checkpoint) "
    "[default: the model, with the options that differ from their defaults].",
)
@click.option(
    "--masked",
    is_flag=True,
    help="Also score PSNR, SSIM and LPIPS inside the damaged region of each sample's stored mask and outside "
    "it (psnr_damaged, …, lpips_undamaged; nan without a mask; docs/metrics.md).",
)
@click.option(
    "--metrics",
    "metric_names",
    help="Comma-separated metrics to score [default: psnr,ssim,lpips,ciede2000,colorfulness; on a scan set "
    "(no ground truth) niqe,piqe,colorfulness]. No-reference niqe, piqe and brisque may be added on any set "
    "(docs/metrics.md).",
)
@click.option("--save-outputs", is_flag=True, help="Write outputs/<sample_id>.png.")
@click.option("--resume", is_flag=True, help="Score only what an earlier run of the same setup left missing.")
@click.option("--strict", is_flag=True, help="Stop at the first failing sample.")
@click.option(
    "--allow-failures",
    is_flag=True,
    help="Exit 0 when some (not all) samples failed; without it any failure exits 1.",
)
@click.option(
    "--align",
    default="error",
    show_default=True,
    type=click.Choice(ALIGN_MODES),
    help="Outputs of another size than the ground truth: refuse, resize, or crop top-left.",
)
@executor_options("this process")
def evaluate_command(
    model_name,
    model_opts,
    dataset,
    profile,
    device,
    batch_size,
    out,
    label,
    masked,
    metric_names,
    save_outputs,
    resume,
    strict,
    allow_failures,
    align,
    executor,
    scheduler,
) -> None:
    """Run a model on a dataset and score it; writes per_image.csv, summary.json, run.json, errors.csv.

    Exits 1 when samples failed (the summary and errors.csv are still written) unless
    --allow-failures is given and at least one sample was scored; exits 2 for bad input.
    """
    options = parse_model_options(model_opts)
    if out is None:
        out = Path("runs") / dataset.name / f"{label or _setup_folder(model_name, options)}-{profile}"
    if executor == "local" and scheduler:
        raise PikfixError("--scheduler applies to --executor dask")
    cluster = make_executor("dask", scheduler=scheduler or "local:2") if executor == "dask" else None
    try:
        result = evaluate(
            model_name,
            dataset,
            out,
            model_options=options,
            profile=profile,
            device=device,
            batch_size=batch_size,
            save_outputs=save_outputs,
            resume=resume,
            strict=strict,
            align=align,
            progress=True,  # a bar on a terminal, plain lines in a log (pikfix_bench.progress)
            executor=cluster,
            label=label,
            masked=masked,
            metrics=metric_names,
        )
    finally:
        if cluster is not None:
            cluster.close()
    for problem in result.dropped:
        click.echo(f"  resume: scored again: {problem}", err=True)
    click.echo(f"{model_name} on {dataset}: {result.scored} scored, {result.failed} failed -> {result.path}")
    for name, values in result.summary["metrics"].items():
        ci = values["ci95"]
        click.echo(
            f"  {name:<13}{METRICS[name].arrow or ' '} {values['mean']:.4f}  (95% CI {ci[0]:.4f}..{ci[1]:.4f})"
            if isinstance(values["mean"], float) and isinstance(ci[0], float)
            else f"  {name:<13} {values['mean']}"
        )
    if result.failed:
        click.echo(f"  {result.failed} samples failed: see {result.path / 'errors.csv'}", err=True)
        for message, count in _common_errors(result.path):
            click.echo(f"    {count} x {message}", err=True)
        if not result.scored or not allow_failures:
            reason = (
                "no sample was scored"
                if not result.scored
                else "pass --allow-failures to accept a partial run"
            )
            click.echo(
                f"Error: {result.failed} of {result.summary['samples']} samples failed; {reason}", err=True
            )
            sys.exit(1)


def _setup_folder(model_name: str, options: dict[str, str]) -> str:
    """A run folder name for a setup: the model and the options given (``welsh-samples=5``), so that variants
    run without --out land in different folders; a path option by its last part, other characters that
    are awkward in a folder name as ``_``."""
    parts = [model_name]
    for key, value in sorted(options.items()):
        value = value.rstrip("/").rsplit("/", 1)[-1] if "/" in value and " " not in value else value
        parts.append(re.sub(r"[^A-Za-z0-9._=+-]", "_", f"{key}={value}")[:40])
    return "-".join(parts)


@click.group("models")
def models_group() -> None:
    """The registered models."""


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """Every registered model with its task, input and options."""
    rows, descriptors = [], {}
    for name, cls in list_models().items():
        descriptors[name] = cls.descriptor
        d = cls.descriptor
        rows.append(
            {
                "name": name,
                "task": d.task,
                "reference": d.uses_reference,
                "input": d.input_mode,
                "weights": d.requires_weights,
                "devices": list(d.devices),
                "options": {key: option.help_text for key, option in d.options.items()},
                "description": d.description,
            }
        )
    broken = [{"name": name, "error": reason} for name, reason in sorted(PLUGIN_ERRORS.items())]
    if as_json:
        click.echo(json.dumps(rows + broken, indent=2))
        return
    click.echo(f"{'name':<20} {'task':<26} {'ref':<4} {'in':<4} {'weights':<8} description")
    for row in rows:
        click.echo(
            f"{row['name']:<20} {row['task']:<26} {'yes' if row['reference'] else 'no':<4} {row['input']:<4} "
            f"{'needed' if row['weights'] else '-':<8} {row['description']}"
        )
        for key, option in descriptors[row["name"]].options.items():
            click.echo(f"{'':<22}--model-opt {key}={option.metavar}  {option.help_text}")
    for row in broken:
        click.echo(f"{row['name']:<20} {'(not available)':<26} {row['error']}")


def _common_errors(run: Path, shown: int = 3) -> list[tuple[str, int]]:
    """The most frequent failure messages of a run (sample ids left out, so alike failures group)."""
    errors = RunDirectory(run).errors()
    generic = errors["message"].astype(str).str.replace(r"^[^:]*: ", "", regex=True)
    return list(generic.value_counts().head(shown).items())
