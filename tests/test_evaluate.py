"""evaluate: every adapter on a small built dataset, the oracle, resume, failures, alignment, plug-ins."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from pikfix_bench.baselines import (
    MODELS,
    Batch,
    ModelAdapter,
    ModelDescriptor,
    create_model,
    list_models,
    register_model,
)
from pikfix_bench.baselines.base import ModelError
from pikfix_bench.baselines.pix2pix import build_generator
from pikfix_bench.cli import main
from pikfix_bench.evaluation import RunDirectory, evaluate
from pikfix_bench.evaluation import shard as shard_module


@pytest.fixture(scope="module")
def exported(dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    CliRunner().invoke(
        main, ["dataset", "export", str(dataset), "--out", str(folder)], catch_exceptions=False
    )
    return folder


def run_cli(*args: str, expect: int = 0):
    result = CliRunner().invoke(main, ["evaluate", *args], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


@pytest.mark.parametrize(
    "model", ["gray", "reinhard", "welsh", "classical-restore", "classical-restore+welsh"]
)
def test_weight_free_baselines(model, dataset, tmp_path):
    run_cli("--model", model, "--dataset", str(dataset), "--out", str(tmp_path / "run"), "--save-outputs")
    run = RunDirectory(tmp_path / "run")
    table = run.per_image()
    assert list(table.columns) == [
        "sample_id",
        "psnr",
        "ssim",
        "lpips",
        "ciede2000",
        "colorfulness",
        "seconds",
    ]
    assert len(table) == 8 and table["sample_id"].is_monotonic_increasing
    assert (run.outputs / "astronaut.png").is_file()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for values in summary["metrics"].values():
        assert {"mean", "std", "median", "count", "inf_count", "ci95", "aggregation"} <= set(values)
        assert values["count"] == 8
    info = run.read_run()
    assert (
        info["model"]["name"] == model
        and info["dataset"]["content_hash"]
        and info["profile"]["name"] == "pikfix"
    )
    assert info["environment"]["torch"] == torch.__version__


def test_colourisers_beat_the_gray_floor(dataset, tmp_path):
    means = {}
    for model in ("gray", "reinhard", "welsh"):
        result = evaluate(model, dataset, tmp_path / model, progress=False)
        means[model] = result.summary["metrics"]["ciede2000"]["mean"]
    assert means["reinhard"] < means["gray"] and means["welsh"] < means["gray"]


def test_oracle_scores_perfectly(dataset, exported, tmp_path):
    result = run_cli(
        "--model",
        "predictions",
        "--model-opt",
        f"dir={exported / 'gt'}",
        "--dataset",
        str(dataset),
        "--out",
        str(tmp_path / "oracle"),
    )
    summary = json.loads((tmp_path / "oracle" / "summary.json").read_text())
    assert summary["metrics"]["psnr"]["inf_count"] == 8 and summary["metrics"]["psnr"]["mean"] == "nan"
    assert summary["metrics"]["ssim"]["mean"] == pytest.approx(1.0)
    assert summary["metrics"]["lpips"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert "infinite left out" in summary["metrics"]["psnr"]["aggregation"]
    assert np.isinf(RunDirectory(tmp_path / "oracle").per_image()["psnr"]).all()
    assert "psnr" in result.output


def test_pix2pix_loads_official_format_checkpoint(dataset, tmp_path):
    torch.manual_seed(0)
    generator = build_generator("lab", "batch")
    torch.save(generator.state_dict(), tmp_path / "latest_net_G.pth")
    keys = list(generator.state_dict())
    assert (
        keys[0] == "model.model.0.weight"
        and "model.model.1.model.3.model.3.model.3.model.3.model.3.model.1.weight" in keys
    )
    run_cli(
        "--model",
        "pix2pix",
        "--model-opt",
        f"weights={tmp_path / 'latest_net_G.pth'}",
        "--dataset",
        str(dataset),
        "--out",
        str(tmp_path / "p2p"),
    )
    info = RunDirectory(tmp_path / "p2p").read_run()
    assert len(info["model"]["weights_sha256"]) == 64
    missing = CliRunner().invoke(
        main, ["evaluate", "--model", "pix2pix", "--dataset", str(dataset), "--out", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2 and "weights=PATH" in missing.output
    wrong = build_generator("rgb", "batch")
    torch.save(wrong.state_dict(), tmp_path / "rgb.pth")
    mismatch = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "pix2pix",
            "--model-opt",
            f"weights={tmp_path / 'rgb.pth'}",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "bad"),
        ],
    )
    assert mismatch.exit_code == 2 and "does not fit" in mismatch.output


def test_command_adapter_with_a_tiny_script(dataset, tmp_path):
    script = tmp_path / "model.py"
    script.write_text(
        textwrap.dedent("""
        import shutil, sys
        from pathlib import Path
        source, target = Path(sys.argv[1]), Path(sys.argv[2])
        for path in source.glob("*.png"):
            if path.stem != "rocket":  # leaves one sample without output
                shutil.copy(path, target / path.name)
        print("done", len(list(target.iterdir())))
    """)
    )
    command = f"{sys.executable} {script} {{input_dir}} {{output_dir}}"
    result = run_cli(
        "--model",
        "command",
        "--model-opt",
        f"command={command}",
        "--dataset",
        str(dataset),
        "--out",
        str(tmp_path / "cmd"),
        "--allow-failures",
    )
    run = RunDirectory(tmp_path / "cmd")
    assert len(run.per_image()) == 7 and run.errors()["sample_id"].tolist() == ["rocket"]
    (log,) = (tmp_path / "cmd" / "work").glob("call-*.log")  # one call; its work folder is gone
    assert "done 7" in log.read_text() and not [p for p in log.parent.iterdir() if p.is_dir()]
    assert "1 samples failed" in result.stderr
    failing = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "command",
            "--model-opt",
            "command=exit 3",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "fail"),
        ],
    )
    assert "exited with status 3" in RunDirectory(tmp_path / "fail").errors()["message"].iloc[0]
    assert failing.exit_code == 1 and "no sample was scored" in failing.output


@pytest.mark.parametrize("recipe", ["deoldify", "instcolorization", "wan2020", "deep-exemplar"])
def test_recipes_say_what_to_get(recipe, dataset, tmp_path):
    result = CliRunner().invoke(
        main, ["evaluate", "--model", recipe, "--dataset", str(dataset), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "repo=PATH" in result.output and "github.com" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            recipe,
            "--model-opt",
            f"repo={tmp_path / 'empty'}",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "r2"),
        ],
    )
    assert result.exit_code == 2


class _Flaky(ModelAdapter):
    descriptor = ModelDescriptor("test-flaky", "fails on coffee, wrong size on rocket", "any", False, "RGB")

    def predict(self, batch: Batch) -> list[np.ndarray]:
        if "coffee" in batch.ids:
            raise RuntimeError("cannot handle coffee")
        return [
            np.zeros((image.shape[0] + 4, image.shape[1] + 4, 3), np.uint8)
            if sample_id == "rocket"
            else np.repeat(image[..., :1], 3, axis=2)
            for sample_id, image in zip(batch.ids, batch.inputs, strict=True)
        ]


@pytest.fixture
def flaky():
    register_model(_Flaky)
    yield "test-flaky"
    MODELS.pop("test-flaky")


def test_failing_samples_are_recorded_and_the_run_goes_on(flaky, dataset, tmp_path):
    result = evaluate(flaky, dataset, tmp_path / "f", batch_size=4, progress=False)
    errors = RunDirectory(tmp_path / "f").errors().set_index("sample_id")["message"]
    assert set(errors.index) == {"coffee", "rocket"}
    assert "cannot handle coffee" in errors["coffee"] and "--align" in errors["rocket"]
    assert result.scored == 6 and result.failed == 2
    with pytest.raises(Exception, match="coffee"):
        evaluate(flaky, dataset, tmp_path / "g", batch_size=4, strict=True, progress=False)


@pytest.mark.parametrize(("align", "scored"), [("resize", 7), ("crop", 7)])
def test_alignment_modes(flaky, dataset, tmp_path, align, scored):
    result = evaluate(flaky, dataset, tmp_path / align, batch_size=1, align=align, progress=False)
    assert result.scored == scored and RunDirectory(tmp_path / align).read_run()["align"] == align


def test_resume_after_interruption(dataset, tmp_path, monkeypatch):
    whole = evaluate("reinhard", dataset, tmp_path / "whole", batch_size=2, progress=False)
    original = shard_module.BatchRunner.run_batch
    calls = {"n": 0}

    def interrupted(self, samples):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, samples)

    monkeypatch.setattr(shard_module.BatchRunner, "run_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate("reinhard", dataset, tmp_path / "cut", batch_size=2, progress=False)
    monkeypatch.setattr(shard_module.BatchRunner, "run_batch", original)
    assert len(RunDirectory(tmp_path / "cut").per_image()) == 4
    refused = CliRunner().invoke(
        main, ["evaluate", "--model", "reinhard", "--dataset", str(dataset), "--out", str(tmp_path / "cut")]
    )
    assert refused.exit_code == 2 and "--resume" in refused.output
    other = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "welsh",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "cut"),
            "--resume",
        ],
    )
    assert other.exit_code == 2 and "another model" in other.output
    other_profile = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "reinhard",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "cut"),
            "--resume",
            "--profile",
            "basicsr",
        ],
    )
    assert other_profile.exit_code == 2 and "another profile" in other_profile.output
    resumed = evaluate("reinhard", dataset, tmp_path / "cut", batch_size=2, resume=True, progress=False)
    assert resumed.scored == 8
    columns = ["sample_id", "psnr", "ssim", "lpips", "ciede2000", "colorfulness"]
    pd.testing.assert_frame_equal(
        RunDirectory(tmp_path / "cut").per_image()[columns],
        RunDirectory(tmp_path / "whole").per_image()[columns],
    )
    assert resumed.summary["metrics"] == whole.summary["metrics"]


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    (tmp_path / "myplug.py").write_text(
        textwrap.dedent("""
        from pikfix_bench.baselines import ModelAdapter, ModelDescriptor
        class Plug(ModelAdapter):
            descriptor = ModelDescriptor("my-plugin", "a plug-in", "colorization", False, "RGB")
            def predict(self, batch):
                return list(batch.inputs)
    """)
    )
    dist = tmp_path / "myplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pikfix_bench.models]\nmy-plugin = myplug:Plug\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert "my-plugin" in list_models()
        assert create_model("my-plugin").descriptor.task == "colorization"
        assert "my-plugin" in CliRunner().invoke(main, ["models", "list"]).output
    finally:
        MODELS.pop("my-plugin", None)


def test_unknown_model_and_options():
    with pytest.raises(ModelError, match="did you mean 'welsh'"):
        create_model("welch")
    with pytest.raises(ModelError, match="unknown option"):
        create_model("gray", weights="x")


def test_models_list_shows_every_builtin():
    output = CliRunner().invoke(main, ["models", "list"]).output
    for name in (
        "gray",
        "reinhard",
        "welsh",
        "classical-restore",
        "pix2pix",
        "command",
        "predictions",
        "deoldify",
        "instcolorization",
        "wan2020",
        "deep-exemplar",
    ):
        assert name in output
