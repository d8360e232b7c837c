"""A Pik-Fix configuration small enough for tests on a CPU (every part present, few channels)."""

from __future__ import annotations

from pikfix_bench.model import PikFixConfig

TINY = {
    "restoration_channels": 8,
    "rdn_blocks": 1,
    "rdn_growth": 8,
    "rdn_layers": 2,
    "similarity_channels": 16,
    "bins": 16,
    "unet_channels": 8,
    "dense_growth": 8,
    "dense_layers": 2,
}


def tiny(**overrides) -> PikFixConfig:
    """The tiny configuration with ``overrides``."""
    return PikFixConfig(**{**TINY, **overrides})
