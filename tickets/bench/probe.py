"""Scale probes: single runs at a candidate cpu scale, trained and then measured on the
validation split. A probe chooses settings, so it never sees the test images that the report
grades on: the data it trains and evaluates on has its test split withheld."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

from tickets.config import RunConfig
from tickets.data import Data
from tickets.store import Store

PROBE_PGD_STEPS = 20


class WithheldSplit:
    """A stand-in for a split that must not be read: any use of it raises."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _refuse(self) -> RuntimeError:
        name = self.__dict__.get("_name", "test")
        return RuntimeError(f"the {name} split is withheld here: a probe chooses settings "
                            "and must not read the images the report grades on")

    def __getattr__(self, attr: str):
        raise self._refuse()

    def __len__(self) -> int:
        raise self._refuse()


def without_test(data: Data) -> Data:
    """data with its test split withheld (WithheldSplit): train and validation only."""
    return dataclasses.replace(data, test=WithheldSplit("test"))


def probe_config(epochs: int = 12, width: float = 0.5, lr: float = 0.1, n_train: int = 10_000,
                 batch_size: int = 128, augment: bool = True, seed: int = 0) -> RunConfig:
    """The search configuration a probe trains at: conv4, PGD-2 training, cosine lr, 1,000
    validation images (the first 500 choose the checkpoint under PGD-5), random crop and flip
    unless augment is off, no test tracking; seed is the search seed (recipes.with_seed)."""
    from tickets.config import replace as cfg_replace
    from tickets.recipes import base_config, with_seed

    cfg = base_config(model="conv4", width=width, n_train=n_train, n_val=1000, epochs=epochs,
                      batch_size=batch_size, lr=lr, schedule="cosine", adversary="pgd",
                      adv_steps=2, val_steps=5, n_val_eval=500, track_test=False)
    if not augment:
        cfg = cfg_replace(cfg, **{"data.augment": False})
    return with_seed(cfg, seed)


def evaluate_on_validation(run, data: Data, store: Store | None = None,
                           steps: int = PROBE_PGD_STEPS) -> dict:
    """Clean and strict PGD-`steps` accuracy of a run's validation-chosen checkpoint on the
    whole validation split, cached in the store under a key that names the split."""
    from tickets import accel, attacks
    from tickets.evaluation import EvalSpec, cached_evaluation, eval_key

    attack = EvalSpec(pgd_steps=steps).strict_pgd()
    n = len(data.val)
    if n == 0:
        raise ValueError("a probe evaluates on the validation split, and it is empty: "
                         "n_val must be at least 1")
    key = eval_key([run], f"{attack.describe()} on val", n, 0, data)

    def compute() -> dict:
        model = run.model("best", device=data.val.x.device)
        with accel.autocast(run.cfg.train.precision, data.val.x.device):
            r = attacks.evaluate(model, data.val, attack, n=n, seed=0)
        return {"val_clean": r.clean, "val_pgd": r.robust, "val_attack": r.attack, "val_n": r.n}

    return cached_evaluation(key, "probe-val", compute, store)


def probe_runs(which: Iterable[str], cfg: RunConfig, data: Data, store: Store) -> dict:
    """Train each of `which` ('dense', or an RST's remaining ratio) at cfg and measure it on
    the validation split; the test split is withheld throughout (without_test)."""
    from tickets.recipes import dense_config, rst_config
    from tickets.train import fit

    data = without_test(data)
    out = {}
    for w in which:
        c = dense_config(cfg) if w == "dense" else rst_config(cfg, float(w))
        t = time.perf_counter()
        run = fit(c, data, store, progress=False)
        ev = evaluate_on_validation(run, data, store)
        out[w] = {"val_clean": ev["val_clean"], "val_pgd": ev["val_pgd"],
                  "val_attack": ev["val_attack"], "val_n": ev["val_n"],
                  "train_seconds": run.seconds, "wall_seconds": time.perf_counter() - t,
                  "best_epoch": run.best_epoch}
    return out


def scale_probe(which: list[str], epochs: int = 12, width: float = 0.5, lr: float = 0.1,
                n_train: int = 10_000, store: str = "bench/probe-store",
                batch_size: int = 128, augment: bool = True, seed: int = 0) -> dict:
    """Validation accuracy and time of single runs at a candidate cpu scale (probe_config;
    clean and strict PGD-20 on the 1,000 validation images): `which` holds 'dense' and
    remaining ratios of RSTs. Needs the data (TICKETS_DATA)."""
    from tickets.evaluation import load_data

    cfg = probe_config(epochs, width, lr, n_train, batch_size, augment, seed)
    return probe_runs(which, cfg, load_data(cfg, 1000), Store(store))
