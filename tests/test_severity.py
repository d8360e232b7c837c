"""Severity tables: every operation with a strength has five, ImageNet-C's constants where it has the corruption."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from pikfix_bench.cli import main
from pikfix_bench.degradations import OPERATIONS, SEVERITIES, DegradationError, Pipeline, degrade
from pikfix_bench.degradations.presets import OLDPHOTO_LEVELS

WITHOUT_STRENGTH = {
    "grayscale",
    "resize",
    "realesrgan",
    "irregular_holes",
    "pikfix_tear",
    "texture_cracks",
    "texture_dust",
}


def test_every_operation_with_a_strength_has_five_valid_levels():
    assert set(SEVERITIES) == set(OPERATIONS) - WITHOUT_STRENGTH
    for name, (_, rows) in SEVERITIES.items():
        assert len(rows) == 5
        for level in range(1, 6):
            Pipeline({"steps": [{"op": name, "severity": level}]})  # validates the settings


def test_imagenet_c_constants():
    """The values of imagecorruptions 1.1.2, corruptions.py (severity 1..5)."""
    expected = {
        ("gaussian_noise", "sigma"): [c * 255 for c in (0.08, 0.12, 0.18, 0.26, 0.38)],
        ("poisson_noise", "photons"): [60, 25, 12, 5, 3],
        ("salt_pepper", "amount"): [0.03, 0.06, 0.09, 0.17, 0.27],
        ("speckle_noise", "sigma"): [0.15, 0.2, 0.35, 0.45, 0.6],
        ("gaussian_blur", "sigma"): [1, 2, 3, 4, 6],
        ("defocus_blur", "radius"): [3, 4, 6, 8, 10],
        ("jpeg", "quality"): [25, 18, 15, 10, 7],
        ("resolution", "scale"): [0.6, 0.5, 0.4, 0.3, 0.25],
    }
    for (name, key), values in expected.items():
        assert [row[key] for row in SEVERITIES[name][1]] == pytest.approx(values), name
    assert [OLDPHOTO_LEVELS["dust_density"][k] for k in range(5)] == [
        r["density"] for r in SEVERITIES["dust"][1]
    ]


@pytest.mark.parametrize("name", sorted(SEVERITIES))
def test_damage_grows_with_severity(name):
    photo = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    change = []
    for level in (1, 5):
        out = degrade(photo, {"steps": [{"op": name, "severity": level}]}, seed=1, sample_id="a").image
        change.append(np.abs(out.astype(float) - photo).mean())
    assert change[1] > change[0], change


def test_severity_errors_and_the_cli():
    with pytest.raises(DegradationError, match="no severity table"):
        Pipeline({"steps": [{"op": "grayscale", "severity": 2}]})
    with pytest.raises(DegradationError, match="severity must be 1..5"):
        Pipeline({"steps": [{"op": "jpeg", "severity": 6}]})
    assert Pipeline({"steps": [{"op": "jpeg", "severity": 5, "quality": 50}]}).spec  # own settings win


def test_degrade_one_operation_at_a_severity(tmp_path):
    cv2.imwrite(str(tmp_path / "in.png"), data.camera())
    result = CliRunner().invoke(
        main,
        [
            "degrade",
            str(tmp_path / "in.png"),
            "--out",
            str(tmp_path / "out"),
            "--op",
            "jpeg",
            "--severity",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "in.json").read_text())
    assert record["pipeline"] == "jpeg-s4" and record["steps"][0]["params"]["quality"] == 10
    missing = CliRunner().invoke(
        main, ["degrade", str(tmp_path / "in.png"), "--out", str(tmp_path / "o"), "--op", "jpeg"]
    )
    assert missing.exit_code == 2 and "--severity" in missing.output
    listing = CliRunner().invoke(main, ["degradations", "list"]).output
    assert "SEVERITIES" in listing and "quality=7" in listing
