"""``evaluate``: run a model on a dataset and score it, with a resumable run directory.

One execution path: the dataset's pending samples are cut into batches, the batches into shards, and
every shard goes through :func:`~pikfix_bench.evaluation.shard.evaluate_shard`, here in this process
(the local executor, the model loaded once) or on Dask workers. Only this driver writes the run's
files: rows are appended after each shard, and at the end the rows are re-read, validated, sorted and
summarised.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pikfix_bench import __version__
from pikfix_bench.baselines import ModelAdapter, create_model
from pikfix_bench.datasets.store import Dataset
from pikfix_bench.devices import precision_record, resolve_device
from pikfix_bench.errors import PikfixError, PikfixWarning
from pikfix_bench.evaluation.alignment import AlignMode, batch_size_for
from pikfix_bench.evaluation.run_record import model_setup, typed_setup
from pikfix_bench.evaluation.rundir import (
    ERROR_COLUMNS,
    ERRORS_FILE,
    PER_IMAGE_FILE,
    SUMMARY_FILE,
    RunDirectory,
)
from pikfix_bench.evaluation.shard import RunPlan, evaluate_shard, loaded, unload
from pikfix_bench.evaluation.statistics import summarize_rows
from pikfix_bench.execution import Executor, given_or_local
from pikfix_bench.locking import folder_lock
from pikfix_bench.metrics import (
    DEFAULT_METRICS,
    MASKED_METRICS,
    METRICS,
    NO_REFERENCE_METRICS,
    get_profile,
    parse_metric_names,
)
from pikfix_bench.metrics.profiles import MetricProfile
from pikfix_bench.progress import Progress

# Batches per shard in this process: one, so rows reach per_image.csv after every batch (an interruption
# loses at most one batch); the dataset and model stay open across shards, so this costs nothing measurable.
LOCAL_SHARD_BATCHES = 1


@dataclass
class RunResult:
    """Where the run is and what it did."""

    path: Path
    scored: int
    failed: int
    summary: dict[str, Any]
    dropped: list[str] = field(default_factory=list)  # rows of an earlier attempt that were scored again


def run_identity(
    model: ModelAdapter,
    dataset: Dataset,
    profile: MetricProfile,
    align: str,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
) -> dict[str, Any]:
    """What a run's results depend on; ``--resume`` refuses when any of it differs."""
    manifest = dataset.manifest
    return {
        "model": model.describe(),
        "dataset": {
            "name": manifest["name"],
            "version": manifest["version"],
            "kind": manifest["kind"],
            "content_hash": manifest["content_hash"],
            "samples": len(dataset),
            **({} if dataset.ground_truth else {"ground_truth": False}),  # a scan set: tables say so
        },
        "profile": profile.to_dict(),
        "align": align,
        "metrics": list(metrics),  # the per_image.csv columns
    }


def _environment(device: str) -> dict[str, Any]:
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    return {
        "pikfix_bench": __version__,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "python": platform.python_version(),
        "device": device,
        "device_name": torch.cuda.get_device_name(device)
        if cuda
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }


def check_label(label: str | None) -> str | None:
    """A ``--label``: one line of printable text (it names a row in every table format)."""
    if label is not None and (not label.strip() or any(ord(c) < 32 or ord(c) == 127 for c in label)):
        raise PikfixError(f"--label {label!r}: give one line of text (no control characters)")
    return label


def _same_model(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a stored model record is the current setup (a record of an older version: as it was typed)."""
    if "defaults" in stored:
        return model_setup(stored) == model_setup(current)
    return typed_setup(stored) == typed_setup(current)


def _check_resume(
    run_dir: RunDirectory,
    identity: dict[str, Any],
    execution: dict[str, Any],
    resume: bool,
    label: str | None,
) -> str | None:
    """Refuse a run directory that holds another setup; returns the label the run keeps.

    A label names a setup, it is not part of it: ``--resume`` without ``--label`` keeps the stored
    one, and a different ``--label`` is refused (the rows already written were made under the first).
    """
    if not run_dir.exists():
        return label
    if not resume:
        raise PikfixError(f"{run_dir.path} already holds a run; use --resume to complete it or another --out")
    stored = run_dir.read_run()
    if label is not None and label != stored.get("label"):
        named = f"labelled {stored['label']!r}" if "label" in stored else "not labelled"
        raise PikfixError(
            f"--resume refused: {run_dir.path} is {named}, not {label!r}; resume without --label (the run keeps "
            "its label) or start a new run"
        )
    if not _same_model(stored["model"], identity["model"]):
        raise PikfixError(
            f"--resume refused: {run_dir.path} was run with another model ({stored['model']} vs {identity['model']})"
        )
    stored.setdefault("metrics", list(DEFAULT_METRICS))  # what older versions scored, unrecorded
    for key in ("dataset", "profile", "align", "metrics"):
        if stored.get(key) != identity[key]:
            raise PikfixError(
                f"--resume refused: {run_dir.path} was run with another {key} "
                f"({stored.get(key)} vs {identity[key]})"
            )
    if stored.get("execution") != execution:
        before = stored.get("execution") or "no record (an older pikfix-bench)"
        raise PikfixError(
            f"--resume refused: {run_dir.path} was run with {before}, this run would use {execution}; "
            "per-image values can differ in the last digits between devices and batch sizes, so pass the "
            "same --device and --batch-size, or start a new run"
        )
    return stored.get("label")


def run_metrics(
    dataset: Dataset, requested: Sequence[str] | str | None = None, masked: bool = False
) -> tuple[str, ...]:
    """What a run on ``dataset`` scores: ``requested`` (``--metrics``), else the default of its kind.

    A set with ground truth scores :data:`~pikfix_bench.metrics.DEFAULT_METRICS` by default (and the
    masked metrics with ``masked``); no-reference metrics (NIQE, PIQE, BRISQUE) are added when asked for.
    A scan set scores no-reference metrics only, :data:`~pikfix_bench.metrics.NO_REFERENCE_METRICS` by
    default, and refuses the others.
    """
    chosen = parse_metric_names(requested) if requested else None
    if dataset.ground_truth:
        chosen = chosen or DEFAULT_METRICS
        return tuple(dict.fromkeys(chosen + (MASKED_METRICS if masked else ())))
    what = f"{dataset.path} is a scan set (no ground truth)"
    if masked:
        raise PikfixError(f"{what}: --masked does not apply (nothing to compare inside the damage)")
    needing = [name for name in chosen or () if METRICS[name].needs_reference]
    if needing:
        choices = ", ".join(name for name, spec in METRICS.items() if not spec.needs_reference)
        raise PikfixError(f"{what}: {', '.join(needing)} need(s) a ground truth; choose from {choices}")
    return chosen or NO_REFERENCE_METRICS


def check_references(model: ModelAdapter, dataset: Dataset) -> None:
    """Refuse a model that reads a reference on a set built without references (``--references none``)."""
    if model.descriptor.uses_reference and dataset.manifest["recipe"]["reference"] == "none":
        raise PikfixError(
            f"{model.descriptor.name} reads a reference image, but {dataset.path} was built without references "
            "(--references none): build the scan set with --references DIR or nearest, or run a model that "
            "needs none"
        )


def _devices(requested: str, executor: Executor | None) -> tuple[str, dict[str, float] | None]:
    """The device shards run on, and the Dask resources they need (GPU workers when the cluster has them)."""
    if executor is None:
        return resolve_device(requested), None
    gpus = executor.gpu_workers() if hasattr(executor, "gpu_workers") else 0
    if requested.startswith("cuda") and not gpus:
        raise PikfixError(
            f"--device {requested}: no worker of the cluster declares a GPU resource (--resources GPU=1)"
        )
    if requested != "cpu" and gpus:
        return ("cuda" if requested == "auto" else requested), {"GPU": 1}
    return "cpu", None


def _pending(
    run_dir: RunDirectory, dataset: Dataset, metrics: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Sample ids still to score, and the rows of an earlier attempt that could not be trusted.

    Untrusted rows are removed from ``per_image.csv`` (so new rows start on a clean line) and their
    samples scored again; samples that failed before are tried again.
    """
    rows, dropped = run_dir.scored_rows(metrics, set(dataset.ids))
    if dropped:
        run_dir.write_rows(rows)
    run_dir.path.joinpath(ERRORS_FILE).unlink(missing_ok=True)
    run_dir.path.joinpath(SUMMARY_FILE).unlink(missing_ok=True)  # not finished until this attempt is
    done = set(rows["sample_id"])
    return [sample_id for sample_id in dataset.ids if sample_id not in done], dropped


def _shards(ids: list[str], batch_size: int, batches_per_shard: int) -> list[list[list[str]]]:
    batches = [ids[start : start + batch_size] for start in range(0, len(ids), batch_size)]
    return [batches[start : start + batches_per_shard] for start in range(0, len(batches), batches_per_shard)]


def evaluate(
    model_name: str,
    dataset_path: str | Path,
    out: str | Path,
    *,
    model_options: dict[str, str] | None = None,
    profile: str = "pikfix",
    device: str = "auto",
    batch_size: int | None = None,
    save_outputs: bool = False,
    resume: bool = False,
    strict: bool = False,
    align: AlignMode = "error",
    progress: bool = True,
    executor: Executor | None = None,
    shard_batches: int | None = None,
    label: str | None = None,
    masked: bool = False,
    metrics: Sequence[str] | str | None = None,
) -> RunResult:
    """Evaluate a model on a built dataset and write a run directory.

    Parameters
    ----------
    model_name : str
        A registered model (``pikfix-bench models list``), or ``a+b``.
    dataset_path : str or Path
        A dataset built by ``build-dataset``.
    out : str or Path
        The run directory.
    model_options : dict, optional
        ``--model-opt`` values, checked before any sample is read.
    profile : str
        Metric profile.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``: where metrics run, and the model when it can
        (a CPU-only model runs on the CPU).
    batch_size : int, optional
        Samples per model call (default: the model's preference, else 8).
    save_outputs, resume, strict : bool
        Write ``outputs/<id>.png``; complete an interrupted run of the same setup (device type and
        batch size included); stop at the first failing sample.
    align : {"error", "resize", "crop"}
        What to do with outputs of another size than the ground truth.
    progress : bool
        Show progress on standard error: a bar on a terminal, a line every tenth or 30 s otherwise
        (:class:`~pikfix_bench.progress.Progress`).
    executor : Executor, optional
        A Dask executor (:func:`pikfix_bench.execution.make_executor`) to spread the shards over its
        workers, each loading the model once; GPU workers (Dask resource ``GPU``) are used when the
        cluster has them. Default: this process.
    shard_batches : int, optional
        Batches per shard (default 1 in this process, 4 on Dask).
    label : str, optional
        The run's name in tables (``--label``), recorded in ``run.json``. Without one, a run's row is
        named by its model and the options that differ from their defaults. ``resume`` keeps the
        stored label and refuses another.
    masked : bool
        Also score PSNR, SSIM and LPIPS inside and outside the damaged region of each sample's
        stored mask (:mod:`pikfix_bench.metrics.masked`; ``nan`` for samples without a mask).
    metrics : sequence of str or str, optional
        What to score (``--metrics``): default PSNR, SSIM, LPIPS, CIEDE2000 and colourfulness, and on a
        scan set (no ground truth) NIQE, PIQE and colourfulness, where only no-reference metrics are
        allowed (:func:`run_metrics`).

    Returns
    -------
    RunResult
        Counts, the summary, and the untrusted rows of an earlier attempt that were scored again.
    """
    check_label(label)
    dataset = Dataset(dataset_path)
    model = create_model(model_name, **(model_options or {}))  # options checked before any work
    metrics = run_metrics(dataset, metrics, masked)
    check_references(model, dataset)
    if dataset.content_hash in model.trained_on():
        warnings.warn(
            f"{model_name}'s weights were trained on this dataset ({dataset.path}, content hash "
            f"{dataset.content_hash[:16]}…; train fitted it to all of it but the validation split): the scores "
            "measure how well it fits its training data, not how it does on new photographs; evaluate on a "
            "dataset it has not seen",
            PikfixWarning,
            stacklevel=2,
        )
    run_dir = RunDirectory(out)
    if run_dir.path.exists() and not run_dir.path.is_dir():
        raise PikfixError(f"--out {run_dir.path}: not a folder (a file is there)")
    device, resources = _devices(device, executor)
    size = batch_size_for(model, batch_size, len(dataset))
    identity = run_identity(model, dataset, get_profile(profile), align, metrics)
    execution = {"device": device.split(":")[0], "batch_size": size}
    with folder_lock(run_dir.path):  # a second process on this run stops here, naming this one
        label = _check_resume(run_dir, identity, execution, resume, label)
        plan = RunPlan(
            model_name, dict(model_options or {}), str(dataset.path), str(run_dir.path), profile, device,
            align, save_outputs, strict, torch.get_num_threads(), metrics,
        )  # fmt: skip
        here = executor is None
        if here:
            loaded(plan, model)  # load errors stop the run before any sample is read
        try:
            todo, dropped = _pending(run_dir, dataset, metrics)
            run = _start_record(run_dir, dataset, identity, execution, device, save_outputs, label)
            shards = _shards(todo, size, shard_batches or (LOCAL_SHARD_BATCHES if here else 4))
            tasks = [{"plan": plan, "batches": batches} for batches in shards]
            with given_or_local(executor) as runner:
                outcome = _run_shards(
                    runner,
                    tasks,
                    resources,
                    run_dir,
                    len(dataset),
                    len(dataset) - len(todo),
                    progress,
                    model.descriptor.name,
                    model.device if here else None,  # loaded here; on Dask the shards report it
                    ["sample_id", *metrics, "seconds"],
                )
        finally:
            unload(plan)
        return _finish(run_dir, dataset, run, outcome, dropped, metrics)


def _start_record(
    run_dir: RunDirectory,
    dataset: Dataset,
    identity: dict[str, Any],
    execution: dict[str, Any],
    device: str,
    save_outputs: bool,
    label: str | None,
) -> dict[str, Any]:
    """Write ``run.json`` for this attempt (the first start and every resumption are kept)."""
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    previous = run_dir.read_run() if run_dir.exists() else {}
    run = {
        **identity,
        **({"label": label} if label is not None else {}),
        "execution": execution,
        "environment": _environment(device),
        "precision": precision_record(),
        "started": previous.get("started", started),
        "resumed": [*previous.get("resumed", []), started] if previous else [],
        "save_outputs": save_outputs,
        "dataset_path": str(dataset.path.resolve()),  # where it was; the identity is the content hash
        "command": " ".join(sys.argv),
    }
    run_dir.write_run(run)
    return run


def _run_shards(
    executor: Executor,
    tasks: list[dict[str, Any]],
    resources: dict[str, float] | None,
    run_dir: RunDirectory,
    total: int,
    done: int,
    progress: bool,
    name: str,
    model_device: str | None,
    columns: list[str],
) -> dict[str, Any]:
    """Run the shards, appending each one's rows (``columns`` of ``per_image.csv``) and failures as it completes."""
    outcome = {
        "model_seconds": 0.0,
        "metric_seconds": 0.0,
        "model_device": model_device,
        "wall": time.perf_counter(),
    }
    with Progress(total, name, unit="img", initial=done, enabled=progress) as bar:
        for _, result in executor.run(evaluate_shard, tasks, resources=resources):
            run_dir.append_rows(PER_IMAGE_FILE, columns, result["rows"])
            if result["errors"]:
                run_dir.append_rows(ERRORS_FILE, ERROR_COLUMNS, result["errors"])
            outcome["model_seconds"] += result["model_seconds"]
            outcome["metric_seconds"] += result["metric_seconds"]
            outcome["model_device"] = result["model_device"]
            bar.update(result["count"])
    return outcome


def _finish(
    run_dir: RunDirectory,
    dataset: Dataset,
    run: dict[str, Any],
    outcome: dict[str, Any],
    dropped: list[str],
    metrics: tuple[str, ...],
) -> RunResult:
    """Validate and sort the rows, write ``summary.json``, and close ``run.json``."""
    run_dir.sort_errors()
    rows, problems = run_dir.scored_rows(metrics, set(dataset.ids))
    if problems:  # only this process wrote the file, so this is a bug, not a torn write
        raise PikfixError(f"{run_dir.path}: rows written by this run do not read back: {'; '.join(problems)}")
    rows = rows.sort_values("sample_id", kind="stable", ignore_index=True)  # the bootstrap follows this order
    run_dir.write_rows(rows)
    summary = summarize_rows(rows, len(run_dir.errors()), len(dataset))
    run["environment"]["model_device"] = outcome["model_device"]
    run.update(
        {
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "timing": {
                "wall_seconds": time.perf_counter() - outcome["wall"],
                "model_seconds": outcome["model_seconds"],
                "metric_seconds": outcome["metric_seconds"],
            },
        }
    )
    run_dir.write_run(run)
    run_dir.write_summary(summary)  # last: its presence is what marks the run finished
    return RunResult(run_dir.path, summary["scored"], summary["failed"], summary, dropped)
