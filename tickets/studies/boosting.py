"""Study 09: boosting tickets (Li et al. 2020, arXiv 2003.05733), one function per experiment.

The recipe: train the dense net at a small constant learning rate (the *pruning lr*), prune it
by global magnitude with each layer's |w| divided by its mean |w|, reset the surviving weights
to their initial values, and retrain with a linear warm-up. A *boosting ticket* comes from a
small pruning lr, a *winning ticket* from lr 0.1; the *random re-init* baseline keeps a
ticket's mask and draws fresh weights.

All networks here are masked models in 'fixed' mode (a dense net is the all-ones mask), so that
a dense net and its tickets share one architecture, one init and one BatchNorm. Every run is a
stored weight-training run; its cost is in forward+backward passes and in seconds.

Each experiment runs once per search seed (`seeds`; None: cfg's own seed alone). A seed
changes the dense net's initial weights and the batch order (tickets.recipes.with_seed), so
every pretraining, prune and retraining is repeated under it; the data subset and the test
images stay the same. Every row and curve point carries its `seed`.
"""

from __future__ import annotations

import pandas as pd
import torch

from tickets.config import RunConfig
from tickets.data import Data
from tickets.evaluation import EvalSpec, two_protocol_row
from tickets.masks import density, init_state, make_mask, mask_tag, state_masks, with_masks
from tickets.recipes import weight_config, with_seed
from tickets.store import Store
from tickets.sweeps import seeds_of
from tickets.train import TrainRun, fit

# The random re-init's weights come from init seed (the run's own) + REINIT_SEED_OFFSET. A
# search seed s has init seed s (tickets.recipes.with_seed), so an offset of 1 would give seed
# s's re-init the very initial weights of seed s + 1; 1000 keeps the re-inits apart from every
# search seed's init as long as the seeds run stay below 1000.
REINIT_SEED_OFFSET = 1000


def boost_config(cfg: RunConfig, **kw) -> RunConfig:
    """Weight training of cfg's network as a masked model (fixed mode, all-ones mask for the
    dense net), so that the dense net and its tickets share one architecture and one init."""
    return weight_config(cfg, masked=True, **kw)


def pretrain(cfg: RunConfig, prune_lr: float, epochs: int, data: Data, adversary: str | None = None,
             width: float | None = None, store: Store | None = None, progress: bool = True
             ) -> TrainRun:
    """Dense training at a constant pruning lr: the net that tickets are pruned from."""
    wcfg = boost_config(cfg, lr=prune_lr, epochs=epochs, schedule="constant",
                         adversary=adversary, width=width, tag="boost-pretrain")
    return fit(wcfg, data, store, progress)


def ticket_masks(run: TrainRun, remaining: float) -> dict[str, torch.Tensor]:
    """Layer-normalised global magnitude masks of a pretrained run's final weights (the
    registry's 'magnitude' method)."""
    return make_mask("magnitude", run.model("last", device="cpu"), remaining).masks


def retrain(cfg: RunConfig, masks: dict[str, torch.Tensor], label: str, data: Data,
            epochs: int | None = None, warmup: int = 1, reinit: bool = False,
            adversary: str | None = None, adv_steps: int | None = None,
            width: float | None = None, store: Store | None = None, progress: bool = True
            ) -> TrainRun:
    """Train the weights under a mask from the init (rewind) or from fresh weights (reinit:
    init seed + REINIT_SEED_OFFSET, see start_state)."""
    kept = density(masks)
    start = f"reinit+{REINIT_SEED_OFFSET}" if reinit else "rewind"  # the run's key (cfg.tag)
    wcfg = boost_config(cfg, epochs=epochs, warmup=warmup, remaining=kept, width=width,
                         adversary=adversary, adv_steps=adv_steps,
                         tag=f"{label}:{start}:{mask_tag(masks)}")
    state = with_masks(start_state(wcfg.model, reinit), masks)
    return fit(wcfg, data, store, progress, init_state=state)


def start_state(model_cfg, reinit: bool = False) -> dict:
    """The unmasked initial state a retraining starts from: the network's own init (rewind), or
    weights drawn at init seed + REINIT_SEED_OFFSET (random re-init), which no search seed's
    network shares."""
    return init_state(model_cfg, seed_offset=REINIT_SEED_OFFSET if reinit else 0)


def dense_at(cfg: RunConfig, data: Data, epochs: int | None = None, width: float | None = None,
             warmup: int = 0, store: Store | None = None, progress: bool = True) -> TrainRun:
    """Dense adversarial training from the init with cfg's adversary and schedule."""
    wcfg = boost_config(cfg, epochs=epochs, width=width, warmup=warmup, tag="boost-dense")
    return fit(wcfg, data, store, progress)


def _curve(run: TrainRun, **extra) -> list[dict]:
    per_epoch = run.passes / max(1, len(run.history))
    return [{**extra, "epoch": h["epoch"], "val_clean": h.get("val_clean"),
             "val_robust": h.get("val_robust"), "passes": per_epoch * h["epoch"]}
            for h in run.history]


def convergence(cfg: RunConfig, prune_lrs: list[float], remaining: float, data: Data,
                spec: EvalSpec, pretrain_epochs: int, retrain_epochs: int, warmup: int = 1,
                store: Store | None = None, progress: bool = True,
                seeds: list[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per seed: tickets pruned at each pruning lr, and the random re-init of the smallest
    lr's mask, retrained alike. Returns (per-epoch validation curves, final strict
    evaluation), both with a `seed` column."""
    store = store or Store()
    curves, rows = [], []
    lrs = sorted(float(x) for x in prune_lrs)
    for seed in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, seed)
        for lr in lrs:
            masks = ticket_masks(pretrain(scfg, lr, pretrain_epochs, data, store=store,
                                          progress=progress), remaining)
            variants = [(f"ticket, pruning lr {lr:g}", False)]
            if lr == lrs[0]:
                variants.append(("random re-init", True))
            for label, reinit in variants:
                run = retrain(scfg, masks, label if not reinit else f"reinit {lr:g}", data,
                              retrain_epochs, warmup, reinit, store=store, progress=progress)
                curves += _curve(run, kind=label, prune_lr=lr, seed=seed)
                rows.append(two_protocol_row(run, data, spec, store, kind=label, prune_lr=lr,
                                             remaining=density(masks)))
    return pd.DataFrame(curves), pd.DataFrame(rows)


def ratio_sweep(cfg: RunConfig, prune_lr: float, remainings: list[float], data: Data,
                pretrain_epochs: int, retrain_epochs: int, warmup: int = 1,
                store: Store | None = None, progress: bool = True,
                seeds: list[int] | None = None) -> pd.DataFrame:
    """Per seed, the boosting ticket against random re-init of its mask at each remaining
    ratio: the validation curves (with a `seed` column), from which the notebook reads the
    boost (ticket minus re-init)."""
    store = store or Store()
    curves = []
    for seed in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, seed)
        run0 = pretrain(scfg, prune_lr, pretrain_epochs, data, store=store, progress=progress)
        for r in remainings:
            masks = ticket_masks(run0, float(r))
            for label, reinit in ((f"ticket, pruning lr {prune_lr:g}", False),
                                  ("random re-init", True)):
                run = retrain(scfg, masks, label if not reinit else f"reinit {prune_lr:g}",
                              data, retrain_epochs, warmup, reinit, store=store,
                              progress=progress)
                curves += _curve(run, kind="ticket" if not reinit else "random re-init",
                                 remaining=float(r), pruned=1 - float(r), seed=seed)
    return pd.DataFrame(curves)


def _keys(curves: pd.DataFrame, by: str) -> list[str]:
    return [by, "seed"] if "seed" in curves else [by]


def early_boost(curves: pd.DataFrame, by: str, early_epochs: int,
                ticket: str = "ticket", baseline: str = "random re-init") -> pd.DataFrame:
    """The ticket's and the baseline's early accuracy (early_accuracy) per `by` (and seed,
    when the curves have one), side by side, with the ticket's lead over the baseline."""
    e = early_accuracy(curves, by, early_epochs).set_index([*_keys(curves, by), "kind"])
    t, b = e.xs(ticket, level="kind"), e.xs(baseline, level="kind")
    out = pd.DataFrame({"ticket_robust": t["early_robust"], "reinit_robust": b["early_robust"],
                        "ticket_clean": t["early_clean"], "reinit_clean": b["early_clean"]})
    out["boost_robust"] = out["ticket_robust"] - out["reinit_robust"]
    out["boost_clean"] = out["ticket_clean"] - out["reinit_clean"]
    return out.reset_index()


def early_accuracy(curves: pd.DataFrame, by: str, early_epochs: int) -> pd.DataFrame:
    """Mean validation robust and clean accuracy over the first early_epochs epochs, per
    `by`, kind and (when the curves have one) seed: the convergence speed the boost is
    about."""
    early = curves[curves["epoch"] <= early_epochs]
    out = early.groupby([*_keys(curves, by), "kind"], sort=False)[["val_robust",
                                                                  "val_clean"]].mean()
    return out.rename(columns={"val_robust": "early_robust",
                               "val_clean": "early_clean"}).reset_index()


def fgsm_ticket_cost(cfg: RunConfig, prune_lr: float, remaining: float, data: Data,
                     spec: EvalSpec, fgsm_epochs: int, retrain_epochs: int, dense_epochs: int,
                     warmup: int = 1, store: Store | None = None, progress: bool = True,
                     seeds: list[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per seed, a ticket from a cheap FGSM-RS-trained dense net, retrained with cfg's PGD,
    against dense PGD-AT for dense_epochs. The ticket's cost includes the FGSM pretraining.

    Returns (table: one row each per seed, with total passes and seconds; curves: validation
    robust accuracy against cumulative passes, the ticket's shifted by its pretraining cost,
    with a `seed` column)."""
    store = store or Store()
    rows, curves = [], []
    for seed in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, seed)
        dense = dense_at(scfg, data, dense_epochs, store=store, progress=progress)
        pre = pretrain(scfg, prune_lr, fgsm_epochs, data, adversary="fgsm_rs", store=store,
                       progress=progress)
        masks = ticket_masks(pre, remaining)
        tick = retrain(scfg, masks, "fgsm-ticket", data, retrain_epochs, warmup, store=store,
                       progress=progress)
        rows += [two_protocol_row(dense, data, spec, store, kind="dense PGD-AT",
                                  epochs=dense_epochs, total_passes=dense.passes,
                                  total_seconds=dense.seconds),
                 two_protocol_row(tick, data, spec, store, kind="FGSM ticket + PGD retraining",
                                  epochs=retrain_epochs, pretrain_epochs=fgsm_epochs,
                                  total_passes=pre.passes + tick.passes,
                                  total_seconds=pre.seconds + tick.seconds)]
        curves += (_curve(dense, kind="dense PGD-AT", seed=seed)
                   + [{**c, "passes": c["passes"] + pre.passes}
                      for c in _curve(tick, kind="FGSM ticket + PGD retraining", seed=seed)])
    return pd.DataFrame(rows), pd.DataFrame(curves)


def mean_curves(curves: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Curves averaged over seeds: the mean of every numeric column per `by` (kind and epoch,
    say), in the table's order. A table without a `seed` column is returned as it is."""
    if "seed" not in curves:
        return curves
    return curves.drop(columns="seed").groupby(by, sort=False).mean(
        numeric_only=True).reset_index()


def passes_to_reach(curves: pd.DataFrame, kind: str, target: float) -> float:
    """Cumulative passes at the first epoch whose validation robust accuracy (the mean over
    seeds, when the curves have a `seed` column) reaches target (NaN if it never does)."""
    c = mean_curves(curves[curves["kind"] == kind], ["kind", "epoch"]).sort_values("epoch")
    hit = c[c["val_robust"] >= target - 1e-12]
    return float(hit["passes"].iloc[0]) if len(hit) else float("nan")


def capacity(cfg: RunConfig, widths: list[float], prune_lr: float, remaining: float,
             data: Data, spec: EvalSpec, pretrain_epochs: int, retrain_epochs: int,
             warmup: int = 1, store: Store | None = None, progress: bool = True,
             seeds: list[int] | None = None) -> pd.DataFrame:
    """Per seed, dense PGD-AT against its pruned boosting ticket at each width, same epochs."""
    store = store or Store()
    rows = []
    for seed in seeds_of(cfg, seeds):
        scfg = with_seed(cfg, seed)
        for w in widths:
            dense = dense_at(scfg, data, retrain_epochs, width=w, warmup=warmup, store=store,
                             progress=progress)
            rows.append(two_protocol_row(dense, data, spec, store, kind="dense", width=w))
            pre = pretrain(scfg, prune_lr, pretrain_epochs, data, width=w, store=store,
                           progress=progress)
            masks = ticket_masks(pre, remaining)
            # the label of convergence()'s tickets, so that a width both use is trained once
            tick = retrain(scfg, masks, f"ticket, pruning lr {float(prune_lr):g}", data,
                           retrain_epochs, warmup, width=w, store=store, progress=progress)
            rows.append(two_protocol_row(tick, data, spec, store, kind="ticket", width=w))
    return pd.DataFrame(rows)


def iterative_magnitude_pruning(cfg: RunConfig, rounds: int, prune_fraction: float,
                                data: Data, rewind_epoch: int = 0, epochs: int | None = None,
                                store: Store | None = None, progress: bool = True
                                ) -> list[dict]:
    """IMP with rewinding (Frankle et al. 2019, 2020): train, prune prune_fraction of the
    surviving weights by layer-normalised global magnitude, rewind the survivors to their
    values at rewind_epoch of the first (dense) run, and train again; `rounds` prunings.

    Returns one record per round: remaining fraction, the run, and the masks it trained under.
    """
    if not 0 < prune_fraction < 1:
        raise ValueError(f"invalid prune_fraction={prune_fraction!r}: must lie in (0, 1)")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"invalid rounds={rounds!r}: must be a positive integer")
    store = store or Store()
    epochs = cfg.train.epochs if epochs is None else epochs
    if not 0 <= rewind_epoch <= epochs:
        raise ValueError(f"invalid rewind_epoch={rewind_epoch!r}: must lie in [0, {epochs}]")
    base = boost_config(cfg, epochs=epochs, tag="imp-round0")
    run = fit(base, data, store, progress, save_epochs=True)
    rewind = run.epoch_model(rewind_epoch, device="cpu").state_dict()
    masks = state_masks(rewind)
    out = [{"round": 0, "remaining": 1.0, "run": run, "masks": masks}]
    for k in range(1, rounds + 1):
        remaining = (1 - prune_fraction) ** k
        masks = make_mask("magnitude", run.model("last", device="cpu"), remaining,
                          previous=masks).masks
        wcfg = boost_config(cfg, epochs=epochs, remaining=density(masks),
                             tag=f"imp:rewind{rewind_epoch}:{mask_tag(masks)}")
        run = fit(wcfg, data, store, progress, init_state=with_masks(rewind, masks))
        out.append({"round": k, "remaining": density(masks), "run": run, "masks": masks})
    return out


def collapse_table(t: pd.DataFrame) -> pd.DataFrame:
    """Per width: dense and ticket robust accuracy (means over seeds), and the drop from
    pruning."""
    wide = t.pivot_table(index="width", columns="kind", values=["pgd", "clean", "kept_params"])
    out = pd.DataFrame({"dense_pgd": wide["pgd"]["dense"],
                        "ticket_pgd": wide["pgd"]["ticket"],
                        "dense_clean": wide["clean"]["dense"],
                        "ticket_clean": wide["clean"]["ticket"],
                        "ticket_kept_params": wide["kept_params"]["ticket"]})
    out["drop_pgd"] = out["dense_pgd"] - out["ticket_pgd"]
    out["drop_clean"] = out["dense_clean"] - out["ticket_clean"]
    return out.reset_index()


__all__ = ["REINIT_SEED_OFFSET", "boost_config", "pretrain", "ticket_masks", "start_state",
           "retrain", "dense_at", "convergence", "ratio_sweep", "early_boost", "early_accuracy",
           "fgsm_ticket_cost", "mean_curves", "passes_to_reach", "capacity", "collapse_table",
           "iterative_magnitude_pruning"]
