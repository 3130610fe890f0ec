"""The ledger reuse figures: what reusing runs across notebooks saved, read from the store."""

from __future__ import annotations

import json
from pathlib import Path


def reuse_figures(store_root: str | Path) -> dict:
    """What the reuse of runs across notebooks saved, from the store's ledger (written by
    every training call; `make report` names the notebook): the training passes the notebooks
    asked for, each notebook counting each run once, against the passes actually trained.
    Empty when the store has no ledger from a report."""
    ledger = Path(store_root) / "ledger.jsonl"
    if not ledger.is_file():
        return {}
    asked: dict[str, set[str]] = {}
    passes: dict[str, int] = {}
    trained: set[str] = set()
    for line in ledger.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if not e.get("notebook"):
            continue  # not asked for by a report's notebook (tests, probes)
        asked.setdefault(e["notebook"], set()).add(e["run"])
        passes[e["run"]] = int(e["passes"])
        if e.get("trained"):
            trained.add(e["run"])
    runs = set().union(*asked.values()) if asked else set()
    if not runs:
        return {}
    without = sum(passes[r] for nb in asked.values() for r in nb)
    once = sum(passes[r] for r in runs)
    return {"reuse_notebooks": len(asked), "reuse_runs_asked": sum(map(len, asked.values())),
            "reuse_runs_distinct": len(runs), "reuse_runs_trained_in_ledger": len(trained),
            "reuse_training_passes_saved_speedup": without / once if once else 1.0}
