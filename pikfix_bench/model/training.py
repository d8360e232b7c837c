"""``pikfix-bench train``: train Pik-Fix on a dataset built by ``build-dataset``.

Adam (lr 1e-4, betas 0.99 / 0.999) with a 0.99 learning-rate decay per epoch and random crops, as
the talk states; a held-out share of the dataset is scored with the toolkit's own metrics after every
epoch; ``last.pth`` (everything needed to resume) and ``model.pth`` (what the ``pikfix`` adapter
loads) are written atomically after every epoch, and losses go to ``log.csv``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pikfix_bench.datasets.store import Dataset, Sample
from pikfix_bench.devices import resolve_device
from pikfix_bench.errors import PikfixError
from pikfix_bench.json_io import write_json
from pikfix_bench.memory import release_free_memory, return_large_blocks_at_once
from pikfix_bench.metrics import ImageScorer
from pikfix_bench.metrics.lpips_metric import verified_weights
from pikfix_bench.model.blocks import recompute_activations
from pikfix_bench.model.config import PikFixConfig
from pikfix_bench.model.inference import PRECISIONS, colorize, lab_tensors, save_model, trainable_state
from pikfix_bench.model.losses import PatchDiscriminator, discriminator_loss, generator_loss
from pikfix_bench.model.network import MULTIPLE, PikFix
from pikfix_bench.progress import Progress
from pikfix_bench.resize import resize_to
from pikfix_bench.safe_paths import append_text, read_regular
from pikfix_bench.torch_files import brief, load_plain

LOG_COLUMNS = [
    "epoch",
    "precision",
    "loss",
    "l1_lightness",
    "perceptual",
    "emd",
    "l1_ab",
    "adversarial",
    "discriminator",
    "val_psnr",
    "val_ssim",
    "val_lpips",
    "lr",
    "seconds",
]


def split_ids(ids: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split (at least one validation sample; all of them if only one)."""
    if len(ids) < 2:
        return list(ids), list(ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    count = min(len(ids) - 1, max(1, round(len(ids) * val_fraction)))
    val = sorted(ids[i] for i in order[:count])
    return sorted(set(ids) - set(val)), val


def training_tensors(samples: list[Sample], crop: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Random ``crop`` windows of input and ground truth (the same window), references resized to ``crop``."""
    size = min(crop, *(min(s.gt.shape[:2]) for s in samples))
    size -= size % MULTIPLE
    if size < MULTIPLE:
        raise PikfixError(
            f"training needs images of at least {MULTIPLE} px; got {min(min(s.gt.shape[:2]) for s in samples)}"
        )
    parts: dict[str, list[torch.Tensor]] = {
        "lightness": [],
        "target_lightness": [],
        "target_ab": [],
        "ref_lightness": [],
        "ref_ab": [],
    }
    for sample in samples:
        top = int(rng.integers(sample.gt.shape[0] - size + 1))
        left = int(rng.integers(sample.gt.shape[1] - size + 1))
        window = (slice(top, top + size), slice(left, left + size))
        parts["lightness"].append(lab_tensors(sample.input[window])[0])
        target_l, target_ab = lab_tensors(sample.gt[window])
        parts["target_lightness"].append(target_l)
        parts["target_ab"].append(target_ab)
        ref_l, ref_ab = lab_tensors(resize_to(sample.ref, size, size))
        parts["ref_lightness"].append(ref_l)
        parts["ref_ab"].append(ref_ab)
    return {name: torch.cat(values) for name, values in parts.items()}


class TrainingBatches(torch.utils.data.Dataset):
    """The batches of one epoch as training tensors, made where the DataLoader's workers run.

    Batch ``i``'s crops come from a generator seeded by ``(seed, epoch, i)``, so an epoch gives the same
    tensors whatever the number of workers.
    """

    def __init__(self, dataset: Dataset, batches: list[list[str]], crop: int, seed: int, epoch: int) -> None:
        # The dataset opened (and checked) once by the caller: opening validates the whole manifest and
        # recomputes its content hash, far too much to repeat for every batch.
        self.dataset, self.batches, self.crop, self.seed, self.epoch = dataset, batches, crop, seed, epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        samples = self.dataset.read(self.batches[index])
        return training_tensors(samples, self.crop, np.random.default_rng([self.seed, self.epoch, index]))


def default_workers() -> int:
    """Data workers by default: the CPU cores less one for the training loop, at most 8."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


@dataclass
class TrainingState:
    """What a resumed run continues from."""

    epoch: int
    model: PikFix
    discriminator: PatchDiscriminator | None
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]
    precision: str = "fp32"
    scaler: torch.amp.GradScaler | None = None


def new_state(
    config: PikFixConfig, device: str, precision: str = "fp32", checkpoint_activations: bool = False
) -> TrainingState:
    """A fresh model, discriminator and optimisers on ``device`` (fused Adam on CUDA).

    ``checkpoint_activations`` recomputes the dense blocks, RDBs, fusions and VGG passes in backward
    instead of keeping their activations (the same values, less memory, about a third more compute).
    """
    if precision not in PRECISIONS:
        raise PikfixError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    model = PikFix(config).to(device)
    recompute_activations(model, checkpoint_activations)
    generator_params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if device.startswith("cuda") else {}
    optimizers = {
        "generator": torch.optim.Adam(
            generator_params, lr=config.lr, betas=(config.beta1, config.beta2), **fused
        )
    }
    discriminator = PatchDiscriminator().to(device) if config.adversarial else None
    if discriminator is not None:
        optimizers["discriminator"] = torch.optim.Adam(
            discriminator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2), **fused
        )
    schedulers = {
        name: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=config.lr_decay)
        for name, opt in optimizers.items()
    }
    scaler = torch.amp.GradScaler(device.split(":")[0]) if precision == "fp16" else None
    return TrainingState(0, model, discriminator, optimizers, schedulers, precision, scaler)


def train_step(
    state: TrainingState, config: PikFixConfig, batch: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """One optimisation step: the discriminator (when adversarial), then the generator.

    Parameters
    ----------
    state : TrainingState
        Model, discriminator and optimisers (updated in place).
    config : PikFixConfig
        Loss weights.
    batch : dict of str to torch.Tensor
        From :func:`training_tensors`, on the model's device.

    Returns
    -------
    dict of str to torch.Tensor
        Every loss term, the total ``loss`` and the ``discriminator`` loss, detached and on the device
        (no synchronisation: read them once per logging interval).

    Notes
    -----
    Under ``state.precision`` bf16 or fp16 the networks' convolutions run in that precision (autocast);
    the similarity, its softmax and SPHist run in float32 inside the model, and the losses are computed
    in float32 from float32 copies of the outputs. fp16 scales the losses (``state.scaler``).
    """
    device_type = batch["lightness"].device.type
    dtype = PRECISIONS[state.precision]
    reduced = torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)
    scaler = state.scaler
    with reduced:
        result = state.model(batch["lightness"], batch["ref_lightness"], batch["ref_ab"])
    restored, ab = result.lightness.float(), result.ab.float()
    reference = torch.cat([batch["ref_lightness"], batch["ref_ab"]], 1)
    fake_logits, d_loss = None, torch.zeros((), device=restored.device)
    if state.discriminator is not None:
        with reduced:
            real = state.discriminator(batch["target_lightness"], batch["target_ab"], reference)
            fake = state.discriminator(restored.detach(), ab.detach(), reference)
        loss_d = discriminator_loss(real.float(), fake.float())
        state.optimizers["discriminator"].zero_grad()
        (scaler.scale(loss_d) if scaler else loss_d).backward()
        if scaler:
            scaler.step(state.optimizers["discriminator"])
        else:
            state.optimizers["discriminator"].step()
        d_loss = loss_d.detach()
        with reduced:
            fake_logits = state.discriminator(restored, ab, reference).float()
    terms = generator_loss(
        config,
        state.model.vgg,
        state.model.sphist,
        restored,
        ab,
        batch["target_lightness"],
        batch["target_ab"],
        batch["ref_ab"],
        fake_logits,
    )
    state.optimizers["generator"].zero_grad()
    (scaler.scale(terms.total) if scaler else terms.total).backward()
    if scaler:
        scaler.step(state.optimizers["generator"])
        scaler.update()
    else:
        state.optimizers["generator"].step()
    return {**terms.terms, "loss": terms.total.detach(), "discriminator": d_loss}


def _save_state(path: Path, state: TrainingState, extra: dict[str, Any]) -> None:
    """Write ``last.pth`` atomically, as plain data only (tensors, numbers, strings, lists, dicts).

    :func:`_load_state` reads it with ``weights_only=True``, so nothing in it may need a pickled class.
    """
    payload = {
        "epoch": state.epoch,
        "model": trainable_state(state.model),
        "discriminator": state.discriminator.state_dict() if state.discriminator is not None else None,
        "optimizers": {name: opt.state_dict() for name, opt in state.optimizers.items()},
        "schedulers": {name: sch.state_dict() for name, sch in state.schedulers.items()},
        "torch_rng": torch.get_rng_state(),
        **extra,
    }
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)


# The keys of ``last.pth`` that resuming reads, and the types their values must have.
_RESUME_KEYS: dict[str, type | tuple[type, ...]] = {
    "epoch": int,
    "config": dict,
    "dataset": dict,
    "model": dict,
    "discriminator": (dict, type(None)),
    "optimizers": dict,
    "schedulers": dict,
    "torch_rng": torch.Tensor,
}


def _read_resume_payload(path: Path) -> dict[str, Any]:
    """``last.pth`` as plain data, its keys and their types checked; a :class:`PikfixError` naming it if not.

    ``weights_only=True`` refuses every global that is not a tensor type or a plain container, so a planted
    pickle is never run, only refused.
    """
    payload = load_plain(path, "--resume refused")
    if not isinstance(payload, dict):
        raise PikfixError(
            f"--resume refused: {path} holds a {type(payload).__name__}, not a pikfix-bench training checkpoint"
        )
    missing = sorted(key for key in _RESUME_KEYS if key not in payload)
    wrong = sorted(
        key
        for key, kind in _RESUME_KEYS.items()
        # bool is an int to isinstance, but an epoch of True is not one
        if key in payload and (not isinstance(payload[key], kind) or isinstance(payload[key], bool))
    )
    if "epoch" not in wrong and payload.get("epoch", 0) < 0:
        wrong.append("epoch")
    if missing or wrong:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"wrong type or value of {', '.join(wrong)}"] if wrong else []
        raise PikfixError(
            f"--resume refused: {path} is not a pikfix-bench training checkpoint ({'; '.join(problems)})"
        )
    return payload


def _load_state(
    path: Path,
    config: PikFixConfig,
    dataset_hash: str,
    device: str,
    precision: str,
    checkpoint_activations: bool,
) -> TrainingState:
    """The state saved in ``path``, on ``device``; a :class:`PikfixError` for another config or dataset,
    or for a file that is not plain data or does not fit the model."""
    payload = _read_resume_payload(path)
    if payload["config"] != config.to_dict():
        raise PikfixError(f"--resume refused: {path} was trained with another config")
    if payload["dataset"].get("content_hash") != dataset_hash:
        raise PikfixError(f"--resume refused: {path} was trained on another dataset content")
    state = new_state(config, device, precision, checkpoint_activations)
    try:
        state.model.load_state_dict({**state.model.state_dict(), **payload["model"]})
        if state.discriminator is not None:
            state.discriminator.load_state_dict(payload["discriminator"])
        for name, optimizer in state.optimizers.items():
            optimizer.load_state_dict(payload["optimizers"][name])
            state.schedulers[name].load_state_dict(payload["schedulers"][name])
        torch.set_rng_state(payload["torch_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        # the config and dataset match, so what does not fit is the file's own content
        raise PikfixError(
            f"--resume refused: {path} does not fit the model of its own config ({brief(exc)})"
        ) from None
    state.epoch = payload["epoch"]
    return state


def _validate(model: PikFix, samples: list[Sample], device: str, scorer: ImageScorer) -> dict[str, float]:
    model.eval()
    outputs = colorize(model, [s.input for s in samples], [s.ref for s in samples], device)
    model.train()
    values = scorer.score(outputs, [s.gt for s in samples])
    return {
        f"val_{name}": float(np.mean([v[name] for v in values if np.isfinite(v[name])] or [np.nan]))
        for name in scorer.metrics
    }


def train(
    dataset_path: str | Path,
    out: str | Path,
    config: PikFixConfig | None = None,
    *,
    epochs: int = 20,
    batch_size: int = 4,
    crop: int = 256,
    device: str = "auto",
    resume: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    precision: str = "fp32",
    checkpoint_activations: bool = False,
    workers: int | None = None,
    progress: bool = True,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, float]]:
    """Train Pik-Fix and write ``model.pth``, ``last.pth``, ``log.csv`` and ``config.json`` into ``out``.

    Parameters
    ----------
    dataset_path : str or Path
        A dataset built by ``build-dataset`` (inputs, ground truths, references).
    out : str or Path
        Output folder.
    config : PikFixConfig, optional
        Architecture, losses and optimiser (default: the talk's settings).
    epochs, batch_size, crop : int
        Training length (total epochs, also when resuming), batch size, crop side in pixels.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    resume : bool
        Continue from ``out/last.pth`` (same config and dataset content only).
    val_fraction : float
        Share of samples held out for validation.
    seed : int
        Seed of the split, crops and initialisation.
    precision : {"fp32", "bf16", "fp16"}
        Precision of the convolutions (:func:`train_step`); recorded in the checkpoints and ``log.csv``.
    checkpoint_activations : bool
        Recompute block activations in backward (less memory, more compute; same values). On the CPU
        this also makes glibc return large freed blocks at once, for the rest of the process
        (:func:`pikfix_bench.memory.return_large_blocks_at_once`).
    workers : int, optional
        DataLoader worker processes making the batches (default: :func:`default_workers`; 0: this process).
    progress : bool
        Show each epoch's progress on standard error: a bar on a terminal, a line every tenth or 30 s
        otherwise (:class:`~pikfix_bench.progress.Progress`).
    on_start : callable, optional
        Called once before the first step with ``train``, ``val`` (sample counts),
        ``steps_per_epoch``, ``first_epoch``, ``epochs``, ``device``, ``precision`` and ``log`` (the
        path of ``log.csv``).
    on_epoch : callable, optional
        Called with each epoch's log row as soon as the epoch is written (``log.csv``, checkpoints).

    Returns
    -------
    list of dict
        The log rows of the epochs run now.
    """
    config = config or PikFixConfig()
    out = Path(out)
    dataset = Dataset(dataset_path)
    device = resolve_device(device)
    if (out / "last.pth").exists() and not resume:
        raise PikfixError(f"{out} already holds a training run; use --resume to continue it or another --out")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    elif checkpoint_activations:  # memory before speed, also in how the C heap keeps freed blocks
        return_large_blocks_at_once()
    options = (device, precision, checkpoint_activations)
    state = (
        _load_state(out / "last.pth", config, dataset.content_hash, *options)
        if resume and (out / "last.pth").exists()
        else new_state(config, *options)
    )
    write_json(out / "config.json", config.to_dict())
    train_ids, val_ids = split_ids(dataset.ids, val_fraction, seed)
    val_samples = dataset.read(val_ids)
    verified_weights()  # LPIPS fails now, not after an epoch; its network loads at the first validation
    scorer: ImageScorer | None = None
    extra = {
        "config": config.to_dict(),
        "dataset": {k: dataset.manifest[k] for k in ("name", "version", "content_hash")},
        "precision": precision,
    }
    workers = default_workers() if workers is None else workers
    steps = math.ceil(len(train_ids) / batch_size)
    if on_start is not None:
        on_start(
            {
                "train": len(train_ids),
                "val": len(val_ids),
                "steps_per_epoch": steps,
                "first_epoch": state.epoch + 1,
                "epochs": epochs,
                "device": device,
                "precision": precision,
                "log": out / "log.csv",
            }
        )
    rows = []
    release_free_memory()  # what building the networks and reading the validation samples left behind
    with _LogFile(out / "log.csv") as log:
        for epoch in range(state.epoch + 1, epochs + 1):
            started = time.perf_counter()
            order = [train_ids[i] for i in np.random.default_rng([seed, epoch]).permutation(len(train_ids))]
            batches = TrainingBatches(
                dataset,
                [order[i : i + batch_size] for i in range(0, len(order), batch_size)],
                crop,
                seed,
                epoch,
            )
            loader = torch.utils.data.DataLoader(
                batches, batch_size=None, num_workers=workers, pin_memory=device.startswith("cuda")
            )
            with Progress(steps, f"epoch {epoch}/{epochs}", unit="batch", enabled=progress) as shown:
                totals = _run_epoch(state, config, shown.iterate(loader), device)
            release_free_memory()  # the epoch's freed activations, before validation loads LPIPS
            scorer = scorer or ImageScorer("pikfix", ["psnr", "ssim", "lpips"], device=device)
            lr = state.optimizers["generator"].param_groups[0]["lr"]
            for scheduler in state.schedulers.values():
                scheduler.step()
            state.epoch = epoch
            row = {
                "epoch": epoch,
                "precision": precision,
                **totals,
                **_validate(state.model, val_samples, device, scorer),
                "lr": lr,
                "seconds": time.perf_counter() - started,
            }
            log.write(row)
            rows.append(row)
            _save_state(out / "last.pth", state, extra)
            save_model(out / "model.pth", state.model, {**extra, "epoch": epoch})
            if on_epoch is not None:
                on_epoch(row)
    return rows


def _run_epoch(state: TrainingState, config: PikFixConfig, batches, device: str) -> dict[str, float]:
    """Train on every batch; the mean of each loss term, read from the device once, at the end."""
    totals: dict[str, torch.Tensor] = {}
    steps = 0
    for batch in batches:
        terms = train_step(state, config, {k: v.to(device, non_blocking=True) for k, v in batch.items()})
        for name, value in terms.items():
            totals[name] = totals[name] + value if name in totals else value.clone()
        steps += 1
    return {name: float(value) / max(steps, 1) for name, value in totals.items()}


class _LogFile:
    """``log.csv``, appended row by row and flushed (a resumed run keeps the header it was started with)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> _LogFile:
        fields = LOG_COLUMNS
        self.handle = append_text(self.path, "training log")  # a link planted here is refused
        if os.fstat(self.handle.fileno()).st_size:
            text = read_regular(self.path, 64 << 20, "training log").decode("utf-8", errors="replace")
            fields = next(csv.reader(io.StringIO(text, newline="")), LOG_COLUMNS)
        self.writer = csv.DictWriter(self.handle, fieldnames=fields, extrasaction="ignore")
        if fields is LOG_COLUMNS:
            self.writer.writeheader()
        return self

    def write(self, row: dict[str, Any]) -> None:
        """Append one row and flush it."""
        self.writer.writerow(row)
        self.handle.flush()

    def __exit__(self, *exc_info) -> None:
        self.handle.close()
