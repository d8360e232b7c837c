"""Named metric profiles: what exactly "PSNR" and "SSIM" mean in a table.

Every library means something different by PSNR and SSIM (RGB or Y, window,
padding, rounding). A profile pins all of it down, and its :meth:`to_dict` is
stored with every result the toolkit writes, so a number always carries its
protocol. LPIPS (v0.1, AlexNet, inputs in ``[-1, 1]``), CIEDE2000 and
colourfulness are computed on the full RGB image in every profile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pikfix_bench.errors import PikfixError
from pikfix_bench.metrics.ssim import SsimPadding

ColorSpace = Literal["rgb", "y", "gray-rounded"]


@dataclass(frozen=True)
class MetricProfile:
    """How PSNR and SSIM are computed.

    Attributes
    ----------
    name : str
        Registry name of the profile.
    description : str
        One line for tables and ``--help``.
    psnr_space, ssim_space : {"rgb", "y", "gray-rounded"}
        Image representation the metric sees: RGB in ``[0, 1]``; BT.601
        limited-range luma ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (unrounded);
        or MATLAB ``rgb2gray`` (0.298936, 0.587043, 0.114021) rounded to integers.
    ssim_padding : {"zero", "valid"}
        Border handling of the SSIM map (see :mod:`pikfix_bench.metrics.ssim`).
    ssim_window, ssim_sigma : int, float
        Gaussian window size and standard deviation, in pixels.
    crop_border : int
        Pixels removed from each side before PSNR and SSIM (BasicSR's ``crop_border``).
    lpips_net, lpips_version : str
        LPIPS backbone and version (recorded; only AlexNet v0.1 is provided).
    """

    name: str
    description: str
    psnr_space: ColorSpace = "rgb"
    ssim_space: ColorSpace = "rgb"
    ssim_padding: SsimPadding = "zero"
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    crop_border: int = 0
    lpips_net: str = "alex"
    lpips_version: str = "0.1"

    def __post_init__(self) -> None:
        """Refuse a space, padding or LPIPS variant the scorer does not compute (a profile may come from a
        run record written by someone else): an unknown value would otherwise fall into some branch."""
        choices = {
            "psnr_space": get_args(ColorSpace),
            "ssim_space": get_args(ColorSpace),
            "ssim_padding": get_args(SsimPadding),
            "lpips_net": ("alex",),
            "lpips_version": ("0.1",),
        }
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise PikfixError(
                    f"metric profile {self.name!r}: {field} {getattr(self, field)!r} is not one of {', '.join(allowed)}"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able description, stored beside every result."""
        return dataclasses.asdict(self)


PROFILES: dict[str, MetricProfile] = {
    profile.name: profile
    for profile in (
        MetricProfile(
            "pikfix",
            "Pik-Fix code: RGB [0,1]; SSIM 11x11 Gaussian (1.5) per channel, zero padding, full map mean",
        ),
        MetricProfile(
            "skimage",
            "skimage.metrics: RGB; SSIM gaussian_weights, sigma 1.5, population covariance, border cropped",
            ssim_padding="valid",
        ),
        MetricProfile(
            "basicsr",
            "BasicSR / restoration papers: Y of BT.601 YCbCr, optional crop_border, SSIM 11/1.5 'valid'",
            psnr_space="y",
            ssim_space="y",
            ssim_padding="valid",
        ),
        MetricProfile(
            "matlab",
            "MATLAB style: SSIM 11/1.5 'valid' on rounded rgb2gray; PSNR on RGB",
            ssim_space="gray-rounded",
            ssim_padding="valid",
        ),
    )
}

DEFAULT_PROFILE = "pikfix"


def get_profile(name: str, *, crop_border: int | None = None) -> MetricProfile:
    """Return the named profile, optionally with a different ``crop_border``.

    Parameters
    ----------
    name : str
        One of :data:`PROFILES`.
    crop_border : int, optional
        Pixels cropped from each side before PSNR/SSIM; ``None`` keeps the profile's.

    Returns
    -------
    MetricProfile
        The profile.

    Raises
    ------
    PikfixError
        For an unknown name or a negative ``crop_border``.
    """
    if name not in PROFILES:
        raise PikfixError(f"unknown metric profile {name!r}; choose one of: {', '.join(PROFILES)}")
    profile = PROFILES[name]
    if crop_border is None:
        return profile
    if crop_border < 0:
        raise PikfixError(f"crop_border must be >= 0, got {crop_border}")
    return dataclasses.replace(profile, crop_border=crop_border)
