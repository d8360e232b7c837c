"""Preference studies: the design, imported choices, the Bradley–Terry analysis and the raters' server."""

from __future__ import annotations

import csv
import itertools
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pikfix_bench.cli import main
from pikfix_bench.errors import PikfixError
from pikfix_bench.study.analysis import analyze
from pikfix_bench.study.design import GOLD_CLEAN, GOLD_DEGRADED, STUDY_FILE, Study, read_study
from pikfix_bench.study.server import make_server
from pikfix_bench.study.storage import DATABASE_FILE, Choice, ChoiceStore

MODELS = ("gray", "reinhard", "welsh")


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory) -> Path:
    """Three runs of the weight-free baselines with saved outputs, on the session's sample set."""
    root = tmp_path_factory.mktemp("study-runs")
    for model in MODELS:
        invoke(
            "evaluate",
            "--model",
            model,
            "--dataset",
            str(dataset),
            "--out",
            str(root / model),
            "--save-outputs",
        )
    return root


@pytest.fixture(scope="module")
def study_path(runs, dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study") / "study"
    output = invoke(
        "study",
        "create",
        str(runs),
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--trials-per-rater",
        "6",
        "--gold",
        "2",
    )
    assert "3 runs (gray, reinhard, welsh), 8 samples, 4 blocks of 6 trials + 2 gold" in output
    return out


def test_design_is_balanced_and_identified(study_path, runs, dataset, tmp_path):
    study = read_study(study_path)
    assert study.labels == list(MODELS) and study.record["show_reference"]  # reinhard and welsh read it
    runs_only = [trial for block in study.blocks for trial in block if not trial.gold]
    combos = Counter((trial.sample, frozenset((trial.left, trial.right))) for trial in runs_only)
    assert len(combos) == 3 * 8 and set(combos.values()) == {1}  # 4 blocks x 6 = every pair on every sample
    for block in study.blocks:
        gold = [trial for trial in block if trial.gold]
        assert (
            len(block) == 8
            and len(gold) == 2
            and {gold[0].left, gold[0].right} == {GOLD_CLEAN, GOLD_DEGRADED}
        )
        assert (
            len({frozenset((t.left, t.right)) for t in block if not t.gold}) == 3
        )  # every pair in every block
    assert Counter(trial.left for trial in runs_only) != Counter()  # sides drawn, each label seen on both
    assert {t.left for t in runs_only} == {t.right for t in runs_only} == set(MODELS)
    for trial in study.trials.values():
        for kind in ("input", "ref", trial.left, trial.right):
            assert study.image(kind, trial.sample).is_file()
    # the identity covers runs, dataset and design: another seed is another study
    other = tmp_path / "other"
    invoke("study", "create", str(runs), "--dataset", str(dataset), "--out", str(other), "--seed", "1")
    assert read_study(other).study_id != study.study_id
    # an edited study.json is refused, and so is one that does not fit its schema
    record = json.loads((other / STUDY_FILE).read_text())
    record["design"]["blocks"][0][0]["left"] = "welsh"
    (other / STUDY_FILE).write_text(json.dumps(record))
    with pytest.raises(PikfixError, match="study_id does not match"):
        read_study(other)
    record["runs"] = "x"
    (other / STUDY_FILE).write_text(json.dumps(record))
    with pytest.raises(PikfixError, match="runs: 'x' is not of type 'array'"):
        read_study(other)
    assert "exists and is not an empty folder" in invoke(
        "study", "create", str(runs), "--dataset", str(dataset), "--out", str(other), code=2
    )


def simulate(rng, labels, strengths, raters, samples, per_pair=1, tie=0.0, gold_wrong=()) -> list[Choice]:
    """Choices of raters who all follow the Davidson model with the given log-strengths and tie parameter."""
    choices = []
    for rater in range(raters):
        for (i, first), (j, second) in itertools.combinations(enumerate(labels), 2):
            for sample in samples[:per_pair]:
                weights = np.array(
                    [
                        np.exp(strengths[i]),
                        np.exp(strengths[j]),
                        tie * np.exp((strengths[i] + strengths[j]) / 2),
                    ]
                )
                outcome = rng.choice(["left", "right", "tie"], p=weights / weights.sum())
                if rng.random() < 0.5:
                    choices.append(Choice(f"r{rater}", sample, first, second, str(outcome)))
                else:
                    flipped = {"left": "right", "right": "left", "tie": "tie"}[str(outcome)]
                    choices.append(Choice(f"r{rater}", sample, second, first, flipped))
        wrong = rater in gold_wrong
        choices.append(
            Choice(f"r{rater}", samples[0], GOLD_CLEAN, GOLD_DEGRADED, "right" if wrong else "left")
        )
    return choices


def write_csv(path: Path, choices: list[Choice]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rater", "sample_id", "left", "right", "choice"])
        writer.writerows([c.rater, c.sample_id, c.left, c.right, c.choice] for c in choices)


STRENGTHS = {"gray": -1.0, "reinhard": 0.8, "welsh": 0.2}


@pytest.fixture(scope="module")
def imported(study_path, tmp_path_factory) -> Path:
    """The choices of 25 simulated raters (rater r3 fails the gold trial) imported from CSV; the file."""
    study = read_study(study_path)
    rng = np.random.default_rng(7)
    choices = simulate(
        rng, study.labels, [STRENGTHS[k] for k in study.labels], 25, study.samples, 2, 0.3, {3}
    )
    good = tmp_path_factory.mktemp("choices") / "choices.csv"
    write_csv(good, choices)
    assert f"{len(choices)} choices imported" in invoke(
        "study", "import", str(study_path), "--choices", str(good)
    )
    return good


def test_import_then_analyze_recovers_the_order(study_path, imported, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "rater,sample_id,left,right,choice\n"
        "ann,coffee,gray,welsh,left\n"
        "ann,nope,gray,welsh,left\n"
        "ann,coffee,grey,welsh,left\n"
        "ann,coffee,gray,welsh,maybe\n"
        "a\tb,coffee,gray,welsh,left\n"
        "ann,coffee,gray,gray,left\n"
    )
    refused = invoke("study", "import", str(study_path), "--choices", str(bad), code=2)
    for line, reason in [
        (3, "'nope' is not in the study"),
        (4, "'grey' is not a run label"),
        (5, "'maybe'"),
        (6, "rater id"),
        (7, "both 'gray'"),
    ]:
        assert f"line {line}: " in refused and reason in refused
    assert "line 2:" not in refused
    assert "was imported on" in invoke("study", "import", str(study_path), "--choices", str(imported), code=2)
    result = json.loads(invoke("study", "analyze", str(study_path), "--format", "json", "--bootstrap", "200"))
    assert [row["model"] for row in result["models"]] == ["reinhard", "welsh", "gray"]
    for row in result["models"]:
        assert row["ci_low"] < row["score"] < row["ci_high"]
    assert result["gold"]["excluded_raters"] == ["r3"]
    assert result["choices"]["raters_used"] == len(result["raters"]) - 1
    assert result["method"]["model"].startswith("Davidson") and 0.1 < result["tie_parameter"] < 0.6
    assert len(result["pairs"]) == 3 and result["agreement"]["krippendorff_alpha"] is not None
    markdown = invoke("study", "analyze", str(study_path), "--bootstrap", "20")
    assert "| 1 | reinhard |" in markdown and "excluded below 75%: r3" in markdown
    table = invoke("study", "analyze", str(study_path), "--format", "csv", "--bootstrap", "20").splitlines()
    assert table[0].startswith("rank,model,score,ci_low,ci_high") and table[1].startswith("1,reinhard,")


def test_leaderboard_and_report_show_the_study(study_path, imported, runs, tmp_path):
    table = invoke("leaderboard", str(runs), "--study", str(study_path))
    header, _, *rows = table.splitlines()
    assert header.endswith("| Preference |")
    strengths = {row.split(" | ")[0].strip("| "): row.split(" | ")[-1].rstrip(" |") for row in rows[:3]}
    assert set(strengths) == set(MODELS) and all(
        re.fullmatch(r"-?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]", s) for s in strengths.values()
    )
    assert "Note: Preference: Davidson (1970)" in table
    assert max(strengths, key=lambda model: float(strengths[model].split()[0])) == "reinhard"
    page = tmp_path / "report.html"
    invoke("report", str(runs), "--study", str(study_path), "--out", str(page))
    text = page.read_text()
    assert "<h2>Pairwise preferences</h2>" in text and 'class="leaderboard win-matrix"' in text
    assert text.count('<th scope="row">') == 3 and ">Preference</th>" in text


def test_simulated_studies_cover_the_true_strengths():
    """Known strengths are recovered in order, and their 95% intervals cover them at about that rate.

    20 simulated studies of 4 models and 30 raters (each rater judges every pair on 4 samples, with ties),
    150 bootstrap replicates each: 80 intervals. Were the coverage exactly 95 %, the count would be
    Binomial(80, 0.95): mean 76, standard deviation 1.95, so [68, 80] is the mean minus 4 standard
    deviations and up (a percentile bootstrap over 30 raters may under-cover a little); a broken interval
    (e.g. ignoring that a rater's choices go together, or a biased fit) lands far below. The seed makes
    the outcome fixed: this is a statistical check of the method, not a flaky test.
    """
    labels = ["a", "b", "c", "d"]
    truth = np.array([1.0, 0.4, 0.0, -1.4])
    truth -= truth.mean()
    study = Study(
        Path("simulated"),
        {"runs": [{"label": label} for label in labels], "study_id": "0" * 64, "dataset": {}},
    )
    rng = np.random.default_rng(2024)
    covered, ordered = 0, 0
    for repeat in range(20):
        choices = simulate(rng, labels, truth, 30, ["s0", "s1", "s2", "s3"], per_pair=4, tie=0.3)
        result = analyze(study, choices, replicates=150, seed=repeat)
        ordered += [row["model"] for row in result["models"]] == labels
        for row in result["models"]:
            covered += row["ci_low"] <= truth[labels.index(row["model"])] <= row["ci_high"]
    assert ordered == 20
    assert 68 <= covered <= 80, covered


@pytest.fixture
def served(study_path):
    """The study's server on a free port, in a thread."""
    study = read_study(study_path)
    server = make_server(study, ChoiceStore(study), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", study
    server.shutdown()
    server.server_close()


def fetch(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body else {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_server_checks_every_request(served):
    base, study = served
    status, page = fetch(base + "/")
    assert status == 200 and b'<script src="/static/study.js">' in page and b"cdn" not in page.lower()
    state = json.loads(fetch(base + "/api/state?rater=Eve%20K")[1])
    trial = state["trial"]
    assert state["done"] == 0 and state["total"] == 8 and trial["ref"]
    assert fetch(base + trial["left"])[1].startswith(b"\x89PNG")
    choice = {"rater": "Eve K", "trial": trial["id"], "choice": "left", "seconds": 2.5}
    assert json.loads(fetch(base + "/api/choice", json.dumps(choice).encode())[1])["done"] == 1
    assert (
        json.loads(fetch(base + "/api/choice", json.dumps(choice).encode())[1])["done"] == 1
    )  # first answer stands
    other_block = next(block[0] for block in study.blocks if trial["id"] not in {t.id for t in block})
    refused = [
        fetch(base + "/api/state?rater=" + "x" * 65),
        fetch(base + "/api/state?rater=%3Cscript%3E"),
        fetch(base + "/api/choice", json.dumps({**choice, "trial": "b99-0"}).encode()),
        fetch(base + "/api/choice", json.dumps({**choice, "trial": other_block.id}).encode()),
        fetch(base + "/api/choice", json.dumps({**choice, "choice": "both"}).encode()),
        fetch(base + "/api/choice", json.dumps({**choice, "seconds": -1}).encode()),
        fetch(base + "/api/choice", json.dumps({**choice, "extra": 1}).encode()),
        fetch(base + "/api/choice", b"{not json"),
        fetch(base + "/api/choice", b"x" * 5000),
        fetch(base + "/api/choice", json.dumps(choice).encode(), "application/x-www-form-urlencoded"),
        fetch(base + "/image/..%2F..%2Fstudy.json/left"),
        fetch(base + "/image/" + trial["id"] + "/..%2Fstudy.json"),
        fetch(base + "/static/..%2Fstudy.json"),
        fetch(base + "/" + STUDY_FILE),
    ]
    assert [status for status, _ in refused] == [400] * 8 + [413, 415, 400, 400, 404, 404]
    with sqlite3.connect(study.path / DATABASE_FILE) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = db.execute("SELECT rater, trial, choice FROM choices WHERE source = 'serve'").fetchall()
    assert rows == [("Eve K", trial["id"], "left")]


CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def start_server(study_path: Path) -> tuple[subprocess.Popen, str]:
    """``pikfix-bench study serve`` on a free port in its own process, and its address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pikfix_bench.cli", "study", "serve", str(study_path), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert match, line
    return process, match.group(0)


def stored(study_path: Path, rater: str) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(study_path / DATABASE_FILE)) as db:
        query = "SELECT trial, choice FROM choices WHERE rater = ? ORDER BY id"
        return db.execute(query, (rater,)).fetchall()


@pytest.mark.skipif(
    shutil.which("chromium") is None or not Path(CHROMEDRIVER).is_file(),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
def test_rater_page_by_keyboard_survives_a_killed_server(study_path, tmp_path):
    pytest.importorskip("selenium", reason="selenium is in the test extra")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-proxy-server", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    wait = WebDriverWait(driver, 30)
    progress = lambda done: wait.until(  # noqa: E731
        lambda d: d.find_element(By.ID, "progress-text").text == f"{done} of 8 answered"
    )
    block = read_study(study_path).blocks
    server, base = start_server(study_path)

    def browser_log() -> list[str]:
        """The browser's console messages since the last call (reading the log empties it)."""
        return [entry["message"] for entry in driver.get_log("browser") if "favicon" not in entry["message"]]

    try:
        driver.get(base)
        assert (
            driver.switch_to.active_element.get_attribute("id") == "rater"
        )  # focus starts in the name field
        driver.find_element(By.ID, "rater").send_keys("Rita", Keys.ENTER)
        progress(0)
        assert driver.switch_to.active_element.get_attribute("id") == "trial-title"
        for image in ("input", "ref", "left", "right"):
            element = driver.find_element(By.ID, image)
            assert element.get_attribute("alt")
            wait.until(lambda d, e=element: d.execute_script("return arguments[0].naturalWidth", e) > 0)
        frame = driver.find_element(By.ID, "left").find_element(By.XPATH, "..")
        frame.click()  # zoom pinned by a click, and its button says so
        assert "zoomed" in frame.get_attribute("class")
        assert (
            driver.find_element(By.CSS_SELECTOR, "button.zoom[data-target='left']").get_attribute(
                "aria-pressed"
            )
            == "true"
        )
        for done, key in enumerate((Keys.ARROW_LEFT, Keys.ARROW_RIGHT, "t"), 1):
            ActionChains(driver).send_keys(key).perform()
            progress(done)
        assert browser_log() == []  # no script error, no refused request, no CSP violation so far
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        # a request in flight when the server died (the next trial's images) may fail: only that, at most
        assert all("net::ERR_CONNECTION_" in message for message in browser_log())
        rita = stored(study_path, "Rita")
        rita_block = next(b for b in block if [t.id for t in b[:3]] == [trial for trial, _ in rita])
        assert [choice for _, choice in rita] == ["left", "right", "tie"]  # every choice outlived the server
        server, base = start_server(study_path)
        driver.get(base)
        driver.find_element(By.ID, "rater").send_keys("Rita", Keys.ENTER)
        progress(3)  # resumed where the rater stopped
        assert driver.find_element(By.ID, "position").text == "4 of 8"
        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()
        progress(4)
        assert stored(study_path, "Rita") == [*rita, (rita_block[3].id, "right")]
        assert browser_log() == []  # none either after the restart
    finally:
        driver.quit()
        server.kill()
        server.wait(timeout=30)


def test_intervals_from_too_few_raters_come_with_a_warning(study_path):
    study = read_study(study_path)
    labels = study.labels
    samples = study.samples[:1]
    strengths = np.linspace(-1, 1, len(labels))
    few = analyze(study, simulate(np.random.default_rng(1), labels, strengths, 2, samples), replicates=50)
    assert any("2 raters" in warning for warning in few["warnings"])
    many = analyze(study, simulate(np.random.default_rng(1), labels, strengths, 30, samples), replicates=50)
    assert many["warnings"] == []
