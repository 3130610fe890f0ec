"""The bench's verdicts and its printout: which levers clear the bar, whether the project uses
each, and the figures as printed and written to JSON."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tickets.bench.gpu import print_gpu_levers
from tickets.profiles import settings as profile_settings

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
             for k in fig if k.startswith("fast_path_") and k.endswith("_speedup")]
    rows = [(label, float(fig[k]), float(fig[k]) >= ADOPT_AT) for label, k in keys if k in fig]
    if "batch128_images_per_s" in fig:
        for b in (64, 256):
            if f"batch{b}_images_per_s" in fig:
                r = fig[f"batch{b}_images_per_s"] / fig["batch128_images_per_s"]
                rows.append((f"batch {b} against 128", r, r >= ADOPT_AT))
    return rows


def profile_batch(profile: str = "cpu") -> int | None:
    """The batch size of the scale the RST studies share (study 01's settings), or None when
    the profile sets none. (09 and 10 run at their own scale.)"""
    return profile_settings(profile, "01").get("batch_size")


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
        from tickets.report import profile_environment
        used = os.environ.get(executor.ENV) or profile_environment("cpu").get(executor.ENV,
                                                                              "inline")
        spec = executor.parse(used)
        if spec.kind == "local" and spec.workers == int(m[1]):
            return f"adopted (the cpu report trains through {used})" + (
                "" if wins else ", though below the bar")
        return f"wins, not adopted: the cpu report trains through {used}" if wins else \
            "not adopted"
    return "adopted" if wins else "not adopted"


def print_levers(fig: dict, with_adoption: bool = True) -> None:
    """The levers found in fig, each with its ratio and whether it wins (and, with_adoption,
    whether the project uses it)."""
    seen = lever_summary(fig)
    if seen and with_adoption:
        print(f"levers (adopted when {ADOPT_AT:.2f}x or more; ratio > 1 is faster):")
    for label, ratio, wins in seen:
        said = adoption(label, wins) if with_adoption else ("wins" if wins else "below the bar")
        print(f"  {label:<52} {ratio:6.2f}x  {said}")


def print_bench(res: dict, out: str | Path) -> None:
    """The bench's printout: its header, every figure, the GPU levers' table when measured,
    the levers' verdicts, and the masked-over-dense targets."""
    print(f"device={res['device']} torch={res['torch']} threads={res['threads']} "
          f"batch={res['batch']}")
    width = max(len(k) for k in res["figures"])
    for k, v in res["figures"].items():
        print(f"  {k:<{width}}  {v:10.4f}" if isinstance(v, int | float) else f"  {k:<{width}}  {v}")
    print_gpu_levers(res["figures"])
    print_levers(res["figures"])
    if "reuse_training_passes_saved_speedup" not in res["figures"]:
        print("  reuse of runs across notebooks: not measured here (it is read from the "
              "store's ledger.jsonl, which `make report` writes)")
    print(f"written to {out}")
    print(json.dumps({"targets": {"masked_over_dense <= 1.10": {
        k: round(v, 3) for k, v in res["figures"].items() if k.endswith("masked_over_dense")}}}))
