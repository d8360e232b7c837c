"""The Pik-Fix paper's published numbers (Tables 1 and 2 of the talk), kept apart from measured runs.

They were computed by the authors on their own splits and settings, which are not public, so they
are shown as reported, never ranked against measured runs.
"""

from __future__ import annotations

# (table, dataset column, model) -> (PSNR, SSIM, LPIPS); "-" entries of the paper are left out.
REPORTED = {
    ("Table 1", "DIV2K (w/o degradation)"): {
        "Pix2pix": (21.12, 0.872, 0.138),
        "DeOldify": (23.65, 0.913, 0.128),
        "He et al.": (23.53, 0.918, 0.125),
        "InstColorization": (22.45, 0.914, 0.131),
        "Pik-Fix": (23.95, 0.925, 0.120),
    },
    ("Table 1", "Pascal VOC (w/o degradation)"): {
        "Pix2pix": (20.89, 0.782, 0.200),
        "DeOldify": (23.96, 0.873, 0.117),
        "He et al.": (23.85, 0.925, 0.114),
        "InstColorization": (23.95, 0.932, 0.111),
        "Pik-Fix": (24.01, 0.940, 0.100),
    },
    ("Table 1", "Pascal VOC (w/ degradation)"): {
        "Pix2pix": (20.37, 0.732, 0.231),
        "DeOldify": (21.45, 0.789, 0.192),
        "Wan et al.": (18.01, 0.598, 0.421),
        "Pik-Fix": (22.22, 0.828, 0.186),
    },
    ("Table 2", "RealOld"): {
        "Pix2pix": (16.80, 0.684, 0.320),
        "DeOldify": (17.14, 0.723, 0.287),
        "He et al.": (16.72, 0.707, 0.314),
        "InstColorization": (16.86, 0.715, 0.312),
        "Wan et al.": (16.99, 0.709, 0.303),
        "Pik-Fix": (17.20, 0.758, 0.258),
    },
}
REPORTED_METRICS = ("psnr", "ssim", "lpips")
SOURCE = "Xu et al., Pik-Fix (WACV 2023), Tables 1 and 2, as reported by the authors on their own splits"


def reported_rows() -> list[dict]:
    """Tidy rows: table, dataset, model, metric, value."""
    return [
        {"table": table, "dataset": dataset, "model": model, "metric": metric, "value": value}
        for (table, dataset), models in REPORTED.items()
        for model, values in models.items()
        for metric, value in zip(REPORTED_METRICS, values, strict=True)
    ]
