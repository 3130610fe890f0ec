"""The claims under test, with the papers' numbers, and the verdicts computed from our results.

Paper numbers are facts carried over from the papers (STUDY.md, the study description shared
beside the project, gives the sources);
those marked ~ were read off the papers' figures and are accurate to about 0.3 points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

RST = "Fu et al. 2021 (RST), arXiv 2110.14068"
BOOST = "Li et al. 2020 (boosting tickets), arXiv 2003.05733"
AWT = "Shi et al. 2022 (AWT), arXiv 2202.06488"


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    title: str
    paper_numbers: str
    notebook: str


CLAIMS: tuple[Claim, ...] = (
    Claim("rst-1", RST, "Existence: RSTs come close to dense PGD-AT and match dense nets of "
          "comparable size", "ResNet-18: dense PGD-AT 81.73 / 50.19 (nat / PGD-20); best RST "
          "~79.7 / ~47.7 at remaining 0.2", "01_existence"),
    Claim("rst-2", RST, "Inverted U: robust accuracy peaks at 5-20 % remaining and collapses at "
          "the ends", "ResNet-18 PGD-20: 0.01 ~37.6, 0.05 ~45.8, 0.1 ~47.0, 0.2 ~47.7, 0.5 ~46.1, "
          "0.7 ~43.9, 0.9 ~28.1", "01_existence"),
    Claim("rst-3", RST, "Signed Kaiming constant init is best", "~47.7 vs Kaiming uniform ~46.0, "
          "Kaiming/Xavier normal ~45.5", "02_initialisation"),
    Claim("rst-4", RST, "Element-wise > row-wise > kernel-wise masks", "~47.7 / ~43.6 / ~37.6",
          "03_sparsity_pattern"),
    Claim("rst-5", RST, "PGD in the search beats FGSM and FGSM-RS", "~47.7 / ~46.1 / ~44.2",
          "04_search_attack"),
    Claim("rst-6", RST, "Lottery phenomenon: RST > FT-Reinit, FT-Inherit > FT-Reinit at low "
          "ratios", "ResNet-18 @0.05: RST ~45.8, Inherit ~47.1, Reinit ~44.0", "05_lottery"),
    Claim("rst-7", RST, "Wider or deeper random nets hold better RSTs", "qualitative",
          "06_overparameterisation"),
    Claim("rst-8", RST, "RSTs of different ratios transfer poorly to each other",
          "white-box diagonal 43.9-47.8, transfer 60.0-74.3", "07_transferability"),
    Claim("rst-9", RST, "R2S raises robust accuracy", "ResNet-18 R2S 77.49 / 63.93 (nat / "
          "PGD-20), non-adaptive", "08_r2s"),
    Claim("rst-10", RST, "AutoAttack accuracy of RSTs is much lower than PGD accuracy "
          "(independent re-runs)", "re-run: 41 % PGD vs 18 % AutoAttack at 80 % sparsity",
          "01_existence"),
    Claim("boost-1", BOOST, "Boosting tickets converge faster than winning tickets",
          "VGG-16 after 20 epochs: 91.25 vs 88.10", "09_boosting"),
    Claim("boost-2", BOOST, "An FGSM-found ticket retrained with PGD matches dense PGD-AT sooner",
          "VGG-16: 60 epochs 45.73 / 76.48 vs 100 dense epochs 44.78 / 77.21; WRN 0.51x time",
          "09_boosting"),
    Claim("boost-3", BOOST, "Low-capacity nets collapse under adversarial training once pruned",
          "qualitative", "09_boosting"),
    Claim("awt-1", AWT, "Adversarial winning tickets (our NTK reconstruction) match dense PGD-AT "
          "at 80-98 % sparsity", "qualitative (full text unavailable)", "10_awt"),
    Claim("awt-2", AWT, "AWT preserves training dynamics better than baselines",
          "qualitative (full text unavailable)", "10_awt"),
    Claim("awt-3", AWT, "The gap between AWT and dense PGD-AT shrinks as the net gets wider",
          "qualitative (full text unavailable)", "10_awt"),
)

CLAIMS_BY_ID = {c.id: c for c in CLAIMS}

# Figure 2 of the RST paper, ResNet-18 on CIFAR-10, robust accuracy (PGD-20) by remaining ratio
PAPER_RST_CURVE = {0.01: 37.6, 0.05: 45.8, 0.1: 47.0, 0.2: 47.7, 0.5: 46.1, 0.7: 43.9, 0.9: 28.1}
PAPER_DENSE_RESNET18 = {"clean": 81.73, "pgd20": 50.19}

VERDICTS = ("reproduced", "partly", "not reproduced", "not run")


@dataclass
class Verdict:
    claim: str
    verdict: str
    ours: str
    reason: str
    scale: str = ""
    notebook: str = ""
    anchor: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"invalid verdict={self.verdict!r}: allowed values are {VERDICTS}")
        if self.claim not in CLAIMS_BY_ID:
            raise ValueError(f"unknown claim={self.claim!r}: known {sorted(CLAIMS_BY_ID)}")

    def as_dict(self) -> dict:
        return asdict(self)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


# Tolerances of the verdicts, in accuracy points (fractions of 1).
EXISTENCE_CLOSE = 0.03   # the paper's best RST is 2.5 points under dense PGD-AT
MATCH_TOLERANCE = 0.01   # "matches" the comparable-size dense net: not more than 1 point below
U_MARGIN = 0.02          # both ends of the curve at least 2 points under the peak
AA_GAP_LARGE = 0.05      # a PGD - AutoAttack gap of 5 points or more is "much lower"
AA_GAP_SMALL = 0.02


def _noise(t: pd.DataFrame, col: str = "pgd20", ncol: str = "n_test") -> str:
    """One binomial standard error of the accuracies, to read differences against."""
    if ncol not in t or t.empty or t[ncol].isna().all():
        return ""
    n = int(t[ncol].min())
    p = float(t[col].clip(0.05, 0.95).mean())
    return f"; one standard error at n={n} is about {100 * (p * (1 - p) / n) ** 0.5:.1f} points"


def verdict_existence(rst: pd.DataFrame, dense: pd.DataFrame) -> Verdict:
    """Claim 1: the best RST within EXISTENCE_CLOSE of same-width dense PGD-AT, and at least
    as robust (within MATCH_TOLERANCE) as a dense net with as many weights as it keeps."""
    best = rst.loc[rst["pgd20"].idxmax()]
    same = dense.iloc[0]
    small = dense.iloc[1]
    gap = same["pgd20"] - best["pgd20"]
    vs_small = best["pgd20"] - small["pgd20"]
    close, match = gap <= EXISTENCE_CLOSE, vs_small >= -MATCH_TOLERANCE
    v = "reproduced" if close and match else "partly" if close or match else "not reproduced"
    ours = (f"best RST (r={best['remaining']:g}) {_pct(best['clean'])} / {_pct(best['pgd20'])}; "
            f"dense PGD-AT {_pct(same['clean'])} / {_pct(same['pgd20'])}; same-size dense "
            f"{_pct(small['clean'])} / {_pct(small['pgd20'])}")
    reason = (f"RST is {100 * gap:+.1f} points under same-width dense PGD-AT (close if <= "
              f"{100 * EXISTENCE_CLOSE:g}); {100 * vs_small:+.1f} points against the dense net "
              f"of its size (matches if >= {-100 * MATCH_TOLERANCE:g})"
              + _noise(pd.concat([rst, dense])))
    return Verdict("rst-1", v, ours, reason)


def verdict_inverted_u(rst: pd.DataFrame) -> Verdict:
    """Claim 2: the curve peaks at an interior ratio, both ends at least U_MARGIN lower; the
    paper puts the peak at 5-20 %."""
    t = rst.sort_values("remaining")
    accs = t["pgd20"].to_numpy()
    ratios = t["remaining"].to_numpy()
    if len(t) < 3:
        return Verdict("rst-2", "not run", "fewer than 3 ratios", "a curve needs 3 or more ratios")
    i = int(accs.argmax())
    interior = 0 < i < len(accs) - 1
    drops = accs[i] - accs[0], accs[i] - accs[-1]
    u = interior and min(drops) >= U_MARGIN
    in_window = 0.05 <= ratios[i] <= 0.2
    v = "reproduced" if u and in_window else "partly" if u or interior else "not reproduced"
    ours = ", ".join(f"{r:g}: {_pct(a)}" for r, a in zip(ratios, accs, strict=True))
    reason = (f"peak at remaining {ratios[i]:g} ({'interior' if interior else 'at an end'}); "
              f"ends {100 * drops[0]:.1f} and {100 * drops[1]:.1f} points under the peak "
              f"(need >= {100 * U_MARGIN:g}); paper's peak window 0.05-0.2" + _noise(rst))
    return Verdict("rst-2", v, ours, reason)


def verdict_aa_gap(rows: pd.DataFrame) -> Verdict:
    """Claim 10: PGD accuracy minus AutoAttack accuracy on the same images, for the RSTs."""
    r = rows.dropna(subset=["aa"])
    if r.empty:
        return Verdict("rst-10", "not run", "no AutoAttack figures", "AutoAttack was not run")
    rst = r[r["kind"] == "RST"]
    gaps = rst["pgd20_on_aa_images"] - rst["aa"]
    dense = r[r["kind"] != "RST"]
    dgaps = dense["pgd20_on_aa_images"] - dense["aa"]
    mean_gap = float(gaps.mean())
    v = ("reproduced" if mean_gap >= AA_GAP_LARGE else "not reproduced"
         if mean_gap < AA_GAP_SMALL else "partly")
    ours = (f"RST PGD-AA gap mean {100 * mean_gap:.1f} points (max {100 * gaps.max():.1f}); "
            f"dense baselines {100 * dgaps.mean():.1f}" if len(dgaps) else "")
    reason = (f"'much lower' taken as a gap >= {100 * AA_GAP_LARGE:g} points; under "
              f"{100 * AA_GAP_SMALL:g} is not reproduced" + _noise(rst, "aa", "aa_n"))
    return Verdict("rst-10", v, ours, reason)


# Peak robust accuracy by initialisation, RST paper Fig. 4 (ResNet-18, CIFAR-10)
PAPER_INIT_PEAKS = {"signed_constant": 47.7, "kaiming_uniform": 46.0, "kaiming_normal": 45.5,
                    "xavier_normal": 45.5}
# Search adversary, RST paper Table/Fig. (ResNet-18, CIFAR-10, best ratio)
PAPER_SEARCH_ATTACK = {"pgd": 47.7, "fgsm": 46.1, "fgsm_rs": 44.2}


def _per_variant_best(t: pd.DataFrame) -> pd.Series:
    return t.groupby("variant")["pgd20"].max()


def verdict_initialisation(t: pd.DataFrame, favourite: str = "signed_constant") -> Verdict:
    """Claim 3: signed Kaiming constant is best at every ratio, and at the peak."""
    wide = t.pivot_table(index="remaining", columns="variant", values="pgd20")
    others = wide.drop(columns=[favourite])
    gap = wide[favourite] - others.max(axis=1)
    wins = int((gap > 0).sum())  # strictly ahead; a tie is no evidence
    peaks = _per_variant_best(t)
    peak_ahead = peaks[favourite] > peaks.drop(favourite).max()
    best_peak = favourite if peak_ahead else peaks.drop(favourite).idxmax()
    v = ("reproduced" if wins == len(wide) else
         "partly" if peak_ahead or wins > 0 else "not reproduced")
    ours = "; ".join(f"{k}: peak {_pct(p)}" for k, p in peaks.sort_values(ascending=False).items())
    reason = (f"{favourite} strictly best at {wins} of {len(wide)} ratios; best peak: "
              f"{best_peak}; its margin over the runner-up is largest at remaining "
              f"{gap.abs().idxmax():g} ({100 * gap.loc[gap.abs().idxmax()]:+.1f} points)"
              + _noise(t))
    return Verdict("rst-3", v, ours, reason)


def catastrophic_overfitting(history: list[dict], drop: float = 0.10) -> bool:
    """Validation robust accuracy falls by `drop` or more from its best to its last epoch."""
    vals = [h["val_robust"] for h in history if "val_robust" in h]
    return bool(vals) and max(vals) - vals[-1] >= drop


def verdict_search_attack(t: pd.DataFrame) -> Verdict:
    """Claim 5: searching under PGD gives more robust RSTs than FGSM, and FGSM than FGSM-RS."""
    best = _per_variant_best(t)
    needed = {"pgd", "fgsm", "fgsm_rs"}
    if not needed <= set(best.index):
        return Verdict("rst-5", "not run", "", f"needs the variants {sorted(needed)}")
    pgd_best = best["pgd"] > max(best["fgsm"], best["fgsm_rs"])
    order = best["pgd"] > best["fgsm"] > best["fgsm_rs"]
    v = "reproduced" if order else "partly" if pgd_best else "not reproduced"
    ours = " / ".join(f"{k} {_pct(best[k])}" for k in ("pgd", "fgsm", "fgsm_rs"))
    reason = ("strict order PGD > FGSM > FGSM-RS " + ("holds" if order else "fails") +
              ("; PGD is the best" if pgd_best else "; PGD is not strictly the best")
              + _noise(t))
    return Verdict("rst-5", v, ours, reason)


def verdict_overparameterisation(widths: pd.DataFrame, depths: pd.DataFrame) -> Verdict:
    """Claim 7: the best RST gets more robust as the random network gets wider and deeper.
    widths/depths: one row per network with its best pgd20, ordered from small to large."""
    def rises(t: pd.DataFrame) -> tuple[bool, bool]:
        a = t["pgd20"].to_numpy()
        if len(a) < 2:
            return False, False
        return bool(all(b >= x for x, b in zip(a, a[1:], strict=False)) and a[-1] > a[0]), \
            bool(a[-1] > a[0])
    w_mono, w_up = rises(widths)
    d_mono, d_up = rises(depths) if len(depths) else (False, False)
    v = ("reproduced" if w_mono and (d_mono or not len(depths)) else
         "partly" if w_up or d_up else "not reproduced")
    ours = ("widths " + ", ".join(f"{r['variant']}: {_pct(r['pgd20'])}" for _, r in widths.iterrows())
            + ("; depths " + ", ".join(f"{r['variant']}: {_pct(r['pgd20'])}"
                                       for _, r in depths.iterrows()) if len(depths) else ""))
    reason = (f"width: {'monotone rise' if w_mono else 'rise end to end' if w_up else 'no rise'}; "
              f"depth: {'monotone rise' if d_mono else 'rise end to end' if d_up else 'no rise'}"
              + _noise(pd.concat([widths, depths])))
    return Verdict("rst-7", v, ours, reason)


TRANSFER_GAP_LARGE = 0.10  # the paper's transfer accuracies are ~15-30 points above white-box
TRANSFER_GAP_SMALL = 0.03


def verdict_transfer(m: pd.DataFrame) -> Verdict:
    """Claim 8: adversarial examples transfer poorly between RSTs of different ratios: the
    off-diagonal (transfer) accuracy is well above the diagonal (white-box) accuracy."""
    import numpy as np

    a = m.to_numpy(dtype=float)
    diag = np.diag(a)
    off = a[~np.eye(len(a), dtype=bool)]
    gap = float(off.mean() - diag.mean())
    v = ("reproduced" if gap >= TRANSFER_GAP_LARGE else "partly" if gap >= TRANSFER_GAP_SMALL
         else "not reproduced")
    ours = (f"white-box diagonal {_pct(diag.min())}-{_pct(diag.max())}, transfer "
            f"{_pct(off.min())}-{_pct(off.max())}")
    reason = (f"mean transfer minus mean white-box accuracy {100 * gap:+.1f} points "
              f"(poor transfer if >= {100 * TRANSFER_GAP_LARGE:g}, partly if >= "
              f"{100 * TRANSFER_GAP_SMALL:g})")
    return Verdict("rst-8", v, ours, reason)


R2S_GAIN = 0.03  # points of robust accuracy over the best single RST that count as a gain


def verdict_r2s(rows: pd.DataFrame, best_single: float) -> Verdict:
    """Claim 9: R2S beats its best member under the strongest of the attacks, not only under
    the paper's non-adaptive one. rows: evaluation, accuracy (mean over draws)."""
    adv = rows[rows["evaluation"] != "clean"]
    paper = float(adv[adv["evaluation"].str.startswith("1 ")]["accuracy"].iloc[0])
    strongest = adv.loc[adv["accuracy"].idxmin()]
    gain_paper = paper - best_single
    gain = float(strongest["accuracy"]) - best_single
    v = "reproduced" if gain >= R2S_GAIN else "partly" if gain > 0 else "not reproduced"
    kept = (f"{100 * max(gain, 0) / gain_paper:.0f} %" if gain_paper > 0 else "n/a")
    ours = (f"R2S {_pct(paper)} under the paper's protocol, {_pct(strongest['accuracy'])} under "
            f"the strongest ({strongest['evaluation']}); best single RST {_pct(best_single)}")
    reason = (f"gain over the best member: {100 * gain_paper:+.1f} points non-adaptive, "
              f"{100 * gain:+.1f} under the strongest attack; share of the gain that survives: "
              f"{kept} (a gain counts from {100 * R2S_GAIN:g} points)")
    return Verdict("rst-9", v, ours, reason)


# RST paper, sparsity patterns (ResNet-18, CIFAR-10, best ratio)
PAPER_PATTERNS = {"element": 47.7, "row": 43.6, "kernel": 37.6}
# RST paper, lottery phenomenon (ResNet-18): ratio -> (RST, FT-Inherit, FT-Reinit)
PAPER_LOTTERY = {0.01: (37.6, 41.0, 36.7), 0.05: (45.8, 47.1, 44.0)}


def verdict_patterns(t: pd.DataFrame) -> Verdict:
    """Claim 4: element-wise > row-wise > kernel-wise (best over ratios)."""
    best = _per_variant_best(t)
    if not {"element", "row", "kernel"} <= set(best.index):
        return Verdict("rst-4", "not run", "", "needs element, row and kernel variants")
    order = best["element"] > best["row"] > best["kernel"]
    top = best["element"] > max(best["row"], best["kernel"])
    v = "reproduced" if order else "partly" if top else "not reproduced"
    ours = " / ".join(f"{k} {_pct(best[k])}" for k in best.sort_values(ascending=False).index)
    reason = ("strict order element > row > kernel " + ("holds" if order else "fails")
              + _noise(t))
    return Verdict("rst-4", v, ours, reason)


def verdict_lottery(t: pd.DataFrame) -> Verdict:
    """Claim 6 at every ratio tested: RST > FT-Reinit, and FT-Inherit > FT-Reinit."""
    wide = t.pivot_table(index="remaining", columns="kind", values="pgd20")
    a = bool((wide["RST"] > wide["FT-Reinit"]).all())
    b = bool((wide["FT-Inherit"] > wide["FT-Reinit"]).all())
    v = "reproduced" if a and b else "partly" if a or b else "not reproduced"
    ours = "; ".join(f"{r:g}: RST {_pct(w['RST'])} / Inherit {_pct(w['FT-Inherit'])} / Reinit "
                     f"{_pct(w['FT-Reinit'])}" for r, w in wide.iterrows())
    reason = (f"RST > FT-Reinit at every ratio: {'yes' if a else 'no'}; FT-Inherit > FT-Reinit "
              f"at every ratio: {'yes' if b else 'no'}" + _noise(t))
    return Verdict("rst-6", v, ours, reason)


# ---- boosting tickets (Li et al. 2020) -----------------------------------------------------------
PAPER_BOOST = {"boosting_20ep": 91.25, "winning_20ep": 88.10, "ticket_60ep_pgd": 45.73,
               "ticket_60ep_clean": 76.48, "dense_100ep_pgd": 44.78, "dense_100ep_clean": 77.21,
               "wrn_time_ratio": 0.51}
BOOST_MARGIN = 0.01     # a lead of at least 1 point counts as faster convergence
BOOST_RANGE = (0.6, 0.9)  # the paper's strongest boost, as the pruned fraction
COST_TOLERANCE = 0.01   # "matches" dense robust accuracy: not more than 1 point below
COLLAPSE_MARGIN = 0.02  # the narrow net loses at least 2 points more than the wide one


def _val_noise(n: int, p: float) -> str:
    p = min(max(p, 0.05), 0.95)
    return f"; one standard error at n={n} is about {100 * (p * (1 - p) / n) ** 0.5:.1f} points"


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
    v = ("reproduced" if faster and monotone and in_range else "partly" if faster
         else "not reproduced")
    ours = (" / ".join(f"lr {lr:g}: {_pct(a)}" for lr, a in zip(t["prune_lr"], acc,
                                                                   strict=True))
            + f" early val. robust; largest boost over re-init at {100 * peak:.0f} % pruned")
    reason = (f"boosting (lr {t['prune_lr'].iloc[0]:g}) minus winning (lr "
              f"{t['prune_lr'].iloc[-1]:g}) ticket: {100 * lead:+.1f} points (faster if >= "
              f"{100 * BOOST_MARGIN:g}); smaller lr never worse: {'yes' if monotone else 'no'}; "
              f"peak boost in 60-90 % pruned: {'yes' if in_range else 'no'}"
              + _val_noise(n_val, float(acc.mean())))
    return Verdict("boost-1", v, ours, reason)


def verdict_fgsm_ticket(table: pd.DataFrame) -> Verdict:
    """Claim boost-2: the FGSM-found ticket retrained with PGD for fewer epochs reaches dense
    PGD-AT's robust accuracy (within COST_TOLERANCE) at a lower total cost in passes."""
    d = table[table["kind"] == "dense PGD-AT"].iloc[0]
    t = table[table["kind"] != "dense PGD-AT"].iloc[0]
    ratio = float(t["total_passes"]) / float(d["total_passes"])
    sec_ratio = float(t["total_seconds"]) / max(float(d["total_seconds"]), 1e-9)
    matches = float(t["pgd20"]) >= float(d["pgd20"]) - COST_TOLERANCE
    cheaper = ratio < 1.0
    v = "reproduced" if matches and cheaper else "partly" if matches or cheaper else (
        "not reproduced")
    ours = (f"ticket {_pct(t['pgd20'])} / {_pct(t['clean'])} (PGD / clean) after "
            f"{int(t['epochs'])} PGD epochs vs dense {_pct(d['pgd20'])} / {_pct(d['clean'])} "
            f"after {int(d['epochs'])}; cost {ratio:.2f}x in passes, {sec_ratio:.2f}x in seconds")
    reason = (f"matches dense robust accuracy (within {100 * COST_TOLERANCE:g} point): "
              f"{'yes' if matches else 'no'}; cheaper in passes (FGSM pretraining included): "
              f"{'yes' if cheaper else 'no'}; the paper's WRN-34-10 figure is "
              f"{PAPER_BOOST['wrn_time_ratio']}x" + _noise(table))
    return Verdict("boost-2", v, ours, reason)


def verdict_collapse(t: pd.DataFrame) -> Verdict:
    """Claim boost-3: pruning costs the narrowest net more robust accuracy than the widest.
    t: width, drop_pgd20 (dense minus ticket), dense_pgd20, ticket_pgd20."""
    t = t.sort_values("width")
    narrow, wide = t.iloc[0], t.iloc[-1]
    diff = float(narrow["drop_pgd20"] - wide["drop_pgd20"])
    v = ("reproduced" if diff >= COLLAPSE_MARGIN else "partly" if diff > 0
         else "not reproduced")
    ours = "; ".join(f"width {r['width']:g}: dense {_pct(r['dense_pgd20'])} -> ticket "
                     f"{_pct(r['ticket_pgd20'])}" for _, r in t.iterrows())
    reason = (f"drop from pruning at width {narrow['width']:g} minus at width {wide['width']:g}: "
              f"{100 * diff:+.1f} points (collapse if >= {100 * COLLAPSE_MARGIN:g})")
    return Verdict("boost-3", v, ours, reason)


# ---- adversarial winning tickets (our reconstruction of Shi et al. 2022) --------------------------
AWT_TOLERANCE = 0.02  # "matches" dense PGD-AT: not more than 2 points below


def verdict_awt_parity(t: pd.DataFrame) -> Verdict:
    """Claim awt-1: at every sparsity AWT is within AWT_TOLERANCE of dense PGD-AT and at least
    as robust as every baseline. Partly: either holds at some sparsity."""
    dense = float(t[t["method"] == "dense"]["pgd20"].iloc[0])
    sp = t[t["method"] != "dense"]
    wide = sp.pivot_table(index="sparsity", columns="method", values="pgd20")
    base = [c for c in wide.columns if c != "awt"]
    close = wide["awt"] >= dense - AWT_TOLERANCE
    best = wide["awt"] >= wide[base].max(axis=1) - 1e-12
    v = ("reproduced" if close.all() and best.all() else "partly" if (close | best).any()
         else "not reproduced")
    ours = (f"dense {_pct(dense)}; AWT " + ", ".join(
        f"{100 * s:g} %: {_pct(a)} (best baseline {_pct(wide.loc[s, base].max())})"
        for s, a in wide["awt"].items()))
    reason = (f"within {100 * AWT_TOLERANCE:g} points of dense at {int(close.sum())} of "
              f"{len(close)} sparsities; at least as robust as every baseline at "
              f"{int(best.sum())} of {len(best)}" + _noise(t))
    return Verdict("awt-1", v, ours, reason)


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
    v = ("reproduced" if wins == cases else "partly" if wins * 2 >= cases and wins > 0
         else "not reproduced")
    mean = summary.groupby("method")[["kernel_distance_adv", "output_gap_adv"]].mean()
    ours = "; ".join(f"{m}: kernel distance {r['kernel_distance_adv']:.3f}, output gap "
                     f"{r['output_gap_adv']:.3f}" for m, r in mean.iterrows())
    return Verdict("awt-2", v, ours, "; ".join(details) + " (means over training epochs, "
                   "PGD probes against the dense net)")


def verdict_awt_width(t: pd.DataFrame) -> Verdict:
    """Claim awt-3: AWT's robust-accuracy gap to dense PGD-AT of the same width falls as the
    width grows. Reproduced: it falls at every step; partly: widest below narrowest."""
    a = t[t["method"] == "awt"].sort_values("width")
    gaps = a["gap_pgd20"].to_numpy()
    falls = bool((gaps[1:] < gaps[:-1]).all())
    ends = bool(gaps[-1] < gaps[0])
    v = "reproduced" if falls else "partly" if ends else "not reproduced"
    ours = ", ".join(f"width {w:g}: {100 * g:+.1f}" for w, g in zip(a["width"], gaps,
                                                                    strict=True))
    reason = (f"dense minus AWT robust accuracy falls at every width step: "
              f"{'yes' if falls else 'no'}; widest below narrowest: {'yes' if ends else 'no'}"
              + _noise(t))
    return Verdict("awt-3", v, ours + " points (dense minus AWT)", reason)
