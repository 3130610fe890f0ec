"""Study 01: do robust scratch tickets rival dense adversarial training? The RST sweep itself is
tickets.sweeps.rst_sweep; this module adds the two dense baselines."""

from __future__ import annotations

import pandas as pd

from tickets.config import RunConfig
from tickets.data import Data
from tickets.evaluation import EvalSpec, two_protocol_row
from tickets.executor import train_all
from tickets.recipes import dense_config, matching_width, rst_config, with_seed
from tickets.store import Store
from tickets.sweeps import best_ratio_rows, seeds_of
from tickets.train import fit

SAME_WIDTH = "dense PGD-AT (same width)"
RST_SIZE = "dense PGD-AT (RST's size)"


def dense_baselines(cfg: RunConfig, rst_table: pd.DataFrame, data: Data, spec: EvalSpec,
                    store: Store | None = None, lr: float | None = None,
                    progress: bool = True, seeds: list[int] | None = None) -> pd.DataFrame:
    """Dense PGD-AT of the same architecture, and of a width whose weight count matches the
    best RST's kept weights (best_rst_kept: best by mean validation robust accuracy over
    seeds, never by test), for each seed."""
    small_w = matching_width(cfg.model.name, best_rst_kept(rst_table), cfg.model.num_classes)
    widths = ((SAME_WIDTH, cfg.model.width), (RST_SIZE, small_w))
    train_all([dense_config(with_seed(cfg, s), w, lr) for s in seeds_of(cfg, seeds)
               for _, w in widths], data, store, progress)
    rows = []
    for seed in seeds_of(cfg, seeds):
        for label, w in widths:
            run = fit(dense_config(with_seed(cfg, seed), w, lr), data, store, progress)
            rows.append(two_protocol_row(run, data, spec, store, kind=label, remaining=1.0,
                                         width=w, lr=run.cfg.train.lr))
    return pd.DataFrame(rows)


def best_rst_kept(rst_table: pd.DataFrame, select_on: str = "val_pgd") -> int:
    """The kept weights of the RST at the ratio of the best mean validation accuracy
    `select_on` over seeds (tickets.sweeps.best_ratio_rows): what the RST-size dense network
    matches."""
    return int(rst_table.loc[best_ratio_rows(rst_table, select_on)[0], "kept_params"])


def evaluated_models(cfg: RunConfig, ratios: list[float], dense: pd.DataFrame
                     ) -> dict[str, RunConfig]:
    """The configuration of every model the study evaluated, by label: each RST and both dense
    baselines at the learning rate they were trained with (for the sanity checks, which must
    check the very runs the table reports, not retrain look-alikes)."""
    runs = {f"RST r={r:g}": rst_config(cfg, r) for r in sorted(ratios)}
    for _, d in dense.drop_duplicates("kind").iterrows():
        runs[d["kind"]] = dense_config(cfg, float(d["width"]), float(d["lr"]))
    return runs


__all__ = ["dense_baselines", "best_rst_kept", "evaluated_models", "SAME_WIDTH", "RST_SIZE"]
