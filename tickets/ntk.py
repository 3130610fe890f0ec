"""The empirical neural tangent kernel, kernel distance and output gap.

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

The mask finder that matches kernels (neural tangent transfer, our AWT reconstruction) makes
masks, so it lives with the other mask methods in :mod:`tickets.masks.ntt`.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from tickets.config import ConfigError

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


__all__ = ["empirical_ntk", "kernel_distance", "output_gap", "as_matrix", "kernel_params"]
