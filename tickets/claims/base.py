"""What every paper's claims share: the claim and verdict records, the grading of a verdict
from its parts, and the paired comparisons the parts are made of.

A claim is tested as one or more parts. Each part is a difference between two measured
accuracies (paired, on the same test images, over the search seeds run) with a 95 % interval,
and the claim's direction: the part is *supported* when the interval lies on the paper's side,
*contradicted* when it lies on the other side, and *inconclusive at this scale* when it covers
the threshold. The verdict combines the parts (:func:`combine`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from tickets.stats import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    Difference,
    paired_difference,
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
    `threshold` (expected_sign +1) or below it (-1)."""

    name: str
    difference: Difference
    threshold: float = 0.0
    expected_sign: int = 1
    uninformative: str = ""  # why this comparison cannot support the claim (then inconclusive)

    @property
    def outcome(self) -> str:
        if self.uninformative:
            return INCONCLUSIVE
        return self.difference.outcome(self.expected_sign, self.threshold)

    def describe(self) -> str:
        side = ">" if self.expected_sign > 0 else "<"
        t = 100 * self.threshold if self.difference.percent else self.threshold
        why = f" ({self.uninformative})" if self.uninformative else ""
        return (f"{self.name}: {self.difference.describe()}, paper's side "
                f"{side} {t:+g}: {self.outcome}{why}")

    def as_dict(self) -> dict:
        d = self.difference
        return {"name": self.name, "estimate": d.estimate, "low": d.low, "high": d.high,
                "level": d.level, "n_images": d.n_images, "n_seeds": d.n_seeds,
                "p_value": d.p_value, "threshold": self.threshold,
                "expected_sign": self.expected_sign, "outcome": self.outcome,
                "percent": d.percent, "unit": d.unit, "uninformative": self.uninformative}


def combine(parts: list[Part]) -> str:
    """A claim's verdict from its parts: supported when every part is; contradicted when some
    part is and none is supported; inconclusive when none is either; partly otherwise (some
    parts supported, others not)."""
    if not parts:
        return NOT_RUN
    outcomes = [p.outcome for p in parts]
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
                   note=note)


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
            col_b: str | None = None, seed: int = 0) -> Difference:
    """Paired difference of two models' accuracies (a minus b) over the same images and the
    same search seeds. a side with a single row (one seed) is set against every seed of the
    other."""
    ma, mb = outcome_matrix(a, col), outcome_matrix(b, col_b or col)
    if ma.shape[0] != mb.shape[0]:
        if min(ma.shape[0], mb.shape[0]) != 1:
            raise ValueError(f"seed counts differ: {ma.shape[0]} against {mb.shape[0]}")
        ma, mb = np.broadcast_arrays(ma, mb)
    n = min(ma.shape[1], mb.shape[1])
    return paired_difference(ma[:, :n], mb[:, :n], seed=seed)


def at_chance(rows: pd.DataFrame, col: str = "pgd_correct", chance: float = 0.1) -> bool:
    """Whether the accuracy of `rows` (pooled over seeds and images) is within two standard
    errors of chance: such a model has learned nothing a comparison could rest on."""
    m = outcome_matrix(rows, col)
    n = m.size
    return float(m.mean()) <= chance + 2 * standard_error(chance, n)


def both_at_chance(a: pd.DataFrame, b: pd.DataFrame, col: str = "pgd_correct",
                   col_b: str | None = None, chance: float = 0.1) -> str:
    """Why a comparison of a with b shows nothing, or "": two models at chance level agree
    with each other on nearly every image, so their difference is about zero whatever the
    claim (a flat curve at chance is not a curve)."""
    cb = col_b or col
    if at_chance(a, col, chance) and at_chance(b, cb, chance):
        return (f"both sides at chance level, {pct(outcome_matrix(a, col).mean())} % and "
                f"{pct(outcome_matrix(b, cb).mean())} %")
    return ""


def parity(name: str, a: pd.DataFrame, reference: pd.DataFrame, tolerance: float,
           col: str = "pgd_correct", chance: float = 0.1) -> Part:
    """The part "a matches `reference`": a minus reference lies above -tolerance. A model at
    chance is matched by any other model at chance, so when the reference is at chance the
    part is inconclusive whatever its interval says."""
    why = (f"the reference is at chance level, {pct(outcome_matrix(reference, col).mean())} %"
           if at_chance(reference, col, chance) else "")
    return Part(name, compare(a, reference, col), -tolerance, uninformative=why)


def mean_by(t: pd.DataFrame, by: str | list[str], col: str = "pgd") -> pd.Series:
    """Mean of `col` over seeds, per `by`."""
    return t.groupby(by, sort=False)[col].mean()


def not_run(claim_id: str, ours: str, reason: str) -> Verdict:
    return Verdict(claim_id, NOT_RUN, ours, reason)


def pct(x: float) -> str:
    """An accuracy (a fraction) in percent with one decimal."""
    return f"{100 * x:.1f}"


__all__ = ["VERDICTS", "SUPPORTED", "PARTLY", "CONTRADICTED", "INCONCLUSIVE", "NOT_RUN", "Claim",
           "Part", "Verdict", "register", "all_claims", "claim", "combine", "graded", "not_run",
           "pct", "outcome_matrix", "compare", "mean_by", "at_chance", "both_at_chance",
           "parity"]
