"""``command``: run a model's own code on exported files; the base of the named recipes (:mod:`.recipes`).

Each call gets a fresh work folder ``WORK`` (inside the run directory's ``work/``, removed
afterwards unless ``keep_work=1``): the harness exports the batch to ``WORK/input/<name>.png`` and
``WORK/ref/<name>.png`` and writes ``WORK/pairs.txt`` (``input_path<TAB>ref_path`` per line). ``<name>``
is the sample id for ``command`` (joined by :func:`~pikfix_bench.safe_paths.path_inside`, so an id
cannot leave the folder); recipes use ``s000000``-style names (an id's dots or slashes must not reach
code that splits file names) and map outputs back by position. The command template may use
``{input_dir}``, ``{ref_dir}``, ``{output_dir}``, ``{pairs_file}``, ``{python}``, ``{gpu}`` (the CUDA
index the model runs on, ``-1`` on the CPU) and any option of the model by its name; every value is
inserted shell-quoted, and :func:`check_template` refuses, when the model is created, a template that
would fail at run time or undo that quoting. It runs through the shell with a timeout, with the folder
of ``python=`` first on ``PATH`` (scripts that call a bare ``python`` then use the model's environment),
and its output goes to the call's log, which a failure names. Outputs are collected from
``{output_dir}`` by name. See ``docs/baselines.md``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import string
import subprocess
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import ClassVar, NoReturn

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
from pikfix_bench.errors import did_you_mean
from pikfix_bench.image_io import read_image, write_png
from pikfix_bench.safe_paths import path_inside

DRIVER_DIR = Path(__file__).parent / "drivers"
# The placeholders each call fills in, besides the model's options (``{driver_dir}`` serves the recipes).
CALL_PLACEHOLDERS = ("input_dir", "ref_dir", "output_dir", "pairs_file", "gpu", "driver_dir")
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMON_OPTIONS = {
    "command": ModelOption(
        "shell command template ({input_dir} {ref_dir} {output_dir} {pairs_file} {python} {gpu}, "
        "options by name; never quote them)"
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


class _ShellQuoting:
    """Where a POSIX shell stands after reading a template's literal text: quotes, a pending escape, a ``$``.

    Only what decides how an inserted value is read is followed: single, double and ``$'...'``
    quotes, backslashes, and ``$`` (``$$`` is the shell's process id, not the start of a name).
    """

    def __init__(self) -> None:
        self.quote = ""  # the open quote: "", "'", '"' or "$'"
        self.escaped = False  # the last character was a backslash that escapes the next one
        self.dollar = False  # the last character was an unescaped, unquoted-or-double-quoted $

    def read(self, text: str) -> list[str]:
        """Follow ``text``; return the names of the ``$name`` expansions in it."""
        variables = []
        for index, char in enumerate(text):
            after_dollar, self.dollar = self.dollar, False
            if self.escaped:
                self.escaped = False
            elif self.quote == "'":
                self.quote = "" if char == "'" else "'"
            elif char == "\\":
                self.escaped = True
            elif self.quote == "$'":
                self.quote = "" if char == "'" else "$'"
            elif char == '"':
                self.quote = "" if self.quote == '"' else '"'
            elif char == "'" and not self.quote:
                self.quote = "$'" if after_dollar else "'"
            elif char == "$" and not after_dollar:
                self.dollar = True
                name = _SHELL_NAME.match(text, index + 1)
                if name:
                    variables.append(name.group())
        return variables

    def inserted(self) -> None:
        """A quoted value was inserted: it closes every quote it opens and ends no escape."""
        self.escaped = self.dollar = False


def check_template(template: str, names: Collection[str], what: str) -> None:
    """Refuse a shell command template that would fail at run time or undo the quoting of its values.

    A placeholder is ``{name}`` with ``name`` one of ``names``; ``{{`` and ``}}`` are literal braces.
    Every value is inserted shell-quoted, so a placeholder must stand outside shell quotes and after no
    backslash (``'{input_dir}'`` turns the tool's quoting inside out: the value is then unquoted), and
    takes no conversion or format (``{input_dir!r}``, ``{input_dir:.5}`` would re-quote or cut the
    quoted value). ``${NAME}`` collides with the braces: it is refused, saying to write ``$NAME`` for an
    environment variable or ``{name}`` for a placeholder; ``$name`` spelt as a placeholder (an unset
    shell variable, so an empty word) is refused as a slip for ``{name}``.

    Parameters
    ----------
    template : str
        The template, as the user gave it.
    names : collection of str
        The placeholders it may use.
    what : str
        What the template is, for messages (``"model command: command template"``).

    Raises
    ------
    ModelError
        Naming the problem and what to write instead.
    """

    def refuse(problem: str) -> NoReturn:
        raise ModelError(f"{what}: {problem} (in {template!r}; see docs/baselines.md)")

    if "\0" in template:
        refuse("it holds a NUL character, which no command line can carry")
    try:
        os.fsencode(template)
    except UnicodeEncodeError:
        refuse("it holds text no command line can carry (a lone surrogate)")
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        refuse(f"unbalanced brace ({exc}); write a literal brace as {{{{ or }}}}")
    placeholders = ", ".join(f"{{{name}}}" for name in sorted(names))
    shell = _ShellQuoting()
    for literal, field, spec, conversion in fields:
        for variable in shell.read(literal):
            if variable in names:
                refuse(
                    f"${variable} is a shell variable, not a placeholder; write {{{variable}}} for the placeholder"
                )
        if field is None:
            continue
        if shell.dollar and field.isidentifier():
            if field in names:
                refuse(
                    f"${{{field}}} is a shell expansion, not a placeholder; write {{{field}}} for the placeholder"
                )
            refuse(
                f"${{{field}}} is a shell expansion, but braces mark placeholders here: write ${field} for the "
                f"environment variable, or ${{{{{field}}}}} to hand the shell ${{{field}}}"
            )
        if not field:
            refuse("a placeholder needs a name ({} is positional)")
        if not field.isidentifier():
            refuse(
                f"{{{field}}} is not a placeholder name (no index or attribute)"
                f"{did_you_mean(field, names)} (placeholders: {placeholders})"
            )
        if field not in names:
            refuse(
                f"unknown placeholder {{{field}}}{did_you_mean(field, names)} (placeholders: {placeholders})"
            )
        if conversion or spec:
            written = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            refuse(
                f"{{{written}}}: a placeholder takes no conversion or format (its value is inserted quoted, "
                f"as it is); write {{{field}}}"
            )
        if shell.quote:
            refuse(
                f"{{{field}}} is inside quotes ({shell.quote}...): the tool quotes every value itself, and "
                "quotes around a placeholder undo that; remove them"
            )
        if shell.escaped:
            refuse(
                f"a backslash directly before {{{field}}} escapes the quote put around its value; remove it"
            )
        shell.inserted()
    if shell.quote:
        refuse(f"it has an unterminated {shell.quote} quote")


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
        # Checked now, so a bad template fails before a run directory is made, not once per sample.
        template = self.command_template()
        if not template:
            raise ModelError(
                f"{self.descriptor.name} needs --model-opt command='...' using {{input_dir}} and "
                "{output_dir} (see docs/baselines.md)"
            )
        check_template(
            template, {*self.settings, *CALL_PLACEHOLDERS}, f"model {self.descriptor.name}: command template"
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

    def check_work_folder(self, work: Path) -> None:
        """Refuse a work folder the program cannot be given safely (any will do: every path is quoted)."""

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
        if any(char in str(work) for char in "\t\n\r"):
            raise ModelError(
                f"{self.descriptor.name}: the work folder {str(work)!r} holds a tab or line break, which "
                "pairs.txt cannot carry (choose another --out)"
            )
        folders = {name: work / name for name in ("input", "ref", "output")}
        lines = []
        for name, image, reference in zip(names, batch.inputs, batch.references, strict=True):
            # A sample id comes from someone else's dataset: it must not lead outside the folder.
            source = path_inside(folders["input"], name, ".png")
            target = path_inside(folders["ref"], name, ".png")
            write_png(source, as_rgb(image))
            write_png(target, as_rgb(reference))
            lines.append(f"{source}\t{target}")  # a tab, so paths with spaces still split in two
        folders["output"].mkdir(parents=True, exist_ok=True)
        (work / "pairs.txt").write_text("\n".join(lines) + "\n")
        return folders

    def _command(self, folders: dict[str, Path], work: Path) -> str:
        placeholders = {key: "" if value is None else str(value) for key, value in self.settings.items()}
        placeholders |= {  # the names of CALL_PLACEHOLDERS
            "input_dir": folders["input"],
            "ref_dir": folders["ref"],
            "output_dir": folders["output"],
            "pairs_file": work / "pairs.txt",
            "gpu": self.gpu,
            "driver_dir": DRIVER_DIR,
        }
        # Every value is quoted (check_template made sure no quote or backslash of the template undoes it).
        return self.command_template().format(
            **{key: shlex.quote(str(value)) for key, value in placeholders.items()}
        )

    def _run(self, batch: Batch, work: Path) -> list[np.ndarray | None]:
        self.check_work_folder(work)
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
