"""Run configurations as dataclasses, validated before any compute.

Every value that reaches the library passes through :func:`validate`, which raises
:class:`ConfigError` naming the parameter, the value and what is allowed. A configuration
also has a stable hash (:func:`config_hash`) that names the folder its results live in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from typing import Any

INITS = ("signed_constant", "kaiming_normal", "kaiming_uniform", "xavier_normal")
PATTERNS = ("element", "row", "kernel", "channel")
DATASETS = ("cifar10", "cifar100", "synthetic")
ADVERSARIES = ("none", "fgsm", "fgsm_rs", "pgd")
NORMS = ("linf", "l2")
LOSSES = ("ce", "cw")
TRAINABLE = ("scores", "weights")
SCHEDULES = ("piecewise", "cosine", "constant")
SELECTIONS = ("val_robust", "val_clean", "last")

# Bumped whenever a change to the library changes the numbers a configuration produces, so
# that stale results in the store are not reused.
SCHEMA_VERSION = 1


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the parameter and what is allowed."""


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"invalid {name}={value!r}: {allowed}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(name, value, "allowed values are " + ", ".join(repr(c) for c in choices))


def _check_range(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            integer and not isinstance(value, int)):
        _fail(name, value, f"must be {kind}")
    if value != value:  # NaN
        _fail(name, value, f"must be {kind}, not NaN")
    lo_ok = lo is None or (value > lo if lo_open else value >= lo)
    hi_ok = hi is None or (value < hi if hi_open else value <= hi)
    if not (lo_ok and hi_ok):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        _fail(name, value, f"must lie in {left}{lo_s}, {hi_s}{right}")


@dataclass(frozen=True)
class ModelConfig:
    """Which random network, and how its mask is parameterised."""

    name: str = "conv4"
    width: float = 1.0
    num_classes: int = 10
    init: str = "signed_constant"
    pattern: str = "element"
    init_seed: int = 0
    masked: bool = True

    def validate(self) -> ModelConfig:
        # model.name is checked by the registry that knows the names (tickets.models)
        if not isinstance(self.name, str) or not self.name:
            _fail("model.name", self.name, "must be the name of a registered model")
        _check_range("model.width", self.width, 0, None, lo_open=True)
        _check_range("model.num_classes", self.num_classes, 2, None, integer=True)
        _check_choice("model.init", self.init, INITS)
        _check_choice("model.pattern", self.pattern, PATTERNS)
        _check_range("model.init_seed", self.init_seed, 0, None, integer=True)
        return self


@dataclass(frozen=True)
class AttackConfig:
    """An L-inf or L2 adversary. eps and alpha are in pixel units of [0, 1] images."""

    kind: str = "pgd"
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 7
    restarts: int = 1
    norm: str = "linf"
    loss: str = "ce"
    random_start: bool = True
    early_stop: bool = False

    def validate(self, prefix: str = "attack") -> AttackConfig:
        _check_choice(f"{prefix}.kind", self.kind, ADVERSARIES)
        _check_range(f"{prefix}.eps", self.eps, 0, None)
        _check_range(f"{prefix}.alpha", self.alpha, 0, None)
        _check_range(f"{prefix}.steps", self.steps, 1, None, integer=True)
        _check_range(f"{prefix}.restarts", self.restarts, 1, None, integer=True)
        _check_choice(f"{prefix}.norm", self.norm, NORMS)
        _check_choice(f"{prefix}.loss", self.loss, LOSSES)
        return self

    def describe(self) -> str:
        if self.kind == "none":
            return "clean"
        eps = f"{self.eps * 255:g}/255" if self.norm == "linf" else f"{self.eps:g}"
        if self.kind in ("fgsm", "fgsm_rs"):
            return f"{self.kind.upper()} {self.norm} eps={eps}"
        stop = ", early-stop" if self.early_stop else ""
        return (f"PGD-{self.steps} {self.norm} {self.loss.upper()} eps={eps} "
                f"alpha={self.alpha * 255:g}/255 restarts={self.restarts}{stop}")


@dataclass(frozen=True)
class DataConfig:
    """Which images. Sizes of 0 mean 'all that the split has'."""

    dataset: str = "cifar10"
    n_train: int = 0
    n_val: int = 1000
    n_test: int = 0
    seed: int = 0
    augment: bool = True

    def validate(self) -> DataConfig:
        _check_choice("data.dataset", self.dataset, DATASETS)
        _check_range("data.n_train", self.n_train, 0, None, integer=True)
        _check_range("data.n_val", self.n_val, 0, None, integer=True)
        _check_range("data.n_test", self.n_test, 0, None, integer=True)
        _check_range("data.seed", self.seed, 0, None, integer=True)
        return self


@dataclass(frozen=True)
class TrainConfig:
    """One loop for both the RST search (trainable='scores') and weight training."""

    trainable: str = "scores"
    remaining: float = 1.0
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "piecewise"
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of the run
    gamma: float = 0.1
    warmup_epochs: int = 0
    seed: int = 0
    adversary: AttackConfig = field(default_factory=AttackConfig)
    val_attack: AttackConfig = field(
        default_factory=lambda: AttackConfig(kind="pgd", steps=10, alpha=2 / 255))
    n_val_eval: int = 500
    track_test: bool = False  # also evaluate the test split each epoch (paper protocol)
    # The paper protocol's per-epoch test attack, which chooses its checkpoint (best_test):
    # the evaluation's own PGD (recipes.base_config builds it from the evaluation's steps),
    # with the released code's per-sample early stop, on the first n_test_eval test images
    # (0 = the whole test subset). Both act only with track_test, and are left out of the
    # store key without it, so runs that do not track test keep their keys.
    test_attack: AttackConfig = field(default_factory=lambda: AttackConfig(
        kind="pgd", steps=20, alpha=2 / 255, early_stop=True))
    n_test_eval: int = 0
    # How BatchNorm runs while training examples are crafted: 'batch' (batch statistics,
    # running statistics frozen), 'eval', or 'update' (the RST release's flaw (c)).
    adv_bn: str = "batch"
    # Clean training images used to re-estimate BatchNorm running statistics at the end of
    # every epoch, before validation and checkpointing (0 = off).
    bn_recalibrate: int = 1024
    # 'fp32', or 'bf16' autocast (tickets.accel; recipes pick bf16 on CUDA). Left out of the
    # store key at fp32, so runs stored before this field existed keep their keys.
    precision: str = "fp32"

    def validate(self) -> TrainConfig:
        _check_choice("train.trainable", self.trainable, TRAINABLE)
        _check_range("train.remaining", self.remaining, 0, 1, lo_open=True)
        _check_range("train.epochs", self.epochs, 1, None, integer=True)
        _check_range("train.batch_size", self.batch_size, 1, None, integer=True)
        _check_range("train.lr", self.lr, 0, None, lo_open=True)
        _check_range("train.momentum", self.momentum, 0, 1, hi_open=True)
        _check_range("train.weight_decay", self.weight_decay, 0, None)
        _check_choice("train.schedule", self.schedule, SCHEDULES)
        for m in self.milestones:
            _check_range("train.milestones", m, 0, 1, lo_open=True, hi_open=True)
        _check_range("train.gamma", self.gamma, 0, 1, lo_open=True)
        _check_range("train.warmup_epochs", self.warmup_epochs, 0, self.epochs, integer=True)
        _check_range("train.seed", self.seed, 0, None, integer=True)
        _check_choice("train.precision", self.precision, ("fp32", "bf16"))
        _check_range("train.n_val_eval", self.n_val_eval, 0, None, integer=True)
        _check_range("train.n_test_eval", self.n_test_eval, 0, None, integer=True)
        _check_choice("train.adv_bn", self.adv_bn, ("batch", "eval", "update"))
        _check_range("train.bn_recalibrate", self.bn_recalibrate, 0, None, integer=True)
        self.adversary.validate("train.adversary")
        self.val_attack.validate("train.val_attack")
        self.test_attack.validate("train.test_attack")
        return self


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tag: str = ""  # free text that separates otherwise identical runs in the store

    def validate(self) -> RunConfig:
        self.model.validate()
        self.data.validate()
        self.train.validate()
        if self.train.trainable == "scores" and not self.model.masked:
            _fail("model.masked", self.model.masked,
                  "an RST search (train.trainable='scores') needs model.masked=True")
        if self.data.dataset == "cifar100" and self.model.num_classes != 100:
            _fail("model.num_classes", self.model.num_classes, "cifar100 needs 100 classes")
        if self.data.dataset == "cifar10" and self.model.num_classes != 10:
            _fail("model.num_classes", self.model.num_classes, "cifar10 needs 10 classes")
        return self


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


# Fields added after runs were stored, with the value every older run had: left out of the
# hash at that value, so the older runs keep their keys.
_LATE_DEFAULTS = {"precision": "fp32"}
# Fields added after runs were stored that act only while another field of the same
# configuration is on (by name): left out of the hash while it is off.
_ONLY_WITH = {"test_attack": "track_test", "n_test_eval": "track_test"}


def _without_late_defaults(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _without_late_defaults(v) for k, v in d.items()
                if not (k in _LATE_DEFAULTS and v == _LATE_DEFAULTS[k])
                and not (k in _ONLY_WITH and d.get(_ONLY_WITH[k], True) is False)}
    return d


def config_hash(cfg: Any, length: int = 12) -> str:
    """A stable hash of a dataclass configuration (and the schema version)."""
    payload = {"schema": SCHEMA_VERSION, "type": type(cfg).__name__,
               "cfg": _without_late_defaults(to_dict(cfg))}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def from_dict(cls: type, d: dict[str, Any]) -> Any:
    """A configuration dataclass from its to_dict() form (a run's config.json): nested
    configurations rebuilt, lists back to tuples; a field the dict lacks takes its default."""
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v, t = d[f.name], hints[f.name]
        if dataclasses.is_dataclass(t) and isinstance(v, dict):
            v = from_dict(t, v)
        elif isinstance(v, list):
            v = tuple(v)
        kw[f.name] = v
    return cls(**kw)


def replace(cfg: Any, **changes: Any) -> Any:
    """dataclasses.replace that also accepts dotted names, e.g. replace(run, **{'train.epochs': 3})."""
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        if "." in key:
            head, rest = key.split(".", 1)
            nested.setdefault(head, {})[rest] = value
        else:
            flat[key] = value
    for head, sub in nested.items():
        if not hasattr(cfg, head):
            raise ConfigError(f"unknown parameter {head!r} in {type(cfg).__name__}")
        flat[head] = replace(getattr(cfg, head), **sub)
    names = {f.name for f in dataclasses.fields(cfg)}
    for key in flat:
        if key not in names:
            raise ConfigError(
                f"unknown parameter {key!r} in {type(cfg).__name__}; known: {sorted(names)}")
    return dataclasses.replace(cfg, **flat)
