"""``command``: run a model's own code on exported files, and the named recipes built on it.

Each call gets a fresh work folder ``WORK`` (inside the run directory's ``work/``, removed
afterwards unless ``keep_work=1``): the harness exports the batch to ``WORK/input/<id>.png`` and
``WORK/ref/<id>.png`` and writes ``WORK/pairs.txt`` (``input_path ref_path`` per line). The command
template may use ``{input_dir}``, ``{ref_dir}``, ``{output_dir}``, ``{pairs_file}``, ``{repo}``,
``{python}`` and ``{gpu}`` (the CUDA index the model runs on, ``-1`` on the CPU); it runs through the
shell with a timeout, its output goes to ``WORK/command.log``, and outputs are collected from
``{output_dir}`` by sample id. See ``docs/baselines.md``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pikfix_bench.baselines.base import (
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelError,
    ModelOption,
    as_rgb,
    register_model,
)
from pikfix_bench.baselines.predictions import find_output
from pikfix_bench.image_io import read_image, write_png

COMMON_OPTIONS = {
    "command": ModelOption(
        "shell command template ({input_dir} {ref_dir} {output_dir} {pairs_file} {repo} {python} {gpu})"
    ),
    "timeout": ModelOption("seconds before the command is stopped", "float", 3600.0, minimum=1),
    "python": ModelOption("interpreter of the model's own environment", default="python"),
    "keep_work": ModelOption(
        "1: keep each call's work folder (inputs, outputs, log)", "choice", "0", choices=("0", "1")
    ),
    "retry": ModelOption(
        "batch: a failing call fails its samples; single: try each sample alone again",
        "choice",
        "batch",
        choices=("batch", "single"),
    ),
}


@register_model
class CommandAdapter(ModelAdapter):
    """Any external program that reads a folder of images and writes a folder of results."""

    descriptor = ModelDescriptor(
        "command",
        "run a model's own code on exported files (command template)",
        "any",
        uses_reference=True,
        input_mode="RGB",
        batch_size=0,
        devices=("cpu", "cuda"),
        options=dict(COMMON_OPTIONS),
    )
    template: str | None = None  # recipes provide one
    outputs_subdir: str = ""  # where the program puts its results, inside {output_dir}
    required_files: tuple[str, ...] = ()  # files a checkout must contain (recipes)
    get_it: str = ""  # what to fetch, for the error message

    work_dir: Path | None = None  # where work folders are made (the run directory's work/)

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.retry_single = self.settings["retry"] == "single"

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        if "repo" in self.descriptor.options:
            repo = self.settings["repo"]
            missing = [name for name in self.required_files if not (Path(repo) / name).exists()]
            if missing:
                raise ModelError(
                    f"{self.descriptor.name}: {repo} lacks {', '.join(missing)}; it should be a checkout of "
                    f"{self.get_it}"
                )
        if not (self.settings["command"] or self.template):
            raise ModelError(
                f"{self.descriptor.name} needs --model-opt command='...' using {{input_dir}} and "
                "{output_dir} (see docs/baselines.md)"
            )

    @property
    def gpu(self) -> int:
        """The CUDA index the model runs on, ``-1`` on the CPU (the ``{gpu}`` placeholder)."""
        if not self.device.startswith("cuda"):
            return -1
        return int(self.device.partition(":")[2] or 0)

    def predict(self, batch: Batch) -> list[np.ndarray | None]:  # noqa: D102
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="call-", dir=self.work_dir))
        try:
            return self._run(batch, work)
        finally:
            if self.settings["keep_work"] == "0":
                shutil.rmtree(work, ignore_errors=True)

    def _run(self, batch: Batch, work: Path) -> list[np.ndarray | None]:
        folders = {name: work / name for name in ("input", "ref", "output")}
        lines = []
        for sample_id, image, reference in zip(batch.ids, batch.inputs, batch.references, strict=True):
            write_png(folders["input"] / f"{sample_id}.png", as_rgb(image))
            write_png(folders["ref"] / f"{sample_id}.png", as_rgb(reference))
            lines.append(f"{folders['input'] / f'{sample_id}.png'} {folders['ref'] / f'{sample_id}.png'}")
        folders["output"].mkdir(parents=True, exist_ok=True)
        (work / "pairs.txt").write_text("\n".join(lines) + "\n")
        command = (self.settings["command"] or self.template).format(
            input_dir=shlex.quote(str(folders["input"])),
            ref_dir=shlex.quote(str(folders["ref"])),
            output_dir=shlex.quote(str(folders["output"])),
            pairs_file=shlex.quote(str(work / "pairs.txt")),
            repo=shlex.quote(self.settings.get("repo") or ""),
            python=self.settings["python"],
            gpu=self.gpu,
            driver_dir=shlex.quote(str(Path(__file__).parent / "drivers")),
        )
        timeout = self.settings["timeout"]
        log_path = self._log_path(work)
        with open(log_path, "a") as log:
            log.write(f"$ {command}\n")
            log.flush()
            try:
                completed = subprocess.run(
                    command, shell=True, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                )
            except subprocess.TimeoutExpired:
                raise ModelError(
                    f"{self.descriptor.name}: command timed out after {timeout:g} s (log: {log_path})"
                ) from None
        if completed.returncode != 0:
            raise ModelError(
                f"{self.descriptor.name}: command exited with status {completed.returncode} (log: {log_path})"
            )
        results: list[np.ndarray | None] = []  # a missing output fails its sample alone
        for sample_id in batch.ids:
            try:
                results.append(read_image(find_output(folders["output"] / self.outputs_subdir, sample_id)))
            except ModelError:
                results.append(None)
        return results

    def _log_path(self, work: Path) -> Path:
        """The call's log: inside a kept work folder, else beside it as ``call-XXXX.log`` (it outlives the call)."""
        if self.settings["keep_work"] == "1":
            return work / "command.log"
        return work.with_name(f"{work.name}.log")


def _recipe(
    name,
    description,
    task,
    template,
    required,
    get_it,
    outputs_subdir="",
    input_mode="RGB",
    uses_reference=False,
    fixed_size=None,
    size_multiple=1,
    extra_options=None,
):
    options = {
        **COMMON_OPTIONS,
        "repo": ModelOption(f"a checkout of {get_it}", "dir", required=True),
        **(extra_options or {}),
    }
    attributes = {
        "descriptor": ModelDescriptor(
            name,
            description,
            task,
            uses_reference,
            input_mode,
            size_multiple,
            fixed_size,
            ("cpu", "cuda"),
            options,
            requires_weights=True,
            batch_size=0,
        ),
        "template": template,
        "required_files": required,
        "get_it": get_it,
        "outputs_subdir": outputs_subdir,
        "__doc__": f"{description}. Needs a checkout of {get_it}.",
    }
    return register_model(type(f"{name.title().replace('-', '')}Adapter", (CommandAdapter,), attributes))


DeOldifyAdapter = _recipe(
    "deoldify",
    "DeOldify (artistic) via its Python API on exported images",
    "colorization",
    "{python} {driver_dir}/deoldify_driver.py --repo {repo} --input-dir {input_dir} --output-dir {output_dir}",
    ("deoldify/visualize.py", "models/ColorizeArtistic_gen.pth"),
    "https://github.com/jantic/DeOldify with models/ColorizeArtistic_gen.pth",
)
InstColorizationAdapter = _recipe(
    "instcolorization",
    "InstColorization (Su et al. 2020): detectron2 boxes, then fusion model at 256x256",
    "colorization",
    "cd {repo} && {python} inference_bbox.py --test_img_dir {input_dir} && {python} test_fusion.py --name test_fusion "
    "--sample_p 1.0 --model fusion --fineSize 256 --test_img_dir {input_dir} --results_img_dir {output_dir}",
    ("test_fusion.py", "inference_bbox.py", "checkpoints/coco_finetuned_mask_256_ffs"),
    "https://github.com/ericsujw/InstColorization with its checkpoints/",
)
Wan2020Adapter = _recipe(
    "wan2020",
    "Bringing Old Photos Back to Life (Wan et al. 2020): run.py, outputs in final_output/",
    "restoration",
    "cd {repo} && {python} run.py --input_folder {input_dir} --output_folder {output_dir} --GPU {gpu}",
    ("run.py", "Global/checkpoints/restoration"),
    "https://github.com/microsoft/Bringing-Old-Photos-Back-to-Life with its checkpoints",
    outputs_subdir="final_output",
)
DeepExemplarAdapter = _recipe(
    "deep-exemplar",
    "He et al. 2018 deep exemplar-based colorization; pairs list of target and reference",
    "colorization",
    None,
    (),
    "https://github.com/msracver/Deep-Exemplar-based-Colorization (built), run by your own --model-opt command "
    "using {pairs_file}",
    uses_reference=True,
)
