"""What the index checks besides the verdicts: whether study 01's networks learn at this
profile (scale check), which studies ran at another scale, which executed notebooks ran with
parameters the profile no longer holds, and which notebooks' results are withdrawn."""

from __future__ import annotations

from pathlib import Path

from tickets.claims import CLAIMS
from tickets.report.layout import ROOT
from tickets.report.params import profile_params
from tickets.report.settings import ACCURACY_TARGETS
from tickets.store import atomic_write_json, read_json
from tickets.studies.existence import RST_SIZE, SAME_WIDTH


def scale_check(results: dict, profile: str) -> list[dict]:
    """Study 01's best RST and dense baselines: mean clean and PGD accuracy, seeds, images,
    and the profile's targets where it has them. The best ratio is the one with the highest
    mean robust accuracy on the validation split (`val_pgd`) over seeds; records made before
    the tables carried `val_pgd` fall back to the test column, and the label says so."""
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
        on_val = "val_pgd" in rst and rst["val_pgd"].notna().all()
        best = rst.groupby("remaining")["val_pgd" if on_val else "pgd"].mean().idxmax()
        chosen = "" if on_val else ", chosen on test: an old record"
        groups[f"best RST (r={best:g}{chosen})"] = ("best RST", rst[rst["remaining"] == best])
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
    the reason its profile YAML gives in its leading comment (up to a comment line ending in
    ':', which heads the settings below it)."""
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
            text = line.lstrip("# ").strip()
            # the leading comment, up to a line that introduces what follows ("...:")
            if not line.startswith("#") or text.endswith(":"):
                break
            why.append(text)
        seen[c.notebook] = {"notebook": c.notebook, "scale": r["scale"], "why": " ".join(why)}
    return list(seen.values())


def _cell_params(executed: Path, tag: str) -> dict | None:
    """The literal assignments of the executed notebook's first cell tagged `tag` (None when it
    has no such cell)."""
    import ast
    import json

    nb = json.loads(executed.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if tag in cell.get("metadata", {}).get("tags", []):
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
    return None


def executed_params(executed: Path) -> dict:
    """The parameters papermill injected into an executed notebook (its 'injected-parameters'
    cell, literal assignments only); {} when it has none."""
    return _cell_params(executed, "injected-parameters") or {}


def stale_params(executed: Path, profile: str) -> list[str]:
    """How the parameters an executed notebook ran with differ from what its profile resolves
    to now: 'name: ran with X, params/<profile> now say Y', sorted by name. Empty when they
    agree. What it ran with is, when the notebook kept them (tickets.notebook.setup records
    the resolved settings since 2026-12-02), every setting it resolved, so that a later change
    to params/<profile> shows; for an older execution, what papermill injected over the values
    its own parameters cell set (None there means "the profile's value"). Only the names it
    had are compared (a setting the notebook did not have then is not one it ran with), and not
    results_dir and profile, which the runner sets."""
    now = profile_params(profile, executed)
    ran = executed_settings(executed)
    if ran is None:
        injected = executed_params(executed)
        if not injected:
            return []
        cell = _cell_params(executed, "parameters") or {}
        ran = {**{k: v for k, v in cell.items() if k in now and v is not None}, **injected}
    return [f"{k}: ran with {ran[k]!r}, params/{profile} now say {now.get(k)!r}"
            for k in sorted(set(ran) - {"profile", "results_dir"})
            if _as_json(ran[k]) != _as_json(now.get(k))]


def _as_json(value) -> str:
    """A value as the JSON text the notebook records it in (tuples become lists)."""
    import json

    return json.dumps(value, default=str, sort_keys=True)


def executed_settings(executed: Path) -> dict | None:
    """The resolved settings an executed notebook recorded (tickets.notebook.SETTINGS_MIME),
    or None when it recorded none (executed before they were kept)."""
    import json

    from tickets.notebook import SETTINGS_MIME

    nb = json.loads(executed.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            if SETTINGS_MIME in data:
                return dict(data[SETTINGS_MIME])
    return None


WITHDRAWN = "withdrawn.json"


def withdrawn(out_dir: Path) -> dict[str, str]:
    """Executed notebooks whose results a later finding voids (a bug fixed after they ran):
    {notebook stem: why}, from the report folder's withdrawn.json. The index shows their
    claims as withdrawn, with the reason, until the notebook is executed again."""
    f = out_dir / WITHDRAWN
    return read_json(f) if f.exists() else {}


def _clear_withdrawn(out_dir: Path, stem: str) -> bool:
    """Drop a notebook's withdrawn mark (it was executed again); True when it had one."""
    marks = withdrawn(out_dir)
    if marks.pop(stem, None) is None:
        return False
    if marks:
        atomic_write_json(out_dir / WITHDRAWN, marks)
    else:
        (out_dir / WITHDRAWN).unlink()
    return True
