"""Hostile input at the dataset boundary: datasets someone else built, edited or broke.

Each test crafts the file as an attacker or a broken disk would (real HDF5, real JSON, the content
hash recomputed where an attacker would recompute it) and expects a clear exit 2 that names the file
and the problem, no traceback, and nothing written outside an output folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pikfix_bench.cli import main
from pikfix_bench.datasets.store import MANIFEST_FILE, SAMPLES_FILE, Dataset, content_hash, group_name
from pikfix_bench.errors import PikfixError
from pikfix_bench.safe_paths import name_problem, path_inside

HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _copy(dataset: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "hostile"
    shutil.copytree(dataset, copy)
    return copy


def _manifest(path: Path) -> dict:
    return json.loads((path / MANIFEST_FILE).read_text())


def _write_manifest(path: Path, manifest: object) -> None:
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def _rehash(manifest: dict) -> dict:
    """The content hash an attacker recomputes after editing samples (so ``verify`` alone is fooled)."""
    ordered = sorted(manifest["samples"], key=lambda sample: sample["id"])
    return {**manifest, "content_hash": content_hash(manifest["recipe"], ordered)}


def _rename_sample(path: Path, old: str, new: str) -> None:
    """Give sample ``old`` the id ``new`` in the manifest and in ``samples.h5``, hash recomputed."""
    manifest = _manifest(path)
    for sample in manifest["samples"]:
        if sample["id"] == old:
            sample["id"] = new
    with h5py.File(path / SAMPLES_FILE, "r+") as handle:
        group = handle["samples"]
        group.move(group_name(old), group_name(new))
        meta = json.loads(group[group_name(new)].attrs["meta"])
        group[group_name(new)].attrs["meta"] = json.dumps({**meta, "id": new})
    _write_manifest(path, _rehash(manifest))


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_clean_refusal(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for fragment in fragments:
        assert fragment in result.output, result.output


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


# -- 1. sample ids that are paths ----------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["../../../escaped", "ABSOLUTE", "a/../../escaped", "line\nbreak", "a//b"])
def test_a_dataset_with_a_path_like_id_is_refused_by_every_command(bad_id, dataset, tmp_path):
    if bad_id == "ABSOLUTE":
        bad_id = str(tmp_path / "outside" / "escaped")
    hostile = _copy(dataset, tmp_path)
    _rename_sample(hostile, Dataset(dataset).ids[0], bad_id)
    before = _files_under(tmp_path)
    for args in (
        ["dataset", "export", hostile, "--out", tmp_path / "export"],
        ["evaluate", "--model", "gray", "--dataset", hostile, "--out", tmp_path / "run", "--save-outputs"],
        ["dataset", "info", hostile],
        ["dataset", "verify", hostile],
    ):
        _assert_clean_refusal(_run(*args), MANIFEST_FILE, "sample id")
    assert _files_under(tmp_path) == before  # nothing written anywhere, inside or out
    assert not (tmp_path / "run" / "run.json").exists()


def test_export_builds_every_path_inside_its_folder(dataset, tmp_path, monkeypatch):
    """Even an id that slipped past the door cannot leave the export folder (one helper builds paths)."""
    monkeypatch.setattr("pikfix_bench.datasets.store.name_problem", lambda name: None)
    hostile = _copy(dataset, tmp_path)
    _rename_sample(hostile, Dataset(dataset).ids[0], "../../escaped")
    _assert_clean_refusal(_run("dataset", "export", hostile, "--out", tmp_path / "a" / "export"), "escaped")
    assert not list(tmp_path.rglob("escaped*"))


def test_duplicate_ids_are_refused(dataset, tmp_path):
    hostile = _copy(dataset, tmp_path)
    manifest = _manifest(hostile)
    manifest["samples"][1]["id"] = manifest["samples"][0]["id"]
    _write_manifest(hostile, _rehash(manifest))
    _assert_clean_refusal(_run("dataset", "info", hostile), "more than once")


# -- 4. data that changed after it was built -------------------------------------------------------


def test_an_edited_content_hash_is_refused_before_any_work(dataset, tmp_path):
    hostile = _copy(dataset, tmp_path)
    manifest = _manifest(hostile)
    manifest["content_hash"] = "0" * 64
    _write_manifest(hostile, manifest)
    result = _run("evaluate", "--model", "gray", "--dataset", hostile, "--out", tmp_path / "run")
    _assert_clean_refusal(result, MANIFEST_FILE, "content_hash")
    assert not (tmp_path / "run").exists()
    _assert_clean_refusal(_run("dataset", "export", hostile, "--out", tmp_path / "export"), "content_hash")


def test_a_sample_removed_from_the_manifest_is_refused(dataset, tmp_path):
    hostile = _copy(dataset, tmp_path)
    manifest = _manifest(hostile)
    del manifest["samples"][3]
    _write_manifest(hostile, manifest)  # the clean hash kept: the attacker hopes it is trusted
    _assert_clean_refusal(
        _run("evaluate", "--model", "gray", "--dataset", hostile, "--out", tmp_path / "run"), "content_hash"
    )


def _zero_bytes_inside(path: Path, sample_id: str, array: str) -> None:
    """Overwrite 64 bytes in the middle of one stored array, as a bad sector or an editor would."""
    with h5py.File(path / SAMPLES_FILE, "r+") as handle:
        stored = handle["samples"][group_name(sample_id)][array]
        location = (
            stored.id.get_offset() if stored.chunks is None else stored.id.get_chunk_info(0).byte_offset
        )
        size = stored.id.get_storage_size()
    with open(path / SAMPLES_FILE, "r+b") as raw:
        raw.seek(location + size // 2)
        raw.write(bytes(64))


@pytest.mark.parametrize("array", ["input", "gt"])
def test_zeroed_bytes_inside_an_array_are_never_scored(array, dataset, tmp_path):
    hostile = _copy(dataset, tmp_path)
    victim = Dataset(dataset).ids[2]
    _zero_bytes_inside(hostile, victim, array)
    result = _run("evaluate", "--model", "gray", "--dataset", hostile, "--out", tmp_path / "run")
    _assert_clean_refusal(result, victim, array)
    assert not (tmp_path / "run" / "summary.json").exists()
    _assert_clean_refusal(_run("dataset", "export", hostile, "--out", tmp_path / "export"), victim, array)


# -- 5. malformed datasets -------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = (path / SAMPLES_FILE).read_bytes()
    (path / SAMPLES_FILE).write_bytes(data[: len(data) // 3])


def _not_hdf5(path: Path) -> None:
    (path / SAMPLES_FILE).write_bytes(b"PK\x03\x04 this is a zip file, not HDF5" * 100)


def _corrupt_gzip(path: Path) -> None:
    with h5py.File(path / SAMPLES_FILE, "r") as handle:
        for key in handle["samples"]:
            stored = handle["samples"][key]["mask"]
            if stored.compression == "gzip":
                offset = stored.id.get_chunk_info(0).byte_offset
                break
    with open(path / SAMPLES_FILE, "r+b") as raw:
        raw.seek(offset + 2)
        raw.write(b"\xff" * 16)


MALFORMED = {
    "manifest is a list": lambda p: _write_manifest(p, [1, 2, 3]),
    "manifest has no samples": lambda p: _write_manifest(
        p, {k: v for k, v in _manifest(p).items() if k != "samples"}
    ),
    "a sample without id": lambda p: _write_manifest(
        p,
        {
            **_manifest(p),
            "samples": [{k: v for k, v in s.items() if k != "id"} for s in _manifest(p)["samples"]],
        },
    ),
    "manifest is not JSON": lambda p: (p / MANIFEST_FILE).write_text("{'samples': "),
    "manifest is not UTF-8": lambda p: (p / MANIFEST_FILE).write_bytes(b'{"name": "\xff\xfe"}'),
    "samples.h5 truncated": _truncate,
    "samples.h5 is not HDF5": _not_hdf5,
    "a corrupt gzip chunk": _corrupt_gzip,
}


@pytest.mark.parametrize("damage", sorted(MALFORMED))
def test_malformed_datasets_give_one_line_naming_the_file(damage, dataset, tmp_path):
    hostile = _copy(dataset, tmp_path)
    MALFORMED[damage](hostile)
    expected_file = MANIFEST_FILE if damage.startswith(("manifest", "a sample")) else SAMPLES_FILE
    commands = [["dataset", "export", hostile, "--out", tmp_path / "export"]]
    if damage != "a corrupt gzip chunk":  # only the mask is damaged: info and evaluate never read it
        commands += [
            ["dataset", "info", hostile],
            ["evaluate", "--model", "gray", "--dataset", hostile, "--out", tmp_path / "run"],
        ]
    for args in commands:
        _assert_clean_refusal(_run(*args), expected_file)
    assert not (tmp_path / "run").exists()  # nothing recorded for a dataset that failed its checks
    verify = _run("dataset", "verify", hostile)
    assert verify.exit_code in (1, 2) and "Traceback" not in verify.output
    assert verify.exception is None or isinstance(verify.exception, SystemExit), repr(verify.exception)


# -- properties: any manifest, any id --------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@HYPOTHESIS
@given(
    manifest=JSON_VALUES
    | st.fixed_dictionaries(
        {"format_version": st.just(1), "samples": st.lists(JSON_VALUES, max_size=3)},
        optional={"content_hash": JSON_VALUES, "recipe": JSON_VALUES, "name": JSON_VALUES},
    )
)
def test_any_manifest_opens_or_gives_one_pikfix_error(manifest, dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("any")
    shutil.copy(dataset / SAMPLES_FILE, folder / SAMPLES_FILE)
    _write_manifest(folder, manifest)
    try:
        Dataset(folder)
    except PikfixError:
        pass


@HYPOTHESIS
@given(raw=st.binary(max_size=300))
def test_any_manifest_bytes_open_or_give_one_pikfix_error(raw, dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bytes")
    shutil.copy(dataset / SAMPLES_FILE, folder / SAMPLES_FILE)
    (folder / MANIFEST_FILE).write_bytes(raw)
    with pytest.raises(PikfixError):
        Dataset(folder)


@settings(max_examples=500, deadline=None)
@given(name=st.text(max_size=40) | st.sampled_from(["..", ".", "/", "a/..", "a/./b", "\\x", "a\x00"]))
def test_any_id_is_either_safe_inside_the_folder_or_refused(name, tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "root"
    if name_problem(name) is not None:
        with pytest.raises(PikfixError):
            path_inside(root, name, ".png")
        return
    path = path_inside(root, name, ".png")
    assert root.resolve() in path.resolve().parents
    assert np.all([part not in ("", ".", "..") for part in Path(name).parts])


# -- HDF5 storage that reads other files or allocates without bound --------------------------------


def _replace_array(path: Path, sample_id: str, array: str, make) -> None:
    with h5py.File(path / SAMPLES_FILE, "r+") as handle:
        group = handle["samples"][group_name(sample_id)]
        data = group[array][()]
        del group[array]
        make(group, array, data, path)


def _external_raw(group, name, data, path):
    raw = path.parent / "outside.raw"
    raw.write_bytes(data.tobytes())
    group.create_dataset(name, shape=data.shape, dtype=data.dtype, external=[(str(raw), 0, data.nbytes)])


def _external_link(group, name, data, path):
    other = path.parent / "other.h5"
    with h5py.File(other, "w") as handle:
        handle.create_dataset("x", data=data)
    group[name] = h5py.ExternalLink(str(other), "x")


def _virtual(group, name, data, path):
    other = path.parent / "virtual-source.h5"
    with h5py.File(other, "w") as handle:
        handle.create_dataset("x", data=data)
    layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
    layout[...] = h5py.VirtualSource(str(other), "x", shape=data.shape)
    group.create_virtual_dataset(name, layout)


def _huge(group, name, data, path):
    group.create_dataset(name, shape=(60000, 60000), dtype=np.uint8, chunks=(1000, 1000), compression="gzip")


@pytest.mark.parametrize(
    "storage", [_external_raw, _external_link, _virtual, _huge], ids=["external", "link", "virtual", "huge"]
)
def test_arrays_stored_outside_the_file_or_beyond_bounds_are_refused_before_reading(
    storage, dataset, tmp_path
):
    hostile = _copy(dataset, tmp_path)
    victim = Dataset(dataset).ids[1]
    _replace_array(hostile, victim, "gt", storage)
    for args in (
        ["dataset", "verify", hostile],
        ["evaluate", "--model", "gray", "--dataset", hostile, "--out", tmp_path / "run"],
        ["dataset", "export", hostile, "--out", tmp_path / "export"],
    ):
        result = _run(*args)
        assert result.exit_code in (1, 2) and victim in result.output and "gt" in result.output, result.output
        assert "Traceback" not in result.output


def test_verify_names_an_array_that_the_manifest_does_not_list(dataset, tmp_path):
    hostile = _copy(dataset, tmp_path)
    victim = Dataset(dataset).ids[0]
    with h5py.File(hostile / SAMPLES_FILE, "r+") as handle:
        handle["samples"][group_name(victim)].create_dataset(
            "input_color", data=np.zeros((4, 4, 3), np.uint8)
        )
    result = _run("dataset", "verify", hostile)
    assert result.exit_code == 1 and victim in result.output and "input_color" in result.output, result.output


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\ufeff", "\u2028", "\u2029"])
def test_ids_with_invisible_or_reordering_characters_are_refused(char):
    assert name_problem(f"r{char}gnp.exe") is not None
