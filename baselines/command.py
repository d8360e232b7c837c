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
would fail at run time or undo that quoting (quotes around a placeholder, or ``eval``, a heredoc,
``sh -c`` or ``.`` parsing a value as code). A ``work/`` that is a link is refused. It runs through the shell with a timeout, with the folder
of ``python=`` first on ``PATH`` (scripts that call a bare ``python`` then use the model's environment),
and its output goes to the call's log, which a failure names. Outputs are collected from
``{output_dir}`` by name. See ``docs/baselines.md``.
"""

from __future__ import annotations

import dataclasses
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
from pikfix_bench.errors import PikfixError, did_you_mean
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


# A placeholder's place in a word's text (a template holds no NUL: check_template refuses one first).
_PLACEHOLDER = "\0"
# Programs whose -c option takes a script: the word after it is parsed as code again.
_INTERPRETERS = re.compile(r"(?:ba|da|z|k|mk|a|y|po|fi|c|tc)?sh|python[0-9.]*|pypy[0-9.]*")
# Words before a command's name that leave it in command position (`x=1 eval ...`, `if eval ...`).
_COMMAND_PREFIXES = frozenset({"!", "time", "command", "builtin", "exec", "if", "then", "else", "elif", "do"})
_COMMAND_PREFIXES |= {"while", "until", "{"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_HOW_TO_PASS = "pass values as arguments of the program that reads them (tool {input_dir} {output_dir})"


@dataclasses.dataclass
class _Word:
    """One shell word: its text with quotes removed and each placeholder as ``_PLACEHOLDER``."""

    text: str = ""
    names: list[str] = dataclasses.field(default_factory=list)


class _ShellQuoting:
    """Where a POSIX shell stands after reading a template's literal text: quotes, escapes, words, commands.

    Only what decides how an inserted value is read is followed: single, double and ``$'...'``
    quotes, backslashes, ``$`` (``$$`` is the shell's process id, not the start of a name), comments,
    the words of each simple command (split at blanks and at ``; & | ( )`` and backquotes) and
    heredocs, so that :meth:`problems` can name a construct that parses an inserted value as code.
    """

    def __init__(self) -> None:
        self.quote = ""  # the open quote: "", "'", '"' or "$'"
        self.escaped = False  # the last character was a backslash that escapes the next one
        self.dollar = False  # the last character was an unescaped, unquoted-or-double-quoted $
        self.comment = False  # inside a comment (from an unquoted # that starts a word to the line's end)
        self.problems: list[str] = []  # constructs found that parse an inserted value as code
        self._word: _Word | None = None  # the word being read
        self._words: list[_Word] = []  # the words of the simple command being read
        self._less = 0  # unquoted '<' just read in a row (2: a heredoc; 3: a here-string)

    def read(self, text: str) -> list[str]:
        """Follow ``text``; return the names of the ``$name`` expansions in it."""
        variables = []
        for index, char in enumerate(text):
            after_dollar, self.dollar = self.dollar, False
            if self.comment:
                if char == "\n":
                    self.comment = False
                    self._end_command()
                continue
            if char != "<" or self.escaped or self.quote:
                self._end_redirection()
            if self.escaped:
                self.escaped = False
                if char != "\n":  # a backslash before a line break joins the lines
                    self._text(char)
            elif self.quote == "'":
                self.quote = "" if char == "'" else "'"
                if self.quote:
                    self._text(char)
            elif char == "\\":
                self.escaped = True
                self._text("")
            elif self.quote == "$'":
                self.quote = "" if char == "'" else "$'"
                if self.quote:
                    self._text(char)
            elif char == '"':
                self.quote = "" if self.quote == '"' else '"'
                self._text("")
            elif self.quote == '"':
                self._text(char)
                if char == "$" and not after_dollar:
                    variables += self._dollar(text, index)
            elif char == "'":
                self.quote = "$'" if after_dollar else "'"
                self._text("")
            elif char == "#" and self._word is None:
                self.comment = True
            elif char in " \t":
                self._end_word()
            elif char in "\n;&|()`":
                self._end_command()
            elif char in "<>":
                self._end_word()
                self._less += char == "<"
            else:
                self._text(char)
                if char == "$" and not after_dollar:
                    variables += self._dollar(text, index)
        return variables

    def _dollar(self, text: str, index: int) -> list[str]:
        self.dollar = True
        name = _SHELL_NAME.match(text, index + 1)
        return [name.group()] if name else []

    def inserted(self, name: str) -> None:
        """A quoted value was inserted: it closes every quote it opens and ends no escape."""
        self._end_redirection()
        self.escaped = self.dollar = False
        word = self._text(_PLACEHOLDER)
        word.names.append(name)

    def finish(self) -> None:
        """The template ended: check its last command."""
        self._end_redirection()
        self._end_command()

    def _text(self, text: str) -> _Word:
        if self._word is None:
            self._word = _Word()
        self._word.text += text
        return self._word

    def _end_word(self) -> None:
        if self._word is not None:
            self._words.append(self._word)
            self._word = None

    def _end_redirection(self) -> None:
        if self._less == 2:
            self.problems.append(
                "a heredoc (<<) puts values into text the shell reads again: with <<EOF it expands $(...) "
                "in the body (a run directory named 'x$(touch X)' runs touch), with <<'EOF' the quotes "
                f"the tool adds stay in the text; {_HOW_TO_PASS}, or use a here-string (<<< {{input_dir}})"
            )
        self._less = 0

    def _end_command(self) -> None:
        self._end_word()
        problem = _reparsing_problem(self._words)
        if problem:
            self.problems.append(problem)
        self._words = []


def _reparsing_problem(words: list[_Word]) -> str | None:
    """Why a simple command parses a placeholder's value as shell code (``eval``, ``.``, ``sh -c``), or ``None``."""
    start = 0
    while start < len(words) and (
        words[start].text in _COMMAND_PREFIXES or _ASSIGNMENT.match(words[start].text)
    ):
        start += 1
    later = [name for word in words[start + 1 :] for name in word.names]
    if later and words[start].text == "eval":
        return (
            f"eval parses its arguments as code again, which undoes the quoting of {{{later[0]}}} (a path "
            f"holding $(...) would run); run the program without eval: {_HOW_TO_PASS}"
        )
    if later and words[start].text in (".", "source"):
        return (
            f"{words[start].text!r} with {{{later[0]}}} runs the file a value names as code of the command's "
            "own shell (looked up on PATH when the value holds no /); cd to its folder and source a fixed "
            "name (cd {repo} && . ./env.sh), or run it as a script (sh {repo}/env.sh)"
        )
    for index, word in enumerate(words):
        program = word.text.rsplit("/", 1)[-1]
        if not (_INTERPRETERS.fullmatch(program) or (word.text == _PLACEHOLDER and word.names == ["python"])):
            continue
        flag, after = None, index + 1
        while after < len(words) and words[after].text[:1] in "-+" and len(words[after].text) > 1:
            option = words[after].text
            if option == "--":
                after += 1
                break
            if option in ("-o", "+o", "-O", "+O"):  # a shell option's name follows
                after += 2
                continue
            if not option.startswith("--") and "c" in option[1:].split(_PLACEHOLDER)[0]:
                flag = option.split(_PLACEHOLDER)[0]
                if words[after].names:  # -c{input_dir}: the value is the script itself
                    return _script_problem(program, flag, words[after].names[0])
            after += 1
        if flag and after < len(words) and words[after].names:
            return _script_problem(program, flag, words[after].names[0])
    return None


def _script_problem(program: str, flag: str, name: str) -> str:
    program = "{python}" if program == _PLACEHOLDER else program
    return (
        f"{{{name}}} is in the script of {program} {flag}, a word the shell parses as code again, which undoes "
        f"the quoting of the value (a path holding $(...) would run); hand values to the script after it "
        f'and use them as "$1", "$2": sh -c \'tool "$1"\' sh {{{name}}}'
    )


def check_template(template: str, names: Collection[str], what: str) -> None:
    """Refuse a shell command template that would fail at run time or undo the quoting of its values.

    A placeholder is ``{name}`` with ``name`` one of ``names``; ``{{`` and ``}}`` are literal braces.
    Every value is inserted shell-quoted, so a placeholder must stand outside shell quotes and after no
    backslash (``'{input_dir}'`` turns the tool's quoting inside out: the value is then unquoted), and
    takes no conversion or format (``{input_dir!r}``, ``{input_dir:.5}`` would re-quote or cut the
    quoted value). ``${NAME}`` collides with the braces: it is refused, saying to write ``$NAME`` for an
    environment variable or ``{name}`` for a placeholder; ``$name`` spelt as a placeholder (an unset
    shell variable, so an empty word) is refused as a slip for ``{name}``. A placeholder inside a
    comment is refused (it does nothing).

    A construct that makes the shell parse an inserted value again, as code, is refused too, since it
    undoes the quoting (a run directory ``e$(touch X)`` would run ``touch``): ``eval`` with a
    placeholder among its arguments, a heredoc (``<<``; the here-string ``<<<`` is fine), ``source`` or
    ``.`` with a placeholder, and a placeholder in the script word of ``sh -c``, ``bash -ec``,
    ``{python} -c`` and the like (values go after the script, as ``"$1"``...).

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
        if shell.problems:
            refuse(shell.problems[0])
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
        if shell.comment:
            refuse(
                f"{{{field}}} is inside a shell comment (from # to the end of the line), where it does nothing; "
                "remove it, or end the comment with a line break before it"
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
        shell.inserted(field)
    if shell.quote:
        refuse(f"it has an unterminated {shell.quote} quote")
    shell.finish()
    if shell.problems:
        refuse(shell.problems[0])


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
            self._check_work_dir()
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._check_work_dir()  # again: made just now, or planted between the check and mkdir
        work = Path(tempfile.mkdtemp(prefix="call-", dir=self.work_dir))
        if self.work_dir is not None:
            try:  # a link swapped in while mkdtemp ran: nothing is written there yet
                path_inside(self.work_dir.parent, f"{self.work_dir.name}/{work.name}", what="work folder")
            except PikfixError:
                os.rmdir(work)
                raise
        try:
            return self._run(batch, work)
        finally:
            if self.settings["keep_work"] == "0":
                shutil.rmtree(work, ignore_errors=True)

    def _check_work_dir(self) -> None:
        """Refuse a work folder (the run directory's ``work/``) that is a link or leads out of the run directory.

        Someone who can write to the run directory could plant ``work`` as a link to another folder;
        each call's inputs, references and ``pairs.txt`` would then be written there.

        Raises
        ------
        PikfixError
            Naming the work folder and where it leads.
        """
        work_dir = Path(self.work_dir)
        if work_dir.is_symlink():
            raise PikfixError(
                f"{self.descriptor.name}: the work folder {work_dir} is a symbolic link (to "
                f"{os.readlink(work_dir)}), so each call's files would be written elsewhere; remove it"
            )
        path_inside(work_dir.parent, work_dir.name, what="work folder")

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
