"""Leaderboards from hand-made runs with known numbers, comparisons, formats, figure and report."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pikfix_bench.cli import main
from pikfix_bench.evaluation import RunDirectory
from pikfix_bench.evaluation.statistics import summarize_rows
from pikfix_bench.leaderboard import build_leaderboard, compare_runs, find_runs, load_run, render
from pikfix_bench.leaderboard.table import paired_p_value
from pikfix_bench.metrics import get_profile

IDS = [f"s{i:02d}" for i in range(20)]


def make_run(
    root,
    name,
    model,
    values,
    *,
    dataset="toy",
    content_hash="a" * 64,
    profile="pikfix",
    finished="2026-01-01",
    ids=None,
):
    """A run directory with the given per-image values ({metric: array}) of ``ids`` (default all 20 of
    the dataset), and a real summary."""
    ids = IDS if ids is None else ids
    run = RunDirectory(root / name)
    run.write_run(
        {
            "model": {"name": model, "options": {}, "weights_sha256": None},
            "dataset": {
                "name": dataset,
                "version": "1.0.0",
                "kind": "folder",
                "content_hash": content_hash,
                "samples": len(IDS),
            },
            "profile": get_profile(profile).to_dict(),
            "align": "error",
            "finished": finished,
            "environment": {"pikfix_bench": "test"},
        }
    )
    frame = pd.DataFrame(
        {"sample_id": ids, **{metric: np.asarray(v, float) for metric, v in values.items()}, "seconds": 0.1}
    )
    frame.to_csv(run.path / "per_image.csv", index=False)
    run.write_summary(summarize_rows(frame, 0, len(IDS)))
    return run.path


@pytest.fixture
def toy_runs(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 20)
    make_run(
        tmp_path, "a", "alpha", {"psnr": 25 + base, "lpips": 0.20 + 0.01 * base}
    )  # best psnr, worst lpips
    make_run(
        tmp_path, "b", "beta", {"psnr": 25 + base - 0.001, "lpips": 0.10 + 0.01 * base}
    )  # within noise? no: always lower
    make_run(tmp_path, "c", "gamma", {"psnr": 20 + rng.normal(0, 1, 20), "lpips": 0.15 + 0.01 * base})
    return tmp_path


def test_bold_and_underline_follow_each_metric_direction(toy_runs):
    board = build_leaderboard(find_runs([toy_runs]), ["psnr", "lpips"])
    column = board.columns[0]
    ranks = {
        (m, metric): board.cell(m, column, metric).rank for m in board.models for metric in ("psnr", "lpips")
    }
    # alpha and beta show the same PSNR at 2 decimals: a tie for best; gamma is then second
    assert ranks[("alpha", "psnr")] == ranks[("beta", "psnr")] == 1 and ranks[("gamma", "psnr")] == 2
    assert ranks[("beta", "lpips")] == 1 and ranks[("gamma", "lpips")] == 2 and ranks[("alpha", "lpips")] == 3
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in render(board, "md").splitlines()
        if line.startswith("| ")
    }
    assert rows["beta"].count("**") == 4 and rows["gamma"].count("<u>") == 2
    assert rows["alpha"].count("**") == 2 and rows["alpha"].rstrip(" |").endswith("0.198")


def test_significance_marks_on_constructed_data(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.normal(30, 2, 20)
    make_run(tmp_path, "best", "best", {"psnr": base + 1.0})
    make_run(
        tmp_path, "noise", "noise", {"psnr": base + 1.0 + rng.normal(0, 0.5, 20)}
    )  # same mean, only noise
    make_run(tmp_path, "worse", "worse", {"psnr": base - 1.0})  # always 2 dB lower
    board = build_leaderboard(find_runs([tmp_path]), ["psnr"])
    column = board.columns[0]
    best = max(board.models, key=lambda m: board.cell(m, column, "psnr").value)
    others = {m: board.cell(m, column, "psnr") for m in board.models if m != best}
    assert others["worse"].not_significant is False and others["worse"].p_value < 0.001
    assert {"best", "noise"} == {best, *[m for m, c in others.items() if c.not_significant or c.rank == 1]}
    assert paired_p_value(np.ones(5), np.ones(5)) == 1.0


def test_inf_psnr_is_best_and_shown(tmp_path):
    make_run(tmp_path, "oracle", "oracle", {"psnr": np.full(20, np.inf)})
    make_run(tmp_path, "model", "model", {"psnr": np.linspace(20, 30, 20)})
    board = build_leaderboard(find_runs([tmp_path]), ["psnr"])
    cell = board.cell("oracle", board.columns[0], "psnr")
    assert cell.value == np.inf and cell.rank == 1
    assert "**inf**" in render(board, "md")


def test_profiles_and_contents_never_share_a_column(tmp_path):
    make_run(tmp_path, "p1", "m", {"psnr": np.full(20, 25.0)}, profile="pikfix")
    make_run(tmp_path, "p2", "m", {"psnr": np.full(20, 24.0)}, profile="basicsr")
    make_run(tmp_path, "p3", "m", {"psnr": np.full(20, 23.0)}, content_hash="b" * 64)
    board = build_leaderboard(find_runs([tmp_path]), ["psnr"])
    assert len(board.columns) == 3
    notes = " ".join(board.notes)
    assert "different contents" in notes and "metric profiles" in notes
    with pytest.raises(Exception, match="different columns"):
        compare_runs(load_run(tmp_path / "p1"), load_run(tmp_path / "p2"))


def test_duplicate_runs_use_the_newest_and_say_so(tmp_path):
    make_run(tmp_path, "old", "m", {"psnr": np.full(20, 20.0)}, finished="2026-01-01T00:00:00")
    make_run(tmp_path, "new", "m", {"psnr": np.full(20, 22.0)}, finished="2026-02-01T00:00:00")
    board = build_leaderboard(find_runs([tmp_path]), ["psnr"])
    assert board.cell("m", board.columns[0], "psnr").value == 22.0
    assert "the newest" in board.notes[0]


def test_a_newest_run_without_a_metric_an_older_one_has_is_noted(tmp_path):
    """The newest re-run of a setup is used whole; a metric shown that only an older run has stays empty,
    and the note names it and that run, so that the empty cell is not taken for a missing score."""
    make_run(
        tmp_path, "old", "m", {"psnr": np.full(20, 20.0), "lpips": np.full(20, 0.2)}, finished="2026-01-01"
    )
    make_run(tmp_path, "new", "m", {"psnr": np.full(20, 22.0)}, finished="2026-02-01")
    board = build_leaderboard(find_runs([tmp_path]), ["psnr", "lpips"])
    column = board.columns[0]
    assert board.cell("m", column, "psnr").value == 22.0 and board.cell("m", column, "lpips") is None
    (note,) = [note for note in board.notes if "the newest" in note]
    assert note.endswith(
        f"; lpips only in an older run ({tmp_path / 'old'}): not shown for this setup (score the newest run with it, "
        "or leave the newest out)"
    )
    assert "only in an older run" not in " ".join(build_leaderboard(find_runs([tmp_path]), ["psnr"]).notes)


def test_csv_round_trip_through_pandas(toy_runs):
    board = build_leaderboard(find_runs([toy_runs]), ["psnr", "lpips"])
    frame = pd.read_csv(io.StringIO(render(board, "csv", reported=True)))
    measured = frame[frame["source"] == "measured"]
    assert len(measured) == 6 and {
        "model",
        "dataset",
        "content_hash",
        "profile",
        "metric",
        "mean",
        "run_id",
    } <= set(frame.columns)
    alpha = measured[(measured.model == "alpha") & (measured.metric == "psnr")]["mean"].iloc[0]
    assert alpha == pytest.approx(load_run(toy_runs / "a").per_image["psnr"].mean())
    assert (
        frame["source"] == "reported"
    ).sum() == 3 * 20  # 20 published (model, dataset) entries of Tables 1 and 2
    payload = json.loads(render(board, "json"))
    assert len(payload["rows"]) == 6


def test_reported_rows_are_apart_and_unranked(toy_runs):
    markdown = render(build_leaderboard(find_runs([toy_runs])), "md", reported=True)
    reported = markdown.split("Model (reported)")[1]
    assert "| Pik-Fix | 23.95 | 0.925 | 0.120 |" in reported and "**" not in reported


def test_latex_compiles_when_tex_is_present(toy_runs, tmp_path):
    tex = render(build_leaderboard(find_runs([toy_runs])), "tex")
    assert r"\toprule" in tex and r"\textbf{" in tex and "Metric profile: pikfix" in tex
    if shutil.which("pdflatex") is None:
        pytest.skip("no TeX engine here")
    document = tmp_path / "t.tex"
    document.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + tex + "\\end{document}\n"
    )
    subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", document.name], cwd=tmp_path, check=True, capture_output=True
    )


def test_compare_wins_ties_losses(tmp_path):
    make_run(tmp_path, "a", "a", {"psnr": np.arange(20.0), "lpips": np.full(20, 0.3)})
    make_run(
        tmp_path,
        "b",
        "b",
        {"psnr": np.arange(20.0) + np.r_[np.ones(15), np.zeros(3), -np.ones(2)], "lpips": np.full(20, 0.2)},
    )
    result = compare_runs(load_run(tmp_path / "a"), load_run(tmp_path / "b"))
    assert (
        result["metrics"]["psnr"]["wins"],
        result["metrics"]["psnr"]["ties"],
        result["metrics"]["psnr"]["losses"],
    ) == (15, 3, 2)
    assert result["metrics"]["lpips"]["wins"] == 20 and result["metrics"]["lpips"][
        "mean_difference"
    ] == pytest.approx(-0.1)
    output = CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b")]).output
    assert "15/3/2" in output


def test_leaderboard_cli_writes_every_format(toy_runs, tmp_path):
    for fmt in ("md", "csv", "tex", "html", "json"):
        result = CliRunner().invoke(
            main,
            ["leaderboard", str(toy_runs), "--format", fmt, "--ci", "--out", str(tmp_path / f"board.{fmt}")],
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"board.{fmt}").stat().st_size > 200
    missing = CliRunner().invoke(main, ["leaderboard", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no such run" in missing.output


@pytest.fixture
def partial_runs(tmp_path):
    """``full`` scored all 20 samples; ``partial`` only the 10 easiest, with far better values."""
    rng = np.random.default_rng(3)
    psnr = 25 + rng.normal(0, 1, 20)
    make_run(tmp_path, "full", "full", {"psnr": psnr, "ssim": np.full(20, 0.8)})
    make_run(tmp_path, "partial", "partial", {"psnr": psnr[:10] + 5, "ssim": np.ones(10)}, ids=IDS[:10])
    return tmp_path


def test_a_partial_run_is_shown_with_its_coverage_and_never_ranked(partial_runs):
    board = build_leaderboard(find_runs([partial_runs]), ["psnr", "ssim"])
    column = board.columns[0]
    partial, full = board.cell("partial", column, "psnr"), board.cell("full", column, "psnr")
    assert (partial.count, partial.samples, partial.complete, partial.rank) == (10, 20, False, None)
    assert full.rank == 1 and board.cell("full", column, "ssim").rank == 1
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in render(board, "md").splitlines()
        if line.startswith("| ")
    }
    assert "(10/20)" in rows["partial"] and "**" not in rows["partial"] and "<u>" not in rows["partial"]
    assert rows["full"].count("**") == 4 and "n=20" in render(board, "md")
    tidy = pd.read_csv(io.StringIO(render(board, "csv")))
    partial_rows = tidy[tidy.model == "partial"]
    assert not partial_rows["complete"].any() and partial_rows["rank"].isna().all()
    assert (partial_rows["count"] == 10).all() and (partial_rows["samples"] == 20).all()
    payload = json.loads(render(board, "json"))
    assert {row["complete"] for row in payload["rows"] if row["model"] == "partial"} == {False}
    assert any("not ranked" in note for note in payload["notes"])
    for fmt in ("tex", "html"):
        text = render(board, fmt)
        assert "(10/20)" in text and "not ranked" in text
        assert "textbf{30" not in text and "<b>30" not in text


def test_significance_is_computed_on_the_shared_samples_and_says_so(partial_runs):
    board = build_leaderboard(find_runs([partial_runs]), ["psnr"], rank_partial=True)
    column = board.columns[0]
    partial, full = board.cell("partial", column, "psnr"), board.cell("full", column, "psnr")
    assert partial.rank == 1 and full.paired == 10 and full.p_value is not None
    assert "ranked anyway" in " ".join(board.notes)
    make_run(
        partial_runs,
        "twin",
        "twin",
        {
            "psnr": board.runs[("full", column)].per_image["psnr"]
            + np.random.default_rng(5).normal(0, 0.5, 20)
        },
    )
    board = build_leaderboard(find_runs([partial_runs]), ["psnr"])
    twin = board.cell("twin", column, "psnr")
    assert twin.not_significant and twin.paired == 20 and "†" in render(board, "md")


def test_compare_report_and_cli_state_coverage(partial_runs, tmp_path):
    result = compare_runs(load_run(partial_runs / "full"), load_run(partial_runs / "partial"))
    assert (result["images"], result["samples"], result["first_scored"], result["second_scored"]) == (
        10,
        20,
        20,
        10,
    )
    output = (
        CliRunner()
        .invoke(main, ["compare", str(partial_runs / "full"), str(partial_runs / "partial")])
        .output
    )
    assert "10 images both scored, of 20" in output
    board = CliRunner().invoke(main, ["leaderboard", str(partial_runs), "--metrics", "psnr"]).output
    assert "(10/20)" in board and "**" not in board.split("| partial |")[1].splitlines()[0]
    ranked = (
        CliRunner()
        .invoke(main, ["leaderboard", str(partial_runs), "--metrics", "psnr", "--rank-partial"])
        .output
    )
    assert "**" in ranked.split("| partial |")[1].splitlines()[0]
    from pikfix_bench.leaderboard.report import build_report

    assert "(10/20)" in build_report(find_runs([partial_runs]), metrics=["psnr"])


def test_a_torn_per_image_file_never_reaches_a_table(tmp_path):
    path = make_run(tmp_path, "torn", "torn", {"psnr": np.full(20, 30.0), "ssim": np.full(20, 0.9)})
    csv_path = path / "per_image.csv"
    csv_path.write_text(csv_path.read_text()[:-12])  # the last row cut mid-number, no line ending
    run = load_run(path)
    assert len(run.per_image) == 19 and "cut before its line ending" in run.problems[0]
    board = build_leaderboard([run], ["psnr", "ssim"])
    cell = board.cell("torn", board.columns[0], "ssim")
    assert (cell.count, cell.complete) == (19, False)
    assert any("cut before its line ending" in note for note in board.notes)


def test_compare_counts_colourfulness_without_a_winner(tmp_path):
    """Colourfulness has no right direction: compare reports higher/equal/lower, never wins or losses."""
    make_run(tmp_path, "a", "a", {"psnr": np.arange(20.0), "colorfulness": np.full(20, 30.0)})
    make_run(
        tmp_path,
        "b",
        "b",
        {
            "psnr": np.arange(20.0),
            "colorfulness": np.r_[np.full(12, 40.0), np.full(3, 30.0), np.full(5, 20.0)],
        },
    )
    values = compare_runs(load_run(tmp_path / "a"), load_run(tmp_path / "b"))["metrics"]["colorfulness"]
    assert (values["higher"], values["equal"], values["lower"]) == (12, 3, 5)
    assert "wins" not in values and "losses" not in values
    assert values["mean_difference"] == pytest.approx((12 * 10 - 5 * 10) / 20)
    output = CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b")]).output
    row = next(line for line in output.splitlines() if line.startswith("colorfulness"))
    assert "12/3/5 higher/equal/lower" in row and "↑" not in row and "↓" not in row


def test_colourfulness_has_no_arrow_anywhere():
    """score, evaluate and compare print a metric with its direction; colourfulness has none (↑ was shown)."""
    from pikfix_bench.metrics import METRICS

    assert (
        METRICS["colorfulness"].arrow == ""
        and METRICS["colorfulness"].titled("colorfulness") == "colorfulness"
    )
    assert METRICS["colorfulness"].header == "Colourfulness"
    assert METRICS["psnr"].titled("psnr") == "psnr ↑" and METRICS["niqe"].header == "NIQE ↓"


def test_json_and_csv_counts_and_ranks_are_whole_numbers(toy_runs):
    """Ranks and counts are integers in json and csv (``2``, not ``2.0``; null or blank when absent)."""
    board = build_leaderboard(find_runs([toy_runs]))
    rows = json.loads(render(board, "json"))["rows"]
    for row in rows:
        for key in ("rank", "paired_count", "count", "samples", "inf_count"):
            assert row[key] is None or type(row[key]) is int, (key, row[key])
    assert any(row["rank"] == 2 for row in rows)
    csv_text = render(board, "csv")
    assert ",2.0," not in csv_text and ",1.0," not in csv_text
