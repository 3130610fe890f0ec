"""Floating-point operations of a network, counted by torch's FlopCounterMode."""

from __future__ import annotations

import torch


def forward_flops(model: torch.nn.Module, device: torch.device) -> float:
    """Floating-point operations of one forward pass of one CIFAR image (torch's counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 32, 32, device=device)
    model.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    return float(fc.get_total_flops())


def linear_share_of_flops(model: torch.nn.Module) -> float:
    """The share of one forward pass's FLOPs spent in matrix products (the fully connected
    layers) rather than convolutions."""
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    model.eval()
    p = next(model.parameters())
    x = torch.rand(1, 3, 32, 32, device=p.device).contiguous(
        memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    model.train(was)
    ops = {str(k): v for k, v in fc.get_flop_counts()["Global"].items()}
    linear = sum(v for k, v in ops.items() if k.split(".")[-1] in ("mm", "addmm", "bmm"))
    return linear / max(1, fc.get_total_flops())
