"""Slots that add up, rehearsed on the CPU at tiny sizes: a slot trains and evaluates study 01's
networks, its store is packed as a lent machine's call would bring it back (tickets.slots),
restored into an empty store, and the next slot finds every run and evaluation there, trains
nothing and reaches the same table and verdict."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from tickets import slots
from tickets import train as train_mod
from tickets.claims import rst as claims
from tickets.evaluation import EvalSpec, evaluate_run, load_data
from tickets.recipes import base_config, dense_config, rst_config
from tickets.store import Store
from tickets.studies import existence
from tickets.sweeps import rst_sweep

RATIOS = [0.1, 0.3, 0.7]


@pytest.fixture(scope="module")
def tiny():
    cfg = base_config(dataset="synthetic", model="conv4", width=0.25, n_train=256, n_val=64,
                      epochs=1, batch_size=64, precision="fp32")
    spec = EvalSpec(n_test=32, aa_n=8, aa_version="custom", aa_attacks=("apgd-ce",))
    return cfg, spec, load_data(cfg, 32, device="cpu")


def _slot(cfg, spec, data, store: Store):
    """Study 01's part of a slot: the RST sweep, the dense baselines, the table and verdict."""
    rst = rst_sweep(cfg, RATIOS, data, spec, store, progress=False, aa="all")
    dense = existence.dense_baselines(cfg, rst, data, spec, store, progress=False)
    return rst, dense, dataclasses.asdict(claims.verdict_existence(rst, dense))


def _ledger(store: Store) -> list[dict]:
    f = store.root / Store.LEDGER
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def test_a_slot_packed_restored_and_resumed_trains_nothing(tiny, tmp_path, monkeypatch):
    cfg, spec, data = tiny
    first = Store(tmp_path / "machine1")
    rst, dense, verdict = _slot(cfg, spec, data, first)
    assert sum(r["trained"] for r in _ledger(first)) == len(RATIOS) + 2

    packed = slots.pack_store(first.root, tmp_path / "out" / "store.tar.gz")
    assert len(packed.runs) == len(RATIOS) + 2 and packed.evals > 0 and not packed.left_behind
    carried = tmp_path / "carried"
    manifest = slots.unpack_bundle(tmp_path / "out" / "store.tar.gz", carried)
    assert manifest["runs"] == packed.runs
    # the next slot's machine starts bare: a new store, restored from what came back
    second = Store(tmp_path / "machine2")
    got = slots.restore(carried, second.root)
    assert sorted(got["restored"]) == sorted(packed.runs) and got["present"] == []
    for name in packed.runs:
        run_cfg = slots.run_config(second.root / name)
        assert train_mod.finished_run(run_cfg, second) is not None, name

    def no_training(*a, **k):
        raise AssertionError("a restored run was trained again")

    monkeypatch.setattr(train_mod, "_train_locked", no_training)
    rst2, dense2, verdict2 = _slot(cfg, spec, data, second)
    assert verdict2 == verdict
    for a, b in ((rst, rst2), (dense, dense2)):
        assert a.drop(columns=["train_seconds"]).equals(b.drop(columns=["train_seconds"]))
    uses = _ledger(second)
    assert uses and not any(u["trained"] for u in uses)

    # an evaluation not made before: a ticket is restored exactly (random weights rebuilt
    # from its seed, its masks from the packed bits); the dense net's weights come back in bf16
    fresh = dataclasses.replace(spec, n_test=24, aa_n=0, seed=5)
    for which in (rst_config(cfg, 0.3), dense_config(cfg)):
        a = evaluate_run(train_mod.finished_run(which, first), data, fresh, first)
        b = evaluate_run(train_mod.finished_run(which, second), data, fresh, second)
        if which.train.trainable == "scores":
            assert a == {**b, "eval_seconds": a["eval_seconds"]}
        else:
            assert abs(a["clean"] - b["clean"]) <= 2 / 24
    x = data.test.images(slice(0, 16))
    m1 = train_mod.finished_run(rst_config(cfg, 0.3), first).model("best", device="cpu")
    m2 = train_mod.finished_run(rst_config(cfg, 0.3), second).model("best", device="cpu")
    assert torch.equal(m1(x), m2(x))
    d1 = train_mod.finished_run(dense_config(cfg), first).model("last", device="cpu")
    d2 = train_mod.finished_run(dense_config(cfg), second).model("last", device="cpu")
    assert torch.allclose(d1(x), d2(x), atol=0.05, rtol=0.05) and not torch.equal(d1(x), d2(x))


def test_tickets_pack_to_bits_and_dense_weights_to_bf16(tiny, tmp_path):
    cfg, spec, data = tiny
    store = Store(tmp_path / "s")
    r = train_mod.fit(rst_config(cfg, 0.1), data, store, progress=False)
    d = train_mod.fit(dense_config(cfg), data, store, progress=False)
    ticket = slots.pack_run(r.directory)
    weights = slots.pack_run(d.directory)
    one_file = (d.directory / "best.pt").stat().st_size
    # three weight files (best, best_test, last), each at most half its float32 bytes
    assert len(weights) < 3 * one_file / 2 + 20_000
    # a ticket: a bit per weight and the BatchNorm statistics, far under one weight file
    assert len(ticket) < (r.directory / "best.pt").stat().st_size / 4

def _a_ticket_and_a_dense_net(tiny, tmp_path):
    """A store holding a small RST search and a larger dense net, both evaluated (no
    AutoAttack): the store, the ticket's run and the dense net's run."""
    cfg, spec, data = tiny
    store = Store(tmp_path / "s")
    small = train_mod.fit(rst_config(cfg, 0.1), data, store, progress=False)
    big = train_mod.fit(dense_config(cfg), data, store, progress=False)
    quick = dataclasses.replace(spec, aa_n=0)
    for run in (small, big):
        evaluate_run(run, data, quick, store)
    return store, small, big


def test_a_run_over_the_limit_stays_behind_and_a_carried_one_is_skipped(tiny, tmp_path):
    store, small, big = _a_ticket_and_a_dense_net(tiny, tmp_path)
    limit = len(slots.pack_run(small.directory)) + 50_000
    p = slots.pack_store(store.root, tmp_path / "o" / "b.tar.gz", max_bytes=limit)
    assert list(p.runs) == [small.directory.name] and p.left_behind == [big.directory.name]
    # the left-behind run's evaluation is left out with it: only the ticket's comes back
    assert p.evals == 2  # the ticket's record: its config.json and its result
    p = slots.pack_store(store.root, tmp_path / "o2" / "b.tar.gz",
                         skip={small.directory.name, big.directory.name})
    assert p.runs == {} and p.left_behind == []


def test_a_run_being_trained_is_not_packed(tiny, tmp_path):
    cfg, spec, data = tiny
    store = Store(tmp_path / "s")
    train_mod.fit(rst_config(cfg, 0.1), data, store, progress=False, stop_after_steps=1)
    assert slots.finished_runs(store.root) == []


def test_parts_of_at_most_a_limit_join_back(tmp_path):
    data = bytes(range(256)) * 41
    parts = slots.split(data, tmp_path / "x.bin", part=1000)
    assert len(parts) == 11 and all(p.stat().st_size <= 1000 for p in parts)
    assert [p.name for p in parts[:2]] == ["x.bin.00", "x.bin.01"]
    assert slots.joined(tmp_path / "x.bin") == data
    assert slots.split(b"abc", tmp_path / "y.bin", part=1000) == [tmp_path / "y.bin"]
    assert slots.joined(tmp_path / "y.bin") == b"abc"
    assert slots.joined(tmp_path / "z.bin") is None


def test_restore_leaves_a_run_the_store_holds(tiny, tmp_path):
    cfg, spec, data = tiny
    store = Store(tmp_path / "s")
    run = train_mod.fit(rst_config(cfg, 0.1), data, store, progress=False)
    packed = slots.pack_run(run.directory)
    before = (run.directory / "best.pt").read_bytes()
    assert slots.restore_run(packed, store.root) is None
    assert (run.directory / "best.pt").read_bytes() == before
    shutil.rmtree(run.directory)
    assert slots.restore_run(packed, store.root) == run.directory.name


def test_a_save_epochs_run_comes_back_with_its_epochs(tiny, tmp_path):
    cfg, spec, data = tiny
    first, second = Store(tmp_path / "a"), Store(tmp_path / "b")
    run = train_mod.fit(rst_config(cfg, 0.3), data, first, progress=False, save_epochs=True)
    slots.restore_run(slots.pack_run(run.directory), second.root)
    again = train_mod.finished_run(run.cfg, second)
    x = data.test.images(slice(0, 8))
    for e in (0, 1):
        assert torch.equal(run.epoch_model(e, "cpu")(x), again.epoch_model(e, "cpu")(x))


def test_the_slot_projection_counts_each_step_only_what_no_earlier_step_did():
    from tickets import devicerun
    from tickets.bench import projection

    g = 60.0  # 1 FLOP/s: a FLOP is a second, 60 a minute
    rows = [{"notebook": "01_existence", "seeds": [0], "aa_n": 1000, "sanity_n": 500,
             "runs": {"train-a": 3 * g, "train-b": 2 * g},
             "records": {"eval-p": ["pgd", g], "eval-q": ["aa", 4 * g],
                         "eval-s": ["sanity", g]}},
            {"notebook": "07_transferability", "seeds": [0], "aa_n": 0, "sanity_n": 0,
             "runs": {"train-a": 3 * g, "train-c": g}, "records": {"eval-t": ["pgd", g]}}]
    table = projection.slot_table(rows, devicerun.plan("gpu"), rate=1.0, slot_min=10.0)
    by = {t["step"]: t for t in table}
    fp32 = projection.FP32_SLOWDOWN
    assert (by["01-train"]["train_min"], by["01-train"]["pgd_min"]) == (5, 1)
    assert by["01-train"]["aa_min"] == by["01-train"]["sanity_min"] == 0
    assert by["01-aa"]["train_min"] == by["01-aa"]["pgd_min"] == 0
    assert (by["01-aa"]["aa_min"], by["01-aa"]["sanity_min"]) == (4 * fp32, fp32)
    assert by["07"]["train_min"] == 1  # study 01's run train-a is found, not trained
    # a second seed: a seed's share of the trainings and PGD, then of AutoAttack, once
    assert (by["01-train-2"]["train_min"], by["01-train-2"]["aa_min"]) == (5, 0)
    assert by["01-aa-2"]["aa_min"] == 4 * fp32 and by["01-aa-2"]["train_min"] == 0
    assert by["01-aa-2"]["sanity_min"] == 0  # the sanity checks ran on seed 0's nets
    starts = [t["slots"][0] for t in table]
    assert starts == sorted(starts) and table[0]["slots"] == (1, 1)
    assert by["01-aa"]["slots"] == (1, 2)  # 6.5 min done, 10.5 more: it spans two slots
    assert "08" not in by  # no dry run of 08 among the rows


def test_a_carried_store_over_its_room_sets_its_largest_runs_aside(tiny, tmp_path):
    store, small, big = _a_ticket_and_a_dense_net(tiny, tmp_path)
    slots.pack_store(store.root, tmp_path / "o" / "b.tar.gz")
    carried = tmp_path / "carried"
    slots.unpack_bundle(tmp_path / "o" / "b.tar.gz", carried)
    assert slots.carried_runs(carried) == sorted([small.directory.name, big.directory.name])
    whole = slots.carried_bytes(carried)
    assert slots.trim(carried, whole, tmp_path / "aside") == []
    assert slots.trim(carried, whole - 1, tmp_path / "aside") == [big.directory.name]
    assert slots.carried_runs(carried) == [small.directory.name]
    assert slots.carried_runs(tmp_path / "aside") == [big.directory.name]
    assert slots.carried_bytes(carried) < whole
    # each run's evaluation record stays with it
    kept = [d.name for d in (carried / "evals").iterdir()]
    aside = [d.name for d in (tmp_path / "aside" / "evals").iterdir()]
    assert len(kept) == len(aside) == 1
    assert slots._record_runs(carried / "evals" / kept[0]) == {small.directory.name[6:]}
    assert slots._record_runs(tmp_path / "aside" / "evals" / aside[0]) == {big.directory.name[6:]}
