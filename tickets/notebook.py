"""What a study notebook calls around its experiments: one setup from its parameters, and one
call that shows and records each verdict. The `make report` builder is tickets.report."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickets import parameters
from tickets.claims import Verdict, claim
from tickets.config import RunConfig
from tickets.data import Data
from tickets.evaluation import EvalSpec, describe_scale, load_data
from tickets.recipes import base_config
from tickets.store import atomic_write_json

# notebook parameter -> base_config keyword (eps_255 is converted)
_CONFIG_PARAMS = {"model": "model", "width": "width", "dataset": "dataset", "n_train": "n_train",
                  "n_val": "n_val", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                  "schedule": "schedule", "adversary": "adversary", "adv_steps": "adv_steps",
                  "val_steps": "val_steps", "n_val_eval": "n_val_eval", "seed": "seed",
                  "augment": "augment"}
_REQUIRED = ("profile", "results_dir", "n_test", "eps_255", "eval_pgd_steps", "aa_n")


@dataclass
class Study:
    """A notebook's setting: its profile, where its verdicts go, the search configuration it
    starts from, how it evaluates, its data, and the one-line scale every figure names."""

    profile: str
    results_dir: str
    cfg: RunConfig
    spec: EvalSpec
    data: Data
    scale: str

    @property
    def eps(self) -> float:
        return self.spec.eps


def setup(params: dict[str, Any], notebook: str, *, paper_protocol: bool = False,
          track_test: bool = True, **overrides: Any) -> Study:
    """The Study of a notebook from its parameters: pass globals() and the notebook's name.

    First the parameters are checked against the notebook's parameters cell, before any data
    is read (tickets.parameters): an unknown name, a value of the wrong kind or out of range
    stops here with a ParameterError that names the parameter; a list given as a string is
    parsed in place. Then the base configuration, the evaluation spec, the data (whose split
    sizes are checked) and the scale line. overrides replace base_config keywords (09 trains
    for retrain_epochs, say). Prints the data and the scale."""
    for warning in parameters.check_namespace(params, notebook):
        warnings.warn(warning, stacklevel=2)
    missing = [k for k in _REQUIRED if k not in params]
    if missing:
        raise KeyError(f"the parameters cell must define {', '.join(missing)}")
    eps = params["eps_255"] / 255
    kw = {dst: params[src] for src, dst in _CONFIG_PARAMS.items() if src in params}
    kw.update(overrides)
    cfg = base_config(**kw, eps=eps, track_test=track_test)
    spec = EvalSpec(n_test=params["n_test"], eps=eps, pgd_steps=params["eval_pgd_steps"],
                    aa_n=params["aa_n"], aa_version=params.get("aa_version", "standard"),
                    aa_attacks=tuple(params.get("aa_attacks", ())),
                    paper_protocol=paper_protocol)
    data = load_data(cfg, params["n_test"])
    scale = describe_scale(params["profile"], cfg, data, spec)
    print(data.describe())
    print(scale)
    return Study(params["profile"], params["results_dir"], cfg, spec, data, scale)


def record_verdict(results_dir: str | os.PathLike, verdict: Verdict, scale: str,
                   table: list[dict] | None = None, **extra: Any) -> Path:
    """Write one claim's verdict where the index builder will find it. The notebook and its
    section come from the claim; extra keyword arguments (JSON-serialisable) are kept beside
    the table."""
    c = claim(verdict.claim)
    verdict.scale, verdict.notebook, verdict.anchor = scale, c.notebook, c.anchor
    out = Path(results_dir) / "results" / f"{verdict.claim}.json"
    payload = verdict.as_dict()
    if table is not None:  # per-image outcomes are summarised by the parts' intervals
        payload["table"] = [{k: v for k, v in r.items() if not _is_outcome(k)} for r in table]
    for key, value in extra.items():
        if key in payload:
            raise ValueError(f"extra field {key!r} clashes with a verdict field")
        payload[key] = value
    atomic_write_json(out, payload)
    return out


def _is_outcome(column: str) -> bool:
    return column.endswith("_correct") or column == "outcomes"


def verdict_markdown(v: Verdict) -> str:
    """A verdict as a short Markdown paragraph for a notebook's conclusion."""
    return f"**{v.claim}: {v.verdict}.** Ours: {v.ours}. Why: {v.reason}."


def show_verdict(study: Study, verdict: Verdict, table: list[dict] | None = None,
                 **extra: Any) -> Verdict:
    """Record a verdict for the index and show it in the notebook."""
    from IPython.display import Markdown, display

    record_verdict(study.results_dir, verdict, study.scale, table, **extra)
    display(Markdown(verdict_markdown(verdict)))
    return verdict


def sanity_summary(checks) -> str:
    """'Sanity checks: k of n passed' and the failed ones, from a sanity table."""
    failed = checks[checks["result"] == "FAIL"]
    return (f"Sanity checks: {len(checks) - len(failed)} of {len(checks)} passed"
            + ("." if failed.empty else "; failed: "
               + "; ".join(failed["model"] + ": " + failed["check"]) + "."))


def conclusion(*verdicts: Verdict, notes: Sequence[str] = ()) -> None:
    """Show the verdicts (and any further computed sentences) as the conclusion."""
    from IPython.display import Markdown, display

    display(Markdown("\n\n".join([verdict_markdown(v) for v in verdicts] + list(notes))))


def in_percent(t, cols: list[str], digits: int = 1):
    """A copy of table t with the accuracy columns `cols` in percent, rounded."""
    return t.assign(**{c: (100 * t[c]).round(digits) for c in cols})


__all__ = ["Study", "setup", "record_verdict", "verdict_markdown", "show_verdict",
           "sanity_summary", "conclusion", "in_percent"]
