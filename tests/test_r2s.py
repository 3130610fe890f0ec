import pytest
import torch
import torch.nn.functional as F

from tickets import attacks, layers, models, r2s


def _members(seed=0, ratios=(0.1, 0.3, 0.6)):
    out = []
    for i, r in enumerate(ratios):
        m = models.build("conv2", width=0.25, remaining=r, init_seed=seed)
        g = torch.Generator().manual_seed(100 + i)  # different scores: different masks
        for _, layer in layers.masked_layers(m):
            layer.scores.data = torch.randn(layer.scores.shape, generator=g)
        layers.freeze_masks(m)
        out.append(m.eval())
    return out


def test_per_input_switching_groups_by_member():
    model = r2s.R2S(_members(), switch="input", seed=0).eval()
    x = torch.rand(12, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        choice = model.last_choice
        assert len(torch.unique(choice)) > 1
        for i in range(len(x)):
            expected = model.members[int(choice[i])](x[i:i + 1])
            assert torch.allclose(out[i], expected[0], atol=1e-5)


def test_per_batch_switching_uses_one_member():
    model = r2s.R2S(_members(), switch="batch").eval()
    with torch.no_grad():
        model(torch.rand(6, 3, 32, 32))
    assert len(torch.unique(model.last_choice)) == 1


def test_members_share_one_copy_of_the_weights_and_keep_their_masks():
    model = r2s.R2S(_members())
    per_member = [dict(layers.masked_layers(m)) for m in model.members]
    for name in per_member[0]:
        ptrs = {lm[name].weight.data_ptr() for lm in per_member}
        assert len(ptrs) == 1
        assert not torch.equal(per_member[0][name].mask, per_member[1][name].mask)


def test_members_from_different_networks_are_refused():
    mixed = _members(seed=0)[:1] + _members(seed=1)[:1]
    with pytest.raises(ValueError, match="one random network"):
        r2s.R2S(mixed)


def test_storage_is_about_one_bit_per_weight_per_member():
    model = r2s.R2S(_members())
    b = r2s.storage_bytes(model)
    assert b["r2s"] < b["dense_float32"] * 3 / 32 + 4096


def test_exact_expectation_and_eot():
    model = r2s.R2S(_members()).eval()
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % 10
    soft = r2s.Expectation(model, over="softmax")
    with torch.no_grad():
        mean_p = torch.stack([F.softmax(m(x), 1) for m in model.members]).mean(0)
        assert torch.allclose(soft(x).exp(), mean_p, atol=1e-5)
    for wrapped in (r2s.Expectation(model, "loss"), soft, r2s.EOT(model, n=3)):
        xa = attacks.pgd(wrapped, x, y, eps=8 / 255, steps=3)
        assert (xa - x).abs().max() <= 8 / 255 + 1e-6
        assert not torch.equal(xa, x)
    # the loss expectation's gradient is the mean of the members' gradients
    g, _ = attacks.input_grad(r2s.Expectation(model, "loss"), x, y)
    gs = [attacks.input_grad(m, x, y)[0] for m in model.members]
    assert torch.allclose(g, torch.stack(gs).mean(0), atol=1e-6)


def test_identical_members_switch_to_the_same_accuracy_with_no_spread():
    m = _members(ratios=(0.3,))[0]
    model = r2s.R2S([m, m, m]).eval()
    x, y = torch.rand(40, 3, 32, 32), torch.arange(40) % 10
    alone = (attacks.predict(m, x) == y).float().mean().item()
    mean, spread = r2s.randomized_accuracy(model, x, y, draws=4)
    assert spread == 0.0 and mean == pytest.approx(alone)
    mixed, mixed_spread = r2s.randomized_accuracy(r2s.R2S(_members()).eval(), x, y, draws=4)
    assert 0 <= mixed <= 1 and 0 <= mixed_spread <= 1


def test_wrappers_leave_the_r2s_in_eval_mode():
    model = r2s.R2S(_members()).eval()
    x, y = torch.rand(4, 3, 32, 32), torch.arange(4)
    for wrapped in (r2s.Expectation(model, "loss"), r2s.EOT(model, n=2)):
        attacks.pgd(wrapped, x, y, steps=1)
        assert not model.training and not any(m.training for m in model.modules())


def test_an_r2s_of_one_member_costs_what_that_member_costs():
    """Switching adds bookkeeping (a draw, a gather, a scatter), not compute: with a single
    member the R2S runs that member once per batch, on the whole batch, and returns its logits.
    Counted in forward passes, not timed (timings on a shared machine are noisy; make bench
    reports them)."""
    member = models.build("conv4", width=0.5, remaining=0.3, init_seed=0).eval()
    calls = []
    member.register_forward_hook(lambda m, inp, out: calls.append(len(inp[0])))
    x = torch.rand(64, 3, 32, 32)
    with torch.no_grad():
        alone = member(x)
        switched = r2s.R2S([member]).eval()(x)
    assert calls == [64, 64], "one pass of the whole batch, as the member alone"
    assert torch.equal(switched, alone)
    cost = r2s.inference_cost(r2s.R2S([member]).eval(), x, repeats=2)
    assert cost["batch"] == 64 and cost["r2s_ms"] > 0 and cost["single_ms"] > 0
