"""The projection (`--project PROFILE`): a profile report's device time, from dry runs here.

Each notebook runs through `make report`'s code at tiny sizes but the profile's epochs, in a
store of its own; its training passes (counted by the runs) and attack passes (from the
stored evaluations) are scaled to the profile's image counts and costed at the anchor's share
of the GPU's bf16 peak (tickets.bench.hardware).

For a profile with a device plan (device/plan.yaml, tickets.devicerun) the same counts are
laid out by slot (slot_table): each step's trainings, PGD evaluations, AutoAttack, sanity
checks and start-up, counting only what no earlier step computed (the store carries it over),
at the first contact's measured search step and at twice it (issue 25's target)."""

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
from tickets.bench.hardware import (
    ANCHOR_SHARE_OF_PEAK,
    BF16_PEAK_TFLOPS,
    FIRST_CONTACT_SEARCH,
)
from tickets.profiles import settings as profile_settings

# rough, per image of a robust net (about half still robust after APGD-CE): APGD-CE's 100
# iterations (about 80 on average: it attacks the clean-correct images), then on the survivors
# APGD-T's 9 x 100 (about 420), FAB-T's 9 x 100 at about 2 passes each (about 800) and Square's
# 5,000 forward-only queries (about 750)
AA_PASSES_PER_IMAGE = 2000
# rough: PGD-20 at six eps, PGD at several step counts and restarts, and Square's queries on
# the survivors (forward passes only, about a third of a pass each)
SANITY_PASSES_PER_IMAGE = 1000
# rough: early-stop PGD's share of the full attack's passes (a robust image, about half of them,
# runs every step; a broken one stops after a few)
EARLY_STOP_SHARE = 0.55
FP32_SLOWDOWN = 2.0  # AutoAttack and the sanity checks run in float32 (TF32): half bf16's rate
SLOT_COMPUTE_MIN = 11.0  # a slot's compute once the machine has started (issue 25)
STEP_STARTUP_MIN = 0.5  # a step's kernel start, imports and data decoding
PARTS = ("train", "pgd", "aa", "sanity")


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


def record_parts(store: Path, prof: dict, small: dict) -> dict[str, list]:
    """Each stored evaluation of a dry run as [part, passes at the profile's sizes]: 'pgd'
    ((k+1) n, k the profile's eval_pgd_steps, n scaled from the dry run's test images to the
    profile's), 'aa' (AutoAttack on the profile's aa_n images, with PGD on the same images) or
    'sanity' (the profile's sanity_n images)."""
    out: dict[str, list] = {}
    test_scale = prof.get("n_test", 1) / max(small.get("n_test", 1), 1)
    for cfg_file in sorted(store.glob("eval-*/config.json")):
        c = json.loads(cfg_file.read_text())
        attack, n = str(c.get("attack", "")), float(c.get("n", 0) or 0)
        m = re.match(r"PGD-(\d+)", attack)
        # the dry run's attacks are shortened (tickets.parameters.tiny): PGD at the profile's
        steps = int(prof.get("eval_pgd_steps") or (m[1] if m else 0))
        if c.get("autoattack"):
            aa_n = float(prof.get("aa_n") or 0)
            out[cfg_file.parent.name] = ["aa", (AA_PASSES_PER_IMAGE + steps + 1) * aa_n]
        elif m:
            out[cfg_file.parent.name] = ["pgd", (steps + 1) * n * test_scale]
        elif attack.startswith("sanity"):
            out[cfg_file.parent.name] = ["sanity", SANITY_PASSES_PER_IMAGE
                                         * float(prof.get("sanity_n") or n)]
    return out


def measured_rate(gpu: str = "H200") -> float:
    """FLOP/s of the first contact's search step (tickets.bench.hardware.FIRST_CONTACT_SEARCH):
    its images/s, each a forward+backward pass per attack step and one for the update, at
    3 forward passes' FLOPs each."""
    fc = FIRST_CONTACT_SEARCH
    f = forward_flops(models.build(fc["model"], width=fc["width"], remaining=0.1),
                      torch.device("cpu"))
    return fc["images_per_s"] * (fc["steps"] + 1) * 3 * f


def _step_parts(row: dict, params: dict, done: set) -> dict[str, float]:
    """The FLOPs of each part one step adds (PARTS): the notebook's dry-run runs and records
    not yet done (done: their names, and (notebook, seed, part) for extra seeds), the
    AutoAttack and sanity records only where the step runs them, and for each seed beyond the
    profile's a per-seed share of the trainings, PGD and AutoAttack (the sanity checks run on
    the first seed's nets alone)."""
    out = dict.fromkeys(PARTS, 0.0)
    base = list(row.get("seeds") or [0])
    seeds = list(params.get("seeds", base))
    on = {"train": True, "pgd": True,
          "aa": params.get("aa_n", row.get("aa_n", 0)) != 0,
          "sanity": params.get("sanity_n", row.get("sanity_n", 0)) != 0}
    units = [(name, "train", fl) for name, fl in row.get("runs", {}).items()]
    units += [(name, part, fl) for name, (part, fl) in row.get("records", {}).items()]
    if any(s in base for s in seeds):
        for name, part, fl in units:
            if on[part] and name not in done:
                out[part] += fl
                done.add(name)
    for s in seeds:
        if s in base:
            continue
        for part in ("train", "pgd", "aa"):
            key = (row["notebook"], s, part)
            if on[part] and key not in done:
                out[part] += sum(fl for _, p, fl in units if p == part) / len(base)
                done.add(key)
    return out


def slot_table(rows: list[dict], steps: list, rate: float,
               slot_min: float = SLOT_COMPUTE_MIN) -> list[dict]:
    """Each step of a device plan (tickets.devicerun.Step) with its minutes by part at rate
    FLOP/s (AutoAttack and the sanity checks FP32_SLOWDOWN times slower), its start-up, and
    the slots it falls in when the steps run back to back in slots of slot_min minutes."""
    by_nb = {r["notebook"][:2]: r for r in rows}
    done: set = set()
    out, clock = [], 0.0
    for step in steps:
        row = by_nb.get(step.notebook)
        if row is None:
            continue
        flops = _step_parts(row, step.params, done)
        mins = {p: flops[p] / rate / 60 * (FP32_SLOWDOWN if p in ("aa", "sanity") else 1)
                for p in PARTS}
        mins["startup"] = STEP_STARTUP_MIN
        total = sum(mins.values())
        first, last = int(clock // slot_min) + 1, int(max(clock + total - 1e-9, 0) // slot_min) + 1
        clock += total
        out.append({"step": step.step, **{f"{k}_min": v for k, v in mins.items()},
                    "total_min": total, "slots": (first, last)})
    return out


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
        runs: dict[str, float] = {}
        for f in sorted(store.glob("train-*/result.json")):
            passes = json.loads(f.read_text())["passes"] * n_train / small["n_train"]
            m = json.loads((f.parent / "config.json").read_text())["model"]
            key = (m["name"], round(m["width"] / parameters.TINY_WIDTH, 6))
            if key not in flops:
                flops[key] = forward_flops(models.build(key[0], width=key[1], remaining=0.1),
                                           torch.device("cpu"))
            train += passes
            train_flops += 3 * passes * flops[key]
            # with each epoch's validation attack and, for the paper protocol's checkpoint
            # choice, its early-stop PGD on the test subset (tickets.train.epoch_attack), at
            # the profile's steps and images: the slot table counts them too
            t = json.loads((f.parent / "config.json").read_text())["train"]
            per_epoch = (prof.get("val_steps", 0) + 1) * prof.get("n_val_eval", 0)
            if t.get("track_test"):
                n_test = t.get("n_test_eval") or prof.get("n_test", 0)
                per_epoch += ((prof.get("eval_pgd_steps", 0) + 1) * n_test
                              * EARLY_STOP_SHARE)
            runs[f.parent.name] = 3 * (passes + t["epochs"] * per_epoch) * flops[key]
        evals = eval_passes(store, prof.get("n_test", 1) / small.get("n_test", 1))
        nb_net = (prof.get("model", net[0]), float(prof.get("width", net[1])))
        if nb_net not in flops:
            flops[nb_net] = forward_flops(models.build(nb_net[0], width=nb_net[1], remaining=0.1),
                                          torch.device("cpu"))
        seconds = (train_flops + 3 * evals * flops[nb_net]) / rate
        records = {k: [part, 3 * passes * flops[nb_net]]
                   for k, (part, passes) in record_parts(store, prof, small).items()}
        rows.append({"notebook": nb.stem, "train_gpasses": train / 1e9,
                     "attack_gpasses": evals / 1e9, "projected_min": seconds / 60,
                     "profile": profile, "seeds": prof.get("seeds") or [prof.get("seed", 0)],
                     "aa_n": prof.get("aa_n", 0), "sanity_n": prof.get("sanity_n", 0),
                     "runs": runs, "records": records})
    return rows


def print_slots(rows: list[dict]) -> None:
    """The device plan's steps by slot, at the measured search step and at twice it."""
    from tickets import devicerun

    steps = devicerun.plan(rows[0]["profile"])
    rate = measured_rate()
    for label, r in (("the measured 7,216 images/s", rate), ("the 2x target", 2 * rate)):
        table = slot_table(rows, steps, r)
        n = max((t["slots"][1] for t in table), default=0)
        print(f"slots of {SLOT_COMPUTE_MIN:g} min of compute at {label}: {n} slots")
        for t in table:
            a, b = t["slots"]
            print(f"  slot {a if a == b else f'{a}-{b}':<6} {t['step']:<11} train "
                  f"{t['train_min']:5.1f}, PGD {t['pgd_min']:4.1f}, AutoAttack "
                  f"{t['aa_min']:5.1f}, sanity {t['sanity_min']:4.1f}, start-up "
                  f"{t['startup_min']:.1f}: {t['total_min']:5.1f} min")


def print_projection(rows: list[dict]) -> None:
    """Each notebook's passes and minutes, then the report's total; by slot where the rows
    carry their runs and records (project's rows, not a summary's)."""
    for r in rows:
        print(f"  {r['notebook']:<26} train {r['train_gpasses']:7.3f} G passes, attacks "
              f"{r['attack_gpasses']:7.3f} G passes, {r['projected_min']:6.1f} min")
    total = sum(r["projected_min"] for r in rows)
    print(f"projected device time: {total:.1f} min at {100 * ANCHOR_SHARE_OF_PEAK:.1f} % "
          f"of the bf16 peak (anchor: NVIDIA DeepLearningExamples ResNet-50 v1.5, A100)")
    if rows and "runs" in rows[0]:
        print_slots(rows)
