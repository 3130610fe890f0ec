"""Claims of the RST paper: Fu et al., "Drawing Robust Scratch Tickets", NeurIPS 2021
(arXiv 2110.14068). Numbers marked ~ were read off the paper's figures (about 0.3 points)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickets.claims.base import (
    Claim,
    Verdict,
    best_per_variant,
    grade,
    not_run,
    pct,
    register,
    table_noise,
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

# Tolerances of the verdicts, in accuracy points (fractions of 1).
EXISTENCE_CLOSE = 0.03   # the paper's best RST is 2.5 points under dense PGD-AT
MATCH_TOLERANCE = 0.01   # "matches" the comparable-size dense net: not more than 1 point below
U_MARGIN = 0.02          # both ends of the curve at least 2 points under the peak
AA_GAP_LARGE = 0.05      # a PGD - AutoAttack gap of 5 points or more is "much lower"
AA_GAP_SMALL = 0.02
TRANSFER_GAP_LARGE = 0.10  # the paper's transfer accuracies are ~15-30 points above white-box
TRANSFER_GAP_SMALL = 0.03
R2S_GAIN = 0.03  # points of robust accuracy over the best single RST that count as a gain


def verdict_existence(rst: pd.DataFrame, dense: pd.DataFrame) -> Verdict:
    """Claim 1: the best RST within EXISTENCE_CLOSE of same-width dense PGD-AT, and at least
    as robust (within MATCH_TOLERANCE) as a dense net with as many weights as it keeps.
    dense: the same-width baseline first, the RST-sized one second."""
    best = rst.loc[rst["pgd"].idxmax()]
    same, small = dense.iloc[0], dense.iloc[1]
    gap = same["pgd"] - best["pgd"]
    vs_small = best["pgd"] - small["pgd"]
    close, match = gap <= EXISTENCE_CLOSE, vs_small >= -MATCH_TOLERANCE
    ours = (f"best RST (r={best['remaining']:g}) {pct(best['clean'])} / {pct(best['pgd'])}; "
            f"dense PGD-AT {pct(same['clean'])} / {pct(same['pgd'])}; same-size dense "
            f"{pct(small['clean'])} / {pct(small['pgd'])}")
    reason = (f"RST is {100 * gap:+.1f} points under same-width dense PGD-AT (close if <= "
              f"{100 * EXISTENCE_CLOSE:g}); {100 * vs_small:+.1f} points against the dense net "
              f"of its size (matches if >= {-100 * MATCH_TOLERANCE:g})"
              + table_noise(pd.concat([rst, dense])))
    return Verdict("rst-1", grade(close and match, close or match), ours, reason)


def verdict_inverted_u(rst: pd.DataFrame) -> Verdict:
    """Claim 2: the curve peaks at an interior ratio, both ends at least U_MARGIN lower; the
    paper puts the peak at 5-20 %."""
    if len(rst) < 3:
        return not_run("rst-2", "fewer than 3 ratios", "a curve needs 3 or more ratios")
    t = rst.sort_values("remaining")
    accs, ratios = t["pgd"].to_numpy(), t["remaining"].to_numpy()
    i = int(accs.argmax())
    interior = 0 < i < len(accs) - 1
    drops = accs[i] - accs[0], accs[i] - accs[-1]
    u = interior and min(drops) >= U_MARGIN
    in_window = 0.05 <= ratios[i] <= 0.2
    ours = ", ".join(f"{r:g}: {pct(a)}" for r, a in zip(ratios, accs, strict=True))
    reason = (f"peak at remaining {ratios[i]:g} ({'interior' if interior else 'at an end'}); "
              f"ends {100 * drops[0]:.1f} and {100 * drops[1]:.1f} points under the peak "
              f"(need >= {100 * U_MARGIN:g}); paper's peak window 0.05-0.2" + table_noise(rst))
    return Verdict("rst-2", grade(u and in_window, u or interior), ours, reason)


def verdict_aa_gap(rows: pd.DataFrame) -> Verdict:
    """Claim 10: PGD accuracy minus AutoAttack accuracy on the same images, for the RSTs:
    reproduced from AA_GAP_LARGE, not reproduced under AA_GAP_SMALL, partly between."""
    r = rows.dropna(subset=["aa"])
    if r.empty:
        return not_run("rst-10", "no AutoAttack figures", "AutoAttack was not run")
    rst = r[r["kind"] == "RST"]
    gaps = rst["pgd_on_aa_images"] - rst["aa"]
    dense = r[r["kind"] != "RST"]
    dgaps = dense["pgd_on_aa_images"] - dense["aa"]
    mean_gap = float(gaps.mean())
    ours = (f"RST PGD-AA gap mean {100 * mean_gap:.1f} points (max {100 * gaps.max():.1f}); "
            f"dense baselines {100 * dgaps.mean():.1f}" if len(dgaps) else "")
    reason = (f"'much lower' taken as a gap >= {100 * AA_GAP_LARGE:g} points; under "
              f"{100 * AA_GAP_SMALL:g} is not reproduced" + table_noise(rst, "aa", "aa_n"))
    return Verdict("rst-10", grade(mean_gap >= AA_GAP_LARGE, mean_gap >= AA_GAP_SMALL), ours,
                   reason)


def verdict_initialisation(t: pd.DataFrame, favourite: str = "signed_constant") -> Verdict:
    """Claim 3: signed Kaiming constant is best at every ratio (reproduced); at the peak or at
    some ratio (partly)."""
    wide = t.pivot_table(index="remaining", columns="variant", values="pgd")
    gap = wide[favourite] - wide.drop(columns=[favourite]).max(axis=1)
    wins = int((gap > 0).sum())  # strictly ahead; a tie is no evidence
    peaks = best_per_variant(t)
    peak_ahead = peaks[favourite] > peaks.drop(favourite).max()
    best_peak = favourite if peak_ahead else peaks.drop(favourite).idxmax()
    ours = "; ".join(f"{k}: peak {pct(p)}" for k, p in peaks.sort_values(ascending=False).items())
    widest = gap.abs().idxmax()
    reason = (f"{favourite} strictly best at {wins} of {len(wide)} ratios; best peak: "
              f"{best_peak}; its margin over the runner-up is largest at remaining "
              f"{widest:g} ({100 * gap.loc[widest]:+.1f} points)" + table_noise(t))
    return Verdict("rst-3", grade(wins == len(wide), peak_ahead or wins > 0), ours, reason)


def _strict_order(t: pd.DataFrame, claim_id: str, order: tuple[str, str, str],
                  labels: tuple[str, str, str]) -> Verdict:
    """A claim that the best accuracies of three variants come in a strict order: reproduced
    when they do, partly when the first is at least strictly the best. Other variants in t
    (the channel-wise pattern, say) are shown but not graded."""
    best = best_per_variant(t)
    if not set(order) <= set(best.index):
        return not_run(claim_id, "", f"needs the variants {sorted(order)}")
    a, b, c = order
    ordered = best[a] > best[b] > best[c]
    first = best[a] > max(best[b], best[c])
    ours = " / ".join(f"{k} {pct(best[k])}" for k in best.sort_values(ascending=False).index)
    reason = (f"strict order {' > '.join(labels)} " + ("holds" if ordered else "fails")
              + (f"; {labels[0]} is the best" if first else
                 f"; {labels[0]} is not strictly the best") + table_noise(t))
    return Verdict(claim_id, grade(ordered, first), ours, reason)


def verdict_patterns(t: pd.DataFrame) -> Verdict:
    """Claim 4: element-wise > row-wise > kernel-wise (best over ratios)."""
    return _strict_order(t, "rst-4", ("element", "row", "kernel"), ("element", "row", "kernel"))


def verdict_search_attack(t: pd.DataFrame) -> Verdict:
    """Claim 5: searching under PGD gives more robust RSTs than FGSM, and FGSM than FGSM-RS."""
    return _strict_order(t, "rst-5", ("pgd", "fgsm", "fgsm_rs"), ("PGD", "FGSM", "FGSM-RS"))


def verdict_lottery(t: pd.DataFrame) -> Verdict:
    """Claim 6 at every ratio tested: RST > FT-Reinit, and FT-Inherit > FT-Reinit."""
    wide = t.pivot_table(index="remaining", columns="kind", values="pgd")
    a = bool((wide["RST"] > wide["FT-Reinit"]).all())
    b = bool((wide["FT-Inherit"] > wide["FT-Reinit"]).all())
    ours = "; ".join(f"{r:g}: RST {pct(w['RST'])} / Inherit {pct(w['FT-Inherit'])} / Reinit "
                     f"{pct(w['FT-Reinit'])}" for r, w in wide.iterrows())
    reason = (f"RST > FT-Reinit at every ratio: {'yes' if a else 'no'}; FT-Inherit > FT-Reinit "
              f"at every ratio: {'yes' if b else 'no'}" + table_noise(t))
    return Verdict("rst-6", grade(a and b, a or b), ours, reason)


def _rises(t: pd.DataFrame) -> tuple[bool, bool]:
    """(monotone rise with a net gain, last above first) of t['pgd'] in row order."""
    a = t["pgd"].to_numpy()
    if len(a) < 2:
        return False, False
    return (bool(all(b >= x for x, b in zip(a, a[1:], strict=False)) and a[-1] > a[0]),
            bool(a[-1] > a[0]))


def verdict_overparameterisation(widths: pd.DataFrame, depths: pd.DataFrame) -> Verdict:
    """Claim 7: the best RST gets more robust as the random network gets wider and deeper.
    widths/depths: one row per network with its best pgd, ordered from small to large.
    Reproduced: monotone rise over widths (and depths, if run); partly: either rises end to
    end."""
    w_mono, w_up = _rises(widths)
    d_mono, d_up = _rises(depths) if len(depths) else (False, False)

    def says(mono: bool, up: bool) -> str:
        return "monotone rise" if mono else "rise end to end" if up else "no rise"

    ours = ("widths " + ", ".join(f"{r['variant']}: {pct(r['pgd'])}" for _, r in widths.iterrows())
            + ("; depths " + ", ".join(f"{r['variant']}: {pct(r['pgd'])}"
                                       for _, r in depths.iterrows()) if len(depths) else ""))
    reason = (f"width: {says(w_mono, w_up)}; depth: {says(d_mono, d_up)}"
              + table_noise(pd.concat([widths, depths])))
    return Verdict("rst-7", grade(w_mono and (d_mono or not len(depths)), w_up or d_up), ours,
                   reason)


def verdict_transfer(m: pd.DataFrame) -> Verdict:
    """Claim 8: adversarial examples transfer poorly between RSTs of different ratios: the
    off-diagonal (transfer) accuracy is well above the diagonal (white-box) accuracy."""
    a = m.to_numpy(dtype=float)
    diag, off = np.diag(a), a[~np.eye(len(a), dtype=bool)]
    gap = float(off.mean() - diag.mean())
    ours = (f"white-box diagonal {pct(diag.min())}-{pct(diag.max())}, transfer "
            f"{pct(off.min())}-{pct(off.max())}")
    reason = (f"mean transfer minus mean white-box accuracy {100 * gap:+.1f} points "
              f"(poor transfer if >= {100 * TRANSFER_GAP_LARGE:g}, partly if >= "
              f"{100 * TRANSFER_GAP_SMALL:g})")
    return Verdict("rst-8", grade(gap >= TRANSFER_GAP_LARGE, gap >= TRANSFER_GAP_SMALL), ours,
                   reason)


def verdict_r2s(rows: pd.DataFrame, best_single: float) -> Verdict:
    """Claim 9: R2S beats its best member under the strongest of the attacks, not only under
    the paper's non-adaptive one. rows: evaluation, accuracy (mean over draws)."""
    adv = rows[rows["evaluation"] != "clean"]
    paper = float(adv[adv["evaluation"].str.startswith("1 ")]["accuracy"].iloc[0])
    strongest = adv.loc[adv["accuracy"].idxmin()]
    gain_paper = paper - best_single
    gain = float(strongest["accuracy"]) - best_single
    kept = (f"{100 * max(gain, 0) / gain_paper:.0f} %" if gain_paper > 0 else "n/a")
    ours = (f"R2S {pct(paper)} under the paper's protocol, {pct(strongest['accuracy'])} under "
            f"the strongest ({strongest['evaluation']}); best single RST {pct(best_single)}")
    reason = (f"gain over the best member: {100 * gain_paper:+.1f} points non-adaptive, "
              f"{100 * gain:+.1f} under the strongest attack; share of the gain that survives: "
              f"{kept} (a gain counts from {100 * R2S_GAIN:g} points)")
    return Verdict("rst-9", grade(gain >= R2S_GAIN, gain > 0), ours, reason)


__all__ = ["PAPER", "CLAIMS", "PAPER_RST_CURVE", "PAPER_DENSE_RESNET18", "PAPER_INIT_PEAKS",
           "PAPER_SEARCH_ATTACK", "PAPER_PATTERNS", "PAPER_LOTTERY", "verdict_existence",
           "verdict_inverted_u", "verdict_aa_gap", "verdict_initialisation", "verdict_patterns",
           "verdict_search_attack", "verdict_lottery", "verdict_overparameterisation",
           "verdict_transfer", "verdict_r2s"]
