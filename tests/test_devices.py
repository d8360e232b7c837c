"""Devices: placement per stage, device names, strict fp32 while scoring, {gpu}, the install's torch range."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import requires

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from packaging.requirements import Requirement

from pikfix_bench.baselines import Batch, create_model
from pikfix_bench.cli import main
from pikfix_bench.devices import place, resolve_device, strict_fp32, tf32_enabled
from pikfix_bench.errors import PikfixError
from pikfix_bench.metrics import ImageScorer
from pikfix_bench.metrics import scorer as scorer_module


@pytest.fixture
def one_gpu(monkeypatch):
    """Pretend this machine has exactly one CUDA device (nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_a_cpu_model_runs_on_the_cpu_under_device_cuda(one_gpu):
    for name in ("gray", "reinhard", "welsh", "classical-restore"):
        model = create_model(name)
        model.load(resolve_device("cuda"))  # was: "model gray runs on cpu, not cuda"
        assert model.device == "cpu"
    chain = create_model("classical-restore+welsh")
    chain.load("cuda")
    assert chain.device == "cpu"


def test_a_torch_model_takes_the_requested_device():
    assert place(("cpu", "cuda"), "cuda:0", "pix2pix") == "cuda:0"
    assert place(("cpu", "cuda"), "cpu", "pix2pix") == "cpu"
    assert place(("cpu",), "cuda:1", "gray") == "cpu"
    with pytest.raises(PikfixError, match="runs only on cuda"):
        place(("cuda",), "cpu", "instcolorization")


def test_a_device_index_the_machine_lacks_is_a_clear_error(one_gpu, dataset, tmp_path):
    assert resolve_device("cuda:0") == "cuda:0" and resolve_device("auto") == "cuda"
    with pytest.raises(PikfixError, match=r"'cuda:7' is not on this machine; it has cuda:0"):
        resolve_device("cuda:7")
    result = CliRunner().invoke(
        main,
        [
            "evaluate",
            "--model",
            "gray",
            "--dataset",
            str(dataset),
            "--device",
            "cuda:7",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "cuda:0" in result.output and "Traceback" not in result.output


def test_cuda_without_cuda_and_unknown_devices_are_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(PikfixError, match="CUDA is not available"):
        resolve_device("cuda:7")
    with pytest.raises(PikfixError, match="unknown device"):
        resolve_device("gpu")
    with pytest.raises(PikfixError, match="cpu or cuda"):
        resolve_device("meta")


def test_scoring_runs_without_tf32_and_restores_the_callers_flags(photo_pairs, monkeypatch):
    seen = []
    original = scorer_module.lpips_distance

    def spy(*args, **kwargs):
        seen.append(tf32_enabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(scorer_module, "lpips_distance", spy)
    saved = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32"  # a user's own fast setting
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        _, pred, gt = photo_pairs[0]
        ImageScorer(metrics=["lpips"]).score([pred], [gt])
        assert seen == [{"matmul": False, "cudnn": False}]
        assert tf32_enabled() == {"matmul": True, "cudnn": True}
    finally:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved


def test_strict_fp32_restores_after_an_error():
    before = tf32_enabled()
    with pytest.raises(RuntimeError), strict_fp32():
        assert tf32_enabled() == {"matmul": False, "cudnn": False}
        raise RuntimeError("boom")
    assert tf32_enabled() == before


@pytest.mark.parametrize(("device", "expected"), [("cpu", "-1"), ("cuda", "0"), ("cuda:1", "1")])
def test_gpu_placeholder_names_the_cuda_index(device, expected, tmp_path):
    model = create_model(
        "command",
        command=f"{sys.executable} -c \"import sys; open('{tmp_path}/gpu.txt', 'w').write(sys.argv[1])\" {{gpu}}",
    )  # placeholders stand outside quotes: the tool quotes every value it substitutes
    model.load(device)  # a command adapter only passes the index on; nothing runs on CUDA here
    image = np.zeros((4, 4, 3), np.uint8)
    model.predict(Batch(["a"], [image], [image]))
    assert (tmp_path / "gpu.txt").read_text() == expected


def test_wan2020_passes_the_device_to_run_py(tmp_path):
    template = create_model("wan2020", repo=str(tmp_path)).command_template()
    assert "--GPU {gpu}" in template and "--GPU -1" not in template


def test_installed_metadata_declares_torch_ranges_not_pins():
    declared = {Requirement(line).name: Requirement(line) for line in requires("pikfix-bench")}
    for name, oldest in (("torch", "2.11.0"), ("torchvision", "0.26.0")):
        specifier = declared[name].specifier
        assert not any(spec.operator in ("==", "===") for spec in specifier), specifier
        assert specifier.contains(oldest) and specifier.contains(
            torch.__version__.split("+")[0] if name == "torch" else "0.29.1"
        )
        assert not specifier.contains("3.0.0" if name == "torch" else "1.0.0")


def test_freed_memory_is_handed_back_on_glibc():
    from pikfix_bench.memory import release_free_memory

    released = release_free_memory()
    assert released is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


_HELD_AFTER_FREEING = """
import os, sys, torch
from pikfix_bench.memory import return_large_blocks_at_once
if sys.argv[1] == "at-once":
    assert return_large_blocks_at_once()
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
torch.ones(2 * 2**20)  # one 8 MiB block freed: by default glibc's threshold for mapping rises past it
blocks, keep = [], []
for _ in range(24):  # 8 MiB blocks between small ones still in use: freed, they leave holes in the heap
    blocks.append(torch.ones(2 * 2**20))
    keep.append(torch.ones(1000))
before = resident()
del blocks
print((before - resident()) / 2**20)
"""


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"), reason="glibc's mallopt"
)
def test_large_blocks_return_to_the_system_when_freed_once_asked():
    returned = {
        mode: float(
            subprocess.run(
                [sys.executable, "-c", _HELD_AFTER_FREEING, mode], capture_output=True, text=True, check=True
            ).stdout
        )
        for mode in ("default", "at-once")
    }
    assert returned["at-once"] > 150  # MiB of the 192 freed
    assert returned["default"] < 50, returned
