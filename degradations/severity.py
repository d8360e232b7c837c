"""Severity tables: five strengths (1..5) of every operation that has a strength, ImageNet-C style.

A step ``{"op": NAME, "severity": k}`` takes row ``k`` of its operation's table (settings given with it
win), and ``pikfix-bench degrade --op NAME --severity k`` applies one operation at one strength.
Where ImageNet-C has the same corruption, its constants are used (Hendrycks & Dietterich 2019,
``imagecorruptions`` 1.1.2 ``corruptions.py``); the old-photo operations hold the levels the ``oldphoto``
preset combines (:data:`pikfix_bench.degradations.presets.OLDPHOTO_LEVELS` reads them from here); the rest are this
toolkit's, chosen to span "barely visible" to "dominant" on a 256-pixel photograph. ``grayscale``,
``resize``, ``realesrgan``, ``pikfix_tear``, ``irregular_holes`` and the texture operations have no strength
(a method, a size, a published rule, a file) and no table.
"""

from __future__ import annotations

from typing import Any

from pikfix_bench.degradations.base import DegradationError

IMAGENET_C = "ImageNet-C (imagecorruptions 1.1.2)"
OLDPHOTO = "the oldphoto preset's levels"
TOOLKIT = "this toolkit"


def _rows(source: str, **columns: tuple) -> tuple[str, tuple[dict[str, Any], ...]]:
    return source, tuple({name: values[k] for name, values in columns.items()} for k in range(5))


SEVERITIES: dict[str, tuple[str, tuple[dict[str, Any], ...]]] = {
    "gaussian_noise": _rows(
        IMAGENET_C, sigma=tuple(round(c * 255, 4) for c in (0.08, 0.12, 0.18, 0.26, 0.38))
    ),
    "poisson_noise": _rows(IMAGENET_C, photons=(60.0, 25.0, 12.0, 5.0, 3.0)),
    "salt_pepper": _rows(
        IMAGENET_C, amount=(0.03, 0.06, 0.09, 0.17, 0.27), salt_ratio=(0.5,) * 5, per_channel=(True,) * 5
    ),
    "speckle_noise": _rows(IMAGENET_C, sigma=(0.15, 0.2, 0.35, 0.45, 0.6)),
    "gaussian_blur": _rows(IMAGENET_C, sigma=(1.0, 2.0, 3.0, 4.0, 6.0)),
    "defocus_blur": _rows(IMAGENET_C, radius=(3.0, 4.0, 6.0, 8.0, 10.0)),
    "motion_blur": _rows(IMAGENET_C, length=(10.0, 15.0, 15.0, 15.0, 20.0)),
    "jpeg": _rows(IMAGENET_C, quality=(25, 18, 15, 10, 7)),
    "resolution": _rows(
        IMAGENET_C, scale=(0.6, 0.5, 0.4, 0.3, 0.25), down=("area",) * 5, up=("nearest",) * 5
    ),
    "fade": _rows(OLDPHOTO, black=(6, 14, 24, 36, 50), white=(250, 242, 232, 220, 205)),
    "sepia": _rows(OLDPHOTO, amount=(0.1, 0.25, 0.4, 0.55, 0.7)),
    "vignette": _rows(OLDPHOTO, strength=(0.1, 0.18, 0.26, 0.35, 0.45)),
    "film_grain": _rows(OLDPHOTO, strength=(2.0, 4.0, 6.0, 8.0, 11.0)),
    "cracks": _rows(
        OLDPHOTO,
        count=(1, 1, 2, 3, 4),
        width=(0.8, 1.0, 1.3, 1.6, 2.0),
        network=(0.0, 0.03, 0.08, 0.15, 0.25),
        flaking=(0.0, 0.01, 0.02, 0.04, 0.06),
    ),
    "scratches": _rows(OLDPHOTO, count=(1, 2, 3, 5, 8)),
    "dust": _rows(OLDPHOTO, density=(10.0, 25.0, 50.0, 90.0, 150.0)),
    "torn_corner": _rows(OLDPHOTO, area=(0.005, 0.01, 0.02, 0.03, 0.04)),
    "fibres": _rows(OLDPHOTO, count=(1, 3, 5, 8, 12)),
    "foxing": _rows(OLDPHOTO, count=(5, 15, 30, 60, 100)),
    "stains": _rows(OLDPHOTO, count=(1, 1, 1, 2, 3), strength=(0.15, 0.25, 0.35, 0.45, 0.6)),
    "worn_edges": _rows(OLDPHOTO, depth=(1.0, 2.0, 4.0, 7.0, 11.0), chips=(1, 3, 6, 10, 16)),
    "silvering": _rows(OLDPHOTO, strength=(0.15, 0.3, 0.45, 0.6, 0.8)),
    "fold": _rows(TOOLKIT, width=(2.0, 3.0, 4.0, 5.0, 6.0), strength=(20.0, 35.0, 50.0, 65.0, 80.0)),
}


def severity_settings(operation: str, severity: Any) -> dict[str, Any]:
    """The settings of ``operation`` at ``severity`` (1..5).

    Raises
    ------
    DegradationError
        For an operation without a table or a severity outside 1..5.
    """
    if operation not in SEVERITIES:
        with_tables = ", ".join(sorted(SEVERITIES))
        raise DegradationError(f"{operation} has no severity table (operations with one: {with_tables})")
    if isinstance(severity, bool) or severity not in (1, 2, 3, 4, 5):
        raise DegradationError(f"{operation}: severity must be 1..5, got {severity!r}")
    return dict(SEVERITIES[operation][1][severity - 1])
