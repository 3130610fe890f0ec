"""The parameters a notebook of the report runs with: its profile's YAML, --param overrides."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tickets import parameters
from tickets.report.layout import PROFILES, ROOT


def profile_params(profile: str, nb: Path) -> dict:
    if profile not in PROFILES:
        raise SystemExit(f"invalid profile={profile!r}: allowed values are {PROFILES}")
    f = ROOT / "params" / profile / f"{nb.stem[:2]}.yaml"
    if not f.exists():
        if profile == "smoke":
            return {}
        raise SystemExit(f"no parameters for {nb.name} at profile {profile}: {f} is missing")
    return yaml.safe_load(f.read_text()) or {}


def run_params(nb: Path, profile: str, out_dir: Path, extra: dict | None = None,
               tiny: bool = False, keep: list[str] | tuple = ()) -> dict:
    """The parameters a notebook runs with: its profile (shrunk by tickets.parameters.tiny for
    a dry run), then `extra` (--param), checked against its parameters cell before anything
    runs (tickets.parameters)."""
    prof = profile_params(profile, nb)
    # Paths relative to the notebook and the repository, so that no machine's layout is
    # recorded in the executed notebook.
    params = {**(parameters.tiny(prof, keep) if tiny else prof), **(extra or {}), "profile": profile,
              "results_dir": os.path.relpath(out_dir.resolve(), nb.parent.resolve())}
    try:
        return parameters.check(params, parameters.declared(nb))
    except parameters.ParameterError as e:
        raise SystemExit(f"{nb.name} at profile {profile}: {e}") from None


def parse_param(text: str) -> tuple[str, object]:
    """NAME=VALUE, the value read as YAML (so 0.5, [0.1, 0.5] and true have their types)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise SystemExit(f"invalid --param {text!r}: expected NAME=VALUE, e.g. ratios=[0.1, 0.5]")
    return name.strip(), yaml.safe_load(value)
