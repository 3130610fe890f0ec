import pytest
import torch

from tickets import config, layers, models, train
from tickets.masks import density, mask_overlap, prune
from tickets.store import Store


def _net(seed=0, width=0.25, name="conv2"):
    m = models.build(name, width=width, masked=True, init="kaiming_normal", init_seed=seed)
    layers.set_mode(m, "fixed")
    return m


def _total(masks):
    return sum(m.numel() for m in masks.values())


@pytest.mark.parametrize("remaining", [1.0, 0.5, 0.1, 0.013])
def test_magnitude_keeps_the_global_fraction(remaining):
    masks = prune.magnitude_masks(_net(), remaining)
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == max(1, round(remaining * _total(masks)))
    assert {n for n, _ in layers.masked_layers(_net())} == set(masks)
    assert all(m.dtype == torch.bool for m in masks.values())


def test_layer_normalisation_protects_small_scale_layers():
    m = _net()
    names = [n for n, _ in layers.masked_layers(m)]
    small = dict(layers.masked_layers(m))[names[0]]
    with torch.no_grad():
        small.weight.mul_(1e-3)  # a layer whose weights are 1000x smaller than the others
    plain = prune.magnitude_masks(m, 0.3, normalise=False)
    normed = prune.magnitude_masks(m, 0.3, normalise=True)
    assert plain[names[0]].sum() == 0, "global magnitude without normalisation empties it"
    assert normed[names[0]].float().mean() > 0.1, "layer-mean normalisation keeps some of it"
    # with normalisation, a uniform rescaling of one layer changes nothing
    m2 = _net()
    with torch.no_grad():
        dict(layers.masked_layers(m2))[names[0]].weight.mul_(1e-3)
    ref = prune.magnitude_masks(_net(), 0.3, normalise=True)
    again = prune.magnitude_masks(m2, 0.3, normalise=True)
    assert all(torch.equal(ref[n], again[n]) for n in ref)


def test_magnitude_keeps_the_largest_weights():
    m = _net()
    masks = prune.magnitude_masks(m, 0.2, normalise=False)
    for name, layer in layers.masked_layers(m):
        w = layer.weight.detach().abs()
        if masks[name].any() and (~masks[name]).any():
            assert w[masks[name]].min() >= w[~masks[name]].max()


def test_previous_mask_is_respected():
    m = _net()
    first = prune.magnitude_masks(m, 0.5)
    second = prune.magnitude_masks(m, 0.25, previous=first)
    assert all(not (second[n] & ~first[n]).any() for n in first), "pruned weights stay pruned"
    assert abs(density(second) - 0.25) < 1e-3
    with pytest.raises(config.ConfigError, match="previous mask keeps only"):
        prune.magnitude_masks(m, 0.6, previous=first)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, True, "0.5"])
def test_bad_remaining_is_refused(bad):
    with pytest.raises(config.ConfigError, match="remaining"):
        prune.magnitude_masks(_net(), bad)
    with pytest.raises(config.ConfigError, match="remaining"):
        prune.random_masks(_net(), bad)


def test_dense_model_is_refused():
    m = models.build("conv2", width=0.25, masked=False)
    with pytest.raises(config.ConfigError, match="masked=True"):
        prune.magnitude_masks(m, 0.5)


def test_random_masks_are_layer_uniform_and_seeded():
    m = _net()
    a, b, c = (prune.random_masks(m, 0.2, seed=s) for s in (0, 0, 1))
    for n, mask in a.items():
        assert int(mask.sum()) == layers.kept_count(mask.numel(), 0.2)
        assert torch.equal(mask, b[n])
    assert any(not torch.equal(a[n], c[n]) for n in a)
    assert mask_overlap(a, a) == 1.0
    assert 0.05 < mask_overlap(a, c) < 0.5  # about 0.2 for independent draws


def test_snip_scores_and_model_left_unchanged(synth):
    m = _net()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x, y = synth.train.images(slice(0, 64)), synth.train.y[:64]
    masks = prune.snip_masks(m, x, y, 0.1)
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "SNIP changed the model"
    assert all(layer.mode == "fixed" for _, layer in layers.masked_layers(m))
    assert abs(density(masks) - 0.1) < 1e-3
    # the kept weights are those of largest |w * dL/dw|, recomputed here by hand
    ref = _net()
    layers.set_mode(ref, "dense")
    ref.train()
    loss = torch.nn.functional.cross_entropy(ref(x), y)
    ws = [layer.weight for _, layer in layers.masked_layers(ref)]
    grads = torch.autograd.grad(loss, ws)
    s = torch.cat([(w * g).abs().flatten() for w, g in zip(ws, grads, strict=True)])
    kept = torch.cat([masks[n].flatten() for n, _ in layers.masked_layers(ref)])
    assert s[kept].min() >= s[~kept].max() - 1e-12


def test_training_keeps_pruned_weights_at_zero(synth, tmp_path):
    cfg = config.RunConfig(
        model=config.ModelConfig(name="conv2", width=0.25, init="kaiming_normal"),
        data=synth.cfg,
        train=config.TrainConfig(trainable="weights", remaining=0.3, epochs=1, batch_size=128,
                                 weight_decay=5e-4, adversary=config.AttackConfig(kind="none"),
                                 n_val_eval=0))
    m = _net()
    masks = prune.random_masks(m, 0.3)
    layers.set_fixed_masks(m, masks)
    with torch.no_grad():  # pruned weights start non-zero: training must zero them
        for _, layer in layers.masked_layers(m):
            layer.weight.add_(0.01)
    run = train.train(cfg, synth, Store(tmp_path), device="cpu", progress=False,
                      init_state=m.state_dict())
    trained = run.model("last", device="cpu")
    for name, layer in layers.masked_layers(trained):
        assert torch.equal(layer.mask.bool(), masks[name])
        assert (layer.weight[~masks[name]] == 0).all(), name
        assert (layer.weight[masks[name]] != 0).any(), name
