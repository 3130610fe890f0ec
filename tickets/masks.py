"""Masks as objects of their own: a ticket on disk, a mask installed in a model's state, and a
short hash that keys the runs trained under a mask.

A ticket is stored as its architecture, its init seed and its packed mask bits (1 bit per
weight), plus the BatchNorm running statistics that eval-mode logits depend on. The random
weights are rebuilt from the seed on load.
"""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import torch
from torch import nn

from tickets.config import ModelConfig, to_dict
from tickets.config import replace as cfg_replace
from tickets.layers import get_masks, set_fixed_masks, set_mode
from tickets.models import build_from_config
from tickets.store import TORCH_LOAD_ERRORS, StoreError, atomic_write_bytes

TICKET_FORMAT = 1


def save_ticket(model: nn.Module, path: str | os.PathLike) -> int:
    """Write a ticket: architecture + init seed + packed mask bits (+ BN statistics).

    Returns the number of bytes written.
    """
    cfg: ModelConfig = model.cfg  # type: ignore[assignment]
    masks = get_masks(model)
    names = list(masks)
    bits = np.packbits(np.concatenate([masks[k].numpy().ravel() for k in names]).astype(np.uint8))
    bn = {k: v.detach().cpu() for k, v in model.state_dict().items() if "running_" in k}
    payload = {"model": to_dict(cfg), "layers": names,
               "shapes": [list(masks[k].shape) for k in names],
               "bits": torch.from_numpy(bits), "bn": bn, "format": TICKET_FORMAT}
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return len(data)


def load_ticket(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the random network from its seed and install the stored masks (fixed mode)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except TORCH_LOAD_ERRORS as e:
        raise StoreError(f"{path} is not a readable ticket ({type(e).__name__}); save it again "
                         f"with save_ticket") from None
    model = build_from_config(ModelConfig(**payload["model"]))
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


def init_state(model_cfg: ModelConfig, seed_offset: int = 0) -> dict:
    """A masked network's initial state in fixed mode (all-ones masks); seed_offset > 0 draws
    other weights from the same distribution (the random re-init baselines)."""
    model = build_from_config(cfg_replace(model_cfg, init_seed=model_cfg.init_seed + seed_offset))
    set_mode(model, "fixed")
    return model.state_dict()


def with_masks(state: dict, masks: dict[str, torch.Tensor]) -> dict:
    """A copy of a fixed-mode state with the given masks installed in its mask buffers."""
    out = dict(state)
    for name, m in masks.items():
        key = f"{name}.mask"
        if key not in out:
            raise KeyError(f"{key} is not in the state: masks and model do not match")
        out[key] = m.to(out[key].dtype)
    return out


def mask_tag(masks: dict[str, torch.Tensor]) -> str:
    """A short hash of the masks' bits, to key the runs that train under them."""
    h = hashlib.sha256()
    for name in sorted(masks):
        h.update(name.encode())
        h.update(np.packbits(masks[name].bool().numpy().ravel()).tobytes())
    return h.hexdigest()[:12]


__all__ = ["save_ticket", "load_ticket", "init_state", "with_masks", "mask_tag"]
