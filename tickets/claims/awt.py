"""Claims of the adversarial-winning-tickets paper, tested on OUR RECONSTRUCTION: Shi et al.,
"Finding Dynamics Preserving Adversarial Winning Tickets", AISTATS 2022 (arXiv 2202.06488),
which released no code; its full text was not available to us."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickets.claims.base import (
    Claim,
    Part,
    Verdict,
    compare,
    graded,
    outcome_matrix,
    parity,
    pct,
    register,
)
from tickets.stats import paired_difference

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
    """Claim awt-1, two parts per sparsity: AWT is within AWT_TOLERANCE of dense PGD-AT, and
    above the best baseline (by mean PGD accuracy), paired on the test images."""
    dense = t[t["method"] == "dense"]
    parts = []
    for s, g in t[t["method"] != "dense"].groupby("sparsity"):
        awt = g[g["method"] == "awt"]
        base = g[g["method"] != "awt"].groupby("method")["pgd"].mean().idxmax()
        parts += [parity(f"{100 * s:g} %: AWT minus dense PGD-AT", awt, dense, AWT_TOLERANCE),
                  Part(f"{100 * s:g} %: AWT minus {base}", compare(awt, g[g["method"] == base]))]
    wide = t[t["method"] != "dense"].pivot_table(index="sparsity", columns="method",
                                                 values="pgd", aggfunc="mean")
    base_cols = [c for c in wide.columns if c != "awt"]
    ours = (f"dense {pct(dense['pgd'].mean())}; AWT " + ", ".join(
        f"{100 * s:g} %: {pct(a)} (best baseline {pct(wide.loc[s, base_cols].max())})"
        for s, a in wide["awt"].items()))
    return graded("awt-1", parts, ours)


def verdict_awt_dynamics(dyn: pd.DataFrame) -> Verdict:
    """Claim awt-2, two parts per sparsity: AWT's kernel distance and output gap to the dense
    net (PGD probes) are below the closest baseline's. These are not accuracies: the interval
    resamples the training epochs (1..E), so it says whether AWT stays below along training."""
    parts = []
    train = dyn[dyn["epoch"] > 0]
    for s, g in train.groupby("sparsity"):
        for col, label in (("kernel_distance_adv", "kernel distance"),
                           ("output_gap_adv", "output gap")):
            means = g.groupby("method")[col].mean()
            base = means.drop("awt").idxmin()

            def series(m: str, g=g, col=col) -> np.ndarray:
                return g[g["method"] == m].sort_values("epoch")[col].to_numpy()

            d = paired_difference(series("awt"), series(base))
            parts.append(Part(f"{100 * s:g} %: AWT minus {base}, {label}",
                              type(d)(**{**d.__dict__, "unit": "epochs", "percent": False}), 0.0, -1))
    mean = train.groupby("method")[["kernel_distance_adv", "output_gap_adv"]].mean()
    ours = "; ".join(f"{m}: kernel distance {r['kernel_distance_adv']:.3f}, output gap "
                     f"{r['output_gap_adv']:.3f}" for m, r in mean.iterrows())
    return graded("awt-2", parts, ours, "Means over training epochs, PGD probes against the "
                  "dense net")


def verdict_awt_width(t: pd.DataFrame) -> Verdict:
    """Claim awt-3: AWT's robust-accuracy gap to dense PGD-AT of the same width is smaller at
    the widest width than at the narrowest: per image, (dense - AWT) narrow minus (dense - AWT)
    wide. t: width_trend rows (method, width, pgd_correct, dense_pgd_correct)."""
    a = t[t["method"] == "awt"].sort_values("width")
    widths = list(dict.fromkeys(a["width"]))
    if len(widths) < 2:
        return Verdict("awt-3", "not run", "", "needs two widths")

    def gap(w: float) -> np.ndarray:
        r = a[a["width"] == w]
        return outcome_matrix(r, "dense_pgd_correct") - outcome_matrix(r, "pgd_correct")

    parts = [Part(f"gap to dense at width {widths[0]:g} minus at width {widths[-1]:g}",
                  paired_difference(gap(widths[0]), gap(widths[-1])))]
    ours = ", ".join(f"width {w:g}: {100 * g:+.1f}" for w, g in
                     a.groupby("width")["gap_pgd"].mean().items())
    return graded("awt-3", parts, ours + " points (dense minus AWT)")


__all__ = ["PAPER", "CLAIMS", "verdict_awt_parity", "verdict_awt_dynamics", "verdict_awt_width"]
