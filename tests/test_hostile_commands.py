"""Hostile input at the command-template boundary: names and templates that must not run commands.

A sample id, a run directory, a dataset folder or a checkout path is text someone else chose; it
reaches a shell through the ``command`` adapter and the recipes. Each test plants ``$(touch X)`` or
``;touch X;`` where a path goes and checks that no ``X`` appears, or gives a template that would fail
every sample at run time and expects a :class:`PikfixError` when the model is created.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_recipes import HE_FILES, WAN_FILES, batch, write

from pikfix_bench.baselines import ModelError, create_model
from pikfix_bench.errors import PikfixError

# Folder names that run `touch X` when pasted unquoted into a shell command.
HOSTILE_FOLDERS = ("ds$(touch X)", "r;touch X;x", "with space")

# Copies every input to the output folder under its own name (a stand-in model).
COPY_SCRIPT = """
    import shutil, sys
    from pathlib import Path
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    for path in source.rglob("*.png"):
        (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.relative_to(source))
"""


def hostile_work_dir(tmp_path: Path) -> Path:
    """A run directory's work/ nested under every hostile folder name."""
    return tmp_path.joinpath(*HOSTILE_FOLDERS, "work")


def no_x_planted(tmp_path: Path) -> bool:
    return not [path for path in tmp_path.rglob("X") if path.name == "X"]


def command_model(tmp_path: Path, template: str, work_dir: Path):
    script = tmp_path / "tool.py"
    script.write_text(textwrap.dedent(COPY_SCRIPT))
    model = create_model("command", command=template.replace("TOOL", str(script)), python=sys.executable)
    model.load("cpu")
    model.work_dir = work_dir
    return model


# --- names that become paths ----------------------------------------------------------------------------------
def test_command_adapter_quotes_a_run_directory_that_holds_shell_syntax(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = command_model(tmp_path, "{python} TOOL {input_dir} {output_dir}", hostile_work_dir(tmp_path))
    inputs = batch()
    for image, output in zip(inputs.inputs, model.predict(inputs), strict=True):
        np.testing.assert_array_equal(output, image)
    assert no_x_planted(tmp_path)


@pytest.mark.parametrize("sample_id", ["../../x", "/ABS/x", "a/../../../x", "a\\..\\x", ""])
def test_command_adapter_refuses_a_sample_id_that_leaves_its_folder(sample_id, tmp_path):
    sample_id = sample_id.replace("/ABS", str(tmp_path / "abs"))
    work_dir = tmp_path / "run" / "work"
    model = command_model(tmp_path, "{python} TOOL {input_dir} {output_dir}", work_dir)
    with pytest.raises(PikfixError, match="sample id"):
        model.predict(batch(ids=[sample_id]))
    assert not list(tmp_path.rglob("*.png"))  # the call's own folder is removed; nothing else was written


def test_command_adapter_keeps_sub_folders_of_a_sample_id(tmp_path):
    model = command_model(tmp_path, "{python} TOOL {input_dir} {output_dir}", tmp_path / "work")
    inputs = batch(ids=["2008/000123", "2008/000124"])
    for image, output in zip(inputs.inputs, model.predict(inputs), strict=True):
        np.testing.assert_array_equal(output, image)


PAIRS_SCRIPT = """
    import shutil, sys
    from pathlib import Path
    pairs, target = Path(sys.argv[1]), Path(sys.argv[2])
    for line in pairs.read_text().splitlines():
        source, reference = line.split("\\t")
        shutil.copy(reference, target / Path(source).name)
"""


def test_pairs_file_is_tab_separated_so_paths_with_spaces_split(tmp_path):
    script = tmp_path / "pairs tool.py"
    script.write_text(textwrap.dedent(PAIRS_SCRIPT))
    model = create_model(
        "command", command=f"{{python}} '{script}' {{pairs_file}} {{output_dir}}", python=sys.executable
    )
    model.load("cpu")
    model.work_dir = tmp_path / "my runs" / "work"
    inputs = batch()
    for reference, output in zip(inputs.references, model.predict(inputs), strict=True):
        np.testing.assert_array_equal(output, reference)


def test_deep_exemplar_runs_no_command_from_its_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repo = write(tmp_path / "He;touch X;x", HE_FILES)
    (repo / "m$(touch X).pth").write_text("")
    model = create_model(
        "deep-exemplar",
        repo=str(repo),
        python=sys.executable,
        model="m$(touch X).pth",
        correspondence=f"{sys.executable} combo.py {{data_root}}",
    )
    model.load("cpu")
    model.work_dir = hostile_work_dir(tmp_path)
    inputs = batch()
    assert all(output is not None for output in model.predict(inputs))
    assert no_x_planted(tmp_path)


def test_wan2020_refuses_a_work_folder_its_run_py_would_paste_into_the_shell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repo = write(tmp_path / "wan", WAN_FILES)
    model = create_model("wan2020", repo=str(repo), python=sys.executable)
    model.load("cpu")
    model.work_dir = hostile_work_dir(tmp_path)
    with pytest.raises(ModelError, match="run.py pastes"):
        model.predict(batch())
    assert no_x_planted(tmp_path)


# --- templates checked when the model is created ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("tool ${HOME}/x {input_dir}", r"\$\{HOME\}.*shell expansion.*\$HOME"),
        ("tool ${input_dir}", r"\$\{input_dir\}.*write \{input_dir\}"),
        ("tool $input_dir {output_dir}", r"\$input_dir.*\{input_dir\}"),
        ("tool {inptu_dir} {output_dir}", "unknown placeholder {inptu_dir}; did you mean 'input_dir'"),
        ("tool {repo}", "unknown placeholder {repo}"),
        ("tool '{input_dir}'", "inside quotes"),
        ('tool "{input_dir}"', "inside quotes"),
        ('tool "--in={input_dir}/x"', "inside quotes"),
        ("tool \\{input_dir}", "backslash"),
        ("tool {input_dir", "brace"),
        ("tool input_dir}", "brace"),
        ("tool {}", "needs a name"),
        ("tool {0}", "not a placeholder name"),
        ("tool {input_dir.parent}", "not a placeholder name"),
        ("tool {input_dir!r}", "takes no conversion or format"),
        ("tool {input_dir:>40}", "takes no conversion or format"),
        ("tool 'unterminated {input_dir}", "inside quotes"),
        ("tool {input_dir} 'unterminated", "unterminated"),
        ("tool\0 {input_dir}", "NUL"),
        ("", "needs --model-opt command="),
    ],
)
def test_command_template_refused_at_creation(template, message):
    with pytest.raises(PikfixError, match=message):
        create_model("command", command=template)


@pytest.mark.parametrize(
    "template",
    [
        "exit 3",
        "$HOME/bin/tool {input_dir} {output_dir}",
        "tool ${{HOME}} {input_dir}",
        "tool --name='a b' \"$HOME\" {input_dir} {output_dir}/x --gpu={gpu} {timeout}",
        "tool '{{literal}}' $'it\\'s' {input_dir}",
        "cd {ref_dir} && tool {pairs_file} > {output_dir}/log.txt",
    ],
)
def test_command_template_accepted(template):
    create_model("command", command=template)


@pytest.mark.parametrize(
    ("correspondence", "message"),
    [
        ("run {data_rot}", "did you mean 'data_root'"),
        ("run '{data_root}'", "inside quotes"),
        ("run {input_dir}", "unknown placeholder {input_dir}"),
        ("run ${data_root}", "write {data_root}"),
    ],
)
def test_deep_exemplar_correspondence_template_refused_at_creation(correspondence, message, tmp_path):
    with pytest.raises(PikfixError, match=message):
        create_model("deep-exemplar", repo=str(tmp_path), correspondence=correspondence)


TEMPLATE_PIECES = [
    "{input_dir}",
    "{output_dir}",
    "{gpu}",
    "{",
    "}",
    "{{",
    "}}",
    "$",
    "${HOME}",
    "$input_dir",
    "'",
    '"',
    "\\",
    " ",
    "x",
    "!r",
    ":>3",
    "\0",
    "\ud800",
    "{0}",
    "{}",
    "[0]",
    ".",
]
TEMPLATES = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(TEMPLATE_PIECES), st.text(max_size=3)), max_size=12).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(TEMPLATES)
def test_any_template_gives_a_model_or_one_clear_error(template):
    try:
        model = create_model("command", command=template)
    except PikfixError:
        return
    work = Path("/w o r k")
    folders = {name: work / name for name in ("input", "ref", "output")}
    # An accepted template always formats, so no sample can fail on it at run time.
    assert isinstance(model._command(folders, work), str)


# --- templates where the shell parses a substituted value as code ----------------------------------------------
REPARSED = "$(touch PWNED)"  # in a run directory path: runs wherever the shell reads the path as code


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("eval cp -r {input_dir}/. {output_dir}/", r"eval.*parses its arguments as code"),
        ("cd /tmp && eval tool {input_dir} {output_dir}", "eval"),
        ("x=1 eval 'tool' {input_dir}", "eval"),
        ("sh <<EOF\ncp -r {input_dir}/. {output_dir}/\nEOF", r"heredoc.*<<"),
        ("sh <<'EOF'\ncp -r {input_dir}/. {output_dir}/\nEOF", "heredoc"),
        ("cat <<-EOF > {output_dir}/x\nhi\nEOF", "heredoc"),
        ("sh -c {input_dir}", r"-c.*script"),
        ("bash -ec 'cp -r '{input_dir}/. {output_dir}", r"-ec.*script"),
        ("timeout 60 bash -o pipefail -c {input_dir}", "script"),
        ("{python} -c {pairs_file}", "script"),
        ("find . | xargs /bin/sh -c {input_dir}", "script"),
        ("source {input_dir}/env.sh && tool", r"source.*code"),
        (". {input_dir}/env.sh; tool", r"'\.'.*code"),
        ("tool {input_dir} # '{output_dir}'", "comment"),
    ],
)
def test_template_whose_shell_reparses_a_value_is_refused(template, message):
    with pytest.raises(PikfixError, match=message) as caught:
        create_model("command", command=template)
    assert "inside quotes" not in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "tool {input_dir} {output_dir} # it's a comment, with a quote",
        "tool a#b {input_dir} {output_dir}",
        'eval "$(conda shell.bash hook)" && conda activate x && tool {input_dir} {output_dir}',
        'sh -c \'cp -r "$1"/. "$2"/\' sh {input_dir} {output_dir}',
        "tool <<< {input_dir} {output_dir}",
        "tool -c {input_dir}/config.yml {output_dir}",
        "{python} main.py eval -c {input_dir} --out {output_dir}",
        "cd /tmp && . ./env.sh && tool {input_dir} {output_dir}",
    ],
)
def test_template_that_keeps_values_as_words_is_accepted(template):
    create_model("command", command=template)


@pytest.mark.parametrize(
    "template",
    [
        "eval cp -r {input_dir}/. {output_dir}/",
        "sh <<EOF\ncp -r {input_dir}/. {output_dir}/\nEOF",
        "sh -c 'cp -r '{input_dir}/. {output_dir}",
    ],
)
def test_reparsing_templates_never_reach_a_run_directory_with_shell_syntax(template, tmp_path, monkeypatch):
    """The attack: ``--out 'e$(touch PWNED)'`` with such a template ran ``touch``; now it is refused."""
    monkeypatch.chdir(tmp_path)
    try:
        model = command_model(tmp_path, template, tmp_path / f"e{REPARSED}" / "work")
    except PikfixError:
        pass
    else:  # pragma: no cover - the bug
        model.predict(batch())
    assert not (tmp_path / "PWNED").exists()


def test_shell_script_with_placeholders_as_arguments_runs_safely(tmp_path, monkeypatch):
    """The documented way to hand paths to ``sh -c``: as ``$1``, ``$2`` after the script."""
    monkeypatch.chdir(tmp_path)
    template = 'sh -c \'cp -r "$1"/. "$2"/\' sh {input_dir} {output_dir}'
    model = command_model(tmp_path, template, tmp_path / f"e{REPARSED}" / "work")
    inputs = batch()
    for image, output in zip(inputs.inputs, model.predict(inputs), strict=True):
        np.testing.assert_array_equal(output, image)
    assert not (tmp_path / "PWNED").exists()


# --- the work folder: a link planted in the run directory ------------------------------------------------------
@pytest.mark.parametrize("target", ["elsewhere", "run/inside"])
def test_a_work_folder_that_is_a_link_is_refused(tmp_path, target):
    run_dir, elsewhere = tmp_path / "run", tmp_path / target
    elsewhere.mkdir(parents=True)
    run_dir.mkdir(exist_ok=True)
    (run_dir / "work").symlink_to(elsewhere, target_is_directory=True)
    script = tmp_path / "tool.py"
    script.write_text(textwrap.dedent(COPY_SCRIPT))
    model = create_model(
        "command",
        command=f"{{python}} {script} {{input_dir}} {{output_dir}}",
        python=sys.executable,
        keep_work="1",
    )
    model.load("cpu")
    model.work_dir = run_dir / "work"
    with pytest.raises(PikfixError, match="work") as caught:
        model.predict(batch())
    assert str(run_dir / "work") in str(caught.value)
    assert list(elsewhere.iterdir()) == []
