"""Leaderboard output formats: markdown (GitHub), tidy CSV, LaTeX (booktabs), HTML and JSON."""

from __future__ import annotations

import html
import io
import json
import math

import pandas as pd

from pikfix_bench.leaderboard.reported import REPORTED, REPORTED_METRICS, SOURCE, reported_rows
from pikfix_bench.leaderboard.table import SIGNIFICANCE_NOTE, Cell, Leaderboard, display
from pikfix_bench.metrics import METRICS, PROFILES
from pikfix_bench.metrics.summary import json_number
from pikfix_bench.spreadsheet import text_cells

FORMATS = ("md", "csv", "tex", "html", "json")


def _cell_text(
    cell: Cell | None,
    metric: str,
    with_ci: bool,
    bold: tuple[str, str],
    underline: tuple[str, str],
    dagger: str = "†",
    ci_format: str = " [{lo}, {hi}]",
) -> str:
    if cell is None:
        return "–"
    text = display(cell.value, metric)
    if cell.rank == 1:
        text = f"{bold[0]}{text}{bold[1]}"
    elif cell.rank == 2:
        text = f"{underline[0]}{text}{underline[1]}"
    if not cell.complete:
        text += f" ({cell.count}/{cell.samples})"
    if cell.not_significant:
        text += dagger + (
            f"(n={cell.paired})" if cell.paired is not None and cell.paired < cell.samples else ""
        )
    if with_ci and all(math.isfinite(bound) for bound in cell.ci95):
        text += ci_format.format(lo=display(cell.ci95[0], metric), hi=display(cell.ci95[1], metric))
    return text


def _profiles_line(board: Leaderboard) -> str:
    names = sorted({column.profile for column in board.columns})
    return "; ".join(f"{name}: {PROFILES[name].description}" if name in PROFILES else name for name in names)


# Each character is replaced once, so a backslash of the input cannot pair with an escape added here.
_MD_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\\": "\\\\",
    "|": "\\|",  # GitHub splits table cells on unescaped pipes, even inside code spans
    "`": "\\`",
    "[": "\\[",  # no link, and no remote image loaded by whoever views the table
    "]": "\\]",
    "*": "\\*",
    "_": "\\_",
    "~": "\\~",
    "$": "\\$",  # GitHub renders $...$ as math
    "\n": " ",  # a line ending would end the table row or the note
    "\r": " ",
}


def md_escape(text: str) -> str:
    """Text from run records as literal GitHub markdown: no HTML, link, emphasis, math or broken cell."""
    return "".join(_MD_ESCAPES.get(char, char) for char in text)


def _preference_text(board: Leaderboard, model: str) -> str:
    """A row's preference-study strength and interval (``leaderboard --study``), or ``–``."""
    row = board.preference.get(model)
    return "–" if row is None else f"{row['score']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def _shows_verified(board: Leaderboard) -> bool:
    """Whether the table has a Verified column: when any of its runs was made by ``rescore``."""
    return any(run.rescored for run in board.runs.values())


def _verified_mark(board: Leaderboard, model: str) -> str:
    """``✓`` when every run of the row was re-derived from its bundle and agreed (docs/leaderboard.md)."""
    runs = [run for (row, _), run in board.runs.items() if row == model]
    return "✓" if runs and all(run.verified for run in runs) else ""


def to_markdown(board: Leaderboard, with_ci: bool = False, reported: bool = False) -> str:
    """GitHub markdown: best in bold, second underlined, † for ties with the best within noise.

    Model names, column headings, profile names and notes come from run records, so they are escaped
    (:func:`md_escape`): a record cannot inject HTML or add cells.
    """
    header = ["Model"] + [
        f"{md_escape(board.heading(column))}<br>{METRICS[metric].header}"
        for column in board.columns
        for metric in board.column_metrics(column)
    ]
    header += ["Preference"] if board.preference else []
    header += ["Verified"] if _shows_verified(board) else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for model in board.models:
        cells = [
            _cell_text(board.cell(model, column, metric), metric, with_ci, ("**", "**"), ("<u>", "</u>"))
            for column in board.columns
            for metric in board.column_metrics(column)
        ]
        cells += [_preference_text(board, model)] if board.preference else []
        cells += [_verified_mark(board, model)] if _shows_verified(board) else []
        lines.append(f"| {md_escape(model)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Metric profile: {md_escape(_profiles_line(board))}. Bold: best; underlined: second. "
        f"{SIGNIFICANCE_NOTE}.",
    ]
    lines += [f"Note: {md_escape(note)}." for note in board.notes]
    if reported:
        lines += ["", _reported_markdown()]
    return "\n".join(lines) + "\n"


def _reported_markdown() -> str:
    columns = list(REPORTED)
    header = ["Model (reported)"] + [
        f"{dataset}<br>{METRICS[m].header}" for _, dataset in columns for m in REPORTED_METRICS
    ]
    models = list(dict.fromkeys(model for values in REPORTED.values() for model in values))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    for model in models:
        values = []
        for column in columns:
            triple = REPORTED[column].get(model)
            values += (
                [
                    f"{v:.3f}" if m != "psnr" else f"{v:.2f}"
                    for m, v in zip(REPORTED_METRICS, triple, strict=True)
                ]
                if triple
                else ["–"] * 3
            )
        lines.append(f"| {model} | " + " | ".join(values) + " |")
    lines.append(f"\nReported rows: {SOURCE}; not comparable with the measured rows above and not ranked.")
    return "\n".join(lines)


def tidy_frame(board: Leaderboard, reported: bool = False) -> pd.DataFrame:
    """One row per model x column x metric shown (plus reported rows with ``source = reported``)."""
    rows = []
    shown = {column: board.column_metrics(column) for column in board.columns}
    for (model, column, metric), cell in board.cells.items():
        if metric not in shown.get(column, ()):
            continue
        rows.append(
            {
                "source": "measured",
                "model": model,
                "dataset": column.dataset,
                "version": column.version,
                "content_hash": column.content_hash,
                "profile": column.profile,
                "metric": metric,
                "mean": cell.value,
                "ci95_low": cell.ci95[0],
                "ci95_high": cell.ci95[1],
                "count": cell.count,
                "samples": cell.samples,
                "complete": cell.complete,
                "inf_count": cell.inf_count,
                "rank": cell.rank,
                "not_significant": cell.not_significant,
                "p_value": cell.p_value,
                "paired_count": cell.paired,
                "run_id": cell.run_id,
                "verified": board.runs[(model, column)].verified,
            }
        )
    rows += [
        {
            "source": "study",
            "model": model,
            "metric": "preference",
            "mean": row["score"],
            "ci95_low": row["ci_low"],
            "ci95_high": row["ci_high"],
        }
        for model, row in board.preference.items()
    ]
    if reported:
        rows += [
            {
                "source": "reported",
                "model": r["model"],
                "dataset": r["dataset"],
                "metric": r["metric"],
                "mean": r["value"],
                "profile": "as reported",
            }
            for r in reported_rows()
        ]
    frame = pd.DataFrame(rows)
    for column in ("count", "samples", "inf_count", "rank", "paired_count"):
        if column in frame:  # whole numbers, absent where a cell has none (not 2.0 and NaN)
            frame[column] = frame[column].astype("Int64")
    return frame.sort_values(["source", "dataset", "profile", "metric", "model"], kind="stable").reset_index(
        drop=True
    )


def to_csv(board: Leaderboard, reported: bool = False) -> str:
    """Tidy CSV (full precision; text cells that a spreadsheet would run as formulas quoted)."""
    buffer = io.StringIO()
    text_cells(tidy_frame(board, reported)).to_csv(buffer, index=False, float_format="%.17g")
    return buffer.getvalue()


def to_json(board: Leaderboard, reported: bool = False) -> str:
    """The tidy rows and the notes as JSON (``inf``/``nan`` as strings)."""
    frame = tidy_frame(board, reported).astype(object).where(lambda f: f.notna(), None)
    records = [
        {key: json_number(value) if isinstance(value, float) else value for key, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    return (
        json.dumps({"rows": records, "notes": board.notes, "significance": SIGNIFICANCE_NOTE}, indent=2)
        + "\n"
    )


_TEX_ESCAPES = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "\n": " ",  # a blank line (paragraph) inside a cell or the caption stops LaTeX
    "\r": " ",
    "†": r"$^\dagger$",
    "·": r"$\cdot$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "–": "--",
    "≥": r"$\geq$",
    "≈": r"$\approx$",
}


def tex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_TEX_ESCAPES.get(char, char) for char in text)


def to_latex(board: Leaderboard, with_ci: bool = False) -> str:
    """A booktabs table whose caption states the metric profile."""
    shown = {column: board.column_metrics(column) for column in board.columns}
    widths = [len(shown[column]) for column in board.columns]
    spec = "l" + "c" * sum(widths) + ("c" if board.preference else "")
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + spec + "}", r"\toprule"]
    groups = " & ".join(
        rf"\multicolumn{{{len(shown[column])}}}{{c}}{{{tex_escape(board.heading(column))}}}"
        for column in board.columns
    )
    lines.append(f" & {groups} \\\\")
    starts = [2 + sum(widths[:i]) for i in range(len(widths))]
    lines.append(
        "".join(
            rf"\cmidrule(lr){{{start}-{start + width - 1}}}"
            for start, width in zip(starts, widths, strict=True)
        )
    )
    lines.append(
        "Model & "
        + " & ".join(tex_escape(METRICS[m].header) for column in board.columns for m in shown[column])
        + (" & Preference" if board.preference else "")
        + r" \\"
    )
    lines.append(r"\midrule")
    for model in board.models:
        cells = [
            tex_escape(
                _cell_text(
                    board.cell(model, column, metric), metric, with_ci, ("\x00", "\x01"), ("\x02", "\x03")
                )
            )
            .replace("\x00", r"\textbf{")
            .replace("\x01", "}")
            .replace("\x02", r"\underline{")
            .replace("\x03", "}")
            for column in board.columns
            for metric in shown[column]
        ]
        cells += [tex_escape(_preference_text(board, model))] if board.preference else []
        lines.append(tex_escape(model) + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = (
        f"Metric profile: {_profiles_line(board)}. Best in bold, second underlined. {SIGNIFICANCE_NOTE}."
        + "".join(f" Note: {note}." for note in board.notes)
    )
    lines += [r"\caption{" + tex_escape(caption) + "}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def html_table(board: Leaderboard, with_ci: bool = False) -> str:
    """A sortable ``<table>`` (click a metric header): bold best, underlined second, † within noise."""
    shown = {column: board.column_metrics(column) for column in board.columns}
    out = ['<table class="leaderboard">', "<thead>", '<tr><th rowspan="2">Model</th>']
    out += [
        f'<th colspan="{len(shown[column])}">{html.escape(board.heading(column))}</th>'
        for column in board.columns
    ]
    if board.preference:
        out.append(
            f'<th rowspan="2" class="sortable" data-column="{1 + sum(map(len, shown.values()))}" '
            'data-direction="desc">Preference</th>'
        )
    if _shows_verified(board):
        out.append('<th rowspan="2">Verified</th>')
    out.append("</tr><tr>")
    index = 1
    for column in board.columns:
        for metric in shown[column]:
            direction = "desc" if METRICS[metric].higher_is_better else "asc"
            out.append(
                f'<th class="sortable" data-column="{index}" data-direction="{direction}">'
                f"{html.escape(METRICS[metric].header)}</th>"
            )
            index += 1
    out += ["</tr>", "</thead>", "<tbody>"]
    for model in board.models:
        out.append(f"<tr><td>{html.escape(model)}</td>")
        for column in board.columns:
            for metric in shown[column]:
                cell = board.cell(model, column, metric)
                sort_value = "" if cell is None else ("1e308" if cell.value == math.inf else repr(cell.value))
                title = (
                    ""
                    if cell is None
                    else f' title="95% CI {display(cell.ci95[0], metric)}..{display(cell.ci95[1], metric)}; n={cell.count} of {cell.samples}"'
                )
                text = _cell_text(cell, metric, with_ci, ("<b>", "</b>"), ("<u>", "</u>"))
                out.append(f'<td data-sort="{sort_value}"{title}>{text}</td>')
        if board.preference:
            row = board.preference.get(model)
            sort_value = "" if row is None else repr(row["score"])
            out.append(f'<td data-sort="{sort_value}">{_preference_text(board, model)}</td>')
        if _shows_verified(board):
            mark = _verified_mark(board, model)
            label = ' title="numbers re-derived from the bundle\'s outputs by rescore"' if mark else ""
            out.append(f"<td{label}>{mark}</td>")
        out.append("</tr>")
    out += ["</tbody>", "</table>"]
    out.append(
        f'<p class="note">Metric profile: {html.escape(_profiles_line(board))}. Bold: best; underlined: second. '
        f"{html.escape(SIGNIFICANCE_NOTE)}.</p>"
    )
    out += [f'<p class="note">Note: {html.escape(note)}.</p>' for note in board.notes]
    return "\n".join(out)


SORT_SCRIPT = """
document.querySelectorAll("table.leaderboard th.sortable").forEach(function (header) {
  header.addEventListener("click", function () {
    var table = header.closest("table"), body = table.tBodies[0], column = Number(header.dataset.column);
    var ascending = header.dataset.direction === "asc";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = parseFloat(a.cells[column].dataset.sort), y = parseFloat(b.cells[column].dataset.sort);
      if (isNaN(x)) return 1; if (isNaN(y)) return -1;
      return ascending ? x - y : y - x;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    header.dataset.direction = ascending ? "desc" : "asc";
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.leaderboard { border-collapse: collapse; margin: 1em 0; }
table.leaderboard th, table.leaderboard td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.leaderboard td:first-child, table.leaderboard th:first-child { text-align: left; }
th.sortable { cursor: pointer; } th.sortable:hover { background: #eef; }
.note { color: #555; font-size: 90%; }
"""


def to_html(board: Leaderboard, with_ci: bool = False, reported: bool = False) -> str:
    """A self-contained HTML page with the sortable table."""
    body = html_table(board, with_ci)
    if reported:
        body += "\n<h2>Reported by the authors</h2>\n<pre>" + html.escape(_reported_markdown()) + "</pre>"
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>pikfix-bench leaderboard</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>Leaderboard</h1>\n{body}\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )


def render(board: Leaderboard, fmt: str, with_ci: bool = False, reported: bool = False) -> str:
    """The leaderboard in one of :data:`FORMATS`."""
    if fmt == "md":
        return to_markdown(board, with_ci, reported)
    if fmt == "csv":
        return to_csv(board, reported)
    if fmt == "json":
        return to_json(board, reported)
    if fmt == "tex":
        return to_latex(board, with_ci) + (("\n% " + SOURCE + "\n") if reported else "")
    return to_html(board, with_ci, reported)
