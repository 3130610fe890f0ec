"""The studies' building blocks at toy scale: boosting tickets, IMP, the AWT masks and
dynamics, the dense baselines, the lottery states, the transfer matrix and the R2S
evaluations."""

import pandas as pd
import pytest
import torch

from tickets import layers, prune
from tickets.config import replace
from tickets.evaluation import EvalSpec
from tickets.masks import init_state
from tickets.ntk import NTTSpec
from tickets.recipes import base_config
from tickets.store import Store
from tickets.studies import awt, boosting


@pytest.fixture(scope="module")
def cfg(synth):
    c = base_config(model="conv2", width=0.25, dataset="synthetic", n_train=512, n_val=128,
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
    init = init_state(boosting.boost_config(cfg).model)
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


def test_dynamics_start_from_the_shared_init_and_agree_across_kernel_methods(cfg, synth,
                                                                            tmp_path):
    spec = awt.MaskSpec(ntt=NTTSpec(steps=1, batch=8, kernel_probes=2), n_probes=16,
                        probe_steps=1, snip_batch=32)
    ev = EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=False)
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
