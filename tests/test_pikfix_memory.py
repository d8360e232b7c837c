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
from pikfix_bench.model.blocks import recompute_activations
from pikfix_bench.model.losses import generator_loss
from pikfix_bench.model.similarity import grid_size


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
        return sim.fuse(torch.cat(resized, 1))

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
