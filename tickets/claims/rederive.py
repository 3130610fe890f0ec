"""Re-derive every part's interval of a report from its records, and compare.

Every part record carries what its interval was computed from (`interval`: the method, the
level, and the inputs: per-image outcomes of both sides per seed as packed bits, or the
per-seed values, or the accuracies of a normal interval). This command recomputes each
interval and its one-sided p-values from those inputs alone, prints old against new, and
exits with status 1 when any differs or cannot be re-derived, when the outcome the record
states is not the one its interval and threshold give, or when its threshold or direction is
not the registry's (tickets.claims.registry), or when the registry grades a part the record
does not (or the reverse). The chance rule's verdict (a record's `uninformative` reason) is
taken as recorded: the records keep the compared sides' outcomes only inside the interval's
inputs. A record that predates one of the registry's amendments to its claim (its notebook ran
before the change, so the record does not carry it) is listed after the table with the change
it lacks: its outcome is the earlier design's until the notebook runs again. That is not a
mismatch (the interval re-derives), and it does not change the exit status.

    python -m tickets.claims.rederive reports/cpu

(the report folder holds results/<claim>.json, as tickets.notebook.record_verdict writes). The
records of a notebook the folder's withdrawn.json names are skipped and listed as such: the
index shows none of their parts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tickets.claims.registry import DESIGNS, pending_amendments
from tickets.stats import (
    INCONCLUSIVE,
    Difference,
    decode_values,
    exact,
    normal_combination,
    paired_difference,
    seed_interval,
    seed_normal_interval,
    seed_values_interval,
)

TOLERANCE = 1e-9


def rederive(interval: dict) -> Difference:
    """The interval a part record's `interval` field describes, recomputed from its inputs."""
    method, level = interval.get("method", ""), interval.get("level", 0.95)
    if method == "paired-seeds":
        return seed_interval(decode_values(interval["a"]), decode_values(interval["b"]), level)
    if method == "seeds-t":
        return seed_values_interval(interval["values"], level)
    if method == "seeds-normal":
        return seed_normal_interval(interval["values"], [(s, p) for s, p in interval["terms"]],
                                    interval["n"], level)
    if method == "normal":
        return normal_combination([(s, p) for s, p in interval["terms"]], interval["n"], level)
    if method == "percentile-bootstrap":
        return paired_difference(decode_values(interval["a"]), decode_values(interval["b"]),
                                 interval["n_boot"], level, interval["seed"])
    if method == "exact":
        return exact(interval["value"])
    raise ValueError(f"cannot re-derive method={method!r}: the record keeps no inputs for it "
                     f"(known: paired-seeds, seeds-t, seeds-normal, normal, percentile-bootstrap, exact)")


def _close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def check_part(part: dict) -> tuple[Difference | None, str]:
    """The recomputed interval of one part record and "" when it matches, or why not."""
    try:
        new = rederive(part.get("interval") or {})
    except (KeyError, ValueError) as e:
        return None, f"not re-derivable: {e}"
    bad = [k for k in ("estimate", "low", "high") if not _close(part[k], getattr(new, k))]
    for key, side in (("p_supported", 1), ("p_contradicted", -1)):
        if key in part and part[key] is not None:
            p = new.p_beyond(part["threshold"], side * part["expected_sign"])
            if not _close(part[key], p):
                bad.append(key)
    if part.get("outcome") is not None and part["outcome"] != regraded(part, new):
        bad.append("outcome")
    key = part.get("key")
    if key and key in DESIGNS:  # the threshold and direction the registry holds today
        reg = DESIGNS[key]
        if not _close(part["threshold"], reg.threshold):
            bad.append("threshold (registry)")
        if part.get("expected_sign") != reg.direction:
            bad.append("direction (registry)")
        recorded = (part.get("design") or {}).get("graded")
        if recorded is not None and recorded != reg.graded:
            bad.append("graded (registry)")
    elif key:
        bad.append(f"unknown registered part {key!r}")
    return new, ("differs in " + ", ".join(bad)) if bad else ""


def regraded(part: dict, new: Difference) -> str:
    """The outcome the part's rule gives on the re-derived interval: inconclusive when the
    record says why it is not graded (its `uninformative` reason) or when it rests on fewer
    seeds than its design needs; else the interval against the threshold
    (tickets.claims.base.Part.outcome)."""
    need = (part.get("design") or {}).get("min_seeds", 1)
    if part.get("uninformative") or new.n_seeds < 2 or new.n_seeds < need:
        return INCONCLUSIVE
    return new.outcome(part["expected_sign"], part["threshold"])


def _records(folder: str | Path) -> list[tuple[str, dict, bool]]:
    """(claim, record, withdrawn) for every record under folder/results, a record withdrawn
    when folder/withdrawn.json names its notebook."""
    files = sorted((Path(folder) / "results").glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no records in {Path(folder) / 'results'}: pass a report folder")
    void_file = Path(folder) / "withdrawn.json"  # tickets.report.checks.WITHDRAWN
    void = json.loads(void_file.read_text()) if void_file.exists() else {}
    out = []
    for f in files:
        record = json.loads(f.read_text())
        out.append((record.get("claim", f.stem), record, record.get("notebook") in void))
    return out


def check_report(folder: str | Path) -> tuple[list[dict], int]:
    """One row per part of every record under folder/results, and the number of mismatches
    (parts whose interval differs or cannot be re-derived)."""
    rows, bad = [], 0
    for claim, record, void in _records(folder):
        if void:  # the index shows no part of a withdrawn record
            rows.append({"claim": claim, "part": "(all parts)",
                         "old": None, "new": None, "percent": True,
                         "status": "withdrawn, not in the index: skipped"})
            continue
        for part in record.get("parts", []):
            new, why = check_part(part)
            bad += bool(why)
            rows.append({"claim": claim, "part": part["name"],
                         "old": (part["low"], part["high"]),
                         "new": None if new is None else (new.low, new.high),
                         "percent": part.get("percent", True), "status": why or "ok"})
    return rows, bad


def predating(folder: str | Path) -> list[tuple[str, dict]]:
    """(claim, amendment) for each registry amendment that a claim record under folder/results
    does not carry (tickets.claims.registry.pending_amendments); withdrawn records are left
    out, as in check_report."""
    return [(claim, a) for claim, record, void in _records(folder) if not void
            for a in pending_amendments(record)]


def _fmt(pair: tuple[float, float] | None, percent: bool) -> str:
    if pair is None:
        return "-"
    k = 100 if percent else 1
    return f"[{k * pair[0]:+.2f}, {k * pair[1]:+.2f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="a report folder holding results/<claim>.json")
    args = ap.parse_args(argv)
    rows, bad = check_report(args.report)
    width = 60
    print(f"{'part':<{width}} {'recorded':>18} {'re-derived':>18}  status")
    for r in rows:
        name = f"{r['claim']}: {r['part']}"
        name = name if len(name) <= width else name[:width - 3] + "..."
        print(f"{name:<{width}} {_fmt(r['old'], r['percent']):>18} "
              f"{_fmt(r['new'], r['percent']):>18}  {r['status']}")
    print(f"{len(rows)} parts, {bad} mismatch(es)")
    later = predating(args.report)
    if later:
        print(f"{len(later)} amendment(s) made after a record's notebook ran (its next "
              "execution applies them; the outcome shown is the earlier design's):")
        for cid, a in later:
            print(f"  {cid}: {a['date']}, {a['part']}: {a['new']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["rederive", "regraded", "check_part", "check_report", "predating", "main"]
