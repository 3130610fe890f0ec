"""`make bench` as a package: the command line hands each flag to its tool, a scale probe never
reads the test split, the GPU levers' table, and the projection's passes and report call.
No real benchmarking here: the tools are replaced where only the dispatch is under test."""

from __future__ import annotations

import json
import os

import pytest
import torch

from tickets import attacks, config
from tickets.bench import cli, cpu_levers, gpu, ledger, probe, projection, steps, sweep
from tickets.store import STORE_ENV_VAR, Store


class Calls:
    """Replaces the bench's tools with recorders; each returns a small, well-formed result."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[str, tuple, dict]] = []

        def recorder(name: str, result):
            def fn(*args, **kwargs):
                self.seen.append((name, args, kwargs))
                return result() if callable(result) else result
            return fn

        header = {"device": "cpu", "torch": torch.__version__, "threads": 1, "batch": 0,
                  "figures": {"conv4_w0.5_masked_over_dense": 1.05}}
        for module, name, result in [
                (steps, "step_figures", lambda: json.loads(json.dumps(header))),
                (cpu_levers, "levers", {"host_sync_removed_speedup": 1.2}),
                (gpu, "gpu_levers", {"fast_path_bf16_speedup": 1.5}),
                (ledger, "reuse_figures", {}),
                (probe, "scale_probe", {"dense": {"val_clean": 0.5}}),
                (sweep, "sweep_speedup", {"sweep_local2_speedup": 1.15}),
                (projection, "project", [{"notebook": "01_existence", "train_gpasses": 1.0,
                                          "attack_gpasses": 2.0, "projected_min": 3.0}])]:
            monkeypatch.setattr(module, name, recorder(name, result))

    def names(self) -> list[str]:
        return [name for name, *_ in self.seen]

    def args(self, name: str) -> tuple[tuple, dict]:
        (found,) = [(a, k) for n, a, k in self.seen if n == name]
        return found


def test_main_hands_each_flag_to_its_tool_and_to_no_other(monkeypatch, tmp_path, capsys):
    calls = Calls(monkeypatch)
    cli.main(["--project", "gpu"])
    assert calls.names() == ["project"] and calls.args("project") == (("gpu",), {"rerun": True})
    assert "projected device time: 3.0 min" in capsys.readouterr().out

    calls = Calls(monkeypatch)
    cli.main(["--project", "paper", "--reuse"])
    assert calls.args("project") == (("paper",), {"rerun": False})

    calls = Calls(monkeypatch)
    cli.main(["--sweep"])
    assert calls.names() == ["sweep_speedup"]
    assert "a sweep through local:2, against inline" in capsys.readouterr().out

    calls = Calls(monkeypatch)
    cli.main(["--scale-probe", "dense", "0.1", "--probe-epochs", "3", "--probe-width", "0.25",
              "--probe-lr", "0.05", "--probe-n-train", "2000", "--probe-batch", "64",
              "--probe-seed", "2", "--probe-no-augment"])
    assert calls.names() == ["scale_probe"]
    assert calls.args("scale_probe") == ((["dense", "0.1"], 3, 0.25, 0.05, 2000),
                                         {"batch_size": 64, "augment": False, "seed": 2})

    calls = Calls(monkeypatch)
    out = tmp_path / "b" / "bench.json"
    cli.main(["--levers", "--device", "cpu", "--batch", "32", "--out", str(out)])
    assert calls.names() == ["step_figures", "levers", "reuse_figures"]
    assert calls.args("step_figures")[0] == (torch.device("cpu"), 32, 5, False)
    assert calls.args("levers")[0] == (32,)
    written = json.loads(out.read_text())["figures"]
    assert written == {"conv4_w0.5_masked_over_dense": 1.05, "host_sync_removed_speedup": 1.2}

    calls = Calls(monkeypatch)
    cli.main(["--levers", "--device", "cuda", "--gpu-net", "conv2:0.25", "--out", str(out)])
    assert calls.names() == ["step_figures", "gpu_levers", "reuse_figures"]
    assert calls.args("gpu_levers")[0] == (torch.device("cuda"), "conv2", 0.25)
    assert "fast path: bf16" in capsys.readouterr().out

    calls = Calls(monkeypatch)
    cli.main(["--quick", "--out", str(out)])  # no --levers: step figures and the ledger only
    assert calls.names() == ["step_figures", "reuse_figures"]
    assert calls.args("step_figures")[0][3] is True


def _probe_cfg(synth) -> config.RunConfig:
    return config.RunConfig(
        model=config.ModelConfig(name="conv2", width=0.25), data=synth.cfg,
        train=config.TrainConfig(remaining=1.0, trainable="scores", epochs=1, batch_size=128,
                                 adversary=config.AttackConfig(steps=1), n_val_eval=32,
                                 val_attack=config.AttackConfig(steps=1), track_test=False))


def test_a_scale_probe_measures_on_validation_and_never_reads_the_test_split(
        synth, tmp_path, monkeypatch):
    """The probe trains and evaluates with the test split withheld (any access raises), and
    every image it attacks comes from the validation split; its figures are the validation
    split's, equal to a direct evaluation there."""
    seen = []
    real = attacks.evaluate

    def spy(model, split, *args, **kwargs):
        seen.append(split)
        return real(model, split, *args, **kwargs)

    monkeypatch.setattr(attacks, "evaluate", spy)
    guarded = probe.without_test(synth)
    with pytest.raises(RuntimeError, match="withheld"):
        guarded.test.x  # noqa: B018 - the access itself is what must fail
    store = Store(tmp_path)
    out = probe.probe_runs(["dense", "0.3"], _probe_cfg(synth), guarded, store)
    assert set(out) == {"dense", "0.3"}
    assert seen and all(split is synth.val for split in seen)
    for row in out.values():
        assert row["val_n"] == len(synth.val) and row["val_attack"].startswith("PGD-20")
        assert 0 <= row["val_pgd"] <= row["val_clean"] <= 1
        assert not {"clean", "pgd20"} & set(row)  # no field that could pass for a test figure
    # the same figure as PGD-20 on the validation split, evaluated directly
    from tickets.evaluation import EvalSpec
    from tickets.recipes import dense_config
    from tickets.train import fit
    run = fit(dense_config(_probe_cfg(synth)), synth, store, progress=False)
    direct = real(run.model("best", device="cpu"), synth.val, EvalSpec(pgd_steps=20).strict_pgd(),
                  n=len(synth.val), seed=0)
    assert out["dense"]["val_pgd"] == direct.robust and out["dense"]["val_clean"] == direct.clean


def test_a_probe_whose_training_would_track_test_images_is_stopped(synth, tmp_path):
    """The guard is live: a configuration that looks at the test split during training
    fails instead of quietly reading it."""
    cfg = config.replace(_probe_cfg(synth), **{"train.track_test": True})
    with pytest.raises(RuntimeError, match="withheld"):
        probe.probe_runs(["dense"], cfg, synth, Store(tmp_path))


def test_the_probe_configuration_keeps_its_scale():
    cfg = probe.probe_config(epochs=3, width=0.25, lr=0.05, n_train=2000, batch_size=64,
                             augment=False, seed=2)
    assert (cfg.model.name, cfg.model.width, cfg.model.init_seed) == ("conv4", 0.25, 2)
    assert (cfg.data.n_train, cfg.data.n_val, cfg.data.augment) == (2000, 1000, False)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.seed) == (3, 64, 0.05, 2)
    assert cfg.train.track_test is False and cfg.train.adversary.steps == 2


H200_FIG = {"search_model": "resnet18", "search_width": 1.0, "search_batch": 256,
            "search_pgd_steps": 3, "gpu_name": "NVIDIA H200", "bf16_peak_tflops": 989.0,
            "forward_gflops_per_image": 1.11084544, "search_images_per_s": 7216.33,
            "fast_path_bf16_speedup": 1.03, "fast_path_no_bf16_images_per_s": 7000.0,
            "fast_path_channels_last_speedup": 1.33,
            "fast_path_no_channels_last_images_per_s": 5400.0,
            "fast_path_batch512_images_per_s": 9000.0, "fast_path_batch512_speedup": 1.25,
            "compile_speedup": 1.5, "compile_images_per_s": 10800.0,
            "pgd20_eval_images_per_s": 1704.08}


def test_the_gpu_levers_table_gives_images_ratio_and_share_of_peak(capsys):
    rows = {label: (ips, ratio, share) for label, ips, ratio, share in
            gpu.gpu_lever_rows(H200_FIG)}
    # the first contact's figures: 7,216 images/s searched is 9.7 % of the H200's bf16 peak,
    # PGD-20 evaluation at 1,704 images/s 11.5 %
    assert rows["fast path (baseline)"][1] == 1.0
    assert rows["fast path (baseline)"][2] == pytest.approx(0.0973, abs=1e-4)
    assert rows["PGD-20 evaluation (no baseline)"][1] is None
    assert rows["PGD-20 evaluation (no baseline)"][2] == pytest.approx(0.1148, abs=1e-4)
    assert rows["fast path without bf16"][:2] == (7000.0, pytest.approx(1 / 1.03))
    assert rows["fast path at batch 512"] == (9000.0, 1.25, pytest.approx(0.0973 * 1.247,
                                                                           rel=1e-3))
    assert rows["fast path + torch.compile"][1] == 1.5
    assert rows["fast path + torch.compile"][2] == pytest.approx(0.0973 * 10800 / 7216.33,
                                                                  rel=1e-3)
    assert "fast path without fused" not in rows  # not measured, not shown
    assert gpu.first_contact_ratio(H200_FIG) == pytest.approx(7216.33 / 7216.3)
    assert gpu.first_contact_ratio({**H200_FIG, "search_pgd_steps": 7}) is None
    gpu.print_gpu_levers(H200_FIG)
    out = capsys.readouterr().out
    assert "bf16 peak 989 TFLOP/s" in out and "9.7 %" in out and "1.50x" in out
    no_peak = {k: v for k, v in H200_FIG.items() if k != "bf16_peak_tflops"}
    assert all(share is None for *_, share in gpu.gpu_lever_rows(no_peak))
    assert gpu.gpu_lever_rows({"host_sync_removed_speedup": 1.2}) == []


def test_the_lever_summary_reads_only_ratios_from_the_fast_path():
    from tickets.bench import summary

    labels = [label for label, *_ in summary.lever_summary(H200_FIG)]
    assert labels == ["torch.compile (inductor)", "fast path: bf16", "fast path: channels_last",
                      "fast path: batch512"]


def test_the_projection_counts_attack_passes_from_the_stored_evaluations(tmp_path):
    for i, c in enumerate([{"attack": "PGD-20 linf CE eps=8/255", "n": 100},
                           {"attack": "PGD-10 linf CE eps=8/255", "n": 50,
                            "autoattack": "AA-standard n=20 v2"},
                           {"attack": "sanity", "n": 7}]):
        (tmp_path / f"eval-{i}").mkdir()
        (tmp_path / f"eval-{i}" / "config.json").write_text(json.dumps(c))
    want = 21 * 100 + 11 * 50 + projection.AA_PASSES_PER_IMAGE * 20
    assert projection.eval_passes(tmp_path, 3.0) == pytest.approx(3 * want)


def test_the_projection_calls_the_report_with_its_own_store_and_restores_the_callers(
        tmp_path, monkeypatch):
    from tickets import report

    seen = []
    monkeypatch.setattr(report, "main", lambda argv: seen.append(
        (argv, os.environ.get(STORE_ENV_VAR))))
    monkeypatch.setenv(STORE_ENV_VAR, "callers-store")
    store = tmp_path / "01_existence"
    (store / "old").mkdir(parents=True)
    projection.dry_run("gpu", "01_existence", store, tmp_path / "nb")
    ((argv, during),) = seen
    assert during == str(store) and os.environ[STORE_ENV_VAR] == "callers-store"
    assert not store.exists()  # emptied first, as a fresh device call starts
    assert argv[:2] == ["--profile", "gpu"] and "--execute-only" in argv
    assert argv[argv.index("--notebooks") + 1] == "01" and "--tiny" in argv
    assert "epochs" in argv[argv.index("--tiny-keep"):]
    monkeypatch.delenv(STORE_ENV_VAR)
    projection.dry_run("gpu", "01_existence", store, tmp_path / "nb")
    assert seen[-1][1] == str(store) and STORE_ENV_VAR not in os.environ
    with pytest.raises(ValueError, match="gpu='A100'"):
        projection.project("gpu", tmp_path, gpu="A100")
