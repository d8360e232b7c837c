"""Training options: precision, recomputed activations, worker processes, device-side loss sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from tiny_pikfix import tiny

from pikfix_bench.cli import main
from pikfix_bench.model import train
from pikfix_bench.model.training import new_state, train_step, training_tensors

TINY = tiny()


def _train(dataset, out, **options):
    return train(dataset, out, TINY, epochs=2, batch_size=2, crop=32, device="cpu", progress=False, **options)


def _weights(out):
    return torch.load(out / "model.pth", weights_only=True)["state_dict"]


def test_batches_are_the_same_whatever_the_number_of_workers(dataset, tmp_path):
    alone = _train(dataset, tmp_path / "w0", workers=0)
    pooled = _train(dataset, tmp_path / "w2", workers=2)
    assert [row["loss"] for row in alone] == [row["loss"] for row in pooled]
    for key, value in _weights(tmp_path / "w0").items():
        assert torch.equal(value, _weights(tmp_path / "w2")[key]), key


def test_recomputed_activations_train_to_the_same_model(dataset, tmp_path):
    kept = _train(dataset, tmp_path / "kept", workers=0)
    recomputed = _train(dataset, tmp_path / "recomputed", workers=0, checkpoint_activations=True)
    assert [r["loss"] for r in kept] == pytest.approx([r["loss"] for r in recomputed], rel=1e-5)


def test_bf16_training_is_recorded_and_inference_defaults_to_fp32(dataset, tmp_path):
    rows = _train(dataset, tmp_path / "bf16", workers=0, precision="bf16")
    assert all(row["precision"] == "bf16" and row["loss"] == row["loss"] for row in rows)  # finite, recorded
    log = pd.read_csv(tmp_path / "bf16" / "log.csv")
    assert list(log["precision"]) == ["bf16", "bf16"]
    assert torch.load(tmp_path / "bf16" / "model.pth", weights_only=True)["precision"] == "bf16"
    result = CliRunner().invoke(
        main,
        ["evaluate", "--model", "pikfix", "--model-opt", f"weights={tmp_path / 'bf16' / 'model.pth'}",
         "--dataset", str(dataset), "--out", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from pikfix_bench.evaluation import RunDirectory

    recorded = RunDirectory(tmp_path / "run").read_run()["model"]
    assert recorded["given"] == {"weights": str(tmp_path / "bf16" / "model.pth")}
    # the effective value is recorded: inference does not follow the training's precision
    assert recorded["options"]["precision"] == "fp32"
    with pytest.raises(Exception, match="precision must be one of"):
        new_state(TINY, "cpu", precision="fp8")


def test_a_step_returns_device_tensors_without_synchronising(dataset):
    from pikfix_bench.datasets import open_dataset

    state = new_state(TINY, "cpu")
    batch = training_tensors(list(open_dataset(dataset))[:2], 32, np.random.default_rng(0))
    terms = train_step(state, TINY, batch)
    assert all(isinstance(value, torch.Tensor) and not value.requires_grad for value in terms.values())


def test_train_cli_takes_the_new_options(dataset, tmp_path):
    (tmp_path / "tiny.yaml").write_text("\n".join(f"{k}: {v}" for k, v in TINY.to_dict().items() if k in (
        "restoration_channels", "rdn_blocks", "rdn_growth", "rdn_layers", "similarity_channels", "bins",
        "unet_channels", "dense_growth", "dense_layers")) + "\n")  # fmt: skip
    result = CliRunner().invoke(
        main,
        ["train", "--dataset", str(dataset), "--out", str(tmp_path / "t"), "--config", str(tmp_path / "tiny.yaml"),
         "--epochs", "1", "--crop", "32", "--batch-size", "2", "--device", "cpu", "--precision", "bf16",
         "--checkpoint-activations", "--workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(
        main, ["train", "--dataset", str(dataset), "--out", str(tmp_path / "u"), "--precision", "fp8"]
    )
    assert bad.exit_code == 2
