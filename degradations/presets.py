"""Named pipelines shipped with the toolkit, each citing where its numbers come from.

See ``docs/degradations.md`` for the full table. A preset named after a system does what that system's
public code does; where the system needs files that are not public (the Pik-Fix crack and dust
textures), the preset needs them too, and its ``-procedural`` twin draws procedural damage instead, so
that no table mixes the two unawares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pikfix_bench.degradations.base import DegradationError
from pikfix_bench.degradations.pipeline import Pipeline
from pikfix_bench.degradations.severity import SEVERITIES

GRAY = {"op": "grayscale", "method": "bt601"}


def _texture_damage(texture_dir: str, crack_codes: list[int], dust_codes: list[int]) -> list[dict[str, Any]]:
    """Cracks then dust by the paper's texture rules (``utils/texture_libs.py``)."""
    return [
        {"op": "texture_cracks", "texture_dir": texture_dir, "code": crack_codes},
        {"op": "texture_dust", "texture_dir": texture_dir, "code": dust_codes},
    ]


# What stands in for the paper's crack and dust textures when they are not at hand: procedural cracks
# (lighten-blended, as the paper blends its textures), dust and fibres, soft and scale-aware.
PROCEDURAL_DAMAGE = [
    {"op": "cracks", "count": [1, 3], "network": [0.0, 0.2], "flaking": [0.0, 0.05]},
    {"op": "dust", "density": [20.0, 80.0]},
    {"op": "fibres", "p": 0.5, "count": [1, 4]},
]


def _pikfix(damage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # datasets/OldPhotoDataset.py grays first (cv2 BGR2GRAY on RGB); customized_transform.py's RandomBlur
    # (imgaug GaussianBlur sigma (0, 3) then AdditiveGaussianNoise scale (0, 0.05*255)) and CrackGenerator
    # (crack code randint(1, 12), dust randint(1, 8)) then work on that one channel.
    return [
        {"op": "grayscale", "method": "bgr2gray-on-rgb"},
        {"op": "gaussian_blur", "sigma": [0.0, 3.0], "size_rule": "imgaug", "implementation": "cv2"},
        {"op": "gaussian_noise", "sigma": [0.0, 12.75]},
        *damage,
    ]


# utils/helper.py::create_dataset: Compose([RandomBlur(), CrackGenerator(), RandomCrop(256), ...]): the whole
# picture is damaged, then input and ground truth are cut at one random position.
CROP_AFTER_DAMAGE = {"crop_after_damage": True}


def _pikfix_textures(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    return {
        "name": "pikfix",
        "geometry": CROP_AFTER_DAMAGE,
        "description": "Pik-Fix online training damage: gray (as its code), blur, noise, texture cracks and dust",
        "steps": _pikfix(_texture_damage(_needs_textures("pikfix", texture_dir), [1, 12], [1, 8])),
    }


def _pikfix_procedural(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    return {
        "name": "pikfix-procedural",
        "geometry": CROP_AFTER_DAMAGE,
        "description": "Pik-Fix online training damage with procedural cracks, dust and fibres for its textures",
        "steps": _pikfix(PROCEDURAL_DAMAGE),
    }


def _offline(name: str, damage: list[dict[str, Any]]) -> dict[str, Any]:
    # utils/data_generation.py (origin_downgrade 4, downgrade 8, upgrade 2): the ground truth is the full
    # image at 1/4 (INTER_CUBIC), the input the full image at 1/8 then x2 (INTER_CUBIC), damaged, grayed
    # (its cv2.imread images are BGR: BT.601), both written by cv2.imwrite as JPEG (quality 95).
    jpeg = {"op": "jpeg", "quality": 95}
    return {
        "name": name,
        "description": "Pik-Fix offline data: full image at 1/8 then x2 against a 1/4 ground truth, cracks, dust, "
        "torn region (damage_generate), gray, JPEG 95",
        "geometry": {
            "source_scale": 4,
            "ground_truth": [{"op": "resize", "scale": 0.25, "interpolation": "bicubic"}, jpeg],
        },
        "steps": [
            {"op": "resize", "scale": 0.125, "interpolation": "bicubic"},
            {"op": "resize", "scale": 2.0, "interpolation": "bicubic"},
            *damage,
            {"op": "pikfix_tear", "threshold": 20},  # damage_generate(..., threash=20)
            GRAY,
            jpeg,
        ],
    }


def _pikfix_offline_textures(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    texture_dir = _needs_textures("pikfix-offline", texture_dir)
    return _offline("pikfix-offline", _texture_damage(texture_dir, [1, 12], [1, 11]))  # dust randint(1, 11)


def _pikfix_offline_procedural(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    return _offline("pikfix-offline-procedural", PROCEDURAL_DAMAGE)


def _needs_textures(preset: str, texture_dir: str | None) -> str:
    """The texture folder a texture-rule preset needs, or a clear error naming the procedural one."""
    if not texture_dir:
        raise DegradationError(
            f"preset {preset} draws the paper's crack and dust textures and needs --texture-dir (the authors' "
            f"texture2/ folder, not public); without them use {preset}-procedural"
        )
    return texture_dir


def _wan2020(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    return {
        "name": "wan2020",
        "description": "Wan et al. 2020: blur, noise, resolution, JPEG in random order (p 0.7 each), gray p 0.1",
        "steps": [
            {
                "shuffle": [
                    {
                        "op": "gaussian_blur",
                        "p": 0.7,
                        "kernel_size": {"choice": [3, 5, 7]},
                        "sigma": [1.0, 5.0],
                        "implementation": "cv2",  # blur_image_v2: cv2.GaussianBlur on uint8
                    },
                    {
                        "one_of": [
                            # np_to_pil truncates: clip(x * 255).astype(np.uint8)
                            {"op": "gaussian_noise", "sigma": [5.0, 50.0], "rounding": "truncate"},
                            {"op": "speckle_noise", "sigma": [5 / 255, 50 / 255], "rounding": "truncate"},
                            {
                                "op": "salt_pepper",
                                "amount": [0.0, 0.01],
                                "salt_ratio": [0.3, 0.8],
                                "per_channel": True,  # synthesize_salt_pepper: a mask over C x H x W
                            },
                        ],
                        "p": 0.7,
                    },
                    {
                        "op": "resolution",
                        "p": 0.7,
                        "scale": [0.5, 1.0],
                        "scale_y": [0.5, 1.0],
                        "down": "bicubic",
                        "up": {"choice": ["nearest", "bilinear"]},
                        "library": "pil",  # synthesize_low_resolution: PIL resize
                    },
                    {"op": "jpeg", "p": 0.7, "quality": [40, 100], "library": "pil"},  # convertToJpeg
                ]
            },
            # PairOldPhotos.__getitem__: A and B both convert("L") then ("RGB") with p = 0.1
            {**GRAY, "p": 0.1, "ground_truth_too": True},
        ],
    }


def _realesrgan(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    return {
        "name": "realesrgan",
        "description": "Real-ESRGAN second-order degradation (x4 ranges); the input is the ground truth's size // 4",
        "geometry": {"input_downscale": 4},
        "steps": [{"op": "realesrgan", "scale": 4, "jpeg": "diffjpeg"}],  # jpeg: libjpeg for OpenCV's codec
    }


def _clean_gray(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    return {"name": "clean-gray", "description": "colourization only: grayscale, no damage", "steps": [GRAY]}


def _around(value: float, spread: float = 0.15) -> list[float]:
    """A range of +-``spread`` (relative) around ``value``."""
    return [round(value * (1 - spread), 6), round(value * (1 + spread), 6)]


def _column(operation: str, setting: str) -> tuple:
    """One setting of an operation's severity table, severities 1..5."""
    return tuple(row[setting] for row in SEVERITIES[operation][1])


# Per-severity strength of each kind of damage in the oldphoto suite (index 0 = severity 1); the single
# operations' tables (degradations/severity.py) hold the same levels.
OLDPHOTO_LEVELS = {
    "fade_black": _column("fade", "black"),
    "fade_white": _column("fade", "white"),
    "sepia": _column("sepia", "amount"),
    "vignette": _column("vignette", "strength"),
    "blur_sigma": (0.3, 0.6, 0.9, 1.3, 1.8),
    "scale": (0.9, 0.8, 0.65, 0.5, 0.4),
    "cracks": _column("cracks", "count"),
    "crack_width": _column("cracks", "width"),
    "crack_network": _column("cracks", "network"),
    "crack_p": (0.3, 0.5, 0.7, 0.85, 1.0),
    "fibres": _column("fibres", "count"),
    "foxing": _column("foxing", "count"),
    "foxing_p": (0.1, 0.2, 0.3, 0.4, 0.5),
    "stain_strength": _column("stains", "strength"),
    "stain_p": (0.1, 0.15, 0.2, 0.3, 0.4),
    "edge_depth": _column("worn_edges", "depth"),
    "silvering": _column("silvering", "strength"),
    "silvering_p": (0.0, 0.1, 0.2, 0.3, 0.4),
    "scratches": _column("scratches", "count"),
    "dust_density": _column("dust", "density"),
    "fold_p": (0.0, 0.1, 0.2, 0.3, 0.4),
    "torn_p": (0.1, 0.2, 0.3, 0.4, 0.5),
    "torn_area": _column("torn_corner", "area"),
    "noise_sigma": (2.0, 4.0, 7.0, 11.0, 16.0),
    "grain": _column("film_grain", "strength"),
    "jpeg": (90, 80, 65, 50, 35),
}


def _oldphoto(severity: int | None, texture_dir: str | None) -> dict[str, Any]:
    level = 3 if severity is None else severity
    if not 1 <= level <= 5:
        raise DegradationError(f"oldphoto: severity must be 1..5, got {severity}")
    v = {key: values[level - 1] for key, values in OLDPHOTO_LEVELS.items()}
    return {
        "name": f"oldphoto-s{level}",
        "description": f"every kind of old-photo damage together, severity {level} of 5",
        "steps": [
            {
                "op": "fade",
                "black": _around(v["fade_black"]),
                "white": [v["fade_white"] - 4, min(255, v["fade_white"] + 4)],
            },
            {"op": "sepia", "amount": _around(v["sepia"])},
            {"op": "vignette", "strength": _around(v["vignette"])},
            {"op": "gaussian_blur", "sigma": _around(v["blur_sigma"])},
            {"op": "resolution", "scale": _around(v["scale"], 0.08), "down": "area", "up": "bicubic"},
            {"op": "silvering", "p": v["silvering_p"], "strength": _around(v["silvering"])},
            {"op": "stains", "p": v["stain_p"], "strength": _around(v["stain_strength"])},
            {"op": "foxing", "p": v["foxing_p"], "count": [1, v["foxing"]]},
            {
                "op": "cracks",
                "p": v["crack_p"],
                "count": [1, v["cracks"]],
                "width": _around(v["crack_width"]),
                "network": [0.0, v["crack_network"]],
            },
            {"op": "scratches", "count": [1, v["scratches"]]},
            {"op": "dust", "density": _around(v["dust_density"], 0.3)},
            {"op": "fibres", "count": [0, v["fibres"]]},
            {"op": "worn_edges", "depth": _around(v["edge_depth"], 0.5)},
            {"op": "fold", "p": v["fold_p"]},
            {"op": "torn_corner", "p": v["torn_p"], "area": [v["torn_area"] / 2, v["torn_area"]]},
            {"op": "gaussian_noise", "sigma": _around(v["noise_sigma"]), "gray": True},
            {"op": "film_grain", "strength": _around(v["grain"])},
            {"op": "jpeg", "quality": [v["jpeg"] - 5, v["jpeg"] + 5]},
            GRAY,
        ],
    }


@dataclass(frozen=True)
class Preset:
    """A named pipeline builder with the source of its numbers."""

    name: str
    description: str
    source: str
    build: Callable[[int | None, str | None], dict[str, Any]]
    takes_severity: bool = False
    takes_textures: bool = False


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "pikfix",
            "Pik-Fix online training damage with the paper's textures (--texture-dir): gray, blur, noise, "
            "cracks, dust",
            "Xu et al., Pik-Fix (WACV 2023), public training code",
            _pikfix_textures,
            takes_textures=True,
        ),
        Preset(
            "pikfix-procedural",
            "Pik-Fix online training damage, procedural cracks, dust and fibres in place of its textures",
            "Xu et al., Pik-Fix (WACV 2023), public training code; damage: pikfix-bench",
            _pikfix_procedural,
        ),
        Preset(
            "pikfix-offline",
            "Pik-Fix offline data with the paper's textures (--texture-dir): 1/8 then x2 against 1/4, cracks, "
            "dust, torn region, gray, JPEG 95",
            "Xu et al., Pik-Fix (WACV 2023), public data-preparation code",
            _pikfix_offline_textures,
            takes_textures=True,
        ),
        Preset(
            "pikfix-offline-procedural",
            "Pik-Fix offline data, procedural cracks, dust and fibres in place of its textures",
            "Xu et al., Pik-Fix (WACV 2023), public data-preparation code; damage: pikfix-bench",
            _pikfix_offline_procedural,
        ),
        Preset(
            "wan2020",
            "Wan et al.: blur, noise, resolution, JPEG in random order (p 0.7), gray (p 0.1)",
            "Wan et al., Bringing Old Photos Back to Life (CVPR 2020), public code",
            _wan2020,
        ),
        Preset(
            "realesrgan",
            "Real-ESRGAN's second-order degradation, a modern anchor: blur, resize, noise, JPEG twice, sinc; x4",
            "Wang et al., Real-ESRGAN (ICCV-W 2021): basicsr 1.4.2, options/train_realesrnet_x4plus.yml",
            _realesrgan,
        ),
        Preset(
            "clean-gray",
            "grayscale only: the 'w/o degradation' colourization setting",
            "Pik-Fix Table 1, DIV2K and Pascal VOC w/o degradation",
            _clean_gray,
        ),
        Preset(
            "oldphoto",
            "every kind of damage together, severities 1..5 (3 by default), like ImageNet-C",
            "pikfix-bench (this toolkit); severities follow ImageNet-C's idea",
            _oldphoto,
            takes_severity=True,
        ),
    )
}


def build_pipeline(
    preset_or_spec: str | dict[str, Any],
    *,
    severity: int | None = None,
    texture_dir: str | Path | None = None,
) -> Pipeline:
    """Build a :class:`Pipeline` from a preset name or a spec dict.

    Parameters
    ----------
    preset_or_spec : str or dict
        A name in :data:`PRESETS` or a pipeline spec.
    severity : int, optional
        For presets with severities (``oldphoto``): 1..5.
    texture_dir : str or Path, optional
        For presets that can use the paper's texture files (``pikfix``, ``pikfix-offline``).

    Returns
    -------
    Pipeline
        The validated pipeline.
    """
    if isinstance(preset_or_spec, dict):
        return Pipeline(preset_or_spec)
    if preset_or_spec not in PRESETS:
        raise DegradationError(f"unknown preset {preset_or_spec!r}; choose one of: {', '.join(PRESETS)}")
    preset = PRESETS[preset_or_spec]
    if severity is not None and not preset.takes_severity:
        raise DegradationError(f"preset {preset.name} has no severities (only: oldphoto)")
    if texture_dir is not None and not preset.takes_textures:
        raise DegradationError(
            f"preset {preset.name} does not use a texture folder (only: "
            + ", ".join(name for name, known in PRESETS.items() if known.takes_textures)
            + ")"
        )
    return Pipeline(preset.build(severity, str(texture_dir) if texture_dir is not None else None))
