"""One run on two CPU processes through torchrun (gloo), at tiny size: the ranks agree on the
masks after every step, the loss matches one process on the concatenated batch, and a killed
job resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tickets import config, data
from tickets.config import to_dict
from tickets.recipes import attack_config, base_config, rst_config
from tickets.store import Store
from tickets.train import finished_run, fit

pytestmark = pytest.mark.slow
DATA_CFG = config.DataConfig(dataset="synthetic", n_train=256, n_val=64, n_test=0, seed=0)


def _cfg(epochs: int = 2) -> config.RunConfig:
    cfg = base_config(model="conv2", width=0.25, dataset="synthetic", n_train=256, n_val=64,
                      epochs=epochs, batch_size=64, val_steps=2, n_val_eval=32,
                      track_test=False, precision="fp32")
    # clean training: the attack's random start is drawn per rank, so only clean steps can
    # match one process bit for bit in their inputs
    cfg = config.replace(cfg, **{"train.adversary": attack_config("none", 8 / 255, 1)})
    return rst_config(cfg, 0.2)


def _torchrun(tmp_path, cfg, store, *extra, wait=True):
    (tmp_path / "run.json").write_text(json.dumps(to_dict(cfg)))
    (tmp_path / "data.json").write_text(json.dumps(to_dict(DATA_CFG)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "tickets.ddprun", "--config", str(tmp_path / "run.json"),
           "--data-config", str(tmp_path / "data.json"), "--store", str(store), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TICKETS_PROGRESS": "0"}
    if not wait:
        return subprocess.Popen(cmd, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _masks(store: Store, cfg) -> torch.Tensor:
    state = torch.load(finished_run(cfg, store).directory / "last.pt", weights_only=True)
    return torch.cat([v.flatten().abs() for k, v in sorted(state["model"].items())
                      if k.endswith("scores")])


def test_two_ranks_agree_and_match_one_process(tmp_path):
    cfg = _cfg()
    out = _torchrun(tmp_path, cfg, tmp_path / "ddp", "--check-masks")  # raises on disagreement
    torch.set_num_threads(1)
    one = fit(cfg, data.load(DATA_CFG), Store(tmp_path / "one"), progress=False)
    assert out["passes"] == one.passes
    for a, b in zip(out["history"], one.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["train_adv_acc"] == pytest.approx(b["train_adv_acc"], abs=1 / 256)
    # the scores are those of the single process to float tolerance (the reductions run in
    # another order), and so are the masks, their top 20 %
    a, b = _masks(Store(tmp_path / "ddp"), cfg), _masks(Store(tmp_path / "one"), cfg)
    torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-3)
    k = int(0.2 * len(a))
    top_a, top_b = set(a.topk(k).indices.tolist()), set(b.topk(k).indices.tolist())
    assert len(top_a & top_b) / k > 0.999


def test_a_killed_job_resumes(tmp_path):
    cfg = _cfg(epochs=4)
    store = Store(tmp_path / "killed")
    proc = _torchrun(tmp_path, cfg, store.root, "--checkpoint-every-steps", "1", wait=False)
    ckpt = store.run_dir(cfg, kind="train") / "checkpoint.pt"
    deadline = time.time() + 240
    while time.time() < deadline:
        if ckpt.exists() and torch.load(ckpt, weights_only=False)["step"] >= 6:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert finished_run(cfg, store) is None, "the job was killed before it finished"
    resumed = _torchrun(tmp_path, cfg, store.root)
    whole = _torchrun(tmp_path, cfg, tmp_path / "whole")
    assert resumed["passes"] == whole["passes"]
    for a, b in zip(resumed["history"], whole["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)


def test_one_process_strategy_leaves_everything_as_it_is():
    """Outside a torchrun job the loop's process strategy is a no-op: the same batch, the same
    generator, the same sums, the same model, and this process writes the files."""
    from tickets import ddp, models

    p = ddp.Processes()
    assert (p.rank, p.world, p.distributed, p.is_main) == (0, 1, False, True)
    x, y, g = torch.rand(4, 3, 32, 32), torch.arange(4), torch.Generator().manual_seed(3)
    assert p.share(x, y, g) == (x, y, g)
    assert p.all_sum([1.5, 2, 3]) == [1.5, 2, 3]
    model = models.build("conv2", width=0.25)
    kinds = [type(m) for m in model.modules()]
    assert p.prepare(model) is model and [type(m) for m in model.modules()] == kinds
    assert not any(isinstance(m, ddp.GlobalBatchNorm) for m in model.modules())
    p.barrier()
