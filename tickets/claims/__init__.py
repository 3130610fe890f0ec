"""The claims under test, one module per paper, with the papers' numbers and the verdict
rules that grade our results.

Paper numbers are facts carried over from the papers (STUDY.md, at the repository root, gives
the sources); those marked ~ were read off the papers' figures and
are accurate to about 0.3 points.

    from tickets.claims import rst, boosting, awt    # the rules of one paper
    from tickets.claims import CLAIMS, Verdict        # the index of all 16 claims
"""

from tickets.claims import awt, boosting, rst
from tickets.claims.base import VERDICTS, Claim, Verdict, claim, combine

# the index's order: the main paper first
CLAIMS: tuple[Claim, ...] = rst.CLAIMS + boosting.CLAIMS + awt.CLAIMS
CLAIMS_BY_ID = {c.id: c for c in CLAIMS}

__all__ = ["CLAIMS", "CLAIMS_BY_ID", "VERDICTS", "Claim", "Verdict", "claim", "combine", "rst",
           "boosting", "awt"]
