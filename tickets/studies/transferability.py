"""Study 07: do adversarial examples transfer between the tickets of one random network?"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tickets import attacks
from tickets.config import AttackConfig, RunConfig
from tickets.data import Data
from tickets.evaluation import batched, cached_evaluation, eval_key
from tickets.recipes import rst_config, with_seed
from tickets.store import Store
from tickets.sweeps import seeds_of
from tickets.train import fit


def _transfer(cfg: RunConfig, ratios: list[float], data: Data, attack: AttackConfig, n: int,
              store: Store | None, seed: int) -> dict:
    runs = {r: fit(rst_config(cfg, r), data, store, progress=False) for r in ratios}
    key = eval_key(runs.values(), "transfer " + attack.describe(), n, seed, data)

    def compute() -> dict:
        models = {r: run.model("best", device=data.test.x.device) for r, run in runs.items()}
        split = data.test.head(n)
        g = torch.Generator(device=split.x.device).manual_seed(seed)
        x, y = split.images(), split.y
        acc, correct = {}, {}
        for a, src in models.items():
            xa = batched(lambda xb, yb, src=src: attacks.perturb(src, xb, yb, attack, g), x, y)
            for b, dst in models.items():
                right = attacks.predict(dst, xa) == y
                acc[f"{a}->{b}"] = right.float().mean().item()
                correct[f"{a}->{b}"] = attacks.outcome_string(right)
        return {"acc": acc, "correct": correct}

    return cached_evaluation(key, "transfer-v2", compute, store)


def transfer_matrix(cfg: RunConfig, ratios: list[float], data: Data, attack: AttackConfig,
                    n: int, store: Store | None = None, seed: int = 0,
                    seeds: list[int] | None = None) -> pd.DataFrame:
    """Accuracy of the RST of ratio b (columns) on adversarial examples crafted on the RST of
    ratio a (rows), all searched in one random network; cached in the store. `seeds`: the search
    seeds (tickets.sweeps.seeds_of; None: cfg's own), each its own random network and tickets;
    the matrix is the mean over them. `seed` seeds the attack's random starts."""
    accs = [_transfer(with_seed(cfg, s), ratios, data, attack, n, store, seed)["acc"]
            for s in seeds_of(cfg, seeds)]
    m = pd.DataFrame(index=pd.Index(ratios, name="crafted on"),
                     columns=pd.Index(ratios, name="evaluated on"), dtype=float)
    for a in ratios:
        for b in ratios:
            m.loc[a, b] = float(np.mean([acc[f"{a}->{b}"] for acc in accs]))
    return m


def transfer_outcomes(cfg: RunConfig, ratios: list[float], data: Data, attack: AttackConfig,
                      n: int, store: Store | None = None, seed: int = 0,
                      seeds: list[int] | None = None) -> dict[str, list[str]]:
    """The per-image outcomes (0/1 strings) of every cell 'a->b' of transfer_matrix: a list
    with one string per search seed, in the order of `seeds`."""
    per_seed = [_transfer(with_seed(cfg, s), ratios, data, attack, n, store, seed)["correct"]
                for s in seeds_of(cfg, seeds)]
    return {cell: [c[cell] for c in per_seed] for cell in per_seed[0]}


def diagonal_and_transfer(m: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(white-box accuracies on the diagonal, transfer accuracies off it) of a matrix."""
    a = m.to_numpy(dtype=float)
    return np.diag(a), a[~np.eye(len(a), dtype=bool)]


def transfer_summary(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean white-box and mean transfer accuracy (%) of each matrix."""
    rows = []
    for k, m in matrices.items():
        diag, off = diagonal_and_transfer(m)
        rows.append({"version": k, "diagonal (white-box)": 100 * diag.mean(),
                     "off-diagonal (transfer)": 100 * off.mean()})
    return pd.DataFrame(rows)


__all__ = ["transfer_matrix", "transfer_outcomes", "diagonal_and_transfer", "transfer_summary"]
