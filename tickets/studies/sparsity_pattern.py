"""Study 03: element-, row-, kernel- and channel-wise tickets, and what a channel ticket buys:
compacted into a smaller dense network, it runs faster on a CPU."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from tickets import compact
from tickets.config import RunConfig
from tickets.data import Data
from tickets.models import build_from_config
from tickets.recipes import dense_config, rst_config
from tickets.store import Store
from tickets.sweeps import variant_config
from tickets.train import train


def weight_counts(m: nn.Module) -> tuple[int, int]:
    """(weights, weights kept by the masks or non-zero) over the conv and linear layers."""
    mods = [mm for mm in m.modules() if isinstance(mm, (nn.Conv2d, nn.Linear))]
    return (sum(mm.weight.numel() for mm in mods),
            sum(int(mm.kept()) if hasattr(mm, "kept") else int((mm.weight != 0).sum())
                for mm in mods))


def median_times(nets: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of one forward pass of each net on x, interleaved, after two warm-ups."""
    times: dict[str, list[float]] = {k: [] for k in nets}
    with torch.no_grad():
        for _ in range(2):
            for m in nets.values():
                m(x)
        for _ in range(repeats):
            for k, m in nets.items():
                t0 = time.perf_counter()
                m(x)
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def compaction_speed(cfg: RunConfig, ratio: float, data: Data, batch: int = 256,
                     repeats: int = 10, store: Store | None = None) -> dict:
    """Compact the channel-wise RST of `ratio`, check its logits against the masked model, and
    time inference (CPU, one process, interleaved) for the dense network, the element-wise
    masked RST, the channel-wise masked RST and the compacted one. Timings are not cached."""
    def stored(pattern: str) -> nn.Module:
        # the grid's own configuration of the pattern (sweeps.variant_config), so that its
        # run is read back from the store rather than trained a second time
        c = rst_config(variant_config(cfg, {"model.pattern": pattern}), ratio)
        return train(c, data, store, device="cpu", progress=False).model("best", "cpu")

    ch, el = stored("channel"), stored("element")
    cl = torch.channels_last  # as the trained models are (see train.prepare_model)
    small = compact.compact(ch).to(memory_format=cl)
    dense = build_from_config(dense_config(cfg).model).eval().to(memory_format=cl)
    x = data.test.images(slice(0, batch)).cpu()
    with torch.no_grad():
        gap = (ch(x) - small(x)).abs().max().item()
    nets = {"dense network": dense, "element-wise RST (masked)": el,
            "channel-wise RST (masked)": ch, "channel-wise RST (compacted)": small}
    med = median_times(nets, x, repeats)
    rows = [{"model": k, "ms_per_batch": 1000 * v, "images_per_s": batch / v,
             "speedup_vs_dense": med["dense network"] / v,
             "weights": weight_counts(nets[k])[0], "nonzero_weights": weight_counts(nets[k])[1]}
            for k, v in med.items()]
    return {"rows": rows, "max_logit_gap": gap, "batch": batch, "repeats": repeats}


__all__ = ["compaction_speed", "median_times", "weight_counts"]
