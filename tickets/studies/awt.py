"""Study 10: adversarial winning tickets, OUR RECONSTRUCTION (Shi et al. 2022, arXiv 2202.06488,
released no code; its full text was not available to us).

A mask is chosen at initialisation and the masked network is then PGD-trained from scratch,
from the same initial weights as the dense network. Mask methods (the registry's methods that
read the network at initialisation, tickets.masks.registry; find_mask caches their masks):

* ``awt`` (reconstruction): neural tangent transfer on adversarial probes, PGD examples
  against the dense network at init (tickets.masks.ntt);
* ``ntt_clean``: the same on clean probes (Liu & Zenke 2020);
* ``random``: layer-uniform random masks;
* ``magnitude_init``: global magnitude of the initial weights (no layer normalisation);
* ``snip``: SNIP on one batch (Lee et al. 2019).

AWT and NTT learn edge-popup scores, so their masks keep the same fraction in every layer, as
random masks do; magnitude and SNIP rank globally.

Each experiment runs once per search seed (`seeds`; None: cfg's own seed alone). A seed draws
another initial network (tickets.recipes.with_seed), so every mask is searched again in it and
every net trained again, and it shifts NTT's own draws (its probe batches and the probes' PGD
starts: mask_spec.ntt.seed + seed, so seed 0 keeps mask_spec as it is); the data subset and
the test images stay the same. Every row carries its `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as dc_replace

import pandas as pd
import torch
from tqdm import tqdm

from tickets import attacks
from tickets.config import ConfigError, DataConfig, ModelConfig, RunConfig, config_hash
from tickets.data import Data
from tickets.evaluation import EvalSpec, cached_evaluation, two_protocol_row
from tickets.masks import (
    MaskSpec,
    check_method,
    density,
    init_state,
    make_mask,
    mask_tag,
    method_names,
    with_masks,
)
from tickets.models import build_from_config
from tickets.ntk import empirical_ntk, kernel_distance, output_gap
from tickets.recipes import attack_config, weight_config, with_seed
from tickets.store import Store, atomic_torch_save, torch_load_checked
from tickets.sweeps import seeds_of
from tickets.train import TrainRun, fit, recalibrate_bn, show_progress

# the registry's methods that read the network at initialisation alone
METHODS = method_names(at_init=True)
LABELS = {**{m: check_method(m).label for m in METHODS}, "dense": "dense PGD-AT"}


@dataclass(frozen=True)
class _MaskKey:
    model: ModelConfig
    data: DataConfig
    method: str
    sparsity: float
    spec: MaskSpec
    eps: float


def _check_method(method: str) -> None:
    check_method(method, at_init=True)


def _check_sparsity(s: float) -> None:
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < 1:
        raise ConfigError(f"invalid sparsity={s!r}: must lie in [0, 1) (the pruned fraction)")


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
    made = make_mask(method, build_from_config(wcfg.model), 1.0 - float(sparsity),
                     data=data, spec=spec, eps=float(wcfg.train.adversary.eps),
                     seed=wcfg.model.init_seed + 11, progress=progress)
    masks = made.masks
    info: dict = {"method": method, "sparsity": float(sparsity), **made.info}
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


def seed_spec(spec: MaskSpec, seed: int) -> MaskSpec:
    """spec under a search seed: NTT's draws (probe batches, the probes' PGD starts) shifted by
    the seed, so that seed 0 keeps spec as it is."""
    return spec if seed == 0 else dc_replace(spec, ntt=dc_replace(spec.ntt,
                                                                  seed=spec.ntt.seed + seed))


def study(cfg: RunConfig, sparsities: list[float], methods: list[str], data: Data,
          eval_spec: EvalSpec, mask_spec: MaskSpec, width: float | None = None,
          store: Store | None = None, progress: bool = True, seeds: list[int] | None = None
          ) -> tuple[pd.DataFrame, dict[tuple[str, float, int], TrainRun]]:
    """Per seed, every method at every sparsity, PGD-trained from scratch, and dense PGD-AT,
    evaluated with the strict protocol (the masks searched under seed_spec(mask_spec, seed)).
    Returns the table (a `seed` column) and the runs by
    (method, sparsity, seed), dense PGD-AT under ("dense", 0.0, seed)."""
    for m in methods:
        _check_method(m)
    store = store or Store()
    w_cfg = cfg if width is None else weight_config(cfg, masked=True, width=width)
    rows, runs = [], {}
    for seed in seeds_of(cfg, seeds):
        s_cfg = with_seed(w_cfg, seed)
        dense = train_masked(s_cfg, None, "dense", data, store, progress=progress)
        runs[("dense", 0.0, seed)] = dense
        rows.append(two_protocol_row(dense, data, eval_spec, store, method="dense",
                                     label=LABELS["dense"], sparsity=0.0,
                                     width=s_cfg.model.width, mask_seconds=0.0, mask_passes=0))
        for s in sparsities:
            for m in methods:
                masks, info = find_mask(s_cfg, m, float(s), data, seed_spec(mask_spec, seed),
                                        store, progress)
                run = train_masked(s_cfg, masks, m, data, store, progress=progress)
                runs[(m, float(s), seed)] = run
                rows.append(two_protocol_row(run, data, eval_spec, store, method=m,
                                             label=LABELS[m], sparsity=float(s),
                                             width=s_cfg.model.width,
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


def dynamics(runs: dict[tuple[str, float, int], TrainRun], data: Data, n_probes: int = 16,
             kind: str = "full", attack_steps: int = 5, method: str = "jacrev",
             store: Store | None = None, progress: bool = True) -> pd.DataFrame:
    """Kernel distance and output gap between each sparse run and the dense run of its seed
    (runs as study() returns them), at every epoch (0 = init), on n_probes clean test images
    and on PGD examples against the dense net of that epoch; a row per (method, sparsity,
    seed, epoch). Cached per run. These test-image values are only graded: awt-2 chooses
    its baseline on validation (tickets.claims.awt.verdict_awt_dynamics), never on them.
    method is the NTK's (tickets.ntk.empirical_ntk):
    with a few probes, per-example Jacobians were about 10x faster than vjp/jvp products
    for conv4 on the CPU; products never hold a Jacobian, for large nets."""
    store = store or Store()
    dense_runs = {k[2]: r for k, r in runs.items() if k[0] == "dense"}
    todo = [(k, r) for k, r in runs.items() if k[0] != "dense"]
    if missing := sorted({k[2] for k, _ in todo} - set(dense_runs)):
        raise ValueError(f"runs of seed(s) {missing} have no dense run ('dense', 0.0, seed)")
    split = data.test.head(n_probes)
    x, y = split.images(), split.y
    dev = data.test.x.device
    bar = tqdm(total=len(todo), disable=not show_progress(progress), leave=False,
               desc="dynamics")
    cache: dict[tuple[int, int], tuple] = {}

    def ntk_of(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return empirical_ntk(model, inputs, kind=kind, method=method)

    def attack_of(seed: int):
        return attack_config("pgd", dense_runs[seed].cfg.train.adversary.eps, attack_steps)

    def dense_at(seed: int, e: int) -> tuple:
        if (seed, e) not in cache:
            d = dense_runs[seed].epoch_model(e, device=dev)
            if e == 0:
                recalibrate_bn(d, data.train, 1024, 256)
            g = torch.Generator(device=dev).manual_seed(e)
            xa = attacks.perturb(d, x, y, attack_of(seed), g)
            cache[(seed, e)] = (d, xa, ntk_of(d, x), ntk_of(d, xa))
        return cache[(seed, e)]

    rows = []
    for (mask_method, s, seed), run in todo:
        dense = dense_runs[seed]
        key = _DynKey(config_hash(run.cfg), config_hash(dense.cfg), n_probes, kind,
                      attack_of(seed).describe(), data.cfg)

        def compute(run=run, seed=seed, dense=dense) -> dict:
            out = []
            for e in range(len(dense.history) + 1):
                d, xa, kd_clean, kd_adv = dense_at(seed, e)
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
                         "seed": seed, **r})
        bar.update(1)
    bar.close()
    return pd.DataFrame(rows)


def dynamics_summary(dyn: pd.DataFrame) -> pd.DataFrame:
    """Mean over the training epochs (1..E, init excluded) and the seeds, per method and
    sparsity."""
    cols = ["kernel_distance_clean", "kernel_distance_adv", "output_gap_clean",
            "output_gap_adv"]
    return dyn[dyn["epoch"] > 0].groupby(["sparsity", "method"])[cols].mean().reset_index()


def width_trend(cfg: RunConfig, widths: list[float], sparsity: float, methods: list[str],
                data: Data, eval_spec: EvalSpec, mask_spec: MaskSpec,
                store: Store | None = None, progress: bool = True,
                seeds: list[int] | None = None) -> pd.DataFrame:
    """Dense PGD-AT and each method at one sparsity, per width and seed: the robust-accuracy
    gap to the dense net of the same width and seed."""
    rows = []
    for w in widths:
        t, _ = study(cfg, [sparsity], methods, data, eval_spec, mask_spec, width=float(w),
                     store=store, progress=progress, seeds=seeds)
        for _, r in t[t["method"] != "dense"].iterrows():
            dense = t[(t["method"] == "dense") & (t["seed"] == r["seed"])].iloc[0]
            rows.append({"width": float(w), "method": r["method"], "label": r["label"],
                         "pgd": r["pgd"], "clean": r["clean"],
                         "dense_pgd": dense["pgd"], "gap_pgd": dense["pgd"] - r["pgd"],
                         "kept_params": r["kept_params"], "n_test": r["n_test"],
                         "seed": r["seed"], "pgd_correct": r["pgd_correct"],
                         "dense_pgd_correct": dense["pgd_correct"]})
    return pd.DataFrame(rows)


__all__ = ["METHODS", "LABELS", "MaskSpec", "seed_spec", "find_mask", "train_masked", "study",
           "dynamics", "dynamics_summary", "width_trend"]
