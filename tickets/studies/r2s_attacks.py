"""Study 08: the Random RST Switch (R2S) of one random network's tickets, under five attacks.

One function per evaluation, each cached in the store on its own, each returning one table
row (accuracy of the switched R2S: the mean over `draws` random draws, and their spread):

1. :func:`paper_attack`: PGD crafted on one randomly chosen member per batch (non-adaptive);
2. :func:`expectation_attack`: PGD on the exact expectation of the loss, or of the softmax,
   over all members (the member set is small, so no sampling is needed);
3. :func:`eot_attack`: EOT-PGD with a number of sampled switches per step;
4. :func:`autoattack_rand`: AutoAttack's version for randomised defences (APGD-CE and
   APGD-DLR with EOT over 20 draws), an image counted robust only when the switch classifies
   it right in every one of at least 5 repeated evaluations;
5. :func:`dense_transfer`: transfer from the same-width dense PGD-AT model.

:func:`r2s_evaluation` runs them all and adds the members' own PGD accuracy, the storage and
the inference cost, for each search seed, and the per-image worst case over every attack run
on an image (:func:`worst_case_rows`).

Every row carries `worst_case` beside `accuracy`: the share of images the switch classified
right in every one of its draws (accuracy is the mean over draws).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch

from tickets import attacks, r2s, sanity
from tickets.attacks import AA_VERSION_ATTACKS, aa_attack_label
from tickets.config import RunConfig
from tickets.data import Data
from tickets.evaluation import EvalSpec, batched, cached_evaluation, eval_key, validation_columns
from tickets.executor import train_all
from tickets.recipes import dense_config, rst_config, with_seed
from tickets.store import Store
from tickets.sweeps import seeds_of
from tickets.train import TrainRun, fit


@dataclass
class Switch:
    """An R2S over stored tickets, ready to attack: its member runs and the test images."""

    runs: list[TrainRun]
    data: Data
    n: int
    switch: str = "input"
    seed: int = 0
    draws: int = 5

    @property
    def search_seed(self) -> int:
        return self.runs[0].cfg.train.seed

    @property
    def device(self) -> torch.device:
        return self.data.test.x.device

    def members(self) -> list[torch.nn.Module]:
        return [r.model("best", device=self.device) for r in self.runs]

    def model(self) -> r2s.R2S:
        return r2s.R2S(self.members(), switch=self.switch, seed=self.seed).eval()

    def images(self) -> tuple[torch.Tensor, torch.Tensor]:
        split = self.data.test.head(self.n)
        return split.images(), split.y

    def generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed)

    def key(self, what: str, n: int | None = None):
        return eval_key(self.runs, f"r2s {self.switch} {what} draws={self.draws}",
                        self.n if n is None else n, self.seed, self.data)


def switch_of(cfg: RunConfig, ratios: list[float], data: Data, n: int, switch: str = "input",
              seed: int = 0, draws: int = 5, store: Store | None = None) -> Switch:
    """The R2S of cfg's stored tickets at `ratios` (searched if absent)."""
    runs = [fit(rst_config(cfg, r), data, store, progress=False) for r in ratios]
    return Switch(runs, data, n, switch, seed, draws)


def _row(model: torch.nn.Module, name: str, how: str, x_adv: torch.Tensor, y: torch.Tensor,
         draws: int, t0: float) -> dict:
    """A table row: accuracy over `draws` draws of the switch (mean, and max - min), and per
    image the share of draws that were right (the outcomes paired comparisons use)."""
    right = r2s.randomized_outcomes(model, x_adv, y, draws).float()
    per_draw = right.mean(dim=1)
    return {"evaluation": name, "attack": how, "accuracy": per_draw.mean().item(),
            "worst_case": right.min(dim=0).values.mean().item(),
            "spread": (per_draw.max() - per_draw.min()).item(), "n": len(y), "draws": draws,
            "seconds": time.perf_counter() - t0,
            "outcomes": [round(v, 4) for v in right.mean(dim=0).tolist()]}


def _crafted(sw: Switch, spec: EvalSpec, name: str, what: str,
             craft: Callable[[r2s.R2S, list, torch.Generator], Callable], store: Store | None
             ) -> dict:
    """A cached row: examples crafted batch by batch by craft(model, members, generator)."""
    attack = spec.strict_pgd()

    def compute() -> dict:
        t0 = time.perf_counter()
        model = sw.model()
        x, y = sw.images()
        fn = craft(model, list(model.members), sw.generator())
        return _row(model, name, attack.describe(), batched(fn, x, y), y, sw.draws, t0)

    return cached_evaluation(sw.key(f"{what} {attack.describe()}"), "r2s-row-v2", compute, store)


def clean(sw: Switch, store: Store | None = None) -> dict:
    def compute() -> dict:
        t0 = time.perf_counter()
        x, y = sw.images()
        return _row(sw.model(), "clean", "none", x, y, sw.draws, t0)

    return cached_evaluation(sw.key("clean"), "r2s-row-v2", compute, store)


def paper_attack(sw: Switch, spec: EvalSpec, store: Store | None = None) -> dict:
    """PGD on one member per batch, drawn at random: the paper's non-adaptive evaluation."""
    attack = spec.strict_pgd()

    def craft(model, members, g):
        pick = torch.Generator().manual_seed(sw.seed + 1)

        def fn(xb, yb):
            k = int(torch.randint(0, len(members), (1,), generator=pick))
            return attacks.perturb(members[k], xb, yb, attack, g)
        return fn

    return _crafted(sw, spec, "1 paper: PGD on a random member", "paper", craft, store)


def expectation_attack(sw: Switch, spec: EvalSpec, over: str = "loss",
                       store: Store | None = None) -> dict:
    """PGD on the exact expectation, over all members, of the loss or of the softmax."""
    attack = spec.strict_pgd()

    def craft(model, members, g):
        exp = r2s.Expectation(model, over=over)
        return lambda xb, yb: attacks.perturb(exp, xb, yb, attack, g)

    return _crafted(sw, spec, f"2 exact expectation of the {over}", f"expectation-{over}",
                    craft, store)


def eot_attack(sw: Switch, spec: EvalSpec, eot_n: int = 8, store: Store | None = None) -> dict:
    """EOT-PGD: every step averages the gradient over eot_n sampled switches."""
    attack = spec.strict_pgd()

    def craft(model, members, g):
        eot = r2s.EOT(model, eot_n)
        return lambda xb, yb: attacks.perturb(eot, xb, yb, attack, g)

    return _crafted(sw, spec, f"3 EOT-PGD, {eot_n} draws per step", f"eot={eot_n}", craft,
                    store)


def autoattack_rand(sw: Switch, spec: EvalSpec, aa_n: int = 100, eot_iter: int = 20,
                    store: Store | None = None, repeats: int = 5) -> dict:
    """AutoAttack's rand version (APGD-CE and APGD-DLR with EOT over eot_iter draws; 20 is the
    standard) on the first aa_n images, its examples classified `repeats` times (at least 5,
    and at least the switch's draws): worst_case counts an image robust only when every
    evaluation is right, accuracy is the mean over them. The row also has the clean accuracy
    on those images."""
    if eot_iter < 1:
        raise ValueError(f"invalid eot_iter={eot_iter!r}: draws per gradient, at least 1 "
                         f"(20 is AutoAttack's standard for randomised defences)")
    if repeats < 5:
        raise ValueError(f"invalid repeats={repeats!r}: repeated stochastic evaluations of "
                         f"the attacked images, at least 5")
    m = min(aa_n, sw.n)
    evaluations = max(repeats, sw.draws)
    label = aa_attack_label("rand", AA_VERSION_ATTACKS["rand"], eot_iter=eot_iter)

    def compute() -> dict:
        from pyautoattack import AutoAttack

        t0 = time.perf_counter()
        model = sw.model()
        x, y = sw.images()
        with attacks.autoattack_log():
            aa = AutoAttack(model, version="rand", eps=spec.eps, device=sw.device, seed=sw.seed)
            aa.verbose = False
            aa.apgd.eot_iter = eot_iter
            xa = aa.run_standard_evaluation(x[:m], y[:m], batch_size=250)[0]
        row = _row(model, "4 AutoAttack (rand version)",
                   f"{label}, worst of {evaluations} evaluations", xa, y[:m], evaluations, t0)
        row["clean_same_images"] = r2s.randomized_accuracy(model, x[:m], y[:m], sw.draws)[0]
        return row

    return cached_evaluation(sw.key(f"autoattack-rand eps={spec.eps} eot={eot_iter} "
                                    f"evaluations={evaluations}", m),
                             "r2s-row-v2", compute, store)


def with_worst_case(row: dict) -> dict:
    """row with its worst_case (the share of images right in every draw), derived from its
    per-image outcomes where the stored row predates the column."""
    if "worst_case" in row:
        return row
    shares = row["outcomes"]
    return {**row, "worst_case": sum(v >= 1.0 for v in shares) / max(len(shares), 1)}


def worst_case_rows(rows: list[dict]) -> dict:
    """The per-image worst case over every attack row of one switch (clean left out): an
    image counts as robust only when every attack left it right in every draw. Over the
    images every row attacked (the first aa_n when AutoAttack ran on fewer): accuracy, n,
    the evaluations it covers, and the per-image 0/1 outcomes."""
    attacked = [r for r in rows if r["evaluation"] != "clean"]
    if not attacked:
        raise ValueError("invalid rows: no attack row to take a worst case over")
    n = min(len(r["outcomes"]) for r in attacked)
    right = torch.tensor([[v >= 1.0 for v in r["outcomes"][:n]] for r in attacked])
    worst = right.all(dim=0)
    return {"evaluation": "worst case over every attack", "accuracy": worst.float().mean()
            .item(), "n": n, "over": [r["evaluation"] for r in attacked],
            "outcomes": [int(v) for v in worst.tolist()]}


def dense_transfer(sw: Switch, spec: EvalSpec, dense_run: TrainRun,
                   store: Store | None = None) -> dict:
    """PGD crafted on a dense PGD-AT model, evaluated on the R2S."""
    attack = spec.strict_pgd()

    def craft(model, members, g):
        dense = dense_run.model("best", device=sw.device)
        return lambda xb, yb: attacks.perturb(dense, xb, yb, attack, g)

    return _crafted(sw, spec, "5 transfer from dense PGD-AT", f"transfer-from-dense "
                    f"{dense_run.directory.name}", craft, store)


def member_rows(sw: Switch, spec: EvalSpec, ratios: list[float],
                store: Store | None = None) -> list[dict]:
    """Each member's own strict PGD accuracy and per-image outcomes on the same images."""
    attack = spec.strict_pgd()

    def compute() -> dict:
        out = []
        for r, m in zip(ratios, sw.members(), strict=True):
            res = attacks.evaluate(m, sw.data.test, attack, n=sw.n, seed=sw.seed)
            out.append({"remaining": float(r), "pgd": res.robust,
                        "pgd_correct": res.robust_correct, "seed": sw.search_seed})
        return {"rows": out}

    return cached_evaluation(sw.key(f"members {attack.describe()}"), "r2s-members-v2", compute,
                             store)["rows"]


def r2s_evaluation(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec, n: int,
                   eot_n: int = 8, draws: int = 5, aa_n: int = 100, aa_eot_iter: int = 20,
                   switch: str = "input", store: Store | None = None,
                   seeds: list[int] | None = None, dense_lr: float | None = None,
                   aa_repeats: int = 5) -> dict:
    """The R2S of cfg's tickets at `ratios` under the five evaluations, side by side, for each
    search seed (one random network and its tickets per seed).

    Returns rows (per seed, one per evaluation, clean first, with a seed column), worst (per
    seed, the per-image worst case over every attack: worst_case_rows), members (each
    member's PGD accuracy, outcomes and validation accuracy, per seed), storage (bytes) and
    inference (time against one member), the last two for the first seed's switch.
    AutoAttack's rand version runs at EOT aa_eot_iter, its examples evaluated aa_repeats
    times (autoattack_rand). The transfer source is the dense
    PGD-AT baseline at dense_lr (study 01's, so its stored run is reused; None: cfg's lr)."""
    rows, worst, members, first = [], [], [], None
    # a cold store: every member and dense baseline through the executor first (two workers
    # by default), then the loop below finds them stored
    train_all([rst_config(with_seed(cfg, s), r) for s in seeds_of(cfg, seeds) for r in ratios]
              + [dense_config(with_seed(cfg, s), lr=dense_lr) for s in seeds_of(cfg, seeds)],
              data, store, progress=False)
    for s in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, s)
        sw = switch_of(scfg, ratios, data, n, switch, spec.seed, draws, store)
        first = first or sw
        dense_run = fit(dense_config(scfg, lr=dense_lr), data, store, progress=False)
        evals = [clean(sw, store), paper_attack(sw, spec, store),
                 expectation_attack(sw, spec, "loss", store),
                 expectation_attack(sw, spec, "softmax", store), eot_attack(sw, spec, eot_n, store)]
        if aa_n:
            evals.append(autoattack_rand(sw, spec, aa_n, aa_eot_iter, store, aa_repeats))
        evals.append(dense_transfer(sw, spec, dense_run, store))
        evals = [with_worst_case(r) for r in evals]
        rows += [{**r, "seed": s} for r in evals]
        worst.append({**worst_case_rows(evals), "seed": s})
        members += [{**m, **validation_columns(run)}
                    for m, run in zip(member_rows(sw, spec, ratios, store), sw.runs, strict=True)]
    model = first.model()
    return {"rows": rows, "worst": worst, "members": members,
            "storage": r2s.storage_bytes(model),
            "inference": r2s.inference_cost(model, first.images()[0][:256])}


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluation, in order: accuracy and spread averaged over the search seeds,
    seconds summed, and how many seeds."""
    agg = {"attack": "first", "accuracy": "mean", "spread": "mean", "n": "first",
           "draws": "first", "seconds": "sum", "seed": "nunique"}
    if "worst_case" in rows:
        agg["worst_case"] = "mean"
    if "clean_same_images" in rows:
        agg["clean_same_images"] = "mean"
    return (rows.groupby("evaluation", sort=False).agg(agg).rename(columns={"seed": "seeds"})
            .reset_index())


def r2s_sanity(cfg: RunConfig, ratios: list[float], data: Data, eps: float = 8 / 255,
               n: int = 100, square_queries: int = 1000, repeats: int = 3,
               switch: str = "input", seed: int = 0, store: Store | None = None
               ) -> pd.DataFrame:
    """The sanity-check suite on the R2S itself (a randomised model, so with the
    repeated-evaluation check), cached; rows as tickets.evaluation.sanity_checks gives them."""
    sw = switch_of(cfg, ratios, data, n, switch, seed, store=store)
    key = eval_key(sw.runs, f"r2s-sanity {switch} eps={eps} sq={square_queries} rep={repeats} v3",
                   n, seed, data)

    def compute() -> dict:
        return {"checks": [c.as_dict() for c in sanity.run_checks(
            sw.model(), data.test, eps=eps, n=n, seed=seed, square_queries=square_queries,
            repeats=repeats)]}

    found = cached_evaluation(key, "sanity", compute, store)
    return sanity.table({f"R2S of r={', '.join(f'{r:g}' for r in ratios)}":
                         [sanity.Check(**c) for c in found["checks"]]})


__all__ = ["Switch", "switch_of", "clean", "paper_attack", "expectation_attack", "eot_attack",
           "autoattack_rand", "with_worst_case", "worst_case_rows", "dense_transfer", "member_rows",
           "r2s_evaluation", "summary",
           "r2s_sanity"]
