"""Results and artefacts keyed by the hash of the configuration that produced them.

Layout: ``<root>/<kind>-<hash>/`` holds ``config.json``, checkpoints and ``result.json``. A
rerun with the same configuration finds ``result.json`` and skips the work. Every write goes
to a temporary file in the same folder and is renamed into place, so a killed process never
leaves a half-written file behind.

A file that is there but cannot be read (truncated by a full disk, damaged by hand) is never
reused: it is named in a warning, moved aside as ``<name>.corrupt`` and its result recomputed
(:func:`read_json_checked`, :func:`torch_load_checked`).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tickets.config import config_hash, to_dict

STORE_ENV_VAR = "TICKETS_STORE"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True,
                                        default=_json_default).encode())


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as fh:
        return json.load(fh)


class StoreWarning(UserWarning):
    """A file in the store was unreadable and is recomputed."""


class StoreError(RuntimeError):
    """A stored file cannot be read and nothing can recompute it here."""


def quarantine(path: Path, reason: str) -> Path:
    """Move an unreadable file aside (``<name>.corrupt``) with a warning that names it."""
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    warnings.warn(f"unreadable store file {path} ({reason}); moved aside to {aside.name} and "
                  f"recomputed", StoreWarning, stacklevel=3)
    return aside


def read_json_checked(path: str | os.PathLike) -> Any | None:
    """The JSON at path; None when it is absent, or unreadable (then quarantined)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        quarantine(path, f"{type(e).__name__}: {e}")
        return None


# what torch.load raises on a truncated or damaged file
TORCH_LOAD_ERRORS = (RuntimeError, EOFError, OSError, ValueError, KeyError,
                     zipfile.BadZipFile, pickle.UnpicklingError)


def torch_load_checked(path: str | os.PathLike, weights_only: bool = False) -> Any | None:
    """torch.load of path on the CPU; None when it is absent, or unreadable (then
    quarantined)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except TORCH_LOAD_ERRORS as e:
        quarantine(path, f"{type(e).__name__}: {str(e)[:120]}")
        return None


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class Store:
    """A folder of runs, each named by the hash of its configuration."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root if root is not None else os.environ.get(STORE_ENV_VAR, "runs"))

    def run_dir(self, cfg: Any, kind: str | None = None) -> Path:
        kind = kind or type(cfg).__name__.lower().replace("config", "")
        d = self.root / f"{kind}-{config_hash(cfg)}"
        d.mkdir(parents=True, exist_ok=True)
        cfg_file = d / "config.json"
        if not cfg_file.exists():
            atomic_write_json(cfg_file, to_dict(cfg))
        return d

    def load_result(self, cfg: Any, name: str = "result", kind: str | None = None
                    ) -> dict | None:
        """The stored result, or None when it is absent or unreadable (then recomputed)."""
        return read_json_checked(self.run_dir(cfg, kind) / f"{name}.json")

    def save_result(self, cfg: Any, result: dict, name: str = "result",
                    kind: str | None = None) -> Path:
        f = self.run_dir(cfg, kind) / f"{name}.json"
        atomic_write_json(f, result)
        return f

    LEDGER = "ledger.jsonl"
    NOTEBOOK_ENV_VAR = "TICKETS_NOTEBOOK"

    def note_use(self, run_dir: Path, trained: bool, passes: int) -> None:
        """Append one line to the store's ledger: a run asked for, whether this call trained
        it or found it stored, its training passes, and the notebook that asked
        (TICKETS_NOTEBOOK, set by `make report`). tickets.bench reads it to measure how much
        training the reuse of runs across notebooks saves. Best effort: a ledger that cannot
        be written never stops a run."""
        line = json.dumps({"run": Path(run_dir).name, "trained": bool(trained),
                           "passes": int(passes),
                           "notebook": os.environ.get(self.NOTEBOOK_ENV_VAR, "")})
        try:
            with open(self.root / self.LEDGER, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def cached(self, cfg: Any, name: str, compute: Any, kind: str | None = None) -> dict:
        """Return the stored result `name` of cfg, computing and storing it when absent."""
        found = self.load_result(cfg, name, kind)
        if found is not None:
            return found
        result = compute()
        self.save_result(cfg, result, name, kind)
        return result
