"""``pikfix-bench train``: train the Pik-Fix model."""

from __future__ import annotations

from pathlib import Path

import click

from pikfix_bench.model import PikFixConfig, train
from pikfix_bench.model.config import CONFIG_PRESETS


@click.command("train")
@click.option(
    "--dataset", required=True, type=click.Path(path_type=Path), help="A dataset built by build-dataset."
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Folder for checkpoints and logs."
)
@click.option(
    "--config",
    "config_file",
    help="YAML of PikFixConfig overrides, or a preset: " + ", ".join(CONFIG_PRESETS) + " (docs/pikfix.md).",
)
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=1), help="Total epochs.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--crop", default=256, show_default=True, type=click.IntRange(min=32), help="Random crop side (px)."
)
@click.option("--device", default="auto", show_default=True)
@click.option("--val-fraction", default=0.1, show_default=True, type=click.FloatRange(0.0, 0.9))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pth.")
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    type=click.Choice(["fp32", "bf16", "fp16"]),
    help="Convolutions in this precision (similarity, softmax, SPHist and losses stay fp32).",
)
@click.option(
    "--checkpoint-activations", is_flag=True, help="Recompute block activations in backward (less memory)."
)
@click.option(
    "--workers", type=click.IntRange(min=0), help="Data worker processes [default: CPU cores - 1, at most 8]."
)
def train_command(
    dataset,
    out,
    config_file,
    epochs,
    batch_size,
    crop,
    device,
    val_fraction,
    seed,
    resume,
    precision,
    checkpoint_activations,
    workers,
) -> None:
    """Train Pik-Fix (Adam 1e-4, 0.99 decay per epoch, random crops); writes model.pth for `evaluate --model pikfix`."""
    from pikfix_bench.datasets.store import Dataset
    from pikfix_bench.errors import PikfixError

    config = PikFixConfig.load(config_file) if config_file else PikFixConfig()  # options before data
    if not Dataset(dataset).ground_truth:
        raise PikfixError(
            f"{dataset} is a scan set (no ground truth): training needs targets; train on a synthetic or RealOld set"
        )
    train(
        dataset,
        out,
        config,
        epochs=epochs,
        batch_size=batch_size,
        crop=crop,
        device=device,
        resume=resume,
        val_fraction=val_fraction,
        seed=seed,
        precision=precision,
        checkpoint_activations=checkpoint_activations,
        workers=workers,
        progress=True,  # a bar on a terminal, plain lines in a log (pikfix_bench.progress)
        on_start=_banner,
        on_epoch=_epoch_line,
    )
    click.echo(
        f"model written to {Path(out) / 'model.pth'} (evaluate with --model pikfix --model-opt weights=...)"
    )


def _banner(start: dict) -> None:
    """What is about to run, before the first step (click.echo flushes: it reaches a log file now)."""
    resumed = f", resuming at epoch {start['first_epoch']}" if start["first_epoch"] > 1 else ""
    click.echo(
        f"training on {start['train']} training and {start['val']} validation samples, "
        f"{start['steps_per_epoch']} steps per epoch, {start['epochs']} epochs{resumed}; device {start['device']}, "
        f"precision {start['precision']}; per-epoch log: {start['log']}"
    )


def _epoch_line(row: dict) -> None:
    """One epoch's line, printed as the epoch ends."""
    click.echo(
        f"epoch {row['epoch']}: loss {row['loss']:.4f}  val PSNR {row['val_psnr']:.2f}  SSIM {row['val_ssim']:.3f}"
        f"  LPIPS {row['val_lpips']:.3f}  ({row['seconds']:.0f} s)"
    )
