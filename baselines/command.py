"""``command``: run a model's own code on exported files; the base of the named recipes (:mod:`.recipes`).

Each call gets a fresh work folder ``WORK`` (inside the run directory's ``work/``, removed
afterwards unless ``keep_work=1``): the harness exports the batch to ``WORK/input/<name>.png`` and
``WORK/ref/<name>.png`` and writes ``WORK/pairs.txt`` (``input_path ref_path`` per line). ``<name>`` is
the sample id for ``command``; recipes use ``s000000``-style names (an id's dots or slashes must not
reach code that splits file names) and map outputs back by position. The command template may use
``{input_dir}``, ``{ref_dir}``, ``{output_dir}``, ``{pairs_file}``, ``{repo}``, ``{python}``, ``{gpu}``
(the CUDA index the model runs on, ``-1`` on the CPU) and any option of the model by its name; it runs
through the shell with a timeout, with the folder of ``python=`` first on ``PATH`` (scripts that call a
bare ``python`` then use the model's environment), and its output goes to the call's log, which a
failure names. Outputs are collected from ``{output_dir}`` by name. See ``docs/baselines.md``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelError,
    ModelOption,
    as_rgb,
    register_model,
)
from pikfix_bench.baselines.predictions import find_output
from pikfix_bench.image_io import read_image, write_png

DRIVER_DIR = Path(__file__).parent / "drivers"
COMMON_OPTIONS = {
    "command": ModelOption(
        "shell command template ({input_dir} {ref_dir} {output_dir} {pairs_file} {repo} {python} {gpu})"
    ),
    "timeout": ModelOption("seconds before the command is stopped", "float", 3600.0, minimum=1),
    "python": ModelOption(
        "interpreter of the model's own environment (its folder goes first on PATH)", default="python"
    ),
    "keep_work": ModelOption(
        "1: keep each call's work folder (inputs, outputs, log)", "choice", "0", choices=("0", "1")
    ),
    "retry": ModelOption(
        "batch: a failing call fails its samples; single: try each sample alone again",
        "choice",
        "batch",
        choices=("batch", "single"),
    ),
}


@register_model
class CommandAdapter(ModelAdapter):
    """Any external program that reads a folder of images and writes a folder of results."""

    descriptor = ModelDescriptor(
        "command",
        "run a model's own code on exported files (command template)",
        "any",
        uses_reference=True,
        input_mode="RGB",
        batch_size=0,
        devices=("cpu", "cuda"),
        options=dict(COMMON_OPTIONS),
    )
    safe_names: ClassVar[bool] = False  # recipes: export as s000000.png and map back by position

    work_dir: Path | None = None  # where work folders are made (the run directory's work/)

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.retry_single = self.settings["retry"] == "single"

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        if not self.command_template():
            raise ModelError(
                f"{self.descriptor.name} needs --model-opt command='...' using {{input_dir}} and "
                "{output_dir} (see docs/baselines.md)"
            )

    def command_template(self) -> str | None:
        """The shell command with placeholders (recipes build theirs from their options)."""
        return self.settings["command"]

    def outputs_subdir(self) -> str:
        """Where the program puts its results, inside ``{output_dir}``."""
        return ""

    def failure_in_log(self, log: str) -> str | None:
        """What went wrong according to the log of a command that exited 0 (``None``: nothing)."""
        return None

    @property
    def gpu(self) -> int:
        """The CUDA index the model runs on, ``-1`` on the CPU (the ``{gpu}`` placeholder)."""
        if not self.device.startswith("cuda"):
            return -1
        return int(self.device.partition(":")[2] or 0)

    def environment(self) -> dict[str, str]:
        """The command's environment: this one, with the folder of ``python=`` first on ``PATH``."""
        env = dict(os.environ)
        python = self.settings["python"]
        if os.sep in python:
            env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
        return env

    def predict(self, batch: Batch) -> list[np.ndarray | None]:  # noqa: D102
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="call-", dir=self.work_dir))
        try:
            return self._run(batch, work)
        finally:
            if self.settings["keep_work"] == "0":
                shutil.rmtree(work, ignore_errors=True)

    def _file_names(self, batch: Batch) -> list[str]:
        """The exported files' names: the sample ids, or ``s000000``... for recipes."""
        return [f"s{index:06d}" for index in range(len(batch.ids))] if self.safe_names else batch.ids

    def _export(self, batch: Batch, names: list[str], work: Path) -> dict[str, Path]:
        folders = {name: work / name for name in ("input", "ref", "output")}
        lines = []
        for name, image, reference in zip(names, batch.inputs, batch.references, strict=True):
            write_png(folders["input"] / f"{name}.png", as_rgb(image))
            write_png(folders["ref"] / f"{name}.png", as_rgb(reference))
            lines.append(f"{folders['input'] / f'{name}.png'} {folders['ref'] / f'{name}.png'}")
        folders["output"].mkdir(parents=True, exist_ok=True)
        (work / "pairs.txt").write_text("\n".join(lines) + "\n")
        return folders

    def _command(self, folders: dict[str, Path], work: Path) -> str:
        placeholders = {key: "" if value is None else str(value) for key, value in self.settings.items()}
        placeholders |= {
            "input_dir": folders["input"],
            "ref_dir": folders["ref"],
            "output_dir": folders["output"],
            "pairs_file": work / "pairs.txt",
            "gpu": self.gpu,
            "driver_dir": DRIVER_DIR,
        }
        return self.command_template().format(
            **{key: shlex.quote(str(value)) for key, value in placeholders.items()}
        )

    def _run(self, batch: Batch, work: Path) -> list[np.ndarray | None]:
        names = self._file_names(batch)
        folders = self._export(batch, names, work)
        command = self._command(folders, work)
        timeout = self.settings["timeout"]
        log_path = (
            work / "command.log" if self.settings["keep_work"] == "1" else work.with_name(f"{work.name}.log")
        )
        with open(log_path, "a") as log:
            log.write(f"$ {command}\n")
            log.flush()
            try:
                completed = subprocess.run(
                    command,
                    shell=True,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    env=self.environment(),
                )
            except subprocess.TimeoutExpired:
                raise ModelError(
                    f"{self.descriptor.name}: command timed out after {timeout:g} s (log: {log_path})"
                ) from None
        if completed.returncode != 0:
            raise ModelError(
                f"{self.descriptor.name}: command exited with status {completed.returncode} (log: {log_path})"
            )
        failure = self.failure_in_log(log_path.read_text(errors="replace"))
        if failure:
            raise ModelError(
                f"{self.descriptor.name}: {failure} although the command exited 0 (log: {log_path})"
            )
        results: list[np.ndarray | None] = []  # a missing output fails its sample alone
        for name in names:
            try:
                results.append(read_image(find_output(folders["output"] / self.outputs_subdir(), name)))
            except ModelError:
                results.append(None)
        return results
