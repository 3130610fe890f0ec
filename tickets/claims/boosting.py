"""Claims of the boosting-tickets paper: Li et al., "Towards Practical Lottery Ticket
Hypothesis for Adversarial Training" (arXiv 2003.05733)."""

from __future__ import annotations

import pandas as pd

from tickets.claims.base import Claim, Verdict, grade, noise_note, pct, register, table_noise

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
BOOST_MARGIN = 0.01     # a lead of at least 1 point counts as faster convergence
BOOST_RANGE = (0.6, 0.9)  # the paper's strongest boost, as the pruned fraction
COST_TOLERANCE = 0.01   # "matches" dense robust accuracy: not more than 1 point below
COLLAPSE_MARGIN = 0.02  # the narrow net loses at least 2 points more than the wide one


def verdict_boosting(early_by_lr: pd.DataFrame, early_by_ratio: pd.DataFrame,
                     n_val: int) -> Verdict:
    """Claim boost-1. early_by_lr: prune_lr, early (mean over the first epochs) validation
    robust accuracy; early_by_ratio: pruned, boost_robust (ticket minus random re-init).

    Reproduced: the smallest pruning lr leads the largest by BOOST_MARGIN, the early accuracy
    never rises with the pruning lr, and the largest boost over re-init lies at 60-90 % pruned.
    Partly: the lead alone. Not reproduced: no lead."""
    t = early_by_lr.sort_values("prune_lr")
    acc = t["early_robust"].to_numpy()
    lead = float(acc[0] - acc[-1])
    monotone = bool((acc[1:] <= acc[:-1] + 1e-12).all())
    r = early_by_ratio.sort_values("pruned")
    peak = float(r.loc[r["boost_robust"].idxmax(), "pruned"])
    in_range = BOOST_RANGE[0] - 1e-9 <= peak <= BOOST_RANGE[1] + 1e-9
    faster = lead >= BOOST_MARGIN
    ours = (" / ".join(f"lr {lr:g}: {pct(a)}" for lr, a in zip(t["prune_lr"], acc, strict=True))
            + f" early val. robust; largest boost over re-init at {100 * peak:.0f} % pruned")
    reason = (f"boosting (lr {t['prune_lr'].iloc[0]:g}) minus winning (lr "
              f"{t['prune_lr'].iloc[-1]:g}) ticket: {100 * lead:+.1f} points (faster if >= "
              f"{100 * BOOST_MARGIN:g}); smaller lr never worse: {'yes' if monotone else 'no'}; "
              f"peak boost in 60-90 % pruned: {'yes' if in_range else 'no'}"
              + noise_note(n_val, float(acc.mean())))
    return Verdict("boost-1", grade(faster and monotone and in_range, faster), ours, reason)


def verdict_fgsm_ticket(table: pd.DataFrame) -> Verdict:
    """Claim boost-2: the FGSM-found ticket retrained with PGD for fewer epochs reaches dense
    PGD-AT's robust accuracy (within COST_TOLERANCE) at a lower total cost in passes."""
    d = table[table["kind"] == "dense PGD-AT"].iloc[0]
    t = table[table["kind"] != "dense PGD-AT"].iloc[0]
    ratio = float(t["total_passes"]) / float(d["total_passes"])
    sec_ratio = float(t["total_seconds"]) / max(float(d["total_seconds"]), 1e-9)
    matches = float(t["pgd"]) >= float(d["pgd"]) - COST_TOLERANCE
    cheaper = ratio < 1.0
    ours = (f"ticket {pct(t['pgd'])} / {pct(t['clean'])} (PGD / clean) after "
            f"{int(t['epochs'])} PGD epochs vs dense {pct(d['pgd'])} / {pct(d['clean'])} "
            f"after {int(d['epochs'])}; cost {ratio:.2f}x in passes, {sec_ratio:.2f}x in seconds")
    reason = (f"matches dense robust accuracy (within {100 * COST_TOLERANCE:g} point): "
              f"{'yes' if matches else 'no'}; cheaper in passes (FGSM pretraining included): "
              f"{'yes' if cheaper else 'no'}; the paper's WRN-34-10 figure is "
              f"{PAPER_BOOST['wrn_time_ratio']}x" + table_noise(table))
    return Verdict("boost-2", grade(matches and cheaper, matches or cheaper), ours, reason)


def verdict_collapse(t: pd.DataFrame) -> Verdict:
    """Claim boost-3: pruning costs the narrowest net more robust accuracy than the widest.
    t: width, drop_pgd (dense minus ticket), dense_pgd, ticket_pgd."""
    t = t.sort_values("width")
    narrow, wide = t.iloc[0], t.iloc[-1]
    diff = float(narrow["drop_pgd"] - wide["drop_pgd"])
    ours = "; ".join(f"width {r['width']:g}: dense {pct(r['dense_pgd'])} -> ticket "
                     f"{pct(r['ticket_pgd'])}" for _, r in t.iterrows())
    reason = (f"drop from pruning at width {narrow['width']:g} minus at width {wide['width']:g}: "
              f"{100 * diff:+.1f} points (collapse if >= {100 * COLLAPSE_MARGIN:g})")
    return Verdict("boost-3", grade(diff >= COLLAPSE_MARGIN, diff > 0), ours, reason)


__all__ = ["PAPER", "CLAIMS", "PAPER_BOOST", "verdict_boosting", "verdict_fgsm_ticket",
           "verdict_collapse"]
