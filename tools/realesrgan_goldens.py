"""Write ``tests/data/realesrgan_basicsr.npz``: outputs of basicsr 1.4.2's own degradation functions.

``tests/test_realesrgan.py`` holds ``pikfix_bench.degradations.realesrgan`` to them: every kernel family
(``bivariate_Gaussian``, ``bivariate_generalized_Gaussian``, ``bivariate_plateau``, isotropic and not,
and ``circular_lowpass_kernel``), ``USMSharp``, ``filter2D`` and the noise-free part of
``RealESRGANModel.feed_data`` (blur, resize by a factor, blur, resize to a size, resize to ori // 4 and
sinc, ``clamp(round(255 x))``). Run once by a maintainer, on the unpacked sdist::

    pip download --no-deps --no-build-isolation basicsr==1.4.2 -d /tmp/bsr && tar xzf /tmp/bsr/basicsr-1.4.2.tar.gz -C /tmp/bsr
    python tools/realesrgan_goldens.py /tmp/bsr/basicsr-1.4.2

basicsr's modules are loaded from their files (its package ``__init__`` needs compiled extensions);
``torchvision.transforms.functional_tensor``, gone from torchvision since 0.17, is stood in for by
``torchvision.transforms.functional``, whose ``rgb_to_grayscale`` is the same.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional
from skimage import data
from torch.nn import functional as F

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "realesrgan_basicsr.npz"

# (type, size, sigma_x, sigma_y, theta, beta) of each kernel, and (size, omega) of two sinc kernels
KERNELS = [
    ("iso", 7, 1.3, 1.3, 0.0, None),
    ("aniso", 21, 2.7, 0.6, 0.9, None),
    ("generalized_iso", 13, 1.1, 1.1, 0.0, 0.6),
    ("generalized_aniso", 15, 2.2, 0.9, -2.1, 3.1),
    ("plateau_iso", 9, 0.8, 0.8, 0.0, 1.7),
    ("plateau_aniso", 17, 2.5, 1.2, 0.4, 1.2),
]
SINCS = [(11, 2.4), (21, 0.8)]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("basicsr", type=Path, help="the unpacked basicsr-1.4.2 source folder")
    root = parser.parse_args().basicsr / "basicsr"
    sys.modules["torchvision.transforms.functional_tensor"] = torchvision.transforms.functional
    degradations = _load(root / "data" / "degradations.py", "basicsr_degradations")
    process = _load(root / "utils" / "img_process_util.py", "basicsr_img_process_util")
    golden: dict[str, np.ndarray] = {}
    for index, (kind, size, sigma_x, sigma_y, theta, beta) in enumerate(KERNELS):
        isotropic = not kind.endswith("aniso")
        if kind in ("iso", "aniso"):
            values = degradations.bivariate_Gaussian(size, sigma_x, sigma_y, theta, isotropic=isotropic)
        elif kind.startswith("generalized"):
            values = degradations.bivariate_generalized_Gaussian(
                size, sigma_x, sigma_y, theta, beta, isotropic=isotropic
            )
        else:
            values = degradations.bivariate_plateau(size, sigma_x, sigma_y, theta, beta, isotropic=isotropic)
        golden[f"kernel{index}"] = np.pad(values, (21 - size) // 2)
    for index, (size, omega) in enumerate(SINCS):
        golden[f"sinc{index}"] = degradations.circular_lowpass_kernel(omega, size, pad_to=21)
    image = torch.from_numpy(data.astronaut()[100:164, 150:206].copy()).permute(2, 0, 1)[None].float() / 255
    usm = process.USMSharp()(image)
    golden["usm"] = usm.numpy()[0]
    kernel1 = torch.from_numpy(golden["kernel1"]).float()[None]
    kernel2 = torch.from_numpy(golden["kernel4"]).float()[None]
    sinc = torch.from_numpy(golden["sinc0"]).float()[None]
    out = process.filter2D(usm, kernel1)
    out = F.interpolate(out, scale_factor=0.63, mode="bicubic")
    out = process.filter2D(out, kernel2)
    out = F.interpolate(out, size=(int(64 / 4 * 1.1), int(56 / 4 * 1.1)), mode="area")
    out = F.interpolate(out, size=(64 // 4, 56 // 4), mode="bilinear")
    out = process.filter2D(out, sinc)
    golden["chain"] = torch.clamp((out * 255.0).round(), 0, 255).numpy()[0].astype(np.uint8)
    golden["specs"] = np.array(json.dumps({"kernels": KERNELS, "sincs": SINCS}))  # what the test rebuilds
    np.savez_compressed(OUT, **golden)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
