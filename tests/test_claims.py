"""The verdict rules of all 16 claims on constructed tables, the grading helper, and the
standard error they read differences against."""

import math

import pandas as pd
import pytest

from tickets import claims
from tickets.claims import awt as ca
from tickets.claims import boosting as cb
from tickets.claims import rst as cr
from tickets.claims.base import grade
from tickets.stats import standard_error, worst_case_standard_error


def _rst_table(pgd, ratios=(0.01, 0.05, 0.2, 0.5, 0.9)):
    return pd.DataFrame({"kind": "RST", "remaining": list(ratios), "pgd": pgd,
                         "clean": [p + 0.2 for p in pgd]})


def test_inverted_u_verdicts():
    u = cr.verdict_inverted_u(_rst_table([0.10, 0.25, 0.30, 0.22, 0.05]))
    assert u.verdict == "reproduced"
    shifted = cr.verdict_inverted_u(_rst_table([0.10, 0.12, 0.15, 0.30, 0.05]))
    assert shifted.verdict == "partly"  # an inverted U, but peaking outside 5-20 %
    flat = cr.verdict_inverted_u(_rst_table([0.30, 0.25, 0.20, 0.15, 0.05]))
    assert flat.verdict == "not reproduced"


def test_existence_verdicts():
    rst = _rst_table([0.10, 0.25, 0.30, 0.22, 0.05])
    dense = pd.DataFrame({"kind": ["same", "small"], "pgd": [0.32, 0.28],
                          "clean": [0.5, 0.45]})
    assert cr.verdict_existence(rst, dense).verdict == "reproduced"
    dense_far = dense.assign(pgd=[0.40, 0.35])
    assert cr.verdict_existence(rst, dense_far).verdict == "not reproduced"
    dense_mixed = dense.assign(pgd=[0.40, 0.28])
    assert cr.verdict_existence(rst, dense_mixed).verdict == "partly"


def test_aa_gap_verdicts():
    rows = pd.DataFrame({"kind": ["RST", "RST", "dense"], "aa": [0.10, 0.12, 0.2],
                         "pgd_on_aa_images": [0.20, 0.19, 0.21]})
    assert cr.verdict_aa_gap(rows).verdict == "reproduced"
    close = rows.assign(aa=[0.195, 0.185, 0.2])
    assert cr.verdict_aa_gap(close).verdict == "not reproduced"


def test_bad_verdicts_are_rejected():
    with pytest.raises(ValueError, match="verdict"):
        claims.Verdict("rst-1", "sort of", "", "")
    with pytest.raises(ValueError, match="claim"):
        claims.Verdict("rst-99", "partly", "", "")


def test_ties_are_no_evidence():
    t = pd.DataFrame({"variant": ["signed_constant", "kaiming_normal"] * 2,
                      "remaining": [0.1, 0.1, 0.5, 0.5], "pgd": [0.0] * 4, "n_test": 100})
    assert cr.verdict_initialisation(t).verdict == "not reproduced"
    s = pd.DataFrame({"variant": ["pgd", "fgsm", "fgsm_rs"], "remaining": 0.1,
                      "pgd": [0.0] * 3, "n_test": 100})
    assert cr.verdict_search_attack(s).verdict == "not reproduced"
    s2 = s.assign(pgd=[0.3, 0.2, 0.1])
    assert cr.verdict_search_attack(s2).verdict == "reproduced"
    init = t.assign(pgd=[0.3, 0.2, 0.25, 0.2])
    assert cr.verdict_initialisation(init).verdict == "reproduced"


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
    assert cb.verdict_boosting(_early(accs), _boost(peak), 250).verdict == expected


@pytest.mark.parametrize("ticket_pgd,ticket_passes,expected", [
    (0.30, 600, "reproduced"), (0.295, 600, "reproduced"), (0.25, 600, "partly"),
    (0.30, 1200, "partly"), (0.25, 1200, "not reproduced")])
def test_verdict_fgsm_ticket(ticket_pgd, ticket_passes, expected):
    t = pd.DataFrame({"kind": ["dense PGD-AT", "FGSM ticket + PGD retraining"],
                      "pgd": [0.30, ticket_pgd], "clean": [0.5, 0.5], "epochs": [5, 3],
                      "total_passes": [1000, ticket_passes], "total_seconds": [10.0, 6.0],
                      "n_test": [500, 500]})
    assert cb.verdict_fgsm_ticket(t).verdict == expected


@pytest.mark.parametrize("drops,expected", [((0.10, 0.01), "reproduced"),
                                            ((0.02, 0.01), "partly"),
                                            ((0.01, 0.03), "not reproduced")])
def test_verdict_collapse(drops, expected):
    t = pd.DataFrame({"width": [0.125, 0.5], "drop_pgd": list(drops),
                      "dense_pgd": [0.2, 0.3], "ticket_pgd": [0.1, 0.29]})
    assert cb.verdict_collapse(t).verdict == expected


def _awt_table(awt_acc, base_acc, dense=0.30):
    rows = [{"method": "dense", "sparsity": 0.0, "pgd": dense, "n_test": 500}]
    for s, a, b in zip([0.8, 0.9], awt_acc, base_acc, strict=True):
        rows += [{"method": "awt", "sparsity": s, "pgd": a, "n_test": 500},
                 {"method": "random", "sparsity": s, "pgd": b, "n_test": 500}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("awt_acc,base_acc,expected", [
    ((0.29, 0.29), (0.2, 0.2), "reproduced"),
    ((0.29, 0.20), (0.2, 0.25), "partly"),
    ((0.20, 0.20), (0.25, 0.25), "not reproduced")])
def test_verdict_awt_parity(awt_acc, base_acc, expected):
    assert ca.verdict_awt_parity(_awt_table(awt_acc, base_acc)).verdict == expected


@pytest.mark.parametrize("awt_vals,expected", [((0.1, 0.1), "reproduced"),
                                               ((0.1, 0.9), "partly"),
                                               ((0.9, 0.9), "not reproduced")])
def test_verdict_awt_dynamics(awt_vals, expected):
    rows = []
    for s, v in zip([0.8, 0.9], awt_vals, strict=True):
        rows += [{"sparsity": s, "method": "awt", "kernel_distance_adv": v, "output_gap_adv": v},
                 {"sparsity": s, "method": "snip", "kernel_distance_adv": 0.5,
                  "output_gap_adv": 0.5}]
    assert ca.verdict_awt_dynamics(pd.DataFrame(rows)).verdict == expected


@pytest.mark.parametrize("gaps,expected", [((0.1, 0.05, 0.01), "reproduced"),
                                           ((0.1, 0.12, 0.05), "partly"),
                                           ((0.05, 0.06, 0.08), "not reproduced")])
def test_verdict_awt_width(gaps, expected):
    t = pd.DataFrame({"width": [0.125, 0.25, 0.5], "method": "awt", "gap_pgd": list(gaps),
                      "pgd": 0.2, "n_test": 500})
    assert ca.verdict_awt_width(t).verdict == expected


def test_grade_maps_full_and_partial_support_to_the_three_verdicts():
    assert grade(True, True) == "reproduced"
    assert grade(True, False) == "reproduced"
    assert grade(False, True) == "partly"
    assert grade(False, False) == "not reproduced"


def test_standard_error_by_hand():
    # sqrt(0.3 * 0.7 / 100) = sqrt(0.0021)
    assert standard_error(0.3, 100) == pytest.approx(0.045825757, abs=1e-9)
    assert worst_case_standard_error(400) == pytest.approx(0.025)
    assert standard_error(0.0, 10) == 0.0 and standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="n="):
        standard_error(0.5, 0)
    with pytest.raises(ValueError, match="p="):
        standard_error(1.5, 10)


def test_noise_statement_uses_the_shared_standard_error():
    t = pd.DataFrame({"pgd": [0.3, 0.3], "n_test": [100, 200]})
    expected = 100 * math.sqrt(0.3 * 0.7 / 100)
    assert f"n=100 is about {expected:.1f} points" in claims.base.table_noise(t)


def test_every_claim_has_its_notebook_section():
    assert len(claims.CLAIMS) == 16 and len(claims.CLAIMS_BY_ID) == 16
    assert [c.id for c in claims.CLAIMS][:2] == ["rst-1", "rst-2"]
    for c in claims.CLAIMS:
        assert c.anchor == f"claim-{c.id}" and c.notebook[:2].isdigit()


def _variants(best: dict[str, float]) -> pd.DataFrame:
    """Two ratios per variant, the better one at `best`."""
    rows = []
    for k, v in best.items():
        rows += [{"variant": k, "remaining": 0.1, "pgd": v, "n_test": 500},
                 {"variant": k, "remaining": 0.5, "pgd": v - 0.05, "n_test": 500}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("best,expected", [
    ({"element": 0.30, "row": 0.25, "kernel": 0.20, "channel": 0.1}, "reproduced"),
    ({"element": 0.30, "row": 0.20, "kernel": 0.25}, "partly"),      # element first only
    ({"element": 0.20, "row": 0.30, "kernel": 0.10}, "not reproduced"),
    ({"element": 0.30, "row": 0.30, "kernel": 0.10}, "not reproduced"),  # a tie is no lead
])
def test_verdict_patterns(best, expected):
    v = cr.verdict_patterns(_variants(best))
    assert v.verdict == expected
    if "channel" in best:
        assert "channel" in v.ours, "an ungraded variant is still shown"


def test_verdict_patterns_needs_its_variants():
    assert cr.verdict_patterns(_variants({"element": 0.3, "row": 0.2})).verdict == "not run"


def _lottery(by_ratio: dict[float, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"remaining": r, "kind": k, "pgd": a, "n_test": 500}
                         for r, accs in by_ratio.items()
                         for k, a in zip(("RST", "FT-Inherit", "FT-Reinit"), accs, strict=True)])


@pytest.mark.parametrize("by_ratio,expected", [
    ({0.01: (0.30, 0.32, 0.28), 0.05: (0.35, 0.36, 0.33)}, "reproduced"),
    ({0.01: (0.30, 0.27, 0.28), 0.05: (0.35, 0.32, 0.33)}, "partly"),   # RST > Reinit only
    ({0.01: (0.27, 0.30, 0.28), 0.05: (0.35, 0.36, 0.33)}, "partly"),   # fails at one ratio
    ({0.01: (0.25, 0.26, 0.28), 0.05: (0.30, 0.31, 0.33)}, "not reproduced"),
])
def test_verdict_lottery(by_ratio, expected):
    assert cr.verdict_lottery(_lottery(by_ratio)).verdict == expected


def _sizes(accs: list[float], prefix: str) -> pd.DataFrame:
    return pd.DataFrame({"variant": [f"{prefix}{i}" for i in range(len(accs))], "pgd": accs,
                         "n_test": 500})


@pytest.mark.parametrize("widths,depths,expected", [
    ([0.2, 0.25, 0.3], [0.2, 0.3], "reproduced"),
    ([0.2, 0.25, 0.3], [], "reproduced"),            # depth not run: width decides
    ([0.2, 0.35, 0.3], [0.2, 0.3], "partly"),        # width rises end to end, not monotone
    ([0.3, 0.25, 0.2], [0.2, 0.3], "partly"),        # depth rises, width falls
    ([0.3, 0.25, 0.2], [0.3, 0.2], "not reproduced"),
    ([0.3, 0.3, 0.3], [0.3, 0.3], "not reproduced"),  # flat is no rise
])
def test_verdict_overparameterisation(widths, depths, expected):
    d = _sizes(depths, "conv") if depths else pd.DataFrame(columns=["variant", "pgd", "n_test"])
    assert cr.verdict_overparameterisation(_sizes(widths, "w"), d).verdict == expected


@pytest.mark.parametrize("diag,off,expected", [(0.20, 0.35, "reproduced"),
                                               (0.20, 0.25, "partly"),
                                               (0.20, 0.21, "not reproduced")])
def test_verdict_transfer(diag, off, expected):
    m = pd.DataFrame([[diag, off, off], [off, diag, off], [off, off, diag]],
                     index=[0.05, 0.1, 0.2], columns=[0.05, 0.1, 0.2])
    assert cr.verdict_transfer(m).verdict == expected


def _r2s_rows(paper: float, adaptive: float) -> pd.DataFrame:
    return pd.DataFrame({"evaluation": ["clean", "1 paper: PGD on a random member",
                                        "2 exact expectation of the loss", "3 EOT-PGD"],
                         "accuracy": [0.6, paper, adaptive, adaptive + 0.01]})


@pytest.mark.parametrize("paper,adaptive,expected", [
    (0.45, 0.40, "reproduced"),      # the gain survives the strongest attack
    (0.45, 0.32, "partly"),          # a gain under 3 points survives
    (0.45, 0.25, "not reproduced"),  # the adaptive attack takes the whole gain
])
def test_verdict_r2s_is_graded_on_the_strongest_attack(paper, adaptive, expected):
    v = cr.verdict_r2s(_r2s_rows(paper, adaptive), best_single=0.30)
    assert v.verdict == expected
    assert "exact expectation" in v.ours, "the strongest evaluation is named"
