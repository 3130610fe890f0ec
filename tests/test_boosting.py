"""Boosting tickets, IMP and the AWT study functions at toy scale, and the verdict rules of
claims boost-1..3 and awt-1..3 on constructed tables."""

import pandas as pd
import pytest
import torch

from tickets import awt, boosting, claims, layers, prune
from tickets import experiments as ex
from tickets.config import replace
from tickets.ntk import NTTSpec
from tickets.store import Store


@pytest.fixture(scope="module")
def cfg(synth):
    c = ex.base_config(model="conv2", width=0.25, dataset="synthetic", n_train=512, n_val=128,
                       epochs=2, batch_size=128, adversary="fgsm", adv_steps=1, val_steps=1,
                       n_val_eval=64, track_test=False)
    return c


def test_ticket_retraining_rewinds_to_the_init_under_the_mask(cfg, synth, tmp_path):
    store = Store(tmp_path)
    pre = boosting.pretrain(cfg, 0.05, 1, synth, store=store, progress=False)
    masks = boosting.ticket_masks(pre, 0.2)
    assert abs(prune.density(masks) - 0.2) < 1e-3
    run = boosting.retrain(cfg, masks, "t", synth, epochs=1, warmup=1, store=store,
                           progress=False)
    trained = run.model("last", device="cpu")
    init = boosting.init_state(boosting.weight_config(cfg))
    for name, layer in layers.masked_layers(trained):
        assert torch.equal(layer.mask.bool(), masks[name])
        assert (layer.weight[~masks[name]] == 0).all()
        assert not torch.equal(layer.weight, init[f"{name}.weight"] * layer.mask), "trained"
    reinit = boosting.retrain(cfg, masks, "t", synth, epochs=1, warmup=1, reinit=True,
                              store=store, progress=False)
    assert reinit.directory != run.directory
    assert run.passes == reinit.passes == 512 * 2  # FGSM: 1 attack pass + 1 update pass


def test_imp_masks_are_nested_and_shrink_geometrically(cfg, synth, tmp_path):
    rounds = boosting.iterative_magnitude_pruning(cfg, 2, 0.5, synth, rewind_epoch=1,
                                                  epochs=1, store=Store(tmp_path),
                                                  progress=False)
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert [round(r["remaining"], 3) for r in rounds] == [1.0, 0.5, 0.25]
    for a, b in zip(rounds, rounds[1:], strict=False):
        assert all(not (b["masks"][n] & ~a["masks"][n]).any() for n in a["masks"])
    with pytest.raises(ValueError, match="prune_fraction"):
        boosting.iterative_magnitude_pruning(cfg, 1, 1.0, synth, store=Store(tmp_path))
    with pytest.raises(ValueError, match="rewind_epoch"):
        boosting.iterative_magnitude_pruning(cfg, 1, 0.5, synth, rewind_epoch=5, epochs=1,
                                             store=Store(tmp_path))


def test_epoch_model_needs_saved_epochs(cfg, synth, tmp_path):
    run = boosting.dense_at(cfg, synth, epochs=1, store=Store(tmp_path), progress=False)
    with pytest.raises(FileNotFoundError, match="save_epochs=True"):
        run.epoch_model(1)


def test_awt_masks_have_their_sparsity_and_are_cached(cfg, synth, tmp_path):
    store = Store(tmp_path)
    spec = awt.MaskSpec(ntt=NTTSpec(steps=2, batch=16, kernel_probes=2), n_probes=32,
                        probe_steps=1, snip_batch=32)
    for method in awt.METHODS:
        masks, info = awt.find_mask(cfg, method, 0.9, synth, spec, store, progress=False)
        assert abs(prune.density(masks) - 0.1) < 0.01, method
        again, _ = awt.find_mask(cfg, method, 0.9, synth, spec, store, progress=False)
        assert all(torch.equal(masks[n], again[n]) for n in masks)
    a, _ = awt.find_mask(cfg, "awt", 0.9, synth, spec, store, progress=False)
    c, _ = awt.find_mask(cfg, "ntt_clean", 0.9, synth, spec, store, progress=False)
    assert any(not torch.equal(a[n], c[n]) for n in a), "adversarial and clean probes differ"
    with pytest.raises(Exception, match="method"):
        awt.find_mask(cfg, "grasp", 0.9, synth, spec, store)
    with pytest.raises(Exception, match="sparsity"):
        awt.find_mask(cfg, "random", 1.0, synth, spec, store)


def test_early_boost_and_passes_to_reach():
    curves = pd.DataFrame({
        "kind": ["ticket"] * 3 + ["random re-init"] * 3,
        "remaining": [0.2] * 6, "epoch": [1, 2, 3] * 2,
        "val_robust": [0.2, 0.3, 0.4, 0.1, 0.2, 0.35], "val_clean": [0.5, 0.6, 0.7, 0.4, 0.5, 0.6],
        "passes": [10, 20, 30] * 2})
    b = boosting.early_boost(curves, "remaining", 2)
    assert b["boost_robust"].iloc[0] == pytest.approx(0.1)
    assert boosting.passes_to_reach(curves, "ticket", 0.3) == 20
    assert boosting.passes_to_reach(curves, "random re-init", 0.5) != boosting.passes_to_reach(
        curves, "random re-init", 0.5)  # NaN: never reached


def _early(accs):
    return pd.DataFrame({"prune_lr": [0.01, 0.05, 0.1], "early_robust": accs})


def _boost(peak_at):
    pruned = [0.5, 0.8, 0.9, 0.95]
    return pd.DataFrame({"pruned": pruned,
                         "boost_robust": [0.05 if p == peak_at else 0.0 for p in pruned]})


@pytest.mark.parametrize("accs,peak,expected", [
    ([0.30, 0.28, 0.25], 0.8, "reproduced"),
    ([0.30, 0.31, 0.25], 0.8, "partly"),       # not monotone
    ([0.30, 0.28, 0.25], 0.95, "partly"),      # boost peaks outside 60-90 %
    ([0.25, 0.28, 0.25], 0.8, "not reproduced"),
])
def test_verdict_boosting(accs, peak, expected):
    assert claims.verdict_boosting(_early(accs), _boost(peak), 250).verdict == expected


@pytest.mark.parametrize("ticket_pgd,ticket_passes,expected", [
    (0.30, 600, "reproduced"), (0.295, 600, "reproduced"), (0.25, 600, "partly"),
    (0.30, 1200, "partly"), (0.25, 1200, "not reproduced")])
def test_verdict_fgsm_ticket(ticket_pgd, ticket_passes, expected):
    t = pd.DataFrame({"kind": ["dense PGD-AT", "FGSM ticket + PGD retraining"],
                      "pgd20": [0.30, ticket_pgd], "clean": [0.5, 0.5], "epochs": [5, 3],
                      "total_passes": [1000, ticket_passes], "total_seconds": [10.0, 6.0],
                      "n_test": [500, 500]})
    assert claims.verdict_fgsm_ticket(t).verdict == expected


@pytest.mark.parametrize("drops,expected", [((0.10, 0.01), "reproduced"),
                                            ((0.02, 0.01), "partly"),
                                            ((0.01, 0.03), "not reproduced")])
def test_verdict_collapse(drops, expected):
    t = pd.DataFrame({"width": [0.125, 0.5], "drop_pgd20": list(drops),
                      "dense_pgd20": [0.2, 0.3], "ticket_pgd20": [0.1, 0.29]})
    assert claims.verdict_collapse(t).verdict == expected


def _awt_table(awt_acc, base_acc, dense=0.30):
    rows = [{"method": "dense", "sparsity": 0.0, "pgd20": dense, "n_test": 500}]
    for s, a, b in zip([0.8, 0.9], awt_acc, base_acc, strict=True):
        rows += [{"method": "awt", "sparsity": s, "pgd20": a, "n_test": 500},
                 {"method": "random", "sparsity": s, "pgd20": b, "n_test": 500}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("awt_acc,base_acc,expected", [
    ((0.29, 0.29), (0.2, 0.2), "reproduced"),
    ((0.29, 0.20), (0.2, 0.25), "partly"),
    ((0.20, 0.20), (0.25, 0.25), "not reproduced")])
def test_verdict_awt_parity(awt_acc, base_acc, expected):
    assert claims.verdict_awt_parity(_awt_table(awt_acc, base_acc)).verdict == expected


@pytest.mark.parametrize("awt_vals,expected", [((0.1, 0.1), "reproduced"),
                                               ((0.1, 0.9), "partly"),
                                               ((0.9, 0.9), "not reproduced")])
def test_verdict_awt_dynamics(awt_vals, expected):
    rows = []
    for s, v in zip([0.8, 0.9], awt_vals, strict=True):
        rows += [{"sparsity": s, "method": "awt", "kernel_distance_adv": v, "output_gap_adv": v},
                 {"sparsity": s, "method": "snip", "kernel_distance_adv": 0.5,
                  "output_gap_adv": 0.5}]
    assert claims.verdict_awt_dynamics(pd.DataFrame(rows)).verdict == expected


@pytest.mark.parametrize("gaps,expected", [((0.1, 0.05, 0.01), "reproduced"),
                                           ((0.1, 0.12, 0.05), "partly"),
                                           ((0.05, 0.06, 0.08), "not reproduced")])
def test_verdict_awt_width(gaps, expected):
    t = pd.DataFrame({"width": [0.125, 0.25, 0.5], "method": "awt", "gap_pgd20": list(gaps),
                      "pgd20": 0.2, "n_test": 500})
    assert claims.verdict_awt_width(t).verdict == expected


def test_dynamics_start_from_the_shared_init_and_agree_across_kernel_methods(cfg, synth,
                                                                            tmp_path):
    spec = awt.MaskSpec(ntt=NTTSpec(steps=1, batch=8, kernel_probes=2), n_probes=16,
                        probe_steps=1, snip_batch=32)
    ev = ex.EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=False)
    c1 = replace(cfg, **{"train.epochs": 1})
    table, runs = awt.study(c1, [0.9], ["random"], synth, ev, spec, store=Store(tmp_path),
                            progress=False)
    assert set(table["method"]) == {"dense", "random"}
    a = awt.dynamics(runs, synth, n_probes=3, kind="pntk", method="jacrev",
                     store=Store(tmp_path / "a"), progress=False)
    b = awt.dynamics(runs, synth, n_probes=3, kind="pntk", method="products",
                     store=Store(tmp_path / "b"), progress=False)
    assert list(a["epoch"]) == [0, 1] and set(a["method"]) == {"random"}
    cols = ["kernel_distance_clean", "kernel_distance_adv", "output_gap_clean",
            "output_gap_adv"]
    assert ((a[cols] - b[cols]).abs() < 1e-3).all().all()
    assert (a["kernel_distance_clean"] > 0).all(), "a 90 %-pruned net has another kernel"
