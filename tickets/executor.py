"""Where a study's independent runs are trained: in the notebook's process, in worker
processes on this machine, or on a Ray cluster.

Studies hand the configurations they are about to use to `train_all` before their loops; the
loops then find every run in the store. Chosen by the environment variable TICKETS_EXECUTOR:

* ``inline`` (the default): one run after another in this process, as without an executor;
* ``local`` or ``local:N``: N worker processes on this machine (default: one per 2 cores),
  each with TICKETS_WORKER_THREADS torch threads (default: cores / N);
* ``ray`` or ``ray:ADDRESS``: tasks on a Ray cluster, a local one (``ray.init()``) or the one at
  ADDRESS (``ray://host:10001``, or ``auto``; RAY_ADDRESS works too).

Whatever ran it, a run lands in the same content-addressed store. Two workers that start the
same configuration do not both train it: the second waits on the run's lock file and then finds
it finished. A worker killed mid-run leaves its checkpoint, which the next submission resumes.
A worker's error comes back as RunFailed naming the configuration's hash. Ray workers without
the driver's filesystem train into a store of their own and send the run's files back through
Ray's object store.

Runs are bit-identical whichever executor trains them, given the same number of torch threads
(CPU reductions depend on it).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from tickets.config import RunConfig, config_hash
from tickets.data import Data, DataConfig
from tickets.data import load as load_data
from tickets.store import Store, atomic_write_bytes
from tickets.train import finished_run, fit

ENV = "TICKETS_EXECUTOR"
THREADS_ENV = "TICKETS_WORKER_THREADS"
KINDS = ("inline", "local", "ray")


class RunFailed(RuntimeError):
    """A run raised in a worker; the message names its configuration's hash."""


@dataclass(frozen=True)
class Spec:
    kind: str = "inline"
    workers: int = 0  # local: processes (0: one per 2 cores)
    address: str = ""  # ray: cluster address ('' starts or joins a local one)


def parse(text: str | None) -> Spec:
    """An executor named as in TICKETS_EXECUTOR ('inline', 'local:2', 'ray:auto', ...)."""
    text = (text or "inline").strip()
    kind, _, arg = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"invalid {ENV}={text!r}: allowed values are 'inline', 'local', "
                         f"'local:N', 'ray', 'ray:ADDRESS'")
    if kind == "local":
        if arg and (not arg.isdigit() or int(arg) < 1):
            raise ValueError(f"invalid {ENV}={text!r}: local:N needs an integer N >= 1")
        return Spec("local", int(arg or 0))
    if kind == "ray":
        return Spec("ray", address=arg or os.environ.get("RAY_ADDRESS", ""))
    if arg:
        raise ValueError(f"invalid {ENV}={text!r}: inline takes no argument")
    return Spec()


def current() -> Spec:
    return parse(os.environ.get(ENV))


def _threads(workers: int) -> int:
    env = os.environ.get(THREADS_ENV)
    if env:
        return max(1, int(env))
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _layout(spec: Spec, todo: int) -> tuple[int, int]:
    """(processes, torch threads each) for `todo` runs under a local spec. The threads follow
    the configured worker count, not the batch: a run's last bits depend on its thread count
    (docs/method.md, "Bit for bit"), so a run left alone in a batch (the last of an odd sweep,
    or one resumed after a kill) trains with the threads its batch-mates get."""
    configured = spec.workers or max(1, (os.cpu_count() or 2) // 2)
    return min(configured, max(1, todo)), _threads(configured)


# ---- what a worker does ----------------------------------------------------------------------
_DATA: dict[DataConfig, Data] = {}


def _worker_data(cfg: DataConfig) -> Data:
    if cfg not in _DATA:
        _DATA[cfg] = load_data(cfg)
    return _DATA[cfg]


def train_one(cfg: RunConfig, data_cfg: DataConfig, root: str, threads: int,
              ship_files: bool = False) -> dict[str, bytes] | None:
    """Train one configuration into the store at root (in a worker). With ship_files the run's
    files come back as bytes, for a driver that does not share this filesystem."""
    torch.set_num_threads(threads)
    try:
        run = fit(cfg, _worker_data(data_cfg), Store(root), progress=False)
    except Exception as e:  # noqa: BLE001 - re-raised with the run's name
        raise RunFailed(f"run {config_hash(cfg)} failed in a worker: "
                        f"{type(e).__name__}: {e}") from e
    if not ship_files:
        return None
    return {f.name: f.read_bytes() for f in run.directory.iterdir()
            if f.is_file() and not f.name.startswith(("checkpoint", "."))}


# ---- the executors -------------------------------------------------------------------------
def _pending(cfgs: Iterable[RunConfig], store: Store) -> list[RunConfig]:
    """Distinct configurations, each validated (a bad one fails here, before any worker
    starts), that the store does not hold finished."""
    seen, out = set(), []
    for cfg in cfgs:
        cfg.validate()
        h = config_hash(cfg)
        if h in seen:
            continue
        seen.add(h)
        if finished_run(cfg, store) is None:
            out.append(cfg)
    return out


def train_all(cfgs: Iterable[RunConfig], data: Data, store: Store | None = None,
              progress: bool = True, spec: Spec | None = None) -> int:
    """Make sure every configuration is trained in the store, through the executor that
    TICKETS_EXECUTOR (or spec) names; returns how many were trained. inline trains nothing
    here: the study's own loop trains each run where it is first used."""
    spec = spec or current()
    store = store or Store()
    cfgs = list(cfgs)
    if spec.kind == "inline":
        for cfg in cfgs:
            cfg.validate()
        return 0
    todo = _pending(cfgs, store)
    if not todo:
        return 0
    if spec.kind == "local":
        _local(todo, data, store, spec, progress)
    else:
        _ray(todo, data, store, spec, progress)
    return len(todo)


def _bar(total: int, progress: bool, kind: str):
    from tqdm import tqdm

    from tickets.train import show_progress

    return tqdm(total=total, desc=f"runs ({kind})", unit="run",
                disable=not show_progress(progress))


def _local(todo: list[RunConfig], data: Data, store: Store, spec: Spec, progress: bool) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    workers, threads = _layout(spec, len(todo))
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool, \
            _bar(len(todo), progress, f"local x{workers}") as bar:
        futures = {pool.submit(train_one, cfg, data.cfg, str(store.root.resolve()), threads):
                   cfg for cfg in todo}
        for fut in as_completed(futures):
            fut.result()  # a worker's RunFailed surfaces here
            bar.update(1)


def _ray(todo: list[RunConfig], data: Data, store: Store, spec: Spec, progress: bool) -> None:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(f"{ENV}=ray needs Ray: pip install 'tickets[ray]'") from e
    env = {k: v for k, v in os.environ.items() if k.startswith("TICKETS_") and k != ENV}
    if not ray.is_initialized():
        ray.init(address=spec.address or None, runtime_env={"env_vars": env},
                 ignore_reinit_error=True, log_to_driver=False)
    # a marker file tells each worker whether it sees the driver's store
    store.root.mkdir(parents=True, exist_ok=True)
    marker = store.root / f".driver-{uuid.uuid4().hex}"
    marker.write_text("")
    threads = int(os.environ.get(THREADS_ENV, "1"))
    task = ray.remote(num_cpus=threads)(_ray_task)
    try:
        refs = {task.remote(cfg, data.cfg, str(store.root.resolve()), marker.name, threads):
                cfg for cfg in todo}
        with _bar(len(todo), progress, "ray") as bar:
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                cfg = refs[done[0]]
                try:
                    files = ray.get(done[0])
                except Exception as e:  # noqa: BLE001 - Ray wraps the worker's error
                    raise RunFailed(f"run {config_hash(cfg)} failed on Ray: {e}") from e
                if files is not None:  # the worker had no shared filesystem
                    d = store.run_dir(cfg, kind="train")
                    for name in sorted(files, key=lambda n: n == "result.json"):
                        atomic_write_bytes(d / name, files[name])  # result.json last
                bar.update(1)
    finally:
        marker.unlink(missing_ok=True)


def _ray_task(cfg: RunConfig, data_cfg: DataConfig, root: str, marker: str,
              threads: int) -> dict[str, bytes] | None:
    if (Path(root) / marker).exists():
        return train_one(cfg, data_cfg, root, threads)
    with tempfile.TemporaryDirectory() as own:
        return train_one(cfg, data_cfg, own, threads, ship_files=True)


__all__ = ["ENV", "THREADS_ENV", "KINDS", "RunFailed", "Spec", "parse", "current", "train_all",
           "train_one"]
