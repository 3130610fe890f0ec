"""The verdict rules of all 16 claims on constructed tables whose true effect is zero,
positive or negative: each rule must say supported, contradicted or inconclusive accordingly,
and never supported when an interval covers its threshold. Tables hold three search seeds
(a single seed is never graded), and a validation column for every choice."""

import numpy as np
import pandas as pd
import pytest

from tickets import claims
from tickets.claims import awt as ca
from tickets.claims import boosting as cb
from tickets.claims import rst as cr
from tickets.claims.base import (
    CONTRADICTED,
    INCONCLUSIVE,
    PARTLY,
    SUPPORTED,
    Part,
    at_chance,
    combine,
    parity,
)
from tickets.stats import Difference

N = 1000  # test images of the constructed tables
RNG = np.random.default_rng(0)
BASE = (RNG.random(N) < 0.4).astype(int)  # a reference model at 40 %


def model(shift: float, base: np.ndarray = BASE, n: int | None = None) -> str:
    """A 0/1 outcome string: `base` with round(shift * n) wrong images made right (or right
    ones made wrong), so that the paired difference to base is exactly `shift`."""
    b = base[:n] if n else base
    out = b.copy()
    k = int(round(abs(shift) * len(b)))
    pool = np.flatnonzero(b == (0 if shift > 0 else 1))
    out[pool[:k]] = 1 - out[pool[:k]]
    return "".join(map(str, out))


def row(shift: float, n: int | None = None, **kw) -> dict:
    s = model(shift, n=n)
    acc = sum(map(int, s)) / len(s)
    return {"pgd": acc, "clean": acc + 0.2, "pgd_correct": s, "n_test": len(s), "seed": 0,
            "val_pgd": acc, **kw}


def three(rows) -> pd.DataFrame:
    """`rows` (dicts or a table) repeated for seeds 0, 1 and 2: the same outcomes under every
    seed, so the seed spread is zero and the interval is the image noise alone."""
    t = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    return pd.concat([t.assign(seed=s) for s in range(3)], ignore_index=True)


def check(v, expected: str) -> None:
    assert v.verdict == expected, (v.verdict, v.reason)
    assert v.verdict in claims.VERDICTS
    for p in v.parts:  # no part is supported or contradicted across its threshold
        if p["outcome"] == SUPPORTED:
            assert (p["low"] > p["threshold"]) if p["expected_sign"] > 0 else (
                p["high"] < p["threshold"])
        if p["outcome"] == INCONCLUSIVE and not p.get("uninformative"):
            assert p["low"] <= p["threshold"] <= p["high"]
    if expected == SUPPORTED:
        assert all(p["outcome"] == SUPPORTED for p in v.parts)
    for p in v.parts:  # every part is registered, with its derivation and re-derivable inputs
        assert p["key"].startswith(v.claim + "/") and p["derivation"], p["name"]
        assert p["interval"]["method"] and p["graded"] == (not p["uninformative"])


def _diff(low, high, seeds=3):
    return Difference((low + high) / 2, low, high, 100, seeds)


def test_combine_grades_parts():
    sup, con, inc = (Part("s", _diff(0.01, 0.03)), Part("c", _diff(-0.03, -0.01)),
                     Part("i", _diff(-0.01, 0.01)))
    assert combine([sup, sup]) == SUPPORTED
    assert combine([con, con]) == CONTRADICTED and combine([con, inc]) == CONTRADICTED
    assert combine([inc, inc]) == INCONCLUSIVE
    assert combine([sup, inc]) == PARTLY and combine([sup, con]) == PARTLY
    assert combine([]) == "not run"
    assert Part("t", _diff(0.01, 0.03), threshold=0.02).outcome == INCONCLUSIVE
    assert Part("n", _diff(-0.03, -0.01), expected_sign=-1).outcome == SUPPORTED
    # one seed, or fewer seeds than the design needs: shown, never graded
    one = Part("1", _diff(0.01, 0.03, seeds=1))
    assert one.outcome == INCONCLUSIVE and one.why_ungraded == "single seed"
    assert "single seed" in one.describe() and not one.as_dict()["graded"]
    two = Part("2", _diff(-0.03, -0.01, seeds=2))
    assert two.outcome == INCONCLUSIVE and "needs 3" in two.why_ungraded


def test_parity_against_a_model_at_chance_is_inconclusive():
    """Two models that both predict one class agree on every image: the interval of their
    difference is [0, 0], inside any tolerance, yet it shows nothing. A "matches" part whose
    reference is at chance is inconclusive; one whose reference learned is graded as usual."""
    one_class = "".join("1" if i % 10 == 0 else "0" for i in range(N))  # 10 %: chance
    floor = three([{"pgd_correct": one_class, "seed": 0}])
    assert at_chance(floor) and not at_chance(three([row(0.0)]))
    p = parity("x", floor, floor, 0.02)
    assert p.difference.low == p.difference.high == 0.0
    assert p.outcome == INCONCLUSIVE and "chance" in p.describe()
    learned = three([row(0.0)])
    assert parity("y", three([row(0.0)]), learned, 0.02).outcome == SUPPORTED
    assert parity("z", three([row(-0.1)]), learned, 0.02).outcome == CONTRADICTED
    # either side at chance: the comparison measures the other model alone
    assert parity("y", floor, learned, 0.02).outcome == INCONCLUSIVE


def test_every_claim_has_its_notebook_section():
    assert len(claims.CLAIMS) == 16 and len(claims.CLAIMS_BY_ID) == 16
    assert [c.id for c in claims.CLAIMS][:2] == ["rst-1", "rst-2"]
    for c in claims.CLAIMS:
        assert c.anchor == f"claim-{c.id}" and c.notebook[:2].isdigit()


def test_bad_verdicts_are_rejected():
    with pytest.raises(ValueError, match="verdict"):
        claims.Verdict("rst-1", "reproduced", "", "")
    with pytest.raises(ValueError, match="claim"):
        claims.Verdict("rst-99", "partly", "", "")


# ---- claim 1 and 2 ------------------------------------------------------------------------
def _sweep(shifts: dict[float, float], n=None) -> pd.DataFrame:
    return three([row(s, n, kind="RST", remaining=r) for r, s in shifts.items()])


@pytest.mark.parametrize("rst_shift,same,small,expected", [
    (0.10, 0.10, 0.05, SUPPORTED),          # level with dense, above its size
    (0.10, 0.25, 0.20, CONTRADICTED),       # 15 points under both
    (0.10, 0.11, 0.30, PARTLY),             # close to dense, far under its size
])
def test_verdict_existence(rst_shift, same, small, expected):
    rst = _sweep({0.05: 0.0, 0.1: rst_shift})
    dense = three([row(same, kind="same"), row(small, kind="small")])
    check(cr.verdict_existence(rst, dense), expected)


def test_verdict_existence_on_few_images_is_inconclusive():
    rst = _sweep({0.05: 0.0, 0.1: 0.10}, n=60)
    dense = three([row(0.13, 60, kind="same"), row(0.12, 60, kind="small")])
    check(cr.verdict_existence(rst, dense), INCONCLUSIVE)


@pytest.mark.parametrize("shifts,n,expected", [
    ({0.01: 0.0, 0.1: 0.15, 0.5: 0.05, 0.9: -0.05}, None, SUPPORTED),
    ({0.01: 0.10, 0.1: 0.0, 0.5: 0.0, 0.9: 0.10}, None, CONTRADICTED),  # a valley, not a peak
    ({0.01: 0.0, 0.1: 0.005, 0.5: 0.004, 0.9: 0.003}, None, CONTRADICTED),  # flat: no collapse
    ({0.01: 0.0, 0.1: 0.04, 0.5: 0.03, 0.9: 0.0}, 80, INCONCLUSIVE),  # a U within the noise
    ({0.01: 0.0, 0.1: 0.10, 0.5: 0.20, 0.9: -0.05}, None, PARTLY),  # a U peaking outside 5-20 %
])
def test_verdict_inverted_u(shifts, n, expected):
    check(cr.verdict_inverted_u(_sweep(shifts, n)), expected)


def test_verdict_inverted_u_needs_three_ratios():
    assert cr.verdict_inverted_u(_sweep({0.1: 0.0, 0.5: 0.1})).verdict == "not run"


def test_seeds_are_paired_seed_by_seed():
    """Three seeds: the RST is 8 points over dense in every seed, which the interval over
    seeds and images supports."""
    rows, dense = [], []
    for s in range(3):
        base = (np.random.default_rng(s + 10).random(N) < 0.4).astype(int)
        rows += [{**row(0.0), "pgd_correct": model(0.08, base), "seed": s, "kind": "RST",
                  "remaining": 0.1},
                 {**row(0.0), "pgd_correct": model(0.0, base), "seed": s, "kind": "RST",
                  "remaining": 0.5}]
        dense += [{**row(0.0), "pgd_correct": model(0.0, base), "seed": s, "kind": "same"},
                  {**row(0.0), "pgd_correct": model(0.0, base), "seed": s, "kind": "small"}]
    v = cr.verdict_existence(pd.DataFrame(rows).assign(pgd=0.48), pd.DataFrame(dense))
    check(v, SUPPORTED)
    assert all(p["n_seeds"] == 3 for p in v.parts)
    # the same tables with one seed: shown, never graded
    one = cr.verdict_existence(pd.DataFrame(rows[:2]), pd.DataFrame(dense[:2]))
    assert one.verdict == INCONCLUSIVE
    assert all(p["uninformative"] == "single seed" and p["outcome"] == INCONCLUSIVE
               for p in one.parts)


# ---- claim 10 -----------------------------------------------------------------------------
@pytest.mark.parametrize("gap,n,expected", [
    (0.20, None, SUPPORTED), (0.05, None, PARTLY),  # lower, but not by 11.5 points
    (0.0, None, CONTRADICTED), (-0.05, None, CONTRADICTED), (0.067, 30, INCONCLUSIVE)])
def test_verdict_aa_gap(gap, n, expected):
    rows = three([{"kind": "RST", "seed": 0, "aa_n": N, "aa": 0.3,
                          "pgd_on_aa_images": 0.3 + gap, "aa_correct": model(min(gap, 0), n=n),
                          "aa_alone": 0.3, "aa_alone_correct": model(0.0, n=n),
                          "pgd_on_aa_correct": model(gap, n=n)},
                         {"kind": "dense", "seed": 0, "aa_n": N, "aa": 0.3,
                          "pgd_on_aa_images": 0.32, "aa_correct": model(0.0),
                          "aa_alone": 0.3, "aa_alone_correct": model(0.0),
                          "pgd_on_aa_correct": model(0.02)}])
    check(cr.verdict_aa_gap(rows), expected)
    if n is None:
        assert cr.verdict_aa_gap(rows[rows["seed"] == 0]).verdict == INCONCLUSIVE


def test_verdict_aa_gap_grades_autoattack_alone_not_the_worst_case_with_pgd():
    """The reported worst case of AutoAttack and PGD is at or below PGD on every image, so the
    gap is graded on AutoAttack by itself: where AutoAttack alone is no stronger than PGD, the
    claim is contradicted even though the worst case sits below PGD."""
    rows = three([{"kind": "RST", "seed": 0, "aa_n": N, "aa": 0.25, "aa_alone": 0.45,
                   "pgd_on_aa_images": 0.45, "aa_correct": model(-0.15),
                   "aa_alone_correct": model(0.05), "pgd_on_aa_correct": model(0.05)}])
    v = cr.verdict_aa_gap(rows)
    check(v, CONTRADICTED)
    assert all(abs(p["estimate"]) < 1e-12 for p in v.parts)


def test_verdict_aa_gap_not_run():
    rows = pd.DataFrame({"kind": ["RST"], "aa": [None]})
    assert cr.verdict_aa_gap(rows).verdict == "not run"


# ---- claims 3, 4, 5 ----------------------------------------------------------------------
def _variants(best: dict[str, float], n=None) -> pd.DataFrame:
    rows = []
    for k, v in best.items():
        rows += [row(v, n, variant=k, remaining=0.1), row(v - 0.05, n, variant=k, remaining=0.5)]
    return three(rows)


@pytest.mark.parametrize("best,expected", [
    ({"element": 0.20, "row": 0.10, "kernel": 0.0, "channel": -0.1}, SUPPORTED),
    ({"element": 0.20, "row": 0.0, "kernel": 0.10}, PARTLY),
    ({"element": 0.0, "row": 0.10, "kernel": 0.20}, CONTRADICTED),
    ({"element": 0.10, "row": 0.10, "kernel": 0.10}, INCONCLUSIVE),  # ties are no evidence
])
def test_verdict_patterns(best, expected):
    v = cr.verdict_patterns(_variants(best))
    check(v, expected)
    if "channel" in best:
        assert "channel" in v.ours, "an ungraded variant is still shown"


def test_verdict_patterns_needs_its_variants():
    assert cr.verdict_patterns(_variants({"element": 0.1, "row": 0.0})).verdict == "not run"


@pytest.mark.parametrize("best,expected", [
    ({"pgd": 0.20, "fgsm": 0.10, "fgsm_rs": 0.0}, SUPPORTED),
    ({"pgd": 0.0, "fgsm": 0.10, "fgsm_rs": 0.20}, CONTRADICTED),
    ({"pgd": 0.001, "fgsm": 0.0, "fgsm_rs": 0.002}, INCONCLUSIVE),
])
def test_verdict_search_attack(best, expected):
    check(cr.verdict_search_attack(_variants(best)), expected)


@pytest.mark.parametrize("sc,other,expected", [(0.10, 0.0, SUPPORTED), (0.0, 0.10, CONTRADICTED),
                                               (0.0, 0.0, INCONCLUSIVE)])
def test_verdict_initialisation(sc, other, expected):
    t = _variants({"signed_constant": sc, "kaiming_normal": other, "xavier_normal": other - 0.05})
    check(cr.verdict_initialisation(t), expected)


# ---- claims 6, 7, 8, 9 -------------------------------------------------------------------
@pytest.mark.parametrize("rst,inherit,reinit,expected", [
    (0.10, 0.12, 0.0, SUPPORTED), (0.10, -0.05, 0.0, PARTLY),
    (-0.10, -0.10, 0.0, CONTRADICTED), (0.0, 0.001, 0.0, INCONCLUSIVE)])
def test_verdict_lottery(rst, inherit, reinit, expected):
    t = three([row(a, kind=k, remaining=r) for r in (0.01, 0.05)
               for k, a in (("RST", rst), ("FT-Inherit", inherit), ("FT-Reinit", reinit))])
    check(cr.verdict_lottery(t), expected)


@pytest.mark.parametrize("widths,depths,expected", [
    ((0.0, 0.05, 0.10), (0.0, 0.10), SUPPORTED), ((0.0, 0.05, 0.10), (), SUPPORTED),
    ((0.10, 0.05, 0.0), (0.0, 0.10), PARTLY), ((0.10, 0.05, 0.0), (0.10, 0.0), CONTRADICTED),
    ((0.0, 0.0, 0.0), (0.0, 0.0), INCONCLUSIVE)])
def test_verdict_overparameterisation(widths, depths, expected):
    w = three([row(a, variant=f"w{i}", remaining=0.1) for i, a in enumerate(widths)])
    d = pd.DataFrame([row(a, variant=f"conv{i}", remaining=0.1) for i, a in enumerate(depths)])
    d = three(d) if len(d) else d
    check(cr.verdict_overparameterisation(w, d), expected)


@pytest.mark.parametrize("off,expected", [(0.20, SUPPORTED), (-0.10, CONTRADICTED),
                                          (0.061, INCONCLUSIVE)])
def test_verdict_transfer(off, expected):
    ratios = [0.05, 0.1, 0.2]
    outcomes = {f"{a}->{b}": model(0.0 if a == b else off) for a in ratios for b in ratios}
    m = pd.DataFrame([[sum(map(int, outcomes[f"{a}->{b}"])) / N for b in ratios] for a in ratios],
                     index=ratios, columns=ratios)
    check(cr.verdict_transfer(m, {k: [v] * 3 for k, v in outcomes.items()}), expected)
    assert cr.verdict_transfer(m).verdict == "not run"
    one = cr.verdict_transfer(m, outcomes)  # one matrix: a single seed
    assert one.verdict == INCONCLUSIVE and one.parts[0]["uninformative"] == "single seed"
    assert one.parts[0]["derivation"].startswith("the paper's smallest effect")


def _fractions(shift: float) -> list[float]:
    """A randomised model's share of correct draws per image: base, moved by `shift`."""
    return [float(c) for c in model(shift)]


def _worst(rows: pd.DataFrame) -> pd.DataFrame:
    """The per-seed worst case over every attack row, as study 08 computes it."""
    from tickets.studies.r2s_attacks import worst_case_rows

    return pd.DataFrame([{**worst_case_rows(g.to_dict("records")), "seed": sd}
                         for sd, g in rows.groupby("seed")])


@pytest.mark.parametrize("paper,adaptive,expected", [
    (0.15, 0.10, SUPPORTED),        # the gain survives every attack at once
    (0.15, -0.10, CONTRADICTED),    # the adaptive attack takes the gain and more
    (0.15, 0.0, INCONCLUSIVE),      # the adaptive attack takes the whole gain
])
def test_verdict_r2s_is_graded_on_the_worst_case_over_every_attack(paper, adaptive, expected):
    ev = [("clean", 0.3), ("1 paper: PGD on a random member", paper),
          ("2 exact expectation of the loss", adaptive), ("3 EOT-PGD", adaptive + 0.02)]
    rows = three([{"evaluation": e, "accuracy": 0.4 + s, "n": N, "seed": 0,
                   "outcomes": _fractions(s)} for e, s in ev])
    members = three([row(0.0, remaining=0.1), row(-0.05, remaining=0.5)])
    v = cr.verdict_r2s(rows, members, _worst(rows))
    check(v, expected)
    assert "worst case over every attack" in v.parts[0]["name"]
    assert v.parts[0]["estimate"] == pytest.approx(adaptive, abs=1e-9)
    assert "exact expectation" in v.ours, "the lowest mean over draws is still named"


# ---- boosting tickets ---------------------------------------------------------------------
def _early(accs):
    return pd.DataFrame({"prune_lr": [0.01, 0.05, 0.1], "early_robust": accs})


def _boost(peak_at, size=0.15):
    pruned = [0.5, 0.8, 0.9, 0.95]
    return pd.DataFrame({"pruned": pruned, "reinit_robust": 0.3,
                         "ticket_robust": [0.3 + (size if p == peak_at else 0.0) for p in pruned]})


@pytest.mark.parametrize("accs,peak,own", [  # parts: early lead, 80 % minus 50 %, minus 95 %
    ([0.40, 0.35, 0.30], 0.8, [SUPPORTED, SUPPORTED, SUPPORTED]),
    ([0.40, 0.35, 0.30], 0.95, [SUPPORTED, INCONCLUSIVE, CONTRADICTED]),  # peak outside 60-90 %
    ([0.30, 0.35, 0.40], 0.95, [CONTRADICTED, INCONCLUSIVE, CONTRADICTED]),
    ([0.301, 0.30, 0.30], 0.8, [INCONCLUSIVE, SUPPORTED, SUPPORTED]),  # no lead within noise
])
def test_verdict_boosting(accs, peak, own):
    """One training per setting: the intervals are shown (each on its own side) but a single
    seed is never graded."""
    v = cb.verdict_boosting(_early(accs), _boost(peak), 500)
    check(v, INCONCLUSIVE)
    assert [p["uninformative"] for p in v.parts] == ["single seed"] * 3
    sides = [INCONCLUSIVE if p["low"] <= 0 <= p["high"] else
             SUPPORTED if p["low"] > 0 else CONTRADICTED for p in v.parts]
    assert sides == own


@pytest.mark.parametrize("lead,spread,expected", [
    (0.08, 0.005, SUPPORTED), (-0.08, 0.005, CONTRADICTED), (0.08, 0.06, INCONCLUSIVE)])
def test_verdict_boosting_over_seeds(lead, spread, expected):
    """Three seeds, each seed's lead (early lead, and boost inside minus outside 60-90 %) at
    `lead` plus a seed deviation of -spread, 0 or +spread: both parts are graded over the
    seeds with the validation images' noise added, and re-derivable from their records."""
    from tickets.claims.rederive import check_part

    dev = {0: -spread, 1: 0.0, 2: spread}
    early = pd.DataFrame([{"seed": s, "prune_lr": lr, "early_robust": 0.35 + (
        lead + dev[s] if lr == 0.01 else 0.0)} for s in dev for lr in (0.01, 0.1)])
    boost = pd.DataFrame([{"seed": s, "pruned": p, "reinit_robust": 0.3, "ticket_robust": 0.3 + (
        lead + dev[s] if p == 0.8 else 0.0)} for s in dev for p in (0.5, 0.8)])
    v = cb.verdict_boosting(early, boost, 2000)
    check(v, expected)
    assert [p["n_seeds"] for p in v.parts] == [3, 3] and all(p["graded"] for p in v.parts)
    assert {p["interval"]["method"] for p in v.parts} == {"seeds-normal"}
    for p in v.parts:
        assert p["estimate"] == pytest.approx(lead) and check_part(p)[1] == ""
    one = cb.verdict_boosting(early[early["seed"] == 1], boost[boost["seed"] == 1], 2000)
    assert [p["uninformative"] for p in one.parts] == ["single seed"] * 2
    assert all(p["high"] - p["low"] < q["high"] - q["low"] for p, q in zip(one.parts, v.parts,
                                                                          strict=True))


@pytest.mark.parametrize("ticket,passes,expected", [
    (0.0, 600, SUPPORTED), (-0.10, 600, CONTRADICTED), (-0.10, 1200, CONTRADICTED)])
def test_verdict_fgsm_ticket(ticket, passes, expected):
    """The cost in passes is design information, not a part: only the parity is graded."""
    t = three([row(0.0, kind="dense PGD-AT", epochs=5, total_passes=1000, total_seconds=10.0),
               row(ticket, kind="FGSM ticket + PGD retraining", epochs=3,
                   total_passes=passes, total_seconds=6.0)])
    v = cb.verdict_fgsm_ticket(t)
    check(v, expected)
    assert [p["key"] for p in v.parts] == ["boost-2/parity"] and "design information" in v.note


@pytest.mark.parametrize("narrow_drop,wide_drop,expected", [
    (0.15, 0.01, SUPPORTED), (0.01, 0.15, CONTRADICTED), (0.05, 0.05, INCONCLUSIVE)])
def test_verdict_collapse(narrow_drop, wide_drop, expected):
    cap = three([row(0.1, kind="dense", width=0.125),
                 row(0.1 - narrow_drop, kind="ticket", width=0.125),
                 row(0.1, kind="dense", width=0.5), row(0.1 - wide_drop, kind="ticket", width=0.5)])
    check(cb.verdict_collapse(cap), expected)


# ---- adversarial winning tickets (reconstruction) -----------------------------------------
@pytest.mark.parametrize("awt,base,expected", [
    (0.0, -0.10, SUPPORTED), (-0.10, -0.15, PARTLY), (-0.20, -0.10, CONTRADICTED)])
def test_verdict_awt_parity(awt, base, expected):
    rows = [row(0.0, method="dense", sparsity=0.0)]
    for s in (0.8, 0.9):
        rows += [row(awt, method="awt", sparsity=s), row(base, method="random", sparsity=s)]
    check(ca.verdict_awt_parity(three(rows)), expected)


@pytest.mark.parametrize("awt,side", [(0.1, "below"), (0.9, "above"), (0.5, "covers")])
def test_verdict_awt_dynamics(awt, side):
    """Each seed's mean over epochs, AWT minus the baseline (a single one here, so no choice
    on validation is needed), with a t interval over seeds; shown, never graded: every seed
    measures on the same few probes, whose noise no interval here covers."""
    rows = []
    for seed in range(3):
        for s in (0.8, 0.9):
            for e in range(0, 6):
                noise = 0.01 * np.sin(e + seed)
                rows += [{"seed": seed, "sparsity": s, "epoch": e, "method": "awt",
                          "kernel_distance_adv": awt + noise, "output_gap_adv": awt + noise},
                         {"seed": seed, "sparsity": s, "epoch": e, "method": "snip",
                          "kernel_distance_adv": 0.5 - noise, "output_gap_adv": 0.5 - noise}]
    t = pd.DataFrame(rows)
    v = ca.verdict_awt_dynamics(t)
    check(v, INCONCLUSIVE)
    assert all(p["n_seeds"] == 3 and p["unit"] == "seeds" for p in v.parts)
    assert all(p["uninformative"] == ca.PROBE_NOISE and p["outcome"] == INCONCLUSIVE
               for p in v.parts)
    where = {"below": lambda p: p["high"] < 0, "above": lambda p: p["low"] > 0,
             "covers": lambda p: p["low"] < 0 < p["high"]}[side]
    assert all(where(p) for p in v.parts), [(p["low"], p["high"]) for p in v.parts]
    assert "kernel distance" in v.ours and "snip" in v.ours and "0.8" not in v.ours.split(":")[0]
    one = ca.verdict_awt_dynamics(t[t["seed"] == 0].drop(columns="seed"))  # epochs of one run
    assert one.verdict == INCONCLUSIVE and "3 or more seeds" in one.note
    assert all(p["n_seeds"] == 1 for p in one.parts)
    assert "reconstruction" in claims.CLAIMS_BY_ID["awt-2"].title


@pytest.mark.parametrize("narrow_gap,wide_gap,expected", [
    (0.15, 0.01, SUPPORTED), (0.01, 0.15, CONTRADICTED), (0.05, 0.05, INCONCLUSIVE)])
def test_verdict_awt_width(narrow_gap, wide_gap, expected):
    t = three([{"method": "awt", "width": w, "seed": 0, "gap_pgd": g,
                "pgd_correct": model(-g), "dense_pgd_correct": model(0.0)}
               for w, g in ((0.125, narrow_gap), (0.5, wide_gap))])
    check(ca.verdict_awt_width(t), expected)


def test_compare_refuses_sides_on_different_images_unless_asked():
    from tickets.claims.base import compare

    a = three([{"pgd_correct": model(0.05)}])
    b = three([{"pgd_correct": model(0.0)[:200]}])
    with pytest.raises(ValueError, match="image counts differ"):
        compare(a, b)
    assert compare(a, b, first_shared=True).n_images == 200


def test_verdict_r2s_grades_the_images_every_attack_shared():
    """AutoAttack on the first 200 images only: the worst case covers those 200, and the part
    compares them with the best member on those same images. A draw that was wrong on an
    image (a share below 1) makes the image count as broken."""
    ev = [("clean", 0.0, N), ("1 paper: PGD on a random member", 0.15, N),
          ("2 exact expectation of the loss", 0.05, N),
          ("4 AutoAttack (rand version)", -0.10, 200)]
    rows = three([{"evaluation": e, "accuracy": 0.4 + sh, "n": n, "seed": 0,
                   "outcomes": _fractions(sh)[:n]} for e, sh, n in ev])
    members = three([row(0.0, remaining=0.1)])
    v = cr.verdict_r2s(rows, members, _worst(rows))
    assert "first 200 images" in v.parts[0]["name"] and v.parts[0]["n_images"] == 200
    halves = rows.assign(outcomes=[[0.8 if x == 1.0 else x for x in o] for o in rows["outcomes"]])
    assert _worst(halves)["accuracy"].max() == 0.0


def test_a_curve_or_a_gap_at_chance_is_inconclusive():
    """RSTs that learned nothing (every ratio at 10 %, one class) agree on every image: the
    inverted U's differences are exactly zero and the AutoAttack gap too, which would grade as
    contradicted against the paper's margins. Both sides at chance make those parts
    inconclusive; a side above chance leaves them graded."""
    one_class = "".join("1" if i % 10 == 0 else "0" for i in range(N))
    flat = three([{"pgd": 0.1, "clean": 0.1, "pgd_correct": one_class, "n_test": N,
                   "seed": 0, "kind": "RST", "remaining": r, "val_pgd": 0.1}
                  for r in (0.01, 0.1, 0.7)])
    v = cr.verdict_inverted_u(flat)
    check(v, INCONCLUSIVE)
    assert all("chance" in p["uninformative"] for p in v.parts)
    rows = three([{"kind": "RST", "seed": 0, "aa_n": N, "aa": 0.1,
                   "pgd_on_aa_images": 0.1, "aa_correct": one_class, "aa_alone": 0.1,
                   "aa_alone_correct": one_class, "pgd_on_aa_correct": one_class}])
    v = cr.verdict_aa_gap(rows)
    check(v, INCONCLUSIVE)
    assert all("chance" in p["uninformative"] for p in v.parts)
    # a learned peak over ends at chance: the ends' collapse is the claim itself, so those
    # parts are graded (the chance rule looks at the peak)
    learned = flat.copy()
    learned.loc[learned["remaining"] == 0.1, ["pgd_correct", "val_pgd"]] = [model(0.0), 0.4]
    v = cr.verdict_inverted_u(learned)
    assert all(p["outcome"] == SUPPORTED and p["uninformative"] == "" for p in v.parts[:2])


def test_rst2_end_parts_need_the_papers_collapse_ratios():
    sweep = _sweep({0.03: 0.0, 0.1: 0.15, 0.3: 0.05})
    v = cr.verdict_inverted_u(sweep)
    assert [p["outcome"] for p in v.parts[:2]] == [INCONCLUSIVE, INCONCLUSIVE]
    assert "above the paper's collapse at 0.01" in v.parts[0]["uninformative"]
    assert "below the paper's collapse at 0.7" in v.parts[1]["uninformative"]
    wide = _sweep({0.01: 0.0, 0.1: 0.15, 0.7: 0.05})
    assert [p["outcome"] for p in cr.verdict_inverted_u(wide).parts[:2]] == [SUPPORTED,
                                                                            SUPPORTED]


def _at(acc: float, n: int = N, offset: int = 0) -> str:
    """A 0/1 string at accuracy `acc` (its right images start at `offset`)."""
    k = int(round(acc * n))
    return "".join("1" if (i - offset) % n < k else "0" for i in range(n))


def test_the_chance_rule_in_the_report_examples():
    """The referee's three cases, each with one side at chance: awt-3's AWT at 11.7 % against
    dense at 3.9 % (width 0.125), boost-3's narrow ticket at 8.2 %, and awt-1's random mask
    at 11.4 %. awt-3's (the dense net at chance) and awt-1's parts are inconclusive; boost-3's
    is graded, since a narrow ticket at chance is the collapse it claims."""
    t = three([{"method": "awt", "width": 0.125, "gap_pgd": -0.078, "pgd_correct": _at(0.117),
                "dense_pgd_correct": _at(0.039)},
               {"method": "awt", "width": 0.5, "gap_pgd": 0.0, "pgd_correct": _at(0.35),
                "dense_pgd_correct": _at(0.35)}])
    v = ca.verdict_awt_width(t)
    assert v.verdict == INCONCLUSIVE
    assert "dense at width 0.125 3.9" in v.parts[0]["uninformative"]
    # at one seed (1,000 images) AWT's 11.7 % is within two standard errors of chance too, but
    # the narrow AWT is the side the claim says falls: the rule names the narrow dense net alone
    assert "AWT at width" not in ca.verdict_awt_width(
        t[t["seed"] == 0]).parts[0]["uninformative"]
    cap = three([{"kind": "dense", "width": 0.125, "pgd": 0.25, "pgd_correct": _at(0.25)},
                 {"kind": "ticket", "width": 0.125, "pgd": 0.082, "pgd_correct": _at(0.082)},
                 {"kind": "dense", "width": 0.5, "pgd": 0.35, "pgd_correct": _at(0.35)},
                 {"kind": "ticket", "width": 0.5, "pgd": 0.34, "pgd_correct": _at(0.34)}])
    # the narrow ticket at 8.2 % is the collapse boost-3 claims: graded, not inconclusive
    v = cb.verdict_collapse(cap)
    assert v.verdict == SUPPORTED and v.parts[0]["uninformative"] == ""
    def awt1(random_acc: float) -> pd.DataFrame:
        return three([row(0.0, method="dense", sparsity=0.0),
                      row(0.0, method="awt", sparsity=0.95),
                      {**row(0.0, method="random", sparsity=0.95), "pgd": random_acc,
                       "pgd_correct": _at(random_acc), "val_pgd": random_acc}])

    one = ca.verdict_awt_parity(awt1(0.114).query("seed == 0"))  # the report's single seed
    assert "random 11.4" in one.parts[1]["uninformative"]
    v = ca.verdict_awt_parity(awt1(0.105))  # three seeds: 10.5 % is at chance
    assert [p["outcome"] for p in v.parts] == [SUPPORTED, INCONCLUSIVE]
    assert "random 10.5" in v.parts[1]["uninformative"]


def test_choices_in_verdicts_follow_validation_not_test():
    """Validation ranks the ratios the other way round from test: the best RST, the peak and
    the best other init are the validation's choices, and shuffling the test accuracies
    changes nothing."""
    rst = _sweep({0.03: 0.0, 0.1: 0.02, 0.3: 0.10})
    rst["val_pgd"] = rst["remaining"].map({0.03: 0.3, 0.1: 0.5, 0.3: 0.2})
    dense = three([row(0.0, kind="same"), row(0.0, kind="small")])
    v = cr.verdict_existence(rst, dense)
    assert "r=0.1" in v.ours
    shuffled = rst.assign(pgd=rst["pgd"].sample(frac=1, random_state=0).to_numpy())
    assert cr.verdict_existence(shuffled, dense).ours.startswith("best RST (r=0.1)")
    assert "peak (r=0.1)" in cr.verdict_inverted_u(rst).parts[0]["name"]
    t = _variants({"signed_constant": 0.0, "kaiming_normal": 0.10, "xavier_normal": 0.05})
    t["val_pgd"] = t["variant"].map({"signed_constant": 0.3, "kaiming_normal": 0.2,
                                     "xavier_normal": 0.4})
    v = cr.verdict_initialisation(t)
    assert all("minus xavier_normal" in p["name"] for p in v.parts)
    with pytest.raises(ValueError, match="val_pgd"):
        cr.verdict_existence(rst.drop(columns="val_pgd"), dense)


# ---- boosting and AWT: choices fixed in advance or made on validation ---------------------
def _dynamics(values: dict[str, float]) -> pd.DataFrame:
    """awt-2's dynamics rows, three seeds, two sparsities: each method's kernel distance and
    output gap at `values[method]` plus a small per-epoch wobble."""
    return pd.DataFrame([{"seed": seed, "sparsity": s, "epoch": e, "method": m,
                          "kernel_distance_adv": v + 0.01 * np.sin(e + seed),
                          "output_gap_adv": v + 0.01 * np.sin(e + seed)}
                         for seed in range(3) for s in (0.8, 0.9) for e in range(4)
                         for m, v in values.items()])


def _awt_table(val: dict[str, float], shift: dict[str, float] | None = None) -> pd.DataFrame:
    """The study's table for awt-2: validation robust accuracy `val[method]` and test
    outcomes at 40 % plus `shift[method]`."""
    shift = shift or {}
    rows = [row(shift.get("dense", 0.0), method="dense", sparsity=0.0, val_pgd=0.4)]
    rows += [row(shift.get(m, 0.0), method=m, sparsity=s, val_pgd=v)
             for s in (0.8, 0.9) for m, v in val.items()]
    return three(rows)


def test_awt2_baseline_is_chosen_on_validation_not_on_the_graded_dynamics():
    """snip is the closest baseline on the (test-probe) dynamics, random the best on
    validation: the part compares AWT with random, whatever the dynamics say; with several
    baselines and no validation column there is no choice to make."""
    dyn = _dynamics({"awt": 0.3, "snip": 0.2, "random": 0.6})
    table = _awt_table({"awt": 0.4, "snip": 0.3, "random": 0.45})
    v = ca.verdict_awt_dynamics(dyn, table)
    check(v, INCONCLUSIVE)  # shown, not graded (the probe set's noise)
    assert all("AWT minus random" in p["name"] and p["high"] < 0 for p in v.parts)
    closer = _dynamics({"awt": 0.3, "snip": 0.9, "random": 0.1})  # now random is closest
    assert all("AWT minus random" in p["name"]
               for p in ca.verdict_awt_dynamics(closer, table).parts)
    with pytest.raises(ValueError, match="val_pgd"):
        ca.verdict_awt_dynamics(dyn)
    # a single baseline needs no choice
    one = dyn[dyn["method"] != "random"]
    assert all("AWT minus snip" in p["name"] for p in ca.verdict_awt_dynamics(one).parts)


def test_awt2_applies_the_chance_rule_to_the_nets_it_compares():
    """A baseline (or the dense reference) at chance makes awt-2's parts inconclusive: AWT
    being closer to the dense net than a net that learned nothing shows nothing."""
    dyn = _dynamics({"awt": 0.1, "random": 0.6})
    learned = ca.verdict_awt_dynamics(dyn, _awt_table({"awt": 0.4, "random": 0.3}))
    assert all(p["uninformative"] == ca.PROBE_NOISE for p in learned.parts)
    flat = ca.verdict_awt_dynamics(dyn, _awt_table({"awt": 0.4, "random": 0.1},
                                                   {"random": -0.30}))
    check(flat, INCONCLUSIVE)
    assert all("at chance level: random" in p["uninformative"] for p in flat.parts)
    dense_flat = ca.verdict_awt_dynamics(dyn, _awt_table({"awt": 0.4, "random": 0.3},
                                                         {"dense": -0.31}))
    assert all("dense PGD-AT" in p["uninformative"] for p in dense_flat.parts)


def test_boost1_window_fractions_are_fixed_by_the_design_not_by_the_boosts():
    """Inside 60-90 % the part uses the fraction nearest 75 % (80 %), and it has one part per
    outside fraction: moving the largest boost between fractions changes the estimates, never
    which fractions are compared."""
    assert cb.window_fraction([0.5, 0.8, 0.9, 0.95]) == 0.8
    assert cb.window_fraction([0.6, 0.9]) == 0.9 and cb.window_fraction([0.5, 0.95]) is None
    names = ["boost at 80 % pruned minus at 50 %", "boost at 80 % pruned minus at 95 %"]
    for peak in (0.5, 0.8, 0.9, 0.95):
        v = cb.verdict_boosting(_early([0.40, 0.35, 0.30]), _boost(peak), 500)
        assert [p["name"] for p in v.parts[1:]] == names, peak
        assert {p["key"] for p in v.parts[1:]} == {"boost-1/window"}
    inside_only = cb.verdict_boosting(_early([0.40, 0.35, 0.30]),
                                      _boost(0.8).query("pruned in (0.8, 0.9)"), 500)
    assert len(inside_only.parts) == 1 and "not tested" in inside_only.note


def _cap(narrow_dense: float, narrow_ticket: float, wide_dense: float, wide_ticket: float):
    return three([{"kind": k, "width": w, "pgd": a, "pgd_correct": _at(a)}
                  for k, w, a in (("dense", 0.125, narrow_dense), ("ticket", 0.125, narrow_ticket),
                                  ("dense", 0.5, wide_dense), ("ticket", 0.5, wide_ticket))])


def _trend(narrow_dense: float, narrow_awt: float, wide_dense: float, wide_awt: float):
    return three([{"method": "awt", "width": w, "gap_pgd": d - a, "pgd_correct": _at(a),
                   "dense_pgd_correct": _at(d)}
                  for w, d, a in ((0.125, narrow_dense, narrow_awt),
                                  (0.5, wide_dense, wide_awt))])


def test_collapse_and_width_apply_the_chance_rule_to_the_sides_not_claimed_to_fall():
    """boost-3 claims the narrow pruned ticket collapses, awt-3 that narrow AWT falls furthest
    behind dense: that side at chance is the claimed effect and the part is graded; the dense
    nets and the wide sparse net at chance make the part inconclusive."""
    check(cb.verdict_collapse(_cap(0.30, 0.10, 0.35, 0.34)), SUPPORTED)
    check(ca.verdict_awt_width(_trend(0.30, 0.10, 0.35, 0.34)), SUPPORTED)
    for args, side in (((0.10, 0.10, 0.35, 0.34), "dense at width 0.125"),
                       ((0.30, 0.25, 0.10, 0.10), "dense at width 0.5"),
                       ((0.30, 0.25, 0.35, 0.10), "at width 0.5")):
        for v in (cb.verdict_collapse(_cap(*args)), ca.verdict_awt_width(_trend(*args))):
            assert v.verdict == INCONCLUSIVE and side in v.parts[0]["uninformative"], v.reason


def test_reinit_weights_are_no_search_seeds_initial_weights():
    """Study 09's random re-init and study 05's FT-Reinit draw their weights at the init seed
    plus a large offset: no search seed's re-init is another seed's initial network (an offset
    of 1 made seed s's re-init seed s + 1's init). Builds small nets; trains nothing."""
    import torch

    from tickets.config import replace as cfg_replace
    from tickets.models import build_from_config
    from tickets.recipes import base_config, with_seed
    from tickets.studies import boosting as sb
    from tickets.studies import lottery

    cfg = base_config(model="conv2", width=0.25, dataset="synthetic", n_train=64, n_val=32)
    seeds = range(3)
    model = sb.boost_config(cfg).model
    inits = [sb.start_state(with_seed(sb.boost_config(cfg), s).model) for s in seeds]
    kaiming = [build_from_config(cfg_replace(with_seed(cfg, s).model, init="kaiming_normal"))
               .state_dict() for s in seeds]

    def same(a: dict, b: dict) -> bool:
        keys = [k for k in a if k.endswith("weight") and a[k].dim() > 1]
        return bool(keys) and all(torch.equal(a[k], b[k]) for k in keys)

    assert sb.REINIT_SEED_OFFSET >= 1000 and lottery.REINIT_SEED_OFFSET >= 1000
    assert same(sb.start_state(model), inits[0]), "the rewind is the seed's own init"
    for s in seeds:
        scfg = with_seed(cfg, s)
        reinit = sb.start_state(sb.boost_config(scfg).model, reinit=True)
        fresh = lottery.reinit_state(build_from_config(scfg.model).state_dict(), scfg)
        assert not any(same(reinit, i) for i in inits), s
        assert not any(same(fresh, k) for k in kaiming), s


def test_chance_rule_counts_the_shared_images_once():
    """Three seeds on the same 1,000 images: the standard error is that of 1,000 images (10 %
    + 2 SE = 11.9 %), not of 3,000 (11.1 %). A model at 11.5 % is at chance; at 12.5 % it is
    not, with per-image outcomes or with (accuracy, images) alike."""
    from tickets.claims.base import at_chance_level, chance_rule

    def seeds(acc: float) -> np.ndarray:
        m = np.zeros((3, 1000))
        m[:, : int(round(acc * 1000))] = 1
        return m

    assert at_chance_level(seeds(0.115)) and not at_chance_level(seeds(0.125))
    assert at_chance_level(seeds(0.115)[0]) and not at_chance_level(seeds(0.125)[0])
    assert "at chance level: a 11.5" in chance_rule({"a": seeds(0.115), "b": seeds(0.3)})
    assert chance_rule({"a": (0.115, 1000)}) and not chance_rule({"a": (0.125, 1000)})
