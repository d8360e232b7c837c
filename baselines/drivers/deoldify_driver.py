"""Run DeOldify's artistic colouriser over a folder (executed by the ``deoldify`` recipe in DeOldify's environment).

DeOldify stretches its input to a square of 16 x render_factor pixels and keeps the input's
luminance, taking only chroma from the network (see docs/baselines.md).
"""

import argparse
import sys
from pathlib import Path


def main() -> None:
    """Colourize every PNG of --input-dir into --output-dir with the same name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, type=Path)
    parser.add_argument("--input-dir", required=True, type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--render-factor", type=int, default=35)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo))
    from deoldify.visualize import get_image_colorizer  # noqa: PLC0415 - only inside DeOldify's environment

    colorizer = get_image_colorizer(root_folder=args.repo, artistic=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(args.input_dir.glob("*.png")):
        image = colorizer.get_transformed_image(path, render_factor=args.render_factor, watermarked=False)
        image.save(args.output_dir / path.name)


if __name__ == "__main__":
    main()
