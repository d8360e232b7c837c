"""Pairing predictions with ground truths by relative path.

Two folders are paired by each file's path relative to its folder, without the
suffix (``a/b.png`` pairs with ``a/b.jpg``), so a model may write PNG for JPEG
ground truths. Files without a partner are returned, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pikfix_bench.errors import PikfixError
from pikfix_bench.image_io import is_image_file


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


def index_image_folder(root: Path) -> dict[str, Path]:
    """Map ``relative/path/without/suffix`` to the image file, for every image under ``root``.

    Raises
    ------
    PikfixError
        If two images differ only by their suffix (``x.png`` and ``x.jpg``).
    """
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not (path.is_file() and is_image_file(path)):
            continue
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in index:
            raise PikfixError(
                f"{root}: {index[key].name} and {path.name} have the same name; cannot pair them"
            )
        index[key] = path
    return index


def pair_images(pred: str | Path, gt: str | Path) -> Pairing:
    """Pair a prediction file with a ground-truth file, or two folders by relative path.

    Parameters
    ----------
    pred, gt : str or Path
        Two image files, or two folders.

    Returns
    -------
    Pairing
        Pairs sorted by key, and the files of each side left without a partner.
    """
    pred, gt = Path(pred), Path(gt)
    for name, path in (("--pred", pred), ("--gt", gt)):
        if not path.exists():
            raise PikfixError(f"{name} {path}: no such file or folder")
    if pred.is_file() and gt.is_file():
        return Pairing(pairs=[ImagePair(pred.stem, pred, gt)])
    if not (pred.is_dir() and gt.is_dir()):
        raise PikfixError(f"--pred {pred} and --gt {gt} must both be files or both be folders")
    preds, gts = index_image_folder(pred), index_image_folder(gt)
    return Pairing(
        pairs=[ImagePair(key, preds[key], gts[key]) for key in sorted(preds.keys() & gts.keys())],
        only_pred=[preds[key] for key in sorted(preds.keys() - gts.keys())],
        only_gt=[gts[key] for key in sorted(gts.keys() - preds.keys())],
    )
