"""Timing helpers every bench tool shares: side-by-side pairs, single medians, a train step.

A ratio is measured in one process, on the same inputs, alternating the two sides so that
machine noise hits both alike; the median over repeats is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op off CUDA), so that a clock reads real time."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_pair(a: Callable[[], None], b: Callable[[], None], device: torch.device,
              repeats: int, warmup: int = 2) -> tuple[float, float]:
    """The median seconds of a and of b, called in turn `repeats` times after warm-up calls."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, acc in ((a, ta), (b, tb)):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            acc.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def time_one(fn: Callable[[], None], device: torch.device, repeats: int,
             warmup: int = 2) -> float:
    """The median seconds of fn over repeats, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               opt: torch.optim.Optimizer, adversary: Callable | None = None) -> None:
    """One plain training step (cross-entropy, SGD), on adversary(model, x, y) when given."""
    if adversary is not None:
        x = adversary(model, x, y)
    model.train()
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum over the model's trainable parameters (scores or weights)."""
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01,
                           momentum=0.9)
