"""Choosing each sample's colour reference (colourization here is reference-based).

Strategies, recorded per sample:

- ``self-shifted``: the paper's synthetic rule, the same picture cut at an independent random position;
- ``same-class`` (Pascal VOC): another image of the split whose largest annotated object has the same
  class, falling back to ``nearest`` (and saying so) when the class has no other member;
- ``nearest``: the most similar other image of the pool by a global colour descriptor;
- ``pairs``: a CSV of ``sample_id,reference``; RealOld uses its own references (``given``);
- ``none`` (scan sets only): no reference at all; models that read one are refused on such a set.
"""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np

from pikfix_bench.datasets.geometry import normalise
from pikfix_bench.datasets.sources import SourceItem, load_source_image
from pikfix_bench.degradations import sample_generator

STRATEGIES = ("self-shifted", "same-class", "nearest", "pairs")
# A scan set's references: given per scan (--references DIR, RealOld's real_old_ref/), the nearest other
# scan, a pairs file, or none.
SCAN_STRATEGIES = ("given", "nearest", "pairs", "none")
DESCRIPTOR_SIZE = 64


def colour_descriptor(location: str) -> np.ndarray:
    """A cheap global descriptor: the normalised 4x4x4 RGB histogram of a 64 x 64 thumbnail."""
    thumbnail = normalise(load_source_image(location), DESCRIPTOR_SIZE)
    histogram = cv2.calcHist([thumbnail], [0, 1, 2], None, [4, 4, 4], [0, 256, 0, 256, 0, 256]).ravel()
    return histogram / max(float(histogram.sum()), 1.0)


def nearest_partners(ids: list[str], descriptors: np.ndarray) -> dict[str, str]:
    """For each id, the other id with the closest descriptor (L1); ties go to the smaller id."""
    order = np.argsort(np.asarray(ids), kind="stable")
    ids = [ids[i] for i in order]
    descriptors = descriptors[order]
    partners = {}
    for index, sample_id in enumerate(ids):
        distances = np.abs(descriptors - descriptors[index]).sum(axis=1)
        distances[index] = np.inf
        partners[sample_id] = ids[int(np.argmin(distances))]
    return partners


def plan_references(
    items: list[SourceItem],
    strategy: str,
    seed: int,
    descriptors: dict[str, np.ndarray] | None = None,
    pairs: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Decide each sample's reference before building.

    Returns
    -------
    dict
        ``sample_id -> {"strategy", "location" (file or None for self-shifted), "partner", "fallback"}``;
        samples without a possible reference are left out.
    """
    by_id = {item.sample_id: item for item in items}
    if strategy in ("self-shifted", "none"):  # "none": a scan set without references
        return {i: {"strategy": strategy, "location": None} for i in by_id}
    if strategy == "pairs":
        return {i: {"strategy": strategy, "location": pairs[i]} for i in by_id if i in pairs}
    if strategy == "given":
        return {i: {"strategy": strategy, "location": item.reference} for i, item in by_id.items()}
    ids = sorted(descriptors)
    nearest = nearest_partners(ids, np.stack([descriptors[i] for i in ids])) if len(ids) > 1 else {}
    plan = {}
    if strategy == "nearest":
        for sample_id, partner in nearest.items():
            plan[sample_id] = {"strategy": strategy, "location": by_id[partner].gt, "partner": partner}
        return plan
    classes: dict[str | None, list[str]] = defaultdict(list)
    for sample_id in ids:
        classes[by_id[sample_id].label].append(sample_id)
    for sample_id in ids:
        label = by_id[sample_id].label
        others = [other for other in classes[label] if other != sample_id] if label is not None else []
        if others:
            rng = sample_generator(seed, f"reference:{sample_id}")
            partner = others[int(rng.integers(len(others)))]
            plan[sample_id] = {
                "strategy": strategy,
                "location": by_id[partner].gt,
                "partner": partner,
                "label": label,
            }
        elif sample_id in nearest:
            partner = nearest[sample_id]
            plan[sample_id] = {
                "strategy": strategy,
                "location": by_id[partner].gt,
                "partner": partner,
                "label": label,
                "fallback": "nearest",
            }
    return plan
