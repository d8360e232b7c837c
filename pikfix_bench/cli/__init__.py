"""The ``pikfix-bench`` command line.

Subcommands are imported when they are used, so that ``build-dataset`` or ``degrade`` do not pay for
importing torch and ``--version`` answers at once.
"""

from __future__ import annotations

import importlib
import warnings

import click

from pikfix_bench import __version__
from pikfix_bench.errors import PikfixError, PikfixWarning

# command name -> (module, attribute, one-line help for the command list)
COMMANDS = {
    "build-dataset": (
        "dataset",
        "build_dataset_command",
        "Build a versioned dataset (realold, pascal, div2k, folder, sample, scans).",
    ),
    "dataset": ("dataset", "dataset_group", "Inspect, check, compare and export built datasets."),
    "degrade": ("degrade", "degrade_command", "Degrade image files or folders reproducibly."),
    "degradations": (
        "degrade",
        "degradations_group",
        "List the degradation operations and presets, or draw them.",
    ),
    "evaluate": (
        "evaluate",
        "evaluate_command",
        "Run a model on a dataset and score it into a run directory.",
    ),
    "models": ("evaluate", "models_group", "The registered models."),
    "restore": (
        "restore",
        "restore_command",
        "Restore a folder of photographs with a model; outputs keep the inputs' names.",
    ),
    "score": ("score", "score", "Score predictions against ground truths (files or folders)."),
    "leaderboard": ("leaderboard", "leaderboard_command", "Turn runs into a Table 1/2-style leaderboard."),
    "bundle": ("bundle", "bundle_command", "Pack a run with its outputs into one zip anyone can re-score."),
    "rescore": ("bundle", "rescore_command", "Re-derive a bundle's numbers from its outputs and compare."),
    "compare": ("leaderboard", "compare_command", "Paired comparison of two runs."),
    "figure": ("leaderboard", "figure_command", "The qualitative grid of inputs, outputs and ground truths."),
    "report": ("leaderboard", "report_command", "One self-contained HTML report of runs."),
    "train": ("train", "train_command", "Train the Pik-Fix model."),
    "study": ("study", "study_group", "A preference study of runs' outputs in the browser (Bradley-Terry)."),
}


class PikfixGroup(click.Group):
    """Loads subcommands on demand and reports :class:`PikfixError` as a one-line message (exit status 2)."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: D102 - click API
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:  # noqa: D102 - click API
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"pikfix_bench.cli.{module}"), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:  # noqa: D102 - click API
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in sorted(COMMANDS)])

    def invoke(self, ctx: click.Context):  # noqa: D102 - click API
        try:
            with warnings.catch_warnings():  # restores the caller's handler (tests invoke in-process)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except PikfixError as exc:
            raise click.UsageError(str(exc)) from None
        except BrokenPipeError:  # the reader went away (``| head``): click ends quietly
            raise
        except OSError as exc:  # a full disk, a read-only folder, a file where a folder must be
            raise click.UsageError(describe_os_error(exc)) from None


_default_show_warning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A :class:`PikfixWarning` as one ``warning:`` line on standard error; others as Python shows them."""
    if issubclass(category, PikfixWarning):
        from pikfix_bench.image_io import printable  # numpy and Pillow: not for --version

        click.echo(f"warning: {printable(str(message))}", err=True)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the file, then what the system said (``No space left on device``)."""
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"{exc.filename}: {reason}" if exc.filename else reason


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
      pikfix-bench leaderboard runs/ --format md                    Table 1/2-style leaderboard
      pikfix-bench degrade PHOTOS --preset pikfix --out DAMAGED     synthetic old-photo damage
      pikfix-bench score --pred OUT_DIR --gt GT_DIR                 score images you already have
      pikfix-bench build-dataset scans --source SCANS --out data/s  real old photos, no ground truth
      pikfix-bench restore --model NAME --input SCANS --out DIR     restore a folder of photos
      pikfix-bench bundle RUN --out run.zip / rescore run.zip ...   submissions anyone can re-score
      pikfix-bench study create RUNS --dataset DS --out STUDY       a pairwise preference study
    """
