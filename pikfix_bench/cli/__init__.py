"""The ``pikfix-bench`` command line."""

from __future__ import annotations

import click

from pikfix_bench import __version__
from pikfix_bench.cli.dataset import build_dataset_command, dataset_group
from pikfix_bench.cli.degrade import degradations_group, degrade_command
from pikfix_bench.cli.evaluate import evaluate_command, models_group
from pikfix_bench.cli.leaderboard import compare_command, figure_command, leaderboard_command, report_command
from pikfix_bench.cli.score import score
from pikfix_bench.cli.train import train_command
from pikfix_bench.errors import PikfixError


class PikfixGroup(click.Group):
    """A click group that reports :class:`PikfixError` as a one-line message (exit status 2)."""

    def invoke(self, ctx: click.Context):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except PikfixError as exc:
            raise click.UsageError(str(exc)) from None


@click.group(
    cls=PikfixGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="pikfix-bench")
def main() -> None:
    """Benchmarks for old-photo restoration and reference-based colourization.

    \b
    Typical flow:
      pikfix-bench build-dataset sample --out data/sample           a versioned test set
      pikfix-bench evaluate --model welsh --dataset data/sample     run and score a model
      pikfix-bench leaderboard runs/ --format md                 Table 1/2-style leaderboard
      pikfix-bench degrade PHOTOS --preset pikfix --out DAMAGED   synthetic old-photo damage
      pikfix-bench score --pred OUT_DIR --gt GT_DIR                score images you already have
    """


main.add_command(score)
main.add_command(degrade_command)
main.add_command(degradations_group)
main.add_command(build_dataset_command)
main.add_command(dataset_group)
main.add_command(evaluate_command)
main.add_command(models_group)
main.add_command(leaderboard_command)
main.add_command(compare_command)
main.add_command(figure_command)
main.add_command(report_command)
main.add_command(train_command)
