"""The gpu and paper profiles, dry-run on the CPU: every notebook of the gpu profile, and study
01 of the paper profile (PAPER_NOTEBOOKS), executed with the profile's own parameters, its
sizes shrunk (tickets.parameters.tiny). A profile that names a parameter a notebook lacks, or
a model, attack or method the code cannot run, fails here long before a GPU is lent.

The dry runs compute in float32, with oneDNN capped at SSE4.1
(tickets.report.execute.DRY_RUN_ENV): bf16 autocast on a CPU without bf16 instructions (AVX2
only) ran a tiny ResNet-18 step 4.4x slower than float32, and the gpu profile's bf16 dry run
alone took 18.6 min there. The GPU's bf16 path is exercised end to end by one notebook of
the gpu profile (04: searches, PGD and FGSM under autocast) and, below the notebooks, by
tests/test_accel.py (a bf16 search, PGD under autocast)."""

from __future__ import annotations

import json
import os

import pytest

from tickets import accel, parameters, report
from tickets.claims import CLAIMS

DATA = os.environ.get("TICKETS_DATA") or os.environ.get("TICKETS_REQUIRE_DATA")
BF16_NOTEBOOK = "04_search_attack"
# The paper profile differs from the gpu profile only in values: its lr schedule (piecewise,
# unit-tested in test_train), PGD-7, more ratios and widths. Study 01 meets them all in one
# notebook (ratios 0.01-0.9 with rst-2's two end parts graded, dense baselines, AutoAttack,
# the paper protocol); the other nine repeat the gpu dry run's code with other numbers, and
# took about 20 of the paper dry run's 23 minutes on a 2-core AVX2 machine (01: 3.4 min). test_profiles checks
# that every notebook resolves every paper setting.
PAPER_NOTEBOOKS = ["01"]


def test_tiny_keeps_names_and_methods_and_shrinks_sizes():
    prof = {"model": "resnet18", "width": 1.0, "n_train": 0, "n_test": 2000, "aa_n": 0,
            "epochs": 3, "ratios": [0.01, 0.5], "widths": [0.5, 1.0, 2.0], "methods": ["awt"]}
    t = parameters.tiny(prof)
    assert t["model"] == "resnet18" and t["ratios"] == [0.01, 0.5] and t["methods"] == ["awt"]
    assert t["n_train"] == parameters.TINY_SIZES["n_train"]  # 0 (all) shrinks too
    assert t["n_test"] == parameters.TINY_SIZES["n_test"] and t["epochs"] == 1
    assert t["aa_n"] == 0, "a step the profile turns off stays off"
    assert t["width"] == 0.125 and t["widths"] == [0.0625, 0.125, 0.25]
    assert set(t) == set(prof)


def test_a_report_injects_the_profile_and_only_what_differs_from_it(tmp_path):
    """make report gives a notebook its profile, its results folder and --param; a dry run
    also the sizes tiny changes. The notebook resolves the rest from its profile."""
    from tickets import profiles
    from tickets.report.params import run_params

    nb = report.notebooks()[0]
    p = run_params(nb, "gpu", tmp_path / "gpu", {"ratios": "[0.1, 0.2]"})
    assert p == {"profile": "gpu", "results_dir": os.path.relpath(tmp_path / "gpu", nb.parent),
                 "ratios": [0.1, 0.2]}
    prof = profiles.settings("gpu", nb.stem)
    t = run_params(nb, "gpu", tmp_path / "gpu", {"n_test": 16}, tiny=True)
    small = parameters.tiny(prof)
    assert t["n_test"] == 16 and t["n_train"] == small["n_train"] != prof["n_train"]
    assert "model" not in t and "ratios" not in t, "what tiny keeps is not injected"
    assert {k: v for k, v in t.items() if k not in ("profile", "results_dir", "n_test")} == {
        k: v for k, v in small.items() if v != prof[k] and k != "n_test"}
    with pytest.raises(SystemExit, match="at profile gpu: invalid seeds=\\[0, 0\\]"):
        run_params(nb, "gpu", tmp_path / "gpu", {"seeds": [0, 0]})


@pytest.mark.slow
@pytest.mark.skipif(not DATA, reason="needs CIFAR-10 (TICKETS_DATA)")
@pytest.mark.parametrize("profile,selected", [("gpu", None), ("paper", PAPER_NOTEBOOKS)])
def test_profile_dry_run(profile, selected, tmp_path, monkeypatch):
    """Every notebook of the gpu profile; the paper profile's study 01 (see PAPER_NOTEBOOKS)."""
    monkeypatch.setenv(accel.ENV, "fp32")  # the kernels inherit it (see the module's text)
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    out = tmp_path / profile
    report.main(["--profile", profile, "--tiny", "--out", str(out)]
                + (["--notebooks", *selected] if selected else []))
    chosen = report.notebooks(selected)
    executed = sorted(out.glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in executed] == [nb.name for nb in chosen]
    records = {f.stem: json.loads(f.read_text()) for f in (out / "results").glob("*.json")}
    claims = {c.id for c in CLAIMS if c.notebook in {nb.stem for nb in chosen}}
    assert claims and set(records) == claims, "every claim of the notebooks got a record"
    assert (out / "index.html").exists() and not (out / "timings.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(not DATA, reason="needs CIFAR-10 (TICKETS_DATA)")
def test_a_gpu_notebook_dry_runs_under_bf16_autocast(tmp_path, monkeypatch):
    """The GPU's precision path through a whole notebook: TICKETS_PRECISION reaches the
    kernel, every run it trains is a bf16 run, and the notebook grades its claim."""
    monkeypatch.setenv(accel.ENV, "bf16")
    # bf16 takes other oneDNN kernels than the float32 one that hangs on narrow nets
    # (tickets.report.execute.DRY_RUN_ENV), and is slow enough without its AVX2 ones
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    [nb] = report.notebooks([BF16_NOTEBOOK])
    out = tmp_path / "gpu"
    report.main(["--profile", "gpu", "--tiny", "--out", str(out), "--notebooks", nb.stem])
    assert [p.name for p in out.glob("[0-9][0-9]_*.ipynb")] == [nb.name]
    configs = [json.loads(f.read_text()) for f in (tmp_path / "store").glob("train-*/config.json")]
    assert configs and all(c["train"]["precision"] == "bf16" for c in configs)
    records = [json.loads(f.read_text()) for f in (out / "results").glob("*.json")]
    assert records, "the notebook wrote no verdict record"
