"""``rescore``: derive a bundle's numbers again from its outputs, and say whether they agree.

The bundle is checked and extracted (:func:`~pikfix_bench.bundle.open_bundle`); its outputs are scored
against the dataset's ground truth by the ``predictions`` model under the profile, alignment and batch
size its ``run.json`` records; then every per-image value of the bundle is compared with the value
derived here, within the metric's tolerance (:func:`tolerances`). A missing or unreadable output is a
failed sample, never a smaller mean. The result is a normal run directory whose ``run.json`` is the
submitted one plus ``rescored_from``: the bundle's sha256, where and how it was scored, and the
agreement.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pandas as pd

from pikfix_bench import __version__
from pikfix_bench.bundle import open_bundle
from pikfix_bench.datasets.store import Dataset
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.rundir import (
    ERRORS_FILE,
    OUTPUTS_DIR,
    PER_IMAGE_FILE,
    SUMMARY_FILE,
    RunDirectory,
)
from pikfix_bench.evaluation.runner import evaluate
from pikfix_bench.json_io import read_json
from pikfix_bench.locking import folder_lock
from pikfix_bench.metrics import PROFILES, get_profile

# Absolute differences allowed between a submitted and a re-derived value (docs/metrics.md, "Exact on
# every device"): on another device type the cuda-tested bounds; on the same device type LPIPS may move by
# about 1e-7 with the batch an image was scored in; the same device, batch size and an uninterrupted run
# give the same bits.
OTHER_DEVICE = {"psnr": 1e-9, "ssim": 1e-9, "ciede2000": 1e-5, "lpips": 1e-6, "colorfulness": 1e-9}
SAME_DEVICE_OTHER_BATCHES = {"lpips": 1e-6}
SHOWN_DIFFERENCES = 100  # differences kept in run.json (all are counted)


@dataclass
class RescoreResult:
    """What ``rescore`` found."""

    path: Path  # the run directory written
    agrees: bool
    differences: list[dict[str, Any]]
    tolerances: dict[str, float]


def tolerances(submitted: dict[str, Any], device_type: str, batch_size: int) -> dict[str, float]:
    """The absolute difference allowed per metric, from how the submitted run and this one were scored.

    Parameters
    ----------
    submitted : dict
        The submitted ``run.json``.
    device_type : str
        ``cpu`` or ``cuda``: where the outputs are scored now.
    batch_size : int
        The batch size used now.
    """
    execution = submitted.get("execution") or {}
    if execution.get("device") != device_type:
        return dict(OTHER_DEVICE)
    if execution.get("batch_size") != batch_size or submitted.get("resumed"):
        return dict(SAME_DEVICE_OTHER_BATCHES)
    return {}


def _same(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return abs(a - b) <= tolerance


def compare_rows(
    submitted: pd.DataFrame, derived: pd.DataFrame, metrics: list[str], allowed: dict[str, float]
) -> list[dict[str, Any]]:
    """Every sample and metric where the submitted value differs from the derived one beyond ``allowed``.

    A sample scored on one side only is one difference (``metric`` is ``None``).
    """
    mine = derived.set_index("sample_id")
    theirs = submitted.set_index("sample_id")
    differences = []
    for sample_id in sorted(set(mine.index) | set(theirs.index)):
        if sample_id not in mine.index or sample_id not in theirs.index:
            where = "the bundle" if sample_id in theirs.index else "this re-scoring"
            differences.append({"sample_id": sample_id, "metric": None, "problem": f"scored only in {where}"})
            continue
        for metric in metrics:
            a, b = float(theirs.at[sample_id, metric]), float(mine.at[sample_id, metric])
            if not _same(a, b, allowed.get(metric, 0.0)):
                differences.append(
                    {
                        "sample_id": sample_id,
                        "metric": metric,
                        "bundle": a,
                        "rescored": b,
                        "difference": b - a,
                    }
                )
    return differences


def _profile_name(submitted: dict[str, Any], bundle: Path) -> str:
    """The submitted run's profile, which must be one this toolkit knows, with the same settings."""
    recorded = submitted["profile"]
    name = recorded["name"]
    if name not in PROFILES or get_profile(name).to_dict() != recorded:
        raise PikfixError(
            f"{bundle}: its run was scored under a profile {name!r} whose settings this toolkit does not have "
            f"({__version__}); re-score it with the toolkit version that made it"
        )
    return name


def rescore(
    bundle_path: str | Path,
    dataset_path: str | Path,
    out: str | Path,
    *,
    device: str = "auto",
    progress: bool = True,
) -> RescoreResult:
    """Score a bundle's outputs again and compare with its per-image values; write a run directory.

    Parameters
    ----------
    bundle_path : str or Path
        A zip file made by ``pikfix-bench bundle`` (from anyone).
    dataset_path : str or Path
        The dataset it claims to have scored.
    out : str or Path
        The run directory to write (must not hold a run).
    device : str
        Where to score: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    RescoreResult
        The run directory, whether every value agreed, and the differences.
    """
    dataset, out = Dataset(dataset_path), Path(out)
    if out.exists() and not out.is_dir():
        raise PikfixError(f"--out {out}: not a folder (a file is there)")
    with folder_lock(out), open_bundle(bundle_path, dataset) as opened, TemporaryDirectory() as scratch:
        if RunDirectory(out).exists():
            raise PikfixError(f"{out} already holds a run; choose another --out")
        submitted = opened.run.read_run()
        if submitted["dataset"]["content_hash"] != dataset.content_hash:
            raise PikfixError(
                f"{opened.path}: its run.json names another dataset content than its bundle.json"
            )
        profile = _profile_name(submitted, opened.path)
        execution = submitted.get("execution") or {}
        outputs = opened.folder / OUTPUTS_DIR
        outputs.mkdir(exist_ok=True)
        result = evaluate(
            "predictions",
            dataset.path,
            Path(scratch) / "run",
            model_options={"dir": str(outputs)},
            profile=profile,
            device=device,
            batch_size=execution.get("batch_size"),
            align=submitted.get("align", "error"),
            progress=progress,
            metrics=submitted.get("metrics"),  # NIQE/PIQE asked for, a scan set's no-reference metrics
        )
        derived_run = RunDirectory(result.path)
        derived = derived_run.per_image()
        metrics = [name for name in opened.run.per_image().columns if name not in ("sample_id", "seconds")]
        claimed, untrusted = opened.run.scored_rows(metrics, set(dataset.ids))
        derived_record = derived_run.read_run()
        derived_execution = derived_record["execution"]
        allowed = tolerances(submitted, derived_execution["device"], derived_execution["batch_size"])
        differences = [{"sample_id": None, "metric": None, "problem": line} for line in untrusted]
        differences += compare_rows(claimed, derived, metrics, allowed)
        record = {
            **{
                key: value for key, value in submitted.items() if key != "rescored_from"
            },  # never taken on trust
            "rescored_from": {
                "bundle": opened.path.name,
                "sha256": opened.sha256,
                "toolkit": __version__,
                "execution": derived_execution,
                "environment": derived_record["environment"],
                "tolerances": allowed,
                "agrees": not differences,
                "differences": differences[:SHOWN_DIFFERENCES],
                "difference_count": len(differences),
            },
        }
        _write_run(out, derived_run, outputs, record)
    return RescoreResult(out, not differences, differences, allowed)


def _write_run(out: Path, derived: RunDirectory, outputs: Path, record: dict[str, Any]) -> None:
    """The re-derived rows, errors and the bundle's outputs, then ``run.json``, then ``summary.json`` last."""
    target = RunDirectory(out)
    shutil.copytree(outputs, target.outputs, dirs_exist_ok=True)
    for name in (PER_IMAGE_FILE, ERRORS_FILE):
        if (derived.path / name).is_file():
            shutil.copyfile(derived.path / name, out / name)
    target.write_run(record)
    target.write_summary(read_json(derived.path / SUMMARY_FILE))
