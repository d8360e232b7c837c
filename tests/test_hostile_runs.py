"""Hostile conditions at the run boundary: two processes on one run, a full disk, odd rows, odd outputs.

The full-disk tests mount a real tmpfs of a few MB (they need root, as CI and the development
machines have; elsewhere they are skipped) and run the command line in a child process, so that a
crash inside HDF5 is seen as a failure rather than taking the test runner down.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pikfix_bench.cli import main
from pikfix_bench.datasets.store import Dataset, verify_dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.rundir import RunDirectory
from pikfix_bench.json_io import write_json

PROGRESS_LINE = re.compile(r"^.+: \d+/\d+ \w+ \(\d+%\), ")  # pikfix_bench.progress off a terminal


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pikfix_bench.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _refused_cleanly(done: subprocess.CompletedProcess, *fragments: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    # one message, not a dump (the plain progress lines a run writes off a terminal do not count)
    messages = [line for line in done.stderr.strip().splitlines() if not PROGRESS_LINE.match(line)]
    assert len(messages) <= 3, output
    for fragment in fragments:
        assert fragment in output, output


# -- 6. two processes on one run directory ---------------------------------------------------------


def test_a_second_evaluate_on_the_same_run_exits_at_once_naming_the_holder(dataset, tmp_path):
    out = tmp_path / "run"
    slow = "command=sleep 6 && cp {input_dir}/* {output_dir}/"
    first = subprocess.Popen(
        [sys.executable, "-m", "pikfix_bench.cli", "evaluate", "--model", "command", "--model-opt", slow,
         "--dataset", str(dataset), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "run.json").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        started = time.monotonic()
        second = _cli("evaluate", "--model", "gray", "--dataset", dataset, "--out", out, "--resume")
        _refused_cleanly(second, str(out), f"process {first.pid}")
        assert time.monotonic() - started < 30  # at once, not after doing the work
    finally:
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stdout + stderr
    rows = RunDirectory(out).per_image()
    assert sorted(rows["sample_id"]) == sorted(Dataset(dataset).ids)


def test_a_second_build_of_the_same_out_exits_at_once_naming_the_holder(tmp_path):
    """Two ``build-dataset`` on one ``--out`` would write the same shards and merge into one folder: the
    build holds an OS lock on ``OUT.partial`` and a second one (``--resume`` or ``--force`` alike) stops
    at once naming the holder; a lock file left by a killed build blocks nothing."""
    out = tmp_path / "ds"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom pikfix_bench.locking import folder_lock\n"
         "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)",
         str(tmp_path / "ds.partial")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in ((), ("--resume",), ("--force",)):
            done = _cli("build-dataset", "sample", "--out", out, "--size", "32", *extra)
            _refused_cleanly(done, "ds.partial", f"process {holder.pid}")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "ds.partial" / ".lock").is_file()  # what a killed build leaves
    assert _cli("build-dataset", "sample", "--out", out, "--size", "32").returncode == 0
    assert not (tmp_path / "ds.partial").exists()
    assert verify_dataset(out) == []


# -- 7. a full disk --------------------------------------------------------------------------------


class SmallDisk:
    """A real tmpfs of a few MB, mounted and grown with ``mount`` (root only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    def resize(self, megabytes: int) -> None:
        options = f"remount,size={megabytes}m" if self.mounted else f"size={megabytes}m"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)], capture_output=True
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        self.mounted = True

    def __truediv__(self, name: str) -> Path:
        return self.path / name


@pytest.fixture
def small_disk(tmp_path):
    """An unmounted :class:`SmallDisk` under ``tmp_path``, unmounted again afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = SmallDisk(tmp_path / "disk")
    disk.path.mkdir()
    yield disk
    if disk.mounted:
        subprocess.run(["umount", str(disk.path)], capture_output=True)


@pytest.mark.parametrize("megabytes", [3, 5])
def test_build_dataset_on_a_full_disk_exits_cleanly_and_resumes(megabytes, small_disk, tmp_path):
    small_disk.resize(megabytes)
    out = small_disk / "ds"
    done = _cli("build-dataset", "sample", "--out", out, "--size", "256")
    _refused_cleanly(done, "No space left on device")
    assert not list(small_disk.path.glob("*staging*"))
    assert not out.exists()
    small_disk.resize(64)
    resumed = _cli("build-dataset", "sample", "--out", out, "--size", "256", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    clean = _cli("build-dataset", "sample", "--out", tmp_path / "clean", "--size", "256")
    assert clean.returncode == 0
    assert Dataset(out).content_hash == Dataset(tmp_path / "clean").content_hash


def test_evaluate_on_a_full_disk_exits_cleanly_and_resumes(dataset, small_disk, tmp_path):
    small_disk.resize(1)
    filler = small_disk / "filler"
    filler.write_bytes(bytes(1024 * 1024 - 48 * 1024))  # leaves room for run.json, not for the outputs
    out = small_disk / "run"
    done = _cli("evaluate", "--model", "reinhard", "--dataset", dataset, "--out", out, "--save-outputs")
    _refused_cleanly(done, "No space left on device")
    assert not RunDirectory(out).is_finished()
    filler.unlink()
    small_disk.resize(64)
    resumed = _cli(
        "evaluate", "--model", "reinhard", "--dataset", dataset, "--out", out, "--save-outputs", "--resume"
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    clean = _cli("evaluate", "--model", "reinhard", "--dataset", dataset, "--out", tmp_path / "clean")
    assert clean.returncode == 0
    scores = [RunDirectory(path).per_image().drop(columns="seconds") for path in (out, tmp_path / "clean")]
    assert scores[0].equals(scores[1])
    assert len(list((out / "outputs").glob("*.png"))) == len(Dataset(dataset))


def test_a_run_whose_last_record_write_failed_is_not_finished(dataset, tmp_path, monkeypatch):
    original = RunDirectory.write_run

    def failing(self, run):
        if "finished" in run:
            raise OSError(28, "No space left on device", str(self.path / "run.json"))
        original(self, run)

    monkeypatch.setattr(RunDirectory, "write_run", failing)
    result = CliRunner().invoke(
        main, ["evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2 and "No space left on device" in result.output, result.output
    assert not RunDirectory(tmp_path / "run").is_finished()
    monkeypatch.setattr(RunDirectory, "write_run", original)
    resumed = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "gray",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "run"),
            "--resume",
        ],
    )
    assert resumed.exit_code == 0, resumed.output
    assert RunDirectory(tmp_path / "run").is_finished()


# -- 8. per_image.csv rows are parsed as CSV, not as lines -----------------------------------------


def test_per_image_rows_with_a_quoted_line_break_are_read_as_one_row(tmp_path):
    (tmp_path / "per_image.csv").write_text(
        'sample_id,psnr,seconds\n"a\nb",20.5,0.1\nc,21.0,0.1\n', newline=""
    )
    rows, problems = RunDirectory(tmp_path).scored_rows(["psnr"], {"a\nb", "c"})
    assert problems == []
    assert list(rows["sample_id"]) == ["a\nb", "c"]


def test_a_torn_last_row_is_still_dropped(tmp_path):
    (tmp_path / "per_image.csv").write_text('sample_id,psnr,seconds\nc,21.0,0.1\n"d,2', newline="")
    rows, problems = RunDirectory(tmp_path).scored_rows(["psnr"], {"c", "d"})
    assert list(rows["sample_id"]) == ["c"]
    assert len(problems) == 1 and "cut before its line ending" in problems[0]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from('ab,"\n\r1.5x\x00é'), max_size=120))
def test_any_per_image_file_gives_rows_and_reasons_never_an_exception(text, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rows")
    (folder / "per_image.csv").write_text("sample_id,psnr,seconds\n" + text, newline="")
    rows, problems = RunDirectory(folder).scored_rows(["psnr"], {"a", "b", "ab"})
    assert set(rows["sample_id"]) <= {"a", "b", "ab"}
    assert all(isinstance(problem, str) for problem in problems)


# -- 12. output paths of the wrong kind ------------------------------------------------------------


def test_evaluate_into_a_file_is_refused(dataset, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    _refused_cleanly(
        _cli("evaluate", "--model", "gray", "--dataset", dataset, "--out", target),
        str(target),
        "not a folder",
    )
    assert target.read_text() == "keep me"


def test_build_dataset_force_onto_a_file_is_refused_and_leaves_nothing(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    _refused_cleanly(_cli("build-dataset", "sample", "--out", target, "--size", "32", "--force"), str(target))
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_build_dataset_force_onto_a_folder_that_is_no_dataset_is_refused(tmp_path):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "wedding.jpg").write_bytes(b"not really a jpeg")
    _refused_cleanly(
        _cli("build-dataset", "sample", "--out", precious, "--size", "32", "--force"),
        "not a pikfix-bench dataset",
    )
    assert (precious / "wedding.jpg").exists()


def test_export_into_a_file_is_refused(dataset, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    _refused_cleanly(_cli("dataset", "export", dataset, "--out", target), str(target))
    assert target.read_text() == "keep me"


# -- 13. files follow the umask --------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(umask, mode, tmp_path):
    previous = os.umask(umask)
    try:
        write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(previous)
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == mode


def test_a_run_is_readable_by_colleagues_under_umask_022(dataset, tmp_path):
    previous = os.umask(0o022)
    try:
        result = CliRunner().invoke(
            main,
            [
                "evaluate",
                "--model",
                "gray",
                "--dataset",
                str(dataset),
                "--out",
                str(tmp_path / "run"),
                "--save-outputs",
            ],
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert modes and all(mode == 0o644 for mode in modes.values()), modes


def test_run_records_that_are_not_json_are_one_error(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps([1, 2]))
    with pytest.raises(PikfixError, match="run.json"):
        RunDirectory(tmp_path).read_run()


def test_a_record_with_an_integer_too_long_to_parse_is_one_error(tmp_path):
    (tmp_path / "run.json").write_text('{"model": ' + "1" * 5000 + "}")
    with pytest.raises(PikfixError, match="run.json"):
        RunDirectory(tmp_path).read_run()


# -- links and special files planted in a run directory by someone else -----------------------------


@pytest.mark.parametrize("planted", ["per_image.csv", "errors.csv", ".lock"])
def test_a_link_planted_in_a_run_directory_is_never_written_through(planted, dataset, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / planted).symlink_to(victim)
    # a command that fails every sample, so that errors.csv is written too (and per_image.csv and .lock)
    failing = ["--model", "command", "--model-opt", "command=exit 3"]
    result = CliRunner().invoke(main, ["evaluate", *failing, "--dataset", str(dataset), "--out", str(out)])
    assert victim.read_text() == "precious\n"
    if planted == "errors.csv":  # a run starts by removing the errors of an earlier attempt: the link goes
        assert result.exit_code == 1 and not (out / planted).is_symlink(), result.output
        assert "exited with status 3" in (out / planted).read_text()
        return
    assert result.exit_code == 2 and planted in result.output and "link" in result.output, result.output


def test_a_link_to_dev_null_as_per_image_is_refused_not_counted_as_a_run(dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "per_image.csv").symlink_to("/dev/null")
    result = CliRunner().invoke(
        main, ["evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert not RunDirectory(out).is_finished()


def test_a_fifo_as_the_lock_file_is_one_line_naming_it(dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / ".lock")
    result = CliRunner().invoke(
        main, ["evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(out)]
    )
    assert result.exit_code == 2 and ".lock" in result.output, result.output


def test_a_linked_outputs_folder_is_refused(dataset, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    (out / "outputs").symlink_to(elsewhere)
    result = CliRunner().invoke(
        main, ["evaluate", "--model", "gray", "--dataset", str(dataset), "--out", str(out), "--save-outputs"]
    )
    assert result.exit_code == 2 and "outside" in result.output, result.output
    assert list(elsewhere.iterdir()) == []


def test_a_linked_export_subfolder_is_refused(dataset, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "export"
    out.mkdir()
    (out / "input").symlink_to(elsewhere)
    result = CliRunner().invoke(main, ["dataset", "export", str(dataset), "--out", str(out)])
    assert result.exit_code == 2 and "outside" in result.output, result.output
    assert list(elsewhere.iterdir()) == []


def test_build_dataset_force_replaces_only_a_folder_holding_a_dataset_and_nothing_else(tmp_path):
    fake = tmp_path / "fakeds"
    fake.mkdir()
    (fake / "manifest.json").write_text("{}")
    (fake / "precious.txt").write_text("keep")
    _refused_cleanly(
        _cli("build-dataset", "sample", "--out", fake, "--size", "32", "--force"), "precious.txt"
    )
    assert (fake / "precious.txt").read_text() == "keep"


def test_build_dataset_force_onto_a_link_is_refused(tmp_path):
    assert _cli("build-dataset", "sample", "--out", tmp_path / "real", "--size", "32").returncode == 0
    (tmp_path / "link").symlink_to(tmp_path / "real")
    _refused_cleanly(
        _cli("build-dataset", "sample", "--out", tmp_path / "link", "--size", "32", "--force"), "link"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_build_dataset_never_deletes_a_folder_of_the_user_named_like_its_scratch(tmp_path):
    assert _cli("build-dataset", "sample", "--out", tmp_path / "ds", "--size", "32").returncode == 0
    for scratch in ("ds.old", "ds.staging"):
        (tmp_path / scratch).mkdir()
        (tmp_path / scratch / "mine.txt").write_text("keep")
    assert (
        _cli("build-dataset", "sample", "--out", tmp_path / "ds", "--size", "32", "--force").returncode == 0
    )
    assert (tmp_path / "ds.old" / "mine.txt").exists() and (tmp_path / "ds.staging" / "mine.txt").exists()


def test_a_linked_training_log_is_never_written_through(dataset, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "train"
    out.mkdir()
    (out / "log.csv").symlink_to(victim)
    done = _cli(
        "train",
        "--dataset",
        dataset,
        "--out",
        out,
        "--epochs",
        "1",
        "--crop",
        "32",
        "--batch-size",
        "4",
        "--workers",
        "0",
    )
    assert victim.read_text() == "precious\n"
    _refused_cleanly(done, "log.csv", "link")


def test_scratch_copies_left_by_a_killed_merge_are_removed_by_the_next_build(tmp_path):
    """A build killed during its merge leaves ``.OUT.staging-XXXXXXXX`` (a whole copy of the data) and, in
    the swap, ``.OUT.old-XXXXXXXX``; the next build of that ``--out`` (it holds the lock) removes them, and
    nothing else: a user's folder of a similar name stays."""
    out = tmp_path / "ds"
    for name in (".ds.staging-k2j_x8a1", ".ds.old-0a9b8c7d"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "samples.h5").write_bytes(b"x" * 1000)
    for name in (".ds.staging-mine", "ds.staging-k2j_x8a1", ".dsx.staging-k2j_x8a1"):
        (tmp_path / name).mkdir()
    assert _cli("build-dataset", "sample", "--out", out, "--size", "32").returncode == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".ds.staging-mine", ".dsx.staging-k2j_x8a1", "ds", "ds.staging-k2j_x8a1"
    ]  # fmt: skip
