"""Bad input at the notebook's door: the cases a new user tries through papermill -p, each run
through the path the notebooks use (nb.setup on the notebook's namespace), checked for the
error class, a message that names the parameter, and an empty store."""

import math
import os

import pandas as pd
import pytest

from tickets import notebook as nb
from tickets import parameters
from tickets.config import ConfigError
from tickets.parameters import ParameterError

NOTEBOOK = "01_existence"
DEFAULTS = parameters.declared(parameters.notebook_path(NOTEBOOK))


def _namespace(**injected):
    """A kernel's globals after the parameters cell, papermill's injected cell and the setup
    cell's imports."""
    ns = {**DEFAULTS, "pd": pd, "nb": nb, "In": [""], "Out": {}, "_": None}
    ns.update(injected)
    return ns


def _setup(ns):
    return nb.setup(ns, NOTEBOOK, paper_protocol=True)


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
    _setup(ns)


@pytest.mark.parametrize("name,value", [("eps_255", 4.5), ("width", 1), ("n_test", 0)])
def test_good_values_pass(name, value):
    assert parameters.check_value(name, value, DEFAULTS[name]) == value


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
