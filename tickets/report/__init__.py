"""`make report`: execute the notebooks with a profile, convert them to HTML, write the index.

    python -m tickets.report --profile cpu [--notebooks 01 03] [--screenshot-only]

The index is built from the verdict records (JSON) the notebooks write with
:func:`tickets.notebook.record_verdict`; it never reads the HTML. A claim with no record shows "not run".
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tickets.claims import CLAIMS
from tickets.report.layout import KERNEL, PROFILES, ROOT, notebooks
from tickets.report.params import parse_param, profile_params, run_params
from tickets.stats import worst_case_standard_error
from tickets.store import Store, atomic_write_bytes, atomic_write_json, read_json
from tickets.studies.existence import RST_SIZE, SAME_WIDTH

# Where a profile's report trains its runs unless TICKETS_EXECUTOR says otherwise. cpu: two
# worker processes of one thread each (make bench, 2 cores: 1.15x on a sweep of four searches,
# 1.17x on one search step, against one process of two threads).
PROFILE_EXECUTOR = {"cpu": "local:2"}


def profile_environment(profile: str, tiny: bool = False) -> dict[str, str]:
    """The environment variables a profile's report sets where the caller has not: the
    executor of PROFILE_EXECUTOR (not for the tiny dry runs, which train in a moment)."""
    from tickets import executor

    if tiny or profile not in PROFILE_EXECUTOR or os.environ.get(executor.ENV):
        return {}
    return {executor.ENV: PROFILE_EXECUTOR[profile]}


def execute(nb: Path, profile: str, out_dir: Path, extra: dict | None = None,
            tiny: bool = False, keep: list[str] | tuple = ()) -> tuple[Path, float]:
    import papermill as pm

    out = out_dir / nb.name
    params = run_params(nb, profile, out_dir, extra, tiny, keep)
    t0 = time.perf_counter()
    os.environ["TICKETS_PROGRESS"] = "0"  # the kernel inherits it: no bars in the report
    os.environ[Store.NOTEBOOK_ENV_VAR] = nb.stem  # the store's ledger names who asked for a run
    os.environ.update(profile_environment(profile, tiny))
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        pm.execute_notebook(os.path.relpath(nb.resolve(), ROOT), os.path.relpath(out.resolve(), ROOT),
                            parameters=params, kernel_name=KERNEL, cwd=str(nb.parent),
                            progress_bar=True, log_output=False)
    finally:
        os.chdir(here)
    return out, time.perf_counter() - t0


def to_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    out = executed.with_suffix(".html")
    atomic_write_bytes(out, body.encode())
    return out


_COLOURS = {"supported": "#1a7f37", "partly": "#9a6700", "contradicted": "#cf222e",
            "inconclusive": "#57606a", "not run": "#8c959f", "withdrawn": "#8c959f",
            # verdicts of reports made before the three-outcome rules
            "reproduced": "#1a7f37", "not reproduced": "#cf222e"}


def _parts_html(parts: list[dict]) -> str:
    """Each tested part: its difference with the 95 % interval, and its outcome."""
    items = []
    for p in parts:
        colour = _COLOURS.get(p["outcome"], "#1f2328")
        side = ">" if p["expected_sign"] > 0 else "<"
        scale, fmt = (100, "{:+.1f}") if p.get("percent", True) else (1, "{:+.3f}")

        def f(v: float, scale=scale, fmt=fmt) -> str:
            return fmt.format(scale * v)

        exact = p["low"] == p["high"] == p["estimate"] and not p["n_images"]
        ci = "exact" if exact else f"[{f(p['low'])}, {f(p['high'])}]"
        seeds = f", {p['n_seeds']} seed{'s' if p['n_seeds'] > 1 else ''}"
        items.append(f"<li>{html.escape(p['name'])}: <b>{f(p['estimate'])}</b> {ci}{seeds} "
                     f"(paper: {side} {scale * p['threshold']:+g}) "
                     f'<span style="color:{colour};font-weight:bold">{p["outcome"]}</span>'
                     f"{' (' + html.escape(p['uninformative']) + ')' if p.get('uninformative') else ''}"
                     "</li>")
    return f"<ul class='parts'>{''.join(items)}</ul>" if items else ""


# The cpu profile's accuracy targets (strict protocol, PGD-20), mean over the search seeds:
# study 01's best RST and its dense PGD-AT baseline of the same width.
ACCURACY_TARGETS = {"cpu": {"best RST": (0.38, 0.24), SAME_WIDTH: (0.45, 0.28)}}


def scale_check(results: dict, profile: str) -> list[dict]:
    """Study 01's best RST (by mean strict PGD accuracy over seeds) and dense baselines: mean
    clean and PGD accuracy, seeds, images, and the profile's targets where it has them."""
    table = (results.get("rst-1") or {}).get("table") or []
    if not table:
        return []
    import pandas as pd

    t = pd.DataFrame(table)
    if "seed" not in t:
        t["seed"] = 0
    rst = t[t["kind"] == "RST"]
    groups = {}
    if len(rst):
        best = rst.groupby("remaining")["pgd"].mean().idxmax()
        groups[f"best RST (r={best:g})"] = ("best RST", rst[rst["remaining"] == best])
    for kind in (SAME_WIDTH, RST_SIZE):
        if (t["kind"] == kind).any():
            groups[kind] = (kind, t[t["kind"] == kind])
    rows = []
    targets = ACCURACY_TARGETS.get(profile, {})
    for label, (key, g) in groups.items():
        row = {"model": label, "clean": float(g["clean"].mean()), "pgd": float(g["pgd"].mean()),
               "seeds": int(g["seed"].nunique()), "n": int(g["n_test"].min())}
        if key in targets:
            row["target"] = targets[key]
            row["met"] = bool(row["clean"] >= targets[key][0] and row["pgd"] >= targets[key][1])
        rows.append(row)
    return rows


def other_scales(results: dict, profile: str) -> list[dict]:
    """The notebooks whose claims were trained at another scale than study 01's (the training
    half of their verdict records' `scale`, before the ';', differs from rst-1's), each with
    the reason its profile YAML gives in its leading comment."""
    def training(scale: str) -> str:
        return scale.split(";")[0].strip()

    ref = training((results.get("rst-1") or {}).get("scale") or "")
    if not ref:
        return []
    seen: dict[str, dict] = {}
    for c in CLAIMS:
        r = results.get(c.id)
        if not r or not r.get("scale") or training(r["scale"]) == ref or c.notebook in seen:
            continue
        f = ROOT / "params" / profile / f"{c.notebook[:2]}.yaml"
        why = []
        for line in (f.read_text().splitlines() if f.exists() else []):
            if not line.startswith("#"):
                break
            why.append(line.lstrip("# ").strip())
        seen[c.notebook] = {"notebook": c.notebook, "scale": r["scale"], "why": " ".join(why)}
    return list(seen.values())


def _other_scales_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    items = "".join(f"<li><b>{html.escape(r['notebook'])}</b>: {html.escape(r['scale'])}. "
                    f"{html.escape(r['why'])}</li>" for r in rows)
    return f"<p>Studies trained at another scale than study 01's:</p><ul>{items}</ul>"


def _scale_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    body = []
    for r in rows:
        target = met = ""
        if "target" in r:
            target = f"&ge; {100 * r['target'][0]:.0f} / {100 * r['target'][1]:.0f}"
            met = (f'<b style="color:{_COLOURS["supported"]}">met</b>' if r["met"]
                   else f'<b style="color:{_COLOURS["contradicted"]}">missed</b>')
        body.append(f"<tr><td>{html.escape(r['model'])}</td><td>{100 * r['clean']:.1f} / "
                    f"{100 * r['pgd']:.1f}</td><td>{r['seeds']}</td><td>{r['n']:,}</td>"
                    f"<td>{target}</td><td>{met}</td></tr>")
    n = min(r["n"] for r in rows)
    se = 100 * worst_case_standard_error(n)
    return ("<h2>Do the networks learn? Study 01 at this profile</h2><p>Mean over search seeds, "
            "strict protocol (checkpoint chosen on validation, PGD-20 without early stop), "
            f"natural / robust accuracy in percent. On {n:,} test images one model's accuracy "
            f"has a binomial standard error of at most {se:.1f} points.</p>"
            "<table><thead><tr><th>Model</th>"
            "<th>Clean / PGD-20</th><th>Seeds</th><th>Test images</th><th>Target</th>"
            "<th></th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def executed_params(executed: Path) -> dict:
    """The parameters papermill injected into an executed notebook (its 'injected-parameters'
    cell, literal assignments only); {} when it has none."""
    import ast
    import json

    nb = json.loads(executed.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"])
            out = {}
            for node in ast.parse(src).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                        isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
            return out
    return {}


def stale_params(executed: Path, profile: str) -> list[str]:
    """How the parameters an executed notebook ran with differ from its profile's YAML now:
    'name: ran with X, params/<profile> now say Y', sorted by name. Empty when they agree
    (results_dir and profile, which the runner sets, are not compared)."""
    ran = executed_params(executed)
    if not ran:
        return []
    now = profile_params(profile, executed)
    return [f"{k}: ran with {ran.get(k)!r}, params/{profile} now say {now.get(k)!r}"
            for k in sorted((set(ran) | set(now)) - {"profile", "results_dir"})
            if ran.get(k) != now.get(k)]


WITHDRAWN = "withdrawn.json"


def withdrawn(out_dir: Path) -> dict[str, str]:
    """Executed notebooks whose results a later finding voids (a bug fixed after they ran):
    {notebook stem: why}, from the report folder's withdrawn.json. The index shows their
    claims as withdrawn, with the reason, until the notebook is executed again."""
    f = out_dir / WITHDRAWN
    return read_json(f) if f.exists() else {}


def _clear_withdrawn(out_dir: Path, stem: str) -> None:
    marks = withdrawn(out_dir)
    if marks.pop(stem, None) is not None:
        if marks:
            atomic_write_json(out_dir / WITHDRAWN, marks)
        else:
            (out_dir / WITHDRAWN).unlink()


def build_index(out_dir: Path, profile: str) -> Path:
    void = withdrawn(out_dir)
    results = {}
    for f in sorted((out_dir / "results").glob("*.json")):
        r = read_json(f)
        results[r["claim"]] = r
    timings = {}
    tf = out_dir / "timings.json"
    if tf.exists():
        timings = read_json(tf)
    # "_notes": how a notebook's time was taken, when not in one execution
    time_notes = timings.pop("_notes", {})
    rows = []
    for c in CLAIMS:
        r = results.get(c.id)
        verdict = r["verdict"] if r else "not run"
        why_void = void.get(c.notebook) if r else None
        if why_void:
            verdict = "withdrawn"
        link = ""
        page = out_dir / f"{c.notebook}.html"
        if r and page.exists():
            link = f'<a href="{c.notebook}.html#{html.escape(r["anchor"])}">{c.notebook}</a>'
        elif page.exists():
            link = f'<a href="{c.notebook}.html">{c.notebook}</a>'
        rows.append(
            "<tr>"
            f"<td><b>{c.id}</b><br>{html.escape(c.title)}</td>"
            f"<td>{html.escape(c.paper_numbers)}</td>"
            f"<td>{html.escape(r['ours']) if r else ''}</td>"
            f"<td>{html.escape(r['scale']) if r else ''}</td>"
            f'<td style="color:{_COLOURS[verdict]};font-weight:bold">{verdict}</td>'
            f"<td>{'<b>Withdrawn:</b> ' + html.escape(why_void) + ' The notebook computed: ' + html.escape(r['verdict']) + '.' if why_void else ''}"
            f"{_parts_html(r.get('parts', [])) if r and not why_void else ''}"
            f"{html.escape(r.get('note', '')) if r and r.get('parts') else ''}"
            f"{'' if why_void or (r and r.get('parts')) else html.escape(r['reason']) if r else ''}</td>"
            f"<td>{link}</td></tr>")
    nb_rows, stale, untimed = [], {}, []
    for p in sorted(out_dir.glob("[0-9][0-9]_*.html")):
        secs = timings.get(p.stem)
        if secs is None:
            untimed.append(p.stem)
        when = f"{secs / 60:.1f} min" if secs is not None else ""
        if p.stem in time_notes:
            when += f" ({html.escape(time_notes[p.stem])})"
        if p.stem in void:
            when += ' <b style="color:#cf222e">results withdrawn (see the box above)</b>'
        executed = p.with_suffix(".ipynb")
        if profile != "smoke" and executed.exists() and (diff := stale_params(executed, profile)):
            stale[p.stem] = diff
            when += (' <b style="color:#9a6700">executed with other parameters than '
                     f'params/{html.escape(profile)} now hold: '
                     f'{html.escape("; ".join(diff))}</b>')
        nb_rows.append(f'<li><a href="{p.name}">{p.stem}</a> {when}</li>')
    stale_html = "" if not stale else (
        '<p style="border:2px solid #9a6700;padding:8px"><b>Not one scale:</b> '
        f'{len(stale)} notebook(s) ({html.escape(", ".join(stale))}) were executed with '
        f'parameters that differ from params/{html.escape(profile)} as they stand (listed under '
        f'Studies); their rows below come from that earlier execution. '
        f'<code>make report NOTEBOOKS="{" ".join(k[:2] for k in stale)}"</code> brings them '
        'up to date.</p>')
    void_html = "" if not void else (
        '<p style="border:2px solid #cf222e;padding:8px"><b>Withdrawn results:</b> '
        + " ".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in sorted(void.items()))
        + " Their claims below show <b>withdrawn</b> instead of the verdict the notebook "
        "computed; executing the notebook again lifts this.</p>")
    if timings:
        total = sum(timings.values()) / 60
        if stale or untimed:  # not one report at one scale: say what the sum is
            nb_rows.append(f"<li><b>sum of the times above: {total:.0f} min</b>, not one cold "
                           "report at one scale"
                           + (f" (no time yet for {html.escape(', '.join(untimed))})"
                              if untimed else "") + "</li>")
        elif len(nb_rows) < len(notebooks()):
            nb_rows.append(f"<li><b>sum of the {len(nb_rows)} notebook(s) executed: "
                           f"{total:.0f} min</b>, {len(notebooks()) - len(nb_rows)} of the "
                           f"{len(notebooks())} not executed at this profile</li>")
        else:
            nb_rows.append(f"<li><b>all notebooks: {total:.0f} min</b></li>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickets report: {profile} profile</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
th, td {{ border: 1px solid #d0d7de; padding: 6px 8px; vertical-align: top; text-align: left; }}
th {{ background: #f6f8fa; }}
tr:nth-child(even) td {{ background: #fbfcfd; }}
ul.parts {{ margin: 0; padding-left: 1.1em; }}
</style></head><body>
<h1>Lottery tickets under adversarial attack: reproduction report</h1>
<p>Profile <b>{html.escape(profile)}</b>. Each row is one claim of the papers, with the paper's
number, ours, the scale we measured it at, and a verdict computed by the notebook from its own
results. Accuracies are natural / robust in percent unless stated. Each claim is tested as one
or more parts, each a paired difference of accuracies on the same test images (over the search
seeds run) with its 95 % bootstrap interval: <b>supported</b> when the interval lies on the
paper's side, <b>contradicted</b> when it lies on the other, <b>inconclusive</b> when it covers
the paper's threshold; <b>partly</b> when some parts are supported and others not. At the smoke
and cpu profiles a result is a trend at small scale, not a reproduction of the paper's
number.</p>
{void_html}
{stale_html}
<table><thead><tr><th>Claim</th><th>Paper</th><th>Ours</th><th>Scale and data</th>
<th>Verdict</th><th>Tested parts: difference in points, 95 % interval, outcome</th><th>Section</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
{_scale_html(scale_check(results, profile))}
{_other_scales_html(other_scales(results, profile))}
<h2>Studies</h2>
<p>Wall time of each notebook's first execution at this profile. Later executions reuse the
runs and evaluations found in the store and are faster; notebooks after 01 reuse 01's runs.</p>
<ul>{''.join(nb_rows) or '<li>none executed yet</li>'}</ul>
<p>Sources: Fu et al., NeurIPS 2021 (arXiv 2110.14068); Li et al. (arXiv 2003.05733); Shi et al.,
AISTATS 2022 (arXiv 2202.06488). Paper numbers marked ~ were read off the papers' figures.</p>
</body></html>
"""
    out = out_dir / "index.html"
    atomic_write_bytes(out, page.encode())
    return out


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 1600) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile_dir:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile_dir}", f"--window-size={width},{height}",
                        f"--screenshot={png}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
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
        print(f"report: {build_index(out_dir, a.profile)}")
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
        _clear_withdrawn(out_dir, nb.stem)
        if not a.tiny:
            # keep the first (cold) execution's time: later runs reuse stored results
            timings.setdefault(nb.stem, round(secs))
            atomic_write_json(tf, {**timings, **({"_notes": time_notes} if time_notes else {})})
        if not a.execute_only:
            to_html(executed)
        print(f"[{a.profile}] {nb.name} done in {secs / 60:.1f} min", flush=True)
    if a.execute_only:
        return
    index = build_index(out_dir, a.profile)
    print(f"report: {index}")
