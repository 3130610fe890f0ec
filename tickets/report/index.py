"""reports/<profile>/index.html: the claims table, the forest plot of the tested parts, study
01's scale check and the studies' wall times, from the verdict records the notebooks write
(tickets.notebook.record_verdict); it never reads the notebooks' HTML. The page is the
template templates/index.html.j2; this module gathers what it shows. Every build also writes
SUMMARY.md beside it (tickets.report.summary)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tickets.report.checks import other_scales, scale_check, stale_params, withdrawn
from tickets.report.forest import forest_svg
from tickets.report.layout import notebooks
from tickets.report.records import (
    COLOURS,
    DASH,
    amendments_text,
    claim_rows,
    colour,
    family_status,
    part_text,
    pending_text,
    read_results,
    read_timings,
)
from tickets.report.settings import data_notes, profile_label
from tickets.report.summary import write_summary
from tickets.stats import worst_case_standard_error
from tickets.store import atomic_write_bytes

TEMPLATE = "index.html.j2"


@cache
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("tickets.report", "templates"),
        autoescape=True, undefined=jinja2.Undefined, keep_trailing_newline=True)


def _studies(out_dir: Path, profile: str, void: dict[str, str], timings: dict[str, float],
             notes: dict[str, str]) -> tuple[list[dict], dict, list]:
    """Each executed notebook's page with its wall time, the note on how it was taken, whether
    its results are withdrawn, and how its parameters differ from the profile's now; also
    the stale ones ({stem: differences}) and those without a time."""
    studies, stale, untimed = [], {}, []
    for p in sorted(out_dir.glob("[0-9][0-9]_*.html")):
        secs = timings.get(p.stem)
        if secs is None:
            untimed.append(p.stem)
        executed = p.with_suffix(".ipynb")
        diff = stale_params(executed, profile) if profile != "smoke" and executed.exists() else []
        if diff:
            stale[p.stem] = diff
        studies.append({"page": p.name, "stem": p.stem,
                        "minutes": secs / 60 if secs is not None else None,
                        "note": notes.get(p.stem), "withdrawn": p.stem in void, "stale": diff})
    return studies, stale, untimed


def _total(timings: dict[str, float], studies: list[dict], stale: dict,
           untimed: list) -> tuple[str, str]:
    """The line under the studies' times: what their sum is (bold) and what it is not."""
    if not timings:
        return "", ""
    total = sum(timings.values()) / 60
    n_all = len(notebooks())
    if stale or untimed:  # not one report at one scale: say what the sum is
        return (f"sum of the times above: {total:.0f} min",
                ", not one cold report at one scale"
                + (f" (no time yet for {', '.join(untimed)})" if untimed else ""))
    if len(studies) < n_all:
        return (f"sum of the {len(studies)} notebook(s) executed: {total:.0f} min",
                f", {n_all - len(studies)} of the {n_all} not executed at this profile")
    return f"all notebooks: {total:.0f} min", ""


def render_index(out_dir: Path, profile: str) -> str:
    """The index page's HTML for the report in `out_dir` at `profile`."""
    from markupsafe import Markup

    results = read_results(out_dir)
    rows = claim_rows(out_dir, results)
    void = withdrawn(out_dir)
    timings, notes = read_timings(out_dir)
    studies, stale, untimed = _studies(out_dir, profile, void, timings, notes)
    total, total_note = _total(timings, studies, stale, untimed)
    checks = scale_check(results, profile)
    n = min((s["n"] for s in checks), default=0)
    scales = [r.record["scale"] for r in rows if r.record and r.record.get("scale")]
    return _environment().get_template(TEMPLATE).render(
        profile=profile, label=profile_label(profile), data_notes=data_notes(scales),
        void=sorted(void.items()), stale=list(stale), stale_prefixes=[k[:2] for k in stale],
        rows=rows, forest=Markup(forest_svg(rows)), scale_rows=checks, scale_n=n,
        scale_withdrawn=any(r.withdrawn for r in rows if r.claim.id == "rst-1"),
        scale_se=100 * worst_case_standard_error(n) if n else 0.0,
        other_scales=other_scales(results, profile), studies=studies, total=total,
        total_note=total_note, colours=COLOURS, colour=colour, part_text=part_text,
        amendments=amendments_text, pending=pending_text, dash=DASH, family=family_status(rows))


def build_index(out_dir: Path, profile: str) -> Path:
    """Write out_dir/index.html and out_dir/SUMMARY.md from the report's verdict records;
    returns the index's path."""
    out = out_dir / "index.html"
    atomic_write_bytes(out, render_index(out_dir, profile).encode())
    write_summary(out_dir, profile)
    return out
