"""The executors: a tiny sweep gives the same runs through inline, local and Ray; a killed
worker's run is resumed; a bad configuration fails before any worker starts; a worker's error
names its run."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time

import pytest
import torch

from tickets import config, data, executor
from tickets.config import config_hash
from tickets.recipes import base_config, rst_config
from tickets.store import Store
from tickets.train import finished_run, fit


def _synth() -> data.Data:
    return data.load(config.DataConfig(dataset="synthetic", n_train=256, n_val=64, n_test=64,
                                       seed=0))


def _sweep() -> list[config.RunConfig]:
    cfg = base_config(model="conv2", width=0.25, dataset="synthetic", n_train=256, n_val=64,
                      epochs=1, batch_size=64, adversary="fgsm_rs", adv_steps=1, val_steps=2,
                      n_val_eval=32, track_test=False, precision="fp32")
    return [rst_config(config.replace(cfg, **{"train.seed": s, "model.init_seed": s}), r)
            for s in (0, 1) for r in (0.1, 0.5)]


def _fingerprint(store: Store, cfgs) -> list[tuple]:
    """Each run's mask-bearing weights and its numbers, for a bit-for-bit comparison."""
    out = []
    for cfg in cfgs:
        run = finished_run(cfg, store)
        assert run is not None, "the executor left the run unfinished"
        state = torch.load(run.directory / "best.pt", weights_only=True)["model"]
        out.append((config_hash(cfg), {k: v.clone() for k, v in state.items()},
                    json.dumps(run.history, sort_keys=True), run.passes))
    return out


def test_parse_names_the_allowed_values():
    assert executor.parse(None) == executor.Spec("inline")
    assert executor.parse("local:3") == executor.Spec("local", 3)
    assert executor.parse("ray:ray://head:10001").address == "ray://head:10001"
    for bad in ("slurm", "local:0", "local:x", "inline:2"):
        with pytest.raises(ValueError, match="TICKETS_EXECUTOR"):
            executor.parse(bad)


def test_a_bad_configuration_fails_before_any_worker_starts(tmp_path, monkeypatch):
    cfgs = _sweep()
    bad = config.replace(cfgs[1], **{"train.lr": -1.0})
    started = []
    monkeypatch.setattr(executor, "_local", lambda *a, **k: started.append(a))
    with pytest.raises(config.ConfigError, match="train.lr"):
        executor.train_all([cfgs[0], bad], _synth(), Store(tmp_path),
                           spec=executor.Spec("local", 2))
    assert not started


@pytest.mark.slow
def test_inline_local_and_ray_give_the_same_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(executor.THREADS_ENV, "1")
    torch.set_num_threads(1)  # CPU reductions depend on the thread count
    cfgs, d = _sweep(), _synth()
    inline = Store(tmp_path / "inline")
    for cfg in cfgs:
        fit(cfg, d, inline, progress=False)
    local = Store(tmp_path / "local")
    assert executor.train_all(cfgs, d, local, False, executor.Spec("local", 2)) == 4
    assert executor.train_all(cfgs, d, local, False, executor.Spec("local", 2)) == 0
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True,
             log_to_driver=False)
    try:
        via_ray = Store(tmp_path / "ray")
        assert executor.train_all(cfgs, d, via_ray, False, executor.Spec("ray")) == 4
    finally:
        ray.shutdown()
    want = _fingerprint(inline, cfgs)
    for store in (local, via_ray):
        got = _fingerprint(store, cfgs)
        for (h, sw, hist, passes), (h2, sg, hist2, passes2) in zip(want, got, strict=True):
            assert h == h2 and hist == hist2 and passes == passes2
            assert sw.keys() == sg.keys()
            assert all(torch.equal(sw[k], sg[k]) for k in sw), f"run {h} differs"


def _train_slowly(cfg, root, started):
    torch.set_num_threads(1)
    started.set()
    fit(cfg, _synth(), Store(root), progress=False, checkpoint_every_steps=1)


@pytest.mark.slow
def test_a_killed_worker_is_resumed(tmp_path, monkeypatch):
    monkeypatch.setenv(executor.THREADS_ENV, "1")
    cfg = config.replace(_sweep()[0], **{"train.epochs": 3})
    store = Store(tmp_path)
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    p = ctx.Process(target=_train_slowly, args=(cfg, str(tmp_path), started))
    p.start()
    started.wait(60)
    ckpt = store.run_dir(cfg, kind="train") / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    assert ckpt.exists() and finished_run(cfg, store) is None, "killed mid-run"
    step = torch.load(ckpt, weights_only=False)["step"]
    assert step >= 1
    assert executor.train_all([cfg], _synth(), store, False, executor.Spec("local", 1)) == 1
    resumed = finished_run(cfg, store)
    torch.set_num_threads(1)
    whole = fit(cfg, _synth(), Store(tmp_path / "whole"), progress=False)
    assert resumed.history == whole.history and resumed.passes == whole.passes


@pytest.mark.slow
def test_a_worker_error_names_the_run(tmp_path, monkeypatch):
    cfg = _sweep()[0]
    # a data configuration the worker cannot load: the error comes back with the run's hash
    bad_data = _synth()
    object.__setattr__(bad_data, "cfg", config.DataConfig(dataset="nosuchset"))
    with pytest.raises(Exception, match=config_hash(cfg)):
        executor.train_all([cfg], bad_data, Store(tmp_path), False, executor.Spec("local", 1))


def test_a_runs_threads_do_not_depend_on_its_batch(monkeypatch):
    """A run's bits depend on its torch threads, so a lone run of a local:2 batch on 2 cores
    trains on one thread, as it would beside a second run."""
    monkeypatch.delenv(executor.THREADS_ENV, raising=False)
    monkeypatch.setattr(executor.os, "cpu_count", lambda: 2)
    two = executor.Spec("local", 2)
    assert executor._layout(two, 5) == (2, 1)
    assert executor._layout(two, 1) == (1, 1)
    assert executor._layout(executor.Spec("local"), 1) == (1, 2), "default: one worker per 2 cores"
    monkeypatch.setenv(executor.THREADS_ENV, "3")
    assert executor._layout(two, 1) == (1, 3)
