"""Shared fixtures: real photographs from scikit-image with real distortions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data


def _distortions(image: np.ndarray) -> dict[str, np.ndarray]:
    """Noise, blur, JPEG and a colour shift of one photograph (all uint8 RGB)."""
    rng = np.random.default_rng(1234)
    noisy = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 20])
    assert ok
    jpeg = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()
    shifted = np.clip(image.astype(np.int16) + np.array([25, -10, -30]), 0, 255).astype(np.uint8)
    return {"noise": noisy, "blur": blurred, "jpeg": jpeg, "color-shift": shifted}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """The bundled sample set at 48 px (8 samples), built once per session."""
    from click.testing import CliRunner

    from pikfix_bench.cli import main

    path = tmp_path_factory.mktemp("ds") / "sample"
    result = CliRunner().invoke(
        main, ["build-dataset", "sample", "--out", str(path), "--size", "48"], catch_exceptions=False
    )
    assert result.exit_code == 0
    return path


@pytest.fixture(scope="session")
def photo_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, distorted, original)`` for four distortions of three photographs, odd sizes included."""
    photos = {
        "astronaut": data.astronaut()[:181, :203],
        "coffee": data.coffee()[::2, ::2],
        "chelsea": data.chelsea()[:150, :175],
    }
    return [
        (f"{photo}-{kind}", distorted, original)
        for photo, original in photos.items()
        for kind, distorted in _distortions(np.ascontiguousarray(original)).items()
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` run where CUDA exists and are skipped elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def texture_dir(tmp_path_factory) -> Path:
    """A folder in the layout of the paper's texture2/ (crack textures 1..12, dust 1..11), drawn here."""
    folder = tmp_path_factory.mktemp("texture2")
    rng = np.random.default_rng(5)
    for code in range(1, 13):
        texture = np.zeros((120, 160), np.uint8)
        for _ in range(6):
            cv2.line(
                texture,
                tuple(int(v) for v in rng.integers(0, 160, 2)),
                tuple(int(v) for v in rng.integers(0, 120, 2)),
                int(rng.integers(60, 256)),
                2,
            )
        cv2.imwrite(str(folder / f"texture{code:02d}.jpg"), texture)
    for code in range(1, 12):
        dust = (rng.random((200, 220)) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"dust{code:02d}.png"), dust)  # png keeps the exact values for the test
    return folder
