import copy

import pytest
import torch

from tickets import config, layers, models, ntk
from tickets.masks import density, ntt, prune


def _net(name="conv2", width=0.25, seed=0):
    m = models.build(name, width=width, masked=True, init="kaiming_normal", init_seed=seed)
    layers.set_mode(m, "fixed")
    m.eval()
    return m


def _x(n, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _explicit_entry(model, x, i, a, j, b):
    """<d f_a(x_i) / d theta, d f_b(x_j) / d theta> by plain autograd, one gradient each."""
    ws = list(ntk.kernel_params(model))
    params = dict(model.named_parameters())
    w = [params[n] for n in ws]
    for p in w:
        p.requires_grad_(True)
    gi = torch.autograd.grad(model(x[i:i + 1])[0, a], w)
    gj = torch.autograd.grad(model(x[j:j + 1])[0, b], w)
    return sum((u * v).sum() for u, v in zip(gi, gj, strict=True)).item()


@pytest.mark.parametrize("method", ["jacrev", "products"])
def test_one_kernel_entry_equals_the_explicit_dot_product(method):
    m, x = _net(), _x(4)
    k = ntk.empirical_ntk(m, x, kind="full", method=method)
    assert k.shape == (4, 4, 10, 10)
    for (i, a, j, b) in [(0, 3, 2, 7), (1, 1, 1, 1), (3, 0, 0, 9)]:
        ref = _explicit_entry(m, x, i, a, j, b)
        assert k[i, j, a, b].item() == pytest.approx(ref, rel=1e-4, abs=1e-4)


def test_methods_agree_and_the_kernel_is_symmetric_psd():
    m, x1, x2 = _net(), _x(3), _x(5, seed=1)
    a = ntk.empirical_ntk(m, x1, x2, method="jacrev")
    b = ntk.empirical_ntk(m, x1, x2, method="products", chunk=7)
    assert a.shape == (3, 5, 10, 10)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-3)
    kk = ntk.as_matrix(ntk.empirical_ntk(m, x1))
    assert torch.allclose(kk, kk.T, rtol=1e-4, atol=1e-3)
    assert torch.linalg.eigvalsh(kk.double()).min() > -1e-3 * kk.abs().max()


def test_pseudo_ntk_is_the_class_averaged_kernel():
    m, x = _net(), _x(3)
    full = ntk.empirical_ntk(m, x, kind="full", method="jacrev")
    for method in ("jacrev", "products"):
        p = ntk.empirical_ntk(m, x, kind="pntk", method=method)
        assert p.shape == (3, 3)
        assert torch.allclose(p, full.sum((2, 3)) / 10, rtol=1e-4, atol=1e-3)


def test_pruned_weights_do_not_enter_the_kernel():
    m, x = _net(), _x(3)
    masks = prune.random_masks(m, 0.3)
    layers.set_fixed_masks(m, masks)
    k = ntk.empirical_ntk(m, x, kind="pntk", method="jacrev")
    # the same kernel by hand, from per-example gradients restricted to the kept weights
    rows = []
    for i in range(3):
        ws = [layer.weight for _, layer in layers.masked_layers(m)]
        for w in ws:
            w.requires_grad_(True)
        g = torch.autograd.grad(m(x[i:i + 1]).sum() / 10 ** 0.5, ws)
        rows.append(torch.cat([(gg * layer.mask).flatten() for gg, (_, layer)
                               in zip(g, layers.masked_layers(m), strict=True)]))
    gm = torch.stack(rows)
    assert torch.allclose(k, gm @ gm.T, rtol=1e-4, atol=1e-4)


def test_model_mode_is_restored_and_bad_input_refused():
    m = _net()
    m.train()
    ntk.empirical_ntk(m, _x(2), kind="pntk")
    assert m.training
    with pytest.raises(config.ConfigError, match="kind"):
        ntk.empirical_ntk(m, _x(2), kind="diag")
    with pytest.raises(config.ConfigError, match="method"):
        ntk.empirical_ntk(m, _x(2), method="finite")
    with pytest.raises(config.ConfigError, match="image batches"):
        ntk.empirical_ntk(m, torch.rand(2, 3 * 32 * 32))


def test_kernel_distance_and_output_gap():
    m, x = _net(), _x(3)
    k = ntk.empirical_ntk(m, x, kind="pntk")
    assert ntk.kernel_distance(k, 3.0 * k) == pytest.approx(0.0, abs=1e-9)
    e1, e2 = torch.zeros(2, 2), torch.zeros(2, 2)
    e1[0, 0], e2[1, 1] = 1.0, 1.0
    assert ntk.kernel_distance(e1, e2) == pytest.approx(1.0)
    other = ntk.empirical_ntk(_net(seed=1), x, kind="pntk")
    assert 0.0 < ntk.kernel_distance(k, other) <= 1.0
    with pytest.raises(config.ConfigError, match="shapes"):
        ntk.kernel_distance(k, torch.zeros(4, 4))
    assert ntk.output_gap(m, copy.deepcopy(m), x) == 0.0
    assert ntk.output_gap(_net(seed=1), m, x) > 0.1


def test_neural_tangent_transfer_lowers_its_loss_and_keeps_the_weights():
    teacher = _net()
    teacher.train()
    student = copy.deepcopy(teacher)
    layers.set_mode(student, "search")
    layers.set_remaining(student, 0.1)
    weights = {n: m.weight.detach().clone() for n, m in layers.masked_layers(student)}
    spec = ntt.NTTSpec(steps=20, batch=16, kernel_probes=4, lr=0.02)
    masks, hist = ntt.neural_tangent_transfer(student, teacher, _x(64), spec)
    losses = [h["loss"] for h in hist if "loss" in h]
    assert len(losses) == 20 and hist[-1]["seconds"] > 0
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first, f"NTT loss did not fall: {first:.3f} -> {last:.3f}"
    assert abs(density(masks) - 0.1) < 0.01
    for n, layer in layers.masked_layers(student):
        assert torch.equal(layer.weight, weights[n]), "NTT must not change the weights"
        assert not layer.weight.requires_grad
    assert ntt.ntt_passes(spec) > 0


def test_ntt_refuses_a_student_not_in_search_mode_and_bad_specs():
    t = _net()
    with pytest.raises(config.ConfigError, match="search"):
        ntt.neural_tangent_transfer(copy.deepcopy(t), t, _x(8), ntt.NTTSpec(steps=1, batch=4,
                                                                           kernel_probes=2))
    with pytest.raises(config.ConfigError, match="kernel_probes"):
        ntt.NTTSpec(batch=4, kernel_probes=8).validate()
    with pytest.raises(config.ConfigError, match="steps"):
        ntt.NTTSpec(steps=0).validate()
