"""The evaluation core: how a trained run is attacked and measured, cached in the store.

* :class:`EvalSpec`: the strict protocol and the paper's, side by side (attack presets).
* :func:`evaluate_run`: clean, PGD and AutoAttack accuracy of one checkpoint of one run.
* :func:`two_protocol_row`: a run's table row under both protocols, with its size and cost.
* :func:`cached_evaluation`: any other evaluation of one or more stored runs, keyed by the
  runs' configurations and the evaluation's settings.
* :func:`sanity_checks`: the sanity-check suite on stored runs.

Every study evaluates through these, so that one model is never attacked twice with the same
settings and every robustness number carries its attack, eps, steps, restarts and sample count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace

import pandas as pd
import torch

from tickets import accel, attacks, sanity
from tickets.config import AttackConfig, DataConfig, RunConfig, config_hash
from tickets.config import replace as cfg_replace
from tickets.data import Data, load
from tickets.models import param_counts
from tickets.recipes import attack_config
from tickets.store import Store
from tickets.train import TrainRun, default_device, fit


@dataclass(frozen=True)
class EvalSpec:
    """How a model is evaluated: the strict protocol and the paper's, side by side."""

    n_test: int = 1000
    eps: float = 8 / 255
    pgd_steps: int = 20
    pgd_restarts: int = 1
    aa_n: int = 200
    aa_version: str = "standard"
    aa_attacks: tuple[str, ...] = ()
    seed: int = 0
    paper_protocol: bool = True  # also evaluate with test-set selection and early-stop PGD

    def strict_pgd(self) -> AttackConfig:
        """PGD with a random start, no early stop, in eval mode; 2/255 steps at eps 8/255."""
        return attack_config("pgd", self.eps, self.pgd_steps, alpha=2 / 255 if abs(
            self.eps - 8 / 255) < 1e-9 else None, restarts=self.pgd_restarts)

    def paper_pgd(self) -> AttackConfig:
        """The released code's PGD: the same steps, stopping early per sample, one restart."""
        return cfg_replace(self.strict_pgd(), early_stop=True, restarts=1)

    def aa_label(self) -> str:
        if self.aa_version == "custom":
            return "AA(" + "+".join(self.aa_attacks) + ")"
        return f"AA-{self.aa_version}"

    def pgd_label(self) -> str:
        return f"PGD-{self.pgd_steps}"


_DATA_CACHE: dict[tuple, Data] = {}


def load_data(cfg: RunConfig, n_test: int, device: str | torch.device | None = None) -> Data:
    """The run's data with n_test test images, loaded once per process."""
    device = torch.device(device) if device is not None else default_device()
    dcfg = cfg_replace(cfg.data, n_test=n_test)
    key = (dcfg, str(device))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load(dcfg, device)
    return _DATA_CACHE[key]


@dataclass(frozen=True)
class EvalKey:
    """What an evaluation's stored result is keyed by: the runs (their configuration hashes),
    the checkpoint, the attack's description, the number of images, the seed and the data."""

    run: str
    which: str
    attack: str
    n: int
    seed: int
    data: DataConfig = field(default_factory=DataConfig)
    autoattack: str = ""
    version: int = 3  # 3: results keep per-image outcomes


def eval_key(runs: Iterable[TrainRun], what: str, n: int, seed: int, data: Data,
             which: str = "best", autoattack: str = "") -> EvalKey:
    """The key of an evaluation of `runs` (one or several) described by `what`."""
    return EvalKey("|".join(config_hash(r.cfg) for r in runs), which, what, n, seed, data.cfg,
                   autoattack)


def cached_evaluation(key: EvalKey, name: str, compute: Callable[[], dict],
                      store: Store | None = None) -> dict:
    """compute()'s result under key, computed once and then read from the store."""
    return (store or Store()).cached(key, name, compute, kind="eval")


def run_eval_key(run: TrainRun, data: Data, spec: EvalSpec, which: str = "best",
                 protocol: str = "strict") -> EvalKey:
    """The key evaluate_run stores its result under: it changes with the run, the checkpoint,
    every setting of the attack, the number of images, the seed, the data and (strict
    protocol) AutoAttack's settings, and with nothing else."""
    if protocol not in ("strict", "paper"):
        raise ValueError(f"invalid protocol={protocol!r}: allowed values are 'strict', 'paper'")
    attack = spec.strict_pgd() if protocol == "strict" else spec.paper_pgd()
    aa = ""
    if protocol == "strict" and spec.aa_n:
        aa = f"{spec.aa_label()} n={spec.aa_n} v2"
    return eval_key([run], attack.describe(), spec.n_test, spec.seed, data, which, aa)


def evaluate_run(run: TrainRun, data: Data, spec: EvalSpec, store: Store | None = None,
                 which: str = "best", protocol: str = "strict") -> dict:
    """Clean, PGD and (strict protocol) AutoAttack accuracy of one checkpoint, cached.

    protocol='strict': the checkpoint chosen on validation, PGD without early stop, AutoAttack.
    protocol='paper': the checkpoint chosen on the test set, PGD with per-sample early stop.
    """
    key = run_eval_key(run, data, spec, which, protocol)
    attack = spec.strict_pgd() if protocol == "strict" else spec.paper_pgd()
    aa = key.autoattack

    def compute() -> dict:
        model = run.model(which, device=data.test.x.device)
        # PGD runs in the run's precision (bf16 autocast for a bf16 run, part of its key);
        # AutoAttack always in float32.
        precision = run.cfg.train.precision
        if aa:  # the clean and PGD part is the evaluation without AutoAttack, cached on its own
            out = dict(evaluate_run(run, data, dc_replace(spec, aa_n=0), store, which, protocol))
        else:
            t0 = time.perf_counter()
            with accel.autocast(precision, data.test.x.device):
                r = attacks.evaluate(model, data.test, attack, n=spec.n_test, seed=spec.seed)
            out = {"clean": r.clean, "pgd": r.robust, "pgd_attack": r.attack, "n": r.n,
                   "pgd_precision": precision,
                   "eval_seconds": time.perf_counter() - t0, "clean_correct": r.clean_correct,
                   "pgd_correct": r.robust_correct}
        if aa:
            t0 = time.perf_counter()
            res = attacks.autoattack(model, data.test, eps=spec.eps, n=spec.aa_n,
                                     version=spec.aa_version,
                                     attacks=list(spec.aa_attacks) or None, seed=spec.seed)
            out.update({"aa": res.robust, "aa_clean": res.clean, "aa_attack": res.attack,
                        "aa_n": res.n, "aa_seconds": time.perf_counter() - t0,
                        "aa_flags": res.flags,
                        "aa_zero_grad_points": attacks.zero_gradient_points(res.flags),
                        "aa_correct": res.robust_correct})
            # PGD on the same images as AutoAttack, for a like-for-like gap
            with accel.autocast(precision, data.test.x.device):
                sub = attacks.evaluate(model, data.test, attack, n=spec.aa_n, seed=spec.seed)
            out["pgd_on_aa_images"] = sub.robust
            out["pgd_on_aa_correct"] = sub.robust_correct
        return out

    return cached_evaluation(key, f"eval-{protocol}-{which}", compute, store)


def two_protocol_row(run: TrainRun, data: Data, spec: EvalSpec, store: Store | None = None,
                     **extra) -> dict:
    """One table row for a run: `extra` (labels), its size, the strict protocol's clean, PGD
    and AutoAttack accuracy, the paper protocol's clean and PGD accuracy (NaN when
    spec.paper_protocol is off), its cost, its search seed, and the per-image outcomes that
    paired comparisons use.

    Columns: clean, pgd, aa, pgd_on_aa_images (PGD on AutoAttack's images), paper_clean,
    paper_pgd; the attacks themselves are described in pgd_attack and aa_attack; outcomes (a
    string of 0s and 1s per test image) in clean_correct, pgd_correct, aa_correct and
    pgd_on_aa_correct."""
    strict = evaluate_run(run, data, spec, store, "best", "strict")
    paper_which = "best_test" if run.cfg.train.track_test else "last"
    paper = (evaluate_run(run, data, spec, store, paper_which, "paper") if spec.paper_protocol
             else {"clean": float("nan"), "pgd": float("nan")})
    counts = param_counts(run.model("best", device="cpu"))
    return {**extra, "kept_params": counts["kept"], "total_params": counts["total"],
            "clean": strict["clean"], "pgd": strict["pgd"], "aa": strict.get("aa"),
            "pgd_on_aa_images": strict.get("pgd_on_aa_images"),
            "aa_zero_grad_points": strict.get("aa_zero_grad_points"),
            "paper_clean": paper["clean"], "paper_pgd": paper["pgd"],
            "best_epoch": run.best_epoch, "passes": run.passes, "train_seconds": run.seconds,
            "n_test": strict["n"], "aa_n": strict.get("aa_n"),
            "pgd_attack": strict["pgd_attack"], "aa_attack": strict.get("aa_attack"),
            "seed": run.cfg.train.seed, "clean_correct": strict["clean_correct"],
            "pgd_correct": strict["pgd_correct"], "aa_correct": strict.get("aa_correct"),
            "pgd_on_aa_correct": strict.get("pgd_on_aa_correct")}


def describe_scale(profile: str, cfg: RunConfig, data: Data, spec: EvalSpec) -> str:
    """One line naming the scale and data a number was measured at."""
    adv = cfg.train.adversary
    adv_s = f"PGD-{adv.steps}" if adv.kind == "pgd" else adv.kind.upper()
    aa = f", {spec.aa_label()} on {spec.aa_n}" if spec.aa_n else ""
    return (f"{profile} profile: {cfg.model.name} width {cfg.model.width:g}, "
            f"{data.cfg.dataset} {data.source}, {len(data.train)} train / {len(data.val)} val "
            f"images{'' if cfg.data.augment else ' (no crop or flip)'}, {cfg.train.epochs} "
            f"epochs, {adv_s} eps {adv.eps * 255:g}/255 in training; "
            f"{spec.pgd_label()} on {spec.n_test} test images{aa}")


def sanity_checks(runs: dict[str, RunConfig], data: Data, eps: float = 8 / 255, n: int = 100,
                  square_queries: int = 1000, store: Store | None = None) -> pd.DataFrame:
    """The sanity-check suite (tickets.sanity) on the validation-chosen checkpoint of each
    stored run, cached; one row per model and check."""
    results = {}
    for label, run_cfg in runs.items():
        run = fit(run_cfg, data, store, progress=False)
        key = eval_key([run], f"sanity eps={eps} sq={square_queries}", n, 0, data)

        def compute(run: TrainRun = run) -> dict:
            model = run.model("best", device=data.test.x.device)
            return {"checks": [c.as_dict() for c in sanity.run_checks(
                model, data.test, eps=eps, n=n, square_queries=square_queries)]}

        found = cached_evaluation(key, "sanity", compute, store)
        results[label] = [sanity.Check(**c) for c in found["checks"]]
    return sanity.table(results)


def batched(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
            y: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """fn(x, y) over batches of `batch` images, concatenated (crafting adversarial examples
    for many images without holding every activation at once)."""
    return torch.cat([fn(x[i:i + batch], y[i:i + batch]) for i in range(0, len(y), batch)])


__all__ = ["EvalSpec", "EvalKey", "eval_key", "run_eval_key", "cached_evaluation", "load_data", "evaluate_run",
           "two_protocol_row", "describe_scale", "sanity_checks", "batched"]
