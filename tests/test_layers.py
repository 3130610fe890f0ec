import pytest
import torch

from tickets import layers, models
from tickets.layers import MaskedConv2d, MaskedLinear, kept_count, topk_mask


@pytest.mark.parametrize("remaining", [0.01, 0.05, 0.1, 0.33, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("pattern", ["element", "row", "kernel", "channel"])
def test_each_layer_keeps_the_right_count(remaining, pattern):
    conv = MaskedConv2d(16, 32, 3, padding=1, pattern=pattern)
    conv.set_remaining(remaining)
    groups = conv.scores.numel()
    per_group = conv.weight.numel() // groups
    assert conv.kept() == kept_count(groups, remaining) * per_group
    assert abs(conv.score_mask().sum().item() - remaining * groups) <= max(1, 0.5 + 1e-9)


def test_linear_keeps_the_right_count():
    lin = MaskedLinear(100, 37)
    lin.set_remaining(0.2)
    assert lin.kept() == round(0.2 * 3700)


@pytest.mark.parametrize("pattern,const_dims", [("row", (3,)), ("kernel", (2, 3)),
                                                ("channel", (1, 2, 3))])
def test_structured_patterns_are_structured(pattern, const_dims):
    conv = MaskedConv2d(8, 12, 3, padding=1, pattern=pattern)
    conv.set_remaining(0.3)
    m = conv.current_mask()
    # constant along the grouped dimensions: max equals min over them
    assert torch.equal(m.amax(dim=const_dims), m.amin(dim=const_dims))
    # but not constant over the whole tensor
    assert 0 < m.mean().item() < 1


def test_remaining_one_equals_dense():
    torch.manual_seed(0)
    model = models.build("conv4", width=0.25, remaining=1.0)
    x = torch.rand(4, 3, 32, 32)
    model.eval()
    out_search = model(x)
    layers.set_mode(model, "dense")
    out_dense = model(x)
    assert torch.equal(out_search, out_dense)


def test_gradients_reach_scores_not_weights():
    model = models.build("conv4", width=0.25, remaining=0.3)
    model.train()
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    for _, layer in layers.masked_layers(model):
        assert layer.weight.grad is None
        assert not layer.weight.requires_grad
        assert layer.scores.grad is not None and layer.scores.grad.abs().sum() > 0


def test_straight_through_gradient_is_weight_times_upstream():
    lin = MaskedLinear(5, 3)
    lin.set_remaining(0.4)
    x = torch.randn(2, 5)
    lin(x).sum().backward()
    # d out / d mask_ij = sum_b x_bj, times w_ij; then through |s|: times sign(s)
    expected = lin.weight.detach() * x.sum(0)[None, :] * lin.scores.detach().sign()
    assert torch.allclose(lin.scores.grad, expected, atol=1e-6)


def test_cached_mask_equals_fresh_and_changes_after_a_step():
    model = models.build("conv2", width=0.25, remaining=0.2)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=50.0)
    convs = [m for _, m in layers.masked_layers(model)]
    before = [c.score_mask().clone() for c in convs]
    for c, b in zip(convs, before, strict=True):
        assert torch.equal(b, topk_mask(c.scores, c.remaining))
    model.train()
    torch.nn.functional.cross_entropy(model(torch.rand(8, 3, 32, 32)),
                                      torch.arange(8) % 10).backward()
    opt.step()
    changed = False
    for c, b in zip(convs, before, strict=True):
        fresh = topk_mask(c.scores, c.remaining)
        assert torch.equal(c.score_mask(), fresh)
        changed |= not torch.equal(b, fresh)
    assert changed, "a large optimiser step should change at least one mask"


def test_mask_is_not_resorted_on_every_forward(monkeypatch):
    model = models.build("conv2", width=0.25, remaining=0.2)
    calls = []
    real = layers.topk_mask
    monkeypatch.setattr(layers, "topk_mask", lambda s, r: calls.append(1) or real(s, r))
    x = torch.rand(2, 3, 32, 32)
    for _ in range(5):
        model(x)
    n_layers = len(list(layers.masked_layers(model)))
    assert len(calls) == n_layers
    layers.set_mask_caching(model, False)
    calls.clear()
    for _ in range(3):
        model(x)
    assert len(calls) == 3 * n_layers


def test_fixed_mode_trains_weights_under_the_mask():
    model = models.build("conv2", width=0.25, remaining=0.3)
    layers.freeze_masks(model)
    layers.set_mode(model, "fixed")
    model.train()
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    for _, layer in layers.masked_layers(model):
        assert layer.scores.grad is None
        assert layer.weight.grad is not None
        # pruned weights get no gradient
        assert (layer.weight.grad[layer.mask == 0] == 0).all()
