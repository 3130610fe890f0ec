"""The evaluation core: what an evaluation is keyed by in the store, and that a stored
evaluation is reused rather than recomputed."""

from dataclasses import replace

import pytest

from tickets import attacks, evaluation
from tickets.evaluation import EvalSpec, run_eval_key
from tickets.recipes import base_config, dense_config, rst_config, weight_config
from tickets.store import Store
from tickets.train import TrainRun, train


@pytest.fixture(scope="module")
def cfg():
    return base_config(model="conv2", width=0.25, dataset="synthetic", n_train=256, n_val=64,
                       epochs=1, batch_size=128, adversary="fgsm", adv_steps=1, val_steps=1,
                       n_val_eval=32)


SPEC = EvalSpec(n_test=64, pgd_steps=5, aa_n=16, aa_version="custom", aa_attacks=("apgd-ce",))


@pytest.mark.parametrize("change", [
    {"eps": 4 / 255}, {"pgd_steps": 7}, {"pgd_restarts": 2}, {"n_test": 128}, {"seed": 1},
    {"aa_n": 32}, {"aa_version": "standard", "aa_attacks": ()},
    {"aa_attacks": ("apgd-ce", "apgd-t")}])
def test_every_attack_setting_and_the_sample_count_change_the_strict_key(cfg, synth, tmp_path,
                                                                        change):
    run = TrainRun(rst_config(cfg, 0.3), tmp_path)
    assert run_eval_key(run, synth, SPEC) != run_eval_key(run, synth, replace(SPEC, **change))


def test_the_key_follows_the_run_and_the_checkpoint_and_nothing_else(cfg, synth, tmp_path):
    run = TrainRun(rst_config(cfg, 0.3), tmp_path)
    key = run_eval_key(run, synth, SPEC)
    assert key == run_eval_key(TrainRun(rst_config(cfg, 0.3), tmp_path / "elsewhere"), synth,
                               replace(SPEC, paper_protocol=False))
    assert key != run_eval_key(TrainRun(rst_config(cfg, 0.5), tmp_path), synth, SPEC)
    assert key != run_eval_key(run, synth, SPEC, which="last")
    paper = run_eval_key(run, synth, SPEC, protocol="paper")
    assert paper != key and paper.autoattack == "", "no AutoAttack under the paper protocol"
    assert "early-stop" in paper.attack
    # without AutoAttack its settings do not matter
    no_aa = replace(SPEC, aa_n=0)
    assert run_eval_key(run, synth, no_aa) == run_eval_key(
        run, synth, replace(no_aa, aa_version="standard"))
    with pytest.raises(ValueError, match="protocol"):
        run_eval_key(run, synth, SPEC, protocol="lenient")


def test_a_stored_evaluation_is_reused(cfg, synth, tmp_path, monkeypatch):
    store = Store(tmp_path)
    run = train(rst_config(cfg, 0.3), synth, store, device="cpu", progress=False)
    spec = EvalSpec(n_test=32, pgd_steps=2, aa_n=0, paper_protocol=False)
    calls = []
    real = attacks.evaluate
    monkeypatch.setattr(attacks, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = evaluation.evaluate_run(run, synth, spec, store)
    again = evaluation.evaluate_run(run, synth, spec, store)
    assert len(calls) == 1 and first == again
    row = evaluation.two_protocol_row(run, synth, spec, store, kind="RST")
    assert len(calls) == 1, "the row reads the stored evaluation"
    assert row["pgd"] == first["pgd"] and row["kind"] == "RST"
    assert row["pgd"] <= row["clean"] and row["paper_pgd"] != row["paper_pgd"]  # NaN: off


def test_dense_and_pruning_recipes_differ_only_where_they_should(cfg):
    dense = dense_config(cfg)
    assert not dense.model.masked and dense.train.trainable == "weights"
    masked = weight_config(cfg, masked=True)
    assert masked.model.masked and masked.train.remaining == 1.0
    assert replace(masked, model=replace(masked.model, masked=False)) == dense
    assert dense.train.adversary == cfg.train.adversary and dense.train.epochs == cfg.train.epochs
    longer = weight_config(cfg, masked=True, epochs=3, warmup=1, tag="x")
    assert (longer.train.epochs, longer.train.warmup_epochs, longer.tag) == (3, 1, "x")


def test_autoattack_reuses_the_stored_pgd_evaluation(cfg, synth, tmp_path, monkeypatch):
    """An evaluation with AutoAttack takes its clean and PGD part from the evaluation without
    it (computing that once, under its own key), so a run evaluated both ways runs PGD once."""
    store = Store(tmp_path)
    run = train(rst_config(cfg, 0.3), synth, store, device="cpu", progress=False)
    spec = EvalSpec(n_test=32, pgd_steps=2, aa_n=8, aa_version="custom",
                    aa_attacks=("apgd-ce",), paper_protocol=False)
    full_n = []
    real = attacks.evaluate
    monkeypatch.setattr(attacks, "evaluate",
                        lambda *a, **k: full_n.append(k.get("n")) or real(*a, **k))
    plain = evaluation.evaluate_run(run, synth, replace(spec, aa_n=0), store)
    assert full_n == [32]
    with_aa = evaluation.evaluate_run(run, synth, spec, store)
    assert full_n == [32, 8], "only PGD on AutoAttack's own images ran again"
    for k in ("clean", "pgd", "clean_correct", "pgd_correct", "pgd_attack"):
        assert with_aa[k] == plain[k], k
    assert 0 <= with_aa["aa"] <= with_aa["pgd_on_aa_images"] + 0.25 and with_aa["aa_n"] == 8
    # the other order: the AutoAttack evaluation first stores the plain one on its way
    other = Store(tmp_path / "other")
    run2 = train(rst_config(cfg, 0.3), synth, other, device="cpu", progress=False)
    full_n.clear()
    first = evaluation.evaluate_run(run2, synth, spec, other)
    assert evaluation.evaluate_run(run2, synth, replace(spec, aa_n=0), other)["pgd"] == \
        first["pgd"]
    assert full_n == [32, 8]


def test_autoattack_labels_name_the_attacks_that_ran():
    import torch
    from torch import nn

    std = EvalSpec(aa_version="standard")
    assert std.aa_attacks_run() == ("apgd-ce", "apgd-t", "fab-t", "square")
    assert std.aa_label() == ("AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square (5000 "
                              "queries))")
    one = EvalSpec(aa_version="custom", aa_attacks=("apgd-ce",))
    assert one.aa_label() == "APGD-CE alone (a subset of AutoAttack)"
    assert not one.aa_label().startswith("AutoAttack")
    assert "PGD-20" in one.aa_worst_label() and "APGD-CE alone" in one.aa_worst_label()
    assert "EOT 20" in EvalSpec(aa_version="rand").aa_label()
    # the label of a run is read from the AutoAttack object that ran
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10)).eval()

    class Tiny:
        def __init__(self):
            self.x = torch.rand(4, 3, 4, 4)
            self.y = torch.arange(4)

        def __len__(self):
            return len(self.y)

        def head(self, n):
            return self

        def images(self):
            return self.x

    res = attacks.autoattack(model, Tiny(), n=4, version="standard")
    assert res.attack.startswith("AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square (5000")
    res = attacks.autoattack(model, Tiny(), n=4, version="custom", attacks=["apgd-ce"])
    assert res.attack.startswith("APGD-CE alone (a subset of AutoAttack)")


@pytest.mark.parametrize("bad,match", [
    ({"aa_version": "full"}, "aa_version"), ({"aa_attacks": ("apgd-x",)}, "aa_attacks"),
    ({"aa_version": "custom", "aa_attacks": ()}, "aa_attacks"),
    ({"aa_version": "standard", "aa_attacks": ("apgd-ce",)}, "fixes its attacks")])
def test_an_autoattack_spec_that_cannot_run_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        EvalSpec(**bad)


def test_reported_autoattack_accuracy_is_the_worst_case_over_every_attack():
    assert evaluation.worst_case("1101", "1011", "111111") == "1001"
    with pytest.raises(ValueError):
        evaluation.worst_case()
    stored = {"aa": 0.75, "aa_correct": "1101", "pgd_correct": "10111111",
              "pgd_on_aa_correct": "1011"}
    cols = evaluation.aa_columns(stored, SPEC)
    assert cols["aa_correct"] == "1001" and cols["aa"] == 0.5
    assert cols["aa_alone"] == 0.75 and cols["aa_alone_correct"] == "1101"
    assert cols["aa"] <= min(cols["aa_alone"], 3 / 4)
    assert cols["aa_attack"].startswith("worst case per image of PGD-5 and APGD-CE alone")
    assert evaluation.aa_columns({"pgd_correct": "1"}, SPEC)["aa"] is None
    # the label of AutoAttack's part is the one the run recorded, not the spec's guess
    ran = {**stored, "aa_attack": "AutoAttack rand (APGD-CE, APGD-DLR, EOT 7) linf eps=8/255"}
    assert evaluation.aa_columns(ran, SPEC)["aa_attack"] == (
        "worst case per image of PGD-5 and AutoAttack rand (APGD-CE, APGD-DLR, EOT 7) linf "
        "eps=8/255")


def test_validation_columns_come_from_the_selected_epoch(tmp_path, cfg):
    run = TrainRun(rst_config(cfg, 0.3), tmp_path, history=[
        {"epoch": 1, "val_robust": 0.2, "val_clean": 0.4},
        {"epoch": 2, "val_robust": 0.3, "val_clean": 0.5},
        {"epoch": 3, "val_robust": 0.25, "val_clean": 0.6}], best_epoch=2)
    assert evaluation.validation_columns(run) == {"val_pgd": 0.3, "val_clean": 0.5}
    run.best_epoch = -1
    assert all(v != v for v in evaluation.validation_columns(run).values())  # NaN


def test_the_scale_line_states_recalibration_and_the_paper_protocol(cfg, synth):
    from tickets.config import replace as cfg_replace

    line = evaluation.describe_scale("smoke", cfg, synth, SPEC)
    recal = min(cfg.train.bn_recalibrate, len(synth.train))  # no more than the split has
    assert f"re-estimated on {recal:,} clean training images" in line
    assert "flaw (c) not exercised" in line
    assert (f"PGD-{cfg.train.test_attack.steps} early-stop on all {len(synth.test)} test "
            f"images (not the evaluation's PGD-{SPEC.pgd_steps} early-stop)") in line
    own = replace(SPEC, pgd_steps=cfg.train.test_attack.steps)
    assert "(the evaluation's own attack)" in evaluation.describe_scale("smoke", cfg, synth, own)
    assert "APGD-CE alone" in line and "AutoAttack figures" in line
    off = cfg_replace(cfg, **{"train.bn_recalibrate": 0, "train.adv_bn": "update"})
    line = evaluation.describe_scale("smoke", off, synth, SPEC)
    assert "re-estimated" not in line and "flaw (c) exercised" in line
    strict_only = evaluation.describe_scale("smoke", cfg, synth, replace(SPEC, paper_protocol=False,
                                                                       aa_n=0))
    assert "paper protocol" not in strict_only and "AutoAttack" not in strict_only
