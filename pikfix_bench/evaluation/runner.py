"""``evaluate``: run a model on a dataset and score it, with a resumable run directory.

Flow per batch: read the samples (a reader thread prefetches the next batch),
prepare inputs as the model's descriptor says, predict, restore geometry, align
to the ground truth as ``--align`` says, score, append rows, save outputs (a
writer thread). A sample that fails is recorded in ``errors.csv`` and the run
goes on (``strict`` stops); a model that cannot load stops at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pikfix_bench import __version__
from pikfix_bench.baselines import Batch, ModelAdapter, ModelError, create_model
from pikfix_bench.baselines.command import CommandAdapter
from pikfix_bench.datasets.store import Dataset, Sample
from pikfix_bench.devices import resolve_device
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.alignment import AlignMode, align_output, prepare_input, restore_geometry
from pikfix_bench.evaluation.rundir import ERROR_COLUMNS, ERRORS_FILE, PER_IMAGE_FILE, RunDirectory
from pikfix_bench.evaluation.statistics import metric_summary
from pikfix_bench.execution import Executor
from pikfix_bench.image_io import write_png
from pikfix_bench.metrics import METRICS, ImageScorer, get_profile
from pikfix_bench.metrics.profiles import MetricProfile

DEFAULT_BATCH = 8
MODEL_ARRAYS = ("input", "gt", "ref")  # what evaluation reads: masks and colour scans stay compressed on disk


@dataclass
class RunResult:
    """Where the run is and what it did."""

    path: Path
    scored: int
    failed: int
    summary: dict[str, Any]


def run_identity(model: ModelAdapter, dataset: Dataset, profile: MetricProfile, align: str) -> dict[str, Any]:
    """What a run's results depend on; ``--resume`` refuses when any of it differs."""
    manifest = dataset.manifest
    return {
        "model": model.describe(),
        "dataset": {
            "name": manifest["name"],
            "version": manifest["version"],
            "kind": manifest["kind"],
            "content_hash": manifest["content_hash"],
        },
        "profile": profile.to_dict(),
        "align": align,
    }


def _environment(device: str) -> dict[str, Any]:
    return {
        "pikfix_bench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "device_name": torch.cuda.get_device_name(device)
        if device.startswith("cuda") and torch.cuda.is_available()
        else platform.processor() or platform.machine(),
    }


def _check_resume(run_dir: RunDirectory, identity: dict[str, Any], resume: bool) -> None:
    if not run_dir.exists():
        return
    if not resume:
        raise PikfixError(f"{run_dir.path} already holds a run; use --resume to complete it or another --out")
    stored = run_dir.read_run()
    for key in ("model", "dataset", "profile", "align"):
        if stored.get(key) != identity[key]:
            raise PikfixError(
                f"--resume refused: {run_dir.path} was run with another {key} "
                f"({stored.get(key)} vs {identity[key]})"
            )


class _Evaluation:
    """State of one run: model, scorer, run directory, threads."""

    def __init__(
        self,
        model: ModelAdapter,
        scorer: ImageScorer,
        run_dir: RunDirectory,
        align: AlignMode,
        save_outputs: bool,
        strict: bool,
    ) -> None:
        self.model, self.scorer, self.run_dir = model, scorer, run_dir
        self.align, self.save_outputs, self.strict = align, save_outputs, strict
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pikfix-writer")
        self.pending_writes: list = []
        self.model_seconds = self.metric_seconds = 0.0
        self.scored = self.failed = 0

    def _predict(self, samples: list[Sample]) -> tuple[list[np.ndarray | None], list[str | None], float]:
        """Outputs (or ``None``) and error messages per sample; a failing batch is retried one by one."""
        descriptor = self.model.descriptor
        prepared = [prepare_input(sample.input, descriptor) for sample in samples]
        batch = Batch([s.sample_id for s in samples], [p.image for p in prepared], [s.ref for s in samples])
        start = time.perf_counter()
        try:
            raw = self.model.predict(batch)
            errors: list[str | None] = [
                None if out is not None else "the model produced no output" for out in raw
            ]
        except Exception as exc:  # a model may raise anything; one bad sample must not lose the rest
            if self.strict:
                raise
            if len(samples) == 1:
                raw, errors = [None], [f"{type(exc).__name__}: {exc}"]
            else:
                raw, errors = [], []
                for sample in samples:
                    outputs, messages, _ = self._predict([sample])
                    raw += outputs
                    errors += messages
                return raw, errors, time.perf_counter() - start
        seconds = time.perf_counter() - start
        outputs = [
            restore_geometry(out, prep) if out is not None else None
            for out, prep in zip(raw, prepared, strict=True)
        ]
        return outputs, errors, seconds

    def run_batch(self, samples: list[Sample]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Predict, align and score one batch; returns its per-image rows and error rows."""
        outputs, errors, seconds = self._predict(samples)
        self.model_seconds += seconds
        ready, gts, error_rows = [], [], []
        for sample, output, error in zip(samples, outputs, errors, strict=True):
            try:
                if error is not None:
                    raise PikfixError(error)
                output = np.asarray(output)
                if output.dtype != np.uint8 or output.ndim != 3 or output.shape[2] != 3:
                    raise PikfixError(f"model returned {output.dtype} {output.shape}, not uint8 H x W x 3")
                ready.append(
                    (sample.sample_id, align_output(output, sample.gt.shape, self.align, sample.sample_id))
                )
                gts.append(sample.gt)
            except PikfixError as exc:
                if self.strict:
                    raise PikfixError(f"{sample.sample_id}: {exc} (--strict)") from None
                error_rows.append({"sample_id": sample.sample_id, "stage": "predict", "message": str(exc)})
        start = time.perf_counter()
        values = self.scorer.score([out for _, out in ready], gts) if ready else []
        self.metric_seconds += time.perf_counter() - start
        per_image = seconds / len(samples)
        rows = [
            {"sample_id": sample_id, **value, "seconds": per_image}
            for (sample_id, _), value in zip(ready, values, strict=True)
        ]
        if self.save_outputs:
            for sample_id, output in ready:
                self.pending_writes.append(
                    self.writer.submit(write_png, self.run_dir.outputs / f"{sample_id}.png", output)
                )
        self.scored += len(rows)
        self.failed += len(error_rows)
        return rows, error_rows

    def close(self) -> None:
        for future in self.pending_writes:
            future.result()
        self.writer.shutdown()


def _cluster_device(executor: Executor, requested: str) -> tuple[str, dict[str, float] | None]:
    """The device shards run on: GPU workers (Dask resource ``GPU``) when the cluster has them."""
    gpus = executor.gpu_workers() if hasattr(executor, "gpu_workers") else 0
    if requested.startswith("cuda") and not gpus:
        raise PikfixError(
            f"--device {requested}: no worker of the cluster declares a GPU resource (--resources GPU=1)"
        )
    if requested != "cpu" and gpus:
        return ("cuda" if requested == "auto" else requested), {"GPU": 1}
    return "cpu", None


def _batches(ids: list[str], size: int) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _record(run_dir: RunDirectory, metrics: tuple[str, ...], rows: list[dict], errors: list[dict]) -> None:
    """Append scored rows and failures to the run directory (only the driver writes these files)."""
    run_dir.append_rows(PER_IMAGE_FILE, ["sample_id", *metrics, "seconds"], rows)
    if errors:
        run_dir.append_rows(ERRORS_FILE, ERROR_COLUMNS, errors)


# Models loaded by this worker process, so that each worker loads a model once, not once per shard.
_WORKER_CACHE: dict[tuple, tuple[ModelAdapter, ImageScorer]] = {}


def evaluate_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Run and score the batches of one shard (a Dask task); returns rows, errors and timings.

    The model and scorer are cached per worker process. Outputs, when saved, are written by the
    worker into the run directory, which must be on storage the workers share.
    """
    # Convolution and vectorised float32 kernels give last-bit differences with other thread counts:
    # workers use the driver's count, so distributed values equal local ones.
    torch.set_num_threads(task["threads"])
    key = (task["model"], json.dumps(task["options"], sort_keys=True), task["device"], task["profile"])
    if key not in _WORKER_CACHE:
        model = create_model(task["model"], **task["options"])
        model.load(task["device"])
        _WORKER_CACHE[key] = (model, ImageScorer(get_profile(task["profile"]), device=task["device"]))
    model, scorer = _WORKER_CACHE[key]
    run_dir = RunDirectory(task["run_dir"])
    if isinstance(model, CommandAdapter):
        model.work_dir = run_dir.path / "work" / f"shard-{task['index']:06d}"
    evaluation = _Evaluation(model, scorer, run_dir, task["align"], task["save_outputs"], strict=False)
    dataset = Dataset(task["dataset"])
    rows, errors = [], []
    try:
        for ids in task["batches"]:
            batch_rows, batch_errors = evaluation.run_batch(dataset.read(ids, arrays=MODEL_ARRAYS))
            rows += batch_rows
            errors += batch_errors
    finally:
        evaluation.close()
    return {
        "rows": rows,
        "errors": errors,
        "count": sum(map(len, task["batches"])),
        "model_seconds": evaluation.model_seconds,
        "metric_seconds": evaluation.metric_seconds,
    }


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
    shard_batches: int = 4,
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
        ``--model-opt`` values.
    profile : str
        Metric profile.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    batch_size : int, optional
        Samples per model call (default: the model's preference, else 8).
    save_outputs, resume, strict : bool
        Write ``outputs/<id>.png``; complete an interrupted run; stop at the first failing sample.
    align : {"error", "resize", "crop"}
        What to do with outputs of another size than the ground truth.
    progress : bool
        Show a progress bar.
    executor : Executor, optional
        A Dask executor (:func:`pikfix_bench.execution.make_executor`) to spread shards of
        ``shard_batches`` batches over its workers, each loading the model once; GPU workers
        (Dask resource ``GPU``) are used when the cluster has them. Default: this process.
    shard_batches : int
        Batches per distributed task.

    Returns
    -------
    RunResult
        Counts and the summary.
    """
    dataset = Dataset(dataset_path)
    metric_profile = get_profile(profile)
    device = resolve_device(device) if executor is None else device
    model = create_model(model_name, **(model_options or {}))
    run_dir = RunDirectory(out)
    identity = run_identity(model, dataset, metric_profile, align)
    _check_resume(run_dir, identity, resume)
    resources = None
    if executor is not None:
        device, resources = _cluster_device(executor, device)
    else:
        try:
            model.load(device)
        except PikfixError:
            raise
        except Exception as exc:  # third-party loading code: report it as this model's failure
            raise ModelError(f"model {model_name} could not load: {type(exc).__name__}: {exc}") from None
        if isinstance(model, CommandAdapter):
            model.work_dir = run_dir.path / "work"
    done = set(run_dir.per_image().get("sample_id", []))
    errors_before = run_dir.errors()
    if len(errors_before):  # failed samples are tried again
        run_dir.path.joinpath(ERRORS_FILE).unlink()
    todo = [sample_id for sample_id in dataset.ids if sample_id not in done]
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    previous = run_dir.read_run() if run_dir.exists() else {}
    run = {
        **identity,
        "environment": _environment(device),
        "started": previous.get("started", started),
        "resumed": [*previous.get("resumed", []), started] if previous else [],
        "save_outputs": save_outputs,
        "command": " ".join(sys.argv),
    }
    run_dir.write_run(run)
    preferred = model.descriptor.batch_size
    size = batch_size or (len(todo) if preferred == 0 else preferred) or DEFAULT_BATCH
    wall = time.perf_counter()
    bar = tqdm(
        total=len(dataset),
        initial=len(done),
        desc=model.descriptor.name,
        unit="img",
        disable=not progress,
        file=sys.stderr,
    )
    batches = _batches(todo, max(1, size))
    if executor is not None:
        tasks = [
            {
                "index": index,
                "model": model_name,
                "options": model_options or {},
                "dataset": str(dataset.path),
                "profile": profile,
                "device": device,
                "batches": batches[start : start + shard_batches],
                "align": align,
                "save_outputs": save_outputs,
                "run_dir": str(run_dir.path),
                "threads": torch.get_num_threads(),
            }
            for index, start in enumerate(range(0, len(batches), max(1, shard_batches)))
        ]
        timing = {"model_seconds": 0.0, "metric_seconds": 0.0}
        with bar:
            for _, result in executor.run(evaluate_shard, tasks, resources=resources):
                _record(run_dir, tuple(METRICS), result["rows"], result["errors"])
                for key in timing:
                    timing[key] += result[key]
                bar.update(result["count"])
    else:
        evaluation = _Evaluation(
            model, ImageScorer(metric_profile, device=device), run_dir, align, save_outputs, strict
        )
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pikfix-reader") as reader, bar:
                read = functools.partial(dataset.read, arrays=MODEL_ARRAYS)
                upcoming = reader.submit(read, batches[0]) if batches else None
                for index in range(len(batches)):
                    samples = upcoming.result()
                    upcoming = reader.submit(read, batches[index + 1]) if index + 1 < len(batches) else None
                    _record(run_dir, evaluation.scorer.metrics, *evaluation.run_batch(samples))
                    bar.update(len(samples))
                    bar.set_postfix_str(
                        f"{evaluation.scored / max(time.perf_counter() - wall, 1e-9):.1f} img/s"
                    )
        finally:
            evaluation.close()
        timing = {"model_seconds": evaluation.model_seconds, "metric_seconds": evaluation.metric_seconds}
    run_dir.rewrite_sorted(PER_IMAGE_FILE)
    run_dir.rewrite_sorted(ERRORS_FILE)
    summary = summarize_run(run_dir)
    run.update(
        {
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "timing": {"wall_seconds": time.perf_counter() - wall, **timing},
        }
    )
    run_dir.write_run(run)
    return RunResult(run_dir.path, summary["scored"], summary["failed"], summary)


def summarize_run(run_dir: RunDirectory) -> dict[str, Any]:
    """Compute and write ``summary.json`` from ``per_image.csv`` and ``errors.csv``."""
    table, errors = run_dir.per_image(), run_dir.errors()
    metrics = [name for name in METRICS if name in table.columns]
    summary = {
        "scored": int(len(table)),
        "failed": int(len(errors)),
        "metrics": {name: metric_summary(table[name].to_numpy(dtype=np.float64)) for name in metrics},
    }
    run_dir.write_summary(summary)
    return summary
