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
from tickets.sweeps import seeds_of
from tickets.train import fit

SAME_WIDTH = "dense PGD-AT (same width)"
RST_SIZE = "dense PGD-AT (RST's size)"


def dense_baselines(cfg: RunConfig, rst_table: pd.DataFrame, data: Data, spec: EvalSpec,
                    store: Store | None = None, lr: float | None = None,
                    progress: bool = True, seeds: list[int] | None = None) -> pd.DataFrame:
    """Dense PGD-AT of the same architecture, and of a width whose weight count matches the
    best RST's kept weights (best by mean strict PGD accuracy over seeds), for each seed."""
    means = rst_table.groupby("remaining")["pgd"].mean()
    kept = int(rst_table[rst_table["remaining"] == means.idxmax()]["kept_params"].iloc[0])
    small_w = matching_width(cfg.model.name, kept, cfg.model.num_classes)
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


def evaluated_models(cfg: RunConfig, ratios: list[float], dense: pd.DataFrame
                     ) -> dict[str, RunConfig]:
    """The configuration of every model the study evaluated, by label: each RST and both dense
    baselines at the learning rate they were trained with (for the sanity checks, which must
    check the very runs the table reports, not retrain look-alikes)."""
    runs = {f"RST r={r:g}": rst_config(cfg, r) for r in sorted(ratios)}
    for _, d in dense.drop_duplicates("kind").iterrows():
        runs[d["kind"]] = dense_config(cfg, float(d["width"]), float(d["lr"]))
    return runs


__all__ = ["dense_baselines", "evaluated_models", "SAME_WIDTH", "RST_SIZE"]
