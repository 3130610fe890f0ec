"""The fast path's precision: bf16 autocast (run here on the CPU), its place in the store key,
and the attacks' strength under it."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from tickets import accel, attacks, config, data
from tickets.config import SCHEMA_VERSION, TrainConfig, config_hash, to_dict
from tickets.recipes import attack_config, base_config, rst_config
from tickets.store import Store
from tickets.train import fit


def test_default_precision_follows_the_device_and_the_environment(monkeypatch):
    monkeypatch.delenv(accel.ENV, raising=False)
    assert accel.default_precision("cpu") == "fp32"
    assert accel.default_precision("cuda") == "bf16"
    monkeypatch.setenv(accel.ENV, "bf16")
    assert accel.default_precision("cpu") == "bf16"
    monkeypatch.setenv(accel.ENV, "fp32")
    assert accel.default_precision("cuda") == "fp32"
    monkeypatch.setenv(accel.ENV, "half")
    with pytest.raises(ValueError, match="TICKETS_PRECISION='half'"):
        accel.default_precision("cpu")


def test_precision_is_checked_and_enters_the_key_only_when_not_fp32():
    with pytest.raises(config.ConfigError, match="train.precision"):
        TrainConfig(precision="fp16").validate()
    old = to_dict(TrainConfig())
    # a configuration as stored before these fields existed (the test-set choice's fields act
    # only with track_test, which is off here)
    for late in ("precision", "test_attack", "n_test_eval"):
        del old[late]
    payload = {"schema": SCHEMA_VERSION, "type": "TrainConfig", "cfg": old}
    before = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    assert config_hash(TrainConfig()) == before[:12]
    assert config_hash(TrainConfig(precision="bf16")) != config_hash(TrainConfig())


def test_recipes_take_the_precision_from_the_environment(monkeypatch):
    monkeypatch.setenv(accel.ENV, "bf16")
    assert base_config(n_train=64).train.precision == "bf16"
    monkeypatch.delenv(accel.ENV)
    assert base_config(n_train=64).train.precision == ("bf16" if torch.cuda.is_available()
                                                       else "fp32")
    assert base_config(n_train=64, precision="bf16").train.precision == "bf16"


def test_autocast_runs_convolutions_in_bf16_and_losses_in_float32(trained_model, synth):
    x, y = synth.test.images()[:32], synth.test.y[:32]
    with accel.autocast("bf16", "cpu"):
        logits = trained_model(x)
        loss = attacks._loss(logits, y, "ce")
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    with accel.autocast("fp32", "cpu"):
        assert trained_model(x).dtype == torch.float32
    with pytest.raises(ValueError, match="precision"):
        accel.autocast("fp16", "cpu")


def test_pgd_under_bf16_autocast_is_within_one_point_of_float32(trained_model):
    """The same PGD-10 on 2,000 images: the adversarial examples crafted and judged under bf16
    autocast leave the robust accuracy within 1 point of float32's."""
    d = data.load(config.DataConfig(dataset="synthetic", n_train=64, n_val=0, n_test=2000, seed=0))
    # an eps at which the model is partly robust, so both directions of error can show
    cfg = attack_config("pgd", 0.04, 10)
    fp32 = attacks.evaluate(trained_model, d.test, cfg, seed=0)
    with accel.autocast("bf16", "cpu"):
        bf16 = attacks.evaluate(trained_model, d.test, cfg, seed=0)
    assert fp32.clean > 0.9 and 0.3 < fp32.robust < 0.8, (fp32.robust, fp32.clean)
    assert abs(bf16.robust - fp32.robust) <= 0.01, (bf16.robust, fp32.robust)
    assert bf16.clean == pytest.approx(fp32.clean, abs=0.01)


def test_a_bf16_search_trains_and_is_stored_apart_from_fp32(tmp_path, synth):
    cfg = base_config(model="conv2", width=0.25, dataset="synthetic", n_train=512, n_val=128,
                      epochs=1, batch_size=64, adversary="fgsm_rs", adv_steps=1, val_steps=2,
                      n_val_eval=64, track_test=False, precision="fp32")
    cfg = config.replace(rst_config(cfg, 0.3), **{"data.n_test": 0})
    bf = config.replace(cfg, **{"train.precision": "bf16"})
    store = Store(tmp_path)
    a, b = fit(cfg, synth, store, progress=False), fit(bf, synth, store, progress=False)
    assert a.directory != b.directory
    for run in (a, b):
        row = run.history[-1]
        assert torch.isfinite(torch.tensor(row["train_loss"])) and 0 <= row["val_robust"] <= 1
    assert a.passes == b.passes


def test_the_gpu_bench_runs_its_fast_path_parts_on_a_small_net():
    """make bench's GPU section, here on the CPU with a small net: every part of the fast path
    gets a ratio, and the throughput figures are consistent with each other."""
    from tickets import bench

    fig = bench.gpu_levers(torch.device("cpu"), "conv2", 0.25, batch=16, steps=1, repeats=2,
                           compile=False, batches=(16, 32))
    for part in ("bf16", "channels_last", "fused", "benchmark"):
        assert fig[f"fast_path_{part}_speedup"] > 0
    assert fig["search_images_per_s"] > 0 and fig["pgd20_eval_images_per_s"] > 0
    assert fig["search_tflops"] == pytest.approx(
        fig["search_images_per_s"] * 2 * 3 * fig["forward_gflops_per_image"] / 1e3)
    rows = bench.gpu_lever_rows(fig)  # the table make bench prints: every part, its images/s
    assert [label for label, *_ in rows] == [
        "fast path (baseline)", "fast path without bf16", "fast path without channels_last",
        "fast path without fused", "fast path without benchmark", "fast path at batch 32",
        "PGD-20 evaluation (no baseline)"]
    assert rows[5][1:3] == (fig["fast_path_batch32_images_per_s"], fig["fast_path_batch32_speedup"])
    for label, ips, ratio, share in rows[1:5]:
        assert ips == fig[f"fast_path_no_{label.split()[-1]}_images_per_s"] > 0
        assert ratio == pytest.approx(1 / fig[f"fast_path_{label.split()[-1]}_speedup"])
        assert share is None  # no bf16 peak for a CPU
    assert bench.bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench.bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.bf16_peak_tflops("NVIDIA A100-SXM4-40GB") is None


def test_lever_summary_adopts_at_ten_percent():
    from tickets import bench

    rows = dict((label, (r, ok)) for label, r, ok in bench.lever_summary(
        {"host_sync_removed_speedup": 1.0, "compile_speedup": 1.2, "processes_2x1_speedup": 1.02,
         "batch64_images_per_s": 342.0, "batch128_images_per_s": 307.0,
         "batch256_images_per_s": 215.0, "fast_path_bf16_speedup": 2.5}))
    assert rows["torch.compile (inductor)"] == (1.2, True)
    assert rows["per-step host syncs removed"] == (1.0, False)
    assert rows["2 processes x 1 thread, against 1 x 2"] == (1.02, False)
    assert rows["batch 64 against 128"][1] is True and rows["batch 256 against 128"][1] is False
    assert rows["fast path: bf16"] == (2.5, True)


def test_adoption_of_a_batch_size_is_read_from_the_cpu_profile(monkeypatch):
    from tickets import bench
    from tickets.bench import summary

    monkeypatch.setattr(summary, "profile_batch", lambda profile="cpu": 64)
    assert bench.adoption("batch 64 against 128", True).startswith("adopted")
    assert bench.adoption("batch 256 against 128", False) == "not adopted"
    monkeypatch.setattr(summary, "profile_batch", lambda profile="cpu": 128)
    assert bench.adoption("batch 64 against 128", True).startswith("wins, not adopted")
    assert bench.adoption("torch.compile (inductor)", False) == "not adopted"


def test_adoption_of_worker_processes_is_read_from_the_executor(monkeypatch):
    """Processes are a setting of the executor, not of a params file: a ratio is called
    adopted when the cpu report trains through that many workers (its default, or
    TICKETS_EXECUTOR), and not otherwise."""
    from tickets import bench, executor

    label = "2 processes x 1 thread, against 1 x 2"
    monkeypatch.delenv(executor.ENV, raising=False)
    assert bench.adoption(label, True) == "adopted (the cpu report trains through local:2)"
    monkeypatch.setenv(executor.ENV, "inline")
    assert bench.adoption(label, True) == "wins, not adopted: the cpu report trains through inline"
    assert bench.adoption(label, False) == "not adopted"


@pytest.mark.parametrize("fused", [False, True])
def test_a_masked_layer_follows_its_scores_after_every_optimiser_step(fused):
    """The fused SGD kernel (the CUDA default) leaves the parameters' version counters alone,
    and the masked layers recompute their cached top-k mask only when the version moves: the
    first gpu report's RST searches kept their initial random masks. After a step of
    accel.sgd, fused (asked for here on the CPU) or not, the mask is the top-k of the new
    scores."""
    from tickets import layers, models

    torch.manual_seed(0)
    net = models.build("conv4", width=0.125, remaining=0.1)
    layer = next(m for _, m in layers.masked_layers(net))
    before = layer.score_mask().clone()
    opt = accel.sgd([layer.scores], "cpu", lr=1.0, fused=fused)
    assert bool(opt.defaults.get("fused")) == fused
    layer.scores.grad = -torch.randn_like(layer.scores) * 10  # reshuffles the top-k
    opt.step()
    after = layer.score_mask()
    expected = layers.topk_mask(layer.scores, layer.remaining)
    assert not torch.equal(expected, before)
    assert torch.equal(after, expected)
