"""``pikfix-bench study create|serve|import|analyze``: a pairwise preference study of saved outputs.

See ``docs/study.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from pikfix_bench.errors import PikfixError


def _read(study_path: Path):
    """The study and its database."""
    from pikfix_bench.study.design import read_study
    from pikfix_bench.study.storage import ChoiceStore

    study = read_study(study_path)
    return study, ChoiceStore(study)


@click.group("study")
def study_group() -> None:
    """A pairwise preference study of runs' outputs, in the browser, analysed with Bradley–Terry."""


@study_group.command("create")
@click.argument("runs_dir", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--dataset", "dataset_path", required=True, type=click.Path(path_type=Path), help="The runs' dataset."
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="The study folder (new or empty)."
)
@click.option(
    "--trials-per-rater",
    type=click.IntRange(min=1),
    help="Comparisons of runs each rater makes [default: every pair on every sample, at most 40].",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the design.")
@click.option(
    "--gold",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Gold trials per rater: the ground truth against a heavily degraded copy, to screen raters.",
)
@click.option(
    "--tie/--no-tie", default=True, show_default=True, help="Whether raters may answer 'no preference'."
)
def create_command(runs_dir, dataset_path, out, trials_per_rater, seed, gold, tie) -> None:
    """Design a study of the runs in RUNS_DIR (saved with --save-outputs, on --dataset) into --out."""
    from pikfix_bench.study.design import create_study

    study = create_study(
        runs_dir, dataset_path, out, trials_per_rater=trials_per_rater, seed=seed, gold=gold, allow_tie=tie
    )
    design = study.record["design"]
    click.echo(
        f"study {study.study_id[:12]} written to {out}: {len(study.labels)} runs ({', '.join(study.labels)}), "
        f"{len(study.samples)} samples, {len(design['blocks'])} blocks of {design['trials_per_rater']} "
        f"trials + {design['gold_per_rater']} gold"
    )


@study_group.command("serve")
@click.argument("study_path", metavar="STUDY", type=click.Path(path_type=Path))
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0: any free port."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def serve_command(study_path: Path, port: int, host: str) -> None:
    """Serve the rating page; every choice is committed to STUDY/choices.sqlite as it is made."""
    from pikfix_bench.study.server import make_server

    study, store = _read(study_path)
    try:
        server = make_server(study, store, host, port)
    except OSError as exc:
        raise PikfixError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"study {study.study_id[:12]}: serving on http://{bound_host}:{bound_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@study_group.command("import")
@click.argument("study_path", metavar="STUDY", type=click.Path(path_type=Path))
@click.option(
    "--choices",
    "choices_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV with columns rater, sample_id, left, right, choice (left|right|tie).",
)
def import_command(study_path: Path, choices_path: Path) -> None:
    """Add choices collected elsewhere; a file with any bad row is refused whole, naming each bad line."""
    _, store = _read(study_path)
    added = store.import_csv(choices_path)
    click.echo(f"{added} choices imported into {store.path}")


@study_group.command("analyze")
@click.argument("study_path", metavar="STUDY", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(["md", "csv", "json"]))
@click.option(
    "--bootstrap",
    default=1000,
    show_default=True,
    type=click.IntRange(min=10),
    help="Replicates over raters.",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the bootstrap."
)
@click.option(
    "--min-gold-accuracy",
    default=0.75,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Raters below this share of gold trials right are left out.",
)
def analyze_command(study_path: Path, fmt: str, bootstrap: int, seed: int, min_gold_accuracy: float) -> None:
    """Bradley–Terry (Davidson) strengths with 95% intervals, win rates, agreement and gold screening."""
    from pikfix_bench.study.analysis import analyze
    from pikfix_bench.study.tables import analysis_csv, analysis_markdown

    study, store = _read(study_path)
    result = analyze(
        study, store.choices(), replicates=bootstrap, seed=seed, min_gold_accuracy=min_gold_accuracy
    )
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        click.echo(analysis_csv(result) if fmt == "csv" else analysis_markdown(result), nl=False)
