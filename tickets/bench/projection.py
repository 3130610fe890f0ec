"""The projection (`--project PROFILE`): a profile report's device time, from dry runs here.

Each notebook runs through `make report`'s code at tiny sizes but the profile's epochs, in a
store of its own; its training passes (counted by the runs) and attack passes (from the
stored evaluations) are scaled to the profile's image counts and costed at the anchor's share
of the GPU's bf16 peak (tickets.bench.hardware)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from tickets import models
from tickets.bench.flops import forward_flops
from tickets.bench.hardware import ANCHOR_SHARE_OF_PEAK, BF16_PEAK_TFLOPS
from tickets.profiles import settings as profile_settings

AA_PASSES_PER_IMAGE = 1000  # rough: APGD-CE, then APGD-T and FAB-T on the survivors


def eval_passes(store: Path, scale: float) -> float:
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


@contextmanager
def _store_for_report(store: Path) -> Iterator[None]:
    """ADAPTER, to go once tickets.report takes the store as an argument: the report has no
    store parameter, and the notebooks' kernels find their store through TICKETS_STORE, which
    they inherit from this process. Set for the one call, the caller's value restored after."""
    from tickets.store import STORE_ENV_VAR

    before = os.environ.get(STORE_ENV_VAR)
    os.environ[STORE_ENV_VAR] = str(store)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STORE_ENV_VAR, None)
        else:
            os.environ[STORE_ENV_VAR] = before


def dry_run(profile: str, notebook: str, store: Path, out: Path) -> None:
    """Execute one notebook at the profile's epochs and tiny sizes through the report, from an
    empty store (as a fresh device call would start); the executed notebook goes to out."""
    from tickets import parameters, report

    shutil.rmtree(store, ignore_errors=True)
    with _store_for_report(store):
        report.main(["--profile", profile, "--tiny", "--tiny-keep", *parameters.EPOCH_NAMES,
                     "--notebooks", notebook[:2], "--out", str(out), "--execute-only"])


def project(profile: str = "gpu", workdir: Path = Path("bench/projection"),
            net: tuple[str, float] = ("resnet18", 1.0), gpu: str = "H100",
            rerun: bool = True) -> list[dict]:
    """Projected device time of a profile's report: each notebook dry-run here (dry_run), its
    training passes (counted by the runs) and attack passes (from the stored evaluations)
    scaled to the profile's image counts, at ANCHOR_SHARE_OF_PEAK of the GPU's bf16 peak.
    Needs the data (TICKETS_DATA); takes a few minutes per notebook on 2 cores. rerun=False
    counts the stores an earlier projection left in workdir. Training passes are costed at
    each run's own network, attack passes at the notebook's (net where the profile names none)."""
    from tickets import parameters, report

    if gpu not in BF16_PEAK_TFLOPS:
        raise ValueError(f"invalid gpu={gpu!r}: allowed values are {sorted(BF16_PEAK_TFLOPS)}")
    flops: dict[tuple[str, float], float] = {}  # forward FLOPs per image, by (model, width)
    rate = ANCHOR_SHARE_OF_PEAK * BF16_PEAK_TFLOPS[gpu] * 1e12
    rows = []
    for nb in report.notebooks():
        prof = profile_settings(profile, nb.stem)
        small = parameters.tiny(prof, parameters.EPOCH_NAMES)
        # absolute: the notebooks' kernels run in notebooks/, not here
        store = (workdir / nb.stem).resolve()
        if not rerun:
            if not store.is_dir():
                raise SystemExit(f"no projection store {store}: run --project without --reuse")
        else:
            dry_run(profile, nb.stem, store, workdir / "notebooks")
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
        evals = eval_passes(store, prof.get("n_test", 1) / small.get("n_test", 1))
        nb_net = (prof.get("model", net[0]), float(prof.get("width", net[1])))
        if nb_net not in flops:
            flops[nb_net] = forward_flops(models.build(nb_net[0], width=nb_net[1], remaining=0.1),
                                          torch.device("cpu"))
        seconds = 3 * (train_flops + evals * flops[nb_net]) / rate
        rows.append({"notebook": nb.stem, "train_gpasses": train / 1e9,
                     "attack_gpasses": evals / 1e9, "projected_min": seconds / 60})
    return rows


def print_projection(rows: list[dict]) -> None:
    """Each notebook's passes and minutes, then the report's total."""
    for r in rows:
        print(f"  {r['notebook']:<26} train {r['train_gpasses']:7.3f} G passes, attacks "
              f"{r['attack_gpasses']:7.3f} G passes, {r['projected_min']:6.1f} min")
    total = sum(r["projected_min"] for r in rows)
    print(f"projected device time: {total:.1f} min at {100 * ANCHOR_SHARE_OF_PEAK:.1f} % "
          f"of the bf16 peak (anchor: NVIDIA DeepLearningExamples ResNet-50 v1.5, A100)")
