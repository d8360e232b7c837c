"""Named recipes: the deep baselines' own code, run on exported files by :class:`.command.CommandAdapter`.

Each recipe checks, at load time, the files a real run of the official code needs (and refuses with
the list of what is missing), passes the device, offers the official switches as options, and
detects the failures the official scripts hide. ``docs/baselines.md`` records, per recipe, the official
commit read and what was verified.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pikfix_bench.baselines.base import ModelDescriptor, ModelError, ModelOption, Task, register_model
from pikfix_bench.baselines.command import COMMON_OPTIONS, CommandAdapter, check_template

TRACEBACK = "Traceback (most recent call last)"
# Besides letters and digits, the characters a path may hold to stay one word when pasted into a shell
# command unquoted (what shlex.quote leaves bare).
SHELL_WORD_CHARACTERS = frozenset("@%+=:,./-_")
# The placeholders of deep-exemplar's correspondence= (filled in, quoted, by deep_exemplar_driver.py).
CORRESPONDENCE_PLACEHOLDERS = ("data_root", "last_line", "gpu")


def _descriptor(
    name: str,
    description: str,
    task: Task,
    get_it: str,
    devices: tuple[str, ...] = ("cpu", "cuda"),
    uses_reference: bool = False,
    options: dict[str, ModelOption] | None = None,
) -> ModelDescriptor:
    """A recipe's descriptor: RGB input, whole-dataset batches, the command options and ``repo``."""
    return ModelDescriptor(
        name,
        description,
        task,
        uses_reference,
        "RGB",
        devices=devices,
        options={
            **COMMON_OPTIONS,
            "repo": ModelOption(f"a checkout of {get_it}", "dir", required=True),
            **(options or {}),
        },
        requires_weights=True,
        batch_size=0,
    )


class Recipe(CommandAdapter):
    """A checkout of published code, run by a fixed command line."""

    safe_names = True
    get_it: ClassVar[str] = ""  # what to fetch, for messages

    def required_files(self) -> list[str]:
        """Paths, relative to the checkout, that a run with these options reads."""
        return []

    def weight_files(self) -> dict[str, Path]:
        """The file options, and every file other than Python code among :meth:`required_files`
        (the checkout's checkpoints), as ``repo/<path>``."""
        files = super().weight_files()
        repo = Path(self.settings["repo"])
        for name in self.required_files():
            path = repo / name
            found = sorted(path.rglob("*")) if path.is_dir() else [path]
            files.update(
                {
                    f"repo/{p.relative_to(repo).as_posix()}": p
                    for p in found
                    if p.is_file() and p.suffix != ".py"
                }
            )
        return files

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        repo = Path(self.settings["repo"])
        missing = [name for name in self.required_files() if not (repo / name).exists()]
        if missing:
            raise ModelError(
                f"{self.descriptor.name}: {repo} lacks {', '.join(missing)}; a run with these options needs "
                f"them (a checkout of {self.get_it})"
            )


def _exception_line(log: str, start: int) -> str:
    """The ``Error: message`` line that ends the traceback starting at ``start``."""
    for line in log[start:].splitlines()[1:]:
        if line and not line[0].isspace():
            return line.strip()
    return "a traceback"


@register_model
class Wan2020Adapter(Recipe):
    """Bringing Old Photos Back to Life (Wan et al. 2020): ``run.py`` (all four stages) or stage 1 alone.

    Verified on microsoft/Bringing-Old-Photos-Back-to-Life at commit 33875ec: ``run.py`` starts each
    stage with ``python`` from ``PATH`` and ignores its exit status, so a stage that fails (the face
    stages without ``dlib``) leaves the earlier stage's images in ``final_output/`` and exits 0; the
    stage-1 loader prints "not exists yet!" and goes on with random weights when a checkpoint is missing.
    ``run.py`` also pastes its folders into shell commands unquoted: a work folder with a space or shell
    syntax in its path is refused rather than given to it.
    """

    get_it = "https://github.com/microsoft/Bringing-Old-Photos-Back-to-Life with its checkpoints"
    descriptor = _descriptor(
        "wan2020",
        "Bringing Old Photos Back to Life (Wan et al. 2020): run.py, outputs in final_output/",
        "restoration",
        get_it,
        options={
            "with_scratch": ModelOption(
                "1: --with_scratch (scratch detection first)", "choice", "0", choices=("0", "1")
            ),
            "hr": ModelOption("1: --HR (high-resolution variant)", "choice", "0", choices=("0", "1")),
            "stages": ModelOption(
                "all: run.py (global restoration, then faces); global: stage 1 only (Global/test.py)",
                "choice",
                "all",
                choices=("all", "global"),
            ),
        },
    )

    def required_files(self) -> list[str]:  # noqa: D102
        restoration = "Global/checkpoints/restoration"
        scratch, hr = self.settings["with_scratch"] == "1", self.settings["hr"] == "1"
        files = ["run.py", "Global/test.py", f"{restoration}/VAE_A_quality/latest_net_G.pth"]
        if scratch:
            mapping = "mapping_Patch_Attention" if hr else "mapping_scratch"
            files += [
                "Global/detection.py",
                "Global/checkpoints/detection/FT_Epoch_latest.pt",
                f"{restoration}/VAE_B_scratch/latest_net_G.pth",
                f"{restoration}/{mapping}/latest_net_mapping_net.pth",
            ]
        else:
            files += [
                f"{restoration}/VAE_B_quality/latest_net_G.pth",
                f"{restoration}/mapping_quality/latest_net_mapping_net.pth",
            ]
        if self.settings["stages"] == "all":
            face = "FaceSR_512" if hr else "Setting_9_epoch_100"
            files += [
                "Face_Detection/shape_predictor_68_face_landmarks.dat",
                f"Face_Enhancement/checkpoints/{face}/latest_net_G.pth",
            ]
        return files

    def command_template(self) -> str:  # noqa: D102
        scratch = self.settings["with_scratch"] == "1"
        hr = " --HR" if self.settings["hr"] == "1" else ""
        if self.settings["stages"] == "all":
            return (
                "cd {repo} && {python} run.py --input_folder {input_dir} --output_folder {output_dir} --GPU {gpu}"
                + (" --with_scratch" if scratch else "")
                + hr
            )
        if not scratch:  # run.py's stage 1 command line
            return (
                "cd {repo}/Global && {python} test.py --test_mode Full --Quality_restore --test_input {input_dir} "
                "--outputs_dir {output_dir} --gpu_ids {gpu}"
            )
        return (
            "cd {repo}/Global && {python} detection.py --test_path {input_dir} --output_dir {output_dir}/masks "
            "--input_size full_size --GPU {gpu} && {python} test.py --Scratch_and_Quality_restore "
            "--test_input {output_dir}/masks/input --test_mask {output_dir}/masks/mask --outputs_dir {output_dir} "
            "--gpu_ids {gpu}" + hr
        )

    def outputs_subdir(self) -> str:  # noqa: D102
        return "final_output" if self.settings["stages"] == "all" else "restored_image"

    def check_work_folder(self, work: Path) -> None:
        """Under ``run.py``, refuse a work folder whose path the shell would split or run (``;``, ``$(...)``)."""
        if self.settings["stages"] != "all":  # stage 1 alone: our own command line, every path quoted
            return
        path = os.path.abspath(work)  # run.py makes its folders absolute before pasting them
        unsafe = sorted({char for char in path if not (char.isalnum() or char in SHELL_WORD_CHARACTERS)})
        if unsafe:
            raise ModelError(
                f"wan2020: run.py pastes its folders into shell commands unquoted, so the work folder {path!r} "
                f"must not hold {' '.join(map(repr, unsafe))}; choose an --out path of letters, digits and "
                f"{' '.join(sorted(SHELL_WORD_CHARACTERS))}"
            )

    def failure_in_log(self, log: str) -> str | None:
        """A traceback anywhere in the log fails the call, naming the stage run.py had announced."""
        start = log.find(TRACEBACK)
        if start < 0:
            return None
        stages = [line for line in log[:start].splitlines() if line.startswith("Running Stage")]
        stage = stages[-1].removeprefix("Running ").strip() if stages else "the command"
        return f"{stage} failed ({_exception_line(log, start)})"


@register_model
class DeOldifyAdapter(Recipe):
    """DeOldify through its Python API, by ``baselines/drivers/deoldify_driver.py`` in DeOldify's environment.

    Verified on jantic/DeOldify at commit 5f86c28: importing ``deoldify`` sets ``CUDA_VISIBLE_DEVICES=''``
    (CPU) until ``deoldify.device.set`` is called; fastai's ``Learner.load`` writes a temporary copy of the
    weights into ``models/`` and the visualiser creates ``./result_images``; its ``torch.load`` calls need
    ``weights_only=False`` on torch >= 2.6. The driver handles all four (see its docstring).
    """

    get_it = (
        "https://github.com/jantic/DeOldify with models/ColorizeArtistic_gen.pth (or ColorizeStable_gen.pth)"
    )
    descriptor = _descriptor(
        "deoldify",
        "DeOldify (artistic or stable) via its Python API on exported images",
        "colorization",
        get_it,
        options={
            "render_factor": ModelOption(
                "DeOldify's render_factor (the network sees 16 x it pixels square)", "int", 35, minimum=1
            ),
            "variant": ModelOption(
                "artistic or stable weights", "choice", "artistic", choices=("artistic", "stable")
            ),
        },
    )

    def required_files(self) -> list[str]:  # noqa: D102
        weights = (
            "ColorizeArtistic_gen.pth" if self.settings["variant"] == "artistic" else "ColorizeStable_gen.pth"
        )
        return ["deoldify/visualize.py", f"models/{weights}"]

    def command_template(self) -> str:  # noqa: D102
        return (
            "{python} {driver_dir}/deoldify_driver.py --repo {repo} --input-dir {input_dir} --output-dir {output_dir} "
            "--render-factor {render_factor} --variant {variant} --gpu {gpu}"
        )


@register_model
class InstColorizationAdapter(Recipe):
    """InstColorization (Su et al. 2020): detectron2 boxes, then the fusion model at 256 x 256.

    Verified on ericsujw/InstColorization at commit 1ce3d25: ``test_fusion.py`` sets
    ``CUDA_VISIBLE_DEVICES="0"`` and calls ``.cuda()`` (CUDA only, first GPU only); ``inference_bbox.py``
    names its box files by ``name.split('.')[0]`` (inputs are exported as ``s000000.png`` for that).
    """

    get_it = "https://github.com/ericsujw/InstColorization with its checkpoints/"
    descriptor = _descriptor(
        "instcolorization",
        "InstColorization (Su et al. 2020): detectron2 boxes, then fusion model at 256x256 (CUDA)",
        "colorization",
        get_it,
        devices=("cuda",),
    )

    def load(self, device: str) -> None:  # noqa: D102
        super().load(device)
        if self.gpu != 0:
            raise ModelError(
                f"instcolorization: its test_fusion.py sets CUDA_VISIBLE_DEVICES=0, so it runs on cuda:0 only, "
                f"not {device}"
            )

    def required_files(self) -> list[str]:  # noqa: D102
        return ["test_fusion.py", "inference_bbox.py", "checkpoints/coco_finetuned_mask_256_ffs"]

    def command_template(self) -> str:  # noqa: D102
        return (
            "cd {repo} && {python} inference_bbox.py --test_img_dir {input_dir} && {python} test_fusion.py "
            "--name test_fusion --sample_p 1.0 --model fusion --fineSize 256 --test_img_dir {input_dir} "
            "--results_img_dir {output_dir}"
        )


@register_model
class DeepExemplarAdapter(Recipe):
    """He et al. 2018, deep exemplar-based colourization, by ``baselines/drivers/deep_exemplar_driver.py``.

    Verified on msracver/Deep-Exemplar-based-Colorization at commit 9640261: the data root holds
    ``input/`` (targets and references) and ``pairs.txt`` (``target reference 1`` per line, names
    relative to ``input/``); the compiled Deep Image Analogy and similarity programs write
    ``combo_new/<target>_<reference>.combo``; ``colorization_subnet/test.py`` writes
    ``<target>_<reference>.png``. The compiled programs are yours to build: ``correspondence=`` is the
    command that runs them (placeholders ``{data_root}``, ``{last_line}``, ``{gpu}``, inserted quoted by the
    driver and checked, as the ``command`` template is, when the model is created).
    """

    get_it = (
        "https://github.com/msracver/Deep-Exemplar-based-Colorization (colorization_subnet and its model)"
    )
    descriptor = _descriptor(
        "deep-exemplar",
        "He et al. 2018 deep exemplar-based colorization (your build of its correspondence step)",
        "colorization",
        get_it,
        uses_reference=True,
        options={
            "correspondence": ModelOption(
                "command that writes combo_new/*.combo in {data_root} (its compiled programs)", required=True
            ),
            "model": ModelOption(
                "colorization sub-net weights, relative to the checkout",
                default="demo/models/colorization_subnet/example_net.pth",
            ),
            "short_size": ModelOption("test.py --short_size (0: native size)", "int", 256, minimum=0),
        },
    )

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        check_template(
            self.settings["correspondence"],
            CORRESPONDENCE_PLACEHOLDERS,
            "model deep-exemplar: --model-opt correspondence",
        )

    def required_files(self) -> list[str]:  # noqa: D102
        return ["colorization_subnet/test.py", self.settings["model"]]

    def command_template(self) -> str:  # noqa: D102
        return (
            "{python} {driver_dir}/deep_exemplar_driver.py --repo {repo} --input-dir {input_dir} --ref-dir {ref_dir} "
            "--output-dir {output_dir} --correspondence {correspondence} --model {model} --short-size {short_size} "
            "--gpu {gpu}"
        )
