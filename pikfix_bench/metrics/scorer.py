"""Batched scoring of image pairs under a metric profile.

:class:`ImageScorer` is the only place that turns uint8 images into tensors,
applies a profile's colour space and border crop, and calls the functional
metrics. It never pools across images: every value it returns belongs to one
image pair.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pikfix_bench.devices import strict_fp32
from pikfix_bench.errors import PikfixError, ShapeMismatchError
from pikfix_bench.metrics.brisque import brisque
from pikfix_bench.metrics.checks import undefined_values
from pikfix_bench.metrics.ciede2000 import ciede2000
from pikfix_bench.metrics.colorfulness import colorfulness
from pikfix_bench.metrics.lpips_metric import load_lpips_alex, lpips_distance
from pikfix_bench.metrics.masked import REGIONS, Region, damage_region, region_lpips, region_psnr, region_ssim
from pikfix_bench.metrics.niqe import niqe
from pikfix_bench.metrics.piqe import piqe
from pikfix_bench.metrics.profiles import ColorSpace, MetricProfile, get_profile
from pikfix_bench.metrics.psnr import psnr
from pikfix_bench.metrics.ssim import ssim

# How a metric is computed: ``(profile, pred, gt) -> N values`` on ``N x 3 x H x W`` uint8 batches;
# a metric that needs the damage mask also gets the ``N x H x W`` uint8 masks.
MetricFunction = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class MetricSpec:
    """Everything about a metric: name, label, direction, whether it needs a ground truth, meaning,
    display decimals and the function that computes it under a profile. A metric is added here alone."""

    name: str
    label: str
    higher_is_better: bool
    needs_reference: bool
    description: str
    decimals: int
    compute: MetricFunction
    needs_mask: bool = False  # scored inside or outside the damage (metrics/masked.py); nan without a mask
    on_request: bool = False  # scored only when asked for (no-reference NIQE, PIQE, BRISQUE), not by default
    ranked: bool = (
        True  # False: tables show it without rank, bold or significance (colourfulness: no right direction)
    )

    @property
    def arrow(self) -> str:
        """``↑`` when higher is better, ``↓`` otherwise; empty for a metric without a right direction."""
        if not self.ranked:
            return ""
        return "↑" if self.higher_is_better else "↓"

    @property
    def header(self) -> str:
        """The table heading: label and arrow (``"LPIPS ↓"``); a metric that is not ranked, its label alone."""
        return f"{self.label} {self.arrow}".rstrip()

    def titled(self, name: str) -> str:
        """``name`` with the arrow after it, when the metric has one (``"psnr ↑"``, ``"colorfulness"``)."""
        return f"{name} {self.arrow}".rstrip()


# BT.601 limited-range luma (as BasicSR's ``rgb2ycbcr(y_only=True)``), on RGB in [0, 1], result in 0..255.
_Y_WEIGHTS = (65.481, 128.553, 24.966)
# MATLAB ``rgb2gray`` weights.
_GRAY_WEIGHTS = (0.298936, 0.587043, 0.114021)


def parse_metric_names(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate a metric list (``"psnr,ssim"`` or a sequence); ``None`` means the five whole-image ones."""
    if names is None:
        return DEFAULT_METRICS
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise PikfixError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from: {', '.join(METRICS)}"
        )
    return tuple(dict.fromkeys(names))


def to_color_space(rgb: torch.Tensor, space: ColorSpace) -> torch.Tensor:
    """Map an ``N x 3 x H x W`` float RGB batch in ``[0, 1]`` to a profile's colour space, on ``[0, 1]``."""
    if space == "rgb":
        return rgb
    weights = _Y_WEIGHTS if space == "y" else _GRAY_WEIGHTS
    w = torch.tensor(weights, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    if space == "y":
        return (16.0 + (rgb * w).sum(dim=1, keepdim=True)) / 255.0
    # MATLAB rounds half away from zero; values are non-negative, so floor(x + 0.5).
    return torch.floor((rgb * 255.0 * w).sum(dim=1, keepdim=True) + 0.5) / 255.0


def _in_space(
    pred: torch.Tensor, gt: torch.Tensor, space: ColorSpace
) -> tuple[tuple[torch.Tensor, torch.Tensor], float]:
    """uint8 RGB batches in a profile's colour space, with their data range.

    RGB stays uint8 (range 255): PSNR is then exact integer arithmetic, and SSIM converts
    image by image, in cache. Other spaces are float64 on ``[0, 1]``.
    """
    if space == "rgb":
        return (pred, gt), 255.0
    return tuple(to_color_space(x.to(torch.float64) / 255.0, space) for x in (pred, gt)), 1.0


def _crop(batch: torch.Tensor, border: int) -> torch.Tensor:
    return batch[..., border:-border, border:-border] if border else batch


def _checked_border(profile: MetricProfile, batch: torch.Tensor) -> int:
    border = profile.crop_border
    if border and min(batch.shape[-2:]) <= 2 * border:
        raise ShapeMismatchError(
            f"crop_border {border} leaves nothing of a {batch.shape[-1]}x{batch.shape[-2]} image"
        )
    return border


def _psnr(profile: MetricProfile, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    border = _checked_border(profile, pred)
    (pred, gt), data_range = _in_space(pred, gt, profile.psnr_space)
    return psnr(_crop(pred, border), _crop(gt, border), data_range=data_range)


def _without_ssim_window(profile: MetricProfile, batch: torch.Tensor) -> torch.Tensor | None:
    """NaN per image where a ``valid`` profile's SSIM window does not fit the (cropped) pictures: they have
    no SSIM, a missing value as LPIPS under its smallest size; ``None`` where it fits."""
    if profile.ssim_padding == "valid" and min(batch.shape[-2:]) < profile.ssim_window:
        return undefined_values(batch)
    return None


def _ssim(profile: MetricProfile, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    border = _checked_border(profile, pred)
    (pred, gt), data_range = _in_space(pred, gt, profile.ssim_space)
    missing = _without_ssim_window(profile, _crop(pred, border))
    if missing is not None:
        return missing
    return ssim(
        _crop(pred, border),
        _crop(gt, border),
        padding=profile.ssim_padding,
        window_size=profile.ssim_window,
        sigma=profile.ssim_sigma,
        data_range=data_range,
    )


def _lpips(profile: MetricProfile, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return lpips_distance(load_lpips_alex(str(pred.device)), pred, gt)


def _in_region(metric: str, region: Region) -> MetricFunction:
    """``metric`` over one region of the damage masks, under the profile's colour space and border crop."""

    def compute(
        profile: MetricProfile, pred: torch.Tensor, gt: torch.Tensor, masks: torch.Tensor
    ) -> torch.Tensor:
        where = damage_region(masks, region)
        if metric == "lpips":  # on the full RGB picture, as the whole-image LPIPS
            return region_lpips(load_lpips_alex(str(pred.device)), pred, gt, where)
        border = _checked_border(profile, pred)
        (pred, gt), data_range = _in_space(
            pred, gt, profile.psnr_space if metric == "psnr" else profile.ssim_space
        )
        pred, gt, where = (_crop(x, border) for x in (pred, gt, where))
        if metric == "psnr":
            return region_psnr(pred, gt, where, data_range)
        missing = _without_ssim_window(profile, pred)
        if missing is not None:
            return missing
        return region_ssim(
            pred,
            gt,
            where,
            padding=profile.ssim_padding,
            window_size=profile.ssim_window,
            sigma=profile.ssim_sigma,
            data_range=data_range,
        )

    return compute


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("psnr", "PSNR", True, True, "peak signal-to-noise ratio, dB", 2, _psnr),
        MetricSpec("ssim", "SSIM", True, True, "structural similarity, Gaussian 11x11 window", 3, _ssim),
        MetricSpec("lpips", "LPIPS", False, True, "LPIPS v0.1 AlexNet perceptual distance", 3, _lpips),
        MetricSpec(
            "ciede2000",
            "CIEDE2000",
            False,
            True,
            "mean CIEDE2000 colour difference",
            2,
            lambda profile, pred, gt: ciede2000(pred, gt),
        ),
        MetricSpec(
            "colorfulness",
            "Colourfulness",
            True,
            False,
            "Hasler-Süsstrunk colourfulness of the prediction",
            1,
            lambda profile, pred, gt: colorfulness(pred),
            ranked=False,  # more colour is not better restoration: shown, never ranked
        ),
        MetricSpec(
            "niqe",
            "NIQE",
            False,
            False,
            "NIQE, LIVE release (computequality) with its pristine model; no reference",
            3,
            lambda profile, pred, gt: niqe(pred),
            on_request=True,
        ),
        MetricSpec(
            "piqe",
            "PIQE",
            False,
            False,
            "PIQE, as MATLAB's piqe (training-free); no reference",
            2,
            lambda profile, pred, gt: piqe(pred),
            on_request=True,
        ),
        MetricSpec(
            "brisque",
            "BRISQUE",
            False,
            False,
            "BRISQUE, LIVE release (brisquescore) with its SVR model; no reference",
            2,
            lambda profile, pred, gt: brisque(pred),
            on_request=True,
        ),
        *(
            MetricSpec(
                f"{metric}_{region}",
                f"{label} {region}",
                higher,
                True,
                f"{label} inside the {region} region of the stored damage mask (docs/metrics.md)",
                decimals,
                _in_region(metric, region),
                needs_mask=True,
            )
            for region in REGIONS
            for metric, label, higher, decimals in (
                ("psnr", "PSNR", True, 2),
                ("ssim", "SSIM", True, 3),
                ("lpips", "LPIPS", False, 3),
            )
        ),
    )
}
# What every run scores, and `score` by default; the masked metrics are asked for (evaluate --masked),
# the no-reference NIQE, PIQE and BRISQUE by name (--metrics).
DEFAULT_METRICS = tuple(name for name, spec in METRICS.items() if not spec.needs_mask and not spec.on_request)
MASKED_METRICS = tuple(name for name, spec in METRICS.items() if spec.needs_mask)
# What is scored without a ground truth unless asked otherwise: `score` without --gt, `evaluate` on a scan set.
NO_REFERENCE_METRICS = ("niqe", "piqe", "colorfulness")


def check_pair(pred: np.ndarray, gt: np.ndarray, pred_name: str = "pred", gt_name: str = "gt") -> None:
    """Raise a :class:`PikfixError` naming both images unless they are uint8 RGB of one size.

    Parameters
    ----------
    pred, gt : numpy.ndarray
        The two images.
    pred_name, gt_name : str
        How to call them in the message (file names, sample ids).
    """
    for name, image in ((pred_name, pred), (gt_name, gt)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise PikfixError(
                f"{name}: expected a uint8 H x W x 3 RGB image, got {image.dtype} {image.shape}"
            )
    if pred.shape != gt.shape:
        raise ShapeMismatchError(
            f"size mismatch: {pred_name} is {pred.shape[1]}x{pred.shape[0]} but {gt_name} is "
            f"{gt.shape[1]}x{gt.shape[0]} (width x height)"
        )


class ImageScorer:
    """Scores batches of (prediction, ground truth) pairs.

    Parameters
    ----------
    profile : MetricProfile or str
        Profile name or object (default ``"pikfix"``).
    metrics : sequence of str, optional
        Subset of :data:`METRICS`; all by default.
    device : str
        Torch device for the maths.
    batch_size : int, optional
        Images per tensor batch. By default 4 on the CPU, where larger batches fall out of cache
        and run slower (``bench/metrics.py``), and 16 on a GPU.
    """

    def __init__(
        self,
        profile: MetricProfile | str = "pikfix",
        metrics: Sequence[str] | None = None,
        device: str = "cpu",
        batch_size: int | None = None,
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.metrics = parse_metric_names(metrics)
        self.device = torch.device(device)
        if batch_size is None:
            batch_size = 4 if self.device.type == "cpu" else 16
        if batch_size < 1:
            raise PikfixError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.needs_masks = any(METRICS[name].needs_mask for name in self.metrics)
        if any(name.startswith("lpips") for name in self.metrics):
            load_lpips_alex(
                str(torch.empty(0, device=self.device).device)
            )  # fails here, not mid-run; "cuda" -> "cuda:0" as tensors report it

    def score(
        self,
        preds: Sequence[np.ndarray],
        gts: Sequence[np.ndarray] | None,
        masks: Sequence[np.ndarray | None] | None = None,
    ) -> list[dict[str, float]]:
        """Score image pairs; images of different sizes are batched separately.

        Parameters
        ----------
        preds, gts : sequence of numpy.ndarray
            uint8 RGB images; ``preds[i]`` is compared with ``gts[i]`` (checked by :func:`check_pair`).
            ``gts`` may be ``None`` when every metric is a no-reference one (NIQE, PIQE, BRISQUE,
            colourfulness).
        masks : sequence of numpy.ndarray or None, optional
            The samples' soft damage masks (uint8 ``H x W``, ``None`` where a sample has none), for
            the masked metrics; a pair without one scores ``nan`` for them.

        Returns
        -------
        list of dict
            One ``{metric: value}`` per pair, in input order.
        """
        if gts is None:  # no-reference scoring: every metric must do without a ground truth
            needing = [name for name in self.metrics if METRICS[name].needs_reference]
            if needing:
                raise PikfixError(
                    f"{', '.join(needing)} need(s) a ground truth; without one choose from: "
                    f"{', '.join(n for n, spec in METRICS.items() if not spec.needs_reference)}"
                )
            gts = preds
        if len(preds) != len(gts):
            raise PikfixError(f"{len(preds)} predictions but {len(gts)} ground truths")
        masks = list(masks) if masks is not None and self.needs_masks else [None] * len(preds)
        if len(masks) != len(preds):
            raise PikfixError(f"{len(preds)} predictions but {len(masks)} masks")
        by_shape: dict[tuple[tuple[int, ...], bool], list[int]] = defaultdict(list)
        for index, (pred, gt, mask) in enumerate(zip(preds, gts, masks, strict=True)):
            check_pair(pred, gt, f"prediction {index}", f"ground truth {index}")
            if mask is not None and (mask.dtype != np.uint8 or mask.shape != gt.shape[:2]):
                raise ShapeMismatchError(
                    f"mask {index}: expected uint8 {gt.shape[0]} x {gt.shape[1]}, got {mask.dtype} {mask.shape}"
                )
            by_shape[(pred.shape, mask is not None)].append(index)
        results: list[dict[str, float]] = [{} for _ in preds]
        for (_, masked), indices in by_shape.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                values = self.score_tensors(
                    self._to_tensor([preds[i] for i in chunk]),
                    self._to_tensor([gts[i] for i in chunk]),
                    torch.from_numpy(np.stack([masks[i] for i in chunk])).to(self.device) if masked else None,
                )
                for row, index in enumerate(chunk):
                    results[index] = {name: float(values[name][row]) for name in self.metrics}
        return results

    def _to_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2)

    def score_tensors(
        self, pred_uint8: torch.Tensor, gt_uint8: torch.Tensor, masks: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Score one batch of same-sized RGB images.

        Parameters
        ----------
        pred_uint8, gt_uint8 : torch.Tensor
            ``N x 3 x H x W`` ``uint8`` tensors on :attr:`device`.
        masks : torch.Tensor, optional
            ``N x H x W`` uint8 soft damage masks for the masked metrics (``nan`` without them).

        Returns
        -------
        dict of str to torch.Tensor
            ``N`` values per requested metric, on the CPU.

        Notes
        -----
        Runs in strict fp32 (:func:`pikfix_bench.devices.strict_fp32`): TF32 is off for the
        duration of the call and the caller's settings are restored afterwards.
        """
        with strict_fp32():
            return {name: self._metric(name, pred_uint8, gt_uint8, masks).cpu() for name in self.metrics}

    def _metric(
        self, name: str, pred: torch.Tensor, gt: torch.Tensor, masks: torch.Tensor | None
    ) -> torch.Tensor:
        spec = METRICS[name]
        if not spec.needs_mask:
            return spec.compute(self.profile, pred, gt)
        if masks is None:  # a dataset without masks (RealOld): missing, not an error
            return torch.full((pred.shape[0],), float("nan"), dtype=torch.float64)
        return spec.compute(self.profile, pred, gt, masks)
