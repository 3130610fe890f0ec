"""What a study notebook calls around its experiments: one setup from its parameters, and one
call that shows and records each verdict. The `make report` builder is tickets.report."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickets import parameters, profiles
from tickets.accel import machine
from tickets.claims import Verdict, claim
from tickets.config import RunConfig
from tickets.data import Data
from tickets.evaluation import EvalSpec, describe_scale, load_data
from tickets.recipes import SCALE_KEYWORDS, base_config
from tickets.store import atomic_write_json

# set by the runner, not profile settings; the setting names setup reads for every study
_REQUIRED = ("n_test", "eps_255", "eval_pgd_steps", "aa_n", "aa_version", "aa_attacks")
# where setup keeps what it wrote into a notebook's namespace, so that a rerun in JupyterLab
# with another profile does not take the last profile's values for given ones
_WRITTEN = "_tickets_settings"


@dataclass(frozen=True)
class Setting:
    """A reference to a resolved setting, for setup's overrides (nb.setting("retrain_epochs")):
    the parameters cell holds None until setup has resolved it."""

    name: str


def setting(name: str) -> Setting:
    """A setup override that takes the resolved value of setting `name`."""
    return Setting(name)


def resolve(params: dict[str, Any], notebook: str) -> profiles.Resolved:
    """A notebook's settings from its namespace (globals()): the profile it names (smoke
    unless told), its scale and study file, then every value given (not None) in the
    parameters cell or injected by papermill, all checked (tickets.profiles.resolve). The
    resolved values are written back into the namespace, results_dir too (None:
    ../reports/<profile>)."""
    profile = profiles.check_profile(params.get("profile", "smoke"))
    stem = profiles.notebook_stem(notebook)
    given = parameters.given_in_namespace(params, stem, profiles.names(profile, stem),
                                          profiles.RUNNER, params.get(_WRITTEN))
    resolved = profiles.resolve(profile, stem, given)
    results_dir = params.get("results_dir")
    if results_dir is None or results_dir == (params.get(_WRITTEN) or {}).get("results_dir"):
        results_dir = f"../reports/{profile}"
    if not isinstance(results_dir, (str, os.PathLike)):
        raise parameters.ParameterError(f"invalid results_dir={results_dir!r}: must be a path "
                                        f"(a string), or None for ../reports/<profile>")
    params.update(resolved.values)
    params.update(profile=profile, results_dir=str(results_dir))
    params[_WRITTEN] = {**resolved.values, "results_dir": str(results_dir)}
    return resolved


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
    machine: str = ""  # tickets.accel.machine() of the executing process

    @property
    def eps(self) -> float:
        return self.spec.eps


def setup(params: dict[str, Any], notebook: str, *, paper_protocol: bool = False,
          track_test: bool = True, **overrides: Any) -> Study:
    """The Study of a notebook from its parameters: pass globals() and the notebook's name.

    First the settings are resolved and checked (resolve: the profile's scale, its study
    file, then the values given), before any data is read: an unknown name, a value of the
    wrong kind or out of range, or a name the code cannot run stops here with a
    ParameterError that names the parameter. The resolved values are written back into the
    namespace (later cells use ratios, seeds, n_test, ...) and printed with where each came
    from. Then the base configuration, the evaluation spec, the data (whose split sizes are
    checked) and the scale line. overrides replace base_config keywords; a value
    setting(name) takes a resolved setting (09 trains for retrain_epochs). Prints the
    settings, the data and the scale."""
    resolved = resolve(params, notebook)
    values = resolved.values
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise KeyError(f"{notebook} must take the settings {', '.join(missing)}")
    for k, v in overrides.items():
        if isinstance(v, Setting):
            if v.name not in values:
                raise KeyError(f"setting({v.name!r}) for {k}: {notebook} has no setting "
                               f"{v.name!r}")
            overrides[k] = values[v.name]
    print(resolved.table())
    _record_settings(values)
    eps = values["eps_255"] / 255
    kw = {k: values[k] for k in SCALE_KEYWORDS if k in values}
    kw.update(overrides)
    cfg = base_config(**kw, eps=eps, track_test=track_test)
    spec = EvalSpec(n_test=values["n_test"], eps=eps, pgd_steps=values["eval_pgd_steps"],
                    aa_n=values["aa_n"], aa_version=values["aa_version"],
                    aa_attacks=tuple(values["aa_attacks"]), paper_protocol=paper_protocol)
    data = load_data(cfg, values["n_test"])
    scale = describe_scale(params["profile"], cfg, data, spec)
    print(data.describe())
    print(scale)
    where = machine()
    print(f"machine: {where}")
    return Study(params["profile"], params["results_dir"], cfg, spec, data, scale, where)


SETTINGS_MIME = "application/vnd.tickets.settings+json"


def _record_settings(values: dict[str, Any]) -> None:
    """Keep the resolved settings in the executed notebook, as an output of a mimetype that
    the HTML leaves out: the report compares them with what the profile's files resolve to
    later (tickets.report.checks.stale_params), so a change to params/ after an execution is
    seen even though papermill injected only the profile. Outside a kernel, nothing."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the kernel
        return
    if get_ipython() is None:
        return
    display({SETTINGS_MIME: json.loads(json.dumps(values, default=str))}, raw=True)


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

    if study.machine:
        if "machine" in extra:
            raise ValueError("extra field 'machine' clashes with the study's machine line")
        extra = {"machine": study.machine, **extra}
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

    scope = ("Each verdict above grades its parts on their own 95 % intervals. Over the whole "
             "report, after Holm-Bonferroni over every graded part, an outcome can only stay or "
             "weaken to inconclusive: the index shows both.") if verdicts else ""
    display(Markdown("\n\n".join([verdict_markdown(v) for v in verdicts] + list(notes)
                                  + ([scope] if scope else []))))


def in_percent(t, cols: list[str], digits: int = 1):
    """A copy of table t with the accuracy columns `cols` in percent, rounded."""
    return t.assign(**{c: (100 * t[c]).round(digits) for c in cols})


__all__ = ["Study", "Setting", "setting", "resolve", "setup", "record_verdict",
           "verdict_markdown", "show_verdict", "sanity_summary", "conclusion", "in_percent"]
