"""Claims of the adversarial-winning-tickets paper, tested on OUR RECONSTRUCTION: Shi et al.,
"Finding Dynamics Preserving Adversarial Winning Tickets", AISTATS 2022 (arXiv 2202.06488),
which released no code; its full text was not available to us."""

from __future__ import annotations

import pandas as pd

from tickets.claims.base import Claim, Verdict, grade, pct, register, table_noise

PAPER = "Shi et al. 2022 (AWT), arXiv 2202.06488"

CLAIMS = register(
    Claim("awt-1", PAPER, "Adversarial winning tickets (our NTK reconstruction) match dense "
          "PGD-AT at 80-98 % sparsity", "qualitative (full text unavailable)", "10_awt"),
    Claim("awt-2", PAPER, "AWT preserves training dynamics better than baselines",
          "qualitative (full text unavailable)", "10_awt"),
    Claim("awt-3", PAPER, "The gap between AWT and dense PGD-AT shrinks as the net gets wider",
          "qualitative (full text unavailable)", "10_awt"),
)

AWT_TOLERANCE = 0.02  # "matches" dense PGD-AT: not more than 2 points below


def verdict_awt_parity(t: pd.DataFrame) -> Verdict:
    """Claim awt-1: at every sparsity AWT is within AWT_TOLERANCE of dense PGD-AT and at least
    as robust as every baseline. Partly: either holds at some sparsity."""
    dense = float(t[t["method"] == "dense"]["pgd"].iloc[0])
    wide = t[t["method"] != "dense"].pivot_table(index="sparsity", columns="method",
                                                 values="pgd")
    base = [c for c in wide.columns if c != "awt"]
    close = wide["awt"] >= dense - AWT_TOLERANCE
    best = wide["awt"] >= wide[base].max(axis=1) - 1e-12
    ours = (f"dense {pct(dense)}; AWT " + ", ".join(
        f"{100 * s:g} %: {pct(a)} (best baseline {pct(wide.loc[s, base].max())})"
        for s, a in wide["awt"].items()))
    reason = (f"within {100 * AWT_TOLERANCE:g} points of dense at {int(close.sum())} of "
              f"{len(close)} sparsities; at least as robust as every baseline at "
              f"{int(best.sum())} of {len(best)}" + table_noise(t))
    return Verdict("awt-1", grade(bool(close.all() and best.all()), bool((close | best).any())),
                   ours, reason)


def verdict_awt_dynamics(summary: pd.DataFrame) -> Verdict:
    """Claim awt-2: AWT's mean kernel distance and output gap to the dense net (over training,
    on adversarial probes) are below every baseline's. Reproduced at every sparsity for both,
    partly when AWT is lowest in at least half of the (sparsity, measure) cases."""
    cases, wins, details = 0, 0, []
    for col in ("kernel_distance_adv", "output_gap_adv"):
        wide = summary.pivot_table(index="sparsity", columns="method", values=col)
        base = [c for c in wide.columns if c != "awt"]
        lowest = wide["awt"] <= wide[base].min(axis=1) + 1e-12
        cases += len(lowest)
        wins += int(lowest.sum())
        details.append(f"{col.replace('_', ' ')}: AWT lowest at {int(lowest.sum())} of "
                       f"{len(lowest)} sparsities")
    mean = summary.groupby("method")[["kernel_distance_adv", "output_gap_adv"]].mean()
    ours = "; ".join(f"{m}: kernel distance {r['kernel_distance_adv']:.3f}, output gap "
                     f"{r['output_gap_adv']:.3f}" for m, r in mean.iterrows())
    return Verdict("awt-2", grade(wins == cases, wins * 2 >= cases and wins > 0), ours,
                   "; ".join(details) + " (means over training epochs, PGD probes against the "
                   "dense net)")


def verdict_awt_width(t: pd.DataFrame) -> Verdict:
    """Claim awt-3: AWT's robust-accuracy gap to dense PGD-AT of the same width falls as the
    width grows. Reproduced: it falls at every step; partly: widest below narrowest."""
    a = t[t["method"] == "awt"].sort_values("width")
    gaps = a["gap_pgd"].to_numpy()
    falls = bool((gaps[1:] < gaps[:-1]).all())
    ends = bool(gaps[-1] < gaps[0])
    ours = ", ".join(f"width {w:g}: {100 * g:+.1f}" for w, g in zip(a["width"], gaps,
                                                                    strict=True))
    reason = (f"dense minus AWT robust accuracy falls at every width step: "
              f"{'yes' if falls else 'no'}; widest below narrowest: {'yes' if ends else 'no'}"
              + table_noise(t))
    return Verdict("awt-3", grade(falls, ends), ours + " points (dense minus AWT)", reason)


__all__ = ["PAPER", "CLAIMS", "verdict_awt_parity", "verdict_awt_dynamics", "verdict_awt_width"]
