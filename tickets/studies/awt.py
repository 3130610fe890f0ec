"""Study 10: adversarial winning tickets, OUR RECONSTRUCTION (Shi et al. 2022, arXiv 2202.06488,
released no code; its full text was not available to us).

A mask is chosen at initialisation and the masked network is then PGD-trained from scratch,
from the same initial weights as the dense network. Mask methods:

* ``awt`` (reconstruction): neural tangent transfer on adversarial probes, PGD examples
  against the dense network at init (tickets.ntk.neural_tangent_transfer);
* ``ntt_clean``: the same on clean probes (Liu & Zenke 2020);
* ``random``: layer-uniform random masks;
* ``magnitude_init``: global magnitude of the initial weights (no layer normalisation);
* ``snip``: SNIP on one batch (Lee et al. 2019).

AWT and NTT learn edge-popup scores, so their masks keep the same fraction in every layer, as
random masks do; magnitude and SNIP rank globally.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pandas as pd
import torch
from tqdm import tqdm

from tickets import attacks
from tickets.config import ConfigError, DataConfig, ModelConfig, RunConfig, config_hash
from tickets.data import Data
from tickets.evaluation import EvalSpec, cached_evaluation, two_protocol_row
from tickets.layers import set_mode, set_remaining
from tickets.masks import init_state, mask_tag, with_masks
from tickets.models import build_from_config
from tickets.ntk import (
    NTTSpec,
    empirical_ntk,
    kernel_distance,
    neural_tangent_transfer,
    ntt_passes,
    output_gap,
)
from tickets.prune import density, magnitude_masks, random_masks, snip_masks
from tickets.recipes import attack_config, weight_config
from tickets.store import Store, atomic_torch_save, torch_load_checked
from tickets.train import TrainRun, fit, recalibrate_bn, show_progress

METHODS = ("awt", "ntt_clean", "random", "magnitude_init", "snip")
LABELS = {"awt": "AWT (reconstruction)", "ntt_clean": "NTT, clean probes", "random": "random",
          "magnitude_init": "magnitude at init", "snip": "SNIP", "dense": "dense PGD-AT"}


@dataclass(frozen=True)
class MaskSpec:
    """How masks are found: the NTT settings, and the probe pool (train images, PGD examples
    against the dense net at init for AWT)."""

    ntt: NTTSpec = field(default_factory=NTTSpec)
    n_probes: int = 512
    probe_steps: int = 5
    snip_batch: int = 256

    def validate(self) -> MaskSpec:
        self.ntt.validate()
        for name in ("n_probes", "probe_steps", "snip_batch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"invalid masks.{name}={v!r}: must be a positive integer")
        return self


@dataclass(frozen=True)
class _MaskKey:
    model: ModelConfig
    data: DataConfig
    method: str
    sparsity: float
    spec: MaskSpec
    eps: float


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"invalid method={method!r}: allowed values are {METHODS}")


def _check_sparsity(s: float) -> None:
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < 1:
        raise ConfigError(f"invalid sparsity={s!r}: must lie in [0, 1) (the pruned fraction)")


def _dense_init(wcfg: RunConfig, data: Data) -> torch.nn.Module:
    model = build_from_config(wcfg.model)
    set_mode(model, "fixed")
    model = model.to(data.train.x.device)
    recalibrate_bn(model, data.train, 1024, 256)
    return model


def probe_pool(wcfg: RunConfig, data: Data, n: int, adversarial: bool, steps: int,
               seed: int = 0) -> torch.Tensor:
    """n training images; adversarial: PGD examples against the dense net at init (BatchNorm
    statistics estimated on clean images first), at the run's eps."""
    split = data.train.head(n)
    x = split.images()
    if not adversarial:
        return x
    teacher = _dense_init(wcfg, data)
    att = attack_config("pgd", wcfg.train.adversary.eps, steps)
    g = torch.Generator(device=x.device).manual_seed(seed)
    return torch.cat([attacks.perturb(teacher, x[i:i + 256], split.y[i:i + 256], att, g)
                      for i in range(0, len(x), 256)])


def find_mask(cfg: RunConfig, method: str, sparsity: float, data: Data, spec: MaskSpec,
              store: Store | None = None, progress: bool = True) -> tuple[dict, dict]:
    """The mask of a method at a sparsity in cfg's initial network, cached in the store.
    Returns (masks, info) with info the method's cost and, for NTT, its loss history."""
    _check_method(method)
    _check_sparsity(sparsity)
    spec.validate()
    store = store or Store()
    wcfg = weight_config(cfg, masked=True)
    key = _MaskKey(wcfg.model, data.cfg, method, float(sparsity), spec,
                   float(wcfg.train.adversary.eps))
    f = store.run_dir(key, kind="mask") / "masks.pt"
    saved = torch_load_checked(f)  # None when absent, or unreadable (then recomputed)
    if saved is not None:
        return saved["masks"], saved["info"]
    remaining = 1.0 - float(sparsity)
    model = build_from_config(wcfg.model)
    info: dict = {"method": method, "sparsity": float(sparsity)}
    if method == "random":
        masks = random_masks(model, remaining, seed=wcfg.model.init_seed + 11)
    elif method == "magnitude_init":
        masks = magnitude_masks(model, remaining, normalise=False)
    elif method == "snip":
        model = model.to(data.train.x.device)
        split = data.train.head(spec.snip_batch)
        masks = snip_masks(model, split.images(), split.y, remaining)
    else:
        probes = probe_pool(wcfg, data, spec.n_probes, method == "awt", spec.probe_steps,
                            seed=spec.ntt.seed)
        teacher = build_from_config(wcfg.model)
        set_mode(teacher, "fixed")
        student = copy.deepcopy(teacher)
        set_mode(student, "search")
        set_remaining(student, remaining)
        dev = data.train.x.device
        bar = tqdm(total=spec.ntt.steps, disable=not show_progress(progress), leave=False,
                   desc=f"NTT {method} s={sparsity:g}")
        masks, hist = neural_tangent_transfer(student.to(dev), teacher.to(dev), probes,
                                              spec.ntt, progress=bar.update)
        bar.close()
        info.update({"history": hist[:-1], "seconds": hist[-1]["seconds"],
                     "passes": ntt_passes(spec.ntt)
                     + (spec.n_probes * spec.probe_steps if method == "awt" else 0)})
    masks = {n: m.cpu().bool() for n, m in masks.items()}
    info["density"] = density(masks)
    atomic_torch_save(f, {"masks": masks, "info": info})
    return masks, info


def train_masked(cfg: RunConfig, masks: dict | None, label: str, data: Data,
                 store: Store | None = None, width: float | None = None,
                 progress: bool = True) -> TrainRun:
    """PGD-AT from the shared init under a mask (None: dense), keeping per-epoch weights."""
    remaining = 1.0 if masks is None else density(masks)
    wcfg = weight_config(cfg, masked=True, remaining=remaining, width=width,
                         tag=f"awt-study:{label}:{mask_tag(masks) if masks else 'dense'}")
    state = init_state(wcfg.model)
    if masks is not None:
        state = with_masks(state, masks)
    return fit(wcfg, data, store, progress, init_state=state, save_epochs=True)


def study(cfg: RunConfig, sparsities: list[float], methods: list[str], data: Data,
          eval_spec: EvalSpec, mask_spec: MaskSpec, width: float | None = None,
          store: Store | None = None, progress: bool = True
          ) -> tuple[pd.DataFrame, dict[tuple[str, float], TrainRun]]:
    """Every method at every sparsity, PGD-trained from scratch, and dense PGD-AT, evaluated
    with the strict protocol. Returns the table and the runs by (method, sparsity)."""
    for m in methods:
        _check_method(m)
    store = store or Store()
    w_cfg = cfg if width is None else weight_config(cfg, masked=True, width=width)
    rows, runs = [], {}
    dense = train_masked(w_cfg, None, "dense", data, store, progress=progress)
    runs[("dense", 0.0)] = dense
    rows.append(two_protocol_row(dense, data, eval_spec, store, method="dense", label=LABELS["dense"],
                     sparsity=0.0, width=w_cfg.model.width, mask_seconds=0.0, mask_passes=0))
    for s in sparsities:
        for m in methods:
            masks, info = find_mask(w_cfg, m, float(s), data, mask_spec, store, progress)
            run = train_masked(w_cfg, masks, m, data, store, progress=progress)
            runs[(m, float(s))] = run
            rows.append(two_protocol_row(run, data, eval_spec, store, method=m, label=LABELS[m],
                             sparsity=float(s), width=w_cfg.model.width,
                             mask_seconds=info.get("seconds", 0.0),
                             mask_passes=info.get("passes", 0)))
    return pd.DataFrame(rows), runs


@dataclass(frozen=True)
class _DynKey:
    run: str
    dense: str
    n_probes: int
    kind: str
    attack: str
    data: DataConfig


def dynamics(runs: dict[tuple[str, float], TrainRun], data: Data, n_probes: int = 16,
             kind: str = "full", attack_steps: int = 5, method: str = "jacrev",
             store: Store | None = None, progress: bool = True) -> pd.DataFrame:
    """Kernel distance and output gap between each sparse run and the dense run, at every
    epoch (0 = init), on n_probes clean test images and on PGD examples against the dense
    net of that epoch. Cached per run. method is the NTK's (tickets.ntk.empirical_ntk):
    with a few probes, per-example Jacobians were about 10x faster than vjp/jvp products
    for conv4 on the CPU; products never hold a Jacobian, for large nets."""
    store = store or Store()
    dense = runs[("dense", 0.0)]
    eps = dense.cfg.train.adversary.eps
    att = attack_config("pgd", eps, attack_steps)
    split = data.test.head(n_probes)
    x, y = split.images(), split.y
    dev = data.test.x.device
    epochs = len(dense.history)
    todo = [(k, r) for k, r in runs.items() if k[0] != "dense"]
    bar = tqdm(total=len(todo), disable=not show_progress(progress), leave=False,
               desc="dynamics")
    cache: dict[int, tuple] = {}

    def ntk_of(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return empirical_ntk(model, inputs, kind=kind, method=method)

    def dense_at(e: int) -> tuple:
        if e not in cache:
            d = dense.epoch_model(e, device=dev)
            if e == 0:
                recalibrate_bn(d, data.train, 1024, 256)
            g = torch.Generator(device=dev).manual_seed(e)
            xa = attacks.perturb(d, x, y, att, g)
            cache[e] = (d, xa, ntk_of(d, x), ntk_of(d, xa))
        return cache[e]

    rows = []
    for (mask_method, s), run in todo:
        key = _DynKey(config_hash(run.cfg), config_hash(dense.cfg), n_probes, kind,
                      att.describe(), data.cfg)

        def compute(run=run) -> dict:
            out = []
            for e in range(epochs + 1):
                d, xa, kd_clean, kd_adv = dense_at(e)
                m = run.epoch_model(e, device=dev)
                if e == 0:
                    recalibrate_bn(m, data.train, 1024, 256)
                out.append({"epoch": e,
                            "kernel_distance_clean": kernel_distance(
                                ntk_of(m, x), kd_clean),
                            "kernel_distance_adv": kernel_distance(
                                ntk_of(m, xa), kd_adv),
                            "output_gap_clean": output_gap(m, d, x),
                            "output_gap_adv": output_gap(m, d, xa)})
            return {"rows": out}

        for r in cached_evaluation(key, "dynamics", compute, store)["rows"]:
            rows.append({"method": mask_method, "label": LABELS[mask_method], "sparsity": s,
                         **r})
        bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def dynamics_summary(dyn: pd.DataFrame) -> pd.DataFrame:
    """Mean over the training epochs (1..E, init excluded) per method and sparsity."""
    cols = ["kernel_distance_clean", "kernel_distance_adv", "output_gap_clean",
            "output_gap_adv"]
    return dyn[dyn["epoch"] > 0].groupby(["sparsity", "method"])[cols].mean().reset_index()


def width_trend(cfg: RunConfig, widths: list[float], sparsity: float, methods: list[str],
                data: Data, eval_spec: EvalSpec, mask_spec: MaskSpec,
                store: Store | None = None, progress: bool = True) -> pd.DataFrame:
    """Dense PGD-AT and each method at one sparsity, per width: the robust-accuracy gap to
    the dense net of the same width."""
    rows = []
    for w in widths:
        t, _ = study(cfg, [sparsity], methods, data, eval_spec, mask_spec, width=float(w),
                     store=store, progress=progress)
        dense = t[t["method"] == "dense"].iloc[0]
        for _, r in t[t["method"] != "dense"].iterrows():
            rows.append({"width": float(w), "method": r["method"], "label": r["label"],
                         "pgd": r["pgd"], "clean": r["clean"],
                         "dense_pgd": dense["pgd"], "gap_pgd": dense["pgd"] - r["pgd"],
                         "kept_params": r["kept_params"], "n_test": r["n_test"],
                         "seed": r["seed"], "pgd_correct": r["pgd_correct"],
                         "dense_pgd_correct": dense["pgd_correct"]})
    return pd.DataFrame(rows)


__all__ = ["METHODS", "LABELS", "MaskSpec", "probe_pool", "find_mask", "train_masked", "study",
           "dynamics", "dynamics_summary", "width_trend"]
