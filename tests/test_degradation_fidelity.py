"""Presets named after published code do what that code does (issue 14's "wrong today" rows).

Pik-Fix: DerrickXuNu/Pik-Fix at 6c2f87c (``datasets/OldPhotoDataset.py``, ``datasets/customized_transform.py``,
``utils/texture_libs.py``, ``utils/data_generation.py``); imgaug 0.4.0 (``augmenters/blur.py``);
Wan et al.: microsoft/Bringing-Old-Photos-Back-to-Life at 33875ec (``Global/data/online_dataset_for_old_photos.py``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from pikfix_bench.degradations import DegradationError, Pipeline, build_pipeline, get_operation
from pikfix_bench.degradations.texture import crack_window


@pytest.fixture
def texture_names(tmp_path):
    """A folder with every texture name the rules may draw (contents unused)."""
    for stem in [f"texture{n:02d}" for n in range(1, 13)] + [f"dust{n:02d}" for n in range(1, 12)]:
        (tmp_path / f"{stem}.jpg").write_bytes(b"")
    return str(tmp_path)


def _pikfix_step(name: str) -> dict:
    """A step of ``pikfix-procedural``, which shares every step but the damage with ``pikfix``."""
    return next(step for step in build_pipeline("pikfix-procedural").spec["steps"] if step.get("op") == name)


def test_the_procedural_twins_differ_from_the_texture_presets_only_in_the_damage(texture_names):
    for preset in ("pikfix", "pikfix-offline"):
        textured = build_pipeline(preset, texture_dir=texture_names).spec
        procedural = build_pipeline(f"{preset}-procedural").spec
        assert textured.get("geometry") == procedural.get("geometry")
        kept = [step for step in textured["steps"] if not step["op"].startswith("texture_")]
        assert kept == [
            step for step in procedural["steps"] if step["op"] not in ("cracks", "dust", "fibres")
        ]


def test_pikfix_grays_first_with_cv2_bgr2gray_on_an_rgb_array():
    photo = data.astronaut()
    first = build_pipeline("pikfix-procedural").spec["steps"][0]
    assert first == {"op": "grayscale", "method": "bgr2gray-on-rgb"}
    gray, _ = get_operation("grayscale")(method="bgr2gray-on-rgb").apply(photo, {"method": "bgr2gray-on-rgb"})
    red, green, blue = (photo[..., i].astype(float) for i in range(3))
    np.testing.assert_allclose(gray, 0.114 * red + 0.587 * green + 0.299 * blue, atol=1.0)
    assert np.abs(gray.astype(float) - (0.299 * red + 0.587 * green + 0.114 * blue)).mean() > 5  # not BT.601


def test_pikfix_noise_is_added_to_the_gray_image_at_full_strength():
    steps = [
        {"op": "grayscale", "method": "bgr2gray-on-rgb"},
        {**_pikfix_step("gaussian_blur"), "sigma": 0.0},
        {**_pikfix_step("gaussian_noise"), "sigma": 10.0},
    ]
    flat = np.full((256, 256, 3), 128, np.uint8)
    out, _, _ = Pipeline({"steps": steps}).run(flat, np.random.default_rng(0))
    assert out.ndim == 2 and out.astype(float).std() == pytest.approx(10.0, rel=0.05)  # was 6.7


@pytest.mark.parametrize("sigma", [0.0005, 0.4, 1.2, 2.5, 2.99])
def test_pikfix_blur_is_imgaugs(sigma):
    image = cv2.resize(data.camera(), (96, 80), interpolation=cv2.INTER_AREA)
    step = {**_pikfix_step("gaussian_blur"), "sigma": sigma}
    out, _, _ = Pipeline({"steps": [step]}).run(image, np.random.default_rng(0))
    if sigma <= 1e-3:
        np.testing.assert_array_equal(out, image)
        return
    size = int(max(3.3 * sigma, 5))
    size += 1 - size % 2
    expected = cv2.GaussianBlur(
        image, (size, size), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101
    )
    np.testing.assert_array_equal(out, expected)


def test_crack_windows_lie_in_the_central_three_quarters_as_the_code_draws_them(texture_names):
    height, width = 480, 640
    corners = {
        crack_window(height, width, region, u, v)
        for region in range(4)
        for u in (0, 0.5, 0.9999)
        for v in (0, 0.9999)
    }
    xs, ys = zip(*corners, strict=True)
    assert (min(xs), max(xs)) == (width // 8, width * 3 // 8) and (min(ys), max(ys)) == (
        height // 8,
        height * 3 // 8,
    )
    assert crack_window(height, width, 0, 0.0, 0.0) == (width // 4, height // 4)
    sampled = get_operation("texture_cracks")(texture_dir=texture_names).sample(
        np.random.default_rng(0), (64, 64)
    )
    assert isinstance(sampled["angle"], int) and -30 <= sampled["angle"] <= 30  # randint(-30, 30)


def test_offline_dust_codes_and_wan_salt_and_pepper_settings(texture_names):
    textured = build_pipeline("pikfix-offline", texture_dir=texture_names).spec["steps"]
    assert next(s for s in textured if s["op"] == "texture_dust")["code"] == [1, 11]
    wan = build_pipeline("wan2020").spec["steps"][0]["shuffle"]
    noises = next(step for step in wan if "one_of" in step)["one_of"]
    assert next(n for n in noises if n["op"] == "salt_pepper")["per_channel"] is True


def test_wan_salt_and_pepper_hits_each_channel_on_its_own():
    mid = np.full((300, 300, 3), 128, np.uint8)
    params = {"amount": 0.01, "salt_ratio": 0.5, "per_channel": True, "seed": 3}
    out, _ = get_operation("salt_pepper")().apply(mid, params)
    hit = (out != 128).any(axis=2)
    assert hit.mean() == pytest.approx(1 - 0.99**3, abs=0.003)  # 2.97 %, was 0.97 %
    assert ((out != 128).sum(axis=2) == 1).mean() > 0.02  # coloured impulses: one channel hit


def test_torn_corner_of_area_zero_tears_nothing():
    image = np.full((64, 64), 100, np.uint8)
    out, mask = get_operation("torn_corner")().apply(
        image, {"area": 0.0, "where": "corner", "roughness": 0.4, "fill": 255.0, "seed": 1}
    )
    np.testing.assert_array_equal(out, image)
    assert not mask.any()


def test_lighten_cracks_mark_only_the_pixels_they_change():
    white = np.full((64, 64), 255, np.uint8)
    operation = get_operation("cracks")()
    params = operation.sample(np.random.default_rng(2), white.shape)
    out, mask = operation.apply(white, params)
    np.testing.assert_array_equal(out, white)
    assert not mask.any()  # a crack over white paper changes nothing


def test_texture_dust_is_resized_after_thresholding_as_the_code_does(tmp_path):
    dust = np.zeros((20, 20), np.uint8)
    dust[8:12, 8:12] = 200
    for code in range(1, 12):
        cv2.imwrite(str(tmp_path / f"dust{code:02d}.png"), dust)
    image = np.full((80, 80), 60, np.uint8)  # larger than the texture: resized, with soft fringes
    out, mask = get_operation("texture_dust")(texture_dir=str(tmp_path), code=1).apply(
        image, {"texture_dir": str(tmp_path), "code": 1, "seed": 0}
    )
    values = set(np.unique(out[mask > 0]).tolist())
    assert 180 in values and len(values) > 2  # the spot's colour, 3 x 60, and its darker fringe


def test_wan_noise_truncates_and_resamples_and_encodes_with_pil():
    flat = np.full((200, 200, 3), 100, np.uint8)
    noisy, _ = get_operation("gaussian_noise")().apply(
        flat, {"sigma": 10.0, "gray": False, "rounding": "truncate", "seed": 0}
    )
    assert noisy.astype(float).mean() == pytest.approx(
        99.5, abs=0.1
    )  # np_to_pil truncates: half a level darker
    photo = data.astronaut()[:120, :160]
    out, _ = get_operation("resolution")().apply(
        photo, {"scale": 0.5, "scale_y": 0.75, "down": "bicubic", "up": "bilinear", "library": "pil"}
    )
    from PIL import Image

    expected = Image.fromarray(photo).resize((80, 90), Image.BICUBIC).resize((160, 120), Image.BILINEAR)
    np.testing.assert_array_equal(out, np.asarray(expected))
    wan = build_pipeline("wan2020").spec["steps"][0]["shuffle"]
    assert {step.get("op"): step.get("library") for step in wan if "op" in step} == {
        "gaussian_blur": None,
        "resolution": "pil",
        "jpeg": "pil",
    }


def _zone_plate(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size].astype(float) - size / 2
    return np.clip(127.5 + 127.5 * np.cos(np.pi * (x**2 + y**2) / (2 * size)), 0, 255).astype(np.uint8)


def test_pikfix_offline_resolution_chain_is_the_codes():
    """utils/data_generation.py: GT = full / 4 (INTER_CUBIC), input = (full / 8) x 2 (INTER_CUBIC)."""
    full = np.repeat(_zone_plate(512)[..., None], 3, axis=2)
    pipeline = build_pipeline("pikfix-offline-procedural")
    assert pipeline.geometry.source_scale == 4
    resize_steps = [step for step in pipeline.spec["steps"] if step["op"] == "resize"]
    out, _, _ = Pipeline({"steps": resize_steps}).run(full, np.random.default_rng(0))
    expected = cv2.resize(
        cv2.resize(full, (64, 64), interpolation=cv2.INTER_CUBIC), (128, 128), interpolation=cv2.INTER_CUBIC
    )
    np.testing.assert_array_equal(out, expected)
    gt_steps = Pipeline({"steps": pipeline.spec["geometry"]["ground_truth"][:1]})
    gt, _, _ = gt_steps.run(full, np.random.default_rng(0))
    np.testing.assert_array_equal(gt, cv2.resize(full, (128, 128), interpolation=cv2.INTER_CUBIC))
    psnr = 10 * np.log10(255**2 / np.mean((out.astype(float) - gt) ** 2))
    assert psnr < 30  # their 1/8 x 2 chain aliases the zone plate; the old 2x down-up of the GT did not


def test_a_pikfix_offline_dataset_pairs_a_quarter_size_gt_with_its_input(tmp_path):
    from PIL import Image

    from pikfix_bench.datasets import Recipe, build_dataset, open_dataset
    from pikfix_bench.datasets.sources import folder_source

    (tmp_path / "photos").mkdir()
    Image.fromarray(data.astronaut()).save(tmp_path / "photos" / "astronaut.png")
    recipe = Recipe("folder", build_pipeline("pikfix-offline-procedural").spec, seed=2, size=64)
    build_dataset(folder_source(tmp_path / "photos"), recipe, tmp_path / "ds", name="off", progress=False)
    (sample,) = list(open_dataset(tmp_path / "ds"))
    assert sample.gt.shape == (64, 64, 3) and sample.input.shape == (64, 64)
    from pikfix_bench.resize import square_crop

    quarter = cv2.resize(square_crop(data.astronaut(), 256), (64, 64), interpolation=cv2.INTER_CUBIC)
    encoded = cv2.imencode(".jpg", quarter[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[
        1
    ]  # cv2.imwrite's default
    np.testing.assert_array_equal(sample.gt, cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def test_wan_grays_the_ground_truth_with_the_input(tmp_path):
    """PairOldPhotos.__getitem__: with p = 0.1, A and B both convert("L") then ("RGB")."""
    from PIL import Image

    from pikfix_bench.datasets import Recipe, build_dataset, open_dataset
    from pikfix_bench.datasets.sources import folder_source

    gray_step = build_pipeline("wan2020").spec["steps"][-1]
    assert gray_step == {"op": "grayscale", "method": "bt601", "p": 0.1, "ground_truth_too": True}
    (tmp_path / "photos").mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(getattr(data, name)()).save(tmp_path / "photos" / f"{name}.png")
    spec = {"steps": [{"op": "jpeg", "quality": 90}, {**gray_step, "p": 1.0}]}
    build_dataset(
        folder_source(tmp_path / "photos"),
        Recipe("folder", spec, seed=0, size=48),
        tmp_path / "ds",
        name="w",
        progress=False,
    )
    for sample in open_dataset(tmp_path / "ds"):
        assert sample.gt.shape == (48, 48, 3) and (sample.gt == sample.gt[..., :1]).all()  # gray, kept RGB
        assert sample.record["steps"][-1]["ground_truth_too"] is True


@pytest.fixture
def hole_masks(tmp_path):
    """Three white-on-black hole masks (one with soft, non-binary edges) in a folder."""
    rng = np.random.default_rng(4)
    for index in range(3):
        mask = np.zeros((64, 80), np.uint8)
        for _ in range(4):
            cv2.ellipse(mask, tuple(int(v) for v in rng.integers(0, 64, 2)), (9, 5), 30.0, 0, 360, 255, -1)
        if index == 2:
            mask = cv2.GaussianBlur(mask, (5, 5), 1.0)
        cv2.imwrite(str(tmp_path / f"{index:05d}.png"), mask)
    (tmp_path / "notes.txt").write_text("not a mask")
    return tmp_path


def test_wan_irregular_holes_paint_the_mask_white_and_truncate(hole_masks):
    """irregular_hole_synthesize: (img * (1 - m/255) + m/255 * 255).astype(uint8), mask resized NEAREST."""
    from PIL import Image

    photo = np.ascontiguousarray(data.astronaut()[:120, :100])
    operation = get_operation("irregular_holes")(mask_dir=str(hole_masks))
    drawn = {operation.sample(np.random.default_rng(seed), photo.shape)["mask"] for seed in range(40)}
    assert drawn == {"00000.png", "00001.png", "00002.png"}  # uniform over the images, by name
    out, mask = operation.apply(photo, {"mask_dir": str(hole_masks), "mask": "00002.png"})
    file = np.asarray(Image.open(hole_masks / "00002.png").convert("RGB").resize((100, 120), Image.NEAREST))
    m = file.astype(np.float64) / 255
    np.testing.assert_array_equal(out, (photo * (1 - m) + m * 255).astype(np.uint8))
    assert np.array_equal(mask > 0, (out != photo).any(axis=2)) and 0 < mask[mask > 0].min() < 255


def test_holes_follow_wans_order_in_a_pipeline_and_their_files_enter_the_hash(hole_masks, tmp_path):
    from PIL import Image

    from pikfix_bench.datasets import Recipe, build_dataset, open_dataset
    from pikfix_bench.datasets.sources import folder_source

    spec = build_pipeline("wan2020").spec
    spec = {
        **spec,
        "name": "wan2020-holes",
        "steps": [*spec["steps"], {"op": "irregular_holes", "mask_dir": str(hole_masks), "p": 0.5}],
    }
    (tmp_path / "photos").mkdir()
    Image.fromarray(data.astronaut()).save(tmp_path / "photos" / "astronaut.png")
    recipe = Recipe("folder", spec, seed=1, size=64)
    build_dataset(folder_source(tmp_path / "photos"), recipe, tmp_path / "ds", name="h", progress=False)
    dataset = open_dataset(tmp_path / "ds")
    assert set(dataset.manifest["recipe"]["files"]) >= {"00000.png", "00001.png", "00002.png"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DegradationError, match="holds no images"):
        get_operation("irregular_holes")(mask_dir=str(tmp_path / "empty"))


def test_the_documented_wan_holes_pipeline_runs_the_preset_then_the_holes(hole_masks, tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "degradations.md").read_text()
    block = re.search(r"```yaml\nname: wan2020-holes\n.*?```", text, re.S).group(0)[len("```yaml\n") : -3]
    (tmp_path / "holes.yaml").write_text(block.replace("/data/irregular_masks", str(hole_masks)))
    pipeline = Pipeline.from_yaml(tmp_path / "holes.yaml")
    photo = np.ascontiguousarray(data.astronaut()[:96, :96])
    ops = [[step["op"] for step in pipeline.run(photo, np.random.default_rng(s))[2]] for s in range(20)]
    wan = {"gaussian_blur", "gaussian_noise", "speckle_noise", "salt_pepper", "resolution", "jpeg"}
    for sequence in ops:
        assert set(sequence[:-2]) <= wan and sequence[-2:] == ["grayscale", "irregular_holes"]
    with pytest.raises(DegradationError, match="changes sizes"):
        Pipeline({"steps": [{"preset": "realesrgan"}]})
    with pytest.raises(DegradationError, match="not \\['sigma'\\]"):
        Pipeline({"steps": [{"preset": "wan2020", "sigma": 2}]})


def test_pikfix_tear_cuts_the_region_damage_generate_cuts():
    """Goldens from utils/damage_libs.py::damage_generate itself (tools/pikfix_tear_goldens.py): with the
    same draws, the same pixels are torn."""
    from pathlib import Path

    golden = np.load(Path(__file__).parent / "data" / "pikfix_tear.npz")
    operation = get_operation("pikfix_tear")()
    assert len(golden.files) == 13
    for key in golden.files:
        height, width, seed = (int(v) for v in key.replace("x", " ").replace("s", " ").split())
        params = operation.sample(np.random.default_rng(seed), (height, width))
        out, mask = operation.apply(np.zeros((height, width), np.uint8), params)
        expected = np.unpackbits(golden[key])[: height * width].reshape(height, width).astype(bool)
        np.testing.assert_array_equal(out == 255, expected, err_msg=key)
        assert np.array_equal(mask > 0, expected) and expected.any()
    assert build_pipeline("pikfix-offline-procedural").spec["steps"][5] == {
        "op": "pikfix_tear",
        "threshold": 20,
    }


def test_pikfix_damages_the_whole_picture_then_crops_input_and_ground_truth_alike(tmp_path):
    """utils/helper.py: Compose([RandomBlur(), CrackGenerator(), RandomCrop(256)]): the crop comes last,
    at one position for input and ground truth, ``np.random.randint(0, side - 256)`` (never the last one);
    a side under 256 is first scaled up to it (cv2.resize, aspect kept)."""
    from PIL import Image

    from pikfix_bench.datasets import Recipe, build_dataset, open_dataset
    from pikfix_bench.datasets.geometry import crop_window, enlarged_to
    from pikfix_bench.datasets.sources import folder_source

    photo = np.ascontiguousarray(data.astronaut()[:150, :200])
    (tmp_path / "photos").mkdir()
    Image.fromarray(photo).save(tmp_path / "photos" / "a.png")
    recipe = Recipe("folder", build_pipeline("pikfix-procedural").spec, seed=3, size=64)
    build_dataset(folder_source(tmp_path / "photos"), recipe, tmp_path / "ds", name="c", progress=False)
    (sample,) = list(open_dataset(tmp_path / "ds"))
    top, left = sample.crop["top"], sample.crop["left"]
    np.testing.assert_array_equal(
        sample.gt, photo[top : top + 64, left : left + 64]
    )  # native scale, no resize
    tops = {crop_window((70, 90), 64, np.random.default_rng(s))[0].start for s in range(300)}
    assert tops == set(range(6))  # randint(0, 70 - 64): 0..5, never 6
    assert crop_window((64, 90), 64, np.random.default_rng(0))[0] == slice(0, 64)
    assert enlarged_to(np.zeros((40, 100), np.uint8), 64).shape == (64, 160)  # fx = fy = 64 / 40
