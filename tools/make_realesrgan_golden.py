"""Write ``tests/data/realesrgan_feed_data.npz``: Real-ESRGAN's own degradation, for recorded draws.

Runs the ORIGINAL code, from checkouts given on the command line, and stores only its outputs:

- ``RealESRGANModel.feed_data`` (xinntao/Real-ESRGAN, ``realesrgan/models/realesrgan_model.py``) with
  basicsr's ``DiffJPEG(differentiable=False)``, ``USMSharp``, ``filter2D``, kernels and noise functions
  (XPixelGroup/BasicSR, ``basicsr/``), on two 96 x 96 crops of scikit-image photographs, for draws made by
  ``pikfix_bench``'s ``realesrgan`` operation (stored beside the outputs, so the golden does not depend on
  today's sampler);
- ``DiffJPEG(differentiable=False)`` alone on three float images and four qualities.

How the draws reach the original code: its ``random``, ``np.random`` (kernel and stage draws) are
replaced by queues that return the recorded values in the order the code asks for them; the two
``random_add_*_noise_pt`` functions by ones that call basicsr's ``generate_*_noise_pt`` with the recorded
sigma or scale and gray flag (as float32 tensors, as the originals draw them) on a noise stream of their
own, the global torch generator seeded with the record's ``seed`` (what ``degrade_image`` draws from); the
JPEG qualities reach ``DiffJPEG`` as float32 tensors (``jpeg_p`` of ``feed_data``). The training-only parts
after the rounding (``paired_random_crop``, the pair pool) are skipped. Run once by a maintainer::

    git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR        # v1.4.2 or later
    git clone https://github.com/xinntao/Real-ESRGAN /tmp/Real-ESRGAN
    python tools/make_realesrgan_golden.py /tmp/BasicSR /tmp/Real-ESRGAN

basicsr's modules are loaded from their files under stub packages (its ``__init__`` needs compiled
extensions); ``torchvision.transforms.functional_tensor`` (imported by basicsr 1.4.2, gone from torchvision
since 0.17) is stood in for by ``torchvision.transforms.functional``, whose ``rgb_to_grayscale`` is the same.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import random
import sys
import types
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional
from skimage import data

from pikfix_bench.degradations import get_operation

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "realesrgan_feed_data.npz"
CROPS = {"astronaut": (slice(20, 116), slice(170, 266)), "coffee": (slice(150, 246), slice(300, 396))}
SAMPLER_SEEDS = range(12)  # the draws of case k: RealESRGAN(scale=4).sample(default_rng(k)), then COVER[k]
COVER: dict[int, dict[str, Any]] = {  # make sure every branch of feed_data is taken at least once
    0: {"jpeg_first": False, "noise1": {"kind": "gaussian", "sigma": 21.5, "gray": True}},
    1: {"jpeg_first": True, "noise2": {"kind": "poisson", "scale": 1.7, "gray": True}},
    2: {"final_sinc": None, "resize1": {"factor": 1.0, "mode": "bicubic"}},
    3: {"kernel1": {"type": "sinc", "size": 9, "omega": 1.9}, "blur2": False},
    4: {"noise1": {"kind": "poisson", "scale": 2.4, "gray": False}, "jpeg1": 30.0, "jpeg2": 95.0},
    5: {"resize1": {"factor": 1.37, "mode": "area"}, "resize2": {"factor": 1.0, "mode": "bilinear"}},
}
CODEC_SHAPES = [(24, 24), (37, 29), (48, 32)]  # (height, width): not a multiple of 16, and one that is
CODEC_QUALITIES = [30.0, 47.31, 50.0, 88.9]


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _package(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []  # a package, so that submodules can be imported from it
    for key, value in attributes.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return module


class _Registry:
    def register(self):
        return lambda cls: cls


def load_original(basicsr: Path, realesrgan: Path) -> dict[str, types.ModuleType]:
    """basicsr's degradations, image-processing and DiffJPEG modules and Real-ESRGAN's model module."""
    sys.modules.setdefault("torchvision.transforms.functional_tensor", torchvision.transforms.functional)
    root = basicsr / "basicsr"
    _package("basicsr")
    _package("basicsr.data")
    _package("basicsr.utils")
    _package("basicsr.models")
    degradations = _load(root / "data" / "degradations.py", "basicsr.data.degradations")
    process = _load(root / "utils" / "img_process_util.py", "basicsr.utils.img_process_util")
    diffjpeg = _load(root / "utils" / "diffjpeg.py", "basicsr.utils.diffjpeg")
    sys.modules["basicsr.utils"].DiffJPEG = diffjpeg.DiffJPEG
    sys.modules["basicsr.utils"].USMSharp = process.USMSharp
    _package("basicsr.utils.registry", MODEL_REGISTRY=_Registry())
    _package("basicsr.data.transforms", paired_random_crop=None)  # replaced below: training crops only
    _package("basicsr.models.srgan_model", SRGANModel=object)
    model = _load(realesrgan / "realesrgan" / "models" / "realesrgan_model.py", "realesrgan_model")
    return {"degradations": degradations, "process": process, "diffjpeg": diffjpeg, "model": model}


class _Script:
    """Stands in for ``random`` and ``np.random``: returns recorded values in the order they are asked for."""

    def __init__(self) -> None:
        self.uniforms: deque[float] = deque()
        self.picks: deque[Any] = deque()

    def uniform(self, *args: Any) -> float:
        return self.uniforms.popleft()

    def choices(self, population: list[Any], weights: Any = None) -> list[Any]:
        value = self.picks.popleft()
        assert value in population, (value, population)
        return [value]

    def choice(self, population: list[Any]) -> Any:
        value = self.picks.popleft()
        assert value in population, (value, population)
        return value

    def check_used(self) -> None:
        assert not self.uniforms and not self.picks, (self.uniforms, self.picks)


class _NumpyWith:
    """``numpy`` with its ``random`` replaced by a script."""

    def __init__(self, script: _Script) -> None:
        self.random = script

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _kernel(
    original: dict[str, types.ModuleType], script: _Script, spec: dict[str, Any], stage: int
) -> np.ndarray:
    """The kernel ``RealESRGANDataset.__getitem__`` makes for a recorded spec, by its own calls."""
    degradations = original["degradations"]
    size = spec["size"]
    if spec["type"] == "sinc":
        values = degradations.circular_lowpass_kernel(spec["omega"], size, pad_to=False)
    else:
        script.picks.append(spec["type"])
        script.uniforms.append(spec["sigma_x"])
        if spec["type"].endswith("aniso"):
            script.uniforms.extend([spec["sigma_y"], spec["theta"]])
        if "beta" in spec:
            script.uniforms.extend([0.0 if spec["beta"] < 1 else 0.9, spec["beta"]])
        sigma = ((0.2, 3.0), (0.2, 1.5))[stage]
        values = degradations.random_mixed_kernels(
            ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
            [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
            size,
            sigma,
            sigma,
            [-np.pi, np.pi],
            (0.5, 4),
            (1, 2),
            noise_range=None,
        )
        script.check_used()
    pad = (21 - size) // 2
    return np.pad(values, ((pad, pad), (pad, pad)))


def _direction(factor: float) -> str:
    return "up" if factor > 1 else "down" if factor < 1 else "keep"


class _RecordedJPEG(torch.nn.Module):
    """``DiffJPEG(differentiable=False)`` given the recorded qualities as float32 tensors."""

    def __init__(self, jpeger: torch.nn.Module, qualities: list[float]) -> None:
        super().__init__()
        self.jpeger, self.qualities = jpeger, deque(qualities)

    def forward(self, image: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        return self.jpeger(image, quality=torch.tensor([self.qualities.popleft()], dtype=torch.float32))


def feed_data(original: dict[str, types.ModuleType], image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """``RealESRGANModel.feed_data`` on one uint8 RGB image with recorded draws; the uint8 ``lq``."""
    degradations, model_module = original["degradations"], original["model"]
    script = _Script()
    degradations.random, degradations.np = script, _NumpyWith(script)
    kernel1 = _kernel(original, script, params["kernel1"], 0)
    kernel2 = _kernel(original, script, params["kernel2"], 1)
    if params["final_sinc"]:
        sinc = degradations.circular_lowpass_kernel(
            params["final_sinc"]["omega"], params["final_sinc"]["size"], 21
        )
        sinc = torch.FloatTensor(sinc)
    else:  # RealESRGANDataset.pulse_tensor
        sinc = torch.zeros(21, 21).float()
        sinc[10, 10] = 1
    degradations.random, degradations.np = random, np

    # the stage draws, in the order feed_data asks for them
    noises = deque([params["noise1"], params["noise2"]])
    for resize, noise, blur in (
        (params["resize1"], params["noise1"], None),
        (params["resize2"], params["noise2"], params["blur2"]),
    ):
        if blur is not None:
            script.uniforms.append(0.0 if blur else 0.99)  # < second_blur_prob
        script.picks.append(_direction(resize["factor"]))
        if resize["factor"] != 1:
            script.uniforms.append(resize["factor"])
        script.picks.append(resize["mode"])
        script.uniforms.append(0.0 if noise["kind"] == "gaussian" else 0.99)  # < gaussian_noise_prob
    script.uniforms.append(0.99 if params["jpeg_first"] else 0.0)  # < 0.5: resize + sinc first
    script.picks.append(params["final_mode"])
    model_module.random, model_module.np = script, _NumpyWith(script)

    torch.manual_seed(params["seed"])
    stream = {"state": torch.get_rng_state()}

    def recorded_noise(img: torch.Tensor, clip: bool, rounds: bool, **_: Any) -> torch.Tensor:
        spec = noises.popleft()
        saved = torch.get_rng_state()
        torch.set_rng_state(stream["state"])
        gray = torch.tensor([1.0 if spec["gray"] else 0.0])
        if spec["kind"] == "gaussian":
            noise = degradations.generate_gaussian_noise_pt(
                img, torch.tensor([spec["sigma"]], dtype=torch.float32), gray
            )
        else:
            noise = degradations.generate_poisson_noise_pt(
                img, torch.tensor([spec["scale"]], dtype=torch.float32), gray
            )
        stream["state"] = torch.get_rng_state()
        torch.set_rng_state(saved)
        assert clip and not rounds
        return torch.clamp(img + noise, 0, 1)  # random_add_*_noise_pt with clip=True, rounds=False

    model_module.random_add_gaussian_noise_pt = recorded_noise
    model_module.random_add_poisson_noise_pt = recorded_noise
    model_module.paired_random_crop = lambda gts, lq, gt_size, scale: (gts, lq)

    model = model_module.RealESRGANModel.__new__(model_module.RealESRGANModel)
    model.is_train, model.device = True, torch.device("cpu")
    model.opt = {"scale": params["scale"], "gt_size": 256, "jpeg_range": [30, 95], "jpeg_range2": [30, 95]}
    model.opt.update({key: None for key in ("resize_prob", "resize_range", "resize_prob2", "resize_range2")})
    model.opt.update(resize_range=[0.15, 1.5], resize_range2=[0.3, 1.2], gaussian_noise_prob=0.5)
    model.opt.update(
        gaussian_noise_prob2=0.5, second_blur_prob=0.8, gray_noise_prob=0.4, gray_noise_prob2=0.4
    )
    model.opt.update(noise_range=[1, 30], noise_range2=[1, 25], poisson_scale_range=[0.05, 3])
    model.opt.update(poisson_scale_range2=[0.05, 2.5])
    model.jpeger = _RecordedJPEG(
        original["diffjpeg"].DiffJPEG(differentiable=False), [params["jpeg1"], params["jpeg2"]]
    )
    model.usm_sharpener = original["process"].USMSharp()
    model._dequeue_and_enqueue = lambda: None  # the training pair pool
    gt = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    batch = {
        "gt": gt,
        "kernel1": torch.FloatTensor(kernel1)[None],
        "kernel2": torch.FloatTensor(kernel2)[None],
    }
    batch["sinc_kernel"] = sinc[None]
    model.feed_data(batch)
    script.check_used()
    assert not noises and not model.jpeger.qualities
    return torch.round(model.lq[0] * 255).permute(1, 2, 0).numpy().astype(np.uint8)


def codec_input(index: int, height: int, width: int) -> np.ndarray:
    """A float-ish test picture, stored as uint16 (the codec sees ``u16 / 65535`` as float32)."""
    photo = data.astronaut()[100 + 40 * index : 100 + 40 * index + height, 180 : 180 + width].astype(np.int64)
    dither = np.random.default_rng(index).integers(-400, 400, size=photo.shape)
    return np.clip(photo * 257 + dither, 0, 65535).astype(np.uint16).transpose(2, 0, 1).copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("basicsr", type=Path, help="a checkout of XPixelGroup/BasicSR (v1.4.2 or later)")
    parser.add_argument("realesrgan", type=Path, help="a checkout of xinntao/Real-ESRGAN")
    args = parser.parse_args()
    original = load_original(args.basicsr, args.realesrgan)
    torch.set_num_threads(1)
    golden: dict[str, np.ndarray] = {}
    operation = get_operation("realesrgan")(scale=4)
    cases = []
    for index in SAMPLER_SEEDS:
        name = list(CROPS)[index % len(CROPS)]
        image = getattr(data, name)()[CROPS[name]]
        params = operation.sample(np.random.default_rng(index), image.shape)
        params.pop("jpeg", None)  # the codec is the original's; the draws are what the record holds
        params.update(json.loads(json.dumps(COVER.get(index, {}))))
        golden[f"case{index}"] = feed_data(original, image, params)
        cases.append({"image": name, "params": params})
    jpeger = original["diffjpeg"].DiffJPEG(differentiable=False)
    codec = []
    for index, (height, width) in enumerate(CODEC_SHAPES):
        stored = codec_input(index, height, width)
        golden[f"codec_input{index}"] = stored
        image = torch.from_numpy(stored.astype(np.float32) / 65535)[None]
        for quality in CODEC_QUALITIES:
            with torch.no_grad():
                out = jpeger(image, quality=torch.tensor([quality], dtype=torch.float32))[0].numpy()
            key = f"codec{index}_q{quality:g}"
            golden[key] = np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
            codec.append(
                {
                    "input": index,
                    "quality": quality,
                    "key": key,
                    "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                }
            )
    sources = {
        path: hashlib.sha256((root / path).read_bytes()).hexdigest()
        for root, path in (
            (args.basicsr, "basicsr/utils/diffjpeg.py"),
            (args.basicsr, "basicsr/utils/img_process_util.py"),
            (args.basicsr, "basicsr/data/degradations.py"),
            (args.realesrgan, "realesrgan/models/realesrgan_model.py"),
        )
    }
    meta = {
        "cases": cases,
        "codec": codec,
        "crops": {k: [v[0].start, v[0].stop, v[1].start, v[1].stop] for k, v in CROPS.items()},
    }
    meta["crops_sha256"] = {
        name: hashlib.sha256(getattr(data, name)()[crop].tobytes()).hexdigest()
        for name, crop in CROPS.items()
    }
    meta["sources_sha256"], meta["torch"] = sources, torch.__version__
    golden["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT, **golden)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
