"""The device runner's bookkeeping, run here on the CPU at smoke size: a call the budget cuts
off records the notebook as interrupted and packs what it has; the next call, given the packed
state, runs it again and the ones after; collecting builds the index. The gpu plan's steps
(device/plan.yaml) and the round trip of a slot through the runner (tickets.slots)."""

from __future__ import annotations

import json
import os
import shutil
import tarfile

import pytest

from tickets import devicerun, profiles, slots


def test_pending_follows_the_plan_and_skips_what_is_done():
    progress = {"01": {"status": "done"}, "07": {"status": "interrupted"}}
    assert devicerun.pending(progress)[:2] == ["07", "08"]
    assert devicerun.pending(progress, ["10", "01", "07"]) == ["07", "10"]


def test_pack_refuses_more_than_a_call_brings_back(tmp_path, monkeypatch):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "big.json").write_bytes(b"x" * 3000)
    monkeypatch.setattr(devicerun, "MAX_FILE", 100)
    with pytest.raises(SystemExit, match="over the"):
        devicerun._pack(tmp_path / "r", tmp_path / "out" / "state.tar.gz")


def test_a_withdrawn_notebook_runs_again(tmp_path):
    """A notebook marked withdrawn in the report folder (tickets.report.withdrawn) is pending
    again even when the carried progress log says it is done."""
    state, report_dir = tmp_path / "state", tmp_path / "report"
    state.mkdir()
    (state / devicerun.PROGRESS).write_text(json.dumps({"01": {"status": "done"},
                                                        "07": {"status": "done"}}))
    report_dir.mkdir()
    (report_dir / "withdrawn.json").write_text(json.dumps({"01_existence": "a bug"}))
    p = devicerun.run("smoke", state, tmp_path / "out", budget_s=0, report_dir=report_dir)
    assert devicerun.pending(p)[:2] == ["01", "08"]


@pytest.mark.slow
def test_a_report_spans_calls(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    monkeypatch.setattr(devicerun, "MIN_START_S", 0)
    first, second = tmp_path / "call1", tmp_path / "call2"
    state = tmp_path / "state"
    # call 1: too little time for the notebook's kernel to finish
    p = devicerun.run("smoke", state, first, budget_s=1.0, selected=["07"],
                      report_dir=tmp_path / "device1")
    assert p["07"]["status"] == "interrupted"
    with tarfile.open(first / devicerun.STATE) as tar:
        assert devicerun.PROGRESS in tar.getnames()
    devicerun.collect("smoke", first, state, report_dir=tmp_path / "here")
    # call 2 on a fresh machine (another report folder), carrying the state back in
    p = devicerun.run("smoke", state, second, budget_s=300, selected=["07"],
                      report_dir=tmp_path / "device2")
    assert p["07"] == {"attempts": 2, "status": "done", "seconds": p["07"]["seconds"]}
    out = devicerun.collect("smoke", second, state, report_dir=tmp_path / "here")
    assert (out / "07_transferability.ipynb").exists() and (out / "07_transferability.html").exists()
    assert json.loads((out / "results" / "rst-8.json").read_text())["claim"] == "rst-8"
    assert "rst-8" in (out / "index.html").read_text()


def test_the_gpu_plan_trains_first_then_attacks_then_adds_seeds():
    steps = devicerun.plan("gpu")
    names = [s.step for s in steps]
    assert names[:4] == ["01-train", "01-aa", "07", "08"]
    assert steps[0].params == {"seeds": [0], "aa_n": 0, "sanity_n": 0}
    assert "aa_n" not in steps[1].params and "sanity_n" not in steps[1].params
    seeds = [s.params["seeds"] for s in steps if s.notebook == "01"]
    assert seeds == [[0], [0], [0, 1], [0, 1], [0, 1, 2], [0, 1, 2]]
    assert {s.notebook for s in steps} == set(devicerun.PLAN)
    assert steps[0].args() == ["--param", "seeds=[0]", "--param", "aa_n=0", "--param",
                               "sanity_n=0"]
    # every step's values pass the parameter checks at the gpu profile
    for s in steps:
        values = profiles.resolve("gpu", s.notebook, given=s.params).values
        assert all(values[k] == v for k, v in s.params.items())
    assert profiles.settings("gpu", "01")["aa_n"] == 1000
    assert devicerun.pending({"01-train": {"status": "done"}}, None, steps)[:2] == ["01-aa", "07"]
    assert devicerun.pending({}, ["08"], steps) == ["08"]
    # a profile the plan does not name runs one step per notebook, in PLAN order
    assert [s.step for s in devicerun.plan("smoke")] == list(devicerun.PLAN)


def test_a_plan_naming_an_unknown_notebook_is_refused(tmp_path):
    f = tmp_path / "plan.yaml"
    f.write_text("gpu:\n  - {step: a, notebook: '11'}\n")
    with pytest.raises(ValueError, match="step 1"):
        devicerun.plan("gpu", f)
    f.write_text("gpu:\n  - {step: a, notebook: '01'}\n  - {step: a, notebook: '07'}\n")
    with pytest.raises(ValueError, match="twice"):
        devicerun.plan("gpu", f)


def test_an_unfinished_step_puts_back_the_notebook_an_earlier_step_completed(tmp_path):
    (tmp_path / "results").mkdir()
    nb, rec = tmp_path / "01_existence.ipynb", tmp_path / "results" / "rst-1.json"
    nb.write_text("complete, seed 0")
    rec.write_text("verdict, seed 0")
    before = devicerun._snapshot(tmp_path, "01")
    nb.write_text("partial, seeds 0 and 1")
    rec.write_text("verdict, seeds 0 and 1")
    (tmp_path / "results" / "rst-2.json").write_text("new")
    devicerun._put_back(tmp_path, "01", before)
    assert nb.read_text() == "complete, seed 0" and rec.read_text() == "verdict, seed 0"
    assert not (tmp_path / "results" / "rst-2.json").exists()


@pytest.mark.slow
def test_a_slot_restored_from_what_came_back_retrains_nothing(tmp_path, monkeypatch):
    """The rehearsal through the device runner: a call executes study 01 at smoke size; its
    files are collected here; the next call, on a bare machine (an empty store) with the
    report folder and its packed store carried in, takes the plan's next step, which executes
    01 again: it trains nothing and records the same verdicts."""
    monkeypatch.setattr(devicerun, "MIN_START_S", 0)
    plan1, plan2 = tmp_path / "plan1.yaml", tmp_path / "plan2.yaml"
    plan1.write_text("smoke:\n  - {step: 01-first, notebook: '01'}\n")
    plan2.write_text(plan1.read_text() + "  - {step: 01-again, notebook: '01'}\n")
    state, here = tmp_path / "state", tmp_path / "here"
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "machine1"))
    p = devicerun.run("smoke", state, tmp_path / "call1", budget_s=300,
                      report_dir=tmp_path / "device1", plan_file=plan1)
    assert p["01-first"]["status"] == "done"
    devicerun.collect("smoke", tmp_path / "call1", state, report_dir=here)
    assert len(slots.carried_runs(here / devicerun.CARRIED)) == 5  # 3 RSTs, 2 dense nets
    first = {f.name: json.loads(f.read_text()) for f in (here / "results").glob("*.json")}
    # the next call: a bare machine, the tree carried in (the collected report folder)
    shutil.copytree(here, tmp_path / "device2")
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "machine2"))
    p = devicerun.run("smoke", tmp_path / "no-state", tmp_path / "call2", budget_s=300,
                      report_dir=tmp_path / "device2", plan_file=plan2)
    assert p["01-again"]["status"] == "done" and p["01-first"]["attempts"] == 1
    ledger = [json.loads(line) for line in
              (tmp_path / "machine2" / "ledger.jsonl").read_text().splitlines()]
    assert ledger and not any(u["trained"] for u in ledger)
    again = {f.name: json.loads(f.read_text())
             for f in (tmp_path / "device2" / "results").glob("*.json")}
    assert first and again == first


def test_the_device_scripts_parse():
    """bash -n on the scripts the GPU machine runs: a quote in a comment-like message once
    made device/run.sh unparsable, which only a lent machine would have shown."""
    import subprocess

    for script in sorted((devicerun.ROOT / "device").glob("*.sh")):
        r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, f"{script.name}: {r.stderr}"


def test_collect_drops_the_withdrawn_mark_a_call_cleared_and_unpacks_the_store(tmp_path,
                                                                               monkeypatch):
    from tickets import report

    monkeypatch.setattr(report, "main", lambda argv: None)
    here, files = tmp_path / "here", tmp_path / "files"
    here.mkdir()
    (here / devicerun.WITHDRAWN).write_text(json.dumps({"01_existence": "a bug"}))
    device = tmp_path / "device"
    device.mkdir()
    (device / "01_existence.ipynb").write_text("{}")
    devicerun._pack(device, files / devicerun.STATE)
    store = tmp_path / "store"
    (store / "eval-x").mkdir(parents=True)
    (store / "eval-x" / "eval-strict-best.json").write_text('{"pgd": 0.4}')
    whole = tmp_path / "bundle.tar.gz"
    slots.pack_store(store, whole)
    parts = slots.split(whole.read_bytes(), files / devicerun.STORE_BUNDLE, part=200)
    assert len(parts) > 1  # a bundle in parts is joined back
    devicerun.collect("gpu", files, tmp_path / "state", report_dir=here)
    assert not (here / devicerun.WITHDRAWN).exists()
    assert (here / "01_existence.ipynb").exists()
    carried = here / devicerun.CARRIED / "evals" / "eval-x" / "eval-strict-best.json"
    assert json.loads(carried.read_text()) == {"pgd": 0.4}


@pytest.mark.skipif(not os.environ.get("TICKETS_DATA"), reason="needs CIFAR-10 (TICKETS_DATA)")
def test_the_gpu_headline_holds_out_validation_from_train_and_tests_on_all_10000():
    from tickets import config, data

    s = profiles.settings("gpu", "01")
    d = data.load(config.DataConfig(dataset=s["dataset"], n_train=s["n_train"],
                                    n_val=s["n_val"], n_test=s["n_test"]), "cpu")
    assert (len(d.train), len(d.val), len(d.test)) == (49_000, 1_000, 10_000)
