"""Image-quality metrics: functional cores, named profiles and a batched scorer."""

from pikfix_bench.metrics.ciede2000 import ciede2000
from pikfix_bench.metrics.colorfulness import colorfulness
from pikfix_bench.metrics.lpips_metric import load_lpips_alex, lpips_distance
from pikfix_bench.metrics.profiles import DEFAULT_PROFILE, PROFILES, MetricProfile, get_profile
from pikfix_bench.metrics.psnr import psnr
from pikfix_bench.metrics.scorer import (
    DEFAULT_METRICS,
    MASKED_METRICS,
    METRICS,
    NO_REFERENCE_METRICS,
    ImageScorer,
    MetricSpec,
    parse_metric_names,
)
from pikfix_bench.metrics.ssim import ssim

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_PROFILE",
    "MASKED_METRICS",
    "METRICS",
    "NO_REFERENCE_METRICS",
    "PROFILES",
    "ImageScorer",
    "MetricProfile",
    "MetricSpec",
    "ciede2000",
    "colorfulness",
    "get_profile",
    "load_lpips_alex",
    "lpips_distance",
    "parse_metric_names",
    "psnr",
    "ssim",
]
