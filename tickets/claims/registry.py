"""The registered design of every graded part: one place that says, for each part of each
claim, which comparison it makes, in which direction, against which threshold, on how many
seeds and under which attack, and how the threshold follows from the paper.

A threshold comes from one of three rules (:data:`RULES`): the direction alone (the paper
reports a difference and we test its sign), the largest difference the paper itself calls a
match (for "matches" and "comes close" parts), or half the paper's smallest reported effect
(for parts that claim a difference of some size). Each design states its arithmetic.

A change to a registered design after a graded report is an amendment (:data:`AMENDMENTS`):
it keeps its date, the part, the old and new design and the reason, and every claim record
carries the amendments that touch it (tickets.claims.base.graded).

    from tickets.claims.registry import design, amendments_for
    design("rst-8/transfer").threshold      # 0.061
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DIRECTION = "direction"
MATCH = "match"
HALF_EFFECT = "half-effect"
RULES = {
    DIRECTION: "the paper reports a difference in this direction; the part tests its sign "
               "(threshold 0)",
    MATCH: "a 'matches' or 'comes close' part: the tolerance is the largest difference the "
           "paper itself calls a match, rounded up to a whole point (or a registered "
           "tolerance where the paper's text is unavailable)",
    HALF_EFFECT: "a part that claims a difference of some size: the threshold is half the "
                 "paper's smallest reported effect",
}
EVERY_PART = "every part"  # the `part` of an amendment that touches every registered part
MIN_SEEDS = 3  # seeds per side for a part that compares trainings or searches to be graded
STRICT_PGD = "the profile's strict PGD evaluation (eval_pgd_steps, restarts)"


@dataclass(frozen=True)
class Design:
    """One registered part: a minus b lies above `threshold` (direction +1) or below it
    (-1). graded=False: the part is shown as design information, never graded."""

    key: str
    claim: str
    comparison: str  # what a and b are, and how the sides are chosen
    direction: int
    threshold: float  # accuracy points as fractions of 1 (or the part's own unit)
    rule: str  # a key of RULES
    derivation: str  # the arithmetic from the paper's numbers to the threshold
    attack: str = STRICT_PGD
    min_seeds: int = MIN_SEEDS
    graded: bool = True

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise ValueError(f"invalid direction={self.direction!r} for {self.key}: +1 or -1")
        if self.rule not in RULES:
            raise ValueError(f"invalid rule={self.rule!r} for {self.key}: allowed {sorted(RULES)}")
        if self.rule == DIRECTION and self.threshold != 0.0:
            raise ValueError(f"{self.key}: a direction-only part has threshold 0, got "
                             f"{self.threshold!r}")
        if not self.key.startswith(self.claim + "/"):
            raise ValueError(f"invalid key={self.key!r}: it starts with its claim {self.claim!r}")

    def as_dict(self) -> dict:
        """The fields a part record carries (`rule_text` spells the rule out)."""
        return {**asdict(self), "rule_text": RULES[self.rule]}


@dataclass(frozen=True)
class Amendment:
    """A change to a registered design after a graded report."""

    date: str
    part: str
    old: str
    new: str
    reason: str


_D = Design
_SIGN = "direction only (threshold 0)"
DESIGNS: dict[str, Design] = {d.key: d for d in (
    # ---- RST paper ---------------------------------------------------------------------------
    _D("rst-1/close", "rst-1", "the best RST (the ratio of the best mean validation PGD "
       "accuracy over seeds) minus same-width dense PGD-AT, seed by seed", 1, -0.03, MATCH,
       "the paper calls its best RST (~47.7) close to dense PGD-AT (50.19): 50.19 - 47.7 = "
       "2.49 points, rounded up: a tolerance of 3 points"),
    _D("rst-1/size", "rst-1", "the best RST minus a dense net with as many weights as it "
       "keeps, seed by seed", 1, -0.01, MATCH,
       "the paper reports RSTs at or above dense nets of comparable size, so no shortfall is "
       "called a match: the smallest whole point, a tolerance of 1 point"),
    _D("rst-2/low-end", "rst-2", "the interior ratio of the best mean validation PGD accuracy "
       "minus the smallest ratio run (the paper's collapse: 0.01 or below)", 1, 0.0505,
       HALF_EFFECT, "the paper's drop from the peak (~47.7 at 0.2) to the low end the designs "
       "run, 0.01 (~37.6): 10.1 points; half of it: 5.05 points"),
    _D("rst-2/high-end", "rst-2", "the interior peak (chosen on validation) minus the largest "
       "ratio run (the paper's collapse: 0.7 or above)", 1, 0.019, HALF_EFFECT,
       "the paper's drop from the peak (~47.7 at 0.2) to 0.7 (~43.9), the largest ratio the "
       "designs run: 3.8 points; half of it: 1.9 points (its drop to 0.9, 19.6 points, is "
       "larger, but no design here runs 0.9)"),
    _D("rst-2/window", "rst-2", "the ratio inside 5-20 % remaining minus the ratio outside it, "
       "each the best on validation", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-3/favourite", "rst-3", "signed Kaiming constant minus the best other init (chosen "
       "on validation), per ratio, all four inits run", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-4/element-row", "rst-4", "element-wise minus row-wise masks, each at its best ratio "
       "on validation", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-4/row-kernel", "rst-4", "row-wise minus kernel-wise masks, each at its best ratio on "
       "validation", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-5/pgd-fgsm", "rst-5", "RSTs searched under PGD minus under FGSM, each at its best "
       "ratio on validation", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-5/fgsm-fgsm_rs", "rst-5", "RSTs searched under FGSM minus under FGSM-RS, each at "
       "its best ratio on validation", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-6/rst-reinit", "rst-6", "RST minus FT-Reinit at each low ratio (the paper: 0.01 and "
       "0.05)", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-6/inherit-reinit", "rst-6", "FT-Inherit minus FT-Reinit at each low ratio", 1, 0.0,
       DIRECTION, _SIGN),
    _D("rst-7/width", "rst-7", "the best RST (ratio chosen on validation) of the widest net "
       "minus that of the narrowest", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-7/depth", "rst-7", "the best RST (ratio chosen on validation) of the deepest net "
       "minus that of the shallowest", 1, 0.0, DIRECTION, _SIGN),
    _D("rst-8/transfer", "rst-8", "per image, the mean accuracy under transferred (off-diagonal) "
       "attacks minus under white-box (diagonal) ones, between RSTs of different ratios",
       1, 0.061, HALF_EFFECT, "the paper's smallest effect: its lowest transfer accuracy (60.0) "
       "minus its highest white-box one (47.8) = 12.2 points; half of it: 6.1 points"),
    _D("rst-9/r2s", "rst-9", "the R2S under the per-image worst case over every attack run (an "
       "image right in every draw of every attack, on the images all attacks share) minus its "
       "best member (the ratio chosen on validation) on the same images", 1, 0.0, DIRECTION,
       _SIGN, attack="the worst case over every R2S evaluation (the paper's PGD, the "
       "expectation attacks, EOT-PGD, AutoAttack-rand, transfer from dense PGD-AT)"),
    _D("rst-10/lower", "rst-10", "PGD minus AutoAttack accuracy (AutoAttack by itself, not its "
       "worst case with PGD) of each seed's best RST on the same images", 1, 0.0, DIRECTION,
       _SIGN,
       attack="standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square 5,000 queries), 500+ images"),
    _D("rst-10/much-lower", "rst-10", "PGD minus AutoAttack accuracy (AutoAttack by itself) of "
       "the RSTs, 'much lower'", 1, 0.115, HALF_EFFECT, "the independent re-run the claim cites: 41 % PGD against 18 % "
       "AutoAttack = 23 points; half of it: 11.5 points",
       attack="standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square 5,000 queries), 500+ images"),
    # ---- boosting tickets --------------------------------------------------------------------
    _D("boost-1/early-lead", "boost-1", "the boosting ticket (smallest pruning lr) minus the "
       "winning ticket (largest), mean validation PGD accuracy over the first epochs", 1, 0.0,
       DIRECTION, _SIGN, attack="validation PGD of the training history"),
    _D("boost-1/window", "boost-1", "the boost over re-init at the swept pruned fraction nearest "
       "75 % (inside 60-90 %) minus the boost at each swept fraction outside 60-90 %, one part "
       "per outside fraction, fixed by the design", 1, 0.0, DIRECTION, _SIGN,
       attack="validation PGD of the training history"),
    _D("boost-2/parity", "boost-2", "the FGSM-found ticket retrained with PGD minus dense "
       "PGD-AT", 1, -0.01, MATCH, "the paper calls its ticket (45.73) a match for dense PGD-AT "
       "(44.78): |45.73 - 44.78| = 0.95 points, rounded up: a tolerance of 1 point"),
    _D("boost-2/cost", "boost-2", "1 minus the ticket's cost over dense PGD-AT's, in passes",
       1, 0.0, DIRECTION, "design information: the configured epochs fix the cost, so it "
       "cannot fail and is not graded", attack="none (a count of passes)", min_seeds=1,
       graded=False),
    _D("boost-3/collapse", "boost-3", "per image, the robust-accuracy drop from pruning (dense "
       "minus ticket) at the narrowest width minus at the widest", 1, 0.0, DIRECTION, _SIGN),
    # ---- adversarial winning tickets (our reconstruction) -------------------------------------
    _D("awt-1/parity", "awt-1", "AWT minus dense PGD-AT, per sparsity", 1, -0.02, MATCH,
       "the paper's full text is unavailable and its claim is qualitative: a registered "
       "tolerance of 2 points"),
    _D("awt-1/baseline", "awt-1", "AWT minus the best baseline mask (chosen on validation), per "
       "sparsity", 1, 0.0, DIRECTION, _SIGN),
    _D("awt-2/kernel", "awt-2", "per seed, AWT's mean kernel distance to the dense net over "
       "training minus the baseline's of the best mean validation robust accuracy at that "
       "sparsity (as awt-1; PGD probes); an interval over seeds", -1, 0.0,
       DIRECTION, _SIGN, attack="PGD probes against the dense net"),
    _D("awt-2/output", "awt-2", "per seed, AWT's mean output gap to the dense net over training "
       "minus the baseline's of the best mean validation robust accuracy at that sparsity (as "
       "awt-1; PGD probes); an interval over seeds", -1, 0.0, DIRECTION,
       _SIGN, attack="PGD probes against the dense net"),
    _D("awt-3/width", "awt-3", "per image, (dense minus AWT) at the narrowest width minus at "
       "the widest", 1, 0.0, DIRECTION, _SIGN),
)}

AMENDMENTS: tuple[Amendment, ...] = (
    Amendment("2026-12-02", "rst-8/transfer",
              "'poor transfer' at 10 points of transfer over white-box accuracy and 'partly' at "
              "3, until commit 8638b69 replaced both with a single 3-point threshold after "
              "results were in",
              "6.1 points, half the paper's smallest effect (60.0 - 47.8 = 12.2)",
              "the 3-point threshold was chosen after a graded report; the threshold is derived "
              "again by the registered rule"),
    Amendment("2026-12-02", "rst-2/low-end", "2 points", "5.05 points (half of 10.1)",
              "thresholds are derived by one rule; 2 points had no stated derivation"),
    Amendment("2026-12-02", "rst-2/high-end", "2 points", "5.05 points (half of 10.1)",
              "thresholds are derived by one rule; 2 points had no stated derivation"),
    Amendment("2026-12-02", "rst-10/much-lower", "5 points", "11.5 points (half of 23)",
              "thresholds are derived by one rule; 5 points had no stated derivation"),
    Amendment("2026-12-02", "boost-2/cost", "a graded part (supported when the ticket's cost "
              "in passes is below dense PGD-AT's)", "design information, not graded",
              "the configured epochs fix the cost in passes: the part could not fail"),
    Amendment("2026-12-02", "awt-2/kernel", "an interval that resampled the training epochs of "
              "one seed", "an interval over seeds of the per-seed mean over epochs",
              "epochs of one run are not independent replicates; the claim is about searches"),
    Amendment("2026-12-02", "awt-2/output", "an interval that resampled the training epochs of "
              "one seed", "an interval over seeds of the per-seed mean over epochs",
              "epochs of one run are not independent replicates; the claim is about searches"),
    # Registered after a referee read the designs, before the cold cpu re-run's results
    Amendment("2026-12-02", "rst-2/high-end", "5.05 points (half of 10.1, the drop to 0.01)",
              "1.9 points (half of 3.8, the paper's drop from 47.7 to 43.9 at 0.7)",
              "the designs' largest ratio is 0.7, where the paper's own drop is 3.8 points: at "
              "5.05 the paper itself would fail the part; the end parts are graded only when "
              "the design reaches 0.01 and 0.7, and their chance rule looks at the peak alone "
              "(an end at chance is the collapse claimed)"),
    Amendment("2026-12-02", "rst-2/low-end", "the chance rule on both sides",
              "the chance rule on the peak alone; graded only when the design reaches 0.01",
              "an end that falls to chance is the collapse the claim describes"),
    Amendment("2026-12-02", "rst-2/low-end", "cpu ratios 0.03 / 0.1 / 0.3",
              "cpu ratios 0.01 / 0.03 / 0.1 / 0.3 / 0.7",
              "the old ratios could not reach either collapse (0.01, 0.7)"),
    Amendment("2026-12-02", "rst-10/lower", "PGD minus the per-image worst case of AutoAttack "
              "and PGD; APGD-CE alone at the cpu profile",
              "PGD minus AutoAttack by itself; standard AutoAttack (APGD-CE, APGD-T, FAB-T, "
              "Square 5,000 queries) on 500 images",
              "the worst case includes PGD, so the part could not be negative; APGD-CE alone is "
              "not AutoAttack"),
    Amendment("2026-12-02", "rst-10/much-lower", "PGD minus the per-image worst case; APGD-CE "
              "alone at the cpu profile", "PGD minus AutoAttack by itself; standard AutoAttack "
              "on 500 images", "as rst-10/lower"),
    Amendment("2026-12-02", "rst-9/r2s", "AutoAttack-rand at EOT 4, one stochastic evaluation",
              "AutoAttack-rand at EOT 20, the per-image worst case over 5 evaluations",
              "EOT 20 is AutoAttack's own setting for randomised defences"),
    Amendment("2026-12-02", "rst-9/r2s", "the attack of the lowest mean accuracy over draws, "
              "picked on the test images, its per-image share of right draws",
              "the per-image worst case over every attack and every draw (no attack picked)",
              "picking the attack on the graded images is a choice made on test; a randomised "
              "defence is robust on an image only if it is right in every draw"),
    Amendment("2026-12-02", "rst-6/rst-reinit", "cpu ratio 0.1", "cpu ratios 0.01 and 0.05",
              "the claim is about low ratios (the paper's 0.01 and 0.05)"),
    Amendment("2026-12-02", "rst-6/inherit-reinit", "cpu ratio 0.1", "cpu ratios 0.01 and 0.05",
              "the claim is about low ratios (the paper's 0.01 and 0.05)"),
    Amendment("2026-12-02", "rst-3/favourite", "two inits at the cpu profile",
              "all four inits the claim names", "the best other init must be chosen among all"),
    Amendment("2026-12-02", "rst-4/element-row", "the channel-wise pattern in the cpu grid",
              "element / row / kernel only; channel-wise searched once for the compaction "
              "timing", "channel-wise is no part of the claim and sat at chance; it saves two "
              "searches against the cpu report's 300-min budget"),
    Amendment("2026-12-02", "rst-8/transfer", "study 01's seed-0 tickets alone",
              "the tickets of each of the three search seeds", "a part is graded on 3 seeds"),
    Amendment("2026-12-02", "boost-1/window", "the largest boost inside 60-90 % minus the "
              "largest outside, both picked on the accuracies the part grades",
              "the fraction nearest 75 % minus each outside fraction, one part each",
              "picking both ends on the graded accuracies biases the part"),
    Amendment("2026-12-02", "awt-2/kernel", "the baseline closest to the dense net on the "
              "graded test probes", "the baseline of the best mean validation robust accuracy "
              "(as awt-1); inconclusive when AWT, the baseline or dense is at chance",
              "a choice made on the graded values; a net that learned nothing is far from "
              "dense trivially"),
    Amendment("2026-12-02", "awt-2/output", "the closest baseline on the graded test probes",
              "the baseline of the best mean validation robust accuracy; the chance rule",
              "as awt-2/kernel"),
    Amendment("2026-12-02", "boost-3/collapse", "the chance rule on all four nets",
              "the chance rule on the dense nets and the widest ticket, not the narrowest "
              "ticket", "the narrow ticket falling to chance is the collapse the claim "
              "describes"),
    Amendment("2026-12-02", "awt-3/width", "the chance rule on all four nets",
              "the chance rule on the dense nets and the widest AWT, not the narrowest AWT",
              "narrow AWT falling furthest behind dense is the claimed effect"),
    Amendment("2026-12-02", "awt-3/width", "cpu widths 0.125 and 0.5", "cpu widths 0.25 and 0.5",
              "dense PGD-AT at width 0.125 sat at 3.9 % PGD (chance) in the last cpu report, so "
              "the part could show nothing; registered before the re-run's results"),
    Amendment("2026-12-02", "rst-6/rst-reinit", "FT-Reinit weights drawn at init seed + 1",
              "at init seed + 1000", "seed + 1 is the next search seed's random network, so "
              "the seeds were not independent replicates"),
    Amendment("2026-12-02", "boost-1/early-lead", "re-init weights drawn at init seed + 1",
              "at init seed + 1000", "as rst-6: seed + 1 is the next search seed's network"),
    Amendment("2026-12-02", EVERY_PART, "single-seed parts graded; the percentile bootstrap over "
              "seeds and images", "parts need 3 seeds per side to be graded; the interval "
              "covers seed and image noise (tickets.stats.seed_interval); a comparison with "
              "either side at chance level is inconclusive; choices are made on validation",
              "the referee's review of the cpu report (seed noise, chance level, selection on "
              "test images)"),
    Amendment("2026-12-02", "awt-2/kernel", "graded on a t interval over 3 seeds",
              "shown, not graded (inconclusive with the reason)", "every seed measures the "
              "kernel distance on the same test probes (10 at the cpu profile, 32 at the "
              "paper's): the interval over seeds leaves the probe set's noise out, and no "
              "stored value lets an interval include it (a referee's reading of the re-run)"),
    Amendment("2026-12-02", "awt-2/output", "graded on a t interval over 3 seeds",
              "shown, not graded (inconclusive with the reason)", "as awt-2/kernel"),
    Amendment("2026-12-02", EVERY_PART, "the chance rule's standard error over seeds x images",
              "over the images alone", "every seed is evaluated on the same images, so seeds "
              "do not enlarge the test set (a referee's reading of the re-run). The bound rises "
              "(11.9 % on 1,000 images, 13.8 % on 250), so the change can only turn a graded "
              "part inconclusive. Of the cpu notebooks, 01, 02, 04, 06, 07 and 09 were "
              "executed before it (03, 05 and 08 after it; 10 before it, then again after it "
              "on 2026-12-03), and none of their outcomes changes: every part of 09 but "
              "boost-2/parity is inconclusive already, and boost-2's sides (16.5 and 20.2 %) "
              "and every compared side of 01, 02, 03, 04, 06 and 07 lie above 16 % PGD. A note "
              "of 09 still names the earlier bound's at-chance sides until it is executed "
              "again: under the new bound boost-1/early-lead's boosting side (13.7 % on 250 "
              "images) is at chance too"),
)


def design(key: str) -> Design:
    """The registered design of part `key` ("claim/part")."""
    if key not in DESIGNS:
        raise ValueError(f"unknown part key={key!r}: registered keys are {sorted(DESIGNS)}")
    return DESIGNS[key]


def designs_of(claim_id: str) -> list[Design]:
    """The registered parts of one claim, in registry order."""
    return [d for d in DESIGNS.values() if d.claim == claim_id]


def amendments_for(claim_id: str) -> list[dict]:
    """The amendments that touch claim `claim_id` (those of its parts, and those to every
    part, EVERY_PART), oldest first, as records."""
    return [asdict(a) for a in AMENDMENTS
            if a.part == EVERY_PART or a.part.split("/")[0] == claim_id]


CHANGE_FIELDS = ("date", "part", "old", "new")  # what identifies an amendment (not its reason)


def pending_amendments(record: dict | None) -> list[dict]:
    """The amendments that touch a claim record's claim (amendments_for) and that the record
    does not carry: changes made after its notebook ran, which its next execution applies.
    Matched on date, part, old and new design (a reason worded otherwise since still
    matches); [] for no record or one that names no claim."""
    if not record or not record.get("claim"):
        return []
    have = {tuple(a.get(k) for k in CHANGE_FIELDS) for a in record.get("amendments") or []}
    return [a for a in amendments_for(record["claim"])
            if tuple(a[k] for k in CHANGE_FIELDS) not in have]


def _check() -> None:
    for a in AMENDMENTS:
        if a.part != EVERY_PART and a.part not in DESIGNS:
            raise ValueError(f"amendment to unknown part {a.part!r}")


_check()

__all__ = ["RULES", "DIRECTION", "MATCH", "HALF_EFFECT", "EVERY_PART", "MIN_SEEDS", "Design", "Amendment",
           "DESIGNS", "AMENDMENTS", "design", "designs_of", "amendments_for",
           "pending_amendments", "CHANGE_FIELDS"]
