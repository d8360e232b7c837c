"""Run DeOldify over a folder (executed by the ``deoldify`` recipe with DeOldify's own interpreter).

DeOldify stretches its input to a square of 16 x render_factor pixels and keeps the input's
luminance, taking only chroma from the network (see docs/baselines.md). What this driver does about
DeOldify's habits (jantic/DeOldify at commit 5f86c28):

- its ``torch.load`` calls unpickle whole objects, refused by torch >= 2.6 unless
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: the driver sets that variable for its own process (the
  weights file is the one the user gave; nothing else is loaded);
- importing ``deoldify`` sets ``CUDA_VISIBLE_DEVICES=''``: the driver calls ``deoldify.device.set`` with
  ``--gpu`` (``-1``: the CPU) before torch is imported;
- fastai's ``Learner.load`` writes a temporary copy of the weights next to them, and the visualiser
  creates ``./result_images``: the driver gives DeOldify a temporary root (``models/`` linking to the
  checkout's weights) and works inside it, so neither the checkout nor the caller's folder is written
  to; the temporary root is removed afterwards, also after a failure.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

WEIGHTS = {"artistic": "ColorizeArtistic_gen", "stable": "ColorizeStable_gen"}


def main():
    """Colourize every PNG of --input-dir into --output-dir under the same name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, type=Path)
    parser.add_argument("--input-dir", required=True, type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--render-factor", type=int, default=35)
    parser.add_argument("--variant", choices=sorted(WEIGHTS), default="artistic")
    parser.add_argument("--gpu", type=int, default=-1, help="CUDA index, -1 for the CPU")
    args = parser.parse_args()
    repo, input_dir, output_dir = (path.resolve() for path in (args.repo, args.input_dir, args.output_dir))
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    sys.path.insert(0, str(repo))
    import deoldify  # noqa: E402 - DeOldify's own package, in its environment
    from deoldify.device_id import DeviceId

    deoldify.device.set(DeviceId.CPU if args.gpu < 0 else DeviceId(args.gpu))
    from deoldify.visualize import get_image_colorizer

    output_dir.mkdir(parents=True, exist_ok=True)
    caller = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="deoldify-") as root:
        (Path(root) / "models").mkdir()
        name = WEIGHTS[args.variant] + ".pth"
        (Path(root) / "models" / name).symlink_to(repo / "models" / name)
        os.chdir(root)
        try:
            colorizer = get_image_colorizer(
                root_folder=Path(root), render_factor=args.render_factor, artistic=args.variant == "artistic"
            )
            for path in sorted(input_dir.glob("*.png")):
                image = colorizer.get_transformed_image(
                    path, render_factor=args.render_factor, watermarked=False
                )
                image.save(output_dir / path.name)
        finally:
            os.chdir(caller)


if __name__ == "__main__":
    main()
