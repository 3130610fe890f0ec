"""What every paper's claims share: the claim and verdict records, the grading of a verdict
from its parts, and the noise statement that goes with every reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from tickets.stats import standard_error

VERDICTS = ("reproduced", "partly", "not reproduced", "not run")

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
        claim(self.claim)

    def as_dict(self) -> dict:
        return asdict(self)


def grade(full: bool, partial: bool) -> str:
    """'reproduced' when every part of a claim holds, 'partly' when only some do, else
    'not reproduced'. A rule states what full and partial mean for its claim."""
    return "reproduced" if full else "partly" if partial else "not reproduced"


def not_run(claim_id: str, ours: str, reason: str) -> Verdict:
    return Verdict(claim_id, "not run", ours, reason)


def pct(x: float) -> str:
    """An accuracy (a fraction) in percent with one decimal."""
    return f"{100 * x:.1f}"


def noise_note(n: int, p: float) -> str:
    """'; one standard error at n=... is about ... points', with p clipped to [0.05, 0.95] so
    that a near-degenerate accuracy does not claim a tiny error."""
    p = min(max(p, 0.05), 0.95)
    return f"; one standard error at n={n} is about {100 * standard_error(p, n):.1f} points"


def table_noise(t: pd.DataFrame, col: str = "pgd", ncol: str = "n_test") -> str:
    """noise_note for the accuracies in t[col], at the smallest sample size t[ncol] holds."""
    if ncol not in t or t.empty or t[ncol].isna().all():
        return ""
    return noise_note(int(t[ncol].min()), float(t[col].clip(0.05, 0.95).mean()))


def best_per_variant(t: pd.DataFrame, metric: str = "pgd") -> pd.Series:
    """The highest `metric` of each variant over the ratios."""
    return t.groupby("variant")[metric].max()


__all__ = ["VERDICTS", "Claim", "Verdict", "register", "all_claims", "claim", "grade", "not_run",
           "pct", "noise_note", "table_noise", "best_per_variant"]
