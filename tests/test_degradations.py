"""Degradations: reproducibility, recorded parameters, ranges, masks, presets, validation, texture rules."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from pikfix_bench.degradations import (
    OPERATIONS,
    PRESETS,
    DegradationError,
    Pipeline,
    build_pipeline,
    degrade,
    get_operation,
    replay,
)
from pikfix_bench.degradations.base import Param
from pikfix_bench.degradations.pipeline import sample_generator

PROCEDURAL = [name for name, cls in OPERATIONS.items() if not cls.needs_files()]
STRUCTURAL = [name for name in PROCEDURAL if OPERATIONS[name].structural]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[100:229, 150:301])  # 151 x 129, odd sizes


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("gray", [False, True])
def test_presets_reproducible_and_replayable(preset, gray, photo, texture_dir):
    image = photo.mean(axis=2).astype(np.uint8) if gray else photo
    textures = texture_dir if PRESETS[preset].takes_textures else None
    first = degrade(image, preset, seed=7, sample_id="x", texture_dir=textures)
    again = degrade(image, preset, seed=7, sample_id="x", texture_dir=textures)
    assert np.array_equal(first.image, again.image)
    record = json.loads(json.dumps(first.record))  # as stored on disk
    replayed = replay(image, record)
    assert np.array_equal(replayed.image, first.image)
    if first.mask is None:
        assert replayed.mask is None
    else:
        assert first.mask.shape == first.image.shape[:2] and np.array_equal(replayed.mask, first.mask)
    geometry = build_pipeline(preset, texture_dir=textures).geometry
    if geometry.source_scale > 1:  # pikfix-offline: 1/4 of its source
        expected = tuple(int(side / 8) * 2 for side in image.shape[:2])
    else:  # realesrgan: 1/4 of the ground truth
        expected = geometry.input_shape(image.shape)
    assert first.image.shape[:2] == expected


@pytest.mark.parametrize("preset", ["pikfix-procedural", "wan2020", "oldphoto"])
def test_different_ids_and_seeds_give_different_damage(preset, photo):
    base = degrade(photo, preset, seed=0, sample_id="a").image
    assert not np.array_equal(base, degrade(photo, preset, seed=0, sample_id="b").image)
    assert not np.array_equal(base, degrade(photo, preset, seed=1, sample_id="a").image)


def test_generator_depends_only_on_seed_and_id():
    first = sample_generator(3, "VOC/2008_000123").integers(1 << 62, size=4)
    for other in ("a", "b", "c"):  # other samples drawn in between change nothing
        sample_generator(3, other).integers(1 << 62, size=100)
    assert np.array_equal(first, sample_generator(3, "VOC/2008_000123").integers(1 << 62, size=4))


@pytest.mark.parametrize("name", PROCEDURAL)
def test_sampled_parameters_stay_in_their_ranges(name):
    operation = get_operation(name)()
    rng = np.random.default_rng(0)
    for _ in range(200):
        params = operation.sample(rng, (64, 64, 3))
        for param in operation.params:
            value, setting = params[param.name], param.default
            if isinstance(setting, list):
                assert setting[0] <= value <= setting[1], (name, param.name, value)
            elif isinstance(setting, dict):
                assert value in setting["choice"]
            else:
                assert value == setting
            if param.kind in ("float", "int"):
                assert param.low <= value <= param.high


@pytest.mark.parametrize("name", STRUCTURAL)
@pytest.mark.parametrize("channels", [1, 3])
def test_structural_mask_is_exactly_the_changed_pixels(name, channels, photo):
    image = photo if channels == 3 else cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    operation = get_operation(name)()
    for sample in range(5):
        out, mask = operation.apply(image, operation.sample(np.random.default_rng(sample), image.shape))
        changed = out != image if channels == 1 else (out != image).any(axis=2)
        assert mask.dtype == np.uint8 and mask.shape == image.shape[:2]
        assert np.array_equal(changed, mask > 0), name
        assert changed.any(), name


@pytest.mark.parametrize("name", [n for n in STRUCTURAL if n != "pikfix_tear"])  # a replica of a hard fill
def test_procedural_masks_are_soft(name):
    """Anti-aliased, sub-pixel damage: its mask holds partial alpha, not just 0 and 255."""
    image = np.full((256, 256), 128, np.uint8)
    operation = get_operation(name)()
    masks = [
        operation.apply(image, operation.sample(np.random.default_rng(s), image.shape))[1] for s in range(3)
    ]
    partial = np.concatenate([mask[(mask > 0) & (mask < 255)] for mask in masks])
    assert len(np.unique(partial)) >= 10, name


@pytest.mark.parametrize("name", STRUCTURAL)
def test_procedural_damage_is_scale_aware(name):
    """The same draw covers the same share of a 256- and a 1024-pixel picture (within 35 %)."""
    operation = get_operation(name)()
    shares = {}
    for side in (256, 1024):
        image = np.full((side, side), 128, np.uint8)
        coverage = [
            operation.apply(image, operation.sample(np.random.default_rng(s), image.shape))[1].mean() / 255
            for s in range(4)
        ]
        shares[side] = np.mean(coverage)
    assert shares[1024] == pytest.approx(shares[256], rel=0.35), (name, shares)


@pytest.mark.parametrize(
    "name", [n for n in PROCEDURAL if not OPERATIONS[n].structural and not OPERATIONS[n].changes_size]
)
def test_pixel_operations_return_no_mask_and_keep_shape(name, photo):
    operation = get_operation(name)()
    out, mask = operation.apply(photo, operation.sample(np.random.default_rng(1), photo.shape))
    assert mask is None and out.dtype == np.uint8
    assert out.shape == (photo.shape[:2] if name == "grayscale" else photo.shape)


def test_noise_statistics_follow_the_parameters():
    flat = np.full((256, 256), 128, np.uint8)
    out, _ = get_operation("gaussian_noise")().apply(flat, {"sigma": 10.0, "gray": False, "seed": 1})
    assert out.astype(float).std() == pytest.approx(10.0, rel=0.05)
    out, _ = get_operation("salt_pepper")().apply(
        flat, {"amount": 0.1, "salt_ratio": 0.25, "per_channel": False, "seed": 1}
    )
    hits = out != 128
    assert hits.mean() == pytest.approx(0.1, abs=0.01)
    assert (out[hits] == 255).mean() == pytest.approx(0.25, abs=0.03)


def test_gaussian_blur_matches_opencv(photo):
    out, _ = get_operation("gaussian_blur")().apply(photo, {"sigma": 1.5, "kernel_size": 7})
    reference = cv2.GaussianBlur(photo.astype(np.float32), (7, 7), 1.5, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(out.astype(float) - reference).max() <= 0.5 + 1e-3


def test_grayscale_bt601(photo):
    out, _ = get_operation("grayscale")().apply(photo, {"method": "bt601"})
    assert np.abs(out.astype(int) - cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(int)).max() <= 1


def test_wan2020_probabilities():
    image = np.full((32, 32, 3), 100, np.uint8)
    runs = [degrade(image, "wan2020", seed=0, sample_id=str(i)) for i in range(400)]
    gray = np.mean([r.image.ndim == 2 for r in runs])
    assert 0.06 < gray < 0.14  # p = 0.1
    jpeg = np.mean([any(s["op"] == "jpeg" and s["applied"] for s in r.params) for r in runs])
    assert 0.63 < jpeg < 0.77  # p = 0.7
    orders = {tuple(s["op"] for s in r.params if s["op"] in ("jpeg", "resolution")) for r in runs}
    assert ("jpeg", "resolution") in orders and ("resolution", "jpeg") in orders  # random order


def test_oldphoto_severity_grows_the_damage(photo):
    errors = []
    for level in range(1, 6):
        out = degrade(photo, "oldphoto", severity=level, sample_id="s").image.astype(float)
        errors.append(np.abs(out - cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)).mean())
    assert errors == sorted(errors)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"steps": [{"op": "gausian_noise"}]}, "did you mean 'gaussian_noise'"),
        ({"steps": [{"op": "jpeg", "qualty": 50}]}, "did you mean 'quality'"),
        ({"steps": [{"op": "jpeg", "quality": 150}]}, "quality=150 is outside"),
        ({"steps": [{"op": "jpeg", "quality": [90, 40]}]}, "low > high"),
        ({"steps": [{"op": "jpeg", "p": 1.5}]}, "p must be a number in [0, 1]"),
        ({"steps": [{"op": "resolution", "down": "cubic"}]}, "not one of"),
        ({"steps": [{"op": "jpeg", "one_of": []}]}, "exactly one of"),
        ({"steps": [{"shuffle": []}]}, "non-empty list"),
        ({"stages": []}, "'steps' list"),
        ({"steps": [{"op": "gaussian_blur", "kernel_size": 4}]}, "odd"),
        ({"steps": [{"op": "texture_cracks", "texture_dir": "/nonexistent"}]}, "does not exist"),
    ],
)
def test_pipeline_validation_errors(spec, message):
    with pytest.raises(DegradationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Pipeline(spec)


def test_texture_presets_need_the_textures_and_name_their_procedural_twin():
    for preset in ("pikfix", "pikfix-offline"):
        with pytest.raises(DegradationError, match=f"needs --texture-dir.*use {preset}-procedural"):
            build_pipeline(preset)
    with pytest.raises(DegradationError, match="does not use a texture folder"):
        build_pipeline("pikfix-procedural", texture_dir="texture2")
    assert not any(
        step.get("op", "").startswith("texture_")
        for step in build_pipeline("pikfix-procedural").spec["steps"]
    )


def test_preset_option_errors():
    with pytest.raises(DegradationError, match="severity must be 1..5"):
        build_pipeline("oldphoto", severity=6)
    with pytest.raises(DegradationError, match="no severities"):
        build_pipeline("wan2020", severity=2)
    with pytest.raises(DegradationError, match="unknown preset"):
        build_pipeline("pikfx")


def test_too_small_image_is_refused():
    with pytest.raises(DegradationError, match="too small"):
        degrade(np.zeros((8, 8, 3), np.uint8), "pikfix-procedural")


def test_yaml_pipeline(tmp_path, photo):
    (tmp_path / "mine.yaml").write_text(
        "steps:\n  - op: jpeg\n    quality: [20, 30]\n  - {op: grayscale, p: 0.5}\n"
    )
    pipeline = Pipeline.from_yaml(tmp_path / "mine.yaml")
    assert pipeline.name == "mine"
    result = degrade(photo, pipeline, sample_id="q")
    assert 20 <= result.params[0]["params"]["quality"] <= 30
    (tmp_path / "bad.yaml").write_text("steps: [ {op: jpeg\n")
    with pytest.raises(DegradationError, match="bad.yaml: not valid YAML"):
        Pipeline.from_yaml(tmp_path / "bad.yaml")


# --- the paper's texture rules, on textures generated here -------------------------------------


def _read_gray(path):
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_texture_cracks_rule_without_rotation(texture_dir, photo):
    operation = get_operation("texture_cracks")(texture_dir=str(texture_dir))
    out, mask = operation.apply(
        photo, {"texture_dir": str(texture_dir), "code": 3, "angle": 12, "region": 0, "x_u": 0.0, "y_u": 0.99}
    )
    texture = _read_gray(texture_dir / "texture03.jpg")  # 160 x 120: region 0 is x in [40, 60], y in [30, 45]
    window = texture[45:105, 40:120]
    layer = cv2.resize(window, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(out, np.maximum(photo, layer[..., None]))
    assert np.array_equal(mask > 0, (out != photo).any(axis=2))


def test_texture_cracks_code_12_rotates_and_zeroes_below_120(texture_dir):
    gray = np.zeros((60, 80), np.uint8)
    operation = get_operation("texture_cracks")(texture_dir=str(texture_dir))
    params = {"texture_dir": str(texture_dir), "code": 12, "angle": 20, "region": 2, "x_u": 0.0, "y_u": 0.0}
    out, _ = operation.apply(gray, params)
    texture = _read_gray(texture_dir / "texture12.jpg")
    texture[texture < 120] = 0  # before the rotation, as utils/texture_libs.py
    rotated = cv2.warpAffine(texture, cv2.getRotationMatrix2D((80, 60), 20, 1.0), (160, 120))
    expected = cv2.resize(
        rotated[15:75, 20:100], (80, 60), interpolation=cv2.INTER_LINEAR
    )  # region 2: x 20, y 15
    assert np.array_equal(out, expected)
    assert np.any((out > 0) & (out < 120))  # the rotation softens the thresholded lines


@pytest.mark.parametrize(("code", "threshold"), [(1, 100), (7, 100), (8, 50), (11, 50)])
def test_texture_dust_rule(texture_dir, photo, code, threshold):
    operation = get_operation("texture_dust")(texture_dir=str(texture_dir), code=code)
    params = operation.sample(np.random.default_rng(0), photo.shape)
    out, mask = operation.apply(photo, params)
    value = np.uint8(min(3 * photo[photo.shape[0] // 2].mean(), 255))
    changed = (out != photo).any(axis=2)
    assert np.array_equal(mask > 0, changed) and np.array_equal(out[~changed], photo[~changed])
    assert np.all(out[changed] == value)
    texture = _read_gray(texture_dir / f"dust{code:02d}.png")
    # the changed pixels are a crop of the thresholded texture, less those that already had the value
    differs = (photo != value).any(axis=2)
    found = any(
        np.array_equal(
            changed, differs & (texture[top : top + photo.shape[0], left : left + photo.shape[1]] > threshold)
        )
        for top in range(texture.shape[0] - photo.shape[0] + 1)
        for left in range(texture.shape[1] - photo.shape[1] + 1)
    )
    assert found


def test_texture_preset_uses_the_texture_rules(texture_dir, photo):
    result = degrade(photo, "pikfix", texture_dir=texture_dir, sample_id="t")
    assert [s["op"] for s in result.params] == [
        "grayscale",
        "gaussian_blur",
        "gaussian_noise",
        "texture_cracks",
        "texture_dust",
    ]
    assert np.array_equal(replay(photo, json.loads(json.dumps(result.record))).image, result.image)


def test_missing_texture_file_is_named(tmp_path):
    (tmp_path / "texture01.jpg").write_bytes(b"")
    with pytest.raises(DegradationError, match="lacks texture02.jpg"):
        get_operation("texture_cracks")(texture_dir=str(tmp_path), code=[1, 2])


def test_param_describe_range():
    assert Param("q", "int", 5, 1, 100).describe_range() == "[1, 100]"


def test_a_pipelines_mask_is_the_largest_alpha_of_its_steps(photo):
    steps = [{"op": "cracks", "count": 3}, {"op": "dust", "density": 300.0}, {"op": "fibres", "count": 10}]
    result = degrade(photo, {"name": "m", "steps": steps}, seed=1, sample_id="m")
    image, expected = photo, np.zeros(photo.shape[:2], np.uint8)
    for step in result.params:
        image, mask = get_operation(step["op"])().apply(image, step["params"])
        expected = np.maximum(expected, mask)
    assert np.array_equal(result.mask, expected)
    assert len(np.unique(result.mask)) > 20  # soft: not a union of bits
