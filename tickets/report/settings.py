"""The report's profile data, read from params/report.yaml: each profile's label, executor and
study 01 accuracy targets, and the data caveats. The file's comments document each key."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from tickets.report.layout import PROFILES, ROOT
from tickets.studies.existence import RST_SIZE, SAME_WIDTH

SETTINGS_FILE = ROOT / "params" / "report.yaml"
# The models of study 01 an accuracy target may name (tickets.report.checks.scale_check).
TARGET_MODELS = ("best RST", SAME_WIDTH, RST_SIZE)


def read_settings(path: Path = SETTINGS_FILE) -> dict:
    """The settings file as {"profiles": {profile: {...}}, "data_notes": [...]}, checked: a
    profile not in PROFILES, an unknown key or a malformed target stops with a message that
    names the file and the entry."""
    raw = yaml.safe_load(path.read_text()) if path.exists() else None
    raw = raw or {}
    unknown = set(raw) - {"profiles", "data_notes"}
    if unknown:
        raise ValueError(f"{path.name}: unknown top-level keys {sorted(unknown)}; allowed are "
                         "profiles and data_notes")
    profiles = raw.get("profiles") or {}
    for name, entry in profiles.items():
        if name not in PROFILES:
            raise ValueError(f"{path.name}: invalid profile={name!r}: allowed values are "
                             f"{PROFILES}")
        bad = set(entry or {}) - {"label", "executor", "accuracy_targets"}
        if bad:
            raise ValueError(f"{path.name}: profiles.{name} has unknown keys {sorted(bad)}; "
                             "allowed are label, executor and accuracy_targets")
        for model, target in ((entry or {}).get("accuracy_targets") or {}).items():
            if model not in TARGET_MODELS:
                raise ValueError(f"{path.name}: profiles.{name}.accuracy_targets names "
                                 f"model={model!r}: allowed values are {TARGET_MODELS}")
            if (not isinstance(target, list) or len(target) != 2
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
                                for v in target)):
                raise ValueError(f"{path.name}: profiles.{name}.accuracy_targets[{model!r}] "
                                 f"= {target!r}: expected [clean, PGD] as fractions in [0, 1]")
    notes = raw.get("data_notes") or []
    for i, n in enumerate(notes):
        if not isinstance(n, dict) or set(n) != {"when", "note"}:
            raise ValueError(f"{path.name}: data_notes[{i}] = {n!r}: expected a mapping with "
                             "exactly the keys when and note")
    return {"profiles": {k: v or {} for k, v in profiles.items()}, "data_notes": notes}


@cache
def _settings() -> dict:
    return read_settings()


def profile_label(profile: str) -> str:
    """What a result at this profile is, in one sentence ('' when the file gives none)."""
    return _settings()["profiles"].get(profile, {}).get("label", "")


def data_notes(scales: list[str]) -> list[str]:
    """The caveats whose `when` occurs in any of these scale lines, in the file's order."""
    return [n["note"] for n in _settings()["data_notes"] if any(n["when"] in s for s in scales)]


# Where each profile's report trains its runs unless TICKETS_EXECUTOR says otherwise.
PROFILE_EXECUTOR: dict[str, str] = {
    k: v["executor"] for k, v in _settings()["profiles"].items() if "executor" in v}
# Study 01's accuracy targets per profile: {model: (clean, PGD)}, mean over the search seeds.
ACCURACY_TARGETS: dict[str, dict[str, tuple[float, float]]] = {
    k: {m: tuple(t) for m, t in v["accuracy_targets"].items()}
    for k, v in _settings()["profiles"].items() if v.get("accuracy_targets")}
