"""What every paper's claims share: the claim and verdict records, the grading of a verdict
from its parts, and the paired comparisons the parts are made of.

A claim is tested as one or more parts. Each part is a difference between two measured
accuracies (paired, on the same test images, over the search seeds run) with a 95 % interval
that covers seed and image noise (tickets.stats.seed_interval), and a registered design
(tickets.claims.registry: direction, threshold and its derivation, seeds): the part is
*supported* when the interval lies on the paper's side of the threshold, *contradicted* when it
lies on the other side, and *inconclusive at this scale* when it covers the threshold. A part
is never graded on fewer seeds than its design needs (one seed: "single seed"), nor when
either side of it sits at chance level (:func:`chance_rule`). The verdict combines the parts
(:func:`combine`); tickets.claims.family adds the family-wise outcome over a whole report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from tickets.claims.registry import MIN_SEEDS, amendments_for, design
from tickets.stats import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    Difference,
    seed_interval,
    standard_error,
)

PARTLY, NOT_RUN = "partly", "not run"
VERDICTS = (SUPPORTED, PARTLY, CONTRADICTED, INCONCLUSIVE, NOT_RUN)

_REGISTRY: dict[str, Claim] = {}


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, its numbers, and the notebook section that tests it."""

    id: str
    paper: str
    title: str
    paper_numbers: str
    notebook: str

    @property
    def anchor(self) -> str:
        """The id of the notebook section that tests the claim."""
        return f"claim-{self.id}"


def register(*claims: Claim) -> tuple[Claim, ...]:
    """Add a paper's claims to the index (in the order given)."""
    for c in claims:
        if c.id in _REGISTRY:
            raise ValueError(f"claim {c.id!r} is registered twice")
        _REGISTRY[c.id] = c
    return claims


def all_claims() -> tuple[Claim, ...]:
    return tuple(_REGISTRY.values())


def claim(claim_id: str) -> Claim:
    if claim_id not in _REGISTRY:
        raise ValueError(f"unknown claim={claim_id!r}: known {sorted(_REGISTRY)}")
    return _REGISTRY[claim_id]


@dataclass
class Part:
    """One tested part of a claim: a difference (a minus b) that the paper says lies above
    `threshold` (expected_sign +1) or below it (-1). A registered part (:func:`registered`)
    takes its threshold, direction and seed count from its design (`key`)."""

    name: str
    difference: Difference
    threshold: float = 0.0
    expected_sign: int = 1
    uninformative: str = ""  # why this comparison cannot support the claim (then inconclusive)
    key: str = ""  # the registered design (tickets.claims.registry), "" for an ad-hoc part
    min_seeds: int = MIN_SEEDS  # fewer seeds than this: shown, never graded

    @property
    def why_ungraded(self) -> str:
        """Why the part is inconclusive whatever its interval says, or "" when it is graded:
        the comparison shows nothing (`uninformative`), or it rests on too few seeds."""
        if self.uninformative:
            return self.uninformative
        n = self.difference.n_seeds
        if n < 2:
            return "single seed"
        if n < self.min_seeds:
            return f"{n} seeds, the design needs {self.min_seeds}"
        return ""

    @property
    def outcome(self) -> str:
        if self.why_ungraded:
            return INCONCLUSIVE
        return self.difference.outcome(self.expected_sign, self.threshold)

    @property
    def p_supported(self) -> float | None:
        """One-sided p-value against "the difference is not on the paper's side of the
        threshold", consistent with the interval (below (1 - level) / 2 iff supported)."""
        return self.difference.p_beyond(self.threshold, self.expected_sign)

    @property
    def p_contradicted(self) -> float | None:
        """One-sided p-value against "the difference is not on the other side"."""
        return self.difference.p_beyond(self.threshold, -self.expected_sign)

    def describe(self) -> str:
        side = ">" if self.expected_sign > 0 else "<"
        t = 100 * self.threshold if self.difference.percent else self.threshold
        why = f" ({self.why_ungraded})" if self.why_ungraded else ""
        return (f"{self.name}: {self.difference.describe()}, paper's side "
                f"{side} {t:+g}: {self.outcome}{why}")

    def as_dict(self) -> dict:
        d = self.difference
        out = {"name": self.name, "estimate": d.estimate, "low": d.low, "high": d.high,
               "level": d.level, "n_images": d.n_images, "n_seeds": d.n_seeds,
               "p_value": d.p_value, "threshold": self.threshold,
               "expected_sign": self.expected_sign, "outcome": self.outcome,
               "percent": d.percent, "unit": d.unit, "uninformative": self.why_ungraded,
               "graded": not self.why_ungraded, "p_supported": self.p_supported,
               "p_contradicted": self.p_contradicted, "key": self.key,
               "interval": {"method": d.method, "level": d.level, **(d.data or {})}}
        if self.key:
            reg = design(self.key)
            out.update(derivation=reg.derivation, rule=reg.rule, design=reg.as_dict())
        return out


def registered(key: str, name: str, difference: Difference, uninformative: str = "") -> Part:
    """The part registered as `key`, with its design's threshold, direction and seeds."""
    reg = design(key)
    if not reg.graded:
        raise ValueError(f"part {key!r} is registered as design information, not a graded "
                         f"part")
    return Part(name, difference, reg.threshold, reg.direction, uninformative, key,
                reg.min_seeds)


def combine(parts: list[Part]) -> str:
    """A claim's verdict from its parts: supported when every part is; contradicted when some
    part is and none is supported; inconclusive when none is either; partly otherwise (some
    parts supported, others not)."""
    return combine_outcomes([p.outcome for p in parts])


def combine_outcomes(outcomes: list[str]) -> str:
    """combine() on the parts' outcomes alone (also what the family-wise verdict uses)."""
    if not outcomes:
        return NOT_RUN
    if all(o == SUPPORTED for o in outcomes):
        return SUPPORTED
    if SUPPORTED in outcomes:
        return PARTLY
    if CONTRADICTED in outcomes:
        return CONTRADICTED
    return INCONCLUSIVE


@dataclass
class Verdict:
    claim: str
    verdict: str
    ours: str
    reason: str
    scale: str = ""
    notebook: str = ""
    anchor: str = ""
    parts: list[dict] = field(default_factory=list)
    note: str = ""  # what the parts do not say (a part that was not tested, context)
    amendments: list[dict] = field(default_factory=list)  # registry changes touching the claim

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"invalid verdict={self.verdict!r}: allowed values are {VERDICTS}")
        claim(self.claim)

    def as_dict(self) -> dict:
        return asdict(self)


def graded(claim_id: str, parts: list[Part], ours: str, note: str = "") -> Verdict:
    """The verdict of a claim from its parts, with each part's interval and outcome as the
    reason (and `note` after them)."""
    reason = "; ".join(p.describe() for p in parts) + (f". {note}" if note else "")
    return Verdict(claim_id, combine(parts), ours, reason, parts=[p.as_dict() for p in parts],
                   note=note, amendments=amendments_for(claim_id))


def outcome_matrix(rows: pd.DataFrame, col: str = "pgd_correct") -> np.ndarray:
    """The per-image outcomes of `rows` (one row per seed), as a (seeds, images) array in seed
    order. An outcome is a string of 0s and 1s, or a list of fractions (a randomised model's
    share of correct draws)."""
    if rows.empty:
        raise ValueError("no rows to compare")
    r = rows.sort_values("seed") if "seed" in rows else rows
    out = []
    for x in r[col]:
        if isinstance(x, str) and x:
            out.append([int(c) for c in x])  # 0/1 per image
        elif isinstance(x, (list, tuple, np.ndarray)) and len(x):
            out.append([float(v) for v in x])  # fractions correct over random draws
        else:
            raise ValueError(f"column {col!r} holds no per-image outcomes")
    return np.array(out, dtype=float)


def compare(a: pd.DataFrame, b: pd.DataFrame, col: str = "pgd_correct",
            col_b: str | None = None, seed: int = 0, first_shared: bool = False
            ) -> Difference:
    """Paired difference of two models' accuracies (a minus b) over the same images and the
    same search seeds (tickets.stats.seed_interval). A side with a single row (one seed) is
    set against every seed of the other; the difference then counts as one seed (the single
    side's seed noise is unknown), so it is shown but not graded. Both sides must have the
    same images, unless first_shared: then the first images both have (one side attacked on
    fewer, say AutoAttack on the first aa_n). `seed` is kept for callers of the earlier
    bootstrap; the interval is a closed form and draws nothing."""
    ma, mb = outcome_matrix(a, col), outcome_matrix(b, col_b or col)
    seeds = min(ma.shape[0], mb.shape[0])
    if ma.shape[0] != mb.shape[0]:
        if seeds != 1:
            raise ValueError(f"seed counts differ: {ma.shape[0]} against {mb.shape[0]}")
        ma, mb = np.broadcast_arrays(ma, mb)
    if ma.shape[1] != mb.shape[1] and not first_shared:
        raise ValueError(f"image counts differ: {ma.shape[1]} against {mb.shape[1]} (pass "
                         f"first_shared=True to compare the first images both have)")
    n = min(ma.shape[1], mb.shape[1])
    d = seed_interval(ma[:, :n], mb[:, :n])
    return replace(d, n_seeds=seeds) if seeds < d.n_seeds else d


def at_chance(rows: pd.DataFrame, col: str = "pgd_correct", chance: float = 0.1) -> bool:
    """Whether the accuracy of `rows` (pooled over seeds and images) is within two standard
    errors of chance: such a model has learned nothing a comparison could rest on."""
    return at_chance_level(outcome_matrix(rows, col), chance)


def at_chance_level(outcomes, chance: float = 0.1) -> bool:
    """Whether per-image outcomes are within two standard errors of chance. outcomes: one
    model's outcomes on n images, or a (seeds, images) array. The standard error counts the
    images once: every seed is evaluated on the same images, so more seeds do not make the
    test set larger (before an amendment of 2026-12-02 it counted seeds x images; see the
    registry)."""
    m = np.asarray(outcomes, dtype=float)
    n = m.shape[-1] if m.ndim else 1
    return float(m.mean()) <= chance + 2 * standard_error(chance, n)


def chance_rule(sides: dict[str, np.ndarray | pd.DataFrame | tuple[float, int]],
                col: str = "pgd_correct", chance: float = 0.1) -> str:
    """The project's chance rule, the one every part applies: why a comparison shows nothing
    because one of its sides sits at chance level, or "". sides maps a label to that model's
    per-image outcomes (an array, or rows with the column `col`), or to (accuracy, images)
    where no per-image outcomes were kept (images: the number of distinct images, not seeds x
    images, as in :func:`at_chance_level`). A model at chance has
    learned nothing a comparison could rest on: against another at chance the difference is
    about zero whatever the claim, and against a model that learned it measures that model
    alone. So a part with either side at chance is inconclusive, never supported or
    contradicted."""
    low = []
    for label, x in sides.items():
        if isinstance(x, tuple):
            acc, n = float(x[0]), int(x[1])
            if acc <= chance + 2 * standard_error(chance, n):
                low.append(f"{label} {pct(acc)} %")
            continue
        m = outcome_matrix(x, col) if isinstance(x, pd.DataFrame) else np.asarray(x, float)
        if at_chance_level(m, chance):
            low.append(f"{label} {pct(m.mean())} %")
    return f"at chance level: {', '.join(low)}" if low else ""


def both_at_chance(a: pd.DataFrame, b: pd.DataFrame, col: str = "pgd_correct",
                   col_b: str | None = None, chance: float = 0.1) -> str:
    """Why a comparison of a with b shows nothing, or "": kept for callers of the earlier
    rule, it now applies :func:`chance_rule` (either side at chance, not only both)."""
    return chance_rule({"a": outcome_matrix(a, col), "b": outcome_matrix(b, col_b or col)},
                       chance=chance)


def parity(name: str, a: pd.DataFrame, reference: pd.DataFrame, tolerance: float | str,
           col: str = "pgd_correct", chance: float = 0.1) -> Part:
    """The part "a matches `reference`": a minus reference lies above -tolerance. tolerance:
    a fraction, or the key of a registered design (its threshold). When either side is at
    chance the part is inconclusive whatever its interval says (:func:`chance_rule`)."""
    why = chance_rule({name.split(" minus ")[0] if " minus " in name else "a": a,
                       "the reference": reference}, col, chance)
    d = compare(a, reference, col)
    if isinstance(tolerance, str):
        return registered(tolerance, name, d, why)
    return Part(name, d, -tolerance, uninformative=why)


def mean_by(t: pd.DataFrame, by: str | list[str], col: str = "pgd") -> pd.Series:
    """Mean of `col` over seeds, per `by`."""
    return t.groupby(by, sort=False)[col].mean()


def not_run(claim_id: str, ours: str, reason: str) -> Verdict:
    return Verdict(claim_id, NOT_RUN, ours, reason)


def pct(x: float) -> str:
    """An accuracy (a fraction) in percent with one decimal."""
    return f"{100 * x:.1f}"


__all__ = ["VERDICTS", "SUPPORTED", "PARTLY", "CONTRADICTED", "INCONCLUSIVE", "NOT_RUN", "Claim",
           "Part", "Verdict", "register", "registered", "all_claims", "claim", "combine",
           "graded", "not_run", "pct", "outcome_matrix", "compare", "mean_by", "at_chance",
           "at_chance_level", "chance_rule", "both_at_chance", "parity"]
