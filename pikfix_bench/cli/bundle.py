"""``pikfix-bench bundle`` and ``pikfix-bench rescore``: submissions anyone can re-score."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pikfix_bench.bundle import write_bundle


@click.command("bundle")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The zip file to write.")
def bundle_command(run: Path, out: Path) -> None:
    """Pack a finished run saved with --save-outputs into one zip file that anyone can re-score."""
    index = write_bundle(run, out)
    outputs = sum(name.startswith("outputs/") for name in index["files"])
    click.echo(f"{run} -> {out}: {len(index['files'])} files ({outputs} outputs), dataset "
               f"{index['dataset']['name']} [{index['dataset']['content_hash'][:8]}]")  # fmt: skip


@click.command("rescore")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, type=click.Path(path_type=Path), help="The dataset it was made on.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Run directory to write [default: runs/DATASET/BUNDLE-rescored].",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def rescore_command(bundle: Path, dataset: Path, out: Path | None, device: str) -> None:
    """Score a bundle's outputs again and compare with its numbers; exit 1 naming every value that differs.

    Writes a run directory whose run.json records rescored_from (the bundle's sha256) and the agreement;
    the leaderboard marks such runs as verified when they agree.
    """
    from pikfix_bench.rescore import rescore  # imports torch: only when re-scoring

    out = out or Path("runs") / dataset.name / f"{bundle.stem}-rescored"
    result = rescore(bundle, dataset, out, device=device, progress=sys.stderr.isatty())
    if result.agrees:
        click.echo(f"{bundle}: every value agrees (re-derived into {result.path})")
        return
    click.echo(
        f"{bundle}: {len(result.differences)} values differ (re-derived into {result.path}):", err=True
    )
    for difference in result.differences[:50]:
        if difference.get("metric"):
            click.echo(
                f"  {difference['sample_id']} {difference['metric']}: bundle {difference['bundle']!r}, "
                f"re-derived {difference['rescored']!r} (by {difference['difference']:+.3g})",
                err=True,
            )
        else:
            click.echo(f"  {difference['sample_id'] or ''} {difference['problem']}".rstrip(), err=True)
    sys.exit(1)
