"""The ``realesrgan`` operation and preset against basicsr 1.4.2 and Real-ESRGAN's ``feed_data``.

Goldens: ``tools/realesrgan_goldens.py`` (basicsr's kernels, ``USMSharp``, the noise-free chain) and
``tools/make_realesrgan_golden.py`` (the original ``feed_data`` with ``DiffJPEG`` for recorded draws and
noise, and ``DiffJPEG(differentiable=False)`` alone).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.datasets import open_dataset
from pikfix_bench.degradations import build_pipeline, degrade, get_operation, replay
from pikfix_bench.degradations.realesrgan import KERNEL_TYPES, RANGES, kernel
from pikfix_bench.degradations.realesrgan_stages import degrade_image, filter2d, usm_sharpen

GOLDEN = np.load(Path(__file__).parent / "data" / "realesrgan_basicsr.npz")
SPECS = json.loads(str(GOLDEN["specs"]))  # the settings tools/realesrgan_goldens.py gave basicsr
KERNELS, SINCS = [tuple(kernel) for kernel in SPECS["kernels"]], [tuple(sinc) for sinc in SPECS["sincs"]]
FEED = np.load(Path(__file__).parent / "data" / "realesrgan_feed_data.npz")
FEED_META = json.loads(str(FEED["meta"]))  # the draws and settings tools/make_realesrgan_golden.py used


def _spec(kind, size, sigma_x, sigma_y, theta, beta):
    spec = {"type": kind, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
    return spec if beta is None else {**spec, "beta": beta}


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("index", range(len(KERNELS)))
def test_every_kernel_family_equals_basicsrs(index):
    np.testing.assert_allclose(
        kernel(_spec(*KERNELS[index])), GOLDEN[f"kernel{index}"], rtol=1e-10, atol=1e-15
    )


@pytest.mark.parametrize("index", range(len(SINCS)))
def test_the_sinc_kernel_equals_circular_lowpass_kernel(index):
    size, omega = SINCS[index]
    np.testing.assert_allclose(
        kernel({"type": "sinc", "size": size, "omega": omega}), GOLDEN[f"sinc{index}"], rtol=1e-10, atol=1e-15
    )


def test_usm_sharpening_and_the_noise_free_chain_equal_basicsrs():
    image = _tensor(data.astronaut()[100:164, 150:206])
    sharpened = usm_sharpen(image)
    np.testing.assert_allclose(sharpened[0].numpy(), GOLDEN["usm"], atol=1e-5)
    out = filter2d(sharpened, kernel(_spec(*KERNELS[1])))
    out = F.interpolate(out, scale_factor=0.63, mode="bicubic")
    out = filter2d(out, kernel(_spec(*KERNELS[4])))
    out = F.interpolate(out, size=(int(64 / 4 * 1.1), int(56 / 4 * 1.1)), mode="area")
    out = F.interpolate(out, size=(16, 14), mode="bilinear")
    out = filter2d(out, kernel({"type": "sinc", "size": 11, "omega": 2.4}))
    ours = torch.clamp((out * 255).round(), 0, 255)[0].numpy().astype(np.uint8)
    np.testing.assert_array_equal(ours, GOLDEN["chain"])


def test_the_draws_follow_the_published_ranges():
    operation = get_operation("realesrgan")()
    draws = [operation.sample(np.random.default_rng(seed), (256, 256, 3)) for seed in range(3000)]
    kernels = [d["kernel1"] for d in draws] + [d["kernel2"] for d in draws]
    sinc = np.mean([k["type"] == "sinc" for k in kernels])
    assert sinc == pytest.approx(RANGES["sinc_prob"][0], abs=0.015)
    types = Counter(k["type"] for k in kernels if k["type"] != "sinc")
    for kind, probability in zip(KERNEL_TYPES, RANGES["kernel_prob"], strict=True):
        assert types[kind] / sum(types.values()) == pytest.approx(probability, abs=0.02), kind
    assert {k["size"] for k in kernels} == set(range(7, 22, 2))
    for stage, key in ((0, "kernel1"), (1, "kernel2")):
        sigmas = [d[key]["sigma_x"] for d in draws if d[key]["type"] != "sinc"]
        assert RANGES["blur_sigma"][stage][0] <= min(sigmas) and max(sigmas) <= RANGES["blur_sigma"][stage][1]
    for spec in kernels:
        if spec["type"] == "sinc":  # omega from pi/3 (size < 13) or pi/5
            assert (np.pi / 3 if spec["size"] < 13 else np.pi / 5) <= spec["omega"] <= np.pi
        if spec["type"].startswith("generalized"):
            assert 0.5 <= spec["beta"] <= 4
        if spec["type"].startswith("plateau"):
            assert 1 <= spec["beta"] <= 2
    assert np.mean([d["final_sinc"] is not None for d in draws]) == pytest.approx(0.8, abs=0.03)
    ups = [d["resize1"]["factor"] > 1 for d in draws]
    keeps = [d["resize1"]["factor"] == 1 for d in draws]
    assert np.mean(ups) == pytest.approx(0.2, abs=0.03) and np.mean(keeps) == pytest.approx(0.1, abs=0.03)
    factors = [d["resize1"]["factor"] for d in draws]
    assert 0.15 <= min(factors) and max(factors) <= 1.5
    assert np.mean([d["noise1"]["kind"] == "gaussian" for d in draws]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([d["noise2"]["gray"] for d in draws]) == pytest.approx(0.4, abs=0.03)
    assert np.mean([d["blur2"] for d in draws]) == pytest.approx(0.8, abs=0.03)
    assert np.mean([d["jpeg_first"] for d in draws]) == pytest.approx(0.5, abs=0.03)
    assert all(30 <= d["jpeg1"] <= 95 and 30 <= d["jpeg2"] <= 95 for d in draws)


@pytest.mark.parametrize("gray", [False, True])
def test_the_output_is_a_quarter_and_replays(gray):
    image = data.astronaut()[:200, :180].copy()
    image = image.mean(axis=2).astype(np.uint8) if gray else image
    for seed in range(4):
        result = degrade(image, "realesrgan", seed=seed, sample_id="a")
        assert result.image.shape[:2] == (50, 45) and result.image.ndim == image.ndim
        replayed = replay(image, json.loads(json.dumps(result.record)))
        assert np.array_equal(replayed.image, result.image)


def test_gray_noise_is_the_same_in_every_channel():
    flat = np.full((128, 128, 3), 128, np.uint8)
    operation = get_operation("realesrgan")(scale=1, usm=False)
    params = operation.sample(np.random.default_rng(0), flat.shape)
    identity = {"type": "iso", "size": 7, "sigma_x": 0.01, "sigma_y": 0.01, "theta": 0.0}
    params.update(
        kernel1=identity, blur2=False, final_sinc=None, jpeg1=95.0, jpeg2=95.0,
        resize1={"factor": 1.0, "mode": "area"}, resize2={"factor": 1.0, "mode": "area"}, final_mode="area",
        noise1={"kind": "gaussian", "sigma": 20.0, "gray": True}, noise2={"kind": "gaussian", "sigma": 0.0, "gray": False},
    )  # fmt: skip
    out, _ = operation.apply(flat, params)
    assert out.astype(float).std() > 10  # noisy ...
    spread = np.abs(out.astype(int) - out.mean(axis=2, keepdims=True)).mean()
    assert spread < 3  # ... and alike in R, G and B (up to JPEG's chroma rounding)
    params["noise1"]["gray"] = False
    colour, _ = operation.apply(flat, params)
    assert np.abs(colour.astype(int) - colour.mean(axis=2, keepdims=True)).mean() > 3 * spread


def test_a_realesrgan_dataset_holds_a_quarter_size_input_and_evaluation_says_how_to_align(tmp_path):
    (tmp_path / "photos").mkdir()
    Image.fromarray(data.astronaut()).save(tmp_path / "photos" / "astronaut.png")
    Image.fromarray(data.coffee()).save(tmp_path / "photos" / "coffee.png")
    assert build_pipeline("realesrgan").geometry.input_downscale == 4
    runner = CliRunner()
    built = runner.invoke(
        main,
        ["build-dataset", "folder", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "ds"),
         "--preset", "realesrgan", "--size", "128"],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    again = runner.invoke(
        main,
        ["build-dataset", "folder", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "ds2"),
         "--preset", "realesrgan", "--size", "128", "--workers", "2"],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (tmp_path / "ds" / "samples.h5").read_bytes() == (tmp_path / "ds2" / "samples.h5").read_bytes()
    for sample in open_dataset(tmp_path / "ds"):
        assert sample.gt.shape == (128, 128, 3) and sample.input.shape == (32, 32, 3)
    args = ["evaluate", "--model", "gray", "--dataset", str(tmp_path / "ds")]
    refused = runner.invoke(main, [*args, "--out", str(tmp_path / "r1")])
    assert refused.exit_code != 0 and "--align resize" in refused.output, refused.output
    scored = runner.invoke(main, [*args, "--out", str(tmp_path / "r2"), "--align", "resize"])
    assert scored.exit_code == 0, scored.output


def _feed_image(name: str) -> np.ndarray:
    """The crop of a scikit-image photograph the golden was made from (checked by its sha256)."""
    top, bottom, left, right = FEED_META["crops"][name]
    image = getattr(data, name)()[top:bottom, left:right]
    assert hashlib.sha256(image.tobytes()).hexdigest() == FEED_META["crops_sha256"][name]
    return image


def _differences(ours: np.ndarray, theirs: np.ndarray) -> str:
    diff = np.abs(ours.astype(int) - theirs.astype(int))
    where = np.argwhere(diff)[:5].tolist()
    return f"{np.count_nonzero(diff)} of {diff.size} values differ, max {diff.max()}, first at {where}"


@pytest.fixture
def one_thread():
    """The goldens were made with one torch thread: MKL's float32 product of a few rows (the 8 x 8 DCT of
    a small chroma plane) can differ in the last bit between thread counts, in the original as here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("index", range(len(FEED_META["cases"])))
def test_degrade_image_is_byte_equal_to_realesrgans_feed_data(index, one_thread):
    case = FEED_META["cases"][index]
    image, params = _feed_image(case["image"]), case["params"]
    ours = degrade_image(image, params["scale"], params["usm"], params["seed"], params)
    assert np.array_equal(ours, FEED[f"case{index}"]), _differences(ours, FEED[f"case{index}"])
    applied, _ = get_operation("realesrgan")().apply(image, {**params, "jpeg": "diffjpeg"})
    assert np.array_equal(applied, ours)


@pytest.mark.parametrize("entry", FEED_META["codec"], ids=lambda entry: entry["key"])
def test_the_dct_codec_equals_diffjpeg_bit_for_bit(entry, one_thread):
    from pikfix_bench.degradations.diffjpeg import diffjpeg

    image = torch.from_numpy(FEED[f"codec_input{entry['input']}"].astype(np.float32) / 65535)[None]
    out = diffjpeg(image, entry["quality"])[0].numpy()
    rounded = np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(rounded, FEED[entry["key"]]), _differences(rounded, FEED[entry["key"]])
    assert out.dtype == np.float32 and hashlib.sha256(out.tobytes()).hexdigest() == entry["sha256"]


def test_the_codec_is_recorded_and_a_record_without_it_replays_with_opencvs():
    image = _feed_image("astronaut")
    operation = get_operation("realesrgan")()
    params = operation.sample(np.random.default_rng(3), image.shape)
    assert params["jpeg"] == "diffjpeg"
    opencv = get_operation("realesrgan")(jpeg="libjpeg")
    assert opencv.sample(np.random.default_rng(3), image.shape)["jpeg"] == "libjpeg"
    libjpeg, _ = operation.apply(image, {**params, "jpeg": "libjpeg"})
    older = {key: value for key, value in params.items() if key != "jpeg"}  # a record made before the option
    assert np.array_equal(operation.apply(image, older)[0], libjpeg)
    assert not np.array_equal(operation.apply(image, params)[0], libjpeg)
    preset = build_pipeline("realesrgan").spec["steps"]
    assert preset == [{"op": "realesrgan", "scale": 4, "jpeg": "diffjpeg"}]
