"""Tickets: a mask together with the network it selects from, on disk and in a state dict.

A ticket is stored as its architecture, its init seed and its packed mask bits (1 bit per
weight), plus the BatchNorm running statistics that eval-mode logits depend on. The random
weights are rebuilt from the seed on load.
"""

from __future__ import annotations

import copy
import io
import os

import torch
from torch import nn

from tickets.config import ModelConfig, to_dict
from tickets.config import replace as cfg_replace
from tickets.layers import freeze_masks, get_masks, set_fixed_masks, set_mode
from tickets.masks.bits import pack_bits, unpack_bits
from tickets.models import build_from_config
from tickets.store import TORCH_LOAD_ERRORS, StoreError, atomic_write_bytes

TICKET_FORMAT = 1


def save_ticket(model: nn.Module, path: str | os.PathLike) -> int:
    """Write a ticket: architecture + init seed + packed mask bits (+ BN statistics).

    Returns the number of bytes written.
    """
    cfg: ModelConfig = model.cfg  # type: ignore[assignment]
    names, shapes, bits = pack_bits(get_masks(model))
    bn = {k: v.detach().cpu() for k, v in model.state_dict().items() if "running_" in k}
    payload = {"model": to_dict(cfg), "layers": names, "shapes": shapes, "bits": bits,
               "bn": bn, "format": TICKET_FORMAT}
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
    set_fixed_masks(model, unpack_bits(payload["layers"], payload["shapes"], payload["bits"]))
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


def state_masks(state: dict) -> dict[str, torch.Tensor]:
    """The masks held in a fixed-mode state's mask buffers (bool), by layer name: the inverse
    of with_masks."""
    return {k[:-len(".mask")]: v.bool() for k, v in state.items() if k.endswith(".mask")}


def fixed_mask_state(model: nn.Module) -> dict:
    """A searched model's state with its masks frozen, ready for fixed-mask weight training."""
    m = copy.deepcopy(model)
    freeze_masks(m)
    set_mode(m, "fixed")
    return m.state_dict()


__all__ = ["save_ticket", "load_ticket", "init_state", "with_masks", "state_masks",
           "fixed_mask_state"]
