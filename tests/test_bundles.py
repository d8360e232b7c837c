"""Run bundles and ``rescore``: numbers anyone can re-derive from the outputs, and hostile bundles refused.

Bundles are made from real runs of the sample set, edited as a dishonest submitter or a hostile
archive would be (real zip files, with ``bundle.json`` rewritten to match), and re-scored.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pikfix_bench.bundle import BUNDLE_FILE, open_bundle, write_bundle
from pikfix_bench.cli import main
from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.rundir import RunDirectory


def _run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def saved_run(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "reinhard"
    result = _run("evaluate", "--model", "reinhard", "--dataset", dataset, "--out", out, "--save-outputs")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def bundle(saved_run, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundles") / "reinhard.zip"
    result = _run("bundle", saved_run, "--out", path)
    assert result.exit_code == 0, result.output
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _rewrite(
    path: Path, members: dict[str, bytes], reindex: bool = True, extra: list[zipfile.ZipInfo] = ()
) -> None:
    """Write ``members`` as a zip at ``path``; with ``reindex``, bundle.json lists their true sha256."""
    if reindex:
        index = json.loads(members[BUNDLE_FILE])
        index["files"] = {
            name: hashlib.sha256(data).hexdigest() for name, data in members.items() if name != BUNDLE_FILE
        }
        members = {**members, BUNDLE_FILE: json.dumps(index).encode()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info in extra:
            archive.writestr(info, b"x")


def test_a_bundle_holds_the_run_and_every_output_with_their_hashes(bundle, saved_run, dataset):
    members = _members(bundle)
    index = json.loads(members[BUNDLE_FILE])
    assert index["format"] == 1 and index["dataset"]["content_hash"] == Dataset(dataset).content_hash
    assert set(index["files"]) == set(members) - {BUNDLE_FILE}
    assert {f"outputs/{i}.png" for i in Dataset(dataset).ids} <= set(members)
    assert {"run.json", "per_image.csv", "summary.json"} <= set(members)
    for name, digest in index["files"].items():
        assert hashlib.sha256(members[name]).hexdigest() == digest


def test_the_same_run_gives_the_same_bundle_bytes(bundle, saved_run, tmp_path):
    write_bundle(saved_run, tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == bundle.read_bytes()


def test_a_run_saved_without_outputs_is_refused_naming_save_outputs(dataset, tmp_path):
    assert _run("evaluate", "--model", "gray", "--dataset", dataset, "--out", tmp_path / "run").exit_code == 0
    result = _run("bundle", tmp_path / "run", "--out", tmp_path / "b.zip")
    assert result.exit_code == 2 and "--save-outputs" in result.output
    assert not (tmp_path / "b.zip").exists()


def test_an_honest_bundle_is_rescored_into_a_verified_run(bundle, saved_run, dataset, tmp_path):
    result = _run("rescore", bundle, "--dataset", dataset, "--out", tmp_path / "rescored", "--device", "cpu")
    assert result.exit_code == 0, result.output
    run = RunDirectory(tmp_path / "rescored")
    record = run.read_run()
    assert record["rescored_from"]["agrees"] is True
    assert record["rescored_from"]["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert record["rescored_from"]["tolerances"] == {}  # same device type and batch size: the same bits
    assert record["model"] == RunDirectory(saved_run).read_run()["model"]
    assert run.per_image().equals(
        RunDirectory(saved_run).per_image().assign(seconds=run.per_image()["seconds"])
    )
    assert run.is_finished()


def test_one_edited_value_is_named_with_its_sample_metric_and_size(bundle, dataset, tmp_path):
    members = _members(bundle)
    lines = members["per_image.csv"].decode().splitlines()
    header, victim = lines[0].split(","), lines[3].split(",")
    column = header.index("psnr")
    victim[column] = repr(float(victim[column]) + 0.5)
    lines[3] = ",".join(victim)
    members["per_image.csv"] = ("\n".join(lines) + "\n").encode()
    dishonest = tmp_path / "dishonest.zip"
    _rewrite(dishonest, members)  # bundle.json updated to match, as a dishonest submitter would
    result = _run(
        "rescore", dishonest, "--dataset", dataset, "--out", tmp_path / "rescored", "--device", "cpu"
    )
    assert result.exit_code == 1, result.output
    assert f"{victim[0]} psnr" in result.output and "-0.5" in result.output
    assert RunDirectory(tmp_path / "rescored").read_run()["rescored_from"]["agrees"] is False


def test_a_missing_output_is_a_failed_sample_not_a_smaller_mean(bundle, dataset, tmp_path):
    members = _members(bundle)
    gone = sorted(name for name in members if name.startswith("outputs/"))[0]
    del members[gone]
    partial = tmp_path / "partial.zip"
    _rewrite(partial, members)
    result = _run("rescore", partial, "--dataset", dataset, "--out", tmp_path / "rescored", "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert Path(gone).stem in result.output and "scored only in the bundle" in result.output


HOSTILE = {
    "a ../ entry": lambda m: {**m, "../escaped.txt": b"x"},
    "an absolute entry": lambda m: {**m, "/tmp/escaped.txt": b"x"},
    "a backslash entry": lambda m: {**m, "outputs\\..\\..\\escaped.png": b"x"},
    "a member that is no part of a bundle": lambda m: {**m, "notes.txt": b"x"},
    "an output of a sample the dataset lacks": lambda m: {
        **m,
        "outputs/invented.png": m[next(n for n in m if n.startswith("outputs/"))],
    },
    "a JPEG output": lambda m: {
        **m,
        next(n for n in m if n.startswith("outputs/")): b"\xff\xd8\xff\xe0" + bytes(200),
    },
    "an output of another size": lambda m: {**m, next(n for n in m if n.startswith("outputs/")): _png(8, 8)},
    "an oversized run.json": lambda m: {**m, "run.json": b" " * (65 << 20)},
}


def _png(width: int, height: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_bundles_are_refused_with_nothing_written(attack, bundle, dataset, tmp_path):
    hostile = tmp_path / "work" / "hostile.zip"
    hostile.parent.mkdir()
    _rewrite(hostile, HOSTILE[attack](_members(bundle)))
    before = set(tmp_path.rglob("*"))
    result = _run("rescore", hostile, "--dataset", dataset, "--out", tmp_path / "work" / "rescored")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and str(hostile) in result.output
    assert set(tmp_path.rglob("*")) == before
    assert not Path("/tmp/escaped.txt").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the hostile zip is written here on purpose
def test_links_folders_and_duplicates_are_refused(bundle, dataset, tmp_path):
    link = zipfile.ZipInfo("outputs/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    folder = zipfile.ZipInfo("outputs/sub/")
    for extra, expected in ((link, "link"), (folder, "outputs/sub/")):
        hostile = tmp_path / f"{expected[:4]}.zip"
        _rewrite(hostile, _members(bundle), reindex=False, extra=[extra])
        with pytest.raises(PikfixError, match=expected.replace("/", ".")):
            with open_bundle(hostile, Dataset(dataset)):
                pass
    members = _members(bundle)
    duplicated = tmp_path / "dup.zip"
    with zipfile.ZipFile(duplicated, "w") as archive:
        for name, data in [*members.items(), ("run.json", members["run.json"])]:
            archive.writestr(name, data)
    with pytest.raises(PikfixError, match="more than once"):
        with open_bundle(duplicated, Dataset(dataset)):
            pass


def test_a_member_that_does_not_match_its_hash_is_refused(bundle, dataset, tmp_path):
    members = _members(bundle)
    members["summary.json"] = b"{}"
    edited = tmp_path / "edited.zip"
    _rewrite(edited, members, reindex=False)
    with pytest.raises(PikfixError, match="summary.json.*sha256"):
        with open_bundle(edited, Dataset(dataset)):
            pass


def test_a_bundle_made_on_another_dataset_content_is_refused(bundle, tmp_path):
    other = tmp_path / "other"
    assert _run("build-dataset", "sample", "--out", other, "--size", "48", "--seed", "1").exit_code == 0
    result = _run("rescore", bundle, "--dataset", other, "--out", tmp_path / "r")
    assert result.exit_code == 2 and "dataset content" in result.output


def test_a_zip_bomb_is_refused_by_its_size_before_it_is_inflated(bundle, dataset, tmp_path):
    members = _members(bundle)
    name = next(n for n in members if n.startswith("outputs/"))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, bytes(200 << 20) if member == name else data)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(PikfixError, match="more than"):
        with open_bundle(bomb, Dataset(dataset)):
            pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400))
def test_any_bytes_as_a_bundle_give_one_pikfix_error(raw, dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("any") / "b.zip"
    path.write_bytes(raw)
    with pytest.raises(PikfixError):
        with open_bundle(path, Dataset(dataset)):
            pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=JSON)
def test_any_bundle_index_gives_a_bundle_or_one_pikfix_error(index, bundle, dataset, tmp_path_factory):
    members = {**_members(bundle), BUNDLE_FILE: json.dumps(index).encode()}
    path = tmp_path_factory.mktemp("index") / "b.zip"
    _rewrite(path, members, reindex=False)
    with pytest.raises(PikfixError):
        with open_bundle(path, Dataset(dataset)):
            pass


def test_the_leaderboard_marks_rescored_rows_and_never_a_disagreeing_one(
    bundle, saved_run, dataset, tmp_path
):
    runs = tmp_path / "runs"
    assert (
        _run("rescore", bundle, "--dataset", dataset, "--out", runs / "honest", "--device", "cpu").exit_code
        == 0
    )
    members = _members(bundle)
    lines = members["per_image.csv"].decode().splitlines()
    fields = lines[1].split(",")
    fields[1] = repr(float(fields[1]) + 1.0)
    lines[1] = ",".join(fields)
    members["per_image.csv"] = ("\n".join(lines) + "\n").encode()
    _rewrite(tmp_path / "dishonest.zip", members)
    rescored = _run("rescore", tmp_path / "dishonest.zip", "--dataset", dataset, "--out", runs / "dishonest")
    assert rescored.exit_code == 1
    (runs / "dishonest" / "run.json").write_text(  # a second label, so that both rows show
        json.dumps({**json.loads((runs / "dishonest" / "run.json").read_text()), "label": "dishonest"})
    )
    assert _run("evaluate", "--model", "gray", "--dataset", dataset, "--out", runs / "plain").exit_code == 0
    table = _run("leaderboard", runs, "--format", "md")
    assert table.exit_code == 0, table.output
    rows = {line.split("|")[1].strip(): line for line in table.output.splitlines() if line.startswith("| ")}
    assert "Verified" in table.output.splitlines()[0]
    assert rows["reinhard"].rstrip(" |").endswith("✓")
    assert not rows["dishonest"].rstrip(" |").endswith("✓") and not rows["gray"].rstrip(" |").endswith("✓")
    frame = json.loads(_run("leaderboard", runs, "--format", "json").output)["rows"]
    assert {row["model"]: row["verified"] for row in frame} == {
        "reinhard": True,
        "dishonest": False,
        "gray": False,
    }
    only = _run("leaderboard", runs, "--format", "md", "--verified-only")
    assert "reinhard" in only.output and "dishonest" not in only.output and "| gray" not in only.output
    html = _run("leaderboard", runs, "--format", "html")
    assert "✓" in html.output


def test_a_verified_rescoring_is_chosen_over_the_run_it_was_made_from(bundle, saved_run, dataset, tmp_path):
    """A rescored run keeps the submitted run's times: of the two, the one this toolkit re-derived wins."""
    runs = tmp_path / "runs"
    shutil.copytree(saved_run, runs / "zz-submitted")  # sorts after the rescored one by path
    assert (
        _run(
            "rescore", bundle, "--dataset", dataset, "--out", runs / "aa-rescored", "--device", "cpu"
        ).exit_code
        == 0
    )
    table = _run("leaderboard", runs, "--format", "md")
    assert "the newest (" in table.output and "aa-rescored) is used" in table.output, table.output
    row = next(line for line in table.output.splitlines() if line.startswith("| reinhard"))
    assert row.rstrip(" |").endswith("✓")
