"""Bad input at the notebook's door: the cases a new user tries through papermill -p, each run
through the path the notebooks use (nb.setup on the notebook's namespace), checked for the
error class, a message that names the parameter, and an empty store."""

import math
import os

import pandas as pd
import pytest

from tickets import notebook as nb
from tickets import parameters, profiles
from tickets.config import ConfigError
from tickets.parameters import ParameterError

NOTEBOOK = "01_existence"


def _cell(notebook: str = NOTEBOOK) -> dict:
    return parameters.declared(parameters.notebook_path(notebook))


def _namespace(notebook: str = NOTEBOOK, **injected):
    """A kernel's globals after the parameters cell, papermill's injected cell and the setup
    cell's imports."""
    ns = {**_cell(notebook), "pd": pd, "nb": nb, "In": [""], "Out": {}, "_": None}
    ns.update(injected)
    return ns


def _setup(ns, notebook: str = NOTEBOOK):
    return nb.setup(ns, notebook, paper_protocol=True)


CASES = [
    # (injected parameters, error class, text the message must contain)
    ({"eps_255": -8}, ParameterError, "eps_255=-8"),
    ({"epochs": 0}, ParameterError, "epochs=0"),
    ({"model": "resnet50x"}, ConfigError, "model='resnet50x'"),
    ({"epochs": "ten"}, ParameterError, "epochs='ten'"),
    ({"lr": math.nan}, ParameterError, "lr=nan"),
    ({"batch_size": -128}, ParameterError, "batch_size=-128"),
    ({"ratios": "[0.0, 0.5]"}, ParameterError, "ratios=[0.0, 0.5]"),
    ({"ratios": "[1.5]"}, ParameterError, "ratios=[1.5]"),
    ({"ratios": "0.1, 0.5]"}, ParameterError, "papermill -y"),
    ({"ratioz": [0.1]}, ParameterError, "Did you mean 'ratios'"),
    ({"aa_attacks": "apgd-ce"}, ParameterError, "aa_attacks='apgd-ce'"),
    ({"augment": "no"}, ParameterError, "augment='no'"),
    # the holes of issue 23: each well-formed, each meaningless
    ({"eps_255": 300}, ParameterError, "eps_255=300: must be a number in [0, 255]"),
    ({"eps_255": "8"}, ParameterError, "eps_255='8': must be a number"),
    ({"seeds": [0, 1, 0]}, ParameterError, "seeds=[0, 1, 0]: 0 is given twice"),
    ({"seeds": "[1, 1]"}, ParameterError, "seeds=[1, 1]: 1 is given twice"),
    ({"ratios": [0.1, 0.3, 0.1]}, ParameterError, "0.1 is given twice"),
    ({"n_test": 0}, ParameterError, "n_test=0: must be an integer >= 1"),
    ({"n_val": 0}, ParameterError, "n_val=0: must be an integer >= 1"),
    ({"n_val_eval": 0}, ParameterError, "n_val_eval=0: must be an integer >= 1"),
    ({"aa_attacks": ["apgd-ce", "apgd-xyz"]}, ParameterError, "(element 'apgd-xyz')"),
    ({"aa_version": "quick"}, ParameterError, "aa_version='quick': allowed values are"),
    ({"aa_attacks": []}, ParameterError, "aa_version='custom' runs the attacks"),
    ({"aa_version": "standard"}, ParameterError, "aa_version='standard' runs its own attacks"),
    ({"adversary": "pdg"}, ParameterError, "adversary='pdg': allowed values are"),
    ({"schedule": "step"}, ParameterError, "schedule='step': allowed values are"),
    ({"dataset": "imagenet"}, ParameterError, "dataset='imagenet'"),
    ({"aa_rsts": "some"}, ParameterError, "aa_rsts='some': allowed values are 'best', 'all'"),
    ({"profile": "gpux"}, ConfigError, "profile='gpux': allowed values are 'smoke', 'cpu'"),
    ({"results_dir": 3}, ParameterError, "results_dir=3"),
]


@pytest.mark.parametrize("injected,error,needle", CASES, ids=[str(c[0]) for c in CASES])
def test_bad_parameters_stop_before_any_compute(injected, error, needle, tmp_path,
                                               monkeypatch):
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    with pytest.raises(error) as e:
        _setup(_namespace(**injected))
    msg = str(e.value)
    assert needle in msg
    assert any(name in msg for name in injected), "the message names the parameter"
    assert not (tmp_path / "store").exists(), "nothing was written to the store"


@pytest.mark.skipif(not os.environ.get("TICKETS_DATA"), reason="needs CIFAR-10 (TICKETS_DATA)")
def test_a_training_set_larger_than_the_split_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    with pytest.raises(ConfigError, match=r"invalid n_train=10000000: .* holds 49,936 images"):
        _setup(_namespace(n_train=10_000_000))
    assert not (tmp_path / "store").exists()


def test_split_sizes_name_what_is_available():
    from tickets.config import DataConfig
    from tickets.data import check_sizes

    check_sizes(DataConfig(n_train=0, n_val=1000, n_test=0), 50_000, 10_000)  # 0 means all
    with pytest.raises(ConfigError, match="at most 49000, or 0 for all"):
        check_sizes(DataConfig(n_train=49_001, n_val=1000), 50_000, 10_000)
    with pytest.raises(ConfigError, match="invalid n_test=20000: .* 10,000 images"):
        check_sizes(DataConfig(n_test=20_000), 50_000, 10_000)


def test_a_list_given_as_a_string_is_parsed_in_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    ns = _namespace(ratios="[0.1, 0.5]", dataset="synthetic")
    s = _setup(ns)
    assert ns["ratios"] == [0.1, 0.5] and s.cfg.data.dataset == "synthetic"


def test_augmentation_can_be_switched_off_and_the_scale_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    on = _setup(_namespace(dataset="synthetic"))
    off = _setup(_namespace(dataset="synthetic", augment=False))
    assert on.cfg.data.augment and not off.cfg.data.augment
    assert "no crop or flip" in off.scale and "no crop or flip" not in on.scale
    # a run without augmentation is another run in the store, never the augmented one
    from tickets.config import config_hash
    assert config_hash(on.cfg) != config_hash(off.cfg)


def test_results_of_an_earlier_run_are_not_taken_for_parameters(tmp_path, monkeypatch):
    """In a live kernel, rerunning the setup cell sees the notebook's own variables."""
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    ns = _namespace(dataset="synthetic", rst=pd.DataFrame(), table=[1], checks=None)
    s = _setup(ns)
    assert s.cfg.data.dataset == "synthetic" and s.profile == "smoke"


# the names other studies take, each checked against the registry of the code that runs it
OTHER_CASES = [
    ("02_initialisation", {"inits": ["signed_constant", "zeros"]}, "(element 'zeros')"),
    ("02_initialisation", {"inits": ["kaiming_normal", "kaiming_normal"]}, "given twice"),
    ("03_sparsity_pattern", {"patterns": ["element", "diagonal"]}, "(element 'diagonal')"),
    ("04_search_attack", {"search_attacks": ["pgd", "cw"]}, "(element 'cw')"),
    ("06_overparameterisation", {"depths": ["conv2", "conv99"]}, "(element 'conv99')"),
    ("08_r2s", {"switch": "layer"}, "switch='layer': allowed values are 'input', 'batch'"),
    ("08_r2s", {"aa_repeats": 4}, "aa_repeats=4: must be an integer >= 5"),
    ("09_boosting", {"epochs": 3}, "unknown parameter 'epochs'"),
    ("09_boosting", {"prune_lrs": [0.1, 0.1]}, "given twice"),
    ("10_awt", {"methods": ["awt", "grasp"]}, "(element 'grasp')"),
    ("10_awt", {"width_methods": ["rand"]}, "(element 'rand')"),
    ("10_awt", {"dyn_kind": "empirical"}, "dyn_kind='empirical'"),
    ("10_awt", {"sparsities": [0.9, 0.9]}, "given twice"),
]


@pytest.mark.parametrize("notebook,injected,needle", OTHER_CASES,
                         ids=[f"{c[0][:2]}-{c[1]}" for c in OTHER_CASES])
def test_names_the_code_cannot_run_stop_at_the_door(notebook, injected, needle, tmp_path,
                                                    monkeypatch):
    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    with pytest.raises(ParameterError) as e:
        nb.setup(_namespace(notebook, **injected), notebook)
    assert needle in str(e.value) and next(iter(injected)) in str(e.value)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("name,value", [("eps_255", 4.5), ("eps_255", 255), ("width", 1),
                                        ("n_test", 1), ("n_train", 0), ("aa_n", 0),
                                        ("sanity_n", 0), ("seeds", [2, 0, 1])])
def test_good_values_pass(name, value):
    r = profiles.resolve("smoke", NOTEBOOK, {name: value})
    assert r.values[name] == value and r.source[name] == "given"


def test_a_value_set_in_the_cell_wins_and_a_rerun_with_another_profile_forgets_the_last(
        tmp_path, monkeypatch):
    """JupyterLab: profile = "cpu" in the cell loads the cpu settings; a value set in the cell
    wins; setting profile back to smoke (and rerunning the cell) gives smoke's values, not
    the ones the last setup wrote into the namespace."""
    ns = _namespace(profile="cpu", ratios=[0.2])
    r = nb.resolve(ns, NOTEBOOK)
    cpu = profiles.settings("cpu", NOTEBOOK)
    assert ns["ratios"] == [0.2] and r.source["ratios"] == "given"
    assert ns["n_train"] == cpu["n_train"] and ns["seeds"] == cpu["seeds"]
    assert ns["results_dir"] == "../reports/cpu"
    ns.update(_cell(), profile="smoke")  # the parameters cell, run again
    r = nb.resolve(ns, NOTEBOOK)
    assert ns["ratios"] == profiles.settings("smoke", NOTEBOOK)["ratios"]
    assert ns["n_train"] == profiles.scale("smoke")["n_train"] and r.source["n_train"] == "scale"
    assert ns["results_dir"] == "../reports/smoke"
    ns["n_train"] = 500  # a shared setting set in a cell of its own wins too
    assert nb.resolve(ns, NOTEBOOK).source["n_train"] == "given" and ns["n_train"] == 500


@pytest.mark.slow
def test_papermill_reports_the_parameter(tmp_path, monkeypatch):
    """The real path: papermill -p into a kernel, as a user would run it."""
    import papermill as pm

    monkeypatch.setenv("TICKETS_STORE", str(tmp_path / "store"))
    src = parameters.notebook_path(NOTEBOOK)
    for params, needle in (({"ratioz": [0.1]}, "unknown parameter 'ratioz'"),
                           ({"ratios": "[1.5]"}, "invalid ratios=[1.5]")):
        with pytest.raises(pm.PapermillExecutionError) as e:
            pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters=params,
                                kernel_name="tickets", cwd=str(src.parent), progress_bar=False,
                                log_output=False)
        assert needle in str(e.value)
    assert not (tmp_path / "store").exists()
