"""Claims of the RST paper: Fu et al., "Drawing Robust Scratch Tickets", NeurIPS 2021
(arXiv 2110.14068). Numbers marked ~ were read off the paper's figures (about 0.3 points)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickets.claims.base import (
    Claim,
    Part,
    Verdict,
    chance_rule,
    compare,
    graded,
    mean_by,
    not_run,
    outcome_matrix,
    parity,
    pct,
    register,
    registered,
)
from tickets.claims.registry import design
from tickets.stats import (
    VALIDATION,
    best_on_validation,
    require_validation,
    rows_at_best_on_validation,
    seed_interval,
)

PAPER = "Fu et al. 2021 (RST), arXiv 2110.14068"

CLAIMS = register(
    Claim("rst-1", PAPER, "Existence: RSTs come close to dense PGD-AT and match dense nets of "
          "comparable size", "ResNet-18: dense PGD-AT 81.73 / 50.19 (nat / PGD-20); best RST "
          "~79.7 / ~47.7 at remaining 0.2", "01_existence"),
    Claim("rst-2", PAPER, "Inverted U: robust accuracy peaks at 5-20 % remaining and collapses "
          "at the ends", "ResNet-18 PGD-20: 0.01 ~37.6, 0.05 ~45.8, 0.1 ~47.0, 0.2 ~47.7, 0.5 "
          "~46.1, 0.7 ~43.9, 0.9 ~28.1", "01_existence"),
    Claim("rst-3", PAPER, "Signed Kaiming constant init is best", "~47.7 vs Kaiming uniform "
          "~46.0, Kaiming/Xavier normal ~45.5", "02_initialisation"),
    Claim("rst-4", PAPER, "Element-wise > row-wise > kernel-wise masks", "~47.7 / ~43.6 / ~37.6",
          "03_sparsity_pattern"),
    Claim("rst-5", PAPER, "PGD in the search beats FGSM and FGSM-RS", "~47.7 / ~46.1 / ~44.2",
          "04_search_attack"),
    Claim("rst-6", PAPER, "Lottery phenomenon: RST > FT-Reinit, FT-Inherit > FT-Reinit at low "
          "ratios", "ResNet-18 @0.05: RST ~45.8, Inherit ~47.1, Reinit ~44.0", "05_lottery"),
    Claim("rst-7", PAPER, "Wider or deeper random nets hold better RSTs", "qualitative",
          "06_overparameterisation"),
    Claim("rst-8", PAPER, "RSTs of different ratios transfer poorly to each other",
          "white-box diagonal 43.9-47.8, transfer 60.0-74.3", "07_transferability"),
    Claim("rst-9", PAPER, "R2S raises robust accuracy", "ResNet-18 R2S 77.49 / 63.93 (nat / "
          "PGD-20), non-adaptive", "08_r2s"),
    Claim("rst-10", PAPER, "AutoAttack accuracy of RSTs is much lower than PGD accuracy "
          "(independent re-runs)", "re-run: 41 % PGD vs 18 % AutoAttack at 80 % sparsity",
          "01_existence"),
)

# Figure 2 of the RST paper, ResNet-18 on CIFAR-10, robust accuracy (PGD-20) by remaining ratio
PAPER_RST_CURVE = {0.01: 37.6, 0.05: 45.8, 0.1: 47.0, 0.2: 47.7, 0.5: 46.1, 0.7: 43.9, 0.9: 28.1}
PAPER_DENSE_RESNET18 = {"clean": 81.73, "pgd": 50.19}
# Peak robust accuracy by initialisation, RST paper Fig. 4 (ResNet-18, CIFAR-10)
PAPER_INIT_PEAKS = {"signed_constant": 47.7, "kaiming_uniform": 46.0, "kaiming_normal": 45.5,
                    "xavier_normal": 45.5}
# Search adversary (ResNet-18, CIFAR-10, best ratio)
PAPER_SEARCH_ATTACK = {"pgd": 47.7, "fgsm": 46.1, "fgsm_rs": 44.2}
# Sparsity patterns (ResNet-18, CIFAR-10, best ratio)
PAPER_PATTERNS = {"element": 47.7, "row": 43.6, "kernel": 37.6}
# Lottery phenomenon (ResNet-18): ratio -> (RST, FT-Inherit, FT-Reinit)
PAPER_LOTTERY = {0.01: (37.6, 41.0, 36.7), 0.05: (45.8, 47.1, 44.0)}

# Thresholds of the parts, in accuracy points (fractions of 1), read from their registered
# designs (tickets.claims.registry, where each one's derivation from the paper is stated). A
# part is supported when the 95 % interval of its difference lies wholly on the paper's side.
EXISTENCE_CLOSE = -design("rst-1/close").threshold    # "close" to same-width dense PGD-AT
MATCH_TOLERANCE = -design("rst-1/size").threshold     # "matches" the comparable-size dense net
U_MARGIN = design("rst-2/low-end").threshold          # "collapses" at the ends
AA_GAP_LARGE = design("rst-10/much-lower").threshold  # "much lower": AutoAttack under PGD
TRANSFER_GAP = design("rst-8/transfer").threshold     # "transfer poorly"
PEAK_WINDOW = (0.05, 0.2)
COLLAPSE_ENDS = (0.01, 0.7)  # the ratios where the paper's curve has collapsed (its 0.01 and 0.7)


def _seeds(t: pd.DataFrame) -> int:
    return int(t["seed"].nunique()) if "seed" in t else 1


def _means(t: pd.DataFrame, by: str, col: str = "pgd") -> str:
    return ", ".join(f"{k:g}: {pct(v)}" if isinstance(k, float) else f"{k}: {pct(v)}"
                     for k, v in mean_by(t, by, col).items())


def verdict_existence(rst: pd.DataFrame, dense: pd.DataFrame) -> Verdict:
    """Claim 1, two parts: the best RST (the ratio of the best mean validation PGD accuracy
    over seeds, column VALIDATION) is within EXISTENCE_CLOSE of same-width dense PGD-AT, and
    within MATCH_TOLERANCE of (or above) a dense net with as many weights as it keeps. dense:
    kind SAME and SIZE rows (the same-width baseline's kind first in the table)."""
    best = rows_at_best_on_validation(rst, by=None)[None]
    kinds = list(dict.fromkeys(dense["kind"]))
    same, small = dense[dense["kind"] == kinds[0]], dense[dense["kind"] == kinds[1]]
    parts = [parity("best RST minus same-width dense PGD-AT", best, same, "rst-1/close"),
             parity("best RST minus the dense net of its size", best, small, "rst-1/size")]
    ours = (f"best RST (r={best['remaining'].iloc[0]:g}) {pct(best['clean'].mean())} / "
            f"{pct(best['pgd'].mean())}; dense PGD-AT {pct(same['clean'].mean())} / "
            f"{pct(same['pgd'].mean())}; same-size dense {pct(small['clean'].mean())} / "
            f"{pct(small['pgd'].mean())} (clean / PGD, mean of {_seeds(rst)} seed(s))")
    return graded("rst-1", parts, ours)


def verdict_inverted_u(rst: pd.DataFrame) -> Verdict:
    """Claim 2, three parts: the interior peak beats the smallest and the largest ratio by
    their registered thresholds, and the best ratio inside the paper's 5-20 % window beats the
    best outside it. The peak and the best ratios are chosen on validation (column
    VALIDATION); the parts are graded on the test images.

    An end part tests a collapse, so it is graded only when the design reaches the paper's
    collapse (COLLAPSE_ENDS: a smallest ratio of 0.01 or below, a largest of 0.7 or above);
    otherwise it is shown with the reason. Its chance rule looks at the peak alone: an end
    that falls to chance is the collapse the claim describes, not a comparison that shows
    nothing."""
    ratios = sorted(rst["remaining"].unique())
    if len(ratios) < 3:
        return not_run("rst-2", "fewer than 3 ratios", "a curve needs 3 or more ratios")
    val = require_validation(rst).groupby(rst["remaining"]).mean()
    at = {r: rst[rst["remaining"] == r] for r in ratios}
    peak = max(ratios[1:-1], key=lambda r: val[r])

    def part(key: str, name: str, x: float, y: float, why: str) -> Part:
        return registered(key, name, compare(at[x], at[y]), why)

    low, high = COLLAPSE_ENDS
    reach_low = "" if ratios[0] <= low + 1e-9 else (
        f"the smallest ratio run ({ratios[0]:g}) is above the paper's collapse at {low:g}")
    reach_high = "" if ratios[-1] >= high - 1e-9 else (
        f"the largest ratio run ({ratios[-1]:g}) is below the paper's collapse at {high:g}")
    peak_rule = chance_rule({f"the peak r={peak:g}": at[peak]})
    parts = [part("rst-2/low-end", f"interior peak (r={peak:g}) minus r={ratios[0]:g}", peak,
                  ratios[0], reach_low or peak_rule),
             part("rst-2/high-end", f"interior peak (r={peak:g}) minus r={ratios[-1]:g}", peak,
                  ratios[-1], reach_high or peak_rule)]
    inside = [r for r in ratios if PEAK_WINDOW[0] <= r <= PEAK_WINDOW[1]]
    outside = [r for r in ratios if r not in inside]
    note = ""
    if inside and outside:
        a, b = max(inside, key=val.get), max(outside, key=val.get)
        parts.append(part("rst-2/window", f"best ratio in 5-20 % (r={a:g}) minus best outside "
                          f"(r={b:g})", a, b,
                          chance_rule({f"r={a:g}": at[a], f"r={b:g}": at[b]})))
    else:
        note = "no ratio on one side of the paper's 5-20 % window: that part was not tested"
    return graded("rst-2", parts, _means(rst, "remaining"), note)


def verdict_aa_gap(rows: pd.DataFrame) -> Verdict:
    """Claim 10, two parts, on the RSTs (each image's outcome averaged over the RSTs of a
    seed): AutoAttack accuracy is below PGD accuracy on the same images, and by at least
    AA_GAP_LARGE. The AutoAttack side is AutoAttack by itself (aa_alone_correct), not the
    reported per-image worst case of AutoAttack and PGD (aa_correct), which is at or below PGD
    on every image by construction and so could not contradict the claim. Both sides are the
    same models, so the chance rule looks at their PGD accuracy: AutoAttack driving a model
    that learned to chance level is the effect itself."""
    r = rows.dropna(subset=["aa"])
    rst = r[r["kind"] == "RST"]
    if rst.empty:
        return not_run("rst-10", "no AutoAttack figures", "AutoAttack was not run")
    seeds = sorted(rst["seed"].unique()) if "seed" in rst else [None]

    def per_seed(col: str) -> np.ndarray:
        return np.stack([outcome_matrix(rst if s is None else rst[rst["seed"] == s], col)
                         .mean(axis=0) for s in seeds])

    pgd = per_seed("pgd_on_aa_correct")
    gap = seed_interval(pgd, per_seed("aa_alone_correct"))
    floor = chance_rule({"the RSTs under PGD": pgd})
    parts = [registered("rst-10/lower", "PGD minus AutoAttack accuracy of the RSTs", gap, floor),
             registered("rst-10/much-lower", "PGD minus AutoAttack accuracy of the RSTs, 'much "
                        "lower'", gap, floor)]
    dense = r[r["kind"] != "RST"]
    label = f" ({rst['aa_attack'].iloc[0]})" if "aa_attack" in rst else ""
    ours = (f"RST PGD {pct(rst['pgd_on_aa_images'].mean())} / AutoAttack alone "
            f"{pct(rst['aa_alone'].mean())} / worst case{label} {pct(rst['aa'].mean())} on "
            f"{int(rst['aa_n'].min())} images")
    if len(dense):
        ours += (f"; dense baselines PGD {pct(dense['pgd_on_aa_images'].mean())} / AutoAttack "
                 f"alone {pct(dense['aa_alone'].mean())} / worst case {pct(dense['aa'].mean())}")
    return graded("rst-10", parts, ours)


def verdict_initialisation(t: pd.DataFrame, favourite: str = "signed_constant") -> Verdict:
    """Claim 3, one part per ratio: signed Kaiming constant beats the best other init (the
    other init of the best mean validation accuracy at that ratio)."""
    parts = []
    for r, g in t.groupby("remaining"):
        other = best_on_validation(g[g["variant"] != favourite], "variant")
        fav, oth = g[g["variant"] == favourite], g[g["variant"] == other]
        parts.append(registered("rst-3/favourite", f"r={r:g}: {favourite} minus {other}",
                                compare(fav, oth), chance_rule({favourite: fav, other: oth})))
    peaks = {k: rows["pgd"].mean() for k, rows in rows_at_best_on_validation(t).items()}
    ours = "; ".join(f"{k}: peak {pct(v)}" for k, v in
                     sorted(peaks.items(), key=lambda kv: -kv[1]))
    return graded("rst-3", parts, ours)


def _strict_order(t: pd.DataFrame, claim_id: str, order: tuple[str, str, str],
                  labels: tuple[str, str, str]) -> Verdict:
    """A claim that three variants, each at its best ratio (chosen on validation), come in a
    strict order: two parts, first minus second and second minus third. Other variants in t
    (the channel-wise pattern, say) are shown but not graded."""
    best = rows_at_best_on_validation(t)
    if not set(order) <= set(best):
        return not_run(claim_id, "", f"needs the variants {sorted(order)}")
    a, b, c = order

    def part(x: str, y: str, lx: str, ly: str) -> Part:
        return registered(f"{claim_id}/{x}-{y}", f"{lx} minus {ly}", compare(best[x], best[y]),
                          chance_rule({lx: best[x], ly: best[y]}))

    parts = [part(a, b, labels[0], labels[1]), part(b, c, labels[1], labels[2])]
    ours = " / ".join(f"{k} {pct(rows['pgd'].mean())}" for k, rows in
                      sorted(best.items(), key=lambda kv: -kv[1]["pgd"].mean()))
    return graded(claim_id, parts, ours)


def verdict_patterns(t: pd.DataFrame) -> Verdict:
    """Claim 4: element-wise > row-wise > kernel-wise (each at its best ratio)."""
    return _strict_order(t, "rst-4", ("element", "row", "kernel"), ("element", "row", "kernel"))


def verdict_search_attack(t: pd.DataFrame) -> Verdict:
    """Claim 5: searching under PGD gives more robust RSTs than FGSM, and FGSM than FGSM-RS."""
    return _strict_order(t, "rst-5", ("pgd", "fgsm", "fgsm_rs"), ("PGD", "FGSM", "FGSM-RS"))


def verdict_lottery(t: pd.DataFrame) -> Verdict:
    """Claim 6, two parts per ratio: RST minus FT-Reinit, and FT-Inherit minus FT-Reinit."""
    parts = []
    for r, g in t.groupby("remaining"):
        k = {kind: g[g["kind"] == kind] for kind in ("RST", "FT-Inherit", "FT-Reinit")}
        for key, x in (("rst-6/rst-reinit", "RST"), ("rst-6/inherit-reinit", "FT-Inherit")):
            parts.append(registered(key, f"r={r:g}: {x} minus FT-Reinit",
                                    compare(k[x], k["FT-Reinit"]),
                                    chance_rule({x: k[x], "FT-Reinit": k["FT-Reinit"]})))
    wide = t.pivot_table(index="remaining", columns="kind", values="pgd", aggfunc="mean")
    ours = "; ".join(f"{r:g}: RST {pct(w['RST'])} / Inherit {pct(w['FT-Inherit'])} / Reinit "
                     f"{pct(w['FT-Reinit'])}" for r, w in wide.iterrows())
    return graded("rst-6", parts, ours)


def verdict_overparameterisation(widths: pd.DataFrame, depths: pd.DataFrame) -> Verdict:
    """Claim 7: the best RST of the largest network beats that of the smallest, by width and
    (if run) by depth. widths/depths: each network's rows at its best ratio (one per seed,
    the ratio chosen on validation: tickets.stats.rows_at_best_on_validation), networks in
    order from small to large."""
    parts = []
    for label, t in (("width", widths), ("depth", depths)):
        nets = list(dict.fromkeys(t["variant"])) if len(t) else []
        if len(nets) >= 2:
            big, small = t[t["variant"] == nets[-1]], t[t["variant"] == nets[0]]
            parts.append(registered(f"rst-7/{label}", f"{label}: {nets[-1]} minus {nets[0]}",
                                    compare(big, small),
                                    chance_rule({nets[-1]: big, nets[0]: small})))
    if not parts:
        return not_run("rst-7", "", "needs two widths or two depths")
    ours = ("widths " + _means(widths, "variant")
            + ("; depths " + _means(depths, "variant") if len(depths) else ""))
    note = ""
    if len(depths) and "total_params" in depths:
        size = depths.groupby("variant", sort=False)["total_params"].first()
        if len(size) >= 2 and size.iloc[-1] <= size.iloc[0]:
            note = (f"the deeper net {size.index[-1]} holds {int(size.iloc[-1]):,} weights, the "
                    f"shallower {size.index[0]} {int(size.iloc[0]):,}: the depth part compares "
                    "depth, not the number of weights")
    return graded("rst-7", parts, ours, note)


def verdict_transfer(m: pd.DataFrame, outcomes: dict[str, str | list[str]] | None = None
                     ) -> Verdict:
    """Claim 8: adversarial examples transfer poorly between RSTs of different ratios: per
    image, the mean accuracy over transferred (off-diagonal) attacks exceeds the mean over
    white-box (diagonal) attacks by TRANSFER_GAP. outcomes: per cell 'a->b', the 0/1 string of
    the matrix (tickets.studies.transferability), or a list of such strings, one per search
    seed (the part is graded on 3 seeds or more; one matrix is a single seed)."""
    a = m.to_numpy(dtype=float)
    diag, off = np.diag(a), a[~np.eye(len(a), dtype=bool)]
    ours = (f"white-box diagonal {pct(diag.min())}-{pct(diag.max())}, transfer "
            f"{pct(off.min())}-{pct(off.max())}")
    if not outcomes:
        return not_run("rst-8", ours, "the matrix has no per-image outcomes")
    ratios = list(m.index)
    per_seed = {k: [v] if isinstance(v, str) else list(v) for k, v in outcomes.items()}

    def cells(pairs) -> np.ndarray:  # (seeds, images): the mean over the cells
        return np.mean([[[int(c) for c in s] for s in per_seed[f"{x}->{y}"]] for x, y in pairs],
                       axis=0)

    white = cells([(r, r) for r in ratios])
    transfer = cells([(x, y) for x in ratios for y in ratios if x != y])
    why = chance_rule({"white-box": white, "transfer": transfer})
    parts = [registered("rst-8/transfer", "transfer minus white-box accuracy",
                        seed_interval(transfer, white), why)]
    return graded("rst-8", parts, ours)


def verdict_r2s(rows: pd.DataFrame, member_rows: pd.DataFrame, worst: pd.DataFrame
                ) -> Verdict:
    """Claim 9: the R2S beats its best member (the ratio of the best mean validation accuracy)
    under the per-image worst case over every attack that was run, not only under the paper's
    non-adaptive one. An image counts for the R2S only when every attack left it right in
    every draw (AutoAttack-rand's examples: in each of its repeated evaluations), on the images
    every attack shared (the first aa_n when AutoAttack ran on fewer); the member is graded on
    the same images. No attack is picked by its test accuracy. rows: evaluation, accuracy,
    outcomes, n, seed (shown); member_rows: each member's remaining, pgd, pgd_correct, seed and
    VALIDATION; worst: per seed, the worst case's 0/1 outcomes, n and the evaluations it
    covers (tickets.studies.r2s_attacks.worst_case_rows)."""
    adv = rows[rows["evaluation"] != "clean"]
    best_r = best_on_validation(member_rows, "remaining")
    best = member_rows[member_rows["remaining"] == best_r]
    paper = adv[adv["evaluation"].str.startswith("1 ")]
    n = int(worst["n"].min())
    why = chance_rule({"the R2S": outcome_matrix(worst, "outcomes"),
                       "its best member": outcome_matrix(best, "pgd_correct")[:, :n]})
    parts = [registered("rst-9/r2s", f"R2S under the per-image worst case over every attack "
                        f"minus its best member (r={best_r:g}), first {n} images",
                        compare(worst, best, "outcomes", "pgd_correct", first_shared=True), why)]
    paper_gain = compare(paper, best, "outcomes", "pgd_correct", first_shared=True)
    means = mean_by(adv, "evaluation", "accuracy")
    ours = (f"R2S {pct(paper['accuracy'].mean())} under the paper's protocol (mean over draws); "
            f"{pct(worst['accuracy'].mean())} under the per-image worst case over "
            f"{len(worst['over'].iloc[0])} attacks on {n} images; lowest mean over draws "
            f"{pct(means.min())} ({means.idxmin()}); best single RST {pct(best['pgd'].mean())}")
    return graded("rst-9", parts, ours,
                  f"Under the paper's non-adaptive protocol the gain is "
                  f"{paper_gain.describe()}")


__all__ = ["PAPER", "CLAIMS", "PAPER_RST_CURVE", "PAPER_DENSE_RESNET18", "PAPER_INIT_PEAKS",
           "PAPER_SEARCH_ATTACK", "PAPER_PATTERNS", "PAPER_LOTTERY", "verdict_existence",
           "verdict_inverted_u", "verdict_aa_gap", "verdict_initialisation", "verdict_patterns",
           "verdict_search_attack", "verdict_lottery", "verdict_overparameterisation",
           "verdict_transfer", "verdict_r2s", "VALIDATION"]
