"""One training loop for the RST search (scores) and for weight training (PGD-AT, fine-tuning).

All randomness of a step (the batch order of its epoch, the augmentation, the attack's random
start) is drawn from generators seeded by (seed, epoch) and (seed, step). A run resumed from a
checkpoint at any step therefore continues exactly as an uninterrupted run would; on the CPU
the result is identical bit for bit.

Cost is counted in forward+backward passes per example, machine-independently: an attack of k
steps costs k, and the training update itself costs 1.

The step and the epoch read as plain training; three objects hold what is not: RunFiles (the
run's folder: checkpoint, weight files, result, lock, quarantine of damaged files),
tickets.ddp.Processes (the ranks of a torchrun job: batch shares, all-reduce, who writes; all
no-ops in one process) and Precision (autocast, the device's settings and optimiser).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tickets import accel, ddp
from tickets.attacks import evaluate, passes_per_example, perturb
from tickets.config import AttackConfig, RunConfig, TrainConfig, config_hash
from tickets.data import Data, augment
from tickets.layers import apply_masks_, set_mode, set_remaining
from tickets.models import Net, build_from_config, param_counts
from tickets.store import (
    Store,
    StoreError,
    atomic_torch_save,
    quarantine,
    read_json_checked,
    torch_load_checked,
)


def show_progress(requested: bool) -> bool:
    """Progress bars unless asked not to, or TICKETS_PROGRESS=0 (batch runs of the report)."""
    return requested and os.environ.get("TICKETS_PROGRESS", "1") != "0"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate at a global step: linear warm-up, then piecewise or cosine."""
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        t = (step - warm) / max(1, total - warm)
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * t))
    epoch = step / steps_per_epoch
    drops = sum(epoch >= m * cfg.epochs for m in cfg.milestones)
    return cfg.lr * cfg.gamma ** drops


def _step_generator(device: torch.device, seed: int, step: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step + 17)


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 7_919 + epoch + 1)
    return torch.randperm(n, generator=g)


def trainable_params(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def prepare_model(cfg: RunConfig, device: torch.device, init_state: dict | None = None) -> Net:
    """Build the run's model, in search mode for scores and dense/fixed mode for weights."""
    model = build_from_config(cfg.model, remaining=cfg.train.remaining)
    if cfg.model.masked:
        # Weight training of a masked model always uses the fixed-mask buffer (all ones
        # unless init_state brings a mask), so a reload sees the same mode as the run did.
        set_mode(model, "search" if cfg.train.trainable == "scores" else "fixed")
    if init_state is not None:
        model.load_state_dict(init_state)
    # channels_last measured 1.2-1.7x faster for these convnets on the 2-core CPU (make bench)
    return model.to(device, memory_format=torch.channels_last)


def _load_weights(f: Path) -> dict:
    state = torch_load_checked(f)
    if state is None:
        raise StoreError(f"{f} is missing or unreadable: run the study again to retrain this "
                         f"run (its result.json is set aside when a weight file is damaged)")
    return state


@dataclass
class TrainRun:
    """What a finished (or interrupted) run leaves: history, cost, and its checkpoints."""

    cfg: RunConfig
    directory: Path
    history: list[dict] = field(default_factory=list)
    passes: int = 0
    seconds: float = 0.0
    finished: bool = False
    best_epoch: int = -1
    best_test_epoch: int = -1

    def result(self) -> dict:
        return {"config_hash": config_hash(self.cfg), "history": self.history,
                "passes": self.passes, "seconds": self.seconds, "finished": self.finished,
                "best_epoch": self.best_epoch, "best_test_epoch": self.best_test_epoch}

    def epoch_model(self, epoch: int, device: str | torch.device | None = None) -> Net:
        """The model at the end of an epoch (0 = before training) of a save_epochs run."""
        f = self.directory / f"epoch_{epoch}.pt"
        if not f.exists():
            raise FileNotFoundError(
                f"{f} does not exist: train with save_epochs=True to keep per-epoch weights "
                f"(this run has {len(self.history)} epochs)")
        device = torch.device(device) if device is not None else default_device()
        model = prepare_model(self.cfg, device)
        model.load_state_dict(_load_weights(f)["model"])
        model.eval()
        return model

    def model(self, which: str = "best", device: str | torch.device | None = None) -> Net:
        """The model at 'best' (validation), 'best_test' (paper protocol) or 'last'."""
        device = torch.device(device) if device is not None else default_device()
        files = {"best": "best.pt", "best_test": "best_test.pt", "last": "last.pt"}
        if which not in files:
            raise ValueError(f"invalid which={which!r}: allowed values are {sorted(files)}")
        f = self.directory / files[which]
        if which == "last" and not f.exists():
            f = self.directory / "checkpoint.pt"
        state = _load_weights(f)
        sd = state["model"] if "model" in state else state
        model = prepare_model(self.cfg, device)
        model.load_state_dict(sd)
        model.eval()
        return model


@torch.no_grad()
def recalibrate_bn(model: nn.Module, split, n: int, batch_size: int) -> None:
    """Re-estimate BatchNorm running statistics as the plain average over the first n
    training images, for the weights and mask now in force."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if n <= 0 or not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = model.training
    model.train()
    try:
        for i in range(0, min(n, len(split)), batch_size):
            model(split.images(slice(i, min(i + batch_size, n))))
    finally:
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        model.train(was_training)


def epoch_attack(cfg: TrainConfig, split: str) -> tuple[AttackConfig, int]:
    """The attack an epoch's evaluation of a split runs, and on how many of its first images
    (0 = all): 'val', train.val_attack on train.n_val_eval images (none when 0), the strict
    protocol's checkpoint choice; 'test', train.test_attack on train.n_test_eval images (0 =
    the whole test subset), the paper protocol's choice with the evaluation's own attack."""
    if split == "val":
        return cfg.val_attack, cfg.n_val_eval
    if split == "test":
        return cfg.test_attack, cfg.n_test_eval
    raise ValueError(f"invalid split={split!r}: allowed values are 'val', 'test'")


def _epoch_eval(model: nn.Module, data: Data, cfg: TrainConfig, epoch: int,
                split: str) -> dict[str, float]:
    """Clean and robust accuracy of the model at the end of an epoch on a split, under
    epoch_attack (the model in eval mode, the attack's noise seeded by the epoch)."""
    attack, n = epoch_attack(cfg, split)
    part = data.val if split == "val" else data.test
    if (split == "val" and n == 0) or len(part) == 0:
        return {}
    r = evaluate(model, part, attack, n=n, seed=10_000 + epoch)
    return {f"{split}_clean": r.clean, f"{split}_robust": r.robust}


@dataclass
class Checkpoint:
    """Everything a run needs to continue exactly where it stopped (checkpoint.pt)."""

    model: dict
    opt: dict
    step: int = 0
    sums: dict = field(default_factory=lambda: {"loss": 0.0, "correct": 0, "seen": 0})
    history: list[dict] = field(default_factory=list)
    passes: int = 0
    seconds: float = 0.0
    best: float = -1.0
    best_test: float = -1.0
    best_epoch: int = -1
    best_test_epoch: int = -1

    def host_sums(self) -> dict:
        """The epoch's running sums as Python numbers (one host sync)."""
        return {"loss": float(self.sums["loss"]), "correct": int(self.sums["correct"]),
                "seen": int(self.sums["seen"])}

    def count(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Add a step's loss and accuracy to the epoch's running sums. They stay on the device
        (float64): no host sync per step; they become Python numbers at the end of the epoch
        and whenever a checkpoint is written."""
        self.sums["loss"] += loss.detach().double() * len(y)
        self.sums["correct"] += (logits.argmax(1) == y).sum()
        self.sums["seen"] += len(y)

    def close_epoch(self, processes: ddp.Processes) -> dict[str, float]:
        """The epoch's training loss and accuracy (over every rank's share), sums reset."""
        sums = dict(zip(("loss", "correct", "seen"),
                        processes.all_sum(list(self.host_sums().values())), strict=True))
        self.sums = {"loss": 0.0, "correct": 0, "seen": 0}
        return {"train_loss": sums["loss"] / sums["seen"],
                "train_adv_acc": sums["correct"] / sums["seen"]}

    def improved(self, row: dict[str, Any], track_test: bool) -> list[str]:
        """Which of the best weights an epoch's row beats ('best' by validation robust
        accuracy, else training accuracy; 'best_test' by test robust accuracy), recorded."""
        out = []
        score = row.get("val_robust", row["train_adv_acc"])
        if score >= self.best:
            self.best, self.best_epoch = score, row["epoch"]
            out.append("best")
        if track_test and row.get("test_robust", -1) >= self.best_test:
            self.best_test, self.best_test_epoch = row["test_robust"], row["epoch"]
            out.append("best_test")
        return out

    def save(self, path: Path) -> None:
        self.sums = self.host_sums()
        atomic_torch_save(path, dataclasses.asdict(self))


class Precision:
    """The arithmetic of a run on its device: bf16 autocast of the forward passes for 'bf16',
    nothing for 'fp32'; the device's settings and optimiser (tickets.accel)."""

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision, self.device = precision, device

    def configure(self) -> None:
        """Process-wide settings for the device (cuDNN autotuning and TF32 on CUDA)."""
        accel.configure(self.device)

    def optimizer(self, params: list[nn.Parameter], **kw: Any) -> torch.optim.Optimizer:
        """SGD, fused on CUDA."""
        return accel.sgd(params, self.device, **kw)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the forward passes of training and evaluation run in."""
        return accel.autocast(self.precision, self.device)


class RunFiles:
    """A run's folder in the store: its checkpoint, its weight files (best, best_test, last,
    per-epoch), its result, its lock, and the quarantine of damaged files. In a distributed
    run rank 0 alone writes, and the ranks wait for each other where a file must be on disk."""

    def __init__(self, store: Store, run: TrainRun, processes: ddp.Processes) -> None:
        self.store, self.run, self.processes = store, run, processes
        self.directory = run.directory
        self.checkpoint_file = self.directory / "checkpoint.pt"

    def weight_file(self, name: str) -> Path:
        return self.directory / f"{name}.pt"

    def finished(self, save_epochs: bool = False) -> bool:
        """Whether the run finished before and its weight files are whole; then the run holds
        its stored history and cost. A damaged result.json, or a missing or truncated weight
        file, is moved aside with a warning (tickets.store.quarantine) and the run is trained
        again: False. The check reads only the end of each file (torch.save writes a zip
        archive, whose directory comes last), so fetching a stored run stays cheap; damage
        inside a file surfaces when it is loaded, as a StoreError that names it."""
        run, done = self.run, self.directory / "result.json"
        r = read_json_checked(done)
        if r is None:
            return False
        names = ["best", "last"] + (["best_test"] if run.cfg.train.track_test else [])
        epochs = [self.weight_file(f"epoch_{e}") for e in range(run.cfg.train.epochs + 1)]
        for f in [self.weight_file(n) for n in names] + [
                f for f in epochs if save_epochs and f.exists()]:
            if not f.exists() or not zipfile.is_zipfile(f):
                if f.exists():
                    quarantine(f, "truncated: no zip directory at its end")
                quarantine(done, f"{f.name} of this run is missing or unreadable")
                return False
        run.history, run.passes, run.seconds = r["history"], r["passes"], r["seconds"]
        run.finished, run.best_epoch = True, r["best_epoch"]
        run.best_test_epoch = r.get("best_test_epoch", -1)
        return True

    @contextlib.contextmanager
    def lock(self):
        """One process trains a configuration at a time: another that starts it (a second
        worker of a sweep) waits here (fcntl.flock on the folder's .lock file). The ranks of
        a distributed run train it together: no lock between them."""
        if self.processes.distributed:
            yield
            return
        import fcntl

        with open(self.directory / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def note_use(self, trained: bool) -> None:
        """The store's ledger line for this run: trained by this call, or found stored (rank 0
        alone writes it)."""
        if self.processes.is_main:
            self.store.note_use(self.directory, trained, self.run.passes)

    def resume(self, model: nn.Module, opt: torch.optim.Optimizer) -> Checkpoint:
        """The checkpoint loaded into model and opt, or a fresh one at step 0 (when there is
        none, or it was unreadable and has been moved aside). The checkpoint's running sums
        are the ranks' total: rank 0 alone keeps them."""
        state = torch_load_checked(self.checkpoint_file)
        if state is None:
            return Checkpoint(model={}, opt={})
        ck = Checkpoint(**state)
        model.load_state_dict(ck.model)
        opt.load_state_dict(ck.opt)
        if not self.processes.is_main:
            ck.sums = {"loss": 0.0, "correct": 0, "seen": 0}
        return ck

    def save_checkpoint(self, ck: Checkpoint, model: nn.Module,
                        opt: torch.optim.Optimizer) -> None:
        """Write the checkpoint (running sums totalled over the ranks); no rank runs on before
        it is on disk."""
        ck.model, ck.opt = model.state_dict(), opt.state_dict()
        sums = ck.sums
        ck.sums = dict(zip(sums, self.processes.all_sum(list(ck.host_sums().values())),
                           strict=True))
        if self.processes.is_main:
            ck.save(self.checkpoint_file)
        ck.sums = sums
        self.processes.barrier()

    def save_weights(self, name: str, model: nn.Module) -> None:
        """A model's weights as <name>.pt."""
        if self.processes.is_main:
            atomic_torch_save(self.weight_file(name), {"model": model.state_dict()})

    def finish(self, model: nn.Module) -> None:
        """The last weights and the result written, the checkpoint removed."""
        self.save_weights("last", model)
        if self.processes.is_main:
            self.store.save_result(self.run.cfg, self.run.result(), kind="train")
            self.checkpoint_file.unlink(missing_ok=True)
        self.processes.barrier()


def adversarial_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                     y: torch.Tensor, adversary: AttackConfig, g: torch.Generator,
                     bn_mode: str = "batch", processes: ddp.Processes | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Craft adversarial examples of (x, y) against the model, then take one optimiser step on
    them. Returns the loss and the logits, left on the device (no host sync). processes:
    the run's ranks, whose gradients are averaged (None: this job's, tickets.ddp)."""
    processes = processes or ddp.Processes()
    x_adv = perturb(model, x, y, adversary, g, bn_mode=bn_mode)
    model.train()
    logits = model(x_adv)
    loss = F.cross_entropy(logits.float(), y)  # the loss in fp32 under any autocast
    opt.zero_grad(set_to_none=True)
    loss.backward()
    processes.average_gradients(p for group in opt.param_groups for p in group["params"])
    opt.step()
    return loss, logits


def _batch(data: Data, idx: torch.Tensor, g: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images of a batch (augmented when the data asks for it) and labels."""
    x = data.train.images(idx)
    if data.cfg.augment:
        x = augment(x, g)
    return x, data.train.y[idx]


def _step(model: nn.Module, opt: torch.optim.Optimizer, data: Data, tc: TrainConfig,
          idx: torch.Tensor, g: torch.Generator, ck: Checkpoint, processes: ddp.Processes,
          precision: Precision) -> None:
    """One optimiser step on the adversarial examples of one batch, adding its loss and
    accuracy to the epoch's running sums."""
    x, y = _batch(data, idx, g)
    x, y, g = processes.share(x, y, g)
    with precision.autocast():
        loss, logits = adversarial_step(model, opt, x, y, tc.adversary, g, tc.adv_bn, processes)
    apply_masks_(model)  # pruned weights stay exactly zero (fixed-mask training)
    ck.count(loss, logits, y)


def _end_of_epoch(model: nn.Module, data: Data, tc: TrainConfig, ck: Checkpoint, epoch: int,
                  lr: float, bs: int, files: RunFiles, precision: Precision,
                  save_epochs: bool) -> dict[str, Any]:
    """Close an epoch: its history row, BatchNorm recalibration, validation (and, for the
    paper protocol, the test subset under the evaluation's own attack: epoch_attack), and the
    best/best_test/per-epoch weights."""
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, **ck.close_epoch(files.processes)}
    with precision.autocast():
        recalibrate_bn(model, data.train, tc.bn_recalibrate, bs)
        row.update(_epoch_eval(model, data, tc, epoch, "val"))
        if tc.track_test:
            row.update(_epoch_eval(model, data, tc, epoch, "test"))
    ck.history.append(row)
    for name in ck.improved(row, tc.track_test):
        files.save_weights(name, model)
    if save_epochs:
        files.save_weights(f"epoch_{epoch + 1}", model)
    return row


def train(cfg: RunConfig, data: Data, store: Store | None = None,
          device: str | torch.device | None = None, progress: bool = True,
          stop_after_steps: int | None = None, init_state: dict | None = None,
          checkpoint_every_steps: int = 0, save_epochs: bool = False,
          step_callback: Callable[[nn.Module, int], None] | None = None) -> TrainRun:
    """Train the scores or the weights as cfg says, resuming from a checkpoint if one exists.

    stop_after_steps stops (and checkpoints) after that many global steps, as a kill would.
    init_state is a state dict to start from (the fine-tuning studies), part of the run's key
    through cfg.tag, which the caller must set. save_epochs keeps the weights at the start
    (epoch_0.pt) and at the end of every epoch, for studies of the training dynamics.
    step_callback(model, step) runs after every optimiser step (tickets.ddp checks there that
    the ranks agree on the masks). Inside a torchrun job (tickets.ddp) the ranks share each
    batch and rank 0 writes the files.
    """
    cfg.validate()
    device = torch.device(device) if device is not None else default_device()
    store = store or Store()
    run = TrainRun(cfg, store.run_dir(cfg, kind="train"))
    files = RunFiles(store, run, ddp.Processes())
    if files.finished(save_epochs):
        files.note_use(trained=False)
        return run
    with files.lock():
        if files.finished(save_epochs):  # another process trained it while this one waited
            files.note_use(trained=False)
            return run
        _train_locked(cfg, data, files, device, progress, stop_after_steps, init_state,
                      checkpoint_every_steps, save_epochs, step_callback)
    if run.finished:
        files.note_use(trained=True)
    return run


def finished_run(cfg: RunConfig, store: Store | None = None) -> TrainRun | None:
    """The stored run of cfg if it finished (and its weight files are whole), else None."""
    store = store or Store()
    run = TrainRun(cfg, store.run_dir(cfg, kind="train"))
    return run if RunFiles(store, run, ddp.Processes()).finished() else None


def _train_locked(cfg: RunConfig, data: Data, files: RunFiles, device: torch.device,
                  progress: bool, stop_after_steps: int | None, init_state: dict | None,
                  checkpoint_every_steps: int, save_epochs: bool,
                  step_callback: Callable | None = None) -> None:
    """The training loop proper: steps in epochs, from the checkpoint if there is one; the run
    (files.run) takes its history and cost."""
    from tqdm import tqdm

    tc, run = cfg.train, files.run
    precision = Precision(tc.precision, device)
    precision.configure()
    model = files.processes.prepare(prepare_model(cfg, device, init_state))
    opt = precision.optimizer(trainable_params(model), lr=tc.lr, momentum=tc.momentum,
                              weight_decay=tc.weight_decay)
    n = len(data.train)
    bs = min(tc.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    total = tc.epochs * steps_per_epoch
    ck = files.resume(model, opt)
    if save_epochs and ck.step == 0:
        files.save_weights("epoch_0", model)
    per_example = passes_per_example(tc.adversary) + 1
    bar = tqdm(total=total, initial=ck.step, disable=not show_progress(progress), leave=False,
               desc=f"{tc.trainable} r={tc.remaining:g} {cfg.model.name}")
    t0 = time.perf_counter()
    order = _epoch_order(n, tc.seed, ck.step // steps_per_epoch).to(device)
    while ck.step < total:
        epoch, within = divmod(ck.step, steps_per_epoch)
        if within == 0:
            order = _epoch_order(n, tc.seed, epoch).to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(tc, ck.step, steps_per_epoch)
        _step(model, opt, data, tc, order[within * bs:(within + 1) * bs],
              _step_generator(device, tc.seed, ck.step), ck, files.processes, precision)
        ck.passes += bs * per_example
        ck.step += 1
        bar.update(1)
        if step_callback is not None:
            step_callback(model, ck.step)
        if ck.step % steps_per_epoch == 0:
            row = _end_of_epoch(model, data, tc, ck, epoch, opt.param_groups[0]["lr"], bs,
                                files, precision, save_epochs)
            bar.set_postfix({k: round(v, 3) for k, v in row.items()
                             if k in ("train_loss", "val_robust", "val_clean")})
        stopping = stop_after_steps is not None and ck.step >= stop_after_steps
        if (ck.step % steps_per_epoch == 0 or stopping
                or (checkpoint_every_steps and ck.step % checkpoint_every_steps == 0)):
            ck.seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            files.save_checkpoint(ck, model, opt)
        if stopping and ck.step < total:
            bar.close()
            _copy_progress(run, ck)
            return
    bar.close()
    _copy_progress(run, ck).finished = True
    files.finish(model)


def _copy_progress(run: TrainRun, ck: Checkpoint) -> TrainRun:
    run.history, run.passes, run.seconds = ck.history, ck.passes, ck.seconds
    run.best_epoch, run.best_test_epoch = ck.best_epoch, ck.best_test_epoch
    return run


def fit(cfg: RunConfig, data: Data, store: Store | None = None, progress: bool = True,
        **kw: Any) -> TrainRun:
    """train() on the device that holds the data: the call every experiment makes."""
    return train(cfg, data, store, device=data.train.x.device, progress=progress, **kw)


def summary(model: nn.Module) -> dict[str, int]:
    return param_counts(model)


__all__ = ["train", "fit", "finished_run", "epoch_attack", "Checkpoint", "TrainRun", "Precision", "RunFiles",
           "lr_at", "default_device", "prepare_model", "set_remaining", "summary"]
