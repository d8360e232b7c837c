"""``restore``: run a model on a folder of photographs and write its outputs under the inputs' names.

The model zoo's usual entry point (Wan et al.'s ``run.py``, DeOldify's notebooks) on the toolkit's own
adapters: the same input preparation and device placement as ``evaluate``
(:func:`~pikfix_bench.evaluation.alignment.predict_each`, :func:`~pikfix_bench.evaluation.shard.load_model`),
but no dataset, no ground truth and no scores. ``IN/a/b.jpg`` becomes ``OUT/a/b.png`` (lossless PNG, the
relative name kept). An output that already exists and reads back as an image is not made again, so an
interrupted command continues where it stopped; one input that cannot be read or restored is named and
costs only itself.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pikfix_bench.baselines import ModelAdapter, create_model
from pikfix_bench.baselines.command import CommandAdapter
from pikfix_bench.devices import resolve_device
from pikfix_bench.errors import ImageReadError, PikfixError
from pikfix_bench.evaluation.alignment import batch_size_for, predict_each
from pikfix_bench.evaluation.shard import load_model
from pikfix_bench.image_io import image_files, printable, read_image, write_png
from pikfix_bench.pairing import index_image_folder
from pikfix_bench.progress import Progress
from pikfix_bench.safe_paths import name_problem, path_inside


@dataclass
class RestoreResult:
    """What :func:`restore_folder` did: outputs written, skipped as already there, and failures."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # outputs that were already there (resumed)
    failed: dict[str, str] = field(default_factory=dict)  # input name -> why
    device: str = "cpu"  # where the model ran


def list_inputs(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The images under ``folder`` (recursive) by name (relative path without suffix), and the entries
    passed over with why (broken links, names that cannot name an output file, two files of one name)."""
    if not folder.is_dir():
        raise PikfixError(f"--input {folder}: not a folder")
    files, passed_over = image_files(sorted(folder.rglob("*")))
    problems = {printable(str(path)): reason for path, reason in passed_over}
    inputs: dict[str, Path] = {}
    for path in files:
        name = path.relative_to(folder).with_suffix("").as_posix()
        if problem := name_problem(name):
            problems[printable(str(path))] = f"cannot name its output: '{printable(name)}' {problem}"
        elif name in inputs:
            problems[printable(str(path))] = f"{inputs[name].name} has the same name without suffix"
        else:
            inputs[name] = path
    return inputs, problems


def _done(path: Path) -> bool:
    """Whether an output is already there and reads back as an image (a torn file is made again)."""
    if not path.is_file():
        return False
    try:
        read_image(path)
    except PikfixError:
        return False
    return True


def restore_folder(
    model_name: str,
    input_dir: str | Path,
    out: str | Path,
    *,
    model_options: dict[str, str] | None = None,
    references: str | Path | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = True,
) -> RestoreResult:
    """Restore every image under ``input_dir`` into ``out`` with a registered model.

    Parameters
    ----------
    model_name : str
        A registered model (``pikfix-bench models list``), or ``a+b``.
    input_dir : str or Path
        A folder of photographs (searched recursively), gray or colour, any size.
    out : str or Path
        Where the outputs go: ``out/<relative name>.png``.
    model_options : dict, optional
        ``--model-opt`` values, checked before any image is read.
    references : str or Path, optional
        A folder of references named as the inputs, for models that read one (required for them).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, as ``evaluate``: the model runs there when it can,
        else on the CPU.
    batch_size : int, optional
        Images per model call (default: the model's preference, else 8).
    progress : bool
        Show progress on standard error (:class:`~pikfix_bench.progress.Progress`).

    Returns
    -------
    RestoreResult
        The names written, skipped (already there) and failed with why.
    """
    input_dir, out = Path(input_dir), Path(out)
    model = create_model(model_name, **(model_options or {}))  # options checked before any work
    if out.exists() and not out.is_dir():
        raise PikfixError(f"--out {out}: not a folder (a file is there)")
    if out.resolve() == input_dir.resolve():
        raise PikfixError("--out must not be the --input folder (the outputs would replace the photographs)")
    if model.descriptor.uses_reference and references is None:
        raise PikfixError(
            f"{model.descriptor.name} reads a reference image: give --references DIR (images named as the inputs)"
        )
    inputs, problems = list_inputs(input_dir)
    if not inputs and not problems:
        raise PikfixError(f"--input {input_dir}: no images found")
    by_name, bad_references = index_image_folder(Path(references)) if references is not None else ({}, {})
    result = RestoreResult(failed=dict(problems))
    todo = []
    for name in inputs:
        if _done(path_inside(out, name, ".png", what="input name")):
            result.skipped.append(name)
        elif references is not None and name not in by_name:
            missing = f"no reference named {name}.* in {references}"
            result.failed[name] = "; ".join(bad_references.get(name, [missing]))
        else:
            todo.append(name)
    if not todo:
        return result
    load_model(model, resolve_device(device))
    result.device = model.device
    size = batch_size_for(model, batch_size, len(todo))
    with tempfile.TemporaryDirectory(prefix="pikfix-restore-") as work:
        if isinstance(model, CommandAdapter):
            model.work_dir = Path(work) / "work"
        done = len(result.skipped)
        with Progress(
            done + len(todo), model.descriptor.name, unit="img", initial=done, enabled=progress
        ) as bar:
            for start in range(0, len(todo), size):
                _restore_batch(model, todo[start : start + size], inputs, by_name, out, result)
                bar.update(len(todo[start : start + size]))
    return result


def _restore_batch(
    model: ModelAdapter,
    names: list[str],
    inputs: dict[str, Path],
    references: dict[str, Path],
    out: Path,
    result: RestoreResult,
) -> None:
    """Read, restore and write one batch; each image that fails is recorded with why."""
    ready, images, refs = [], [], []
    for name in names:
        try:
            image = read_image(inputs[name])
            ref = read_image(references[name]) if name in references else image
        except (ImageReadError, PikfixError) as exc:
            result.failed[name] = str(exc)
            continue
        ready.append(name)
        images.append(image)
        refs.append(ref)
    if not ready:
        return
    for name, output in zip(ready, predict_each(model, ready, images, refs), strict=True):
        if isinstance(output, str):
            result.failed[name] = output
            continue
        write_png(path_inside(out, name, ".png", what="input name"), output)
        result.written.append(name)
