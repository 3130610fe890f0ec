"""The family-wise outcome of every graded part of a report: Holm-Bonferroni over all of a
profile's parts, so that the chance of any false "supported" or "contradicted" in the whole
report stays at most alpha, not alpha per part.

Each graded part record carries one-sided p-values consistent with its own interval
(`p_supported`, `p_contradicted`, tickets.claims.base.Part): at level L the interval excludes
the threshold on a side exactly when that side's p-value is below (1 - L) / 2. A part's test
p-value is twice the smaller of the two (either direction could have been claimed), and Holm
runs over those of all graded parts at alpha (0.05 by default, matching the parts' 95 %
intervals: a family of one part keeps that part's own outcome). A part keeps its outcome in
the family only when its p-value survives Holm; every other part, and every part that is not
graded (single seed, at chance, too few seeds), is inconclusive in the family.

    from tickets.claims import family_outcomes
    records = family_outcomes({c: json.load(...) for c in ...})
    records["rst-1"]["parts"][0]["family_outcome"]
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from tickets.claims.base import NOT_RUN, combine_outcomes
from tickets.stats import CONTRADICTED, INCONCLUSIVE, SUPPORTED, holm

METHOD = "Holm-Bonferroni"


def _test_p(part: dict) -> tuple[float | None, str]:
    """A part's two-sided p-value and the outcome it would have, from its one-sided ones."""
    ps, pc = part.get("p_supported"), part.get("p_contradicted")
    if ps is None or pc is None:
        return None, INCONCLUSIVE
    side = SUPPORTED if ps <= pc else CONTRADICTED
    return min(1.0, 2.0 * min(ps, pc)), side


def _graded(part: dict) -> bool:
    if "graded" in part:
        return bool(part["graded"])
    # a record written before parts said whether they were graded: graded unless it named why
    # not (such a part has no p-values, so it counts in the family and never survives)
    return not part.get("uninformative")


def family_outcomes(records: Mapping[str, dict], alpha: float = 0.05) -> dict[str, dict]:
    """Copies of a report's claim records (claim id -> the record tickets.notebook.
    record_verdict wrote) with the family-wise outcome added.

    Each part gains `family_outcome` (supported, contradicted or inconclusive), `p_test` (its
    two-sided p-value, None when it has none) and `holm_p` (its Holm-adjusted p-value; None
    for a part that is not graded); each record gains `family_verdict` (its parts' family
    outcomes combined as tickets.claims.base.combine does) and `family` (the method, alpha
    and the number of graded parts m). The input records are left unchanged."""
    out = {cid: copy.deepcopy(dict(r)) for cid, r in records.items()}
    members: list[tuple[dict, float | None, str]] = []
    for r in out.values():
        for p in r.get("parts", []):
            p["family_outcome"], p["holm_p"], p["p_test"] = INCONCLUSIVE, None, None
            if _graded(p):
                pv, side = _test_p(p)
                p["p_test"] = pv
                members.append((p, pv, side))
    rejected, adjusted = holm([pv for _, pv, _ in members], alpha)
    for (p, _, side), keep, adj in zip(members, rejected, adjusted, strict=True):
        p["holm_p"] = adj
        if keep and p.get("outcome") == side:
            p["family_outcome"] = side
    for r in out.values():
        r["family_verdict"] = combine_outcomes([p["family_outcome"] for p in r.get("parts", [])])
        if not r.get("parts") and r.get("verdict"):
            r["family_verdict"] = r["verdict"] if r["verdict"] == NOT_RUN else INCONCLUSIVE
        r["family"] = {"method": METHOD, "alpha": alpha, "m": len(members)}
    return out


__all__ = ["METHOD", "family_outcomes"]
