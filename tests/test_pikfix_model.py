"""The Pik-Fix model: sub-network properties, ablation variants, checkpoints, training and the adapter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from tiny_pikfix import TINY, tiny

from pikfix_bench.cli import main
from pikfix_bench.errors import PikfixError
from pikfix_bench.model import PikFix, PikFixConfig, colorize, load_model, save_model
from pikfix_bench.model.colorization import SPHist
from pikfix_bench.model.losses import colour_histograms, emd_loss, generator_loss
from pikfix_bench.model.similarity import grid_size


def inputs(height=64, width=96, ref=(64, 64), batch=2):
    torch.manual_seed(0)
    return torch.rand(batch, 1, height, width), torch.rand(batch, 1, *ref), torch.rand(batch, 2, *ref) * 2 - 1


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"restoration": "single"},
        {"similarity": "single"},
        {"similarity": "none"},
        {"fusion": "single-hist"},
        {"fusion": "multi-ab"},
        {"fusion": "input-ab"},
    ],
)
def test_every_ablation_variant_runs(variant):
    model = PikFix(tiny(**variant))
    out = model(*inputs())
    assert out.lightness.shape == (2, 1, 64, 96) and out.ab.shape == (2, 2, 64, 96)
    assert out.ab.abs().max() <= 1


def test_gradients_reach_every_learnable_part():
    model = PikFix(tiny())
    lightness, ref_l, ref_ab = inputs()
    out = model(lightness, ref_l, ref_ab)
    terms = generator_loss(
        model.config,
        model.vgg,
        model.sphist,
        out.lightness,
        out.ab,
        lightness,
        torch.zeros_like(out.ab),
        ref_ab,
        None,
    )
    terms.total.backward()
    assert (
        model.similarity.coefficients.grad is not None and model.similarity.coefficients.grad.abs().sum() > 0
    )
    assert model.sphist.centres.grad is not None and model.sphist.centres.grad.abs().sum() > 0
    frozen = [p for p in model.vgg.parameters()]
    assert frozen and all(p.grad is None for p in frozen)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None for _, p in trainable), [n for n, p in trainable if p.grad is None]


def test_sphist_rows_sum_to_one_and_emd_of_equal_histograms_is_zero():
    sphist = SPHist(bins=32, sigma=0.1)
    values = torch.rand(2, 1, 8, 8) * 2 - 1
    hist = sphist(values)
    assert hist.shape == (2, 32, 8, 8)
    torch.testing.assert_close(hist.sum(dim=1), torch.ones(2, 8, 8))
    global_hist = sphist.global_histogram(values)
    assert emd_loss(global_hist, global_hist).item() == 0.0
    assert emd_loss(global_hist, sphist.global_histogram(-values)).item() > 0


def test_similarity_values_lie_in_minus_one_one():
    model = PikFix(tiny())
    out = model(*inputs(), return_similarity=True)
    assert not model(*inputs()).similarity  # formed only when asked for
    for phi in out.similarity:
        assert phi.min() >= -1 - 1e-5 and phi.max() <= 1 + 1e-5
    assert out.similarity[0].shape == (2, 16 * 24, 16 * 16)  # 1/4 scale of 64x96 input and 64x64 reference


def test_similarity_grids_are_capped_on_large_images():
    assert grid_size(1024, 1024, 4, 4096) == (64, 64)
    assert grid_size(256, 256, 4, 4096) == (64, 64)
    assert grid_size(2048, 1024, 4, 4096)[0] * grid_size(2048, 1024, 4, 4096)[1] <= 4096


def test_checkpoint_round_trip_and_refusals(tmp_path):
    model = PikFix(tiny()).eval()
    save_model(tmp_path / "m.pth", model, {"epoch": 3})
    loaded, payload = load_model(tmp_path / "m.pth")
    assert payload["epoch"] == 3 and loaded.config == model.config
    rng = np.random.default_rng(0)
    gray = [rng.integers(0, 256, (45, 67), dtype=np.uint8)]  # odd size: padded and cropped back
    ref = [rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)]
    first, second = colorize(model, gray, ref), colorize(loaded, gray, ref)
    assert first[0].shape == (45, 67, 3) and np.array_equal(first[0], second[0])
    torch.save({"format": "something else"}, tmp_path / "other.pth")
    with pytest.raises(PikfixError, match="not a checkpoint written by"):
        load_model(tmp_path / "other.pth")
    payload = torch.load(tmp_path / "m.pth", weights_only=True)
    payload["config"]["bins"] = 8
    torch.save(payload, tmp_path / "mismatch.pth")
    with pytest.raises(PikfixError, match="does not match its own config"):
        load_model(tmp_path / "mismatch.pth")


def test_config_validation(tmp_path):
    with pytest.raises(PikfixError, match="fusion"):
        PikFixConfig(fusion="nope")
    (tmp_path / "c.yaml").write_text("bins: 8\nunknown_key: 1\n")
    with pytest.raises(PikfixError, match="unknown_key"):
        PikFixConfig.from_yaml(tmp_path / "c.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny configuration trained on the bundled sample set at 64 px (under a minute on a CPU)."""
    root = tmp_path_factory.mktemp("pikfix")
    runner = CliRunner()
    assert (
        runner.invoke(main, ["build-dataset", "sample", "--out", str(root / "ds"), "--size", "64"]).exit_code
        == 0
    )
    (root / "tiny.yaml").write_text(
        "\n".join(f"{k}: {v}" for k, v in {**TINY, "lr": 0.002, "beta1": 0.9}.items()) + "\n"
    )
    result = runner.invoke(
        main,
        [
            "train",
            "--dataset",
            str(root / "ds"),
            "--out",
            str(root / "train"),
            "--config",
            str(root / "tiny.yaml"),
            "--epochs",
            "12",
            "--crop",
            "64",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return root


def test_training_overfits_and_beats_the_gray_floor(trained):
    log = pd.read_csv(trained / "train" / "log.csv")
    assert list(log["epoch"]) == list(range(1, 13))
    # the colour terms and the validation PSNR show the fit; the total is mostly the perceptual term,
    # which hardly moves at 64 px (it fell by 6-15 % depending on the sample set's damage)
    for term in ("l1_ab", "emd"):
        assert log[term].iloc[-3:].mean() < 0.7 * log[term].iloc[0], term
    assert log["val_psnr"].iloc[-3:].mean() > log["val_psnr"].iloc[0] + 2
    runner = CliRunner()
    for model, options in (
        ("gray", []),
        ("pikfix", ["--model-opt", f"weights={trained / 'train' / 'model.pth'}"]),
    ):
        result = runner.invoke(
            main,
            [
                "evaluate",
                "--model",
                model,
                *options,
                "--dataset",
                str(trained / "ds"),
                "--out",
                str(trained / "runs" / model),
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
    psnr = {
        m: json.loads((trained / "runs" / m / "summary.json").read_text())["metrics"]["psnr"]["mean"]
        for m in ("gray", "pikfix")
    }
    assert psnr["pikfix"] > psnr["gray"]
    checkpoint = torch.load(trained / "train" / "model.pth", weights_only=True)
    assert checkpoint["dataset"]["content_hash"] and checkpoint["epoch"] == 12


def _train(trained, config: str, epochs: int, *extra: str):
    args = [
        "train",
        "--dataset",
        str(trained / "ds"),
        "--out",
        str(trained / "train"),
        "--config",
        str(trained / config),
        "--epochs",
        str(epochs),
        "--crop",
        "64",
        *extra,
    ]
    return CliRunner().invoke(main, args)


def test_resume_continues_and_refuses_another_config(trained):
    again = _train(trained, "tiny.yaml", 13)
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = _train(trained, "tiny.yaml", 13, "--resume")
    assert resumed.exit_code == 0 and "epoch 13" in resumed.output, resumed.output
    assert list(pd.read_csv(trained / "train" / "log.csv")["epoch"]) == list(range(1, 14))
    (trained / "other.yaml").write_text("bins: 8\n")
    refused = _train(trained, "other.yaml", 14, "--resume")
    assert refused.exit_code == 2 and "another config" in refused.output


def test_adapter_needs_weights(trained):
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "pikfix",
            "--dataset",
            str(trained / "ds"),
            "--out",
            str(trained / "runs" / "none"),
        ],
    )
    assert result.exit_code == 2 and "pikfix-bench train" in result.output


def test_emd_cannot_be_lowered_by_moving_the_bin_centres():
    torch.manual_seed(0)
    sphist = SPHist(16, 0.1)
    ab, reference_ab = torch.rand(2, 2, 16, 16) * 2 - 1, torch.rand(2, 2, 16, 16) * 0.5
    optimiser = torch.optim.Adam(sphist.parameters(), lr=1e-2)

    def emd() -> torch.Tensor:
        return emd_loss(
            colour_histograms(sphist, ab).flatten(0, 1), colour_histograms(sphist, reference_ab).flatten(0, 1)
        )

    before = float(emd())
    for _ in range(50):  # was: the loss fell by spreading the centres out of the data range
        optimiser.zero_grad()
        loss = emd()
        assert not loss.requires_grad or sphist.centres.grad is None
        if loss.requires_grad:
            loss.backward()
        optimiser.step()
    assert float(emd()) == before and torch.equal(sphist.centres, torch.linspace(-1, 1, 16))
    warped = sphist(ab[:, :1])  # the warp path still trains the centres
    warped.square().sum().backward()
    assert sphist.centres.grad is not None and sphist.centres.grad.abs().sum() > 0


def test_the_public_correlation_preset_correlates_once_at_one_eighth_without_level_weights():
    from pikfix_bench.model.config import CONFIG_PRESETS

    config = PikFixConfig.load("public-correlation")
    assert (config.similarity, config.similarity_scale, config.level_weights) == ("single", 8, False)
    model = PikFix(tiny(**CONFIG_PRESETS["public-correlation"])).eval()
    assert "similarity.coefficients" not in model.state_dict()  # no A_i: every level weighs 1
    lightness, ref_l, ref_ab = (
        torch.rand(1, 1, 64, 96),
        torch.rand(1, 1, 64, 64),
        torch.rand(1, 2, 64, 64) - 0.5,
    )
    with torch.no_grad():
        out = model(lightness, ref_l, ref_ab, return_similarity=True)
    assert out.ab.shape == (1, 2, 64, 96) and [phi.shape for phi in out.similarity] == [(1, 8 * 12, 8 * 8)]
    default_single = PikFix(tiny(similarity="single")).eval()  # scale 4, as before the option existed
    assert (
        default_single.similarity.scales == (4,) and "similarity.coefficients" in default_single.state_dict()
    )


def test_train_takes_a_config_preset_by_name_and_refuses_unknown_ones(tmp_path):
    refused = CliRunner().invoke(
        main,
        ["train", "--dataset", str(tmp_path), "--out", str(tmp_path / "o"), "--config", "public-corelation"],
    )
    assert refused.exit_code == 2 and "not a preset (public-correlation)" in refused.output
