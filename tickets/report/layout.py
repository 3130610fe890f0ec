"""Where the report's inputs live: the repository, its profiles and its notebooks."""

from __future__ import annotations

from pathlib import Path

from tickets.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "tickets"
__all__ = ["KERNEL", "PROFILES", "ROOT", "notebooks"]


def notebooks(selected: list[str] | None = None) -> list[Path]:
    """The study notebooks (notebooks/NN_*.ipynb) in order; with `selected`, those whose name
    starts with one of its prefixes (none matching stops with a message naming them)."""
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if selected:
        found = [p for p in found if any(p.name.startswith(s) for s in selected)]
        if not found:
            raise SystemExit(f"no notebook matches --notebooks {' '.join(selected)}")
    return found
