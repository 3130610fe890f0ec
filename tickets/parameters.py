"""A notebook's parameters, checked before any compute.

A notebook's settings come from its profile (tickets.profiles: params/<profile>/scale.yaml,
then params/<profile>/NN.yaml) and from values given by the user (papermill ``-p``/``-y``,
``make report PARAMS=...``, or a value set in the parameters cell, the cell tagged
``parameters``). Every value is checked here:

* a name the notebook does not take is an error that lists the known names and the closest
  one (papermill itself only warns, and the run would go on without it);
* a value of the wrong kind is an error that names the parameter and the expected form; a list
  given as a string (``papermill -p ratios "[0.1, 0.5]"``) is parsed;
* values outside their range (a ratio of 0, a negative size, a budget beyond the pixel range,
  an empty evaluation set) are errors, and so are names the code cannot run (a model, an
  adversary, an init, a mask method, an AutoAttack attack) and repeated list elements (a seed
  given twice would count twice in an interval).

The sizes of the data splits are checked against the data itself when it is loaded
(tickets.data.load).
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tickets.config import ConfigError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# names IPython and the notebook machinery put into a kernel's namespace
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open", "display"}


class ParameterError(ConfigError):
    """A notebook parameter is unknown or has an invalid value."""


# ---- what a notebook declares --------------------------------------------------------------------
def notebook_path(name: str, search: Iterable[Path] = ()) -> Path | None:
    """The .ipynb of a notebook by its stem (01_existence), in `search` or notebooks/."""
    for folder in (*search, Path.cwd(), NOTEBOOKS):
        f = Path(folder) / f"{name}.ipynb"
        if f.exists():
            return f
    return None


def _cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def declared(path: Path) -> dict[str, Any]:
    """The parameters cell's names and default values (None for a default that is not a
    literal)."""
    cell = next((c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])),
                None)
    if cell is None:
        raise ParameterError(f"{path.name} has no cell tagged 'parameters'")
    out: dict[str, Any] = {}
    for node in ast.parse(_source(cell)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = None
    return out


def assigned_elsewhere(path: Path) -> set[str]:
    """Every name the notebook's other code cells bind (results, figures, imports), which a
    live kernel holds after a run and which are therefore no injected parameters."""
    names: set[str] = set()
    for cell in _cells(path):
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:  # a cell with IPython magics
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


# ---- the rules -----------------------------------------------------------------------------------
def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _in(lo: float, hi: float, lo_open: bool, hi_open: bool) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        return (_number(v) and not math.isnan(v) and (v > lo if lo_open else v >= lo)
                and (v < hi if hi_open else v <= hi))
    return ok


_INT_GE0 = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0")
_INT_GE1 = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1")
# The notebooks evaluate on n_test images and choose each checkpoint on n_val validation
# images (n_val_eval of them per epoch): none of these may be empty there (the library's
# 0 = 'all' / 'off' is no setting of a study).
_COUNT = (_INT_GE1[0], "an integer >= 1 (an evaluation set cannot be empty)")
_PIXELS = (_in(0, 255, False, False), "a number in [0, 255] (a budget in units of 1/255 of the "
                                      "pixel range)")
_POSITIVE = (_in(0, math.inf, True, True), "a number > 0")
_NONNEG = (_in(0, math.inf, False, True), "a number >= 0")
_RATIO = (_in(0, 1, True, False), "a kept fraction in (0, 1]")
_SPARSITY = (_in(0, 1, False, True), "a pruned fraction in [0, 1)")

# (pattern on the name, rule on each value or each element of a list, what it must be)
RULES: tuple[tuple[str, tuple[Callable[[Any], bool], str]], ...] = (
    (r"^(ratios|remaining|sweep_remaining|speed_ratio)$", _RATIO),
    (r"^(sparsities|width_sparsity)$", _SPARSITY),
    (r"^(width|widths|capacity_widths)$", _POSITIVE),
    (r"^(lr|dense_lr|ft_lr|ntt_lr|prune_lrs)$", _POSITIVE),
    (r"^eps_255$", _PIXELS),
    (r"^ntt_kernel_weight$", _NONNEG),
    (r"^(n_val|n_test|n_val_eval)$", _COUNT),
    # n_train 0: the whole training split; aa_n 0: no AutoAttack; sanity_n 0: no sanity checks
    (r"^(warmup_epochs|seed|seeds|n_train|aa_n|sanity_n)$", _INT_GE0),
    # the R2S's AutoAttack: the per-image worst case over at least 5 stochastic evaluations
    (r"^aa_repeats$", (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 5,
                       "an integer >= 5")),
    (r"(epochs|steps|batch_size|_batch|_probes|^n_|^draws|^eot_n|_iter|_repeats|queries)$",
     _INT_GE1),
)


def _rule(name: str) -> tuple[Callable[[Any], bool], str] | None:
    return next((rule for pattern, rule in RULES if re.search(pattern, name)), None)


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, (list, tuple)):
        return f"a list such as {list(default)!r}"
    return "a value"


def _fits(value: Any, default: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return _number(value)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        if default and not all(_fits(v, default[0]) for v in value):
            return False
        return True
    return True


def _parse_list(name: str, value: str, default: list) -> list:
    """A list given as a string, as papermill -p passes one."""
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = None
    if isinstance(parsed, (list, tuple)):
        return list(parsed)
    raise ParameterError(
        f"invalid {name}={value!r}: expected {_kind(default)}. From the shell pass a list with "
        f"papermill -y '{name}: {list(default)!r}' or -p {name} '{list(default)!r}'")


def check_value(name: str, value: Any, default: Any) -> Any:
    """value, parsed (a list given as a string) and checked against its default's kind and
    its rule; a ParameterError names the parameter, the value and what is allowed."""
    if isinstance(default, (list, tuple)) and isinstance(value, str):
        value = _parse_list(name, value, list(default))
    rule = _rule(name)
    numeric_rule = rule is not None and rule[0] not in (_INT_GE0[0], _INT_GE1[0])
    if numeric_rule and _number(default) and not isinstance(default, bool):
        if not _number(value):  # eps_255 = 8 is an integer but takes any number
            raise ParameterError(f"invalid {name}={value!r}: must be {rule[1]}")
    elif not _fits(value, default):
        raise ParameterError(f"invalid {name}={value!r}: must be {_kind(default)}")
    if rule is not None:
        ok, what = rule
        items = value if isinstance(value, (list, tuple)) else [value]
        bad = [v for v in items if not ok(v)]
        if bad:
            where = f" (element {bad[0]!r})" if isinstance(value, (list, tuple)) else ""
            raise ParameterError(f"invalid {name}={value!r}{where}: each value must be {what}"
                                 if where else f"invalid {name}={value!r}: must be {what}")
        if isinstance(value, (list, tuple)) and not value:
            raise ParameterError(f"invalid {name}=[]: needs at least one value")
    allowed = choices(name)
    if allowed is not None:
        items = value if isinstance(value, (list, tuple)) else [value]
        bad = [v for v in items if v not in allowed]
        if bad:
            what = "allowed values are " + ", ".join(repr(c) for c in allowed)
            where = f" (element {bad[0]!r})" if isinstance(value, (list, tuple)) else ""
            raise ParameterError(f"invalid {name}={value!r}{where}: {what}")
    if isinstance(value, (list, tuple)):
        seen: list[Any] = []
        for v in value:
            if v in seen:
                raise ParameterError(f"invalid {name}={value!r}: {v!r} is given twice; each "
                                     f"value may appear once (a repeat would count twice)")
            seen.append(v)
    return value


# ---- names the code can run ----------------------------------------------------------------------
# AutoAttack (pyautoattack): its versions, and the attacks a 'custom' version can run
AA_VERSIONS = ("standard", "plus", "rand", "custom")
AA_ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square", "apgd-dlr", "fab")
SWITCHES = ("input", "batch")  # how the R2S picks a member (tickets.r2s.R2S)
AA_RSTS = ("best", "all")  # AutoAttack on the best ratio's RSTs, or on every ratio's


def choices(name: str) -> tuple[Any, ...] | None:
    """The values a parameter may take, from the registries of the code that runs it (None:
    not a name of a choice)."""
    from tickets import config

    if name in ("model", "depths"):
        from tickets.models import available_models
        return tuple(available_models())
    if name in ("methods", "width_methods"):
        from tickets.masks import method_names
        return method_names(at_init=True)
    if name == "dyn_kind":
        from tickets.ntk import KINDS
        return tuple(KINDS)
    return {"dataset": config.DATASETS, "adversary": config.ADVERSARIES,
            "search_attacks": config.ADVERSARIES, "schedule": config.SCHEDULES,
            "inits": config.INITS, "patterns": config.PATTERNS, "aa_version": AA_VERSIONS,
            "aa_attacks": AA_ATTACKS, "switch": SWITCHES, "aa_rsts": AA_RSTS}.get(name)


def check_together(values: Mapping[str, Any]) -> None:
    """Checks that need two values: AutoAttack's custom version runs the attacks aa_attacks
    names (at least one), and the other versions run their own set (aa_attacks empty)."""
    version, attacks = values.get("aa_version"), values.get("aa_attacks")
    if version is None or attacks is None:
        return
    if version == "custom" and not attacks and values.get("aa_n", 1):
        raise ParameterError(f"invalid aa_attacks={list(attacks)!r}: aa_version='custom' runs "
                             f"the attacks aa_attacks names; name at least one of "
                             + ", ".join(repr(a) for a in AA_ATTACKS))
    if version != "custom" and attacks:
        raise ParameterError(f"invalid aa_attacks={list(attacks)!r}: aa_version={version!r} "
                             f"runs its own attacks; name attacks only with "
                             f"aa_version='custom'")


def unknown_names(given: Iterable[str], known: Iterable[str], where: str = "") -> None:
    """A ParameterError for the first name in `given` that is not in `known`; `where`
    prefixes the message (the file that names it)."""
    known = sorted(known)
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"{where}unknown parameter {name!r}.{hint} Known parameters: "
                                 + ", ".join(known))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def given_in_namespace(namespace: Mapping[str, Any], notebook: str, takes: Iterable[str],
                       runner: Iterable[str] = (), written: Mapping[str, Any] | None = None
                       ) -> dict[str, Any]:
    """The values a running notebook (its globals()) was given: each name it takes whose
    value is not None (None in the parameters cell: the profile's value), less what the last
    setup wrote back (`written`, so that a rerun with another profile does not take the last
    profile's values for given ones). A name that papermill injected but the notebook neither
    takes nor binds in its other cells is an error (with the closest known name); `runner`
    names (profile, results_dir) are the caller's."""
    takes = list(takes)
    path = notebook_path(notebook)
    bound = (assigned_elsewhere(path) if path is not None else set()) | _KERNEL_NAMES
    known = set(takes) | set(runner)
    injected = [k for k, v in namespace.items()
                if not k.startswith("_") and k not in known and k not in bound
                and not isinstance(v, (types.ModuleType, types.FunctionType, type))]
    unknown_names(injected, takes)
    written = written or {}
    return {k: namespace[k] for k in takes
            if namespace.get(k) is not None
            and not (k in written and _same(namespace[k], written[k]))}


__all__ = ["ParameterError", "notebook_path", "declared", "assigned_elsewhere", "check_value",
           "check_together", "choices", "given_in_namespace", "unknown_names", "RULES",
           "AA_VERSIONS", "AA_ATTACKS"]


# ---- the tiny dry run of a profile ---------------------------------------------------------------
# Sizes a profile's parameters shrink to in a dry run: a few hundred images, one epoch, a few
# attack iterations. Names, models, attacks, ratios and methods stay as the profile has them.
TINY_SIZES: dict[str, int] = {
    "n_train": 256, "n_val": 64, "n_test": 32, "epochs": 1, "batch_size": 64, "n_val_eval": 32,
    "val_steps": 2, "eval_pgd_steps": 3, "aa_n": 8, "sanity_n": 8, "square_queries": 20,
    "n_transfer": 16, "n_r2s": 16, "eot_n": 2, "draws": 2, "aa_eot_iter": 1, "speed_batch": 16,
    "pretrain_epochs": 1, "retrain_epochs": 2, "early_epochs": 1, "fgsm_epochs": 1,
    "fgsm_retrain_epochs": 1, "dense_epochs": 1, "warmup_epochs": 0, "ntt_steps": 3,
    "ntt_batch": 16, "ntt_kernel_probes": 2, "n_probes": 8, "probe_steps": 2, "dyn_probes": 2,
    "sanity_repeats": 2,
}
TINY_WIDTH = 1 / 8  # every width (and list of widths) is scaled by this factor


EPOCH_NAMES = ("epochs", "pretrain_epochs", "retrain_epochs", "fgsm_epochs",
               "fgsm_retrain_epochs", "dense_epochs", "warmup_epochs", "early_epochs")


def tiny(params: Mapping[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """A profile's parameters shrunk for a dry run (make test runs the gpu and paper profiles
    this way on the CPU): each size in TINY_SIZES replaced where the profile sets it (a size of
    0, such as aa_n: 0, stays 0: the step stays off), and every width multiplied by TINY_WIDTH.
    Everything else (models, ratios, attacks, methods, seeds) is the profile's own, so a
    parameter name or code path that the profile uses and the notebook lacks fails here.
    keep: sizes left at the profile's values (EPOCH_NAMES for a run that counts the profile's
    passes, tickets.bench --project)."""
    out = dict(params)
    for name, size in TINY_SIZES.items():
        if name in keep:
            continue
        # n_train: 0 means the whole training split, which shrinks too
        if name in out and (out[name] != 0 or name == "n_train"):
            out[name] = size
    for name in ("width", "widths", "capacity_widths"):
        if name in out:
            v = out[name]
            out[name] = [w * TINY_WIDTH for w in v] if isinstance(v, list) else v * TINY_WIDTH
    return out
