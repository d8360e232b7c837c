"""``pikfix-bench score``: score one pair of images or two folders, or images alone (no-reference)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click
import pandas as pd
from tqdm import tqdm

from pikfix_bench.devices import resolve_device
from pikfix_bench.errors import PikfixError
from pikfix_bench.image_io import image_files, passed_over_message, printable, read_image
from pikfix_bench.metrics.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from pikfix_bench.metrics.scorer import DEFAULT_METRICS, METRICS, ImageScorer, check_pair, parse_metric_names
from pikfix_bench.metrics.summary import json_number, summarize
from pikfix_bench.pairing import ImagePair, pair_images
from pikfix_bench.spreadsheet import text_cells

# What ``score`` computes without --gt unless --metrics says otherwise.
NO_REFERENCE_DEFAULT = ("niqe", "piqe", "colorfulness")


def _relative(path: Path, root: Path) -> str:
    return path.name if root.is_file() else path.relative_to(root).as_posix()


def _score_pairs(scorer: ImageScorer, pairs: list[ImagePair], progress: bool) -> tuple[list[dict], list[str]]:
    """Read and score pairs chunk by chunk; a bad pair is reported and skipped."""
    rows, errors = [], []
    with tqdm(total=len(pairs), desc="scoring", unit="img", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(pairs), scorer.batch_size):
            chunk, preds, gts = [], [], []
            for pair in pairs[start : start + scorer.batch_size]:
                try:
                    pred = read_image(pair.pred)
                    gt = pred if pair.gt is None else read_image(pair.gt)  # no-reference: checked alone
                    check_pair(pred, gt, str(pair.pred), str(pair.gt or pair.pred))
                except PikfixError as exc:
                    errors.append(str(exc))
                    continue
                chunk.append(pair)
                preds.append(pred)
                gts.append(gt)
            no_reference = bool(chunk) and chunk[0].gt is None
            for pair, values in zip(chunk, scorer.score(preds, None if no_reference else gts), strict=True):
                rows.append({"key": pair.key, **values})
            bar.update(len(pairs[start : start + scorer.batch_size]))
    return rows, errors


def _images_alone(pred: Path) -> tuple[list[ImagePair], list[str]]:
    """The images to score without a ground truth (one file, or every image under a folder, each its own
    row: nothing is paired, so ``a.png`` and ``a.jpg`` are two), and the entries named like images that
    cannot be read as files."""
    if not pred.exists():
        raise PikfixError(f"--pred {pred}: no such file or folder")
    if pred.is_file():
        return [ImagePair(pred.name, pred, None)], []  # type: ignore[arg-type]
    if not pred.is_dir():
        raise PikfixError(
            f"--pred {printable(str(pred))}: not a regular file or a folder (a FIFO, socket or device)"
        )
    files, passed_over = image_files(sorted(pred.rglob("*")))
    pairs = [ImagePair(path.relative_to(pred).as_posix(), path, None) for path in files]  # type: ignore[arg-type]
    return pairs, [passed_over_message(path, why) for path, why in passed_over]


def _format_value(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4f}"


@click.command()
@click.option(
    "--pred", required=True, type=click.Path(path_type=Path), help="Predicted image, or folder of them."
)
@click.option(
    "--gt",
    type=click.Path(path_type=Path),
    help="Ground-truth image, or folder of them; without it only no-reference metrics are scored.",
)
@click.option(
    "--profile",
    default=DEFAULT_PROFILE,
    show_default=True,
    type=click.Choice(list(PROFILES)),
    help="Metric protocol (see docs/metrics.md).",
)
@click.option(
    "--metrics",
    "metric_names",
    default=None,
    help=f"Comma-separated metrics [default: {','.join(DEFAULT_METRICS)}; without --gt: "
    f"{','.join(NO_REFERENCE_DEFAULT)}].",
)
@click.option(
    "--crop-border",
    type=click.IntRange(min=0),
    default=None,
    help="Pixels cropped from each side before PSNR/SSIM (default: the profile's).",
)
@click.option(
    "--format",
    "output_format",
    default="table",
    show_default=True,
    type=click.Choice(["table", "csv", "json"]),
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), help="Images per batch [default: 4 on CPU, 16 on GPU]."
)
def score(
    pred: Path,
    gt: Path | None,
    profile: str,
    metric_names: str,
    crop_border: int | None,
    output_format: str,
    device: str,
    batch_size: int,
) -> None:
    """Score predictions against ground truths: one pair of files, or two folders paired by relative path.

    Folders are paired by path without suffix (a/b.png with a/b.jpg); files without a partner are listed
    on standard error. Prints one row per image and the mean.

    Without ``--gt`` the images are scored alone by no-reference metrics (NIQE, PIQE, colourfulness by
    default; BRISQUE when asked for), e.g. restored old photos that have no ground truth.
    """
    if metric_names is None:
        metric_names = ",".join(DEFAULT_METRICS if gt is not None else NO_REFERENCE_DEFAULT)
    names = parse_metric_names(metric_names)
    metric_profile = get_profile(profile, crop_border=crop_border)
    if gt is None:
        needing = [name for name in names if METRICS[name].needs_reference]
        if needing:
            raise PikfixError(
                f"{', '.join(needing)} need(s) --gt; without a ground truth choose from: "
                + ", ".join(name for name, spec in METRICS.items() if not spec.needs_reference)
            )
        pairs, passed_over = _images_alone(pred)
        if not pairs:
            raise PikfixError(
                f"no images found in {pred}" + "".join(f"; {message}" for message in passed_over)
            )
    else:
        pairing = pair_images(pred, gt)
        for side, paths in (("prediction", pairing.only_pred), ("ground truth", pairing.only_gt)):
            for path in paths:
                click.echo(f"warning: {side} without a partner: {printable(str(path))}", err=True)
        if not pairing.pairs:
            raise PikfixError(
                f"no pairs of images found between {pred} and {gt}"
                + "".join(f"; {printable(message)}" for message in pairing.passed_over)
            )
        pairs, passed_over = pairing.pairs, pairing.passed_over
    scorer = ImageScorer(metric_profile, names, resolve_device(device), batch_size)
    rows, errors = _score_pairs(scorer, pairs, progress=len(pairs) > 1 and sys.stderr.isatty())
    errors = passed_over + errors
    for message in errors:
        click.echo(f"error: {printable(message)}", err=True)
    if not rows:
        raise PikfixError(
            f"no {'image' if gt is None else 'pair'} could be scored (the errors above say why)"
        )
    by_key = {pair.key: pair for pair in pairs}
    records = [
        {
            "pred": _relative(by_key[row["key"]].pred, pred),
            **({} if gt is None else {"gt": _relative(by_key[row["key"]].gt, gt)}),
            **{name: row[name] for name in names},
        }
        for row in rows
    ]
    blank_gt = {} if gt is None else {"gt": ""}
    summaries = {name: summarize([record[name] for record in records]) for name in names}
    if output_format != "json":  # tables for people: a name is one line, its control characters escaped
        records = [
            record | {key: printable(record[key]) for key in ("pred", "gt") if key in record}
            for record in records
        ]
    if output_format == "json":
        payload = [
            {key: json_number(value) for key, value in record.items()} | {"profile": metric_profile.name}
            for record in records
        ]
        click.echo(json.dumps(payload, indent=2, allow_nan=False))
    elif output_format == "csv":
        mean_row = {"pred": "(mean)", **blank_gt, **{name: summaries[name].mean for name in names}}
        click.echo(
            text_cells(pd.DataFrame([*records, mean_row]).assign(profile=metric_profile.name)).to_csv(
                index=False
            ),
            nl=False,
        )
    else:
        table = pd.DataFrame(records)
        mean_row = {"pred": "mean", **blank_gt, **{name: summaries[name].mean for name in names}}
        table = pd.concat([table, pd.DataFrame([mean_row])], ignore_index=True)
        table = table.rename(columns={name: METRICS[name].titled(name) for name in names})
        click.echo(f"profile: {metric_profile.name} — {metric_profile.description}")
        click.echo(
            table.to_string(index=False, formatters={METRICS[n].titled(n): _format_value for n in names})
        )
        for name in names:
            if summaries[name].inf_count:
                click.echo(f"note: {name} {summaries[name].aggregation}")
            undefined = [record["pred"] for record in records if math.isnan(record[name])]
            if undefined:  # a flat image, or one too small for the metric (docs/metrics.md)
                listed = ", ".join(undefined[:5]) + (", ..." if len(undefined) > 5 else "")
                click.echo(
                    f"note: {name} has no value (nan) for {len(undefined)} of {len(records)} images ({listed}); "
                    + ("the mean is over the others" if len(undefined) < len(records) else "there is no mean")
                )
    if errors:
        sys.exit(1)
