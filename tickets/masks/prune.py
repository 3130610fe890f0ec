"""Pruning by a score per weight: masks from trained or initial weights (the boosting tickets,
the AWT study's baselines). The registry (tickets.masks.registry) calls these by name.

Every function here is pure: it reads a model and returns masks (bool tensors by masked-layer
name, as :func:`tickets.layers.get_masks` returns); :func:`tickets.layers.set_fixed_masks`
installs them.

* :func:`magnitude_masks`: one-shot global magnitude pruning. With ``normalise=True`` (the
  boosting-tickets recipe of Li et al. 2020) each layer's |w| is divided by that layer's mean
  |w| before the global ranking, so that no layer is emptied because its init scale is small.
  The classifier takes part.
* :func:`random_masks`: each layer keeps the same fraction at random (layer-uniform density).
* :func:`snip_masks`: SNIP (Lee et al. 2019), |w * dL/dw| on a batch, ranked globally.
* :func:`global_topk`: the global ranking that magnitude and SNIP share; given a previous
  mask, pruned weights stay pruned (iterative pruning).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tickets.config import ConfigError
from tickets.layers import kept_count, masked_layers


def check_remaining(remaining: float) -> None:
    """Raise unless remaining is a kept fraction in (0, 1]."""
    if isinstance(remaining, bool) or not isinstance(remaining, (int, float)) or not (
            0.0 < remaining <= 1.0):
        raise ConfigError(f"invalid remaining={remaining!r}: must lie in (0, 1] (the kept "
                          "fraction of the weights)")


def global_topk(scores: dict[str, torch.Tensor], remaining: float,
                 previous: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Keep the top `remaining` fraction of all weights (counted over every layer) by score.

    With a previous mask, pruned weights stay pruned; remaining is still the fraction of all
    weights, so it must not exceed the previous mask's density.
    """
    check_remaining(remaining)
    names = list(scores)
    flat = torch.cat([scores[n].detach().float().flatten().cpu() for n in names])
    if previous is not None:
        prev = torch.cat([previous[n].flatten().bool().cpu() for n in names])
        if remaining * flat.numel() > int(prev.sum()) + 0.5:
            raise ConfigError(f"invalid remaining={remaining!r}: the previous mask keeps only "
                              f"{int(prev.sum()) / flat.numel():.4f} of the weights")
        flat = torch.where(prev, flat, torch.full_like(flat, -float("inf")))
    k = kept_count(flat.numel(), remaining)
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.topk(flat, k, largest=True, sorted=False).indices] = True
    out, i = {}, 0
    for n in names:
        size = scores[n].numel()
        out[n] = keep[i:i + size].view(scores[n].shape).clone()
        i += size
    return out


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    layers = dict(masked_layers(model))
    if not layers:
        raise ConfigError("the model has no masked layers: build it with masked=True")
    return {n: layer.weight.detach() for n, layer in layers.items()}


def magnitude_masks(model: nn.Module, remaining: float, normalise: bool = True,
                    previous: dict[str, torch.Tensor] | None = None
                    ) -> dict[str, torch.Tensor]:
    """Global magnitude pruning of the model's weights as they are now (trained or at init).

    normalise=True divides each layer's |w| by the layer's mean |w| (over the weights still
    kept when a previous mask is given) before the global ranking.
    """
    scores = {}
    for n, w in _weights(model).items():
        a = w.abs()
        if normalise:
            live = a if previous is None else a[previous[n].to(a.device).bool()]
            a = a / live.mean().clamp_min(1e-12) if live.numel() else a
        scores[n] = a
    return global_topk(scores, remaining, previous)


def random_masks(model: nn.Module, remaining: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """Each layer keeps round(remaining * size) weights chosen uniformly at random."""
    check_remaining(remaining)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for n, w in _weights(model).items():
        k = kept_count(w.numel(), remaining)
        keep = torch.zeros(w.numel(), dtype=torch.bool)
        keep[torch.randperm(w.numel(), generator=g)[:k]] = True
        out[n] = keep.view(w.shape)
    return out


def snip_masks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, remaining: float
               ) -> dict[str, torch.Tensor]:
    """SNIP connection sensitivity |w * dL/dw| of the cross-entropy on one batch (the model's
    BatchNorm on batch statistics), ranked globally. The model is left unchanged."""
    layers = dict(masked_layers(model))
    _weights(model)
    modes = {n: (layer.mode, layer.weight.requires_grad) for n, layer in layers.items()}
    was_training = model.training
    try:
        for layer in layers.values():
            layer.set_mode("dense")
        model.train()
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
                 for m in bns if m.track_running_stats]
        weights = [layer.weight for layer in layers.values()]
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, weights)
        for m, (rm, rv, nb) in zip([m for m in bns if m.track_running_stats], saved,
                                   strict=True):
            m.running_mean.copy_(rm)
            m.running_var.copy_(rv)
            m.num_batches_tracked.copy_(nb)
    finally:
        for n, layer in layers.items():
            layer.set_mode(modes[n][0])
            layer.weight.requires_grad_(modes[n][1])
        model.train(was_training)
    scores = {n: (w.detach() * g).abs() for (n, w), g in zip(
        ((n, layer.weight) for n, layer in layers.items()), grads, strict=True)}
    return global_topk(scores, remaining)


__all__ = ["magnitude_masks", "random_masks", "snip_masks", "global_topk", "check_remaining"]
