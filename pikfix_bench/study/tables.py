"""A study's analysis as tables: markdown and CSV for ``study analyze``, the preference column and the
pairwise win matrix for ``leaderboard --study`` and ``report --study``. Labels and rater ids come from
files others wrote, so they are escaped in every format.
"""

from __future__ import annotations

import csv
import html
import io
import math
from typing import Any

from pikfix_bench.leaderboard.render import md_escape
from pikfix_bench.spreadsheet import text_cell

_MODEL_COLUMNS = [
    "rank",
    "model",
    "score",
    "ci_low",
    "ci_high",
    "win_rate",
    "comparisons",
    "wins",
    "ties",
    "losses",
]


def analysis_csv(result: dict[str, Any]) -> str:
    """The models table as CSV."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=_MODEL_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: text_cell(value) for key, value in row.items()} for row in result["models"])
    return text.getvalue()


def _md(text: object) -> str:
    """Text from a record as a markdown table cell (escaped)."""
    return md_escape(str(text))


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def analysis_markdown(result: dict[str, Any]) -> str:
    """Every table of the analysis as markdown (text from records escaped)."""
    method = result["method"]
    lines = [
        f"Preference study {result['study'][:12]} · {_md(result['dataset']['name'])} · {method['model']}; "
        f"score = {method['score']}, {method['interval']} ({method['replicates']} replicates); "
        f"tie parameter ν = {_number(result['tie_parameter'])}",
        "",
        *(f"**Warning:** {_md(warning)}." for warning in result.get("warnings", [])),
        "",
        "| rank | model | score | 95% CI | win rate | comparisons | W/T/L |",
        "|---:|---|---:|---|---:|---:|---|",
    ]
    for row in result["models"]:
        lines.append(
            f"| {row['rank']} | {_md(row['model'])} | {row['score']:.3f} | [{row['ci_low']:.3f}, {row['ci_high']:.3f}] "
            f"| {_number(row['win_rate'])} | {row['comparisons']} | {row['wins']}/{row['ties']}/{row['losses']} |"
        )
    lines += [
        "",
        "| a | b | comparisons | a wins | b wins | ties | a win rate |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for pair in result["pairs"]:
        lines.append(
            f"| {_md(pair['a'])} | {_md(pair['b'])} | {pair['comparisons']} | {pair['a_wins']} | {pair['b_wins']} "
            f"| {pair['ties']} | {_number(pair['a_win_rate'])} |"
        )
    gold, agreement = result["gold"], result["agreement"]
    lines += [
        "",
        f"Raters: {len(result['raters'])}, used {result['choices']['raters_used']}; choices used "
        f"{result['choices']['used']} of {result['choices']['total']}. Krippendorff's α ({agreement['level']}, "
        f"{agreement['units']} units): {_number(agreement['krippendorff_alpha'])}. Gold trials: "
        f"{gold['correct']}/{gold['trials']} right; excluded below {method['min_gold_accuracy']:.0%}: "
        + (", ".join(_md(rater) for rater in gold["excluded_raters"]) or "none"),
        "",
        "| rater | choices | gold right | consistency ζ | excluded |",
        "|---|---:|---:|---:|---|",
    ]
    for rater in result["raters"]:
        lines.append(
            f"| {_md(rater['rater'])} | {rater['choices']} | {rater['gold_correct']}/{rater['gold_trials']} "
            f"| {_number(rater['consistency'])} | {'yes' if rater['excluded'] else ''} |"
        )
    return "\n".join(lines) + "\n"


def add_preference(board: Any, result: dict[str, Any]) -> None:
    """Give a leaderboard the study's strengths as a "Preference" column, keyed by row name, and a note.

    Parameters
    ----------
    board : Leaderboard
        The table (:func:`pikfix_bench.leaderboard.build_leaderboard`).
    result : dict
        :func:`pikfix_bench.study.analysis.analyze` of a study of (some of) its rows' runs.
    """
    found = {row["model"]: row for row in result["models"]}
    board.preference = {model: found[model] for model in board.models if model in found}
    board.notes.append(preference_note(result, board.models))
    board.notes += [f"preference study: {warning}" for warning in result.get("warnings", [])]


def preference_note(result: dict[str, Any], rows: list[str]) -> str:
    """What the preference column is, for a table's notes (and which study rows it lacks)."""
    missing = [row for row in rows if row not in {model["model"] for model in result["models"]}]
    return (
        f"Preference: {result['method']['model']} log-strength (mean 0) from preference study "
        f"{result['study'][:12]} on {result['dataset']['name']} v{result['dataset']['version']}, with its "
        f"{result['method']['interval']}; {result['choices']['used']} choices of "
        f"{result['choices']['raters_used']} raters"
        + (f"; not in the study: {', '.join(missing)}" if missing else "")
    )


def win_matrix_html(result: dict[str, Any]) -> str:
    """The pairwise win matrix as an HTML table: row model's share of its comparisons with the column model
    (ties as half), with the number of comparisons."""
    labels = [row["model"] for row in result["models"]]
    share: dict[tuple[str, str], tuple[float | None, int]] = {}
    for pair in result["pairs"]:
        rate = pair["a_win_rate"]
        share[pair["a"], pair["b"]] = (rate, pair["comparisons"])
        share[pair["b"], pair["a"]] = (None if rate is None else 1 - rate, pair["comparisons"])
    out = ['<table class="leaderboard win-matrix">', "<thead><tr><th>wins of row over column</th>"]
    out += [f'<th scope="col">{html.escape(label)}</th>' for label in labels]
    out += ["</tr></thead>", "<tbody>"]
    for row in labels:
        cells = []
        for column in labels:
            rate, count = share.get((row, column), (None, 0))
            cells.append(
                "<td>–</td>" if rate is None else f'<td title="{count} comparisons">{rate:.0%} ({count})</td>'
            )
        out.append(f'<tr><th scope="row">{html.escape(row)}</th>' + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)
