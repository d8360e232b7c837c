"""The command line: every listed command loads, and light commands do not import torch."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from pikfix_bench.cli import COMMANDS, main


def test_every_listed_command_loads_and_has_help():
    context = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert isinstance(command, click.Command), name
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0, name
    assert main.get_command(context, "nope") is None
    assert "build-dataset" in CliRunner().invoke(main, ["--help"]).output


def test_dataset_and_degrade_commands_do_not_import_torch():
    code = "import sys, pikfix_bench.cli.dataset, pikfix_bench.cli.degrade; print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


def test_training_and_scoring_import_lpips_only_to_score_lpips():
    """lpips imports torchvision and torch._dynamo (~150 MiB resident): not before LPIPS is computed."""
    code = (
        "import sys, pikfix_bench.cli.train, pikfix_bench.model.training, pikfix_bench.metrics;"
        "print('lpips' in sys.modules, 'torchvision' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"


def test_output_into_a_closed_pipe_ends_quietly():
    """``pikfix-bench models list | head -1``: the reader closes the pipe; the command stops without a
    message (click's own handling of EPIPE, exit status 1), not with ``Error: Broken pipe``."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader: the first write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from pikfix_bench.cli import main; main(['models', 'list'])"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1 and done.stderr == ""
