"""RST searches over remaining ratios and over variants of the search: the runs that studies
01-08 share. A run whose configuration is already in the store (another study's) is reused,
never trained twice. The runs of a sweep are handed to the executor (tickets.executor) before
they are evaluated, so that TICKETS_EXECUTOR=local or ray trains them in parallel."""

from __future__ import annotations

import pandas as pd

from tickets.config import RunConfig
from tickets.config import replace as cfg_replace
from tickets.data import Data
from tickets.evaluation import EvalSpec, two_protocol_row
from tickets.executor import train_all
from tickets.recipes import rst_config, with_seed
from tickets.stats import rows_at_best_mean
from tickets.store import Store
from tickets.train import fit


def seeds_of(cfg: RunConfig, seeds: list[int] | None) -> list[int]:
    """The search seeds to run: `seeds`, or cfg's own seed alone."""
    return [cfg.train.seed] if not seeds else [int(s) for s in seeds]


def rst_sweep(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec,
              store: Store | None = None, progress: bool = True,
              seeds: list[int] | None = None) -> pd.DataFrame:
    """Search one RST per remaining ratio in one random network per seed (tickets.recipes.
    with_seed), and evaluate each; a row per (seed, ratio), with a `seed` column."""
    train_all([rst_config(with_seed(cfg, s), r) for s in seeds_of(cfg, seeds) for r in ratios],
              data, store, progress)
    rows = []
    for seed in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, seed)
        for r in ratios:
            run = fit(rst_config(scfg, r), data, store, progress)
            rows.append(two_protocol_row(run, data, spec, store, kind="RST",
                                         remaining=float(r), width=cfg.model.width))
    return pd.DataFrame(rows)


def rst_grid(cfg: RunConfig, variants: dict[str, dict], ratios: list[float], data: Data,
             spec: EvalSpec, store: Store | None = None, progress: bool = True,
             seeds: list[int] | None = None) -> pd.DataFrame:
    """rst_sweep for each variant of the search configuration.

    variants maps a label to dotted config changes, e.g.
    {"kaiming_normal": {"model.init": "kaiming_normal"}}.
    """
    train_all([rst_config(with_seed(cfg_replace(cfg, **changes), s), r)
               for changes in variants.values() for s in seeds_of(cfg, seeds) for r in ratios],
              data, store, progress)
    tables = []
    for label, changes in variants.items():
        t = rst_sweep(cfg_replace(cfg, **changes), ratios, data, spec, store, progress, seeds)
        t.insert(0, "variant", label)
        tables.append(t)
    return pd.concat(tables, ignore_index=True)


def training_histories(cfg: RunConfig, variants: dict[str, dict], ratio: float, data: Data,
                       store: Store | None = None) -> dict[str, list[dict]]:
    """The per-epoch histories of stored runs (trained by rst_grid), by variant label."""
    return {label: fit(rst_config(cfg_replace(cfg, **changes), ratio), data, store,
                       progress=False).history
            for label, changes in variants.items()}


def best_per_variant(t: pd.DataFrame, metric: str = "pgd") -> pd.DataFrame:
    """The rows of each variant at its best ratio (highest mean `metric` over seeds), one per
    seed, in the table's order."""
    return pd.concat(rows_at_best_mean(t, "variant", metric).values(), ignore_index=True)


__all__ = ["seeds_of", "rst_sweep", "rst_grid", "training_histories", "best_per_variant"]
