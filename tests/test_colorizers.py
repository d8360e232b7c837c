"""Weight-free colourizers checked by value against the method as published, written here independently."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
from skimage import color, data

from pikfix_bench.baselines import Batch, create_model


def _reinhard_reference(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reinhard et al. (2001) in CIE Lab with scikit-image: each of a and b shifted to the reference's mean
    and scaled by the ratio of standard deviations (population), lightness kept; clipped and rounded."""
    lab, ref = color.rgb2lab(image), color.rgb2lab(reference)
    ab, ref_ab = lab[..., 1:].reshape(-1, 2), ref[..., 1:].reshape(-1, 2)
    lab[..., 1:] = (lab[..., 1:] - ab.mean(0)) / ab.std(0) * ref_ab.std(0) + ref_ab.mean(0)
    with warnings.catch_warnings():  # out-of-gamut colours are clipped
        warnings.simplefilter("ignore", UserWarning)
        rgb = color.lab2rgb(lab)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    """A colour input and a reference of other colours and size (a bluish astronaut, a brown coffee)."""
    image = cv2.resize(data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA)
    reference = cv2.resize(data.coffee(), (80, 60), interpolation=cv2.INTER_AREA)
    return image, reference


def test_reinhard_transfers_the_colour_statistics_of_a_colour_input():
    image, reference = _pair()
    output = create_model("reinhard").predict(Batch(["x"], [image], [reference]))[0]
    expected = _reinhard_reference(image, reference)
    difference = np.abs(output.astype(int) - expected)
    assert output.shape == image.shape and difference.max() <= 1 and (difference > 0).mean() < 1e-3
    # and the picture is what the method promises: the reference's mean chroma (the input's is 13 to 21 away;
    # clipping to the sRGB gamut moves it by up to 4) and the input's lightness
    out_lab, ref_lab = color.rgb2lab(output), color.rgb2lab(reference)
    np.testing.assert_allclose(out_lab[..., 1:].mean((0, 1)), ref_lab[..., 1:].mean((0, 1)), atol=5.0)
    assert np.abs(out_lab[..., 0] - color.rgb2lab(image)[..., 0]).mean() < 1.0


def test_reinhard_gives_a_gray_input_the_reference_mean_chroma():
    image, reference = _pair()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    output = create_model("reinhard").predict(Batch(["x"], [gray], [reference]))[0]
    lab = color.rgb2lab(np.repeat(gray[..., None], 3, axis=2))
    lab[..., 1:] = color.rgb2lab(reference)[..., 1:].reshape(-1, 2).mean(0)
    with warnings.catch_warnings():  # out-of-gamut colours are clipped
        warnings.simplefilter("ignore", UserWarning)
        expected = np.round(np.clip(color.lab2rgb(lab), 0, 1) * 255).astype(np.uint8)
    # rgb2lab gives gray pixels a rounding-error chroma (|ab| ~ 1e-3) whose spread here is 1.3e-3: scaled up
    # to the reference's spread it painted noise of up to 47 levels before the gray test looked at pixels.
    assert np.abs(output.astype(int) - expected).max() <= 1
