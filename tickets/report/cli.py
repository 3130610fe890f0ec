"""`make report`: execute the notebooks with a profile, convert them to HTML, write the index.

    python -m tickets.report --profile cpu [--notebooks 01 03] [--screenshot-only]

The index is built from the verdict records (JSON) the notebooks write with
:func:`tickets.notebook.record_verdict`; it never reads the HTML. A claim with no record shows
"not run". The cpu report written to reports/cpu also refreshes the claims table in the README
(between its lines <!-- claims:start --> and <!-- claims:end -->).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tickets.report.checks import _clear_withdrawn
from tickets.report.convert import screenshot, to_html
from tickets.report.execute import execute
from tickets.report.index import build_index
from tickets.report.layout import PROFILES, ROOT, notebooks
from tickets.report.params import parse_param, run_params
from tickets.report.summary import update_readme
from tickets.store import atomic_write_json, read_json

README_PROFILE = "cpu"  # the profile whose claims table the README shows


def write_index(out_dir: Path, profile: str) -> Path:
    """The index and SUMMARY.md of the report in out_dir; for the README's profile written to
    its default folder, the README's claims table too."""
    index = build_index(out_dir, profile)
    if profile == README_PROFILE and out_dir.resolve() == (ROOT / "reports" / profile).resolve():
        readme = ROOT / "README.md"
        if readme.exists() and update_readme(readme, profile, out_dir):
            print(f"report: the claims table of {readme.name} updated")
    return index


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tickets.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=PROFILES)
    ap.add_argument("--notebooks", nargs="*", help="prefixes such as 01 03 (default: all)")
    ap.add_argument("--out", default=None, help="default reports/<profile>")
    ap.add_argument("--screenshot-only", action="store_true")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override one notebook parameter (YAML value); repeatable")
    ap.add_argument("--tiny", action="store_true",
                    help="a dry run: the profile's sizes shrunk (tickets.parameters.tiny), "
                         "written to reports/<profile>-tiny unless --out says otherwise")
    ap.add_argument("--tiny-keep", nargs="*", default=[], metavar="NAME",
                    help="with --tiny: sizes to leave at the profile's values (e.g. epochs)")
    ap.add_argument("--execute-only", action="store_true",
                    help="execute the notebooks but write no HTML and no index (on a machine "
                         "without nbconvert; see tickets.devicerun)")
    ap.add_argument("--index-only", action="store_true",
                    help="only convert the executed notebooks in the output folder to HTML and "
                         "write the index (for notebooks executed elsewhere, e.g. on a GPU)")
    a = ap.parse_args(argv)
    default_out = ROOT / "reports" / (a.profile + ("-tiny" if a.tiny else ""))
    out_dir = Path(a.out) if a.out else default_out
    out_dir.mkdir(parents=True, exist_ok=True)
    if a.index_only:
        for executed in sorted(out_dir.glob("[0-9][0-9]_*.ipynb")):
            to_html(executed)
        print(f"report: {write_index(out_dir, a.profile)}")
        return
    if a.screenshot_only:
        shots = [screenshot(out_dir / "index.html", out_dir / "screenshots" / "index.png")]
        pages = sorted(out_dir.glob("[0-9][0-9]_*.html"))
        if pages:
            shots.append(screenshot(pages[0], out_dir / "screenshots" / f"{pages[0].stem}.png",
                                    height=4000))
        print("\n".join(str(s) for s in shots))
        return
    tf = out_dir / "timings.json"
    timings = read_json(tf) if tf.exists() else {}
    time_notes = timings.pop("_notes", {})
    extra = dict(parse_param(p) for p in a.param)
    selected = notebooks(a.notebooks)
    for nb in selected:  # every notebook's parameters are checked before the first one runs
        run_params(nb, a.profile, out_dir, extra, a.tiny, a.tiny_keep)
    for nb in selected:
        print(f"[{a.profile}{' tiny' if a.tiny else ''}] running {nb.name} ...", flush=True)
        executed, secs = execute(nb, a.profile, out_dir, extra, a.tiny, a.tiny_keep)
        was_withdrawn = _clear_withdrawn(out_dir, nb.stem)
        if not a.tiny:
            # keep the first (cold) execution's time: later runs reuse stored results; a
            # withdrawn execution's time does not count, the new one replaces it
            if was_withdrawn:
                timings.pop(nb.stem, None)
            timings.setdefault(nb.stem, round(secs))
            atomic_write_json(tf, {**timings, **({"_notes": time_notes} if time_notes else {})})
        if not a.execute_only:
            to_html(executed)
        print(f"[{a.profile}] {nb.name} done in {secs / 60:.1f} min", flush=True)
    if a.execute_only:
        return
    print(f"report: {write_index(out_dir, a.profile)}")
