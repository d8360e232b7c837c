"""Image reading and writing: every odd file type, and clear errors for bad ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from pikfix_bench.errors import ImageReadError, PikfixWarning
from pikfix_bench.image_io import read_image, write_png


@pytest.fixture
def rgb() -> np.ndarray:
    return data.astronaut()[:64, :80].copy()


def test_png_round_trip_is_exact(tmp_path, rgb):
    write_png(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary file left behind


def test_grayscale_file_read_as_rgb_and_l(tmp_path, rgb):
    gray = rgb[..., 1]
    write_png(tmp_path / "g.png", gray)
    as_rgb = read_image(tmp_path / "g.png")
    assert (
        as_rgb.shape == (64, 80, 3)
        and np.array_equal(as_rgb[..., 0], gray)
        and np.array_equal(as_rgb[..., 2], gray)
    )
    assert np.array_equal(read_image(tmp_path / "g.png", mode="L"), gray)


def test_rgba_composited_on_white_with_warning(tmp_path, rgb):
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, :40] = 255
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "a.png")
    with pytest.warns(PikfixWarning, match="transparency"):
        out = read_image(tmp_path / "a.png")
    assert np.array_equal(out[:, :40], rgb[:, :40])
    assert (out[:, 40:] == 255).all()


def test_palette_image(tmp_path, rgb):
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(tmp_path / "p.png")
    expected = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    assert np.array_equal(read_image(tmp_path / "p.png"), expected)


def test_16bit_grayscale_scaled_to_8bit(tmp_path):
    values = np.array([[0, 257, 65535, 32768]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    with pytest.warns(PikfixWarning, match="16-bit"):
        out = read_image(tmp_path / "d.png", mode="L")
    assert out.tolist() == [[0, 1, 255, 128]]


def test_cmyk_jpeg(tmp_path, rgb):
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb).mean() < 10


def test_exif_orientation_applied(tmp_path, rgb):
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (80, 64, 3)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"this is not an image", "not an image"), (None, "no such file")],
)
def test_bad_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_truncated_png(tmp_path, rgb):
    write_png(tmp_path / "t.png", rgb)
    whole = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageReadError, match="t.png"):
        read_image(tmp_path / "t.png")


def test_write_png_refuses_float(tmp_path):
    with pytest.raises(Exception, match="uint8"):
        write_png(tmp_path / "f.png", np.zeros((4, 4, 3)))
