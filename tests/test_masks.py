"""The mask registry: every method by name, one call, the asked sparsity; unknown names refused
with the list; masks as bits (tickets saved and loaded elsewhere, tests/test_store.py)."""

import copy

import pytest
import torch

from tickets import config, layers, masks, models
from tickets.masks import registry

SPEC = masks.MaskSpec(ntt=masks.NTTSpec(steps=2, batch=16, kernel_probes=2), n_probes=32,
                      probe_steps=1, snip_batch=32)


def _net(seed=0):
    return models.build("conv2", width=0.25, masked=True, init="kaiming_normal", init_seed=seed)


def test_the_registry_lists_every_method_once_in_order():
    assert masks.method_names() == ("awt", "ntt_clean", "random", "magnitude_init", "snip",
                                    "magnitude")
    assert masks.method_names(at_init=True) == ("awt", "ntt_clean", "random", "magnitude_init",
                                                "snip")
    assert masks.method_names(at_init=False) == ("magnitude",)
    with pytest.raises(ValueError, match="registered already"):
        masks.register(masks.MaskMethod("random", "again", lambda m, r: masks.Mask({})))


@pytest.mark.parametrize("method", masks.method_names())
@pytest.mark.parametrize("remaining", [0.3, 0.05])
def test_every_method_makes_a_mask_of_the_asked_sparsity(synth, method, remaining):
    net = _net()
    before = copy.deepcopy(net.state_dict())
    made = masks.make_mask(method, net, remaining, data=synth, spec=SPEC)
    got = made.masks
    assert set(got) == {n for n, _ in layers.masked_layers(net)}
    for n, layer in layers.masked_layers(net):
        assert got[n].dtype == torch.bool and got[n].device.type == "cpu"
        assert got[n].shape == layer.weight.shape
    total = sum(m.numel() for m in got.values())
    kept = sum(int(m.sum()) for m in got.values())
    # global methods keep round(r * total); layer-uniform ones round per layer
    assert abs(kept - remaining * total) <= len(got), (method, kept, remaining * total)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the network is unchanged"
    if method in ("awt", "ntt_clean"):
        assert made.info["passes"] > 0 and len(made.info["history"]) == SPEC.ntt.steps
    else:
        assert made.info == {}


def test_make_mask_is_the_primitive_it_names(synth):
    """The registry adds no randomness of its own: the same masks as the functions it calls."""
    net = _net(seed=3)
    layers.set_mode(net, "fixed")
    same = [("random", masks.random_masks(net, 0.2, seed=7), {"seed": 7}),
            ("magnitude_init", masks.magnitude_masks(net, 0.2, normalise=False), {}),
            ("magnitude", masks.magnitude_masks(net, 0.2, normalise=True), {})]
    for method, ref, kw in same:
        got = masks.make_mask(method, net, 0.2, **kw).masks
        assert all(torch.equal(got[n], ref[n]) for n in ref), method
    prev = masks.magnitude_masks(net, 0.5)
    nested = masks.make_mask("magnitude", net, 0.25, previous=prev).masks
    assert all(not (nested[n] & ~prev[n]).any() for n in prev)
    a = masks.make_mask("random", net, 0.2, seed=1).masks
    assert any(not torch.equal(a[n], same[0][1][n]) for n in a), "the seed is used"


def test_unknown_methods_and_missing_inputs_are_refused_with_the_list():
    with pytest.raises(config.ConfigError, match=r"method='grasp'.*'awt'.*'magnitude'"):
        masks.make_mask("grasp", _net(), 0.5)
    with pytest.raises(config.ConfigError, match=r"methods='magnitude'.*at initialisation"):
        masks.check_method("magnitude", "methods", at_init=True)
    assert masks.check_method("snip").label == "SNIP"
    with pytest.raises(config.ConfigError, match="reads training images"):
        masks.make_mask("snip", _net(), 0.5)
    with pytest.raises(config.ConfigError, match="remaining"):
        masks.make_mask("random", _net(), 0.0)
    with pytest.raises(config.ConfigError, match="n_probes"):
        masks.make_mask("random", _net(), 0.5, spec=masks.MaskSpec(n_probes=0))


def test_adversarial_probes_differ_from_clean_ones(synth):
    net = _net()
    clean = registry.probe_pool(net, synth, 16, False, 1, 8 / 255)
    adv = registry.probe_pool(net, synth, 16, True, 2, 8 / 255)
    assert torch.equal(clean, synth.train.head(16).images())
    gap = (adv - clean).abs().amax()
    assert 0 < gap <= 8 / 255 + 1e-6


def test_bits_round_trip_and_tag():
    net = _net()
    layers.set_mode(net, "fixed")
    m = masks.random_masks(net, 0.3, seed=2)
    names, shapes, bits = masks.bits.pack_bits(m)
    back = masks.bits.unpack_bits(names, shapes, bits)
    assert list(back) == list(m) and all(torch.equal(back[n], m[n]) for n in m)
    assert bits.numel() == -(-sum(t.numel() for t in m.values()) // 8)
    other = masks.random_masks(net, 0.3, seed=3)
    assert masks.mask_tag(m) == masks.mask_tag(back) != masks.mask_tag(other)
    assert masks.density(m) == pytest.approx(0.3, abs=0.01)
    assert masks.mask_overlap(m, m) == 1.0


def test_masks_go_into_a_state_and_come_back():
    net = _net()
    m = masks.random_masks(net, 0.4, seed=1)
    state = masks.with_masks(masks.init_state(net.cfg), m)
    back = masks.state_masks(state)
    assert set(back) == set(m) and all(torch.equal(back[n], m[n]) for n in m)
    assert all(bool(v.all()) for v in masks.state_masks(masks.init_state(net.cfg)).values())
    with pytest.raises(KeyError, match="do not match"):
        masks.with_masks(state, {"nope": m[next(iter(m))]})
