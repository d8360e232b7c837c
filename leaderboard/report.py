"""One self-contained HTML report: sortable leaderboard, metric distributions, qualitative grid, provenance."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pikfix_bench.datasets.store import Dataset  # noqa: E402
from pikfix_bench.errors import PikfixError  # noqa: E402
from pikfix_bench.leaderboard.figure import draw_figure, pick_informative  # noqa: E402
from pikfix_bench.leaderboard.render import SORT_SCRIPT, STYLE, html_table  # noqa: E402
from pikfix_bench.leaderboard.runs import Run  # noqa: E402
from pikfix_bench.leaderboard.table import build_leaderboard  # noqa: E402
from pikfix_bench.metrics import METRICS  # noqa: E402


def _png_data_uri(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def distribution_plot(runs: list[Run], metric: str) -> str:
    """A box plot of one metric's per-image values per model (finite values), as a PNG data URI."""
    labels, values = [], []
    for run in runs:
        if metric in run.per_image:
            column = run.per_image[metric].to_numpy(float)
            # a "$" of a recorded name would start matplotlib's mathtext, which may not parse
            labels.append(f"{run.name}\n{run.key.dataset}".replace("$", r"\$"))
            values.append(column[np.isfinite(column)])
    figure, axis = plt.subplots(figsize=(max(4.0, 1.3 * len(labels)), 3.2), dpi=100)
    axis.boxplot(values, showmeans=True)
    axis.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
    axis.set_title(f"{METRICS[metric].header} per image")
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _settings(values: dict, defaults: dict | None = None) -> str:
    """``key=value, …`` (``(default)`` after a value equal to its default), or ``—``."""
    return (
        ", ".join(
            f"{key}={value}" + (" (default)" if defaults is not None and defaults.get(key) == value else "")
            for key, value in values.items()
        )
        or "—"
    )


def _provenance(run: Run) -> str:
    info = run.info
    model = info["model"]
    profile = {key: value for key, value in info["profile"].items() if key not in ("name", "description")}
    hashes = model.get("files_sha256") or (
        {"weights": model["weights_sha256"]} if model.get("weights_sha256") else {}
    )
    rows = [
        ("run", str(run.path)),
        ("row", run.name),
        ("model", model["name"]),
        (
            "options" if "defaults" in model else "options (as given)",
            _settings(model.get("options") or {}, model.get("defaults")),
        ),
        ("weights sha256", _settings(hashes)),
        (
            "dataset",
            f"{info['dataset']['name']} v{info['dataset']['version']} ({info['dataset']['kind']}), "
            f"content hash {info['dataset']['content_hash']}",
        ),
        ("profile", f"{info['profile']['name']}: {_settings(profile)}"),
        ("alignment", info.get("align", "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in info.get("environment", {}).items())),
        ("time", f"{info.get('started', '')} → {info.get('finished', 'unfinished')}"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="provenance">{body}</table>'


def build_report(
    runs: list[Run],
    dataset: Dataset | None = None,
    metrics: list[str] | None = None,
    figure_count: int = 4,
    left_out: Sequence[str] = (),
    study: dict | None = None,
) -> str:
    """The report page as a string (images inlined, no external files); ``left_out`` names the runs
    that could not be read (:func:`~pikfix_bench.leaderboard.find_runs`); ``study``, a preference
    study's analysis (:func:`pikfix_bench.study.analysis.analyze`), adds its column and win matrix."""
    board = build_leaderboard(runs, metrics, left_out=left_out)
    if study is not None:
        from pikfix_bench.study.tables import add_preference, win_matrix_html

        add_preference(board, study)
    used = list(board.runs.values())
    parts = [
        "<h1>pikfix-bench report</h1>",
        "<h2>Leaderboard</h2>",
        html_table(board, with_ci=False),
        *(["<h2>Pairwise preferences</h2>", win_matrix_html(study)] if study is not None else []),
        "<h2>Distributions</h2>",
    ]
    for metric in board.metrics:
        parts.append(
            f'<img class="plot" alt="{metric} distribution" src="{distribution_plot(used, metric)}">'
        )
    if dataset is not None:
        same = [run for run in used if run.key.content_hash == dataset.content_hash]
        with_outputs = [run for run in same if (run.path / "outputs").is_dir()]
        parts.append("<h2>Qualitative comparison</h2>")
        if with_outputs:
            ids = pick_informative(with_outputs, figure_count)
            parts.append(
                f'<img class="figure" alt="qualitative grid" src="{_png_data_uri(draw_figure(dataset, with_outputs, ids))}">'
            )
        else:
            parts.append(
                '<p class="note">No run of this dataset saved its outputs (evaluate --save-outputs).</p>'
            )
    elif any((run.path / "outputs").is_dir() for run in used):
        parts.append('<p class="note">Pass --dataset to include the qualitative grid.</p>')
    parts.append("<h2>Provenance</h2>")
    parts += [_provenance(run) for run in used]
    style = (
        STYLE + "img.plot { margin: 0.5em; border: 1px solid #eee; } img.figure { max-width: 100%; }"
        " table.provenance { margin: 1em 0; font-size: 85%; } table.provenance th { text-align: left; padding-right: 1em; }"
    )
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>pikfix-bench report</title><style>{style}</style>'
        f"</head><body>\n" + "\n".join(parts) + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )


def require_same_dataset(runs: list[Run], dataset: Dataset) -> None:
    """Refuse a figure of runs made on another dataset content."""
    others = [str(run.path) for run in runs if run.key.content_hash != dataset.content_hash]
    if others:
        raise PikfixError(f"runs not made on {dataset.path} (content hash differs): {', '.join(others)}")
