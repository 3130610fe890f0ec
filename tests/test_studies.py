"""The studies' building blocks at toy scale: boosting tickets, IMP, the AWT masks and
dynamics, the dense baselines, the lottery states, the transfer matrix and the R2S
evaluations."""

import numpy as np
import pandas as pd
import pytest
import torch

from tickets import layers
from tickets.config import replace
from tickets.evaluation import EvalSpec
from tickets.masks import NTTSpec, density, init_state
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
    assert abs(density(masks) - 0.2) < 1e-3
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
        assert abs(density(masks) - 0.1) < 0.01, method
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


def test_boosting_runs_every_seed_and_its_verdicts_count_them(cfg, synth, tmp_path):
    """Two search seeds: the curves, the tables and the capacity rows hold both, and boost-1
    and boost-2 report two seeds (shown, not graded: the design needs three)."""
    from tickets.claims import boosting as cb

    store, ev = Store(tmp_path), EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=False)
    c1 = replace(cfg, **{"train.epochs": 1})
    curves, final = boosting.convergence(c1, [0.01, 0.1], 0.2, synth, ev, 1, 1, store=store,
                                         progress=False, seeds=[0, 1])
    sweep = boosting.ratio_sweep(c1, 0.01, [0.5, 0.2], synth, 1, 1, store=store,
                                 progress=False, seeds=[0, 1])
    cost, cost_curves = boosting.fgsm_ticket_cost(c1, 0.01, 0.2, synth, ev, 1, 1, 1,
                                                  store=store, progress=False, seeds=[0, 1])
    for t in (curves, final, sweep, cost, cost_curves):
        assert sorted(t["seed"].unique()) == [0, 1]
    assert len(final) == 2 * 3 and len(cost) == 2 * 2
    seed0 = final[final["seed"] == 0]
    assert (final[final["seed"] == 1]["clean_correct"].to_numpy()
            != seed0["clean_correct"].to_numpy()).any(), "another seed trains other nets"
    early = boosting.early_accuracy(curves[curves["kind"].str.startswith("ticket")],
                                    "prune_lr", 1)
    boost = boosting.early_boost(sweep, "pruned", 1)
    assert len(early) == 2 * 2 and len(boost) == 2 * 2
    for v in (cb.verdict_boosting(early, boost, 64), cb.verdict_fgsm_ticket(cost)):
        assert v.parts and all(p["n_seeds"] == 2 and not p["graded"] for p in v.parts), v.reason
    reach = boosting.passes_to_reach(cost_curves, "dense PGD-AT", 0.0)
    dense_curves = cost_curves[cost_curves["kind"] == "dense PGD-AT"]
    assert reach == dense_curves[dense_curves["epoch"] == 1]["passes"].mean()


def test_awt_study_runs_every_seed_and_its_verdicts_count_them(cfg, synth, tmp_path):
    """Two search seeds: the table, the runs, the dynamics and the width trend hold both (each
    seed's masks set against its own dense net), and awt-1, awt-2 and awt-3 report two
    seeds."""
    from tickets.claims import awt as ca

    spec = awt.MaskSpec(ntt=NTTSpec(steps=1, batch=8, kernel_probes=2), n_probes=16,
                        probe_steps=1, snip_batch=32)
    ev = EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=False)
    c1 = replace(cfg, **{"train.epochs": 1})
    store = Store(tmp_path)
    table, runs = awt.study(c1, [0.9], ["awt", "random"], synth, ev, spec, store=store,
                            progress=False, seeds=[0, 1])
    assert sorted(runs) == sorted((m, s, seed) for seed in (0, 1) for m, s in
                                  (("dense", 0.0), ("awt", 0.9), ("random", 0.9)))
    assert sorted(table["seed"]) == [0, 0, 0, 1, 1, 1]
    assert runs[("dense", 0.0, 0)].cfg.model.init_seed != runs[("dense", 0.0, 1)].cfg.model.init_seed
    assert awt.seed_spec(spec, 0) is spec and awt.seed_spec(spec, 2).ntt.seed == spec.ntt.seed + 2
    dyn = awt.dynamics(runs, synth, n_probes=3, kind="pntk", store=store, progress=False)
    assert len(dyn) == 2 * 2 * 2 and sorted(dyn["seed"].unique()) == [0, 1]
    trend = awt.width_trend(c1, [0.25, 0.5], 0.9, ["awt"], synth, ev, spec, store=store,
                            progress=False, seeds=[0, 1])
    assert len(trend) == 2 * 2
    assert (trend["gap_pgd"] == trend["dense_pgd"] - trend["pgd"]).all()
    same = trend[trend["width"] == 0.25].set_index("seed")
    dense = table[table["method"] == "dense"].set_index("seed")
    assert (same["dense_pgd"] == dense["pgd"]).all(), "each seed's own dense net"
    for v in (ca.verdict_awt_parity(table), ca.verdict_awt_dynamics(dyn),
              ca.verdict_awt_width(trend)):
        assert v.parts and all(p["n_seeds"] == 2 for p in v.parts), v.reason
    with pytest.raises(ValueError, match="no dense run"):
        awt.dynamics({k: r for k, r in runs.items() if k != ("dense", 0.0, 1)}, synth,
                     n_probes=3, store=store, progress=False)


# ---- studies 01-08 ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rst_cfg():
    return base_config(model="conv2", width=0.25, dataset="synthetic", n_train=256, n_val=64,
                       epochs=1, batch_size=128, adversary="fgsm", adv_steps=1, val_steps=1,
                       n_val_eval=32, track_test=True)


@pytest.fixture(scope="module")
def rst_store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("rst-store"))


SPEC = EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=True)


def test_dense_baselines_match_the_budget_and_the_best_tickets_size(rst_cfg, synth, rst_store):
    from tickets.studies import existence
    from tickets.sweeps import rst_sweep

    rst = rst_sweep(rst_cfg, [0.1, 0.5], synth, SPEC, rst_store, progress=False)
    dense = existence.dense_baselines(rst_cfg, rst, synth, SPEC, rst_store, progress=False)
    assert list(dense["kind"]) == [existence.SAME_WIDTH, existence.RST_SIZE]
    assert (dense["passes"] == rst["passes"].iloc[0]).all(), "same budget in passes"
    assert rst["val_pgd"].notna().all() and dense["val_pgd"].notna().all()
    best_kept = rst.loc[rst.groupby("remaining", sort=False)["val_pgd"].mean().idxmax() ==
                        rst["remaining"], "kept_params"].iloc[0]
    assert existence.best_rst_kept(rst) == best_kept
    assert abs(dense["total_params"].iloc[1] / best_kept - 1) < 0.25
    assert dense["paper_pgd"].notna().all(), "the paper protocol ran on the test-chosen epoch"
    models = existence.evaluated_models(rst_cfg, [0.5, 0.1], dense)
    assert list(models)[:2] == ["RST r=0.1", "RST r=0.5"] and len(models) == 4
    assert not models[existence.SAME_WIDTH].model.masked


def test_sanity_checks_and_r2s_transfer_reuse_the_dense_baselines(rst_cfg, synth, rst_store,
                                                                   monkeypatch):
    """Study 01's sanity checks and study 08's transfer source are the very dense runs that
    study 01 trained at its own dense lr: once those exist, nothing trains again."""
    from tickets import train as train_mod
    from tickets.config import config_hash
    from tickets.evaluation import sanity_checks
    from tickets.recipes import dense_config
    from tickets.studies import existence, r2s_attacks
    from tickets.sweeps import rst_sweep

    lr = rst_cfg.train.lr / 2  # unlike the search's lr, as in the cpu profile
    rst = rst_sweep(rst_cfg, [0.1, 0.5], synth, SPEC, rst_store, progress=False)
    dense = existence.dense_baselines(rst_cfg, rst, synth, SPEC, rst_store, lr=lr,
                                      progress=False)
    assert (dense["lr"] == lr).all()
    models = existence.evaluated_models(rst_cfg, [0.1, 0.5], dense)
    trained = {config_hash(dense_config(rst_cfg, w, lr)) for w in dense["width"]}
    assert {config_hash(models[k]) for k in (existence.SAME_WIDTH, existence.RST_SIZE)} == trained

    def no_training(*a, **k):
        raise AssertionError("a configuration was trained a second time")

    monkeypatch.setattr(train_mod, "_step", no_training)
    sanity_checks({k: models[k] for k in (existence.SAME_WIDTH,)}, synth, n=8,
                  square_queries=5, store=rst_store)
    res = r2s_attacks.r2s_evaluation(rst_cfg, [0.1, 0.5], synth, SPEC, n=16, eot_n=1, draws=1,
                                     aa_n=0, store=rst_store, dense_lr=lr)
    assert res["rows"][-1]["evaluation"].startswith("5 ")


def test_lottery_reinit_keeps_the_mask_and_draws_new_weights(rst_cfg, synth, rst_store):
    from tickets.masks import fixed_mask_state
    from tickets.recipes import rst_config
    from tickets.studies import lottery
    from tickets.train import train

    run = train(rst_config(rst_cfg, 0.1), synth, rst_store, device="cpu", progress=False)
    inherit = fixed_mask_state(run.model("best", device="cpu"))
    reinit = lottery.reinit_state(inherit, rst_cfg)
    masks = [k for k in inherit if k.endswith(".mask")]
    weights = [k for k in inherit if k.endswith("weight") and "bn" not in k]
    assert masks and all(torch.equal(inherit[k], reinit[k]) for k in masks)
    assert all(not torch.equal(inherit[k], reinit[k]) for k in weights if inherit[k].dim() > 1)


def test_transfer_matrix_diagonal_is_the_white_box_attack(rst_cfg, synth, rst_store):
    from tickets.recipes import attack_config
    from tickets.studies import transferability

    attack = attack_config("pgd", 8 / 255, 3)
    m = transferability.transfer_matrix(rst_cfg, [0.1, 0.5], synth, attack, 32, rst_store)
    assert m.shape == (2, 2) and ((m >= 0) & (m <= 1)).all().all()
    again = transferability.transfer_matrix(rst_cfg, [0.1, 0.5], synth, attack, 32, rst_store)
    assert m.equals(again), "cached"
    diag, off = transferability.diagonal_and_transfer(m)
    assert list(diag) == [m.iloc[0, 0], m.iloc[1, 1]] and len(off) == 2
    summary = transferability.transfer_summary({"strict": m})
    assert summary["diagonal (white-box)"].iloc[0] == pytest.approx(100 * diag.mean())


def test_transfer_over_seeds_keeps_each_seeds_outcomes_and_averages_the_matrix(rst_cfg, synth,
                                                                                rst_store):
    from tickets.claims import rst as claims
    from tickets.recipes import attack_config
    from tickets.studies import transferability

    attack = attack_config("pgd", 8 / 255, 3)
    ratios = [0.1, 0.5]
    both = transferability.transfer_outcomes(rst_cfg, ratios, synth, attack, 32, rst_store,
                                             seeds=[0, 1])
    assert set(both) == {f"{a}->{b}" for a in ratios for b in ratios}
    assert all(len(v) == 2 and all(len(o) == 32 for o in v) for v in both.values())
    for i, seed in enumerate([0, 1]):
        alone = transferability.transfer_outcomes(rst_cfg, ratios, synth, attack, 32, rst_store,
                                                  seeds=[seed])
        assert {k: v[0] for k, v in alone.items()} == {k: v[i] for k, v in both.items()}
    m = transferability.transfer_matrix(rst_cfg, ratios, synth, attack, 32, rst_store,
                                        seeds=[0, 1])
    per_seed = [transferability.transfer_matrix(rst_cfg, ratios, synth, attack, 32, rst_store,
                                                seeds=[s]) for s in (0, 1)]
    assert np.allclose(m.to_numpy(), (per_seed[0].to_numpy() + per_seed[1].to_numpy()) / 2)
    verdict = claims.verdict_transfer(m, both)
    assert [p["n_seeds"] for p in verdict.parts] == [2]


def test_r2s_evaluations_are_separately_cached_and_consistent(rst_cfg, synth, rst_store):
    from tickets.studies import r2s_attacks

    res = r2s_attacks.r2s_evaluation(rst_cfg, [0.1, 0.5], synth, SPEC, n=32, eot_n=2,
                                     draws=2, aa_n=0, store=rst_store, seeds=[0, 1])
    rows = pd.DataFrame(res["rows"])
    names = list(rows[rows["seed"] == 0]["evaluation"])
    assert names[0] == "clean" and names[1].startswith("1 ") and names[-1].startswith("5 ")
    assert len(names) == 6 and len(rows) == 12 and len(res["members"]) == 4
    assert all(len(o) == 32 and all(0 <= v <= 1 for v in o) for o in rows["outcomes"])
    for _, r in rows.iterrows():  # the per-image shares average to the accuracy
        assert sum(r["outcomes"]) / 32 == pytest.approx(r["accuracy"], abs=1e-3)
    sw = r2s_attacks.switch_of(rst_cfg, [0.1, 0.5], synth, 32, draws=2, store=rst_store)
    assert {**r2s_attacks.eot_attack(sw, SPEC, 2, rst_store), "seed": 0} == res["rows"][4]
    assert res["storage"]["r2s"] < res["storage"]["dense_float32"]
    summary = r2s_attacks.summary(rows)
    assert list(summary["evaluation"]) == names and (summary["seeds"] == 2).all()
    assert (rows["worst_case"] <= rows["accuracy"] + 1e-9).all()
    for w, seed in zip(res["worst"], (0, 1), strict=True):  # below every attack of its seed
        attacked = rows[(rows["seed"] == seed) & (rows["evaluation"] != "clean")]
        assert w["seed"] == seed and w["accuracy"] <= attacked["worst_case"].min() + 1e-9
        assert len(w["over"]) == 5 and w["n"] == 32
    assert all(m["val_pgd"] == m["val_pgd"] for m in res["members"])


def test_a_second_seed_is_another_network_on_the_same_test_images(rst_cfg, synth, rst_store):
    from tickets.recipes import with_seed
    from tickets.sweeps import rst_sweep

    assert with_seed(rst_cfg, 0) == rst_cfg, "seed 0 is the configuration itself"
    t = rst_sweep(rst_cfg, [0.1], synth, SPEC, rst_store, progress=False, seeds=[0, 1])
    assert list(t["seed"]) == [0, 1] and (t["n_test"] == 32).all()
    assert t["pgd_correct"].iloc[0] != t["pgd_correct"].iloc[1] or t["clean_correct"].iloc[
        0] != t["clean_correct"].iloc[1]
    with pytest.raises(Exception, match="seed"):
        with_seed(rst_cfg, -1)


def test_search_adversaries_and_catastrophic_overfitting():
    from tickets.studies import search_attack

    v = search_attack.search_adversaries(["pgd", "fgsm_rs"], 8 / 255, 3)
    assert v["pgd"]["train.adversary"].steps == 3 and v["fgsm_rs"]["train.adversary"].steps == 1
    falls = [{"val_robust": a} for a in (0.2, 0.3, 0.15)]
    holds = [{"val_robust": a} for a in (0.2, 0.3, 0.28)]
    assert search_attack.catastrophic_overfitting(falls)
    assert not search_attack.catastrophic_overfitting(holds)
    rows = search_attack.overfitting_table({"a": falls, "b": holds})
    assert [r["catastrophic_overfitting"] for r in rows] == [True, False]
    assert rows[0]["best_val_robust"] == 0.3 and rows[0]["last_val_robust"] == 0.15


def test_dense_baselines_and_lottery_run_every_seed(rst_cfg, synth, rst_store):
    from tickets.claims import rst as claims
    from tickets.studies import existence, lottery
    from tickets.sweeps import rst_sweep

    rst = rst_sweep(rst_cfg, [0.1, 0.5], synth, SPEC, rst_store, progress=False, seeds=[0, 1])
    dense = existence.dense_baselines(rst_cfg, rst, synth, SPEC, rst_store, progress=False,
                                      seeds=[0, 1])
    assert len(dense) == 4 and sorted(dense["seed"]) == [0, 0, 1, 1]
    v = claims.verdict_existence(rst, dense)
    assert all(p["n_seeds"] == 2 for p in v.parts)
    t = lottery.lottery(rst_cfg, [0.1], synth, SPEC, store=rst_store, progress=False,
                        seeds=[0, 1])
    assert len(t) == 6 and set(t["seed"]) == {0, 1}
    assert t.groupby("seed")["kind"].apply(list).tolist() == [list(lottery.KINDS)] * 2
    assert claims.verdict_lottery(t).parts[0]["n_seeds"] == 2


def test_autoattack_on_the_best_ratio_only(rst_cfg, synth, rst_store):
    """rst_sweep(aa='best'): AutoAttack on every seed's RST at the ratio of the best mean
    validation accuracy, and on no other; the clean and PGD figures are those of aa='all'."""
    from dataclasses import replace

    from tickets.sweeps import rst_sweep

    spec = replace(SPEC, aa_n=8, aa_version="custom", aa_attacks=("apgd-ce",))
    best = rst_sweep(rst_cfg, [0.1, 0.5], synth, spec, rst_store, progress=False,
                     seeds=[0, 1], aa="best")
    full = rst_sweep(rst_cfg, [0.1, 0.5], synth, spec, rst_store, progress=False,
                     seeds=[0, 1], aa="all")
    top = best.groupby("remaining", sort=False)["val_pgd"].mean().idxmax()
    attacked = best.dropna(subset=["aa"])
    assert sorted(attacked["seed"]) == [0, 1] and (attacked["remaining"] == top).all()
    assert best.loc[best["remaining"] != top, "aa_correct"].isna().all()
    assert full["aa"].notna().all()
    for col in ("clean", "pgd", "pgd_correct", "paper_pgd"):
        assert list(best[col]) == list(full[col]), col
    at_top = full["remaining"] == top
    assert list(best.loc[at_top, "aa_correct"]) == list(full.loc[at_top, "aa_correct"])
    # the reported figure is the worst case of PGD and AutoAttack on each image
    for _, r in attacked.iterrows():
        assert r["aa"] <= min(r["aa_alone"], r["pgd_on_aa_images"])
        assert all(w <= a for w, a in zip(r["aa_correct"], r["aa_alone_correct"], strict=True))
    with pytest.raises(ValueError, match="aa="):
        rst_sweep(rst_cfg, [0.1], synth, spec, rst_store, progress=False, aa="some")


def test_grid_variants_reuse_the_base_run_and_skip_test_tracking(rst_cfg, synth, tmp_path,
                                                                 monkeypatch):
    """rst_grid: the variant equal to the search configuration is study 01's run itself (read
    back, not trained); another variant tracks the test split only when the paper protocol
    is evaluated; training_histories finds the same runs without training."""
    from dataclasses import replace

    import tickets.train as train_mod
    from tickets.config import replace as cfg_replace
    from tickets.recipes import rst_config
    from tickets.sweeps import rst_grid, rst_sweep, training_histories, variant_config
    from tickets.train import fit

    store = Store(tmp_path)
    spec = replace(SPEC, paper_protocol=False)
    base = rst_sweep(rst_cfg, [0.5], synth, spec, store, progress=False)  # "study 01"
    variants = {"fgsm": {"train.adversary": rst_cfg.train.adversary},
                "kaiming": {"model.init": "kaiming_uniform"}}
    assert variant_config(rst_cfg, variants["fgsm"]) == rst_cfg
    other = variant_config(rst_cfg, variants["kaiming"])
    assert not other.train.track_test and other.model.init == "kaiming_uniform"
    assert variant_config(rst_cfg, variants["kaiming"], paper_protocol=True).train.track_test
    t = rst_grid(rst_cfg, variants, [0.5], synth, spec, store, progress=False)
    assert list(t["pgd_correct"][t["variant"] == "fgsm"]) == list(base["pgd_correct"])
    ran = fit(rst_config(other, 0.5), synth, store, progress=False)
    assert not any("test_robust" in h for h in ran.history), "no test-split figures"
    assert "test_robust" in fit(rst_config(rst_cfg, 0.5), synth, store, progress=False
                                ).history[0], "the base run keeps the paper protocol's record"

    def no_training(*a, **k):
        raise AssertionError("a stored variant was trained again")

    monkeypatch.setattr(train_mod, "_step", no_training)
    h = training_histories(rst_cfg, variants, 0.5, synth, store)
    assert set(h) == {"fgsm", "kaiming"} and len(h["kaiming"]) == rst_cfg.train.epochs
    with pytest.raises(AssertionError, match="trained again"):  # the check can fail
        training_histories(cfg_replace(rst_cfg, **{"train.lr": 0.05}), variants, 0.5, synth,
                           store)


def test_compaction_speed_reads_the_grids_runs(rst_cfg, synth, tmp_path, monkeypatch):
    """Study 03's speed comparison compacts the very channel-wise run its pattern grid
    trained (variant_config's configuration), and trains nothing itself."""
    from dataclasses import replace

    import tickets.train as train_mod
    from tickets.studies.sparsity_pattern import compaction_speed
    from tickets.sweeps import rst_grid

    store = Store(tmp_path)
    rst_grid(rst_cfg, {p: {"model.pattern": p} for p in ("element", "channel")}, [0.5], synth,
             replace(SPEC, paper_protocol=False), store, progress=False)

    def no_training(*a, **k):
        raise AssertionError("a stored pattern was trained again")

    monkeypatch.setattr(train_mod, "_step", no_training)
    out = compaction_speed(rst_cfg, 0.5, synth, batch=16, repeats=1, store=store)
    assert out["max_logit_gap"] < 1e-3 and len(out["rows"]) == 4


def _selection_table() -> pd.DataFrame:
    """A study table of two variants x three ratios x two seeds whose test columns favour
    other ratios than its validation column."""
    rows = []
    for variant, best in (("a", 0.1), ("b", 0.5)):
        for seed in (0, 1):
            for r in (0.1, 0.3, 0.5):
                rows.append({"variant": variant, "kind": "RST", "remaining": r, "seed": seed,
                             "kept_params": int(1000 * r), "val_pgd": 0.3 + 0.1 * (r == best)
                             + 0.01 * seed, "val_clean": 0.5, "pgd": 0.5 - r, "clean": 0.6 - r,
                             "aa": 0.4 - r, "paper_pgd": 0.5 - r, "pgd_correct": "10" * seed})
    return pd.DataFrame(rows)


def test_choices_never_see_test_columns():
    """The best ratio per variant, the RSTs that get AutoAttack (aa='best') and the RST size
    the dense baseline matches are chosen on validation: permuting or blanking every test
    column leaves them unchanged, permuting the validation column moves them."""
    import numpy as np

    from tickets import sweeps
    from tickets.studies import existence

    t = _selection_table()
    one = t[t["variant"] == "a"].reset_index(drop=True)

    def choices(table, single):
        return (sweeps.best_per_variant(table)[["variant", "remaining", "seed"]]
                .values.tolist(), sweeps.best_ratio_rows(single),
                existence.best_rst_kept(single))

    before = choices(t, one)
    assert before[0] == [["a", 0.1, 0], ["a", 0.1, 1], ["b", 0.5, 0], ["b", 0.5, 1]]
    assert before[1] == [0, 3] and before[2] == 100
    rng = np.random.default_rng(0)
    test_cols = ["pgd", "clean", "aa", "paper_pgd", "pgd_correct"]
    for _ in range(5):
        shuffled, single = t.copy(), one.copy()
        for c in test_cols:
            shuffled[c] = rng.permutation(shuffled[c].to_numpy())
            single[c] = rng.permutation(single[c].to_numpy())
        assert choices(shuffled, single) == before
    blank = t.assign(**{c: np.nan for c in test_cols})
    assert choices(blank, one.assign(**{c: np.nan for c in test_cols})) == before
    moved = one.assign(val_pgd=one["val_pgd"].to_numpy()[::-1])
    assert sweeps.best_ratio_rows(moved) != before[1], "the choice reads the validation column"
    with pytest.raises(ValueError, match="val_pgd"):
        sweeps.best_ratio_rows(one.drop(columns="val_pgd"))
