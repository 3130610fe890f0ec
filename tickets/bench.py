"""`make bench`: speed figures, printed and written to JSON. Figures, not assertions.

Each ratio is measured side by side in one process, on the same inputs, alternating the two
sides so that machine noise hits both alike; the median over repeats is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from tickets import attacks, layers, models
from tickets.store import atomic_write_json


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_pair(a: Callable[[], None], b: Callable[[], None], device: torch.device,
               repeats: int, warmup: int = 2) -> tuple[float, float]:
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, acc in ((a, ta), (b, tb)):
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            acc.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def _time_one(fn: Callable[[], None], device: torch.device, repeats: int,
              warmup: int = 2) -> float:
    """The median seconds of fn over repeats, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                opt: torch.optim.Optimizer, adversary: Callable | None = None) -> None:
    if adversary is not None:
        x = adversary(model, x, y)
    model.train()
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _opt(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01,
                           momentum=0.9)


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


def run(device: torch.device, batch: int, repeats: int, quick: bool = False) -> dict:
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
        od, om = _opt(dense), _opt(masked)
        td, tm = _time_pair(lambda d=dense, o=od: _train_step(d, x, y, o),
                            lambda m=masked, o=om: _train_step(m, x, y, o), device, repeats)
        fig[f"{name}_w{width}_dense_step_s"] = td
        fig[f"{name}_w{width}_masked_step_s"] = tm
        fig[f"{name}_w{width}_masked_over_dense"] = tm / td

    # 2. a search step under PGD-7: cached mask against re-sorting on every forward pass
    net = models.build("conv4", width=0.5, remaining=0.1).to(device)
    net_nc = models.build("conv4", width=0.5, remaining=0.1).to(device)
    layers.set_mask_caching(net_nc, False)
    o1, o2 = _opt(net), _opt(net_nc)

    def adv(m, xx, yy):
        return attacks.pgd(m, xx, yy, steps=7)

    tc, tn = _time_pair(lambda: _train_step(net, x, y, o1, adv),
                        lambda: _train_step(net_nc, x, y, o2, adv), device, max(2, repeats // 2))
    fig["search_pgd7_cached_step_s"] = tc
    fig["search_pgd7_resort_step_s"] = tn
    fig["search_pgd7_resort_over_cached"] = tn / tc
    fig["search_pgd7_images_per_s"] = batch / tc
    fig["search_pgd7_passes_per_s"] = batch * 8 / tc

    # 3. PGD-10 throughput: ours against the reference on the same model
    net.eval()
    to, tr = _time_pair(lambda: attacks.pgd(net, x, y, steps=10),
                        lambda: reference_pgd(net, x, y, steps=10), device, max(2, repeats // 2))
    fig["pgd10_ours_images_per_s"] = batch / to
    fig["pgd10_reference_images_per_s"] = batch / tr
    fig["pgd10_reference_over_ours"] = tr / to

    # 4. channels_last on this device, dense conv4 train step
    d1 = models.build("conv4", width=0.5, masked=False).to(device)
    d2 = models.build("conv4", width=0.5, masked=False).to(device).to(
        memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    p1, p2 = _opt(d1), _opt(d2)
    t1, t2 = _time_pair(lambda: _train_step(d1, x, y, p1), lambda: _train_step(d2, xc, y, p2),
                        device, repeats)
    fig["conv4_channels_last_speedup"] = t1 / t2
    fig["conv4_dense_train_images_per_s"] = batch / t1
    return out


# ---- the cpu profile's speed levers (issue: a cpu profile whose networks learn) ---------------
def _search_setup(batch: int, width: float = 0.5, threads: int | None = None):
    """An RST search step of the cpu profile: conv4, PGD-2 crafting, SGD on the scores."""
    from tickets.recipes import attack_config

    if threads is not None:
        torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g)
    model = models.build("conv4", width=width, remaining=0.1).to(memory_format=torch.channels_last)
    return model, _opt(model), x, y, attack_config("pgd", 8 / 255, 2)


def _search_step(model, opt, x, y, adv, sync: bool = True, acc: list | None = None) -> None:
    """The training loop's step (tickets.train.adversarial_step), with or without the host
    syncs that read the loss and the accuracy every step."""
    from tickets.train import adversarial_step

    loss, logits = adversarial_step(model, opt, x, y, adv, torch.Generator().manual_seed(1))
    if sync:
        loss.item()
        (logits.argmax(1) == y).sum().item()
    elif acc is not None:
        acc.append(loss.detach())


def _worker(args: tuple[int, int, int, float]) -> float:
    """Seconds for `steps` search steps, started at the wall-clock time start_at (so that
    workers in separate processes run their timed steps together)."""
    batch, steps, threads, start_at = args
    model, opt, x, y, adv = _search_setup(batch, threads=threads)
    _search_step(model, opt, x, y, adv)
    time.sleep(max(0.0, start_at - time.time()))
    t = time.perf_counter()
    for _ in range(steps):
        _search_step(model, opt, x, y, adv)
    return time.perf_counter() - t


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


def levers(batch: int = 128, steps: int = 12) -> dict:
    """Images per second of the cpu profile's search step under each lever, side by side."""
    import multiprocessing as mp

    fig: dict = {}
    model, opt, x, y, adv = _search_setup(batch)
    # architecture: the share of conv4's forward FLOPs in its fully connected layers bounds
    # what a head without them could save
    fig["fc_share_of_flops"] = linear_share_of_flops(model)
    fig["conv_only_head_speedup_bound"] = 1 / (1 - fig["fc_share_of_flops"])
    # host syncs: .item() every step against results kept on the device
    kept: list = []
    t_sync, t_nosync = _time_pair(lambda: _search_step(model, opt, x, y, adv, True),
                                  lambda: _search_step(model, opt, x, y, adv, False, kept),
                                  torch.device("cpu"), steps)
    fig["search_step_images_per_s"] = batch / t_sync
    fig["host_sync_removed_speedup"] = t_sync / t_nosync
    # batch size, each timed the same way (a warm-up step, then steps in a row)
    for b in (64, 128, 256):
        m, o, xb, yb, a = _search_setup(b)
        _search_step(m, o, xb, yb, a)
        t = time.perf_counter()
        for _ in range(steps):
            _search_step(m, o, xb, yb, a)
        fig[f"batch{b}_images_per_s"] = b * steps / (time.perf_counter() - t)
    # torch.compile (inductor, CPU) of the model, steady state after compilation
    try:
        m, o, xb, yb, a = _search_setup(batch)
        cm = torch.compile(m)
        t0 = time.perf_counter()
        _search_step(cm, o, xb, yb, a)
        _search_step(cm, o, xb, yb, a)
        fig["compile_seconds"] = time.perf_counter() - t0
        te, tc = _time_pair(lambda: _search_step(model, opt, x, y, adv),
                            lambda: _search_step(cm, o, xb, yb, a), torch.device("cpu"), steps)
        fig["compile_speedup"] = te / tc
    except Exception as e:  # noqa: BLE001 - a lever that fails is reported, not fatal
        fig["compile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    # processes: one with all threads against one per core with one thread each; each worker
    # times its own steps after a warm-up step, and the workers run at the same time
    cores = max(1, torch.get_num_threads())
    ctx = mp.get_context("spawn")
    one = _worker((batch, steps, cores, 0.0))
    with ctx.Pool(cores) as pool:
        start_at = time.time() + 20  # after every worker has imported torch and warmed up
        many = max(pool.map(_worker, [(batch, steps, 1, start_at)] * cores))
    fig[f"processes_1x{cores}_images_per_s"] = batch * steps / one
    fig[f"processes_{cores}x1_images_per_s"] = batch * steps * cores / many
    fig[f"processes_{cores}x1_speedup"] = one * cores / many
    return fig


def scale_probe(which: list[str], epochs: int = 12, width: float = 0.5, lr: float = 0.1,
                n_train: int = 10_000, store: str = "bench/probe-store",
                batch_size: int = 128, augment: bool = True, seed: int = 0) -> dict:
    """Accuracy and time of single runs at a candidate cpu scale (conv4, PGD-2 training,
    cosine lr, batch 128 unless told, random crop and flip unless augment is off; strict
    protocol, PGD-20 on 1,000 test images): `which` holds 'dense' and remaining ratios of
    RSTs; seed is the search seed (tickets.recipes.with_seed). Needs the data (TICKETS_DATA)."""
    from tickets.config import replace as cfg_replace
    from tickets.evaluation import EvalSpec, evaluate_run, load_data
    from tickets.recipes import base_config, dense_config, rst_config, with_seed
    from tickets.store import Store
    from tickets.train import fit

    cfg = base_config(model="conv4", width=width, n_train=n_train, n_val=1000, epochs=epochs,
                      batch_size=batch_size, lr=lr, schedule="cosine", adversary="pgd",
                      adv_steps=2, val_steps=5, n_val_eval=500, track_test=False)
    if not augment:
        cfg = cfg_replace(cfg, **{"data.augment": False})
    cfg = with_seed(cfg, seed)
    data = load_data(cfg, 1000)
    spec = EvalSpec(n_test=1000, pgd_steps=20, aa_n=0, paper_protocol=False)
    out = {}
    for w in which:
        c = dense_config(cfg) if w == "dense" else rst_config(cfg, float(w))
        t = time.perf_counter()
        run = fit(c, data, Store(store), progress=False)
        ev = evaluate_run(run, data, spec, Store(store))
        out[w] = {"clean": ev["clean"], "pgd20": ev["pgd"], "train_seconds": run.seconds,
                  "wall_seconds": time.perf_counter() - t, "best_epoch": run.best_epoch}
    return out


def sweep_speedup(n_runs: int = 4, epochs: int = 2, n_train: int = 5000, workers: int = 2,
                  store: str = "bench/sweep-store") -> dict:
    """Wall time of one small sweep of the cpu profile's RST searches (conv4 width 0.5, PGD-2,
    batch 128; n_runs seeds at 10 % remaining) trained through the `inline` executor with all
    torch threads, then again from an empty store through `local:workers`, each worker with
    cores / workers threads. Process start-up and data loading count: they are part of what a
    study pays. Needs the data (TICKETS_DATA)."""
    from tickets import executor
    from tickets.evaluation import load_data
    from tickets.recipes import base_config, rst_config, with_seed
    from tickets.store import Store
    from tickets.train import fit

    cfg = base_config(model="conv4", width=0.5, n_train=n_train, n_val=1000, epochs=epochs,
                      batch_size=128, lr=0.1, schedule="cosine", adversary="pgd", adv_steps=2,
                      val_steps=5, n_val_eval=500, track_test=False)
    cfgs = [rst_config(with_seed(cfg, s), 0.1) for s in range(n_runs)]
    data = load_data(cfg, 1000)
    out: dict = {"n_runs": n_runs, "epochs": epochs, "n_train": n_train, "workers": workers}
    for kind in ("inline", f"local:{workers}"):
        root = Path(store) / kind.replace(":", "")
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        executor.train_all(cfgs, data, Store(root), progress=False, spec=executor.parse(kind))
        for c in cfgs:  # inline trains here; after local this only reads the finished runs
            fit(c, data, Store(root), progress=False)
        out[f"{kind}_seconds"] = time.perf_counter() - t
    out[f"sweep_local{workers}_speedup"] = out["inline_seconds"] / out[f"local:{workers}_seconds"]
    return out


# ---- the GPU fast path (issue: the gpu profile, ready on first contact with a GPU) ------------
# Dense bf16 tensor-core peaks in TFLOP/s, from NVIDIA's H100 and H200 datasheets (the sparse
# figures are twice these).
BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0}


def bf16_peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of a GPU by its name, or None when it is not in the table."""
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if all(part in name for part in key.split()):
            return BF16_PEAK_TFLOPS[key]
    return None


def forward_flops(model: torch.nn.Module, device: torch.device) -> float:
    """Floating-point operations of one forward pass of one CIFAR image (torch's counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 32, 32, device=device)
    model.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    return float(fc.get_total_flops())


def _fast_search(device: torch.device, name: str, width: float, batch: int, steps: int,
                 bf16: bool = True, channels_last: bool = True, fused: bool = True,
                 benchmark: bool = True, compiled: bool = False):
    """A search step (RST at 10 % remaining, PGD-`steps` crafting) with each part of the fast
    path on or off; returns the step as a closure."""
    from tickets import accel
    from tickets.recipes import attack_config
    from tickets.train import adversarial_step

    torch.backends.cudnn.benchmark = benchmark and device.type == "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = models.build(name, width=width, remaining=0.1).to(device, memory_format=fmt)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (accel.sgd(params, device, lr=0.01, momentum=0.9) if fused
           else torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=True))
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, device=device, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device, generator=g)
    adv = attack_config("pgd", 8 / 255, steps)
    ctx = accel.autocast("bf16" if bf16 else "fp32", device)
    run = torch.compile(model) if compiled else model

    def step() -> None:
        with ctx:
            adversarial_step(run, opt, x, y, adv, g)

    return step, model, x, y


def gpu_levers(device: torch.device, name: str = "resnet18", width: float = 1.0,
               batch: int = 512, steps: int = 3, repeats: int = 10, compile: bool = True) -> dict:
    """Images per second of the gpu profile's search step (PGD-`steps`) with the whole fast
    path, the ratio that each part brings (fast path against fast path without that part),
    PGD-20 evaluation throughput, and the share of the GPU's bf16 peak they reach."""
    from tickets import accel

    fig: dict = {}
    full, model, x, y = _fast_search(device, name, width, batch, steps)
    fulls = []  # the fast path's step time, from every side-by-side comparison
    for part in ("bf16", "channels_last", "fused", "benchmark"):
        without, *_ = _fast_search(device, name, width, batch, steps, **{part: False})
        t_full, t_without = _time_pair(full, without, device, repeats)
        fig[f"fast_path_{part}_speedup"] = t_without / t_full
        fulls.append(t_full)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    fig["search_images_per_s"] = batch / statistics.median(fulls)
    net = model.eval()
    with accel.autocast("bf16", device):
        t_eval = _time_one(lambda: attacks.pgd(net, x, y, steps=20), device,
                           max(2, repeats // 2))
    fig["pgd20_eval_images_per_s"] = batch / t_eval
    fwd = forward_flops(models.build(name, width=width, remaining=0.1).to(device), device)
    fig["forward_gflops_per_image"] = fwd / 1e9
    # a forward+backward pass counted as 3 forward passes (the usual estimate)
    search_tflops = fig["search_images_per_s"] * (steps + 1) * 3 * fwd / 1e12
    eval_tflops = fig["pgd20_eval_images_per_s"] * 20 * 3 * fwd / 1e12
    fig["search_tflops"], fig["pgd20_eval_tflops"] = search_tflops, eval_tflops
    peak = bf16_peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    if peak:
        fig["search_share_of_bf16_peak"] = search_tflops / peak
        fig["pgd20_eval_share_of_bf16_peak"] = eval_tflops / peak
    if not compile:
        return fig
    try:  # torch.compile of the model, in steady state after compilation
        step_c, *_ = _fast_search(device, name, width, batch, steps, compiled=True)
        t0 = time.perf_counter()
        step_c()
        _sync(device)
        fig["compile_seconds"] = time.perf_counter() - t0
        te, tc = _time_pair(full, step_c, device, repeats)
        fig["compile_speedup"] = te / tc
    except Exception as e:  # noqa: BLE001 - a lever that fails is reported, not fatal
        fig["compile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    return fig


# ---- projected device time of a profile (no GPU needed) ---------------------------------------
# Published anchor for the sustained rate of a convnet under mixed precision: NVIDIA's
# DeepLearningExamples, ResNet-50 v1.5 for PyTorch, 1 x A100 80GB, mixed precision training:
# 2,470 img/s. At 4.1 GMACs (8.2 GFLOPs) a forward pass and 3 forward passes' worth per
# training image that is 2,470 x 24.6 GFLOP = 61 TFLOP/s, 19.5 % of the A100's 312 TFLOP/s
# dense fp16/bf16 peak. The projection applies the same share to the H100's peak.
ANCHOR_SHARE_OF_PEAK = 2470 * 3 * 8.2e9 / 312e12
AA_PASSES_PER_IMAGE = 1000  # rough: APGD-CE, then APGD-T and FAB-T on the survivors


def _eval_passes(store: Path, scale: float) -> float:
    """Attack passes of the stored evaluations: PGD-k on n images costs (k+1) n; AutoAttack
    AA_PASSES_PER_IMAGE per image. scale: the profile's test images over the dry run's."""
    total = 0.0
    for cfg_file in store.glob("eval-*/config.json"):
        c = json.loads(cfg_file.read_text())
        m = re.match(r"PGD-(\d+)", str(c.get("attack", "")))
        n = float(c.get("n", 0) or 0)
        if m:
            total += (int(m[1]) + 1) * n
        if c.get("autoattack"):
            aa = re.search(r"n=(\d+)", c["autoattack"])
            total += AA_PASSES_PER_IMAGE * (int(aa[1]) if aa else n)
    return total * scale


def project(profile: str = "gpu", workdir: Path = Path("bench/projection"),
            net: tuple[str, float] = ("resnet18", 1.0), gpu: str = "H100",
            rerun: bool = True) -> list[dict]:
    """Projected device time of a profile's report: each notebook dry-run here at tiny sizes
    but the profile's epochs, in a store of its own (as a fresh device call would start),
    its training passes (counted by the runs) and attack passes (from the stored evaluations)
    scaled to the profile's image counts, at ANCHOR_SHARE_OF_PEAK of the GPU's bf16 peak.
    Needs the data (TICKETS_DATA); takes a few minutes per notebook on 2 cores. rerun=False
    counts the stores an earlier projection left in workdir. Training passes are costed at
    each run's own network, attack passes at the notebook's (net where the profile names none)."""
    import os

    from tickets import parameters, report

    flops: dict[tuple[str, float], float] = {}  # forward FLOPs per image, by (model, width)
    rate = ANCHOR_SHARE_OF_PEAK * BF16_PEAK_TFLOPS[gpu] * 1e12
    rows = []
    for nb in report.notebooks():
        prof = report.profile_params(profile, nb)
        small = parameters.tiny(prof, parameters.EPOCH_NAMES)
        # absolute: the notebooks' kernels run in notebooks/, not here
        store = (workdir / nb.stem).resolve()
        if not rerun:
            if not store.is_dir():
                raise SystemExit(f"no projection store {store}: run --project without --reuse")
        else:
            shutil.rmtree(store, ignore_errors=True)
            os.environ["TICKETS_STORE"] = str(store)
            report.main(["--profile", profile, "--tiny", "--tiny-keep", *parameters.EPOCH_NAMES,
                         "--notebooks", nb.stem[:2], "--out", str(workdir / "notebooks"),
                         "--execute-only"])
        n_train = prof.get("n_train") or 50_000 - int(prof.get("n_val", 0))
        # each run's passes at its own network: the dry run's width over TINY_WIDTH is the
        # profile's (widths differ between a notebook's runs); attacks at the notebook's net
        train = train_flops = 0.0
        for f in store.glob("train-*/result.json"):
            passes = json.loads(f.read_text())["passes"] * n_train / small["n_train"]
            m = json.loads((f.parent / "config.json").read_text())["model"]
            key = (m["name"], round(m["width"] / parameters.TINY_WIDTH, 6))
            if key not in flops:
                flops[key] = forward_flops(models.build(key[0], width=key[1], remaining=0.1),
                                           torch.device("cpu"))
            train += passes
            train_flops += passes * flops[key]
        evals = _eval_passes(store, prof.get("n_test", 1) / small.get("n_test", 1))
        nb_net = (prof.get("model", net[0]), float(prof.get("width", net[1])))
        if nb_net not in flops:
            flops[nb_net] = forward_flops(models.build(nb_net[0], width=nb_net[1], remaining=0.1),
                                          torch.device("cpu"))
        seconds = 3 * (train_flops + evals * flops[nb_net]) / rate
        rows.append({"notebook": nb.stem, "train_gpasses": train / 1e9,
                     "attack_gpasses": evals / 1e9, "projected_min": seconds / 60})
    return rows


def reuse_figures(store_root: str | Path) -> dict:
    """What the reuse of runs across notebooks saved, from the store's ledger (written by
    every training call; `make report` names the notebook): the training passes the notebooks
    asked for, each notebook counting each run once, against the passes actually trained.
    Empty when the store has no ledger from a report."""
    ledger = Path(store_root) / "ledger.jsonl"
    if not ledger.is_file():
        return {}
    asked: dict[str, set[str]] = {}
    passes: dict[str, int] = {}
    trained: set[str] = set()
    for line in ledger.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if not e.get("notebook"):
            continue  # not asked for by a report's notebook (tests, probes)
        asked.setdefault(e["notebook"], set()).add(e["run"])
        passes[e["run"]] = int(e["passes"])
        if e.get("trained"):
            trained.add(e["run"])
    runs = set().union(*asked.values()) if asked else set()
    if not runs:
        return {}
    without = sum(passes[r] for nb in asked.values() for r in nb)
    once = sum(passes[r] for r in runs)
    return {"reuse_notebooks": len(asked), "reuse_runs_asked": sum(map(len, asked.values())),
            "reuse_runs_distinct": len(runs), "reuse_runs_trained_in_ledger": len(trained),
            "reuse_training_passes_saved_speedup": without / once if once else 1.0}


ADOPT_AT = 1.10  # a lever is adopted when it is at least 10 % faster


def lever_summary(fig: dict) -> list[tuple[str, float, bool]]:
    """Each measured lever: its label, its speed ratio (>1 faster) and whether it clears
    ADOPT_AT."""
    keys = [("per-step host syncs removed", "host_sync_removed_speedup"),
            ("reuse of runs across notebooks (training passes)",
             "reuse_training_passes_saved_speedup"),
            ("conv-only head (bound: conv4's FC share of FLOPs)", "conv_only_head_speedup_bound"),
            ("torch.compile (inductor)", "compile_speedup")]
    for k in fig:
        if m := re.fullmatch(r"processes_(\d+)x1_speedup", k):
            keys.append((f"{m[1]} processes x 1 thread, against 1 x {m[1]}", k))
        if m := re.fullmatch(r"sweep_local(\d+)_speedup", k):
            keys.append((f"a sweep through local:{m[1]}, against inline", k))
    keys += [(f"fast path: {k[len('fast_path_'):-len('_speedup')]}", k)
             for k in fig if k.startswith("fast_path_")]
    rows = [(label, float(fig[k]), float(fig[k]) >= ADOPT_AT) for label, k in keys if k in fig]
    if "batch128_images_per_s" in fig:
        for b in (64, 256):
            if f"batch{b}_images_per_s" in fig:
                r = fig[f"batch{b}_images_per_s"] / fig["batch128_images_per_s"]
                rows.append((f"batch {b} against 128", r, r >= ADOPT_AT))
    return rows


def profile_batch(profile: str = "cpu") -> int | None:
    """The batch size of the scale the RST studies share (study 01's YAML), or None when the
    profile sets none. (09 and 10 run at their own scale.)"""
    import yaml

    from tickets.report import ROOT

    f = ROOT / "params" / profile / "01.yaml"
    return (yaml.safe_load(f.read_text()) or {}).get("batch_size") if f.exists() else None


def adoption(label: str, wins: bool) -> str:
    """Whether the project uses a lever, said against the profile where it is a setting."""
    if m := re.fullmatch(r"batch (\d+) against 128", label):
        b = profile_batch("cpu")
        if str(b) == m[1]:
            return "adopted (params/cpu: batch_size " + m[1] + ")" if wins else \
                "in the cpu profile, though below the bar"
        return "wins, not adopted: the cpu profile uses batch " + str(b) if wins else \
            "not adopted"
    if m := re.fullmatch(r"(\d+) processes x 1 thread, against 1 x \d+", label):
        # the executor the cpu report trains through: TICKETS_EXECUTOR, else the profile's
        from tickets import executor
        from tickets.report import PROFILE_EXECUTOR
        used = os.environ.get(executor.ENV) or PROFILE_EXECUTOR.get("cpu", "inline")
        spec = executor.parse(used)
        if spec.kind == "local" and spec.workers == int(m[1]):
            return f"adopted (the cpu report trains through {used})" + (
                "" if wins else ", though below the bar")
        return f"wins, not adopted: the cpu report trains through {used}" if wins else \
            "not adopted"
    return "adopted" if wins else "not adopted"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/bench.json")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--levers", action="store_true",
                    help="also measure the speed levers: the cpu profile's on a CPU (a few "
                         "minutes), the fast path's on a GPU")
    ap.add_argument("--gpu-net", default="resnet18:1.0",
                    help="NAME:WIDTH of the network the GPU levers use (default resnet18:1.0)")
    ap.add_argument("--scale-probe", nargs="+", metavar="RUN",
                    help="only train and evaluate runs at a candidate cpu scale: 'dense' and/or "
                         "RST ratios (about 6 min each); see --probe-epochs, --probe-width, "
                         "--probe-lr, --probe-n-train")
    ap.add_argument("--probe-epochs", type=int, default=12)
    ap.add_argument("--probe-width", type=float, default=0.5)
    ap.add_argument("--probe-lr", type=float, default=0.1)
    ap.add_argument("--probe-n-train", type=int, default=10_000)
    ap.add_argument("--probe-batch", type=int, default=128)
    ap.add_argument("--probe-seed", type=int, default=0)
    ap.add_argument("--probe-no-augment", action="store_true",
                    help="probe runs without random crop and flip")
    ap.add_argument("--sweep", action="store_true",
                    help="only time a small cpu-profile sweep through the inline executor and "
                         "through local:2 (about 5 min; needs the data)")
    ap.add_argument("--project", metavar="PROFILE",
                    help="only project the device time of PROFILE's report from dry runs here")
    ap.add_argument("--reuse", action="store_true",
                    help="with --project: count the stores an earlier projection left")
    a = ap.parse_args(argv)
    if a.project:
        rows = project(a.project, rerun=not a.reuse)
        for r in rows:
            print(f"  {r['notebook']:<26} train {r['train_gpasses']:7.3f} G passes, attacks "
                  f"{r['attack_gpasses']:7.3f} G passes, {r['projected_min']:6.1f} min")
        total = sum(r["projected_min"] for r in rows)
        print(f"projected device time: {total:.1f} min at {100 * ANCHOR_SHARE_OF_PEAK:.1f} % "
              f"of the bf16 peak (anchor: NVIDIA DeepLearningExamples ResNet-50 v1.5, A100)")
        return
    if a.sweep:
        fig = sweep_speedup()
        print(json.dumps(fig, indent=1))
        for label, ratio, adopted in lever_summary(fig):
            print(f"  {label:<48} {ratio:6.2f}x  {'wins' if adopted else 'below the bar'}")
        return
    if a.scale_probe:
        print(json.dumps(scale_probe(a.scale_probe, a.probe_epochs, a.probe_width, a.probe_lr,
                                     a.probe_n_train, batch_size=a.probe_batch,
                                     augment=not a.probe_no_augment, seed=a.probe_seed), indent=1))
        return
    res = run(torch.device(a.device), a.batch, a.repeats, a.quick)
    if a.levers and a.device == "cpu":
        res["figures"].update(levers(a.batch))
    elif a.levers:
        name, _, width = a.gpu_net.partition(":")
        res["figures"].update(gpu_levers(torch.device(a.device), name, float(width or 1.0)))
    res["figures"].update(reuse_figures(os.environ.get("TICKETS_STORE", "runs")))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.out, res)
    print(f"device={res['device']} torch={res['torch']} threads={res['threads']} "
          f"batch={res['batch']}")
    width = max(len(k) for k in res["figures"])
    for k, v in res["figures"].items():
        print(f"  {k:<{width}}  {v:10.4f}" if isinstance(v, int | float) else f"  {k:<{width}}  {v}")
    levers_seen = lever_summary(res["figures"])
    if levers_seen:
        print(f"levers (adopted when {ADOPT_AT:.2f}x or more; ratio > 1 is faster):")
        for label, ratio, wins in levers_seen:
            print(f"  {label:<52} {ratio:6.2f}x  {adoption(label, wins)}")
    if "reuse_training_passes_saved_speedup" not in res["figures"]:
        print("  reuse of runs across notebooks: not measured here (it is read from the "
              "store's ledger.jsonl, which `make report` writes)")
    print(f"written to {a.out}")
    print(json.dumps({"targets": {"masked_over_dense <= 1.10": {
        k: round(v, 3) for k, v in res["figures"].items() if k.endswith("masked_over_dense")}}}))


if __name__ == "__main__":
    main()
