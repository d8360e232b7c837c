"""The memory savers change memory, not results: each is held to the computation it replaced.

Reference: the forward pass as it was before (A_i applied before resizing, Phi materialised and
``softmax(Phi / T)`` applied by einsum, SPHist kept at full resolution), written out here with the
model's own layers. Losses agree to 1e-6 relative and gradients to 1e-4 relative.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_pikfix import tiny

from pikfix_bench.model import PikFix
from pikfix_bench.model.blocks import ConcatConv2d, DenseBlock, ResidualDenseBlock, recompute_activations
from pikfix_bench.model.colorization import Fusion, warp
from pikfix_bench.model.losses import generator_loss
from pikfix_bench.model.similarity import SimilarityNet, grid_size
from pikfix_bench.model.vgg import CHANNELS, TAPS, VGGFeatures


def _batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    lightness = torch.rand(2, 1, 64, 96, generator=generator)
    reference_l = torch.rand(2, 1, 64, 64, generator=generator)
    reference_ab = torch.rand(2, 2, 64, 64, generator=generator) * 2 - 1
    target_l = torch.rand(2, 1, 64, 96, generator=generator)
    target_ab = torch.rand(2, 2, 64, 96, generator=generator) * 2 - 1
    return lightness, reference_l, reference_ab, target_l, target_ab


def _reference_forward(model: PikFix, lightness, reference_l, reference_ab, phis: list | None = None):
    """The forward pass before the memory savers, from the model's own layers (``phis`` collects Phi_i)."""
    config, sim = model.config, model.similarity
    restored = model.restoration(lightness)
    size, reference_size = tuple(lightness.shape[-2:]), tuple(reference_l.shape[-2:])
    features_in, features_ref = model.vgg(restored.clamp(0, 1)), model.vgg(reference_l)

    def fused(features, index, grid):
        resized = [
            F.interpolate(f * sim.coefficients[index, level], size=grid, mode="bilinear", align_corners=False)
            for level, f in enumerate(features)
        ]
        return F.conv2d(torch.cat(resized, 1), sim.fuse.weight, sim.fuse.bias)

    def centred_cosine(x, y):
        x, y = x.flatten(2), y.flatten(2)
        x = F.normalize(x - x.mean(dim=2, keepdim=True), dim=1, eps=1e-6)
        y = F.normalize(y - y.mean(dim=2, keepdim=True), dim=1, eps=1e-6)
        return torch.einsum("ncu,ncv->nuv", x, y)

    values = torch.cat([model.sphist(reference_ab[:, :1]), model.sphist(reference_ab[:, 1:])], 1)
    warped = []
    for index, divisor in enumerate(sim.scales):
        grid_in = grid_size(*size, divisor, sim.max_positions)
        grid_ref = grid_size(*reference_size, divisor, sim.max_positions)
        phi = centred_cosine(fused(features_in, index, grid_in), fused(features_ref, index, grid_ref))
        if phis is not None:
            phis.append(phi)
        pooled = F.adaptive_avg_pool2d(values, grid_ref).flatten(2)
        attention = torch.softmax(phi / config.temperature, dim=2)
        warped.append(torch.einsum("nuv,ncv->ncu", attention, pooled).reshape(values.shape[0], -1, *grid_in))
    return restored, model.colorization(restored, warped[::-1])


def _loss_and_grads(model: PikFix, forward) -> tuple[float, dict[str, torch.Tensor]]:
    lightness, reference_l, reference_ab, target_l, target_ab = _batch()
    model.zero_grad()
    restored, ab = forward(lightness, reference_l, reference_ab)
    loss = generator_loss(
        model.config, model.vgg, model.sphist, restored, ab, target_l, target_ab, reference_ab, None
    )
    loss.total.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return float(loss.total.detach()), grads


def _assert_same(first, second) -> None:
    (loss_a, grads_a), (loss_b, grads_b) = first, second
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for (
        name,
        grad,
    ) in (
        grads_a.items()
    ):  # 1e-4 of the tensor's largest gradient; 1e-8 for ones that are zero in exact arithmetic
        scale = float(grad.abs().max())
        assert float((grad - grads_b[name]).abs().max()) <= 1e-4 * scale + 1e-8, name


def _model() -> PikFix:
    torch.manual_seed(0)
    model = PikFix(tiny(adversarial=False))
    with torch.no_grad():  # SPHist centres off the uniform grid, so their gradient is not symmetric
        model.sphist.centres.add_(torch.linspace(-0.05, 0.05, model.sphist.centres.numel()) ** 2)
    return model


def test_attention_warp_a_i_after_resizing_and_recomputed_sphist_match_the_old_forward():
    model = _model()

    def current(lightness, reference_l, reference_ab):
        out = model(lightness, reference_l, reference_ab)
        return out.lightness, out.ab

    _assert_same(
        _loss_and_grads(model, current),
        _loss_and_grads(model, lambda *batch: _reference_forward(model, *batch)),
    )


def test_recomputing_activations_changes_no_value():
    model = _model()

    def current(lightness, reference_l, reference_ab):
        out = model(lightness, reference_l, reference_ab)
        return out.lightness, out.ab

    kept = _loss_and_grads(model, current)
    recompute_activations(model)
    recomputed = _loss_and_grads(model, current)
    _assert_same(kept, recomputed)
    assert sum(module.recompute for module in model.modules() if hasattr(module, "recompute")) > 5


def test_the_similarity_map_is_still_available_and_the_same():
    model = _model()
    lightness, reference_l, reference_ab, *_ = _batch()
    old: list[torch.Tensor] = []
    with torch.no_grad():
        out = model(lightness, reference_l, reference_ab, return_similarity=True)
        _reference_forward(model, lightness, reference_l, reference_ab, old)
    assert len(out.similarity) == 4 and out.similarity[0].shape == (2, 16 * 24, 16 * 16)
    for new, before in zip(out.similarity, old, strict=True):
        torch.testing.assert_close(new, before, rtol=0, atol=1e-5)


def _kept_bytes(module: torch.nn.Module, *inputs: torch.Tensor) -> int:
    """Bytes autograd keeps for backward while ``module(*inputs)`` builds its graph (distinct storages,
    the module's parameters excluded)."""
    parameters = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(*inputs)
    return sum(storages.values())


def test_dense_blocks_keep_their_feature_maps_not_every_concatenation():
    """A dense layer convolves the concatenation of all earlier maps; keeping each concatenation for
    backward made a block's memory quadratic in its depth. Kept: the maps themselves (input + growth)."""
    plane = 4 * 32 * 32  # bytes of one float32 channel at 32 x 32
    x = torch.rand(1, 32, 32, 32, requires_grad=True)
    rdb = ResidualDenseBlock(32, 16, 4)
    assert _kept_bytes(rdb, x) <= (32 + 4 * 16) * plane * 1.05
    up, skip = torch.rand(1, 32, 32, 32, requires_grad=True), torch.rand(1, 32, 32, 32, requires_grad=True)
    dense = DenseBlock(64, 32, 16, 3)
    assert _kept_bytes(dense, up, skip) <= (64 + 3 * 16 + 32) * plane * 1.05


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _assert_equal(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Bit-equal on the CPU; on a GPU within 1e-5 of the largest value (cuDNN may pick another kernel)."""
    assert ours.dtype == reference.dtype
    if ours.is_cuda:
        tolerance = 1e-5 * float(reference.detach().abs().max().float())
        torch.testing.assert_close(ours, reference, rtol=0, atol=tolerance)
    else:
        assert torch.equal(ours, reference)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", [None, torch.bfloat16])
def test_a_convolution_of_kept_parts_gives_the_gradients_of_the_convolution_of_their_concatenation(
    precision, device
):
    torch.manual_seed(0)
    parts = [torch.rand(2, c, 12, 10, device=device, requires_grad=True) for c in (5, 3, 4)]
    separate = ConcatConv2d(12, 7, 3, padding=1).to(device)
    joined = torch.nn.Conv2d(12, 7, 3, padding=1).to(device)
    joined.load_state_dict(separate.state_dict())
    grad_out = torch.rand(2, 7, 12, 10, device=device)
    results = []
    for forward in (lambda: separate(parts), lambda: joined(torch.cat(parts, 1))):
        for tensor in (*parts, *joined.parameters(), *separate.parameters()):
            tensor.grad = None
        with torch.autocast(device, dtype=precision or torch.bfloat16, enabled=precision is not None):
            out = forward()
        out.backward(grad_out.to(out.dtype))
        module = separate if len(results) == 0 else joined
        results.append([out, *(p.grad for p in parts), module.weight.grad, module.bias.grad])
    for ours, reference in zip(*results, strict=True):
        _assert_equal(ours, reference)


def _plain_vgg_taps(vgg: VGGFeatures, lightness: torch.Tensor) -> list[torch.Tensor]:
    """The frozen VGG run layer by layer with autograd's own saving (torchvision's layers)."""
    x = (lightness.expand(-1, 3, -1, -1) - vgg.mean) / vgg.std
    taps = []
    for index, layer in enumerate(vgg.features):
        x = layer(x)
        if index in TAPS:
            taps.append(x)
    return taps


def test_the_frozen_vgg_keeps_a_byte_per_activation_not_the_activations():
    """Its weights are frozen, so backward needs only where each ReLU passed and each max-pool's choice."""
    vgg = VGGFeatures()
    lightness = torch.rand(1, 1, 64, 64, requires_grad=True)
    activation_bytes = 4 * sum(t.numel() for t in _plain_vgg_taps(vgg, lightness.detach()))
    # the four taps' float32 bytes as the unit: autograd's own saving keeps 2.9 of them, this 1.02
    assert _kept_bytes(vgg, lightness) <= 1.1 * activation_bytes
    assert _kept_bytes(_PlainVGG(vgg), lightness) > 2.5 * activation_bytes


class _PlainVGG(torch.nn.Module):
    def __init__(self, vgg: VGGFeatures) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, lightness):  # noqa: D102
        return _plain_vgg_taps(self.vgg, lightness)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", [None, torch.bfloat16])
def test_the_frozen_vgg_gives_autograds_values_and_input_gradients(precision, device):
    vgg = VGGFeatures().to(device)
    generator = torch.Generator().manual_seed(1)
    lightness = torch.rand(2, 1, 48, 64, generator=generator).to(device)
    weights = [torch.rand(1, c, 1, 1, generator=generator).to(device) for c in (64, 128, 256, 512)]
    results = []
    for forward in (vgg, lambda x: _plain_vgg_taps(vgg, x)):
        x = lightness.clone().requires_grad_(True)
        with torch.autocast(device, dtype=precision or torch.bfloat16, enabled=precision is not None):
            taps = forward(x)
        sum((t.float() * w).sum() for t, w in zip(taps, weights, strict=True)).backward()
        results.append([*taps, x.grad])
    for ours, reference in zip(*results, strict=True):
        _assert_equal(ours, reference)


class _Warp(torch.nn.Module):
    def forward(self, pooled, query, key):  # noqa: D102
        return warp(pooled, query, key, (32, 32), 0.01)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("value_channels", [2, 32])
def test_the_warp_keeps_no_input_by_reference_map_for_backward(value_channels, device):
    """softmax(Phi / T) is N x P x P': 16 x 4096 x 4096 floats (1 GiB) at batch 16, 256 px, 1/4 scale."""
    generator = torch.Generator().manual_seed(0)
    query = (
        F.normalize(torch.rand(2, 16, 32 * 32, generator=generator), dim=1).to(device).requires_grad_(True)
    )
    key = F.normalize(torch.rand(2, 16, 30 * 30, generator=generator), dim=1).to(device).requires_grad_(True)
    pooled = torch.rand(2, value_channels, 30, 30, generator=generator).to(device).requires_grad_(True)
    attention_bytes = 4 * 2 * 32 * 32 * 30 * 30
    assert _kept_bytes(_Warp(), pooled, query, key) < attention_bytes / 4
    inputs = (pooled, query, key)
    carried = warp(*inputs, (32, 32), 0.01)
    exact = [t.detach().double().requires_grad_(True) for t in inputs]  # the einsum warp in float64
    attention = torch.softmax(torch.einsum("ncu,ncv->nuv", exact[1], exact[2]) / 0.01, dim=2)
    expected = torch.einsum("nuv,ncv->ncu", attention, exact[0].flatten(2)).reshape(carried.shape)
    ours = [carried, *torch.autograd.grad(carried.square().sum(), inputs)]
    reference = [expected, *torch.autograd.grad(expected.square().sum(), exact)]
    for value, exact_value in zip(ours, reference, strict=True):  # 1e-4 of the largest value
        assert float((value.detach().double() - exact_value.detach()).abs().max()) <= 1e-4 * float(
            exact_value.detach().abs().max()
        )


def test_the_similarity_keeps_each_resized_vgg_level_once():
    """A_i times a resized level, then their concatenation, were two kept copies of the same values."""
    similarity = SimilarityNet("single", 16, 4096, scale=4)
    features = [torch.rand(1, c, 64 // 2**i, 64 // 2**i, requires_grad=True) for i, c in enumerate(CHANNELS)]

    class Encode(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.similarity = similarity

        def forward(self, *features):  # noqa: D102
            return self.similarity.encode(list(features), (64, 64))[0][0]

    resized_bytes = 4 * sum(CHANNELS) * 16 * 16
    assert _kept_bytes(Encode(), *features) < 1.3 * resized_bytes


def test_a_fusion_keeps_its_evidence_at_the_evidence_size():
    """At the finest level the evidence (2K = 128 channels) resized to full size was kept for backward:
    16 x 128 x 256 x 256 floats (0.5 GiB) at batch 16, 256 px. It is resized again in backward instead."""
    fusion = Fusion(8, 32)
    features = torch.rand(1, 8, 64, 64, requires_grad=True)
    evidence = torch.rand(1, 32, 8, 8, requires_grad=True)
    resized_bytes = 4 * 32 * 64 * 64
    assert _kept_bytes(fusion, features, evidence) < 0.75 * resized_bytes
    out = fusion(features, evidence)
    reference = features + fusion.body(
        [features, F.interpolate(evidence, size=(64, 64), mode="bilinear", align_corners=False)]
    )
    grads = torch.autograd.grad(out.square().sum(), (features, evidence, *fusion.parameters()))
    expected = torch.autograd.grad(reference.square().sum(), (features, evidence, *fusion.parameters()))
    assert torch.equal(out, reference)
    for ours, theirs in zip(grads, expected, strict=True):
        assert torch.equal(ours, theirs)
