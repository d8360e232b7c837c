"""Evaluating one shard of batches: the one function every executor runs, in this process or on a worker.

Flow per batch: read the samples (a reader thread prefetches the next batch), run the model as its
descriptor says (:func:`~pikfix_bench.evaluation.alignment.predict_images`), align to the ground
truth as ``--align`` says, score, save outputs (a writer thread). A sample that fails is returned as
an error row and the shard goes on (``strict`` stops at once); a model that cannot load stops the run.
"""

from __future__ import annotations

import functools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pikfix_bench.baselines import ModelAdapter, ModelError, create_model
from pikfix_bench.baselines.base import as_rgb
from pikfix_bench.baselines.command import CommandAdapter
from pikfix_bench.datasets.store import Dataset, Sample
from pikfix_bench.errors import PikfixError
from pikfix_bench.evaluation.alignment import align_output, predict_each
from pikfix_bench.evaluation.rundir import RunDirectory
from pikfix_bench.image_io import write_png
from pikfix_bench.metrics import DEFAULT_METRICS, METRICS, ImageScorer, get_profile
from pikfix_bench.safe_paths import path_inside

# what evaluation reads: masks (unless a masked metric is scored) and colour scans stay compressed on disk
MODEL_ARRAYS = ("input", "gt", "ref")


@dataclass(frozen=True)
class RunPlan:
    """Everything a shard needs to know about its run (plain values: it travels to Dask workers).

    Attributes
    ----------
    model, options : str, dict
        Model name and ``--model-opt`` strings.
    dataset, run_dir : str
        Paths of the dataset and the run directory (on storage the workers share).
    profile : str
        Metric profile.
    device : str
        The resolved ``--device``: where the metrics run, and the model when it supports it.
    align : str
        ``--align``.
    save_outputs, strict : bool
        Write ``outputs/<id>.png``; stop at the first failing sample.
    threads : int
        torch threads (workers use the driver's count, so their values equal local ones).
    metrics : tuple of str
        What is scored; a masked metric makes the shard read the damage masks too.
    """

    model: str
    options: dict[str, str]
    dataset: str
    run_dir: str
    profile: str
    device: str
    align: str
    save_outputs: bool
    strict: bool
    threads: int
    metrics: tuple[str, ...] = DEFAULT_METRICS

    @property
    def cache_key(self) -> tuple:
        """What identifies a loaded model and scorer in a worker."""
        return self.model, json.dumps(self.options, sort_keys=True), self.device, self.profile, self.metrics

    @property
    def arrays(self) -> tuple[str, ...]:
        """The arrays a shard reads: the mask only when a masked metric is scored."""
        if any(METRICS[name].needs_mask for name in self.metrics):
            return (*MODEL_ARRAYS, "mask")
        return MODEL_ARRAYS


def load_model(model: ModelAdapter, device: str) -> None:
    """``model.load(device)``, reporting third-party failures as this model's :class:`ModelError`."""
    try:
        model.load(device)
    except PikfixError:
        raise
    except Exception as exc:  # third-party loading code may raise anything
        raise ModelError(
            f"model {model.descriptor.name} could not load: {type(exc).__name__}: {exc}"
        ) from None


# Models loaded by this process, so that each worker loads a model once, not once per shard.
_LOADED: dict[tuple, tuple[ModelAdapter, ImageScorer]] = {}


def loaded(plan: RunPlan, model: ModelAdapter | None = None) -> tuple[ModelAdapter, ImageScorer]:
    """The model and scorer of ``plan`` in this process, loading them the first time.

    Parameters
    ----------
    plan : RunPlan
        The run.
    model : ModelAdapter, optional
        An adapter already created from the plan (the driver's own), loaded here if needed.
    """
    if plan.cache_key not in _LOADED:
        model = model or create_model(plan.model, **plan.options)
        load_model(model, plan.device)
        _LOADED[plan.cache_key] = (
            model,
            ImageScorer(get_profile(plan.profile), plan.metrics, device=plan.device),
        )
    return _LOADED[plan.cache_key]


@functools.lru_cache(maxsize=4)
def _dataset(path: str) -> Dataset:
    """A dataset opened once per process (its manifest is read once, not once per shard)."""
    return Dataset(path)


def unload(plan: RunPlan) -> None:
    """Forget the model and scorer of ``plan`` in this process."""
    _LOADED.pop(plan.cache_key, None)


class BatchRunner:
    """Predicts, aligns and scores batches of one shard."""

    def __init__(self, model: ModelAdapter, scorer: ImageScorer, plan: RunPlan) -> None:
        self.model, self.scorer, self.plan = model, scorer, plan
        self.outputs = RunDirectory(plan.run_dir).outputs
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pikfix-writer")
        self.pending_writes: list = []
        self.model_seconds = self.metric_seconds = 0.0

    def _fail(self, ids: list[str], message: str, cause: BaseException | None = None) -> None:
        if self.plan.strict:
            raise ModelError(f"{', '.join(ids)}: {message} (--strict)") from cause

    def _predict(self, samples: list[Sample]) -> list[np.ndarray | str]:
        """Each sample's output, or why it has none (:func:`predict_each`; ``--strict`` stops at a failure)."""
        # a set without references (a scan set built with --references none) only runs models that read
        # none (evaluate refuses the others): they get the scan in the reference's place and never look
        references = [as_rgb(s.input) if s.ref is None else s.ref for s in samples]
        ids = [sample.sample_id for sample in samples]
        return predict_each(self.model, ids, [s.input for s in samples], references, self._fail)

    def _check(self, sample: Sample, output: np.ndarray | str) -> np.ndarray:
        if isinstance(output, str):
            raise PikfixError(output)
        if sample.gt is None:  # a scan set: outputs keep the scan's size
            return align_output(output, sample.input.shape, self.plan.align, sample.sample_id, "scan")
        return align_output(output, sample.gt.shape, self.plan.align, sample.sample_id)

    def run_batch(self, samples: list[Sample]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Predict, align and score one batch; returns its per-image rows and error rows."""
        start = time.perf_counter()
        outputs = self._predict(samples)
        seconds = time.perf_counter() - start
        self.model_seconds += seconds
        ready, error_rows = [], []
        for sample, output in zip(samples, outputs, strict=True):
            try:
                ready.append((sample, self._check(sample, output)))
            except PikfixError as exc:
                self._fail([sample.sample_id], str(exc))
                error_rows.append({"sample_id": sample.sample_id, "stage": "predict", "message": str(exc)})
        start = time.perf_counter()
        no_ground_truth = any(s.gt is None for s, _ in ready)  # a scan set: no-reference metrics only
        values = (
            self.scorer.score(
                [out for _, out in ready],
                None if no_ground_truth else [s.gt for s, _ in ready],
                [s.mask for s, _ in ready],
            )
            if ready
            else []
        )
        self.metric_seconds += time.perf_counter() - start
        rows = [
            {"sample_id": sample.sample_id, **value, "seconds": seconds / len(samples)}
            for (sample, _), value in zip(ready, values, strict=True)
        ]
        if self.plan.save_outputs:
            for sample, output in ready:
                path = path_inside(self.outputs, sample.sample_id, ".png", base=self.plan.run_dir)
                self.pending_writes.append(self.writer.submit(write_png, path, output))
        return rows, error_rows

    def close(self) -> None:
        """Wait for the output writes, then stop the writer."""
        try:
            for future in self.pending_writes:
                future.result()
        finally:
            self.writer.shutdown()


def evaluate_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Run and score the batches of one shard; returns rows, errors, timings and the model's device.

    Parameters
    ----------
    task : dict
        ``plan`` (a :class:`RunPlan`) and ``batches`` (lists of sample ids).
    """
    plan: RunPlan = task["plan"]
    torch.set_num_threads(plan.threads)
    model, scorer = loaded(plan)
    if isinstance(model, CommandAdapter):
        model.work_dir = RunDirectory(plan.run_dir).path / "work"
    runner = BatchRunner(model, scorer, plan)
    dataset = _dataset(plan.dataset)
    batches = task["batches"]
    rows, errors = [], []
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pikfix-reader") as reader:
            upcoming = reader.submit(dataset.read, batches[0], plan.arrays)
            for index in range(len(batches)):
                samples = upcoming.result()
                if index + 1 < len(batches):
                    upcoming = reader.submit(dataset.read, batches[index + 1], plan.arrays)
                batch_rows, batch_errors = runner.run_batch(samples)
                rows += batch_rows
                errors += batch_errors
    finally:
        runner.close()
    return {
        "rows": rows,
        "errors": errors,
        "count": sum(map(len, batches)),
        "model_seconds": runner.model_seconds,
        "metric_seconds": runner.metric_seconds,
        "model_device": model.device,
    }
