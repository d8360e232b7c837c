"""``train --resume`` reads ``OUT/last.pth`` as plain data only: a planted pickle never runs, a bad one is named."""

from __future__ import annotations

import pathlib

import pytest
import torch
from click.testing import CliRunner
from tiny_pikfix import TINY, tiny

from pikfix_bench.cli import main
from pikfix_bench.model import train


class _Planted:
    """Unpickling this object creates ``marker``: what a hostile ``last.pth`` would do with a shell instead."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _train(dataset, out, epochs: int, **options):
    return train(
        dataset,
        out,
        tiny(),
        epochs=epochs,
        batch_size=4,
        crop=32,
        device="cpu",
        progress=False,
        workers=0,
        **options,
    )


def _resume(dataset, out, tmp_path):
    (tmp_path / "tiny.yaml").write_text("".join(f"{key}: {value}\n" for key, value in TINY.items()))
    return CliRunner().invoke(
        main,
        ["train", "--dataset", str(dataset), "--out", str(out), "--config", str(tmp_path / "tiny.yaml"),
         "--epochs", "2", "--crop", "32", "--batch-size", "4", "--device", "cpu", "--workers", "0", "--resume"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def one_epoch(dataset, tmp_path_factory):
    """A run trained for one epoch (its ``last.pth`` is the genuine article)."""
    out = tmp_path_factory.mktemp("one") / "train"
    _train(dataset, out, 1)
    return out


def test_last_pth_is_plain_data(one_epoch):
    payload = torch.load(one_epoch / "last.pth", map_location="cpu", weights_only=True)
    assert payload["epoch"] == 1 and payload["config"] == tiny().to_dict()


def test_resume_gives_the_model_of_an_uninterrupted_run(dataset, one_epoch, tmp_path):
    out = tmp_path / "resumed"
    out.mkdir()
    for name in ("last.pth", "log.csv"):
        (out / name).write_bytes((one_epoch / name).read_bytes())
    _train(dataset, out, 2, resume=True)
    _train(dataset, tmp_path / "straight", 2)
    resumed = torch.load(out / "model.pth", weights_only=True)["state_dict"]
    straight = torch.load(tmp_path / "straight" / "model.pth", weights_only=True)["state_dict"]
    for key, value in straight.items():
        assert torch.equal(value, resumed[key]), key


def test_a_planted_pickle_is_refused_and_never_run(dataset, tmp_path):
    out, marker = tmp_path / "train", tmp_path / "pwned"
    out.mkdir()
    torch.save({"epoch": 1, "config": _Planted(marker)}, out / "last.pth")
    result = _resume(dataset, out, tmp_path)
    assert result.exit_code == 2, result.output
    assert not marker.exists()
    assert str(out / "last.pth") in result.output and "refusing to unpickle" in result.output
    assert "Traceback" not in result.output


def _genuine(one_epoch, **changes):
    """The one-epoch ``last.pth`` payload with ``changes`` (a key set to ``...`` is removed)."""
    payload = {**torch.load(one_epoch / "last.pth", weights_only=True), **changes}
    return {key: value for key, value in payload.items() if value is not ...}


@pytest.mark.parametrize(
    "make",
    [
        lambda genuine: {"epoch": 1},
        lambda genuine: torch.zeros(3),
        lambda genuine: "text",
        lambda genuine: genuine(epoch="one"),
        lambda genuine: genuine(epoch=-3),
        lambda genuine: genuine(optimizers=...),
        lambda genuine: genuine(optimizers={"generator": {"state": 1}}),
        lambda genuine: genuine(model={"no.such.weight": torch.zeros(2)}),
        lambda genuine: genuine(torch_rng=torch.zeros(3)),
        lambda genuine: genuine(dataset="text"),
    ],
    ids=["missing-keys", "tensor", "string", "epoch-text", "epoch-negative", "no-optimizers", "bad-optimizer", "bad-model",
         "bad-rng", "dataset-text"],
)  # fmt: skip
def test_a_loadable_but_malformed_checkpoint_is_refused_by_name(dataset, one_epoch, tmp_path, make):
    out = tmp_path / "train"
    out.mkdir()
    torch.save(make(lambda **changes: _genuine(one_epoch, **changes)), out / "last.pth")
    result = _resume(dataset, out, tmp_path)
    assert result.exit_code == 2, result.output
    assert str(out / "last.pth") in result.output and "Traceback" not in result.output


def test_a_truncated_checkpoint_is_refused_by_name(dataset, one_epoch, tmp_path):
    out = tmp_path / "train"
    out.mkdir()
    (out / "last.pth").write_bytes((one_epoch / "last.pth").read_bytes()[:1000])
    result = _resume(dataset, out, tmp_path)
    assert result.exit_code == 2, result.output
    assert str(out / "last.pth") in result.output
