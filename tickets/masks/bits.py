"""Masks as bits: packing for tickets on disk, the short hash that keys the runs trained
under a mask, and the counts that describe a mask (density, per-layer density, overlap).

A mask is a dict from masked-layer name to a bool tensor of the weight's shape (as
:func:`tickets.layers.get_masks` returns).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def pack_bits(masks: dict[str, torch.Tensor]) -> tuple[list[str], list[list[int]], torch.Tensor]:
    """The masks' layer names, shapes and bits packed 8 to a byte, layers in dict order."""
    names = list(masks)
    flat = np.concatenate([masks[k].numpy().ravel() for k in names]).astype(np.uint8)
    return names, [list(masks[k].shape) for k in names], torch.from_numpy(np.packbits(flat))


def unpack_bits(names: list[str], shapes: list[list[int]], bits: torch.Tensor
                ) -> dict[str, torch.Tensor]:
    """The masks that pack_bits packed: bool tensors by layer name."""
    flat = np.unpackbits(bits.numpy())
    masks, offset = {}, 0
    for name, shape in zip(names, shapes, strict=True):
        n = int(np.prod(shape))
        masks[name] = torch.from_numpy(flat[offset:offset + n].astype(bool)).view(*shape)
        offset += n
    return masks


def mask_tag(masks: dict[str, torch.Tensor]) -> str:
    """A short hash of the masks' bits, to key the runs that train under them."""
    h = hashlib.sha256()
    for name in sorted(masks):
        h.update(name.encode())
        h.update(np.packbits(masks[name].bool().numpy().ravel()).tobytes())
    return h.hexdigest()[:12]


def density(masks: dict[str, torch.Tensor]) -> float:
    """Kept fraction over all layers."""
    kept = sum(int(m.sum()) for m in masks.values())
    return kept / max(1, sum(m.numel() for m in masks.values()))


def layer_density(masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Kept fraction of each layer, by layer name."""
    return {n: float(m.float().mean()) for n, m in masks.items()}


def mask_overlap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Fraction of a's kept weights that b keeps too."""
    both = sum(int((a[n].bool() & b[n].bool()).sum()) for n in a)
    return both / max(1, sum(int(a[n].sum()) for n in a))


__all__ = ["pack_bits", "unpack_bits", "mask_tag", "density", "layer_density", "mask_overlap"]
