"""The sweep speed-up: one small sweep of the cpu profile's searches, trained inline and
then through local worker processes, wall time against wall time."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def sweep_speedup(n_runs: int = 4, epochs: int = 2, n_train: int = 5000, workers: int = 2,
                  store: str = "bench/sweep-store") -> dict:
    """Wall time of one small sweep of the cpu profile's RST searches (conv4 width 0.5, PGD-2,
    batch 128; n_runs seeds at 10 % remaining) trained through the `inline` executor with all
    torch threads, then again from an empty store through `local:workers`, each worker with
    cores / workers threads. Process start-up and data loading count: they are part of what a
    study pays. Needs the data (TICKETS_DATA)."""
    from tickets import executor
    from tickets.evaluation import load_data
    from tickets.recipes import base_config, rst_config, with_seed
    from tickets.store import Store
    from tickets.train import fit

    cfg = base_config(model="conv4", width=0.5, n_train=n_train, n_val=1000, epochs=epochs,
                      batch_size=128, lr=0.1, schedule="cosine", adversary="pgd", adv_steps=2,
                      val_steps=5, n_val_eval=500, track_test=False)
    cfgs = [rst_config(with_seed(cfg, s), 0.1) for s in range(n_runs)]
    data = load_data(cfg, 1000)
    out: dict = {"n_runs": n_runs, "epochs": epochs, "n_train": n_train, "workers": workers}
    for kind in ("inline", f"local:{workers}"):
        root = Path(store) / kind.replace(":", "")
        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        executor.train_all(cfgs, data, Store(root), progress=False, spec=executor.parse(kind))
        for c in cfgs:  # inline trains here; after local this only reads the finished runs
            fit(c, data, Store(root), progress=False)
        out[f"{kind}_seconds"] = time.perf_counter() - t
    out[f"sweep_local{workers}_speedup"] = out["inline_seconds"] / out[f"local:{workers}_seconds"]
    return out
