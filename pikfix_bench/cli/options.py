"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable

import click

from pikfix_bench.execution import EXECUTORS


def executor_options(local_meaning: str) -> Callable:
    """``--executor local|dask`` and ``--scheduler``; ``local_meaning`` says what ``local`` is for the command."""

    def decorate(function: Callable) -> Callable:
        function = click.option(
            "--scheduler", help="Dask scheduler address, or local:N for a LocalCluster of N workers."
        )(function)
        return click.option(
            "--executor",
            default="local",
            show_default=True,
            type=click.Choice(EXECUTORS),
            help=f"local: {local_meaning}; dask: shards over a Dask cluster (docs/scale.md).",
        )(function)

    return decorate
