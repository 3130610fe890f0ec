"""The report's inputs as the index and SUMMARY.md show them: one row per claim (its verdict
record, if any, and whether its notebook's results are withdrawn), each tested part's numbers
as text, the notebooks' wall times, and the outcome colours."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tickets.claims import CLAIMS, family_outcomes
from tickets.claims.base import Claim
from tickets.report.checks import withdrawn
from tickets.store import read_json

CLAIM_NOTEBOOK = {c.id: c.notebook for c in CLAIMS}
# Each outcome's colour, on the index, in the forest plot and in SUMMARY.md's legend.
COLOURS = {"supported": "#1a7f37", "partly": "#9a6700", "contradicted": "#cf222e",
           "inconclusive": "#57606a", "not run": "#8c959f", "withdrawn": "#8c959f",
           # verdicts of reports made before the three-outcome rules
           "reproduced": "#1a7f37", "not reproduced": "#cf222e"}
OTHER_COLOUR = "#1f2328"
DASH = "–"  # shown for a field a record does not have


def colour(outcome: str) -> str:
    """The colour of a verdict or a part's outcome (the text colour for an unknown one)."""
    return COLOURS.get(outcome, OTHER_COLOUR)


@dataclass(frozen=True)
class ClaimRow:
    """One claim of the report: its record (None when not run), the verdict shown (the
    record's, or "not run", or "withdrawn"), why its notebook's results are withdrawn (None
    when they stand), and whether the notebook's HTML page is in the report folder."""

    claim: Claim
    record: dict | None
    verdict: str
    withdrawn: str | None
    has_page: bool

    @property
    def parts(self) -> list[dict]:
        """The graded parts shown: none for a claim not run or withdrawn."""
        if self.record is None or self.withdrawn:
            return []
        return self.record.get("parts") or []

    @property
    def href(self) -> str | None:
        """The claim's section in its notebook's page, relative to the report folder."""
        if not self.has_page:
            return None
        page = f"{self.claim.notebook}.html"
        return f"{page}#{self.record['anchor']}" if self.record else page


def read_results(out_dir: Path) -> dict[str, dict]:
    """The verdict records in out_dir/results, by claim id."""
    results = {}
    for f in sorted((out_dir / "results").glob("*.json")):
        r = read_json(f)
        results[r["claim"]] = r
    return results


def _has_p_values(record: dict) -> bool:
    """Whether a record's parts carry the one-sided p-values the family-wise outcome needs
    (records written before them do not)."""
    return all("p_supported" in p for p in record.get("parts") or [])


def claim_rows(out_dir: Path, results: dict[str, dict]) -> list[ClaimRow]:
    """Every claim of tickets.claims.CLAIMS in order, with its record from `results`. When
    every record that stands (not withdrawn) carries p-values, those records come with their
    family-wise outcomes over the report (tickets.claims.family_outcomes: `family_outcome`
    per part, `family_verdict` and `family` per record); otherwise with none, as a family
    that leaves out some parts would not be the report's."""
    void = withdrawn(out_dir)
    standing = {cid: r for cid, r in results.items()
                if cid in CLAIM_NOTEBOOK and CLAIM_NOTEBOOK[cid] not in void}
    if standing and all(_has_p_values(r) for r in standing.values()):
        results = {**results, **family_outcomes(standing)}
    rows = []
    for c in CLAIMS:
        r = results.get(c.id)
        why_void = void.get(c.notebook) if r else None
        verdict = "withdrawn" if why_void else r["verdict"] if r else "not run"
        rows.append(ClaimRow(c, r, verdict, why_void, (out_dir / f"{c.notebook}.html").exists()))
    return rows


def family_status(rows: list[ClaimRow]) -> dict:
    """How the report's family-wise outcomes were computed: {"method", "alpha", "m"} (the
    number of graded parts) when they were, else {"missing": the claims whose standing
    records lack p-values} ({} when no claim has a standing record)."""
    for r in rows:
        if r.record and not r.withdrawn and r.record.get("family"):
            return dict(r.record["family"])
    missing = [r.claim.id for r in rows
               if r.record and not r.withdrawn and not _has_p_values(r.record)]
    return {"missing": missing} if missing else {}


def read_timings(out_dir: Path) -> tuple[dict[str, float], dict[str, str]]:
    """Each notebook's wall time in seconds (timings.json), and the notes on how a time was
    taken when not in one execution (its "_notes")."""
    tf = out_dir / "timings.json"
    timings = read_json(tf) if tf.exists() else {}
    notes = timings.pop("_notes", {})
    return timings, notes


@dataclass(frozen=True)
class PartText:
    """A graded part's numbers as the report prints them: differences in points for an
    accuracy part (percent), with three decimals otherwise."""

    name: str
    estimate: str
    interval: str  # "[low, high]", or "exact" for a difference without sampling error
    seeds: str  # ", 3 seeds"
    paper: str  # the paper's side of the threshold: "> -3"
    outcome: str
    uninformative: str
    derivation: str  # how the threshold was derived from the paper, or DASH
    family_outcome: str  # the outcome after Holm-Bonferroni over the report, or DASH


def part_text(p: dict) -> PartText:
    """The printed form of one part record (tickets.claims.base.Part.record)."""
    scale, fmt = (100, "{:+.1f}") if p.get("percent", True) else (1, "{:+.3f}")

    def f(v: float) -> str:
        return fmt.format(scale * v)

    exact = p["low"] == p["high"] == p["estimate"] and not p["n_images"]
    return PartText(
        name=p["name"], estimate=f(p["estimate"]),
        interval="exact" if exact else f"[{f(p['low'])}, {f(p['high'])}]",
        seeds=f", {p['n_seeds']} seed{'s' if p['n_seeds'] > 1 else ''}",
        paper=f"{'>' if p['expected_sign'] > 0 else '<'} {scale * p['threshold']:+g}",
        outcome=p["outcome"], uninformative=p.get("uninformative") or "",
        derivation=p.get("derivation") or DASH, family_outcome=p.get("family_outcome") or DASH)


def _current_reason(a: dict) -> str | None:
    """The registry's present wording of the reason of a recorded amendment: the one with the
    same date, part, old and new design, or None when the registry holds none such."""
    from tickets.claims.registry import AMENDMENTS, CHANGE_FIELDS
    for r in AMENDMENTS:
        if (r.date, r.part, r.old, r.new) == tuple(a.get(k) for k in CHANGE_FIELDS):
            return r.reason
    return None


def pending_text(record: dict | None) -> list[str]:
    """The registry's amendments that a claim record predates (tickets.claims.registry.
    pending_amendments), each as amendments_text writes an amendment."""
    from tickets.claims.registry import pending_amendments
    return amendments_text({"amendments": pending_amendments(record)})


def amendments_text(record: dict | None) -> list[str]:
    """A claim record's amendments (tickets.claims.registry.Amendment records), oldest first
    as recorded, each as 'date, part: old -> new (reason)'; the fields a record lacks are
    left out. The reason is the registry's present wording when the registry still holds the
    same change (date, part, old and new design): a reason corrected after a notebook ran
    (where the change was applied, say) is shown corrected, while the change itself is the
    one the notebook ran under."""
    out = []
    for a in (record or {}).get("amendments") or []:
        a = {**a, "reason": _current_reason(a) or a.get("reason")}
        head = ", ".join(str(a[k]) for k in ("date", "part") if a.get(k))
        change = " → ".join(str(a[k]) for k in ("old", "new") if a.get(k))
        text = ": ".join(t for t in (head, change) if t)
        if a.get("reason"):
            text += f" ({a['reason']})" if text else str(a["reason"])
        out.append(text or DASH)
    return out
