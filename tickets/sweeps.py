"""RST searches over remaining ratios and over variants of the search: the runs that studies
01-08 share. A run whose configuration is already in the store (another study's) is reused,
never trained twice. The runs of a sweep are handed to the executor (tickets.executor) before
they are evaluated, so that TICKETS_EXECUTOR=local or ray trains them in parallel."""

from __future__ import annotations

from dataclasses import replace as dc_replace

import pandas as pd

from tickets.config import RunConfig
from tickets.config import replace as cfg_replace
from tickets.data import Data
from tickets.evaluation import EvalSpec, two_protocol_row
from tickets.executor import train_all
from tickets.recipes import rst_config, with_seed
from tickets.stats import rows_at_best_on_validation
from tickets.store import Store
from tickets.train import fit


def seeds_of(cfg: RunConfig, seeds: list[int] | None) -> list[int]:
    """The search seeds to run: `seeds`, or cfg's own seed alone."""
    return [cfg.train.seed] if not seeds else [int(s) for s in seeds]


def rst_sweep(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec,
              store: Store | None = None, progress: bool = True,
              seeds: list[int] | None = None, aa: str = "all") -> pd.DataFrame:
    """Search one RST per remaining ratio in one random network per seed (tickets.recipes.
    with_seed), and evaluate each; a row per (seed, ratio), with a `seed` column.

    aa: which RSTs spec's AutoAttack runs on. 'all'; or 'best': only the ratio of the best
    mean validation robust accuracy (val_pgd) over seeds, every seed of it (the other rows
    have aa = NaN): the choice never sees a test outcome (best_ratio_rows).
    AutoAttack dominates an RST's evaluation time on a CPU, and a claim about the gap between
    PGD and AutoAttack needs one ratio's tickets, not every ratio's."""
    if aa not in ("all", "best"):
        raise ValueError(f"invalid aa={aa!r}: allowed values are 'all', 'best'")
    train_all([rst_config(with_seed(cfg, s), r) for s in seeds_of(cfg, seeds) for r in ratios],
              data, store, progress)
    first = spec if aa == "all" else dc_replace(spec, aa_n=0)
    rows, runs = [], []
    for seed in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, seed)
        for r in ratios:
            run = fit(rst_config(scfg, r), data, store, progress)
            runs.append(run)
            rows.append(two_protocol_row(run, data, first, store, kind="RST",
                                         remaining=float(r), width=cfg.model.width))
    table = pd.DataFrame(rows)
    if aa == "best" and spec.aa_n:
        for i in best_ratio_rows(table):
            # the clean and PGD figures are read back from the store: only AutoAttack runs
            row = two_protocol_row(runs[i], data, spec, store, kind="RST",
                                   remaining=float(table.at[i, "remaining"]),
                                   width=cfg.model.width)
            for k, v in row.items():
                table.at[i, k] = v
    return table


def variant_config(cfg: RunConfig, changes: dict, paper_protocol: bool = False) -> RunConfig:
    """cfg with a variant's dotted changes. A variant that changes cfg does not evaluate the
    test split each epoch unless the paper protocol will read it (paper_protocol): a search
    of the cpu profile took 252 s without it against 289 s with it, for figures no table
    shows. A variant equal to cfg keeps
    cfg as it is, so it stays the very run that study 01 trained and reuses it."""
    v = cfg_replace(cfg, **changes)
    if v == cfg or paper_protocol:
        return v
    return cfg_replace(v, **{"train.track_test": False})


def rst_grid(cfg: RunConfig, variants: dict[str, dict], ratios: list[float], data: Data,
             spec: EvalSpec, store: Store | None = None, progress: bool = True,
             seeds: list[int] | None = None) -> pd.DataFrame:
    """rst_sweep for each variant of the search configuration (variant_config: a variant
    other than cfg itself tracks the test split only under spec.paper_protocol).

    variants maps a label to dotted config changes, e.g.
    {"kaiming_normal": {"model.init": "kaiming_normal"}}.
    """
    cfgs = {label: variant_config(cfg, changes, spec.paper_protocol)
            for label, changes in variants.items()}
    train_all([rst_config(with_seed(v, s), r)
               for v in cfgs.values() for s in seeds_of(cfg, seeds) for r in ratios],
              data, store, progress)
    tables = []
    for label, v in cfgs.items():
        t = rst_sweep(v, ratios, data, spec, store, progress, seeds)
        t.insert(0, "variant", label)
        tables.append(t)
    return pd.concat(tables, ignore_index=True)


def training_histories(cfg: RunConfig, variants: dict[str, dict], ratio: float, data: Data,
                       store: Store | None = None, paper_protocol: bool = False
                       ) -> dict[str, list[dict]]:
    """The per-epoch histories of stored runs (trained by rst_grid with a spec whose
    paper_protocol is the one given here), by variant label."""
    return {label: fit(rst_config(variant_config(cfg, changes, paper_protocol), ratio), data,
                       store, progress=False).history
            for label, changes in variants.items()}


def best_ratio_rows(t: pd.DataFrame, select_on: str = "val_pgd") -> list:
    """The index of the rows (one per seed) at the remaining ratio of the best mean
    validation accuracy `select_on` over seeds: the RSTs that get AutoAttack under aa='best'.
    Only `remaining` and the validation column are read."""
    return list(rows_at_best_on_validation(t, by=None, select_on=select_on)[None].index)


def best_per_variant(t: pd.DataFrame, select_on: str = "val_pgd") -> pd.DataFrame:
    """The rows of each variant at its best ratio (highest mean validation accuracy
    `select_on` over seeds, never a test column), one per seed, in the table's order."""
    return pd.concat(rows_at_best_on_validation(t, "variant", select_on=select_on).values(),
                     ignore_index=True)


__all__ = ["seeds_of", "rst_sweep", "variant_config", "rst_grid", "training_histories",
           "best_ratio_rows", "best_per_variant"]
