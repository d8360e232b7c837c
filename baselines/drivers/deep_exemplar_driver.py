"""Lay out a batch as He et al.'s code expects, run it, and put the results back under the exported names.

Executed by the ``deep-exemplar`` recipe with the model's own interpreter. The official layout
(msracver/Deep-Exemplar-based-Colorization at commit 9640261, ``colorization_subnet/lib/TestDataset.py``):
a data root with ``input/`` holding targets and references and ``pairs.txt`` with ``target reference 1``
per line (names relative to ``input/``); its compiled correspondence programs write
``combo_new/<target>_<reference>.combo``; ``colorization_subnet/test.py`` writes
``<out_dir>/<target>_<reference>.png``. Targets are named ``t000000.png`` and references
``r000000.png`` here, so no name can confuse that scheme.

No path reaches a shell unquoted: ``test.py`` runs from an argument list, and the correspondence
command (a template of the user's, which may need a shell) gets its ``{data_root}``, ``{last_line}`` and
``{gpu}`` shell-quoted. The recipe checked that template when the model was created.
"""

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path


def main():
    """Build the data root, run the correspondence command and test.py, copy the outputs back."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, type=Path)
    parser.add_argument("--input-dir", required=True, type=Path)
    parser.add_argument("--ref-dir", required=True, type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--correspondence", required=True, help="command; {data_root} {last_line} {gpu}")
    parser.add_argument("--model", required=True, help="colorization sub-net weights, relative to --repo")
    parser.add_argument("--short-size", type=int, default=256)
    parser.add_argument("--gpu", type=int, default=-1)
    args = parser.parse_args()
    repo = args.repo.resolve()
    data_root = args.output_dir.resolve().parent / "data_root"
    (data_root / "input").mkdir(parents=True, exist_ok=True)
    names = sorted(path.stem for path in args.input_dir.glob("*.png"))
    lines = []
    for index, name in enumerate(names):
        shutil.copy(args.input_dir / f"{name}.png", data_root / "input" / f"t{index:06d}.png")
        shutil.copy(args.ref_dir / f"{name}.png", data_root / "input" / f"r{index:06d}.png")
        lines.append(f"t{index:06d}.png r{index:06d}.png 1")
    (data_root / "pairs.txt").write_text("\n".join(lines) + "\n")
    values = {"data_root": data_root, "last_line": len(names) - 1, "gpu": args.gpu}
    correspondence = args.correspondence.format(
        **{key: shlex.quote(str(value)) for key, value in values.items()}
    )
    print("$", correspondence, flush=True)
    subprocess.run(correspondence, shell=True, check=True, cwd=repo)
    test = [
        sys.executable,
        str(repo / "colorization_subnet" / "test.py"),
        "--short_size",
        str(args.short_size),
        "--test_model",
        str(repo / args.model),
        "--data_root",
        str(data_root),
        "--out_dir",
        str(data_root / "res"),
        "--gpu_id",
        str(args.gpu),
    ]
    print("$", shlex.join(test), flush=True)
    subprocess.run(test, check=True, cwd=repo)
    for index, name in enumerate(names):
        result = data_root / "res" / f"t{index:06d}_r{index:06d}.png"
        if result.is_file():
            shutil.copy(result, args.output_dir / f"{name}.png")


if __name__ == "__main__":
    main()
