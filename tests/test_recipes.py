"""Recipes against stand-in checkouts that behave as the official entry points were verified to behave.

Each stand-in imitates, in a few lines written here, what the official code does at its boundary:
its command line, the files it reads and writes, and how it exits (``run.py`` of Wan et al. ignores
a failing stage and exits 0). Nothing of the official code is copied.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pikfix_bench.baselines import Batch, ModelError, create_model


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def batch(count: int = 3, ids: list[str] | None = None) -> Batch:
    rng = np.random.default_rng(0)
    ids = ids or [f"img{i}" for i in range(count)]
    images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in ids]
    references = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in ids]
    return Batch(ids, images, references)


def loaded(name: str, tmp_path: Path, device: str = "cpu", **options: str):
    model = create_model(name, **options)
    model.load(device)
    model.work_dir = tmp_path / "work"
    return model


# --- Wan et al.: run.py starts its stages with a bare `python` and ignores their exit status ----------------
WAN_RUN = """
import argparse, os, shutil, sys
from subprocess import call
parser = argparse.ArgumentParser()
parser.add_argument("--input_folder"); parser.add_argument("--output_folder"); parser.add_argument("--GPU")
parser.add_argument("--with_scratch", action="store_true"); parser.add_argument("--HR", action="store_true")
opts = parser.parse_args()
print("ARGS", " ".join(sys.argv[1:]))
out = os.path.abspath(opts.output_folder)
stage_1 = os.path.join(out, "stage_1_restore_output")
print("Running Stage 1: Overall restoration")
os.chdir("Global")
call("python test.py --test_input " + opts.input_folder + " --outputs_dir " + stage_1, shell=True)
os.makedirs(os.path.join(out, "final_output"), exist_ok=True)
for name in os.listdir(os.path.join(stage_1, "restored_image")):
    shutil.copy(os.path.join(stage_1, "restored_image", name), os.path.join(out, "final_output"))
print("Running Stage 2: Face Detection")
os.chdir("../Face_Detection")
call("python detect_all_dlib.py", shell=True)
print("Running Stage 4: Blending")
call("python warp_back.py " + os.path.join(out, "final_output"), shell=True)
print("All the processing is done. Please check the results.")
"""
WAN_FILES = {
    "run.py": WAN_RUN,
    "Global/test.py": """
        import argparse, os, shutil, sys
        parser = argparse.ArgumentParser(); parser.add_argument("--test_input"); parser.add_argument("--outputs_dir")
        parser.add_argument("--test_mode"); parser.add_argument("--Quality_restore", action="store_true")
        parser.add_argument("--gpu_ids")
        opts, _ = parser.parse_known_args()
        print("stage 1 runs on", sys.executable, "gpu", opts.gpu_ids)
        os.makedirs(os.path.join(opts.outputs_dir, "restored_image"), exist_ok=True)
        for name in os.listdir(opts.test_input):
            shutil.copy(os.path.join(opts.test_input, name), os.path.join(opts.outputs_dir, "restored_image"))
    """,
    "Face_Detection/detect_all_dlib.py": "import dlib\n",
    "Face_Detection/warp_back.py": """
        import os, sys
        from PIL import Image, ImageOps
        for name in os.listdir(sys.argv[1]):  # stage 4 overwrites the final outputs
            path = os.path.join(sys.argv[1], name)
            ImageOps.invert(Image.open(path).convert("RGB")).save(path)
    """,
    "Global/checkpoints/restoration/VAE_A_quality/latest_net_G.pth": "",
    "Global/checkpoints/restoration/VAE_B_quality/latest_net_G.pth": "",
    "Global/checkpoints/restoration/mapping_quality/latest_net_mapping_net.pth": "",
    "Face_Detection/shape_predictor_68_face_landmarks.dat": "",
    "Face_Enhancement/checkpoints/Setting_9_epoch_100/latest_net_G.pth": "",
}


@pytest.fixture
def wan_repo(tmp_path):
    return write(tmp_path / "wan", WAN_FILES)


def test_wan2020_refuses_a_checkout_without_the_files_a_run_reads(wan_repo, tmp_path):
    mapping = wan_repo / "Global/checkpoints/restoration/mapping_quality/latest_net_mapping_net.pth"
    mapping.unlink()  # the official loader would print "not exists yet!" and go on with random weights
    with pytest.raises(ModelError, match="mapping_quality/latest_net_mapping_net.pth"):
        loaded("wan2020", tmp_path, repo=str(wan_repo))
    with pytest.raises(ModelError, match="detection/FT_Epoch_latest.pt.*VAE_B_scratch.*mapping_scratch"):
        loaded("wan2020", tmp_path, repo=str(wan_repo), with_scratch="1")
    mapping.write_text("")
    (wan_repo / "Face_Detection/shape_predictor_68_face_landmarks.dat").unlink()
    with pytest.raises(ModelError, match="shape_predictor_68_face_landmarks.dat"):
        loaded("wan2020", tmp_path, repo=str(wan_repo))
    loaded("wan2020", tmp_path, repo=str(wan_repo), stages="global")  # stage 1 alone reads no face files


def test_wan2020_fails_the_batch_when_a_stage_fails_inside_a_script_that_exits_0(wan_repo, tmp_path):
    model = loaded("wan2020", tmp_path, repo=str(wan_repo))
    with pytest.raises(
        ModelError, match=r"Stage 2: Face Detection failed \(ModuleNotFoundError: No module named 'dlib'\)"
    ):
        model.predict(batch())


def test_wan2020_reads_the_last_stage_and_passes_device_and_python(wan_repo, tmp_path):
    (wan_repo / "Face_Detection" / "dlib.py").write_text("")  # the face stage can run now
    envbin = tmp_path / "env" / "bin"
    envbin.mkdir(parents=True)
    wrapper = envbin / "python"
    wrapper.write_text(f'#!/bin/sh\necho "model environment python" >&2\nexec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    model = loaded("wan2020", tmp_path, repo=str(wan_repo), python=str(wrapper))
    inputs = batch()
    outputs = model.predict(inputs)
    for image, output in zip(inputs.inputs, outputs, strict=True):
        np.testing.assert_array_equal(output, 255 - image)  # stage 4's result, not stage 1's copy
    (log,) = (tmp_path / "work").glob("call-*.log")
    text = log.read_text()
    assert "--GPU -1" in text and text.count("model environment python") >= 3  # run.py and its stages
    assert "stage 1 runs on" in text


def test_wan2020_options_change_the_command_line(wan_repo, tmp_path):
    model = create_model("wan2020", repo=str(wan_repo), with_scratch="1", hr="1")
    assert model.command_template().endswith("--GPU {gpu} --with_scratch --HR")
    global_only = create_model("wan2020", repo=str(wan_repo), stages="global")
    assert "Global && {python} test.py --test_mode Full --Quality_restore" in global_only.command_template()
    assert global_only.outputs_subdir() == "restored_image"
    model.device = "cuda:1"
    assert model.gpu == 1


# --- DeOldify: its package pins the CPU on import, fastai writes beside the weights, ./result_images -------
DEOLDIFY_FILES = {
    "deoldify/__init__.py": """
        import os
        from deoldify.device_id import DeviceId
        class _Device:
            def __init__(self):
                self.set(DeviceId.CPU)
            def set(self, device):
                os.environ["CUDA_VISIBLE_DEVICES"] = "" if device == DeviceId.CPU else str(device.value)
        device = _Device()
    """,
    "deoldify/device_id.py": """
        from enum import IntEnum
        class DeviceId(IntEnum):
            GPU0 = 0
            GPU1 = 1
            CPU = 99
    """,
    "deoldify/visualize.py": """
        import json, os
        from pathlib import Path
        from PIL import Image, ImageOps
        CALLS = Path(os.environ["DEOLDIFY_CALLS"])
        class Colorizer:
            def __init__(self, root_folder, render_factor):
                if os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") != "1":
                    raise RuntimeError("Weights only load failed")  # torch >= 2.6
                tmp = Path(root_folder) / "models" / "tmp.pth"  # fastai's purge
                tmp.write_text("x")
                Path("result_images").mkdir(exist_ok=True)  # the visualiser's results_dir
                CALLS.write_text(json.dumps({"root": str(root_folder), "cuda": os.environ["CUDA_VISIBLE_DEVICES"],
                                             "render_factor": render_factor, "cwd": os.getcwd()}))
            def get_transformed_image(self, path, render_factor=None, watermarked=True):
                assert not watermarked
                return ImageOps.invert(Image.open(path).convert("RGB"))
        def get_image_colorizer(root_folder=Path("./"), render_factor=35, artistic=True):
            assert (Path(root_folder) / "models" / "ColorizeArtistic_gen.pth").exists()
            return Colorizer(root_folder, render_factor)
    """,
    "models/ColorizeArtistic_gen.pth": "weights",
}


def test_deoldify_driver_on_current_torch_keeps_the_checkout_and_caller_clean(tmp_path, monkeypatch):
    repo = write(tmp_path / "DeOldify", DEOLDIFY_FILES)
    caller = tmp_path / "caller"
    caller.mkdir()
    monkeypatch.chdir(caller)
    monkeypatch.setenv("DEOLDIFY_CALLS", str(tmp_path / "calls.json"))
    model = loaded(
        "deoldify", tmp_path, device="cuda:1", repo=str(repo), render_factor="20", python=sys.executable
    )
    inputs = batch()
    for image, output in zip(inputs.inputs, model.predict(inputs), strict=True):
        np.testing.assert_array_equal(output, 255 - image)
    calls = json.loads((tmp_path / "calls.json").read_text())
    assert calls["cuda"] == "1" and calls["render_factor"] == 20
    assert not Path(calls["root"]).exists() and not Path(calls["cwd"]).exists()  # its temporary root is gone
    assert sorted(os.listdir(repo / "models")) == ["ColorizeArtistic_gen.pth"] and not list(caller.iterdir())
    stable = create_model("deoldify", repo=str(repo), variant="stable")
    with pytest.raises(ModelError, match="models/ColorizeStable_gen.pth"):
        stable.load("cpu")


# --- InstColorization: file ids by name.split('.')[0]; CUDA only, first GPU only ----------------------------
INST_FILES = {
    "inference_bbox.py": """
        import argparse, os
        parser = argparse.ArgumentParser(); parser.add_argument("--test_img_dir"); opts = parser.parse_args()
        os.makedirs(opts.test_img_dir + "_bbox", exist_ok=True)
        for name in os.listdir(opts.test_img_dir):
            open(os.path.join(opts.test_img_dir + "_bbox", name.split(".")[0] + ".npz"), "w").close()
    """,
    "test_fusion.py": """
        import argparse, os
        from PIL import Image
        parser = argparse.ArgumentParser()
        for flag in ("--name", "--sample_p", "--model", "--fineSize", "--test_img_dir", "--results_img_dir"):
            parser.add_argument(flag)
        opts = parser.parse_args()
        os.makedirs(opts.results_img_dir, exist_ok=True)
        for name in os.listdir(opts.test_img_dir):
            file_id = name.split(".")[0]
            assert os.path.exists(os.path.join(opts.test_img_dir + "_bbox", file_id + ".npz"))
            Image.open(os.path.join(opts.test_img_dir, name)).convert("RGB").save(
                os.path.join(opts.results_img_dir, file_id + ".png"))
    """,
    "checkpoints/coco_finetuned_mask_256_ffs/latest_net_G.pth": "",
}


def test_instcolorization_names_survive_dots_and_it_runs_on_the_first_gpu_only(tmp_path):
    repo = write(tmp_path / "InstColorization", INST_FILES)
    model = loaded("instcolorization", tmp_path, device="cuda", repo=str(repo), python=sys.executable)
    inputs = batch(ids=["a.b", "a.c", "plain"])  # were all written to a.png by its split('.')[0]
    for image, output in zip(inputs.inputs, model.predict(inputs), strict=True):
        np.testing.assert_array_equal(output, image)
    with pytest.raises(Exception, match="runs only on cuda"):
        loaded("instcolorization", tmp_path, device="cpu", repo=str(repo))
    with pytest.raises(ModelError, match="cuda:0 only"):
        loaded("instcolorization", tmp_path, device="cuda:1", repo=str(repo))


# --- He et al.: input/ + pairs.txt, combo_new/<t>_<r>.combo, outputs <t>_<r>.png ----------------------------
HE_FILES = {
    "colorization_subnet/test.py": """
        import argparse, os
        from PIL import Image
        parser = argparse.ArgumentParser()
        for flag in ("--data_root", "--test_model", "--out_dir"):
            parser.add_argument(flag)
        parser.add_argument("--gpu_id", type=int); parser.add_argument("--short_size", type=int)
        opt = parser.parse_args()
        assert os.path.exists(opt.test_model)
        os.makedirs(opt.out_dir, exist_ok=True)
        for line in open(os.path.join(opt.data_root, "pairs.txt")):
            target, reference = line.split()[:2]
            stem = os.path.splitext(target)[0] + "_" + os.path.splitext(reference)[0]
            assert os.path.exists(os.path.join(opt.data_root, "combo_new", stem + ".combo"))
            size = Image.open(os.path.join(opt.data_root, "input", target)).size
            ref = Image.open(os.path.join(opt.data_root, "input", reference)).convert("RGB").resize(size)
            ref.save(os.path.join(opt.out_dir, stem + ".png"))
    """,
    "demo/models/colorization_subnet/example_net.pth": "",
    "combo.py": """
        import os, sys
        root = sys.argv[1]
        os.makedirs(os.path.join(root, "combo_new"), exist_ok=True)
        for line in open(os.path.join(root, "pairs.txt")):
            t, r = (os.path.splitext(n)[0] for n in line.split()[:2])
            open(os.path.join(root, "combo_new", t + "_" + r + ".combo"), "w").close()
    """,
}


def test_deep_exemplar_driver_lays_out_pairs_and_maps_outputs_back(tmp_path):
    repo = write(tmp_path / "He", HE_FILES)
    model = loaded(
        "deep-exemplar",
        tmp_path,
        repo=str(repo),
        python=sys.executable,
        correspondence=f"{sys.executable} combo.py {{data_root}}",
    )
    inputs = batch(ids=["x.1", "y", "z"])
    outputs = model.predict(inputs)
    from PIL import Image

    for image, reference, output in zip(inputs.inputs, inputs.references, outputs, strict=True):
        expected = np.asarray(Image.fromarray(reference).resize((image.shape[1], image.shape[0])))
        np.testing.assert_array_equal(output, expected)  # each sample got its own reference's colours
    with pytest.raises(ModelError, match="correspondence="):
        create_model("deep-exemplar", repo=str(repo))
