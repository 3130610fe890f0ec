"""Neural tangent transfer: a mask learned at initialisation whose network matches the dense
network's outputs and kernel on probe inputs. OUR RECONSTRUCTION of the AWT mask finder (Shi et
al. 2022 released neither code nor, here, the full text), after Liu & Zenke 2020.

The mask is learned as edge-popup scores (straight-through, the masked layers' search mode),
so it keeps the same fraction in every layer. With adversarial probes (PGD examples against
the dense network) it is our AWT; with clean probes it is the NTT baseline. Both are
registered by name in :mod:`tickets.masks.registry`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from tickets.config import ConfigError
from tickets.layers import get_masks, masked_layers


@dataclass(frozen=True)
class NTTSpec:
    """How the mask is learned. The loss on each batch of probes is
    ||f_s - f_d||^2 / ||f_d||^2 + kernel_weight * ||K_s - K_d||_F / ||K_d||_F,
    with K the pseudo-NTK of the first kernel_probes probes, taken on a forward pass of
    those probes alone (their own BatchNorm batch), which keeps the double backward small."""

    steps: int = 200
    batch: int = 64
    kernel_probes: int = 8
    kernel_weight: float = 1.0
    lr: float = 0.01
    seed: int = 0

    def validate(self) -> NTTSpec:
        for name in ("steps", "batch", "kernel_probes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"invalid ntt.{name}={v!r}: must be a positive integer")
        if self.kernel_probes > self.batch:
            raise ConfigError(f"invalid ntt.kernel_probes={self.kernel_probes}: must not exceed "
                              f"ntt.batch={self.batch}")
        for name in ("kernel_weight", "lr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or (name == "lr" and v == 0):
                raise ConfigError(f"invalid ntt.{name}={v!r}: must be a positive number")
        return self


def batch_pntk(out: torch.Tensor, weights: list[torch.Tensor], k: int, create_graph: bool
                ) -> torch.Tensor:
    """Pseudo-NTK of the first k rows of a batch's logits (BatchNorm on batch statistics, so
    the batch is the kernel's context), one backward per row."""
    scale = 1.0 / math.sqrt(out.shape[1])
    rows = []
    for i in range(k):
        g = torch.autograd.grad(out[i].sum() * scale, weights, retain_graph=True,
                                create_graph=create_graph)
        rows.append(torch.cat([t.flatten() for t in g]))
    gm = torch.stack(rows)
    return gm @ gm.T


def neural_tangent_transfer(student: nn.Module, teacher: nn.Module, probes: torch.Tensor,
                            spec: NTTSpec, progress: Callable[[int], None] | None = None
                            ) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Learn the student's mask (search mode, its remaining ratio set) so that its outputs and
    pseudo-NTK on probes match the teacher's (the dense net with the same weights).

    Returns the masks and a history of the loss terms. Both nets run BatchNorm on batch
    statistics. The student's weights are never changed.
    """
    spec.validate()
    layers = dict(masked_layers(student))
    if not layers or any(layer.mode != "search" for layer in layers.values()):
        raise ConfigError("the student must be a masked model in 'search' mode")
    scores = [layer.scores for layer in layers.values()]
    s_weights = [layer.weight for layer in layers.values()]
    t_weights = [m.weight for m in teacher.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    saved_req = [w.requires_grad for w in s_weights + t_weights]
    opt = torch.optim.Adam(scores, lr=spec.lr)
    g = torch.Generator().manual_seed(spec.seed)
    history: list[dict] = []
    student.train()
    teacher.train()
    t0 = time.perf_counter()
    try:
        for w in s_weights + t_weights:
            w.requires_grad_(True)
        for step in range(spec.steps):
            idx = torch.randint(len(probes), (min(spec.batch, len(probes)),), generator=g)
            x = probes[idx.to(probes.device)]
            xk = x[:spec.kernel_probes]
            k_t = batch_pntk(teacher(xk), t_weights, len(xk), create_graph=False).detach()
            k_s = batch_pntk(student(xk), s_weights, len(xk), create_graph=True)
            with torch.no_grad():
                f_t = teacher(x)
            f_s = student(x)
            out_loss = (f_s - f_t).pow(2).sum() / f_t.pow(2).sum().clamp_min(1e-12)
            ker_loss = (k_s - k_t).norm() / k_t.norm().clamp_min(1e-12)
            loss = out_loss + spec.kernel_weight * ker_loss
            opt.zero_grad(set_to_none=True)
            loss.backward(inputs=scores)
            opt.step()
            history.append({"step": step + 1, "output_loss": out_loss.item(),
                            "kernel_loss": ker_loss.item(), "loss": loss.item()})
            if progress is not None:
                progress(1)
    finally:
        for w, r in zip(s_weights + t_weights, saved_req, strict=True):
            w.requires_grad_(r)
            w.grad = None
    history.append({"seconds": time.perf_counter() - t0})
    return get_masks(student), history


def ntt_passes(spec: NTTSpec) -> int:
    """Forward+backward passes of one NTT run, counted in examples: per step, the output
    match (teacher forward, student forward and backward: 2 passes of the batch) and the
    kernel match (k backward passes of the k probes for each net, then the double backward
    through the student's k: about 3k passes of k examples)."""
    k = spec.kernel_probes
    return spec.steps * (2 * spec.batch + 3 * k * k)


__all__ = ["NTTSpec", "batch_pntk", "neural_tangent_transfer", "ntt_passes"]
