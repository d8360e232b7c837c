"""Pairing predictions with ground truths by relative path.

Two folders are paired by each file's path relative to its folder, without the
suffix (``a/b.png`` pairs with ``a/b.jpg``), so a model may write PNG for JPEG
ground truths. Files without a partner, and entries named like images that cannot be read as files
(broken links, devices), are returned, never silently dropped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pikfix_bench.errors import PikfixError
from pikfix_bench.image_io import image_files, passed_over_message


@dataclass
class ImagePair:
    """One prediction and its ground truth, with the key that paired them."""

    key: str
    pred: Path
    gt: Path


@dataclass
class Pairing:
    """The result of pairing two inputs."""

    pairs: list[ImagePair] = field(default_factory=list)
    only_pred: list[Path] = field(default_factory=list)
    only_gt: list[Path] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)


def index_image_folder(root: Path) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Map ``relative/path/without/suffix`` to the image file, for every image under ``root``.

    Returns
    -------
    images : dict of str to Path
        The image files by key.
    passed_over : dict of str to list of str
        Entries named like images that are not files (a broken link, a device: see
        :func:`~pikfix_bench.image_io.image_files`) by the same key, a message naming each.

    Raises
    ------
    PikfixError
        If two images differ only by their suffix (``x.png`` and ``x.jpg``).
    """
    files, unreadable = image_files(sorted(root.rglob("*")))
    passed_over: dict[str, list[str]] = defaultdict(list)
    for path, why in unreadable:  # two entries of one name (a.png, a.jpg) are both named
        passed_over[path.relative_to(root).with_suffix("").as_posix()].append(passed_over_message(path, why))
    index: dict[str, Path] = {}
    for path in files:
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in index:
            raise PikfixError(
                f"{root}: {index[key].name} and {path.name} have the same name; cannot pair them"
            )
        index[key] = path
    return index, dict(passed_over)


def pair_images(pred: str | Path, gt: str | Path) -> Pairing:
    """Pair a prediction file with a ground-truth file, or two folders by relative path.

    Parameters
    ----------
    pred, gt : str or Path
        Two image files, or two folders.

    Returns
    -------
    Pairing
        Pairs sorted by key, the files of each side left without a partner, and the entries that could
        not be read as files.
    """
    pred, gt = Path(pred), Path(gt)
    for name, path in (("--pred", pred), ("--gt", gt)):
        if not path.exists():
            raise PikfixError(f"{name} {path}: no such file or folder")
    if pred.is_file() and gt.is_file():
        return Pairing(pairs=[ImagePair(pred.stem, pred, gt)])
    if not (pred.is_dir() and gt.is_dir()):
        raise PikfixError(f"--pred {pred} and --gt {gt} must both be files or both be folders")
    (preds, pred_passed_over), (gts, gt_passed_over) = index_image_folder(pred), index_image_folder(gt)
    return Pairing(
        pairs=[ImagePair(key, preds[key], gts[key]) for key in sorted(preds.keys() & gts.keys())],
        # a file whose partner is there but unreadable is not "without a partner": the partner is named
        only_pred=[preds[key] for key in sorted(preds.keys() - gts.keys() - gt_passed_over.keys())],
        only_gt=[gts[key] for key in sorted(gts.keys() - preds.keys() - pred_passed_over.keys())],
        passed_over=[
            message
            for side in (pred_passed_over, gt_passed_over)
            for messages in side.values()
            for message in messages
        ],
    )
