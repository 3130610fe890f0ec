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
from tickets.attacks import AA_NAMES, AA_VERSION_ATTACKS, aa_attack_label
from tickets.config import AttackConfig, DataConfig, RunConfig, config_hash
from tickets.config import replace as cfg_replace
from tickets.data import Data, load
from tickets.models import param_counts
from tickets.recipes import attack_config
from tickets.store import Store
from tickets.train import TrainRun, default_device, fit

AA_VERSIONS = ("standard", "custom", "rand", "plus")


@dataclass(frozen=True)
class EvalSpec:
    """How a model is evaluated: the strict protocol and the paper's, side by side.

    aa_version 'standard' runs AutoAttack's standard version (APGD-CE, APGD-T, FAB-T, Square
    with 5,000 queries); 'custom' runs aa_attacks alone, and its labels say so. The robust
    accuracy reported under AutoAttack is the per-image worst case over every attack run on
    the image (PGD included): see :func:`worst_case`."""

    n_test: int = 1000
    eps: float = 8 / 255
    pgd_steps: int = 20
    pgd_restarts: int = 1
    aa_n: int = 200
    aa_version: str = "standard"
    aa_attacks: tuple[str, ...] = ()
    seed: int = 0
    paper_protocol: bool = True  # also evaluate with test-set selection and early-stop PGD

    def __post_init__(self) -> None:
        if self.aa_version not in AA_VERSIONS:
            raise ValueError(f"invalid aa_version={self.aa_version!r}: allowed values are "
                             f"{AA_VERSIONS}")
        unknown = [a for a in self.aa_attacks if a not in AA_NAMES]
        if unknown:
            raise ValueError(f"invalid aa_attacks={list(self.aa_attacks)!r}: {unknown} unknown; "
                             f"allowed names are {sorted(AA_NAMES)}")
        if self.aa_version == "custom" and self.aa_n and not self.aa_attacks:
            raise ValueError("invalid aa_attacks=(): aa_version='custom' runs the attacks "
                             f"named in aa_attacks, one or more of {sorted(AA_NAMES)}")
        if self.aa_version != "custom" and self.aa_attacks and self.aa_n:
            raise ValueError(f"invalid aa_attacks={list(self.aa_attacks)!r} with aa_version="
                             f"{self.aa_version!r}: the {self.aa_version} version fixes its "
                             f"attacks; name attacks only with aa_version='custom'")

    def strict_pgd(self) -> AttackConfig:
        """PGD with a random start, no early stop, in eval mode; 2/255 steps at eps 8/255."""
        return attack_config("pgd", self.eps, self.pgd_steps, alpha=2 / 255 if abs(
            self.eps - 8 / 255) < 1e-9 else None, restarts=self.pgd_restarts)

    def paper_pgd(self) -> AttackConfig:
        """The released code's PGD: the same steps, stopping early per sample, one restart."""
        return cfg_replace(self.strict_pgd(), early_stop=True, restarts=1)

    def aa_attacks_run(self) -> tuple[str, ...]:
        """The attacks AutoAttack runs under this spec, in pyautoattack's names."""
        if self.aa_version == "custom":
            return tuple(self.aa_attacks)
        return AA_VERSION_ATTACKS[self.aa_version]

    def aa_label(self) -> str:
        """The AutoAttack part, naming the attacks that run: 'AutoAttack standard (APGD-CE,
        APGD-T, FAB-T, Square (5000 queries))', or 'APGD-CE alone (a subset of AutoAttack)'."""
        eot = 20 if self.aa_version == "rand" else 1
        return aa_attack_label(self.aa_version, self.aa_attacks_run(), eot_iter=eot)

    def aa_worst_label(self) -> str:
        """What the reported AutoAttack figure is: the per-image worst case of PGD and the
        AutoAttack part."""
        return f"worst case per image of {self.pgd_label()} and {self.aa_label()}"

    def aa_key(self) -> str:
        """The AutoAttack part of a stored evaluation's key (its wording predates aa_label,
        and is kept so that stored evaluations stay valid)."""
        if self.aa_version == "custom":
            return "AA(" + "+".join(self.aa_attacks) + ")"
        return f"AA-{self.aa_version}"

    def pgd_label(self) -> str:
        return f"PGD-{self.pgd_steps}"


def worst_case(*outcomes: str) -> str:
    """The per-image worst case (a 0/1 string: right under every attack) of outcome strings
    of attacks run on the same images; a longer string is cut to the shortest (its first
    images are the same images)."""
    if not outcomes:
        raise ValueError("invalid outcomes=(): needs the outcomes of at least one attack")
    n = min(len(o) for o in outcomes)
    return "".join("1" if all(o[i] == "1" for o in outcomes) else "0" for i in range(n))


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
        aa = f"{spec.aa_key()} n={spec.aa_n} v2"
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

    Columns: val_pgd and val_clean (validation, at the selected checkpoint: what choices are
    made on), clean, pgd, aa (the per-image worst case of PGD and AutoAttack on AutoAttack's
    images), aa_alone (AutoAttack by itself), pgd_on_aa_images (PGD on AutoAttack's images),
    paper_clean, paper_pgd; the attacks themselves are described in pgd_attack and aa_attack;
    outcomes (a string of 0s and 1s per test image) in clean_correct, pgd_correct, aa_correct,
    aa_alone_correct and pgd_on_aa_correct."""
    strict = evaluate_run(run, data, spec, store, "best", "strict")
    aa = aa_columns(strict, spec)
    paper_which = "best_test" if run.cfg.train.track_test else "last"
    paper = (evaluate_run(run, data, spec, store, paper_which, "paper") if spec.paper_protocol
             else {"clean": float("nan"), "pgd": float("nan")})
    counts = param_counts(run.model("best", device="cpu"))
    return {**extra, "kept_params": counts["kept"], "total_params": counts["total"],
            **validation_columns(run),
            "clean": strict["clean"], "pgd": strict["pgd"], "aa": aa["aa"],
            "aa_alone": aa["aa_alone"],
            "pgd_on_aa_images": strict.get("pgd_on_aa_images"),
            "aa_zero_grad_points": strict.get("aa_zero_grad_points"),
            "paper_clean": paper["clean"], "paper_pgd": paper["pgd"],
            "best_epoch": run.best_epoch, "passes": run.passes, "train_seconds": run.seconds,
            "n_test": strict["n"], "aa_n": strict.get("aa_n"),
            "pgd_attack": strict["pgd_attack"], "aa_attack": aa["aa_attack"],
            "seed": run.cfg.train.seed, "clean_correct": strict["clean_correct"],
            "pgd_correct": strict["pgd_correct"], "aa_correct": aa["aa_correct"],
            "aa_alone_correct": aa["aa_alone_correct"],
            "pgd_on_aa_correct": strict.get("pgd_on_aa_correct")}


def aa_columns(strict: dict, spec: EvalSpec) -> dict:
    """The AutoAttack columns of a row from a stored strict evaluation: aa (and aa_correct),
    the per-image worst case over every attack run on AutoAttack's images (PGD on the full
    test subset, PGD again on AutoAttack's images, and AutoAttack's own attacks); aa_alone
    (and aa_alone_correct), AutoAttack's figure by itself; aa_attack, naming them all, with
    AutoAttack's part as the run itself recorded it (read from the AutoAttack object, so it
    names the attacks, queries and EOT draws that ran). None where AutoAttack did not run."""
    if strict.get("aa_correct") is None:
        return {"aa": None, "aa_correct": None, "aa_alone": None, "aa_alone_correct": None,
                "aa_attack": None}
    runs = [strict["aa_correct"], strict["pgd_correct"]]
    if strict.get("pgd_on_aa_correct"):
        runs.append(strict["pgd_on_aa_correct"])
    worst = worst_case(*runs)
    return {"aa": worst.count("1") / max(len(worst), 1), "aa_correct": worst,
            "aa_alone": strict["aa"], "aa_alone_correct": strict["aa_correct"],
            "aa_attack": (f"worst case per image of {spec.pgd_label()} and "
                          f"{strict['aa_attack']}") if strict.get("aa_attack")
            else f"{spec.aa_worst_label()} eps={spec.eps * 255:g}/255"}


def validation_columns(run: TrainRun) -> dict:
    """val_pgd and val_clean: robust and clean accuracy on the validation split at the
    checkpoint the run selected on validation (its best epoch), as measured during training
    (train.val_attack on train.n_val_eval validation images); NaN when the run measured none.
    Every choice of a best ratio, variant or width is made on these, never on test."""
    nan = float("nan")
    if run.best_epoch < 1 or run.best_epoch > len(run.history):
        return {"val_pgd": nan, "val_clean": nan}
    row = run.history[run.best_epoch - 1]
    return {"val_pgd": row.get("val_robust", nan), "val_clean": row.get("val_clean", nan)}


def describe_scale(profile: str, cfg: RunConfig, data: Data, spec: EvalSpec) -> str:
    """One line naming the scale and data a number was measured at, with what departs from
    the papers: BatchNorm re-estimated every epoch (when on), the AutoAttack figures' attacks,
    and under the paper protocol how its test-set checkpoint was chosen (the attack, on how
    many test images, and whether that is the evaluation's own early-stop PGD) and whether the
    released code's flaw (c) (BatchNorm in train mode while training examples are crafted)
    was exercised."""
    tc = cfg.train
    adv = tc.adversary
    adv_s = f"PGD-{adv.steps}" if adv.kind == "pgd" else adv.kind.upper()
    recal = (f"; BatchNorm statistics re-estimated on {min(tc.bn_recalibrate, len(data.train)):,}"
             f" clean training images every epoch (not in the papers)"
             if tc.bn_recalibrate else "")
    if spec.aa_n and spec.aa_version == "rand":  # a randomised model (study 08's R2S)
        aa = (f"; AutoAttack figures: {aa_attack_label('rand', spec.aa_attacks_run())} at the "
              f"study's EOT draws on {spec.aa_n} test images, each image's worst case over "
              f"repeated evaluations")
    elif spec.aa_n:
        aa = f"; AutoAttack figures: {spec.aa_worst_label()} on {spec.aa_n} test images"
    else:
        aa = ""
    paper = ""
    if spec.paper_protocol:
        ta = tc.test_attack
        n_chosen = min(tc.n_test_eval or len(data.test), len(data.test))
        own = ("the evaluation's own attack" if ta == spec.paper_pgd()
               else f"not the evaluation's PGD-{spec.pgd_steps} early-stop")
        chooser = (f"{'PGD-' + str(ta.steps) if ta.kind == 'pgd' else ta.kind.upper()}"
                   f"{' early-stop' if ta.early_stop else ''} on "
                   f"{'all ' if n_chosen == len(data.test) else ''}{n_chosen} test images "
                   f"({own})" if tc.track_test
                   else "none (test not tracked), so the last epoch")
        flaw_c = {"update": "exercised (training examples crafted in train mode, BatchNorm "
                            "running statistics updated)",
                  "batch": "not exercised (training examples crafted on batch statistics, "
                           "running statistics frozen)",
                  "eval": "not exercised (training examples crafted in eval mode)"}[tc.adv_bn]
        paper = (f"; paper protocol: checkpoint chosen on the test split by {chooser}, "
                 f"early-stop PGD; flaw (c) {flaw_c}")
    return (f"{profile} profile: {cfg.model.name} width {cfg.model.width:g}, "
            f"{data.cfg.dataset} {data.source}, {len(data.train)} train / {len(data.val)} val "
            f"images{'' if cfg.data.augment else ' (no crop or flip)'}, {tc.epochs} "
            f"epochs, {adv_s} eps {adv.eps * 255:g}/255 in training{recal}; "
            f"{spec.pgd_label()} on {spec.n_test} test images{aa}{paper}")


def sanity_checks(runs: dict[str, RunConfig], data: Data, eps: float = 8 / 255, n: int = 100,
                  square_queries: int = 1000, store: Store | None = None) -> pd.DataFrame:
    """The sanity-check suite (tickets.sanity) on the validation-chosen checkpoint of each
    stored run, cached; one row per model and check."""
    results = {}
    for label, run_cfg in runs.items():
        run = fit(run_cfg, data, store, progress=False)
        key = eval_key([run], f"sanity eps={eps} sq={square_queries} v2", n, 0, data)

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


__all__ = ["EvalSpec", "EvalKey", "eval_key", "run_eval_key", "cached_evaluation", "load_data",
           "evaluate_run", "two_protocol_row", "aa_columns", "validation_columns", "worst_case",
           "describe_scale", "sanity_checks", "batched", "AA_VERSIONS"]
