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


# EXIF Orientation (tag 0x0112): where the stored row 0 and column 0 are shown (EXIF 2.32, 4.6.4 A). Each
# entry turns the stored array into the displayed one, written from that definition with numpy alone.
DISPLAYED = {
    1: lambda a: a,  # row 0 top, column 0 left
    2: lambda a: a[:, ::-1],  # row 0 top, column 0 right: mirrored left-right
    3: lambda a: a[::-1, ::-1],  # row 0 bottom, column 0 right: 180 degrees
    4: lambda a: a[::-1],  # row 0 bottom, column 0 left: mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # row 0 left, column 0 top: transposed
    6: lambda a: np.rot90(a, -1),  # row 0 right, column 0 top: turned 90 degrees clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # row 0 right, column 0 bottom: transverse
    8: lambda a: np.rot90(a, 1),  # row 0 left, column 0 bottom: turned 90 degrees counter-clockwise
}


def _with_orientation(rgb: np.ndarray, orientation: int, path, **save) -> None:
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, exif=exif, **save)


@pytest.mark.parametrize("orientation", sorted(DISPLAYED))
def test_exif_orientation_applied(tmp_path, rgb, orientation):
    """Every orientation, pixel for pixel (a lossless PNG with an eXIf chunk): a turn the wrong way or a
    mirror on the wrong axis gives another picture of the same shape."""
    _with_orientation(rgb, orientation, tmp_path / "r.png")
    np.testing.assert_array_equal(read_image(tmp_path / "r.png"), DISPLAYED[orientation](rgb))


def test_exif_orientation_of_a_jpeg(tmp_path, rgb):
    _with_orientation(rgb, 6, tmp_path / "r.jpg", quality=100)
    out = read_image(tmp_path / "r.jpg").astype(int)
    assert np.abs(out - DISPLAYED[6](rgb)).mean() < 2  # JPEG at quality 100: near, not equal
    assert np.abs(out - DISPLAYED[8](rgb)).mean() > 20  # the other way round is another picture


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


def test_a_very_large_image_is_read_with_a_warning_naming_it(tmp_path, rgb, monkeypatch, recwarn):
    """Above Pillow's decompression-bomb threshold (``Image.MAX_IMAGE_PIXELS``, 89.5 Mpx; lowered here)
    the picture is still read, as a large scan may be, with one warning that names the file and its size
    instead of Pillow's own, which names neither; at twice the threshold it is refused."""
    write_png(tmp_path / "big.png", rgb)  # 80 x 64 = 5120 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    assert np.array_equal(read_image(tmp_path / "big.png"), rgb)
    assert [str(w.message) for w in recwarn] == [
        f"{tmp_path / 'big.png'}: a very large image (80 x 64 pixels); reading and scoring it take much memory"
    ]
    assert all(w.category is PikfixWarning for w in recwarn)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    with pytest.raises(ImageReadError, match="big.png: image too large"):
        read_image(tmp_path / "big.png")
