"""Profiles: each setting declared once (a profile's scale, a study's file, the user), resolved
in that order, every value checked; and a notebook executed at the cpu profile with tiny
overrides, the cpu scale in force for the rest."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from tickets import parameters, profiles
from tickets.config import ConfigError
from tickets.parameters import ParameterError
from tickets.recipes import base_config

NOTEBOOKS = sorted(p.stem for p in parameters.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
DATA = os.environ.get("TICKETS_DATA")


def test_scale_then_study_file_then_given():
    scale = profiles.scale("cpu")
    study = profiles.study("cpu", "09")
    assert study["n_train"] != scale["n_train"]  # 09 deliberately trains on fewer images
    r = profiles.resolve("cpu", "09")
    assert r.values["n_train"] == study["n_train"] and r.source["n_train"] == "study file"
    assert r.values["adv_steps"] == scale["adv_steps"] and r.source["adv_steps"] == "scale"
    assert r.values["prune_lrs"] == study["prune_lrs"]  # the study's own parameter
    g = profiles.resolve("cpu", "09", {"n_train": 300, "adv_steps": 1})
    assert g.values["n_train"] == 300 and g.values["adv_steps"] == 1
    assert g.given() == {"n_train": 300, "adv_steps": 1}
    assert "given: n_train=300, adv_steps=1" in g.table()
    assert "study file (params/cpu/09.yaml): n_train=2000" in r.table()


def test_settings_by_stem_or_number_and_the_scale_alone():
    assert profiles.settings("gpu", "03") == profiles.settings("gpu", "03_sparsity_pattern")
    assert profiles.settings("gpu", "03")["model"] == "conv6" != profiles.scale("gpu")["model"]
    assert profiles.settings("paper") == profiles.scale("paper")


def test_unknown_profile_notebook_and_name():
    with pytest.raises(ConfigError, match="invalid profile='tpu': allowed values are 'smoke'"):
        profiles.settings("tpu", "01")
    with pytest.raises(ConfigError, match="invalid notebook='11'"):
        profiles.settings("cpu", "11")
    with pytest.raises(ParameterError, match="unknown parameter 'ratio'. Did you mean 'ratios'"):
        profiles.resolve("cpu", "01", {"ratio": [0.1]})
    # a shared name a study does not take (09 counts its own epochs) is unknown there
    with pytest.raises(ParameterError, match="unknown parameter 'epochs'"):
        profiles.resolve("smoke", "09", {"epochs": 2})
    assert "epochs" not in profiles.settings("paper", "09")


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_every_notebook_resolves_every_setting_it_takes(profile):
    scale = profiles.scale(profile)
    assert set(profiles.SHARED) <= set(scale), "a scale declares every shared setting"
    used = set()
    for stem in NOTEBOOKS:
        values = profiles.settings(profile, stem)
        own = [k for k in profiles.declared(stem) if k not in profiles.RUNNER]
        assert set(own) <= set(values) and None not in values.values()
        assert set(profiles.study(profile, stem)) <= set(profiles.SHARED) | set(own)
        used |= set(own)
    assert set(scale) - set(profiles.SHARED) <= used, "every other scale name reaches a study"


def test_each_setting_is_declared_once():
    """The parameters cells hold profile, results_dir and the study's own names at None; a
    study file changes a scale value only with a reason, and never repeats it unchanged."""
    for stem in NOTEBOOKS:
        cell = profiles.declared(stem)
        assert cell["profile"] == "smoke" and cell["results_dir"] is None
        assert all(v is None for k, v in cell.items() if k not in profiles.RUNNER), stem
        assert not set(cell) & set(profiles.SHARED), stem
    for profile in profiles.PROFILES:
        scale = profiles.scale(profile)
        for stem in NOTEBOOKS:
            f = profiles.study_file(profile, stem)
            lines = {ln.split(":")[0]: ln for ln in f.read_text().splitlines()
                     if ln and not ln.startswith("#")}
            for k, v in profiles.study(profile, stem).items():
                if k in scale:
                    assert v != scale[k] or type(v) is not type(scale[k]), f"{f}: {k} repeats"
                    assert "#" in lines[k], f"{f}: the change of {k} gives no reason"


def test_the_smoke_scale_is_the_librarys_default():
    smoke = profiles.scale("smoke")
    cfg = base_config(precision="fp32")
    assert (cfg.model.name, cfg.model.width, cfg.data.dataset) == (
        smoke["model"], smoke["width"], smoke["dataset"])
    assert (cfg.data.n_train, cfg.data.n_val, cfg.data.augment) == (
        smoke["n_train"], smoke["n_val"], smoke["augment"])
    t = cfg.train
    assert (t.epochs, t.batch_size, t.lr, t.schedule, t.seed, t.n_val_eval) == (
        smoke["epochs"], smoke["batch_size"], smoke["lr"], smoke["schedule"], smoke["seed"],
        smoke["n_val_eval"])
    assert (t.adversary.kind, t.adversary.steps, t.val_attack.steps) == (
        smoke["adversary"], smoke["adv_steps"], smoke["val_steps"])
    assert t.adversary.eps == smoke["eps_255"] / 255
    assert base_config(width=0.5, precision="fp32").model.width == 0.5


@pytest.fixture
def params_copy(tmp_path, monkeypatch):
    """A copy of params/ that a test may spoil."""
    shutil.copytree(profiles.PARAMS, tmp_path / "params")
    monkeypatch.setattr(profiles, "PARAMS", tmp_path / "params")
    return tmp_path / "params"


def test_a_bad_value_or_name_in_a_profile_file_names_the_file(params_copy):
    f = params_copy / "cpu" / "04.yaml"
    d = yaml.safe_load(f.read_text())
    f.write_text(yaml.safe_dump({**d, "search_attacks": ["pgd", "pgd"]}))
    with pytest.raises(ParameterError, match=r"04.yaml: invalid search_attacks=\['pgd', 'pgd'\]"):
        profiles.settings("cpu", "04")
    f.write_text(yaml.safe_dump({**d, "ratioz": [0.1]}))
    with pytest.raises(ParameterError, match="04.yaml: unknown parameter 'ratioz'"):
        profiles.settings("cpu", "04")
    s = params_copy / "gpu" / "scale.yaml"
    s.write_text(s.read_text().replace("eps_255: 8", "eps_255: 800"))
    with pytest.raises(ParameterError, match="scale.yaml: invalid eps_255=800"):
        profiles.settings("gpu", "02")
    (params_copy / "paper" / "05.yaml").write_text("ft_lr: 0.1\n")
    with pytest.raises(ConfigError, match="takes 'ratios', which profile 'paper' does not set"):
        profiles.settings("paper", "05")


@pytest.mark.skipif(not DATA, reason="needs CIFAR-10 (TICKETS_DATA)")
def test_a_notebook_at_the_cpu_profile_with_tiny_overrides(tmp_path, monkeypatch):
    """The path of a user: papermill -p profile cpu, a few sizes made tiny; every other
    setting is the cpu scale's (batch 64, PGD-2, no crop or flip), as the stored runs show."""
    import papermill as pm

    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("TICKETS_PROGRESS", "0")
    src = parameters.notebook_path("07_transferability")
    tiny = {"n_train": 256, "n_val": 64, "n_test": 32, "epochs": 1, "width": 0.125,
            "n_val_eval": 32, "n_transfer": 16, "seeds": [0]}  # one of the scale's seeds
    pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"),
                        parameters={"profile": "cpu", "results_dir": str(tmp_path / "cpu"),
                                    **tiny},
                        kernel_name="tickets", cwd=str(src.parent), progress_bar=False)
    cpu = profiles.settings("cpu", "07")
    configs = [json.loads(f.read_text())
               for f in (tmp_path / "store").glob("train-*/config.json")]
    assert len(configs) == len(cpu["ratios"])  # the cpu study's ratios: one search each
    for c in configs:
        assert c["train"]["batch_size"] == cpu["batch_size"] == 64
        assert c["train"]["adversary"]["steps"] == cpu["adv_steps"] == 2
        assert c["data"]["augment"] is cpu["augment"] is False
        assert c["train"]["lr"] == cpu["lr"] and c["train"]["schedule"] == cpu["schedule"]
        assert c["model"]["width"] == 0.125 and c["data"]["n_train"] == 256  # given
        assert c["train"]["epochs"] == 1
    assert sorted(c["train"]["remaining"] for c in configs) == sorted(cpu["ratios"])
    out = json.loads((tmp_path / "out.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in out["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
    assert "Settings at profile 'cpu' for 07_transferability" in text
    assert "study file (params/cpu/07.yaml): ratios=[0.03, 0.1, 0.3]" in text
    assert (tmp_path / "cpu" / "results").is_dir()  # results_dir given
