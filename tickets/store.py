"""Results and artefacts keyed by the hash of the configuration that produced them.

Layout: ``<root>/<kind>-<hash>/`` holds ``config.json``, checkpoints and ``result.json``. A
rerun with the same configuration finds ``result.json`` and skips the work. Every write goes
to a temporary file in the same folder and is renamed into place, so a killed process never
leaves a half-written file behind.

Tickets are stored as their architecture, init seed and packed mask bits (1 bit per weight),
plus the BatchNorm running statistics that eval-mode logits depend on.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tickets.config import ModelConfig, config_hash, to_dict

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
        f = self.run_dir(cfg, kind) / f"{name}.json"
        return read_json(f) if f.exists() else None

    def save_result(self, cfg: Any, result: dict, name: str = "result",
                    kind: str | None = None) -> Path:
        f = self.run_dir(cfg, kind) / f"{name}.json"
        atomic_write_json(f, result)
        return f

    def cached(self, cfg: Any, name: str, compute: Any, kind: str | None = None) -> dict:
        """Return the stored result `name` of cfg, computing and storing it when absent."""
        found = self.load_result(cfg, name, kind)
        if found is not None:
            return found
        result = compute()
        self.save_result(cfg, result, name, kind)
        return result


# ---- tickets ----------------------------------------------------------------------------------
def save_ticket(model: nn.Module, path: str | os.PathLike) -> int:
    """Write a ticket: architecture + init seed + packed mask bits (+ BN statistics).

    Returns the number of bytes written.
    """
    from tickets.layers import get_masks

    cfg: ModelConfig = model.cfg  # type: ignore[assignment]
    masks = get_masks(model)
    names = list(masks)
    bits = np.packbits(np.concatenate([masks[k].numpy().ravel() for k in names]).astype(np.uint8))
    bn = {k: v.detach().cpu() for k, v in model.state_dict().items() if "running_" in k}
    payload = {"model": to_dict(cfg), "layers": names,
               "shapes": [list(masks[k].shape) for k in names],
               "bits": torch.from_numpy(bits), "bn": bn, "format": 1}
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return len(data)


def load_ticket(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the random network from its seed and install the stored masks (fixed mode)."""
    from tickets.layers import set_fixed_masks
    from tickets.models import build_from_config

    payload = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig(**payload["model"])
    model = build_from_config(cfg)
    flat = np.unpackbits(payload["bits"].numpy())
    masks, offset = {}, 0
    for name, shape in zip(payload["layers"], payload["shapes"], strict=True):
        n = int(np.prod(shape))
        masks[name] = torch.from_numpy(flat[offset:offset + n].astype(bool)).view(*shape)
        offset += n
    set_fixed_masks(model, masks)
    state = model.state_dict()
    for k, v in payload["bn"].items():
        state[k] = v.to(state[k].dtype)
    model.load_state_dict(state)
    return model.to(device)
