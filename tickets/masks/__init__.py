"""Masks, in one home: making them by method, tickets on disk and in a state, and their bits.

* :mod:`tickets.masks.registry`: every mask method registered by name with one call,
  ``make_mask(name, model, remaining, ...)``; ``method_names()`` lists them and
  ``check_method`` rejects an unknown name with the list;
* :mod:`tickets.masks.prune`: scores per weight ranked into masks (magnitude, random, SNIP);
* :mod:`tickets.masks.ntt`: neural tangent transfer, the AWT reconstruction's mask finder;
* :mod:`tickets.masks.ticket`: tickets saved and loaded (1 bit per weight), masks installed in
  a state, a searched mask frozen for weight training;
* :mod:`tickets.masks.bits`: packing, the hash that keys runs trained under a mask, density
  and overlap.

Masks that the RST search learns are the masked layers' own top-k of their scores
(tickets.layers); they become fixed masks through :func:`fixed_mask_state`.
"""

from tickets.masks.bits import density, layer_density, mask_overlap, mask_tag
from tickets.masks.ntt import NTTSpec, neural_tangent_transfer, ntt_passes
from tickets.masks.prune import magnitude_masks, random_masks, snip_masks
from tickets.masks.registry import (
    Mask,
    MaskMethod,
    MaskRequest,
    MaskSpec,
    check_method,
    make_mask,
    method_names,
    probe_pool,
    register,
)
from tickets.masks.ticket import (
    fixed_mask_state,
    init_state,
    load_ticket,
    save_ticket,
    state_masks,
    with_masks,
)

__all__ = ["make_mask", "method_names", "check_method", "register", "Mask", "MaskMethod",
           "MaskRequest", "MaskSpec", "probe_pool", "NTTSpec", "neural_tangent_transfer",
           "ntt_passes", "magnitude_masks", "random_masks", "snip_masks", "density",
           "layer_density", "mask_overlap", "mask_tag", "save_ticket", "load_ticket",
           "init_state", "with_masks", "state_masks", "fixed_mask_state"]
