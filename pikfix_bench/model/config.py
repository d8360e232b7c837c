"""Pik-Fix configuration: the talk's settings where it gives them, documented choices where it is silent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pikfix_bench.errors import PikfixError


@dataclass(frozen=True)
class PikFixConfig:
    """Architecture, loss and training settings.

    Attributes
    ----------
    restoration : {"multi", "single"}
        Multi-level RDN (levels at 1, 1/2, 1/4 resolution, fused) or one level (Table 6 ablation).
    restoration_channels, rdn_blocks, rdn_growth, rdn_layers : int
        RDN width, residual dense blocks per level, growth rate, conv layers per block (not in the talk).
    similarity : {"multi", "single", "none"}
        Similarity maps at four scales, at the finest only, or none (uniform warping; Table 5).
    similarity_channels : int
        Channels C of the fused features M_i (not in the talk).
    similarity_scale : {4, 8, 16, 32}
        With ``similarity: single``, the one scale's divisor (4: the talk's finest; 8: the public code's
        ``WarpNet`` on inputs pooled by 8); its warped evidence is resized to every decoder scale.
    level_weights : bool
        Learnable weights A_i of the four VGG levels per scale (the talk); off: all ones (the public code).
    max_positions : int
        Most positions a similarity map may have per side (input and reference); larger grids are
        reduced, which bounds memory on big images (4096 = a 64 x 64 grid).
    temperature : float
        Softmax temperature of the warping over reference positions (not in the talk).
    fusion : {"multi-hist", "single-hist", "multi-ab", "input-ab"}
        What is warped and where it is fused (Table 4): SPHist at four decoder scales (the method), SPHist
        at the finest scale only, reference ab at four scales, or reference ab concatenated to the input.
    bins, sigma : int, float
        SPHist bins K on [-1, 1] (learnable centres) and kernel width (talk: sigma 0.1; the public code
        uses 256 bins, 64 is the default here to bound memory).
    unet_channels, dense_growth, dense_layers : int
        Colourization U-Net width (doubling per level), dense-block growth and depth.
    alpha, beta, lam, gamma, eta : float
        Loss weights of L1(L), perceptual(L), EMD(hist), L1(ab), adversarial (the talk's values).
    adversarial : bool
        Train with the PatchGAN discriminator conditioned on output and reference.
    lr, lr_decay, beta1, beta2 : float
        Adam learning rate, per-epoch decay and betas (the talk: 1e-4, 0.99, 0.99, 0.999).
    """

    restoration: Literal["multi", "single"] = "multi"
    restoration_channels: int = 32
    rdn_blocks: int = 2
    rdn_growth: int = 16
    rdn_layers: int = 4
    similarity: Literal["multi", "single", "none"] = "multi"
    similarity_channels: int = 64
    similarity_scale: int = 4
    level_weights: bool = True
    max_positions: int = 4096
    temperature: float = 0.01
    fusion: Literal["multi-hist", "single-hist", "multi-ab", "input-ab"] = "multi-hist"
    bins: int = 64
    sigma: float = 0.1
    unet_channels: int = 32
    dense_growth: int = 16
    dense_layers: int = 3
    alpha: float = 1.0
    beta: float = 0.2
    lam: float = 0.5
    gamma: float = 1.0
    eta: float = 0.2
    adversarial: bool = True
    lr: float = 1e-4
    lr_decay: float = 0.99
    beta1: float = 0.99
    beta2: float = 0.999

    def __post_init__(self) -> None:
        choices = {
            "restoration": ("multi", "single"),
            "similarity": ("multi", "single", "none"),
            "fusion": ("multi-hist", "single-hist", "multi-ab", "input-ab"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise PikfixError(
                    f"Pik-Fix config: {name}={getattr(self, name)!r} is not one of {list(allowed)}"
                )
        if self.similarity_scale not in (4, 8, 16, 32):
            raise PikfixError(
                f"Pik-Fix config: similarity_scale must be 4, 8, 16 or 32, got {self.similarity_scale}"
            )
        if self.bins < 2 or self.max_positions < 16:
            raise PikfixError("Pik-Fix config: bins must be >= 2 and max_positions >= 16")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, stored in every checkpoint."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PikFixConfig:
        """Build from a dict, refusing unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PikfixError(f"Pik-Fix config: unknown key(s) {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, name_or_path: str | Path) -> PikFixConfig:
        """A shipped preset by name (:data:`CONFIG_PRESETS`), or a YAML file of overrides."""
        if str(name_or_path) in CONFIG_PRESETS:
            return cls.from_dict(CONFIG_PRESETS[str(name_or_path)])
        if not Path(name_or_path).is_file():
            raise PikfixError(
                f"--config {name_or_path}: no such file, and not a preset ({', '.join(CONFIG_PRESETS)})"
            )
        return cls.from_yaml(name_or_path)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PikFixConfig:
        """Read a YAML file of overrides."""
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PikfixError(f"{path}: cannot read the config ({exc})") from None
        return cls.from_dict(values)


# Overrides of the talk's defaults that mimic a part of the authors' public code (DerrickXuNu/Pik-Fix at
# 6c2f87c), for ablations; docs/pikfix.md lists what each changes and what stays the talk's.
CONFIG_PRESETS: dict[str, dict[str, Any]] = {
    # models/warpnet.py: one correlation of features average-pooled by 8, no per-level weights A_i
    "public-correlation": {"similarity": "single", "similarity_scale": 8, "level_weights": False},
}
