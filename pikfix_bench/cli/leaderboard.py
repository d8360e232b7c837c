"""``pikfix-bench leaderboard`` and ``pikfix-bench compare``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from pikfix_bench.image_io import atomic_write
from pikfix_bench.leaderboard import FORMATS, build_leaderboard, compare_runs, find_runs, load_run, render
from pikfix_bench.leaderboard.table import display
from pikfix_bench.metrics import METRICS, parse_metric_names


@click.command("leaderboard")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(FORMATS))
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file instead of standard output.")
@click.option(
    "--metrics", "metric_names", default="psnr,ssim,lpips", show_default=True, help="Comma-separated metrics."
)
@click.option("--ci", is_flag=True, help="Show the 95% bootstrap interval of every mean.")
@click.option("--reported", is_flag=True, help="Add the paper's published rows, apart and unranked.")
@click.option(
    "--rank-partial",
    is_flag=True,
    help="Rank runs that lack samples of their column too (their cells still show k/n).",
)
def leaderboard_command(paths, fmt, out, metric_names, ci, reported, rank_partial) -> None:
    """Turn run directories (or folders of them) into a Table 1/2-style leaderboard.

    A run that lacks samples of its dataset (failed or missing) is shown with its coverage (k/n) and
    is not ranked unless --rank-partial is given.
    """
    board = build_leaderboard(
        find_runs(list(paths)), list(parse_metric_names(metric_names)), rank_partial=rank_partial
    )
    text = render(board, fmt, with_ci=ci, reported=reported)
    if out:
        atomic_write(out, lambda tmp: tmp.write_text(text))
        click.echo(f"leaderboard written to {out}")
    else:
        click.echo(text, nl=False)


@click.command("compare")
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def compare_command(first: Path, second: Path, as_json: bool) -> None:
    """Paired comparison of SECOND against FIRST: mean difference, 95% CI, p-value, wins/ties/losses."""
    result = compare_runs(load_run(first), load_run(second))
    if as_json:
        click.echo(json.dumps(result, indent=2, default=lambda v: str(v)))
        return
    click.echo(
        f"{second} vs {first} on the {result['images']} images both scored, of {result['samples']} "
        f"(first scored {result['first_scored']}, second {result['second_scored']}; difference = second - first)"
    )
    click.echo(f"{'metric':<14} {'mean diff':>10} {'95% CI':>22} {'p-value':>9} {'win/tie/loss':>14}")
    for metric, values in result["metrics"].items():
        low, high = values["ci95"]
        interval = f"[{display(low, metric)}, {display(high, metric)}]" if not math.isnan(low) else "–"
        click.echo(
            f"{metric + ' ' + METRICS[metric].arrow:<14} {display(values['mean_difference'], metric):>10} "
            f"{interval:>22} {values['p_value']:>9.3g} "
            f"{values['wins']:>4}/{values['ties']}/{values['losses']}"
        )


@click.command("figure")
@click.option("--dataset", "dataset_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--runs",
    "run_paths",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Run directories made with --save-outputs (repeatable, or a folder of runs).",
)
@click.option("--ids", help="Comma-separated sample ids [default: the ones where models disagree most].")
@click.option(
    "--count",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples when --ids is not given.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path))
def figure_command(dataset_path: Path, run_paths, ids: str | None, count: int, out: Path) -> None:
    """The qualitative grid: input, reference, each model's output, ground truth."""
    from pikfix_bench.datasets import open_dataset
    from pikfix_bench.image_io import write_png
    from pikfix_bench.leaderboard.figure import draw_figure, pick_informative
    from pikfix_bench.leaderboard.report import require_same_dataset

    dataset = open_dataset(dataset_path)
    runs = find_runs(list(run_paths))
    require_same_dataset(runs, dataset)
    chosen = [i.strip() for i in ids.split(",")] if ids else pick_informative(runs, count)
    write_png(out, draw_figure(dataset, runs, chosen))
    click.echo(f"figure of {len(chosen)} samples x {len(runs)} models written to {out}")


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--dataset", "dataset_path", type=click.Path(path_type=Path), help="Dataset, for the qualitative grid."
)
@click.option("--metrics", "metric_names", default="psnr,ssim,lpips", show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path))
def report_command(paths, dataset_path: Path | None, metric_names: str, out: Path) -> None:
    """One self-contained HTML page: leaderboard, distributions, qualitative grid, provenance."""
    from pikfix_bench.datasets import open_dataset
    from pikfix_bench.leaderboard.report import build_report

    dataset = open_dataset(dataset_path) if dataset_path else None
    page = build_report(find_runs(list(paths)), dataset, list(parse_metric_names(metric_names)))
    atomic_write(out, lambda tmp: tmp.write_text(page))
    click.echo(f"report written to {out}")
