"""The family-wise outcome over a report's parts (Holm-Bonferroni), the registry of designs,
and the re-derivation of every interval from its record."""

import json

import numpy as np
import pandas as pd
import pytest

from tickets import claims
from tickets.claims import family_outcomes, registry
from tickets.claims import rst as cr
from tickets.claims.base import Part, graded
from tickets.claims.rederive import check_report, main
from tickets.stats import CONTRADICTED, INCONCLUSIVE, SUPPORTED, seed_interval

N = 1000


def _outcomes(shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three seeds of paired 0/1 outcomes on N images, a minus b about `shift`."""
    rng = np.random.default_rng(seed)
    b = (rng.random((3, N)) < 0.4).astype(float)
    a = b.copy()
    for s in range(3):
        pool = np.flatnonzero(b[s] == (0 if shift > 0 else 1))
        k = int(round(abs(shift) * N)) + s  # a small seed-to-seed spread
        a[s, pool[:k]] = 1 - a[s, pool[:k]]
    return a, b


def _record(claim_id: str, shifts: list[float], seed: int = 0) -> dict:
    parts = [Part(f"part {i}", seed_interval(*_outcomes(sh, seed + i)))
             for i, sh in enumerate(shifts)]
    return graded(claim_id, parts, "constructed").as_dict()


def test_a_family_of_one_keeps_its_own_outcome():
    for shift in (0.08, -0.08, 0.0):
        rec = _record("rst-4", [shift])
        out = family_outcomes({"rst-4": rec})["rst-4"]
        p = out["parts"][0]
        assert p["family_outcome"] == p["outcome"]
        assert out["family_verdict"] == rec["verdict"] and out["family"]["m"] == 1


def test_holm_over_the_report_downgrades_weak_parts():
    """A part supported on its own (one-sided p about 0.004) is inconclusive in a family of
    21 parts; a strong one (p far below 0.05 / 21) stays supported; a contradicted strong
    one stays contradicted."""
    weak = _record("rst-4", [0.008], seed=1)
    p = weak["parts"][0]
    assert p["outcome"] == SUPPORTED and 0.0025 < p["p_supported"] < 0.025, p
    records = {"rst-4": weak, "rst-5": _record("rst-5", [0.15, -0.15], seed=2)}
    records.update({f"rst-{k}": _record(f"rst-{k}", [0.0, 0.0, 0.0], seed=10 * k)
                    for k in (1, 2, 3, 6, 7, 8)})
    out = family_outcomes(records)
    assert out["rst-4"]["family"]["m"] == 1 + 2 + 18
    assert out["rst-4"]["parts"][0]["family_outcome"] == INCONCLUSIVE
    assert out["rst-4"]["family_verdict"] == INCONCLUSIVE
    strong = out["rst-5"]["parts"]
    assert [q["family_outcome"] for q in strong] == [SUPPORTED, CONTRADICTED]
    assert out["rst-5"]["family_verdict"] == "partly"
    for r in out.values():
        for q in r["parts"]:
            assert q["holm_p"] >= q["p_test"]
            if q["family_outcome"] != INCONCLUSIVE:
                assert q["family_outcome"] == q["outcome"] and q["holm_p"] <= 0.05
    assert "family_outcome" not in records["rst-4"]["parts"][0], "the input is unchanged"


def test_parts_that_are_not_graded_stay_out_of_the_family():
    one_seed = Part("one seed", seed_interval(*(x[0] for x in _outcomes(0.15, 3))))
    rec = graded("rst-3", [one_seed], "constructed").as_dict()
    strong = _record("rst-4", [0.15], seed=4)
    out = family_outcomes({"rst-3": rec, "rst-4": strong})
    assert out["rst-3"]["parts"][0]["family_outcome"] == INCONCLUSIVE
    assert out["rst-3"]["parts"][0]["holm_p"] is None
    assert out["rst-4"]["family"]["m"] == 1
    # a record written before parts carried p-values counts, and never survives
    old = {"claim": "rst-6", "verdict": SUPPORTED, "parts": [
        {"name": "x", "outcome": SUPPORTED, "low": 0.01, "high": 0.03, "uninformative": ""}]}
    out = family_outcomes({"rst-6": old, "rst-4": strong})
    assert out["rst-6"]["parts"][0]["family_outcome"] == INCONCLUSIVE
    assert out["rst-4"]["family"]["m"] == 2


# ---- the registry --------------------------------------------------------------------------
def test_every_registered_design_states_its_rule_and_arithmetic():
    assert {d.claim for d in registry.DESIGNS.values()} == set(claims.CLAIMS_BY_ID)
    for d in registry.DESIGNS.values():
        assert d.derivation and d.comparison and d.rule in registry.RULES
        assert d.as_dict()["rule_text"] == registry.RULES[d.rule]
    half = {k: d for k, d in registry.DESIGNS.items() if d.rule == registry.HALF_EFFECT}
    curve = cr.PAPER_RST_CURVE
    assert half["rst-8/transfer"].threshold == pytest.approx((60.0 - 47.8) / 2 / 100)
    assert half["rst-10/much-lower"].threshold == pytest.approx((41 - 18) / 2 / 100)
    assert half["rst-2/low-end"].threshold == pytest.approx((curve[0.2] - curve[0.01]) / 2 / 100)
    assert not registry.design("boost-2/cost").graded
    with pytest.raises(ValueError, match="unknown part"):
        registry.design("rst-8/poorly")
    with pytest.raises(ValueError, match="threshold 0"):
        registry.Design("rst-1/x", "rst-1", "c", 1, 0.01, registry.DIRECTION, "d")


def test_amendments_start_with_rst8_and_travel_with_their_claims():
    first = registry.AMENDMENTS[0]
    assert first.part == "rst-8/transfer" and first.date == "2026-12-02"
    assert "8638b69" in first.old and "10 points" in first.old and "6.1" in first.new
    m = pd.DataFrame([[0.4, 0.5], [0.5, 0.4]], index=[0.1, 0.3], columns=[0.1, 0.3])
    bits = "".join("1" if i % 3 else "0" for i in range(N))
    v = cr.verdict_transfer(m, {k: [bits] * 3 for k in ("0.1->0.1", "0.1->0.3", "0.3->0.1",
                                                         "0.3->0.3")})
    assert v.amendments[0]["part"] == "rst-8/transfer"
    assert all(a["part"] == registry.EVERY_PART or a["part"].startswith("rst-8/")
               for a in v.amendments)
    assert len(v.amendments) == 4  # the threshold, the three seeds, every part's method and chance rule
    p = v.parts[0]
    assert p["threshold"] == pytest.approx(0.061) and p["rule"] == registry.HALF_EFFECT
    assert "60.0" in p["derivation"] and p["design"]["min_seeds"] == 3


# ---- re-derivation -------------------------------------------------------------------------
def _report(tmp_path, records: dict[str, dict]):
    (tmp_path / "results").mkdir(parents=True)
    for cid, r in records.items():
        (tmp_path / "results" / f"{cid}.json").write_text(json.dumps(r))
    return tmp_path


def _some_records() -> dict[str, dict]:
    from tickets.claims import awt as ca
    from tickets.claims import boosting as cb

    dyn = pd.DataFrame([{"seed": s, "sparsity": 0.9, "epoch": e, "method": m,
                         "kernel_distance_adv": 0.2 + 0.3 * (m == "snip") + 0.01 * s * e,
                         "output_gap_adv": 0.3 + 0.01 * e} for s in range(3) for e in (1, 2)
                        for m in ("awt", "snip")])
    early = pd.DataFrame({"prune_lr": [0.01, 0.1], "early_robust": [0.4, 0.3]})
    boost = pd.DataFrame({"pruned": [0.5, 0.8], "ticket_robust": [0.3, 0.45],
                          "reinit_robust": [0.3, 0.3]})
    return {"rst-4": _record("rst-4", [0.05, -0.02], seed=5),
            "awt-2": ca.verdict_awt_dynamics(dyn).as_dict(),
            "boost-1": cb.verdict_boosting(early, boost, 500).as_dict()}


def test_rederive_reproduces_every_interval(tmp_path, capsys):
    folder = _report(tmp_path, json.loads(json.dumps(_some_records())))
    rows, bad = check_report(folder)
    assert bad == 0 and len(rows) == 2 + 2 + 2
    assert {r["status"] for r in rows} == {"ok"}
    assert main([str(folder)]) == 0
    assert "0 mismatch(es)" in capsys.readouterr().out


def test_rederive_skips_the_records_of_a_withdrawn_notebook(tmp_path):
    records = json.loads(json.dumps(_some_records()))
    records["rst-4"]["notebook"] = "03_sparsity_pattern"
    records["rst-4"]["parts"][0]["low"] -= 0.001  # would be a mismatch
    folder = _report(tmp_path, records)
    assert check_report(folder)[1] == 1
    (folder / "withdrawn.json").write_text(json.dumps({"03_sparsity_pattern": "re-run pending"}))
    rows, bad = check_report(folder)
    assert bad == 0 and [r["status"] for r in rows if r["claim"] == "rst-4"] == [
        "withdrawn, not in the index: skipped"]


def test_rederive_lists_a_record_that_predates_an_amendment_without_failing(tmp_path, capsys):
    from tickets.claims.rederive import predating

    records = json.loads(json.dumps(_some_records()))
    assert predating(_report(tmp_path / "now", records)) == []
    lacking = records["awt-2"]["amendments"].pop(0)  # the notebook ran before this change
    folder = _report(tmp_path / "then", records)
    assert predating(folder) == [("awt-2", lacking)]
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert "0 mismatch(es)" in out and "1 amendment(s) made after" in out
    assert f"  awt-2: {lacking['date']}, {lacking['part']}: {lacking['new']}" in out


@pytest.mark.parametrize("tamper", ["low", "bits", "drop", "outcome", "threshold", "key",
                                    "graded"])
def test_rederive_finds_a_changed_or_missing_record(tmp_path, capsys, tamper):
    records = json.loads(json.dumps(_some_records()))
    part = records["rst-4"]["parts"][0]
    if tamper == "low":
        part["low"] -= 0.001
    elif tamper == "bits":  # one seed of side a loses its first images' outcomes
        a = part["interval"]["a"]
        a["bits"] = "AAAA" + a["bits"][4:]
    elif tamper == "outcome":  # the stated outcome is not the one its interval gives
        part["outcome"] = "supported" if part["outcome"] != "supported" else "contradicted"
    elif tamper == "threshold":  # a threshold the registry does not hold, stated as if it did
        part = records["awt-2"]["parts"][0]  # a registered part (it carries its key)
        part["threshold"] += 0.01
        part.pop("p_supported", None), part.pop("p_contradicted", None)
        part["outcome"] = None
    elif tamper == "key":
        part["key"] = "rst-4/no-such-part"
    elif tamper == "graded":  # a part the registry grades, recorded as design information
        part = records["awt-2"]["parts"][0]
        assert part["design"]["graded"] is True
        part["design"]["graded"] = False
    else:
        del part["interval"]["a"]
    folder = _report(tmp_path, records)
    rows, bad = check_report(folder)
    assert bad == 1 and [r["status"] != "ok" for r in rows].count(True) == 1
    if tamper in ("threshold", "key", "graded"):
        assert any("registry" in r["status"] or "unknown registered" in r["status"]
                   for r in rows)
    assert main([str(folder)]) == 1
    assert "1 mismatch(es)" in capsys.readouterr().out
