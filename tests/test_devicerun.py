"""The device runner's bookkeeping, run here on the CPU at smoke size: a call the budget cuts
off records the notebook as interrupted and packs what it has; the next call, given the packed
state, runs it again and the ones after; collecting builds the index."""

from __future__ import annotations

import json
import tarfile

import pytest

from tickets import devicerun


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
