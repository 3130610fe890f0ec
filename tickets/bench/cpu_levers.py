"""The cpu profile's speed levers: its search step (conv4, PGD-2) under each lever, side by
side: the FC share of FLOPs, host syncs, batch size, torch.compile, and worker processes."""

from __future__ import annotations

import time

import torch

from tickets import models
from tickets.bench.flops import linear_share_of_flops
from tickets.bench.timing import sgd, time_pair


def search_setup(batch: int, width: float = 0.5, threads: int | None = None):
    """An RST search step of the cpu profile: conv4, PGD-2 crafting, SGD on the scores."""
    from tickets.recipes import attack_config

    if threads is not None:
        torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g)
    model = models.build("conv4", width=width, remaining=0.1).to(memory_format=torch.channels_last)
    return model, sgd(model), x, y, attack_config("pgd", 8 / 255, 2)


def search_step(model, opt, x, y, adv, sync: bool = True, acc: list | None = None) -> None:
    """The training loop's step (tickets.train.adversarial_step), with or without the host
    syncs that read the loss and the accuracy every step."""
    from tickets.train import adversarial_step

    loss, logits = adversarial_step(model, opt, x, y, adv, torch.Generator().manual_seed(1))
    if sync:
        loss.item()
        (logits.argmax(1) == y).sum().item()
    elif acc is not None:
        acc.append(loss.detach())


def worker(args: tuple[int, int, int, float]) -> float:
    """Seconds for `steps` search steps, started at the wall-clock time start_at (so that
    workers in separate processes run their timed steps together)."""
    batch, steps, threads, start_at = args
    model, opt, x, y, adv = search_setup(batch, threads=threads)
    search_step(model, opt, x, y, adv)
    time.sleep(max(0.0, start_at - time.time()))
    t = time.perf_counter()
    for _ in range(steps):
        search_step(model, opt, x, y, adv)
    return time.perf_counter() - t


def levers(batch: int = 128, steps: int = 12) -> dict:
    """Images per second of the cpu profile's search step under each lever, side by side."""
    import multiprocessing as mp

    fig: dict = {}
    model, opt, x, y, adv = search_setup(batch)
    # architecture: the share of conv4's forward FLOPs in its fully connected layers bounds
    # what a head without them could save
    fig["fc_share_of_flops"] = linear_share_of_flops(model)
    fig["conv_only_head_speedup_bound"] = 1 / (1 - fig["fc_share_of_flops"])
    # host syncs: .item() every step against results kept on the device
    kept: list = []
    t_sync, t_nosync = time_pair(lambda: search_step(model, opt, x, y, adv, True),
                                 lambda: search_step(model, opt, x, y, adv, False, kept),
                                 torch.device("cpu"), steps)
    fig["search_step_images_per_s"] = batch / t_sync
    fig["host_sync_removed_speedup"] = t_sync / t_nosync
    # batch size, each timed the same way (a warm-up step, then steps in a row)
    for b in (64, 128, 256):
        m, o, xb, yb, a = search_setup(b)
        search_step(m, o, xb, yb, a)
        t = time.perf_counter()
        for _ in range(steps):
            search_step(m, o, xb, yb, a)
        fig[f"batch{b}_images_per_s"] = b * steps / (time.perf_counter() - t)
    # torch.compile (inductor, CPU) of the model, steady state after compilation
    try:
        m, o, xb, yb, a = search_setup(batch)
        cm = torch.compile(m)
        t0 = time.perf_counter()
        search_step(cm, o, xb, yb, a)
        search_step(cm, o, xb, yb, a)
        fig["compile_seconds"] = time.perf_counter() - t0
        te, tc = time_pair(lambda: search_step(model, opt, x, y, adv),
                           lambda: search_step(cm, o, xb, yb, a), torch.device("cpu"), steps)
        fig["compile_speedup"] = te / tc
    except Exception as e:  # noqa: BLE001 - a lever that fails is reported, not fatal
        fig["compile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    # processes: one with all threads against one per core with one thread each; each worker
    # times its own steps after a warm-up step, and the workers run at the same time
    cores = max(1, torch.get_num_threads())
    ctx = mp.get_context("spawn")
    one = worker((batch, steps, cores, 0.0))
    with ctx.Pool(cores) as pool:
        start_at = time.time() + 20  # after every worker has imported torch and warmed up
        many = max(pool.map(worker, [(batch, steps, 1, start_at)] * cores))
    fig[f"processes_1x{cores}_images_per_s"] = batch * steps / one
    fig[f"processes_{cores}x1_images_per_s"] = batch * steps * cores / many
    fig[f"processes_{cores}x1_speedup"] = one * cores / many
    return fig
