"""A profile's settings, each declared once, and how a notebook's settings are resolved.

A profile (smoke, cpu, gpu, paper) is a folder ``params/<profile>/`` of two kinds of file:

* ``scale.yaml``: the scale the profile's studies share (model, data, epochs, attack, ...);
* ``NN.yaml``: what study NN adds (its own parameters: ratios, inits, methods, ...) or
  deliberately changes in the scale, each change with the reason in a comment. A shared
  name set to ``null`` there is one the study does not take (09 counts its own epochs).

The settings of a notebook are resolved in this order, the last winning: the scale, the study
file, then the values given by the user (papermill ``-p``/``-y``, ``make report PARAMS=...``,
or a value set in the notebook's parameters cell). The smoke scale is also the library's
default (tickets.recipes.base_config): nothing else declares those values.

Which names a notebook takes: the SHARED names (the search configuration and the evaluation,
which tickets.notebook.setup reads for every study) and the names its parameters cell declares.
A scale name outside SHARED (seeds, dense_lr, ...) reaches only the notebooks whose cell
declares it.

Every value, from a file or given, passes the checks of tickets.parameters (kind, range,
allowed names, no repeats) before any data is read.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tickets import parameters
from tickets.config import ConfigError
from tickets.parameters import ParameterError

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "params"
PROFILES = ("smoke", "cpu", "gpu", "paper")
# set by whoever runs the notebook, not settings of a profile
RUNNER = ("profile", "results_dir")
# the names every study takes from its profile (tickets.notebook.setup reads them): the search
# configuration, the data, and the evaluation
SHARED = ("model", "width", "dataset", "n_train", "n_val", "n_test", "epochs", "augment",
          "batch_size", "lr", "schedule", "adversary", "adv_steps", "eps_255", "val_steps",
          "n_val_eval", "eval_pgd_steps", "seed", "aa_n", "aa_version", "aa_attacks")
SOURCES = ("scale", "study file", "given")


def check_profile(profile: Any) -> str:
    """profile if it names a profile; otherwise a ConfigError naming the allowed ones."""
    if profile not in PROFILES:
        raise ConfigError(f"invalid profile={profile!r}: allowed values are "
                          + ", ".join(repr(p) for p in PROFILES))
    return profile


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_shown(path)} must map names to values, not hold "
                          f"{type(data).__name__}")
    return data


def _shown(path: Path) -> str:
    """A path as the repository names it (params/cpu/01.yaml)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def scale_file(profile: str) -> Path:
    return PARAMS / check_profile(profile) / "scale.yaml"


def scale(profile: str) -> dict[str, Any]:
    """The profile's shared scale (params/<profile>/scale.yaml)."""
    f = scale_file(profile)
    if not f.exists():
        raise ConfigError(f"profile {profile!r} has no {_shown(f)}")
    return _read(f)


def notebook_stem(notebook: str) -> str:
    """The notebook's stem (01_existence) from its stem or its number ("01")."""
    if not isinstance(notebook, str) or not notebook:
        raise ConfigError(f"invalid notebook={notebook!r}: a stem such as '01_existence' or "
                          f"its number '01'")
    known = sorted(p.stem for p in parameters.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    match = [s for s in known if s == notebook or s[:2] == notebook]
    if len(match) != 1:
        if parameters.notebook_path(notebook) is not None:  # a notebook outside notebooks/
            return notebook
        raise ConfigError(f"invalid notebook={notebook!r}: known notebooks are "
                          + ", ".join(known))
    return match[0]


def study_file(profile: str, notebook: str) -> Path:
    """params/<profile>/NN.yaml of a notebook."""
    return PARAMS / check_profile(profile) / f"{notebook_stem(notebook)[:2]}.yaml"


def study(profile: str, notebook: str) -> dict[str, Any]:
    """What study `notebook` adds to or changes in the profile's scale (None: not taken)."""
    return _read(study_file(profile, notebook))


def declared(notebook: str) -> dict[str, Any]:
    """The parameters cell of a notebook: its names and literal values (None: the profile's)."""
    path = parameters.notebook_path(notebook_stem(notebook))
    if path is None:
        raise ConfigError(f"{notebook}.ipynb was not found")
    return parameters.declared(path)


def names(profile: str, notebook: str) -> list[str]:
    """The settings notebook takes at a profile: SHARED and what its parameters cell declares,
    less the shared names its study file sets to null. A study file that sets a name the
    notebook does not take is a ConfigError (a typo in a profile is caught here)."""
    stem = notebook_stem(notebook)
    own = [k for k in declared(stem) if k not in RUNNER]
    takes = list(dict.fromkeys([*SHARED, *own]))
    extra = study(profile, stem)
    for k in extra:
        if k not in takes:
            parameters.unknown_names([k], takes, where=f"{_shown(study_file(profile, stem))}: ")
    return [k for k in takes if not (k in extra and extra[k] is None)]


@dataclass
class Resolved:
    """A notebook's settings: each value, and where it came from (one of SOURCES)."""

    profile: str
    notebook: str | None
    values: dict[str, Any]
    source: dict[str, str] = field(default_factory=dict)

    def given(self) -> dict[str, Any]:
        """The values that were given (checked and parsed), by name."""
        return {k: v for k, v in self.values.items() if self.source.get(k) == "given"}

    def table(self, width: int = 100) -> str:
        """A short table: the settings grouped by where they came from."""
        files = {"scale": _shown(scale_file(self.profile)),
                 "study file": _shown(study_file(self.profile, self.notebook))
                 if self.notebook else ""}
        lines = [f"Settings at profile {self.profile!r}"
                 + (f" for {self.notebook}" if self.notebook else "") + ":"]
        for src in SOURCES:
            items = [f"{k}={v!r}" for k, v in self.values.items() if self.source.get(k) == src]
            if not items:
                continue
            head = f"  {src}" + (f" ({files[src]})" if files.get(src) else "") + ": "
            lines += textwrap.wrap(", ".join(items), width=width, initial_indent=head,
                                   subsequent_indent=" " * 4, break_long_words=False,
                                   break_on_hyphens=False)
        return "\n".join(lines)


def _profile_layers(profile: str, notebook: str | None) -> tuple[dict, dict]:
    """(values, sources) of the profile alone: the scale, then the study file."""
    base = scale(profile)
    if notebook is None:
        return dict(base), dict.fromkeys(base, "scale")
    stem = notebook_stem(notebook)
    takes = names(profile, stem)
    extra = study(profile, stem)
    values, source = {}, {}
    for k in takes:
        if k in extra:
            values[k], source[k] = extra[k], "study file"
        elif k in base:
            values[k], source[k] = base[k], "scale"
        else:
            raise ConfigError(
                f"{stem} takes {k!r}, which profile {profile!r} does not set: declare it in "
                f"{_shown(study_file(profile, stem))} (or, if the studies share it, in "
                f"{_shown(scale_file(profile))})")
    return values, source


def resolve(profile: str, notebook: str | None = None,
            given: dict[str, Any] | None = None) -> Resolved:
    """A notebook's settings at a profile, with `given` values winning, every one checked
    (tickets.parameters): unknown names (with the closest known one), kinds (a list given as a
    string is parsed), ranges, allowed names and repeats. A ParameterError (a ConfigError)
    names the parameter, the value and what is allowed; a bad value in a profile file also
    names the file."""
    check_profile(profile)
    stem = notebook_stem(notebook) if notebook is not None else None
    values, source = _profile_layers(profile, stem)
    smoke = values if profile == "smoke" else _profile_layers("smoke", stem)[0]
    for k, v in values.items():
        where = _shown(study_file(profile, stem) if source[k] == "study file"
                       else scale_file(profile))
        try:
            values[k] = parameters.check_value(k, v, smoke.get(k, v))
        except ParameterError as e:
            raise ParameterError(f"{where}: {e}") from None
    given = dict(given or {})
    parameters.unknown_names(given, values)
    for k, v in given.items():
        values[k] = parameters.check_value(k, v, values[k])
        source[k] = "given"
    parameters.check_together(values)
    return Resolved(profile, stem, values, source)


def settings(profile: str, notebook: str | None = None) -> dict[str, Any]:
    """The resolved values of a profile: for a notebook (its stem, "01_existence", or its
    number, "01") the scale and its study file; for None the scale alone."""
    return dict(resolve(profile, notebook).values)


__all__ = ["PROFILES", "SHARED", "RUNNER", "SOURCES", "Resolved", "check_profile", "scale",
           "study", "declared", "names", "notebook_stem", "resolve", "settings",
           "scale_file", "study_file"]
