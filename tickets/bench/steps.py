"""Step figures: a masked train step against a dense one, the cached mask against re-sorting,
our PGD against a textbook one, and channels_last, each measured side by side."""

from __future__ import annotations

import platform

import torch
import torch.nn.functional as F

from tickets import attacks, layers, models
from tickets.bench.timing import sgd, time_pair, train_step


def reference_pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=10):
    """A straightforward PGD as commonly written: loss.backward() fills parameter grads too."""
    model.eval()
    xa = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        xa = xa.detach().requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        model.zero_grad()
        loss.backward()
        xa = torch.min(torch.max(xa + alpha * xa.grad.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def step_figures(device: torch.device, batch: int, repeats: int, quick: bool = False) -> dict:
    """The bench's header (device, torch, threads, batch) and its step figures on random
    images; quick: conv4 only (no ResNet-18 in the masked-against-dense pair)."""
    out: dict = {"device": str(device), "torch": torch.__version__, "threads":
                 torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
                 "batch": batch, "repeats": repeats, "figures": {}}
    fig = out["figures"]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    nets = [("conv4", 0.5), ("resnet18", 0.25)]
    if quick:
        nets = nets[:1]

    # 1. masked (search mode, cached mask) against dense, one clean train step
    for name, width in nets:
        dense = models.build(name, width=width, masked=False).to(device)
        masked = models.build(name, width=width, masked=True, remaining=0.1).to(device)
        od, om = sgd(dense), sgd(masked)
        td, tm = time_pair(lambda d=dense, o=od: train_step(d, x, y, o),
                           lambda m=masked, o=om: train_step(m, x, y, o), device, repeats)
        fig[f"{name}_w{width}_dense_step_s"] = td
        fig[f"{name}_w{width}_masked_step_s"] = tm
        fig[f"{name}_w{width}_masked_over_dense"] = tm / td

    # 2. a search step under PGD-7: cached mask against re-sorting on every forward pass
    net = models.build("conv4", width=0.5, remaining=0.1).to(device)
    net_nc = models.build("conv4", width=0.5, remaining=0.1).to(device)
    layers.set_mask_caching(net_nc, False)
    o1, o2 = sgd(net), sgd(net_nc)

    def adv(m, xx, yy):
        return attacks.pgd(m, xx, yy, steps=7)

    tc, tn = time_pair(lambda: train_step(net, x, y, o1, adv),
                       lambda: train_step(net_nc, x, y, o2, adv), device, max(2, repeats // 2))
    fig["search_pgd7_cached_step_s"] = tc
    fig["search_pgd7_resort_step_s"] = tn
    fig["search_pgd7_resort_over_cached"] = tn / tc
    fig["search_pgd7_images_per_s"] = batch / tc
    fig["search_pgd7_passes_per_s"] = batch * 8 / tc

    # 3. PGD-10 throughput: ours against the reference on the same model
    net.eval()
    to, tr = time_pair(lambda: attacks.pgd(net, x, y, steps=10),
                       lambda: reference_pgd(net, x, y, steps=10), device, max(2, repeats // 2))
    fig["pgd10_ours_images_per_s"] = batch / to
    fig["pgd10_reference_images_per_s"] = batch / tr
    fig["pgd10_reference_over_ours"] = tr / to

    # 4. channels_last on this device, dense conv4 train step
    d1 = models.build("conv4", width=0.5, masked=False).to(device)
    d2 = models.build("conv4", width=0.5, masked=False).to(device).to(
        memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    p1, p2 = sgd(d1), sgd(d2)
    t1, t2 = time_pair(lambda: train_step(d1, x, y, p1), lambda: train_step(d2, xc, y, p2),
                       device, repeats)
    fig["conv4_channels_last_speedup"] = t1 / t2
    fig["conv4_dense_train_images_per_s"] = batch / t1
    return out
