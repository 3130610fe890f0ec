"""Study 05: the lottery phenomenon. An RST against FT-Inherit (its own random weights trained
under its fixed mask) and FT-Reinit (the same mask, weights drawn afresh, trained alike)."""

from __future__ import annotations

import pandas as pd

from tickets.config import RunConfig, config_hash
from tickets.config import replace as cfg_replace
from tickets.data import Data
from tickets.evaluation import EvalSpec, two_protocol_row
from tickets.executor import train_all
from tickets.masks import fixed_mask_state
from tickets.models import build_from_config
from tickets.recipes import rst_config, with_seed
from tickets.store import Store
from tickets.sweeps import seeds_of
from tickets.train import fit

KINDS = ("RST", "FT-Inherit", "FT-Reinit")
# FT-Reinit's weights come from init seed (the search seed's) + REINIT_SEED_OFFSET. A search
# seed s has init seed s (tickets.recipes.with_seed), so an offset of 1 would draw seed s's
# FT-Reinit weights with seed s + 1's init seed; 1000 keeps them apart from every search
# seed's as long as the seeds run stay below 1000.
REINIT_SEED_OFFSET = 1000


def reinit_state(inherit: dict, cfg: RunConfig) -> dict:
    """A fixed-mask state with inherit's masks (and BatchNorm) but weights drawn afresh
    (Kaiming normal, init seed + REINIT_SEED_OFFSET)."""
    fresh = build_from_config(cfg_replace(
        cfg.model, init="kaiming_normal",
        init_seed=cfg.model.init_seed + REINIT_SEED_OFFSET)).state_dict()
    return {k: (fresh[k] if k.endswith("weight") else v) for k, v in inherit.items()}


def lottery(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec,
            ft_lr: float = 0.1, store: Store | None = None, progress: bool = True,
            seeds: list[int] | None = None) -> pd.DataFrame:
    """RST, FT-Inherit and FT-Reinit per ratio and search seed. The fine-tuning runs have the
    search's budget in epochs, adversary and batch."""
    rows = []
    # the searches through the executor first (two workers by default); the fine-tunings
    # start from a searched ticket's state, so they train in the loop below
    train_all([rst_config(with_seed(cfg, s), r) for s in seeds_of(cfg, seeds) for r in ratios],
              data, store, progress)
    for seed, r in ((s, r) for s in seeds_of(cfg, seeds) for r in ratios):
        scfg = with_seed(cfg, seed)
        rst_cfg = rst_config(scfg, r)
        rst_run = fit(rst_cfg, data, store, progress)
        rows.append(two_protocol_row(rst_run, data, spec, store, kind="RST", remaining=float(r)))
        inherit = fixed_mask_state(rst_run.model("best", device="cpu"))
        for label, state in (("FT-Inherit", inherit),
                             ("FT-Reinit", reinit_state(inherit, scfg))):
            # the run's key (cfg.tag) names FT-Reinit's seed offset: the init state is not
            # hashed, so a stored run drawn under another offset is never reused
            start = f"{label}+{REINIT_SEED_OFFSET}" if label == "FT-Reinit" else label
            ft_cfg = cfg_replace(rst_cfg, **{"train.trainable": "weights", "train.lr": ft_lr,
                                             "tag": f"{start}:{config_hash(rst_cfg)}"})
            run = fit(ft_cfg, data, store, progress, init_state=state)
            rows.append(two_protocol_row(run, data, spec, store, kind=label, remaining=float(r)))
    return pd.DataFrame(rows)


__all__ = ["lottery", "reinit_state", "KINDS", "REINIT_SEED_OFFSET"]
