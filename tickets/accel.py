"""The accelerator fast path: numeric precision, cuDNN autotuning and the optimiser's kernel.

A run's precision is part of its configuration (`TrainConfig.precision`), so a bf16 run and a
float32 run of the same settings never share a store entry. `default_precision` picks it when
a study builds its configuration: bf16 autocast on CUDA, float32 on the CPU, unless the
environment variable TICKETS_PRECISION says otherwise ('fp32', 'bf16' or 'auto'). bf16 on the
CPU runs under CPU autocast: slower than float32 there, it exists so that the GPU's code path
can be exercised on a machine without one (the gpu profile's dry run in `make test`).

Under bf16 autocast the convolutions and matrix products run in bfloat16, while the losses
(cross-entropy, the attacks' margins) are taken on float32 logits and the inputs, their
perturbations and the gradient whose sign an attack follows stay float32.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import torch

PRECISIONS = ("fp32", "bf16")
ENV = "TICKETS_PRECISION"


def default_precision(device: torch.device | str | None = None) -> str:
    """The precision a new run gets: TICKETS_PRECISION if set to fp32 or bf16, else bf16 on
    CUDA and fp32 elsewhere."""
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in (*PRECISIONS, "auto"):
        raise ValueError(f"invalid {ENV}={choice!r}: allowed values are 'auto', "
                         + ", ".join(repr(p) for p in PRECISIONS))
    if choice != "auto":
        return choice
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device for precision 'bf16'; nothing for 'fp32'."""
    if precision not in PRECISIONS:
        raise ValueError(f"invalid precision={precision!r}: allowed values are {PRECISIONS}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def machine() -> str:
    """What a run's last bits depend on besides its configuration, as one line: torch's
    version, the notebook process's torch threads (the executor's workers set their own), the
    vector instructions of torch's CPU kernels (machines with and without AVX-512 train
    different nets from the same configuration: docs/method.md, "Bit for bit") and the GPU, if
    any. Notebooks print it and verdict records keep it."""
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "unknown")()
    parts = [f"torch {torch.__version__}", f"{torch.get_num_threads()} torch threads",
             f"CPU kernels {capability}"]
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name()}")
    return ", ".join(parts)


def configure(device: torch.device | str) -> None:
    """Process-wide settings for a device: on CUDA, cuDNN picks the fastest convolution
    algorithm for each shape (the shapes of a run repeat every step) and float32 matrix work
    may use TF32. Nothing changes on the CPU."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def sgd(params: Iterable[torch.nn.Parameter], device: torch.device | str, **kw) -> torch.optim.SGD:
    """SGD with the fused CUDA kernel on CUDA (one launch for all parameters; `fused=True`
    asks for it on the CPU too); on the CPU the default implementation otherwise, which keeps
    CPU runs bit-identical to earlier ones. A fused step marks the parameters as changed, so
    cached masks follow the scores."""
    if torch.device(device).type == "cuda":
        kw["fused"] = True
    opt = torch.optim.SGD(list(params), **kw)
    if kw.get("fused"):
        # The fused kernel updates the parameters in place without bumping their version
        # counters, and a masked layer recomputes its cached top-k mask only when its scores'
        # version changes (layers.MaskedMixin.score_mask). Without this hook every RST search
        # on CUDA kept the mask of its initial random scores: the first gpu report's RSTs all
        # sat at 10 % accuracy.
        opt.register_step_post_hook(_bump_versions)
    return opt


def _bump_versions(opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
    """Mark every parameter of `opt` as modified in place (after a fused step)."""
    torch.autograd.graph.increment_version(
        [p for group in opt.param_groups for p in group["params"]])


__all__ = ["PRECISIONS", "ENV", "default_precision", "autocast", "configure", "sgd"]
