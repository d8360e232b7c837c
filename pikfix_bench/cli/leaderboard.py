"""``pikfix-bench leaderboard``, ``compare``, ``figure`` and ``report``.

Runs that cannot be read are left out with a ``warning:`` line each on standard error (and a note in
the table); an ``--out`` that cannot become a file is refused before any work.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.statistics import BOOTSTRAP_RESAMPLES
from pikfix_bench.image_io import atomic_write
from pikfix_bench.leaderboard import (
    FORMATS,
    Run,
    build_leaderboard,
    compare_runs,
    find_runs,
    load_run,
    render,
)
from pikfix_bench.leaderboard.table import ALPHA as SIGNIFICANCE
from pikfix_bench.leaderboard.table import display
from pikfix_bench.metrics import METRICS, parse_metric_names


def _check_output_file(out: Path) -> None:
    """Refuse an ``--out`` that cannot become a regular file, before any work (so nothing is left behind).

    An existing directory, device or pipe is refused too: the file is written beside it and renamed
    onto it, which would replace ``/dev/null`` rather than write to it.
    """
    if out.exists() and not out.is_file():
        kind = "a directory" if out.is_dir() else "not a regular file"
        raise PikfixError(f"--out {out}: {kind}; give the path of a file to write")
    ancestor = next((folder for folder in out.parents if folder.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        raise PikfixError(f"--out {out}: {ancestor} is not a directory")


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """Turn a failure to write ``out`` (permissions, a full disk) into one :class:`PikfixError`."""
    try:
        yield
    except OSError as exc:
        raise PikfixError(f"--out {out}: cannot be written ({exc.strerror or exc})") from None


def _write_text(out: Path, text: str) -> None:
    with _writing(out):
        atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _found_runs(paths: Iterable[Path], datasets: list[Dataset]) -> tuple[list[Run], list[str]]:
    """The runs that can be read, and a line per run left out (each also shown as a warning)."""
    left_out: list[str] = []
    runs = find_runs(list(paths), datasets, left_out)
    for problem in left_out:
        click.echo(f"warning: {problem}", err=True)
    return runs, left_out


STUDY_HELP = (
    "A preference study of these runs (`study create`): adds a Preference column, the Bradley-Terry "
    "strength with its 95% interval, to the rows its labels name."
)


@click.command("leaderboard")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(FORMATS))
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file instead of standard output.")
@click.option(
    "--metrics",
    "metric_names",
    help="Comma-separated metrics [default: psnr,ssim,lpips; niqe,piqe,colorfulness for runs on scan sets].",
)
@click.option("--ci", is_flag=True, help="Show the 95% bootstrap interval of every mean.")
@click.option("--reported", is_flag=True, help="Add the paper's published rows, apart and unranked.")
@click.option(
    "--rank-partial",
    is_flag=True,
    help="Rank runs that lack samples of their column too (their cells still show k/n).",
)
@click.option(
    "--dataset",
    "dataset_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A dataset runs were scored on (repeatable; matched by content hash): rows of sample ids it "
    "lacks are left out. Default: the dataset each run names, where it still is.",
)
@click.option("--study", "study_path", type=click.Path(path_type=Path), help=STUDY_HELP)
@click.option(
    "--verified-only",
    is_flag=True,
    help="Only runs whose numbers `rescore` re-derived from their bundle and found equal (docs/leaderboard.md).",
)
def leaderboard_command(
    paths, fmt, out, metric_names, ci, reported, rank_partial, dataset_paths, study_path, verified_only
) -> None:
    """Turn run directories (or folders of them) into a Table 1/2-style leaderboard.

    A run that lacks samples of its dataset (failed or missing) is shown with its coverage (k/n) and
    is not ranked unless --rank-partial is given. A run that cannot be read is left out with a warning.
    """
    if out:
        _check_output_file(out)
    metrics = list(parse_metric_names(metric_names)) if metric_names else None
    runs, left_out = _found_runs(paths, [Dataset(path) for path in dataset_paths])
    if verified_only:
        runs = [run for run in runs if run.verified]
        if not runs:
            raise PikfixError("no verified runs: `pikfix-bench rescore` a bundle to verify its numbers")
    board = build_leaderboard(runs, metrics, rank_partial=rank_partial, left_out=left_out)
    if study_path:
        from pikfix_bench.study.analysis import analyze_study
        from pikfix_bench.study.tables import add_preference

        add_preference(board, analyze_study(study_path))
    text = render(board, fmt, with_ci=ci, reported=reported)
    if out:
        _write_text(out, text)
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
    click.echo(f"first:  {result['first_name']}  ({first})")
    click.echo(f"second: {result['second_name']}  ({second})")
    click.echo(
        f"difference = second - first, on the {result['images']} images both scored, of {result['samples']} "
        f"(first scored {result['first_scored']}, second {result['second_scored']}); win: second is better"
    )
    click.echo(
        f"{'metric':<14} {'mean diff':>10} {'95% CI':>22} {'p-value':>9} {'win/tie/loss':>14}"
    )  # or higher/equal/lower, said on the row
    disagree = []
    for metric, values in result["metrics"].items():
        low, high = values["ci95"]
        interval = f"[{display(low, metric)}, {display(high, metric)}]" if not math.isnan(low) else "–"
        if METRICS[metric].ranked:
            counts = f"{values['wins']:>4}/{values['ties']}/{values['losses']}"
        else:  # no right direction: counted, never called a win
            counts = f"{values['higher']:>4}/{values['equal']}/{values['lower']} higher/equal/lower"
        click.echo(
            f"{METRICS[metric].titled(metric):<14} {display(values['mean_difference'], metric):>10} "
            f"{interval:>22} {values['p_value']:>9.3g} {counts}"
        )
        if (low > 0 or high < 0) != (values["p_value"] < SIGNIFICANCE):
            disagree.append(metric)
    if disagree:
        click.echo(
            f"note: for {', '.join(disagree)} the 95% interval and the p-value disagree about 0. The interval is "
            f"a percentile bootstrap of the mean difference ({BOOTSTRAP_RESAMPLES} resamples of the images); the p-value is the Wilcoxon "
            "signed-rank test (a permutation test of the signs of the ranked differences). A few large "
            "differences move the mean but count as single ranks, and with few images both are rough: read "
            "the wins and losses, and score more images before calling a difference real."
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

    _check_output_file(out)
    dataset = open_dataset(dataset_path)
    runs, _ = _found_runs(run_paths, [dataset])
    require_same_dataset(runs, dataset)
    chosen = [i.strip() for i in ids.split(",")] if ids else pick_informative(runs, count)
    figure = draw_figure(dataset, runs, chosen)
    with _writing(out):
        write_png(out, figure)
    click.echo(f"figure of {len(chosen)} samples x {len(runs)} models written to {out}")


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--dataset", "dataset_path", type=click.Path(path_type=Path), help="Dataset, for the qualitative grid."
)
@click.option(
    "--metrics",
    "metric_names",
    help="Comma-separated metrics [default: psnr,ssim,lpips; niqe,piqe,colorfulness for runs on scan sets].",
)
@click.option("--out", required=True, type=click.Path(path_type=Path))
@click.option("--study", "study_path", type=click.Path(path_type=Path), help=STUDY_HELP)
def report_command(paths, dataset_path: Path | None, metric_names: str, out: Path, study_path) -> None:
    """One self-contained HTML page: leaderboard, distributions, qualitative grid, provenance."""
    from pikfix_bench.datasets import open_dataset
    from pikfix_bench.leaderboard.report import build_report

    _check_output_file(out)
    dataset = open_dataset(dataset_path) if dataset_path else None
    metrics = list(parse_metric_names(metric_names)) if metric_names else None
    runs, left_out = _found_runs(paths, [dataset] if dataset else [])
    study = None
    if study_path:
        from pikfix_bench.study.analysis import analyze_study

        study = analyze_study(study_path)
    page = build_report(runs, dataset, metrics, left_out=left_out, study=study)
    _write_text(out, page)
    click.echo(f"report written to {out}")
