"""The parameters a notebook of the report runs with: its profile (tickets.profiles resolves the
profile's scale and the study's file inside the notebook), --param overrides, and for a dry run
the sizes tickets.parameters.tiny shrinks."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tickets import parameters, profiles
from tickets.config import ConfigError
from tickets.report.layout import PROFILES


def profile_params(profile: str, nb: Path) -> dict:
    """The settings notebook `nb` resolves at `profile` (tickets.profiles.settings): the
    profile's scale, then the study's file."""
    if profile not in PROFILES:
        raise SystemExit(f"invalid profile={profile!r}: allowed values are {PROFILES}")
    try:
        return profiles.settings(profile, nb.stem)
    except ConfigError as e:
        raise SystemExit(f"{nb.name} at profile {profile}: {e}") from None


def run_params(nb: Path, profile: str, out_dir: Path, extra: dict | None = None,
               tiny: bool = False, keep: list[str] | tuple = ()) -> dict:
    """What papermill injects into a notebook: its profile and results folder, `extra`
    (--param), and for a dry run (tiny) the sizes that tickets.parameters.tiny changes in the
    profile's settings (keep: sizes left as they are). The notebook resolves the rest from
    its profile. Everything is checked against the notebook's settings before anything runs
    (tickets.profiles.resolve)."""
    prof = profile_params(profile, nb)
    given = dict(extra or {})
    if tiny:
        small = parameters.tiny(prof, keep)
        given = {**{k: v for k, v in small.items() if v != prof[k]}, **given}
    try:
        given = profiles.resolve(profile, nb.stem, given).given()
    except ConfigError as e:
        raise SystemExit(f"{nb.name} at profile {profile}: {e}") from None
    # Paths relative to the notebook and the repository, so that no machine's layout is
    # recorded in the executed notebook.
    return {"profile": profile,
            "results_dir": os.path.relpath(out_dir.resolve(), nb.parent.resolve()), **given}


def parse_param(text: str) -> tuple[str, object]:
    """NAME=VALUE, the value read as YAML (so 0.5, [0.1, 0.5] and true have their types)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise SystemExit(f"invalid --param {text!r}: expected NAME=VALUE, e.g. ratios=[0.1, 0.5]")
    return name.strip(), yaml.safe_load(value)
