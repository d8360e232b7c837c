"""figure and report on real runs of the baselines; the report checked in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from pikfix_bench.cli import main
from pikfix_bench.image_io import read_image


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    runner = CliRunner()
    result = runner.invoke(
        main, ["build-dataset", "sample", "--out", str(root / "ds"), "--size", "48"], catch_exceptions=False
    )
    assert result.exit_code == 0
    for model in ("gray", "reinhard", "welsh"):
        result = runner.invoke(
            main,
            [
                "evaluate",
                "--model",
                model,
                "--dataset",
                str(root / "ds"),
                "--out",
                str(root / "runs" / model),
                "--save-outputs",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
    return root


def test_figure_grid(runs):
    out = runs / "fig.png"
    result = CliRunner().invoke(
        main,
        [
            "figure",
            "--dataset",
            str(runs / "ds"),
            "--runs",
            str(runs / "runs"),
            "--count",
            "3",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    figure = read_image(out)
    assert figure.shape[0] > 3 * 192 and figure.shape[1] > 6 * 192  # 3 rows; input, ref, 3 models, gt
    chosen = CliRunner().invoke(
        main,
        [
            "figure",
            "--dataset",
            str(runs / "ds"),
            "--runs",
            str(runs / "runs"),
            "--ids",
            "coffee",
            "--out",
            str(runs / "one.png"),
        ],
    )
    assert chosen.exit_code == 0 and read_image(runs / "one.png").shape[0] < 300
    bad = CliRunner().invoke(
        main,
        [
            "figure",
            "--dataset",
            str(runs / "ds"),
            "--runs",
            str(runs / "runs"),
            "--ids",
            "nope",
            "--out",
            str(runs / "x.png"),
        ],
    )
    assert bad.exit_code == 2 and "unknown sample id" in bad.output


PROBE = """
<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(e.message); });
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (i) { return i.naturalWidth > 0; });
  var rows = function () { return Array.prototype.map.call(document.querySelectorAll("table.leaderboard tbody tr"),
                                                          function (r) { return r.cells[0].textContent; }).join(","); };
  var before = rows();
  var header = document.querySelector("th.sortable[data-direction='asc']");  // LPIPS: lower is better
  header.click();
  var ascending = rows();
  header.click();
  document.body.setAttribute("data-probe", JSON.stringify({images: images, before: before, ascending: ascending,
                                                           descending: rows(), errors: window.__errors}));
});
</script>
"""


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_report_in_headless_chromium(runs, tmp_path):
    out = runs / "report.html"
    result = CliRunner().invoke(
        main,
        ["report", str(runs / "runs"), "--dataset", str(runs / "ds"), "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Provenance" in page and page.count("data:image/png;base64,") == 4  # 3 plots + the grid
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    completed = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'data-probe="([^"]*)"', completed.stdout)
    assert match, completed.stderr[-2000:]
    import html
    import json

    probe = json.loads(html.unescape(match.group(1)))
    assert probe["errors"] == []
    assert len(probe["images"]) == 4 and all(probe["images"])
    lpips = {}
    for model in ("gray", "reinhard", "welsh"):
        summary = json.loads((runs / "runs" / model / "summary.json").read_text())
        lpips[model] = summary["metrics"]["lpips"]["mean"]
    assert probe["ascending"].split(",") == sorted(lpips, key=lpips.get)
    assert probe["descending"].split(",") == sorted(lpips, key=lpips.get, reverse=True)
