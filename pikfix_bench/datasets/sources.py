"""Where samples come from: the official layouts of RealOld, Pascal VOC and DIV2K, any folder, and
the colour photographs bundled with scikit-image.

A source lists :class:`SourceItem` objects; nothing is read but file names and
(for Pascal) annotations until a sample is built.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from skimage import data as skdata

from pikfix_bench.errors import ImageReadError, PikfixError
from pikfix_bench.image_io import IMAGE_SUFFIXES, image_files, printable, read_image
from pikfix_bench.pairing import index_image_folder
from pikfix_bench.safe_paths import name_problem

SKIMAGE_PREFIX = "skimage:"
# Colour photographs that ship inside scikit-image (no download): the embedded sample set.
SAMPLE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "stereo_motorcycle",
)


@dataclass(frozen=True)
class SourceItem:
    """One sample's source files.

    Attributes
    ----------
    sample_id : str
        Stable identity of the sample (file stem or relative path without suffix).
    gt : str
        Path of the colour ground truth, or ``skimage:NAME`` (a scan set: the scan's path).
    old_photo : str, optional
        RealOld: the scanned old photo, used as the model input.
    label : str, optional
        Pascal VOC: the class of the largest annotated object.
    reference : str, optional
        A reference file given by the source (RealOld) or a pairs file.
    """

    sample_id: str
    gt: str
    old_photo: str | None = None
    label: str | None = None
    reference: str | None = None


@dataclass
class SourceListing:
    """Items of a source and the files it passed over, with reasons."""

    items: list[SourceItem]
    skipped: list[dict[str, str]]


DEGRADE_MASK_SUFFIX = ".mask.png"  # what `pikfix-bench degrade` names the mask it writes beside an image


def skip_entry(path: str | Path, reason: str) -> dict[str, str]:
    """A ``skipped`` record: the path and the reason as one printable line each (:func:`printable`)."""
    return {"path": printable(str(path)), "reason": printable(reason)}


def _id_problem(sample_id: str) -> str | None:
    """Why ``sample_id`` cannot be a sample id (it names output files and seeds the damage), or ``None``."""
    problem = name_problem(sample_id)
    return None if problem is None else f"its sample id '{printable(sample_id)}' {problem}"


def _image_files(paths: list[Path], skipped: list[dict[str, str]]) -> list[Path]:
    """The image files among ``paths``; broken links and other unreadable entries go to ``skipped``."""
    files, passed_over = image_files(paths)
    skipped += [skip_entry(path, reason) for path, reason in passed_over]
    return files


def load_source_image(location: str) -> np.ndarray:
    """Read a source image as uint8 RGB: a file path or ``skimage:NAME``."""
    if location.startswith(SKIMAGE_PREFIX):
        image = getattr(skdata, location[len(SKIMAGE_PREFIX) :])()
        return image[0] if isinstance(image, tuple) else image  # stereo pairs: the left view
    return read_image(location)


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise an error saying what was expected there."""
    if not path.is_dir():
        raise PikfixError(f"{path}: not found; expected {what}")
    return path


def sample_source() -> SourceListing:
    """The embedded sample set: colour photographs from ``skimage.data``."""
    return SourceListing([SourceItem(name, SKIMAGE_PREFIX + name) for name in SAMPLE_PHOTOS], [])


def folder_source(root: Path) -> SourceListing:
    """Every image under ``root`` (recursive); ids are relative paths without suffix.

    A file whose id cannot be a sample id (a name that is not UTF-8, holds a control character, ...:
    :func:`~pikfix_bench.safe_paths.name_problem`) and a broken link are skipped and named.
    """
    require_dir(root, "a folder of colour images")
    items, skipped, seen = [], [], {}
    for path in _image_files(sorted(root.rglob("*")), skipped):
        sample_id = path.relative_to(root).with_suffix("").as_posix()
        if problem := _id_problem(sample_id):
            skipped.append(skip_entry(path, problem))
            continue
        if sample_id in seen:
            raise PikfixError(
                f"{printable(str(seen[sample_id]))} and {printable(str(path))} have the same name without suffix"
            )
        seen[sample_id] = path
        items.append(SourceItem(sample_id, str(path)))
    return SourceListing(items, skipped)


def div2k_source(root: Path, split: str) -> SourceListing:
    """DIV2K high-resolution images: ``DIV2K_train_HR/`` or ``DIV2K_valid_HR/``."""
    folder = require_dir(root / f"DIV2K_{split}_HR", f"DIV2K's DIV2K_{split}_HR/ folder inside {root}")
    items, skipped = [], []
    for path in _image_files(sorted(folder.glob("*.png")), skipped):
        if problem := _id_problem(path.stem):
            skipped.append(skip_entry(path, problem))
        else:
            items.append(SourceItem(path.stem, str(path)))
    return SourceListing(items, skipped)


def largest_object_class(annotation: Path) -> str | None:
    """Class of the largest bounding box in a Pascal VOC annotation (``None`` if unreadable or empty)."""
    try:
        root = ET.parse(annotation).getroot()
    except (OSError, ET.ParseError):
        return None
    best, best_area = None, -1.0
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        name = obj.findtext("name")
        if box is None or name is None:
            continue
        try:
            area = (float(box.findtext("xmax")) - float(box.findtext("xmin"))) * (
                float(box.findtext("ymax")) - float(box.findtext("ymin"))
            )
        except (TypeError, ValueError):
            continue
        if area > best_area:
            best, best_area = name.strip(), area
    return best


def pascal_source(root: Path, split: str, num: int | None, selection_seed: int) -> SourceListing:
    """Pascal VOC (``VOCdevkit/VOC2012``): the images listed in ``ImageSets/Main/<split>.txt``.

    With ``num`` smaller than the list, ``num`` ids are chosen by ``numpy.random.default_rng(selection_seed)``
    from the sorted list (the paper used 10,000 train and 1,000 val images and never said which).
    """
    images = require_dir(root / "JPEGImages", f"Pascal VOC's JPEGImages/ inside {root}")
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.is_file():
        raise PikfixError(f"{listing}: not found; expected Pascal VOC's split list for --split {split}")
    # a line that is not UTF-8 becomes an id with surrogates, skipped below like any unusable id
    text = listing.read_text(encoding="utf-8", errors="surrogateescape")
    ids = sorted({line.split()[0] for line in text.splitlines() if line.strip()})
    if num is not None and num < len(ids):
        chosen = np.random.default_rng(selection_seed).choice(len(ids), size=num, replace=False)
        ids = sorted(ids[int(index)] for index in chosen)
    items, skipped = [], []
    for image_id in ids:
        path = images / f"{image_id}.jpg"
        if problem := _id_problem(image_id):
            skipped.append(skip_entry(path, f"listed in the split, but {problem}"))
            continue
        if not path.is_file():
            skipped.append(skip_entry(path, "listed in the split but missing"))
            continue
        label = largest_object_class(root / "Annotations" / f"{image_id}.xml")
        items.append(SourceItem(image_id, str(path), label=label))
    return SourceListing(items, skipped)


def read_pairs_csv(path: Path) -> dict[str, str]:
    """``sample_id -> reference file`` from a CSV with columns ``sample_id,reference`` (relative paths
    are taken from the CSV's folder)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise PikfixError(f"{path}: cannot read pairs file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise PikfixError(f"{path}: a pairs file must be UTF-8 text (byte {exc.start} is not)") from None
    if not rows or not {"sample_id", "reference"} <= set(rows[0]):
        raise PikfixError(f"{path}: a pairs file needs a header with columns sample_id,reference")
    return {row["sample_id"]: str((path.parent / row["reference"]).resolve()) for row in rows}


_REALOLD_NAME = re.compile(r"^(?P<id>.+?)(?P<kind>[ot])$")


def realold_source(root: Path, pairs_csv: Path | None) -> SourceListing:
    """The authors' RealOld release: ``real_old_data/<id>o.<ext>`` with ``<id>t.<ext>``, and ``real_old_ref/``.

    File names containing ``m`` are not pairs and are skipped. References pair by shared id when a file
    of ``real_old_ref/`` is named ``<id>`` plus an optional non-digit suffix; otherwise ``pairs_csv`` must
    name them. Samples without a reference are skipped with that reason.
    """
    data_dir = require_dir(root / "real_old_data", f"RealOld's real_old_data/ inside {root}")
    found: dict[str, dict[str, Path]] = {}
    skipped: list[dict[str, str]] = []
    for path in _image_files(sorted(data_dir.iterdir()), skipped):
        if "m" in path.stem:
            skipped.append(skip_entry(path, "name contains 'm': not a pair (as the authors' code)"))
            continue
        match = _REALOLD_NAME.match(path.stem)
        if match is None:
            skipped.append(skip_entry(path, "name does not end in 'o' (old photo) or 't' (target)"))
            continue
        if problem := _id_problem(match["id"]):
            skipped.append(skip_entry(path, problem))
            continue
        found.setdefault(match["id"], {})[match["kind"]] = path
    references = read_pairs_csv(pairs_csv) if pairs_csv else _references_by_id(root / "real_old_ref", found)
    items = []
    for sample_id, files in sorted(found.items()):
        if set(files) != {"o", "t"}:
            missing = "target (t)" if "t" not in files else "old photo (o)"
            skipped.append(skip_entry(next(iter(files.values())), f"no matching {missing}"))
        elif sample_id not in references:
            skipped.append(skip_entry(files["o"], "no reference (name it in --pairs)"))
        else:
            items.append(
                SourceItem(
                    sample_id, str(files["t"]), old_photo=str(files["o"]), reference=references[sample_id]
                )
            )
    return SourceListing(items, skipped)


def realold_has_targets(root: Path) -> bool:
    """Whether a RealOld-layout folder holds any expert-restored target (``<id>t.<ext>``); without one,
    ``build-dataset realold`` builds a scan set of its old photos."""
    data_dir = require_dir(root / "real_old_data", f"RealOld's real_old_data/ inside {root}")
    files, _ = image_files(sorted(data_dir.iterdir()))
    return any((match := _REALOLD_NAME.match(path.stem)) and match["kind"] == "t" for path in files)


def realold_scans_source(root: Path, pairs_csv: Path | None, use_references: bool) -> SourceListing:
    """RealOld's old photos (``real_old_data/<id>o.<ext>``) as a scan set: a release without targets.

    With ``use_references``, each scan takes its reference from ``real_old_ref/`` (by shared id, as
    :func:`realold_source`) or ``pairs_csv``, and a scan without one is skipped with that reason.
    """
    data_dir = require_dir(root / "real_old_data", f"RealOld's real_old_data/ inside {root}")
    skipped: list[dict[str, str]] = []
    found: dict[str, Path] = {}
    for path in _image_files(sorted(data_dir.iterdir()), skipped):
        match = _REALOLD_NAME.match(path.stem)
        if "m" in path.stem or match is None or match["kind"] != "o":
            skipped.append(skip_entry(path, "not an old photo (<id>o.<ext>, no 'm' in the name)"))
        elif problem := _id_problem(match["id"]):
            skipped.append(skip_entry(path, problem))
        else:
            found[match["id"]] = path
    if not use_references:
        return SourceListing([SourceItem(i, str(path)) for i, path in sorted(found.items())], skipped)
    references = read_pairs_csv(pairs_csv) if pairs_csv else _references_by_id(root / "real_old_ref", found)
    items = []
    for sample_id, path in sorted(found.items()):
        if sample_id in references:
            items.append(SourceItem(sample_id, str(path), reference=references[sample_id]))
        else:
            skipped.append(skip_entry(path, "no reference (name it in --pairs, or use --references none)"))
    return SourceListing(items, skipped)


def scans_source(root: Path, references: Path | None) -> SourceListing:
    """Every image under ``root`` (recursive) as a scan, gray or colour, any size: a scan set.

    The damage masks ``degrade`` writes beside its images (``NAME.mask.png``) are skipped and named, so
    that a folder of degraded photographs can be given as it is.

    Ids are relative paths without suffix, as :func:`folder_source`. With ``references`` (a folder),
    each scan takes the image of the same relative name (any suffix) as its reference, and a scan
    without one is skipped with that reason.
    """
    require_dir(root, "a folder of scanned photographs")
    found = folder_source(root)
    masks = [item for item in found.items if Path(item.gt).name.endswith(DEGRADE_MASK_SUFFIX)]
    listing = SourceListing(
        [item for item in found.items if item not in masks],
        found.skipped
        + [
            skip_entry(item.gt, "a damage mask written by `pikfix-bench degrade`, not a scan")
            for item in masks
        ],
    )
    return listing if references is None else with_reference_folder(listing, references)


def with_reference_folder(listing: SourceListing, folder: Path) -> SourceListing:
    """The scans of ``listing``, each with the image of the same relative name (any suffix) under ``folder``
    as its reference (``--references DIR``); a scan without one is skipped, with why: no image of that
    name, or one that cannot be read as a file (a broken link, a device)."""
    require_dir(folder, "a folder of references named as the scans")
    by_name, passed_over = index_image_folder(folder)
    items, skipped = [], list(listing.skipped)
    for item in listing.items:
        if item.sample_id in by_name:
            items.append(replace(item, reference=str(by_name[item.sample_id])))
        else:
            missing = f"no reference named {printable(item.sample_id)}.* in {folder}"
            skipped.append(skip_entry(item.gt, "; ".join(passed_over.get(item.sample_id, [missing]))))
    return SourceListing(items, skipped)


def _references_by_id(folder: Path, ids: dict[str, dict]) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    references = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            match = re.match(r"^(\d+)\D*$", path.stem) or re.match(r"^(.+)$", path.stem)
            if match and match[1] in ids:
                references.setdefault(match[1], str(path))
    return references


def check_colour(image: np.ndarray, location: str) -> None:
    """Refuse a grayscale image (all channels equal) as a colour ground truth."""
    if image.ndim != 3 or (
        np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])
    ):
        raise ImageReadError(location, "grayscale image cannot be a colour ground truth")
