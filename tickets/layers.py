"""Masked Conv2d and Linear layers: edge-popup scores, fixed masks, or plain dense weights.

A masked layer is in one of three modes:

* ``"search"``: the weights are frozen at their random init; a learnable score per weight (or
  per row, kernel or output channel) decides which weights are kept. In every layer the top
  ``remaining`` fraction by |score| is kept. The gradient reaches the scores through a
  straight-through estimator: d mask / d |score| is taken as the identity.
* ``"fixed"``: a fixed binary mask (a buffer) and trainable weights, for fine-tuning and
  pruning studies.
* ``"dense"``: the weights alone, trainable; the mask is ignored.

The top-k mask is computed once per change of the scores and cached: the cache is keyed on
the scores tensor's version counter, which every in-place optimiser update bumps. Attack steps
between two optimiser steps reuse it instead of re-sorting every layer on every forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from tickets.config import INITS, PATTERNS, ConfigError

MODES = ("search", "fixed", "dense")


def kept_count(n: int, remaining: float) -> int:
    """How many of n units a layer keeps: round(remaining * n), at least one."""
    if not 0.0 < remaining <= 1.0:
        raise ConfigError(f"invalid remaining={remaining!r}: must lie in (0, 1]")
    return max(1, min(n, int(round(remaining * n))))


def score_shape(weight_shape: torch.Size, pattern: str) -> tuple[int, ...]:
    """Shape of the score tensor for a weight shape and a sparsity pattern.

    Conv weights are (out, in, kh, kw). 'row' scores one kernel row (out, in, kh, 1), 'kernel'
    one kh x kw kernel (out, in, 1, 1), 'channel' one output channel (out, 1, 1, 1). Linear
    layers have no rows or kernels, so their scores are always element-wise.
    """
    if pattern not in PATTERNS:
        raise ConfigError(f"invalid pattern={pattern!r}: allowed values are {PATTERNS}")
    shape = tuple(weight_shape)
    if len(shape) != 4 or pattern == "element":
        return shape
    out, cin, kh, _ = shape
    return {"row": (out, cin, kh, 1), "kernel": (out, cin, 1, 1), "channel": (out, 1, 1, 1)}[pattern]


def topk_mask(scores: torch.Tensor, remaining: float) -> torch.Tensor:
    """Binary mask (same dtype as scores) keeping the top `remaining` fraction by |score|."""
    flat = scores.detach().abs().flatten()
    k = kept_count(flat.numel(), remaining)
    mask = torch.zeros_like(flat)
    if k == flat.numel():
        mask.fill_(1.0)
    else:
        idx = torch.topk(flat, k, largest=True, sorted=False).indices
        mask[idx] = 1.0
    return mask.view_as(scores)


def init_weight_(weight: torch.Tensor, init: str, generator: torch.Generator) -> None:
    """Fill a weight in place. signed_constant is sign(w0) * sqrt(2 / fan_in)."""
    if init not in INITS:
        raise ConfigError(f"invalid init={init!r}: allowed values are {INITS}")
    fan_in = weight[0].numel()
    fan_out = weight.shape[0] * (weight[0, 0].numel() if weight.dim() > 2 else 1)
    with torch.no_grad():
        cpu = torch.empty(weight.shape, dtype=torch.float32)
        if init == "signed_constant":
            cpu.normal_(generator=generator)
            cpu = cpu.sign() * math.sqrt(2.0 / fan_in)
        elif init == "kaiming_normal":
            cpu.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        elif init == "kaiming_uniform":
            bound = math.sqrt(6.0 / fan_in)
            cpu.uniform_(-bound, bound, generator=generator)
        else:  # xavier_normal
            cpu.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)
        weight.copy_(cpu)


def init_scores_(scores: torch.Tensor, generator: torch.Generator) -> None:
    """Kaiming-uniform scores (PyTorch's default layer init, a=sqrt(5))."""
    fan_in = scores[0].numel()
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    with torch.no_grad():
        cpu = torch.empty(scores.shape, dtype=torch.float32).uniform_(-bound, bound,
                                                                      generator=generator)
        scores.copy_(cpu)


class MaskedMixin:
    """Shared machinery of MaskedConv2d and MaskedLinear."""

    weight: nn.Parameter
    scores: nn.Parameter
    mask: torch.Tensor

    def _setup_mask(self, pattern: str) -> None:
        self.pattern = pattern
        self.mode = "search"
        self.remaining = 1.0
        self.cache_mask = True
        self.scores = nn.Parameter(torch.zeros(score_shape(self.weight.shape, pattern)))
        self.register_buffer("mask", torch.ones_like(self.weight))
        self._cache_key: tuple | None = None
        self._cached_mask: torch.Tensor | None = None
        self.set_mode("search")

    # ---- mode and mask management -------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ConfigError(f"invalid mode={mode!r}: allowed values are {MODES}")
        self.mode = mode
        self.weight.requires_grad_(mode != "search")
        self.scores.requires_grad_(mode == "search")

    def set_remaining(self, remaining: float) -> None:
        kept_count(self.scores.numel(), remaining)  # validates
        self.remaining = float(remaining)
        self._cache_key = None

    def score_mask(self) -> torch.Tensor:
        """The current top-k mask at score granularity, cached until the scores change."""
        key = (self.scores._version, self.scores.data_ptr(), self.remaining)
        if not self.cache_mask or self._cached_mask is None or key != self._cache_key:
            self._cached_mask = topk_mask(self.scores, self.remaining)
            self._cache_key = key
        return self._cached_mask

    def current_mask(self) -> torch.Tensor:
        """The weight-shaped binary mask in force in the current mode."""
        if self.mode == "search":
            return self.score_mask().expand_as(self.weight).to(self.weight.dtype)
        if self.mode == "fixed":
            return self.mask
        return torch.ones_like(self.weight)

    def freeze_mask(self) -> None:
        """Copy the searched mask into the fixed-mask buffer (before fine-tuning, say)."""
        with torch.no_grad():
            self.mask.copy_(self.score_mask().expand_as(self.weight))

    def effective_weight(self) -> torch.Tensor:
        if self.mode == "dense":
            return self.weight
        if self.mode == "fixed":
            return self.weight * self.mask
        mask = self.score_mask()
        if self.scores.requires_grad and torch.is_grad_enabled():
            # Straight-through: forward value is the binary mask, the gradient reaches |scores|
            # unchanged (and then the scores through abs).
            a = self.scores.abs()
            mask = mask + (a - a.detach())
        return self.weight * mask

    def kept(self) -> int:
        return int(self.current_mask().sum().item())


class MaskedConv2d(MaskedMixin, nn.Conv2d):
    def __init__(self, *args, pattern: str = "element", **kwargs) -> None:
        kwargs.setdefault("bias", False)
        super().__init__(*args, **kwargs)
        if self.bias is not None:
            raise ConfigError("MaskedConv2d has no bias (the paper's convs have none)")
        self._setup_mask(pattern)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), None)


class MaskedLinear(MaskedMixin, nn.Linear):
    def __init__(self, in_features: int, out_features: int, pattern: str = "element",
                 bias: bool = False) -> None:
        super().__init__(in_features, out_features, bias=False)
        # a linear layer has no rows or kernels: its scores are element-wise whatever the
        # model's pattern (score_shape says the same for 2-d weights)
        self._setup_mask("element")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight())


# ---- whole-model helpers --------------------------------------------------------------------
def masked_layers(model: nn.Module) -> Iterator[tuple[str, MaskedMixin]]:
    for name, module in model.named_modules():
        if isinstance(module, MaskedMixin):
            yield name, module


def set_mode(model: nn.Module, mode: str) -> None:
    for _, layer in masked_layers(model):
        layer.set_mode(mode)


def set_remaining(model: nn.Module, remaining: float) -> None:
    for _, layer in masked_layers(model):
        layer.set_remaining(remaining)


def set_mask_caching(model: nn.Module, enabled: bool) -> None:
    """Turn the mask cache off to measure the cost of re-sorting on every forward pass."""
    for _, layer in masked_layers(model):
        layer.cache_mask = enabled
        layer._cached_mask = None


def freeze_masks(model: nn.Module) -> None:
    for _, layer in masked_layers(model):
        layer.freeze_mask()


def get_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight-shaped binary masks in force, by layer name (bool tensors on the CPU)."""
    return {name: layer.current_mask().detach().bool().cpu() for name, layer in masked_layers(model)}


def set_fixed_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Install masks into the fixed-mask buffers and switch every masked layer to 'fixed'."""
    layers = dict(masked_layers(model))
    if set(layers) != set(masks):
        raise ConfigError(f"mask names do not match the model's masked layers: "
                          f"missing {sorted(set(layers) - set(masks))}, "
                          f"unexpected {sorted(set(masks) - set(layers))}")
    for name, layer in layers.items():
        with torch.no_grad():
            layer.mask.copy_(masks[name].to(layer.mask))
        layer.set_mode("fixed")


@torch.no_grad()
def apply_masks_(model: nn.Module) -> None:
    """Zero the pruned weights of every layer in 'fixed' mode (called after each optimiser
    step, so that momentum and weight decay never leave a pruned weight non-zero)."""
    for _, layer in masked_layers(model):
        if layer.mode == "fixed":
            layer.weight.mul_(layer.mask)
