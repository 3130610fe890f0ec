"""The claims under test, one module per paper, with the papers' numbers and the verdict
rules that grade our results.

Paper numbers are facts carried over from the papers (STUDY.md, at the repository root, gives
the sources); those marked ~ were read off the papers' figures and
are accurate to about 0.3 points.

    from tickets.claims import rst, boosting, awt    # the rules of one paper
    from tickets.claims import CLAIMS, Verdict        # the index of all 16 claims
    from tickets.claims import family_outcomes        # Holm over a report's graded parts
    from tickets.claims import registry               # each part's registered design

Every interval of a report can be re-derived from its records:
`python -m tickets.claims.rederive <report folder>`.
"""

from tickets.claims import awt, boosting, registry, rst
from tickets.claims.base import VERDICTS, Claim, Verdict, claim, combine
from tickets.claims.family import family_outcomes

# the index's order: the main paper first
CLAIMS: tuple[Claim, ...] = rst.CLAIMS + boosting.CLAIMS + awt.CLAIMS
CLAIMS_BY_ID = {c.id: c for c in CLAIMS}

__all__ = ["CLAIMS", "CLAIMS_BY_ID", "VERDICTS", "Claim", "Verdict", "claim", "combine", "rst",
           "boosting", "awt", "registry", "family_outcomes"]
