"""`python -m tickets.bench`: speed figures, printed and written to JSON (figures, not
assertions). This module only parses the flags and hands each to its tool:

    python -m tickets.bench [--levers] [--out FILE]   step figures (and the speed levers)
    python -m tickets.bench --scale-probe dense 0.1    runs at a candidate cpu scale, on validation
    python -m tickets.bench --sweep                    a sweep inline against local:2
    python -m tickets.bench --project gpu              a profile report's projected device time
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from tickets.bench import cpu_levers, gpu, ledger, probe, projection, steps, summary, sweep
from tickets.store import atomic_write_json


def parser() -> argparse.ArgumentParser:
    """The bench's flags."""
    ap = argparse.ArgumentParser(prog="python -m tickets.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
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
                    help="only train runs at a candidate cpu scale and measure them on the "
                         "validation split: 'dense' and/or RST ratios (about 6 min each); see "
                         "--probe-epochs, --probe-width, --probe-lr, --probe-n-train")
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
    return ap


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    if a.project:
        projection.print_projection(projection.project(a.project, rerun=not a.reuse))
        return
    if a.sweep:
        fig = sweep.sweep_speedup()
        print(json.dumps(fig, indent=1))
        summary.print_levers(fig, with_adoption=False)
        return
    if a.scale_probe:
        print(json.dumps(probe.scale_probe(
            a.scale_probe, a.probe_epochs, a.probe_width, a.probe_lr, a.probe_n_train,
            batch_size=a.probe_batch, augment=not a.probe_no_augment, seed=a.probe_seed),
            indent=1))
        return
    res = steps.step_figures(torch.device(a.device), a.batch, a.repeats, a.quick)
    if a.levers and a.device == "cpu":
        res["figures"].update(cpu_levers.levers(a.batch))
    elif a.levers:
        name, _, width = a.gpu_net.partition(":")
        res["figures"].update(gpu.gpu_levers(torch.device(a.device), name, float(width or 1.0)))
    res["figures"].update(ledger.reuse_figures(os.environ.get("TICKETS_STORE", "runs")))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.out, res)
    summary.print_bench(res, a.out)
