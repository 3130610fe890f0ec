"""The empirical neural tangent kernel, kernel distance, output gap, and neural tangent transfer.

The empirical NTK of a network f with weights theta is K(x, x') = J(x) J(x')^T, J = df/dtheta.
Here theta is the conv and linear weights (for a layer in 'fixed' mode the effective weight is
weight * mask, so pruned weights contribute nothing). Kernels are taken in eval mode, so that
every example's output depends on that example alone.

* :func:`empirical_ntk` with ``method="jacrev"``: per-example Jacobians through
  ``torch.func.vmap(jacrev(...))``; exact and simple, memory N * C * |theta|, for small nets.
* ``method="products"``: Jacobian-vector products only, K v = J1 (J2^T v) through
  ``torch.func.vjp`` and ``torch.func.jvp``, vmapped over the basis of the output space; it
  never holds a Jacobian, which suits convnets.
* ``kind="full"`` gives the (N1, N2, C, C) kernel; ``kind="pntk"`` the pseudo-NTK of the
  summed logits / sqrt(C) (Mohamadi et al. 2023), an (N1, N2) kernel C times cheaper.

:func:`neural_tangent_transfer` is our reconstruction of the AWT mask finder (Shi et al. 2022
released neither code nor, here, the full text): learn a mask at initialisation (edge-popup
scores, straight-through) whose outputs and pseudo-NTK on probe inputs match those of the dense
network with the same weights (Liu & Zenke 2020). With adversarial probes (PGD examples against
the dense network) it is our AWT; with clean probes it is the NTT baseline.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from tickets.config import ConfigError
from tickets.layers import get_masks, masked_layers

KINDS = ("full", "pntk")
METHODS = ("jacrev", "products")


def kernel_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights the kernel differentiates: every conv and linear weight, by name."""
    names = {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    params = {f"{n}.weight": m.weight.detach() for n, m in model.named_modules() if n in names}
    if not params:
        raise ConfigError("the model has no conv or linear weights to take a kernel over")
    return params


def _check(kind: str, method: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"invalid kind={kind!r}: allowed values are {KINDS}")
    if method not in METHODS:
        raise ConfigError(f"invalid method={method!r}: allowed values are {METHODS}")


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None,
                  kind: str = "full", method: str = "products", chunk: int = 64
                  ) -> torch.Tensor:
    """The empirical NTK between two batches, in eval mode.

    Returns (N1, N2, C, C) for kind='full' and (N1, N2) for kind='pntk'.
    chunk bounds how many examples (jacrev) or basis vectors (products) are vmapped at once.
    """
    _check(kind, method)
    x2 = x1 if x2 is None else x2
    if x1.dim() != 4 or x2.dim() != 4:
        raise ConfigError(f"x1 and x2 must be image batches (N, C, H, W); got shapes "
                          f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    params = kernel_params(model)
    was_training = model.training
    model.eval()
    try:
        num_classes = functional_call(model, params, (x1[:1],)).shape[1]
        scale = 1.0 / math.sqrt(num_classes)

        def f_batch(p: dict, x: torch.Tensor) -> torch.Tensor:
            out = functional_call(model, p, (x,))
            return out.sum(1, keepdim=True) * scale if kind == "pntk" else out

        if method == "jacrev":
            def f_one(p: dict, x: torch.Tensor) -> torch.Tensor:
                return f_batch(p, x.unsqueeze(0)).squeeze(0)

            def jac(x: torch.Tensor) -> torch.Tensor:
                parts = []
                for i in range(0, len(x), chunk):
                    j = vmap(jacrev(f_one), (None, 0))(params, x[i:i + chunk])
                    parts.append(torch.cat([v.flatten(2) for v in j.values()], dim=2))
                return torch.cat(parts)  # (N, C', P)

            j1 = jac(x1)
            j2 = j1 if x2 is x1 else jac(x2)
            k = torch.einsum("nap,mbp->nmab", j1, j2)
        else:
            _, vjp_fn = vjp(lambda p: f_batch(p, x2), params)

            def column(v: torch.Tensor) -> torch.Tensor:
                (tangent,) = vjp_fn(v)
                return jvp(lambda p: f_batch(p, x1), (params,), (tangent,))[1]

            out_shape = (len(x2), 1 if kind == "pntk" else num_classes)
            basis = torch.eye(out_shape[0] * out_shape[1], device=x1.device,
                              dtype=x1.dtype).view(-1, *out_shape)
            with warnings.catch_warnings():
                # torch.func's jvp scripts a helper and warns that torch.jit.script is
                # deprecated: not ours to act on, and it would print the install path
                warnings.filterwarnings("ignore", message=".*torch.jit.script.*",
                                        category=FutureWarning)
                cols = torch.cat([vmap(column)(basis[i:i + chunk])
                                  for i in range(0, len(basis), chunk)])  # (N2*C, N1, C)
            k = cols.view(out_shape[0], out_shape[1], len(x1), out_shape[1]).permute(2, 0, 3, 1)
    finally:
        model.train(was_training)
    k = k.detach()
    return k[:, :, 0, 0] if kind == "pntk" else k


def as_matrix(k: torch.Tensor) -> torch.Tensor:
    """A (N1, N2, C, C) kernel as the (N1*C, N2*C) matrix it stands for; (N1, N2) unchanged."""
    if k.dim() == 2:
        return k
    n1, n2, c1, c2 = k.shape
    return k.permute(0, 2, 1, 3).reshape(n1 * c1, n2 * c2)


def kernel_distance(k1: torch.Tensor, k2: torch.Tensor) -> float:
    """1 - cos(K1, K2) in the Frobenius inner product (Fort et al. 2020): 0 for kernels equal up
    to scale, 1 for orthogonal ones."""
    a, b = as_matrix(k1).flatten().double(), as_matrix(k2).flatten().double()
    if a.shape != b.shape:
        raise ConfigError(f"kernels of different shapes: {tuple(k1.shape)} and {tuple(k2.shape)}")
    denom = (a.norm() * b.norm()).clamp_min(1e-30)
    return float(1.0 - (a @ b) / denom)


@torch.no_grad()
def output_gap(model: nn.Module, reference: nn.Module, x: torch.Tensor) -> float:
    """||f(x) - f_ref(x)|| / ||f_ref(x)|| over a batch of logits, both in eval mode."""
    states = (model.training, reference.training)
    model.eval()
    reference.eval()
    try:
        a, b = model(x), reference(x)
    finally:
        model.train(states[0])
        reference.train(states[1])
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


# ---- neural tangent transfer ------------------------------------------------------------------
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


def _batch_pntk(out: torch.Tensor, weights: list[torch.Tensor], k: int, create_graph: bool
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
            k_t = _batch_pntk(teacher(xk), t_weights, len(xk), create_graph=False).detach()
            k_s = _batch_pntk(student(xk), s_weights, len(xk), create_graph=True)
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


__all__ = ["empirical_ntk", "kernel_distance", "output_gap", "as_matrix", "kernel_params",
           "NTTSpec", "neural_tangent_transfer", "ntt_passes"]
