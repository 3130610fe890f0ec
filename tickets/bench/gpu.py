"""The GPU levers: the gpu profile's search step with the whole fast path, the ratio each part
brings, torch.compile, PGD-20 evaluation, and the share of the GPU's bf16 peak of each."""

from __future__ import annotations

import re
import statistics
import time

import torch

from tickets import attacks, models
from tickets.bench.flops import forward_flops
from tickets.bench.hardware import FIRST_CONTACT_SEARCH, bf16_peak_tflops
from tickets.bench.timing import sync, time_one, time_pair

FAST_PATH_PARTS = ("bf16", "channels_last", "fused", "benchmark")


def fast_search(device: torch.device, name: str, width: float, batch: int, steps: int,
                bf16: bool = True, channels_last: bool = True, fused: bool = True,
                benchmark: bool = True, compiled: bool = False):
    """A search step (RST at 10 % remaining, PGD-`steps` crafting) with each part of the fast
    path on or off; returns the step as a closure, the model and the batch."""
    from tickets import accel
    from tickets.recipes import attack_config
    from tickets.train import adversarial_step

    cudnn_benchmark = benchmark and device.type == "cuda"
    torch.backends.cudnn.benchmark = cudnn_benchmark
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
        # a process-wide switch: set on every call, so that two steps timed in turn each run
        # with their own setting
        torch.backends.cudnn.benchmark = cudnn_benchmark
        with ctx:
            adversarial_step(run, opt, x, y, adv, g)

    return step, model, x, y


def gpu_levers(device: torch.device, name: str = "resnet18", width: float = 1.0,
               batch: int = 512, steps: int = 3, repeats: int = 10, compile: bool = True,
               batches: tuple[int, ...] = (256, 1024)) -> dict:
    """Images per second of the gpu profile's search step (PGD-`steps`) with the whole fast
    path, the ratio that each part brings (fast path against fast path without that part) and
    the images per second without it, the fast path at each other batch size of `batches`,
    torch.compile, PGD-20 evaluation throughput, and the share of the GPU's bf16 peak they
    reach (gpu_lever_rows reads them as a table)."""
    from tickets import accel

    fig: dict = {"search_model": name, "search_width": width, "search_batch": batch,
                 "search_pgd_steps": steps}
    full, model, x, y = fast_search(device, name, width, batch, steps)
    fulls = []  # the fast path's step time, from every side-by-side comparison
    for part in FAST_PATH_PARTS:
        without, *_ = fast_search(device, name, width, batch, steps, **{part: False})
        t_full, t_without = time_pair(full, without, device, repeats)
        fig[f"fast_path_{part}_speedup"] = t_without / t_full
        fig[f"fast_path_no_{part}_images_per_s"] = batch / t_without
        fulls.append(t_full)
    for b in batches:  # batch size: images per second against the fast path at `batch`
        if b == batch:
            continue
        other, *_ = fast_search(device, name, width, b, steps)
        t_full, t_other = time_pair(full, other, device, repeats)
        fig[f"fast_path_batch{b}_images_per_s"] = b / t_other
        fig[f"fast_path_batch{b}_speedup"] = (b / t_other) / (batch / t_full)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    fig["search_images_per_s"] = batch / statistics.median(fulls)
    net = model.eval()
    with accel.autocast("bf16", device):
        t_eval = time_one(lambda: attacks.pgd(net, x, y, steps=20), device,
                          max(2, repeats // 2))
    fig["pgd20_eval_images_per_s"] = batch / t_eval
    fwd = forward_flops(models.build(name, width=width, remaining=0.1).to(device), device)
    fig["forward_gflops_per_image"] = fwd / 1e9
    # a forward+backward pass counted as 3 forward passes (the usual estimate)
    search_tflops = fig["search_images_per_s"] * (steps + 1) * 3 * fwd / 1e12
    eval_tflops = fig["pgd20_eval_images_per_s"] * 20 * 3 * fwd / 1e12
    fig["search_tflops"], fig["pgd20_eval_tflops"] = search_tflops, eval_tflops
    if device.type == "cuda":
        fig["gpu_name"] = torch.cuda.get_device_name(device)
    peak = bf16_peak_tflops(fig["gpu_name"]) if "gpu_name" in fig else None
    if peak:
        fig["bf16_peak_tflops"] = peak
        fig["search_share_of_bf16_peak"] = search_tflops / peak
        fig["pgd20_eval_share_of_bf16_peak"] = eval_tflops / peak
    if not compile:
        return fig
    try:  # torch.compile of the model, in steady state after compilation
        step_c, *_ = fast_search(device, name, width, batch, steps, compiled=True)
        t0 = time.perf_counter()
        step_c()
        sync(device)
        fig["compile_seconds"] = time.perf_counter() - t0
        te, tc = time_pair(full, step_c, device, repeats)
        fig["compile_speedup"] = te / tc
        fig["compile_images_per_s"] = batch / tc
    except Exception as e:  # noqa: BLE001 - a lever that fails is reported, not fatal
        fig["compile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    return fig


def gpu_lever_rows(fig: dict) -> list[tuple[str, float, float | None, float | None]]:
    """The GPU levers as a table, from gpu_levers' figures: for each configuration of the
    search step, its label, its images per second, its ratio to the baseline (the whole fast
    path, timed beside it; > 1 is faster) and its share of the bf16 peak (None where the GPU's
    peak is unknown, e.g. on a CPU); then PGD-20 evaluation, which has no baseline. Empty when
    fig holds no GPU levers."""
    if "search_images_per_s" not in fig or "forward_gflops_per_image" not in fig:
        return []
    peak = fig.get("bf16_peak_tflops")
    gflops = fig["forward_gflops_per_image"]
    steps = fig.get("search_pgd_steps", 3)

    def share(images_per_s: float, passes: int) -> float | None:
        # a forward+backward pass counted as 3 forward passes, as in gpu_levers
        return images_per_s * passes * 3 * gflops / 1e3 / peak if peak else None

    base = fig["search_images_per_s"]
    rows = [("fast path (baseline)", base, 1.0, share(base, steps + 1))]
    for part in FAST_PATH_PARTS:
        ips = fig.get(f"fast_path_no_{part}_images_per_s")
        if ips is not None:
            rows.append((f"fast path without {part}", ips,
                         1 / fig[f"fast_path_{part}_speedup"], share(ips, steps + 1)))
    for key in fig:
        if m := re.fullmatch(r"fast_path_batch(\d+)_images_per_s", key):
            ips = fig[key]
            rows.append((f"fast path at batch {m[1]}", ips, fig[f"fast_path_batch{m[1]}_speedup"],
                         share(ips, steps + 1)))
    if "compile_images_per_s" in fig:
        ips = fig["compile_images_per_s"]
        rows.append(("fast path + torch.compile", ips, fig["compile_speedup"],
                     share(ips, steps + 1)))
    if "pgd20_eval_images_per_s" in fig:
        ips = fig["pgd20_eval_images_per_s"]
        rows.append(("PGD-20 evaluation (no baseline)", ips, None, share(ips, 20)))
    return rows


def first_contact_ratio(fig: dict) -> float | None:
    """The search step's images per second over the first measurement on a GPU
    (hardware.FIRST_CONTACT_SEARCH), when the bench measured the same network and attack on
    the same kind of GPU (the batch may differ: it is a lever); None otherwise."""
    rec = FIRST_CONTACT_SEARCH
    same = (fig.get("search_model") == rec["model"] and fig.get("search_width") == rec["width"]
            and fig.get("search_pgd_steps") == rec["steps"]
            and rec["gpu"] in str(fig.get("gpu_name", "")))
    return fig["search_images_per_s"] / rec["images_per_s"] if same else None


def print_gpu_levers(fig: dict) -> None:
    """Print the GPU levers' table (gpu_lever_rows) and the step against the first contact."""
    rows = gpu_lever_rows(fig)
    if not rows:
        return
    print(f"gpu levers: {fig.get('search_model')} x{fig.get('search_width')}, PGD-"
          f"{fig.get('search_pgd_steps')} search step, batch {fig.get('search_batch')}"
          + (f", bf16 peak {fig['bf16_peak_tflops']:g} TFLOP/s" if "bf16_peak_tflops" in fig
             else ", bf16 peak unknown here"))
    print(f"  {'':<34} {'images/s':>10} {'ratio':>7} {'share of peak':>14}")
    for label, ips, ratio, share in rows:
        r = f"{ratio:6.2f}x" if ratio is not None else f"{'-':>7}"
        s = f"{100 * share:12.1f} %" if share is not None else f"{'-':>14}"
        print(f"  {label:<34} {ips:10.0f} {r} {s}")
    if "compile_seconds" in fig:
        print(f"  torch.compile took {fig['compile_seconds']:.1f} s to compile")
    ratio = first_contact_ratio(fig)
    if ratio is not None:
        rec = FIRST_CONTACT_SEARCH
        print(f"  against the first contact's {rec['images_per_s']:,.0f} images/s ({rec['gpu']}, "
              f"batch {rec['batch']}): {ratio:.2f}x")
