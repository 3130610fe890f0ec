"""Claims of the boosting-tickets paper: Li et al., "Towards Practical Lottery Ticket
Hypothesis for Adversarial Training" (arXiv 2003.05733)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickets.claims.base import (
    Claim,
    Verdict,
    chance_rule,
    graded,
    outcome_matrix,
    parity,
    pct,
    register,
    registered,
)
from tickets.claims.registry import design
from tickets.stats import normal_combination, normal_difference, seed_interval

PAPER = "Li et al. 2020 (boosting tickets), arXiv 2003.05733"

CLAIMS = register(
    Claim("boost-1", PAPER, "Boosting tickets converge faster than winning tickets",
          "VGG-16 after 20 epochs: 91.25 vs 88.10", "09_boosting"),
    Claim("boost-2", PAPER, "An FGSM-found ticket retrained with PGD matches dense PGD-AT "
          "sooner", "VGG-16: 60 epochs 45.73 / 76.48 vs 100 dense epochs 44.78 / 77.21; WRN "
          "0.51x time", "09_boosting"),
    Claim("boost-3", PAPER, "Low-capacity nets collapse under adversarial training once pruned",
          "qualitative", "09_boosting"),
)

PAPER_BOOST = {"boosting_20ep": 91.25, "winning_20ep": 88.10, "ticket_60ep_pgd": 45.73,
               "ticket_60ep_clean": 76.48, "dense_100ep_pgd": 44.78, "dense_100ep_clean": 77.21,
               "wrn_time_ratio": 0.51}
BOOST_RANGE = (0.6, 0.9)  # the paper's strongest boost, as the pruned fraction
COST_TOLERANCE = -design("boost-2/parity").threshold  # "matches" dense robust accuracy


def verdict_boosting(early_by_lr: pd.DataFrame, early_by_ratio: pd.DataFrame,
                     n_val: int) -> Verdict:
    """Claim boost-1, two parts. early_by_lr: prune_lr, early_robust (mean validation robust
    accuracy over the first epochs); early_by_ratio: pruned, ticket_robust, reinit_robust.

    (1) the boosting ticket (smallest pruning lr) leads the winning ticket (largest) early on;
    (2) the boost over random re-init is larger inside 60-90 % pruned than outside (when both
    were run). The history keeps no per-image outcomes, so the intervals are unpaired normal
    ones on n_val validation images (conservative); one training per setting is a single
    seed, shown and not graded."""
    t = early_by_lr.sort_values("prune_lr")
    lo_lr, hi_lr = t.iloc[0], t.iloc[-1]
    parts = [registered("boost-1/early-lead", f"boosting (lr {lo_lr['prune_lr']:g}) minus "
                        f"winning ticket (lr {hi_lr['prune_lr']:g}), early validation PGD "
                        f"accuracy", normal_difference(lo_lr["early_robust"],
                                                       hi_lr["early_robust"], n_val),
                        chance_rule({"boosting": (lo_lr["early_robust"], n_val),
                                     "winning": (hi_lr["early_robust"], n_val)}))]
    r = early_by_ratio.assign(boost=early_by_ratio["ticket_robust"]
                              - early_by_ratio["reinit_robust"])
    inside = r[r["pruned"].between(BOOST_RANGE[0] - 1e-9, BOOST_RANGE[1] + 1e-9)]
    outside = r.drop(inside.index)
    note = ""
    if len(inside) and len(outside):
        a, b = inside.loc[inside["boost"].idxmax()], outside.loc[outside["boost"].idxmax()]
        # a difference of two boosts, each a difference of two accuracies
        d = normal_combination([(1, a["ticket_robust"]), (-1, a["reinit_robust"]),
                                (-1, b["ticket_robust"]), (1, b["reinit_robust"])], n_val)
        why = chance_rule({f"{lbl} at {100 * x['pruned']:.0f} %": (x[col], n_val)
                           for x in (a, b) for lbl, col in (("ticket", "ticket_robust"),
                                                            ("re-init", "reinit_robust"))})
        parts.append(registered("boost-1/window", f"boost at {100 * a['pruned']:.0f} % pruned "
                                f"minus at {100 * b['pruned']:.0f} %", d, why))
    else:
        note = "the ratio sweep has no pruned fraction on one side of 60-90 %: not tested"
    ours = (" / ".join(f"lr {lr:g}: {pct(a)}" for lr, a in zip(t["prune_lr"], t["early_robust"],
                                                                  strict=True))
            + " early val. robust; boost over re-init by pruned fraction "
            + ", ".join(f"{100 * p:.0f} %: {100 * b:+.1f}" for p, b in zip(r["pruned"],
                                                                           r["boost"],
                                                                           strict=True)))
    return graded("boost-1", parts, ours, note)


def verdict_fgsm_ticket(table: pd.DataFrame) -> Verdict:
    """Claim boost-2, one graded part: the FGSM-found ticket retrained with PGD reaches dense
    PGD-AT's robust accuracy (within COST_TOLERANCE, paired on the test images). Its cost
    against dense PGD-AT's is shown as design information: the configured epochs fix it, so
    it could not fail (registry: boost-2/cost)."""
    d = table[table["kind"] == "dense PGD-AT"]
    t = table[table["kind"] != "dense PGD-AT"]
    ratio = float(t["total_passes"].iloc[0]) / float(d["total_passes"].iloc[0])
    sec_ratio = float(t["total_seconds"].iloc[0]) / max(float(d["total_seconds"].iloc[0]), 1e-9)
    parts = [parity("ticket minus dense PGD-AT, PGD accuracy", t, d, "boost-2/parity")]
    ours = (f"ticket {pct(t['pgd'].mean())} / {pct(t['clean'].mean())} (PGD / clean) after "
            f"{int(t['epochs'].iloc[0])} PGD epochs vs dense {pct(d['pgd'].mean())} / "
            f"{pct(d['clean'].mean())} after {int(d['epochs'].iloc[0])}; cost {ratio:.2f}x in "
            f"passes, {sec_ratio:.2f}x in seconds")
    return graded("boost-2", parts, ours, f"The cost ({ratio:.2f}x dense PGD-AT's passes) is "
                  f"design information, fixed by the configured epochs, not a graded part. The "
                  f"paper's WRN-34-10 figure is {PAPER_BOOST['wrn_time_ratio']}x")


def verdict_collapse(cap: pd.DataFrame) -> Verdict:
    """Claim boost-3: pruning costs the narrowest net more robust accuracy than the widest.
    cap: rows of kind 'dense' and 'ticket' per width, with per-image outcomes (and a seed per
    row); the part is, per image and seed, (dense - ticket) at the narrowest width minus
    (dense - ticket) at the widest. Any of the four models at chance level makes it
    inconclusive."""
    widths = sorted(cap["width"].unique())
    if len(widths) < 2:
        return Verdict("boost-3", "not run", "", "needs two widths")

    def model(w: float, kind: str) -> np.ndarray:
        at = cap[cap["width"] == w]
        return outcome_matrix(at[at["kind"] == kind])

    def drop(w: float) -> np.ndarray:
        return model(w, "dense") - model(w, "ticket")

    why = chance_rule({f"{kind} at width {w:g}": model(w, kind)
                       for w in (widths[0], widths[-1]) for kind in ("dense", "ticket")})
    parts = [registered("boost-3/collapse", f"drop from pruning at width {widths[0]:g} minus at "
                        f"width {widths[-1]:g}", seed_interval(drop(widths[0]), drop(widths[-1])),
                        why)]
    wide = cap.pivot_table(index="width", columns="kind", values="pgd", aggfunc="mean")
    ours = "; ".join(f"width {w:g}: dense {pct(r['dense'])} -> ticket {pct(r['ticket'])}"
                     for w, r in wide.iterrows())
    return graded("boost-3", parts, ours)


__all__ = ["PAPER", "CLAIMS", "PAPER_BOOST", "verdict_boosting", "verdict_fgsm_ticket",
           "verdict_collapse"]
