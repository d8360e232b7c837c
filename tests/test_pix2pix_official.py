"""pix2pix against the official code: golden outputs of junyanz/pytorch-CycleGAN-and-pix2pix (commit
00d5574) for ``test.py --eval`` and for ``test.py`` without ``--eval`` (seeded per sample)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pix2pix_goldens import GOLDEN_DIR, PAPER_SEED, golden_inputs, official_format_checkpoint

from pikfix_bench.baselines import Batch, create_model
from pikfix_bench.baselines.pix2pix import pil_resize, sample_seed


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return official_format_checkpoint(tmp_path_factory.mktemp("p2p") / "latest_net_G.pth")


def _model(checkpoint, **options):
    model = create_model("pix2pix", weights=str(checkpoint), input="resize256", **options)
    model.load("cpu")
    return model


def _golden(name: str) -> np.ndarray:
    return np.asarray(Image.open(GOLDEN_DIR / name).convert("RGB"))


def _resized_back(golden: np.ndarray, like: np.ndarray) -> np.ndarray:
    """The official output brought to ``like``'s size as the adapter documents: PIL bicubic (written here
    with PIL directly, not through the adapter's helper)."""
    return np.asarray(
        Image.fromarray(golden).resize((like.shape[1], like.shape[0]), Image.Resampling.BICUBIC)
    )


def _assert_matches(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal up to the documented rounding: a last-bit float difference may move a truncated value by 1."""
    difference = np.abs(ours.astype(int) - theirs)
    assert ours.shape == theirs.shape and difference.max() <= 1
    assert (difference > 0).mean() < 1e-3


@pytest.mark.parametrize("name", ["camera", "coffee", "chelsea"])
def test_eval_protocol_reproduces_official_test_py_eval(checkpoint, name):
    model = _model(checkpoint)
    image = golden_inputs()[name]
    _assert_matches(model.run([pil_resize(image, 256, 256)], None)[0], _golden(f"eval-{name}.png"))
    # The official 256 x 256 result, resized back to the input's size with PIL bicubic (chelsea is 200 x 300).
    output = model.predict(Batch([name], [image], [image]))[0]
    _assert_matches(output, _resized_back(_golden(f"eval-{name}.png"), image))


def test_paper_protocol_reproduces_official_test_py_without_eval(checkpoint):
    model = _model(checkpoint, protocol="paper", seed=str(PAPER_SEED))
    image = pil_resize(golden_inputs()["chelsea"], 256, 256)
    _assert_matches(model.run([image], sample_seed(PAPER_SEED, "chelsea"))[0], _golden("paper-chelsea.png"))
    native = golden_inputs()["chelsea"]
    output = model.predict(Batch(["chelsea"], [native], [native]))[0]
    _assert_matches(output, _resized_back(_golden("paper-chelsea.png"), native))


def test_paper_protocol_is_reproducible_whatever_the_batch(checkpoint):
    inputs = golden_inputs()
    ids, images = list(inputs), list(inputs.values())
    model = _model(checkpoint, protocol="paper", seed="3")
    together = model.predict(Batch(ids, images, images))
    alone = [model.predict(Batch([i], [x], [x]))[0] for i, x in zip(ids, images, strict=True)]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)
    evaluated = _model(checkpoint).predict(Batch(ids, images, images))
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(together, evaluated, strict=True)) > 30


def test_rounding_and_padding_options(checkpoint):
    image = golden_inputs()["camera"]
    truncated = _model(checkpoint).run([image], None)[0]
    rounded = _model(checkpoint, rounding="round").run([image], None)[0]
    assert 0 <= (rounded.astype(int) - truncated).min() and (rounded.astype(int) - truncated).max() == 1
    padded = create_model("pix2pix", weights=str(checkpoint))
    assert padded.descriptor.size_multiple == 256 and padded.descriptor.input_mode == "RGB"
    assert _model(checkpoint).descriptor.size_multiple == 1
