"""The configurations that every study starts from, and the changes that turn one into another.

* :func:`attack_config`: an adversary by name, with the usual step sizes.
* :func:`base_config`: the RST search (edge-popup scores in a random network).
* :func:`rst_config`: that search at one remaining ratio.
* :func:`weight_config`: weight training of the same network, dense (``masked=False``: plain
  layers, affine BatchNorm) or as a masked model in fixed mode (the pruning studies, whose
  dense net is the all-ones mask so that it shares the tickets' architecture).
* :func:`matching_width`: the width of a dense net with a given number of weights.
"""

from __future__ import annotations

from tickets.accel import default_precision
from tickets.config import (
    AttackConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from tickets.config import replace as cfg_replace
from tickets.models import build, check_name, param_counts
from tickets.profiles import scale


def attack_config(kind: str, eps: float = 8 / 255, steps: int = 7,
                  alpha: float | None = None, **kw) -> AttackConfig:
    """An adversary by name. Step sizes follow common practice when not given: 2/255 for
    PGD at eps 8/255 (2.5 eps / steps at other settings), 1.25 eps for FGSM-RS."""
    if alpha is None:
        if kind == "pgd":
            alpha = 2 / 255 if (abs(eps - 8 / 255) < 1e-9 and steps >= 4) else 2.5 * eps / steps
        else:
            alpha = 1.25 * eps
    return AttackConfig(kind=kind, eps=eps, steps=steps, alpha=alpha, **kw).validate()


def paper_pgd(eps: float, steps: int) -> AttackConfig:
    """The paper protocol's PGD (the released code's evaluation): `steps` steps of 2/255 at eps
    8/255 (2.5 eps / steps at other eps), a random start, one restart, and each sample stopping
    as soon as it is misclassified. tickets.evaluation.EvalSpec.paper_pgd is the same attack."""
    return attack_config("pgd", eps, steps, alpha=2 / 255 if abs(eps - 8 / 255) < 1e-9 else None,
                         early_stop=True)


# base_config keyword -> the profile setting it takes its default from (eps from eps_255)
SCALE_KEYWORDS = {"model": "model", "width": "width", "dataset": "dataset", "n_train": "n_train",
                  "n_val": "n_val", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                  "schedule": "schedule", "adversary": "adversary", "adv_steps": "adv_steps",
                  "val_steps": "val_steps", "n_val_eval": "n_val_eval", "seed": "seed",
                  "augment": "augment", "eval_pgd_steps": "eval_pgd_steps"}


def base_config(model: str | None = None, width: float | None = None,
                init: str = "signed_constant", pattern: str = "element", init_seed: int = 0,
                dataset: str | None = None, n_train: int | None = None, n_val: int | None = None,
                data_seed: int = 0, epochs: int | None = None, batch_size: int | None = None,
                lr: float | None = None, weight_decay: float = 5e-4,
                schedule: str | None = None, adversary: str | None = None,
                adv_steps: int | None = None, eps: float | None = None,
                val_steps: int | None = None, n_val_eval: int | None = None,
                seed: int | None = None, track_test: bool = True, precision: str | None = None,
                augment: bool | None = None, eval_pgd_steps: int | None = None,
                adv_bn: str = "batch") -> RunConfig:
    """The RST search configuration that every study starts from. The model name is checked
    against the registry here, before any data is read.

    A keyword of the profile's scale left None (model, width, dataset, n_train, n_val, epochs,
    batch_size, lr, schedule, adversary, adv_steps, val_steps, n_val_eval, seed, augment,
    eval_pgd_steps; eps from eps_255 / 255) takes the smoke profile's value,
    params/smoke/scale.yaml: the library's defaults are declared there and nowhere else. The others are no profile
    settings: the init and mask pattern of the search, weight_decay 5e-4 (the paper's),
    precision ('fp32' or 'bf16'; None takes tickets.accel.default_precision(): bf16 on CUDA,
    fp32 elsewhere). augment: random crop and flip of the training images.

    track_test: the paper protocol's checkpoint choice, the test subset attacked every epoch
    with the evaluation's own PGD (paper_pgd with eval_pgd_steps steps) on every test image.
    adv_bn: how BatchNorm runs while training examples are crafted ('batch', 'eval', or
    'update': train mode with running statistics updated, the released code's flaw (c))."""
    smoke = scale("smoke")
    given = {"model": model, "width": width, "dataset": dataset, "n_train": n_train,
             "n_val": n_val, "epochs": epochs, "batch_size": batch_size, "lr": lr,
             "schedule": schedule, "adversary": adversary, "adv_steps": adv_steps,
             "val_steps": val_steps, "n_val_eval": n_val_eval, "seed": seed, "augment": augment,
             "eval_pgd_steps": eval_pgd_steps}
    kw = {k: smoke[SCALE_KEYWORDS[k]] if v is None else v for k, v in given.items()}
    eps = smoke["eps_255"] / 255 if eps is None else eps
    check_name(kw["model"], "model")
    num_classes = 100 if kw["dataset"] == "cifar100" else 10
    cfg = RunConfig(
        model=ModelConfig(name=kw["model"], width=kw["width"], num_classes=num_classes,
                          init=init, pattern=pattern, init_seed=init_seed, masked=True),
        data=DataConfig(dataset=kw["dataset"], n_train=kw["n_train"], n_val=kw["n_val"],
                        n_test=0, seed=data_seed, augment=kw["augment"]),
        train=TrainConfig(trainable="scores", remaining=1.0, epochs=kw["epochs"],
                          batch_size=kw["batch_size"], lr=kw["lr"], weight_decay=weight_decay,
                          schedule=kw["schedule"], seed=kw["seed"],
                          adversary=attack_config(kw["adversary"], eps, kw["adv_steps"]),
                          val_attack=attack_config("pgd", eps, kw["val_steps"]),
                          n_val_eval=kw["n_val_eval"], track_test=track_test,
                          test_attack=paper_pgd(eps, kw["eval_pgd_steps"]), n_test_eval=0,
                          adv_bn=adv_bn,
                          precision=precision or default_precision()))
    return cfg.validate()


def rst_config(cfg: RunConfig, remaining: float) -> RunConfig:
    """cfg's search at one remaining ratio."""
    return cfg_replace(cfg, **{"train.remaining": float(remaining)})


def with_seed(cfg: RunConfig, seed: int) -> RunConfig:
    """cfg under another search seed: a different random network (model.init_seed) and a
    different batch order and attack noise (train.seed). The data subset, and so the test
    images every model is evaluated on, stays the same."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"invalid seed={seed!r}: must be an integer >= 0")
    return cfg_replace(cfg, **{"train.seed": seed, "model.init_seed": seed})


def weight_config(cfg: RunConfig, *, masked: bool, width: float | None = None,
                  lr: float | None = None, epochs: int | None = None,
                  remaining: float = 1.0, schedule: str | None = None,
                  warmup: int | None = None, adversary: str | None = None,
                  adv_steps: int | None = None, tag: str | None = None) -> RunConfig:
    """Weight training of cfg's network with Kaiming-normal init and element-wise masks.

    masked=False: a plain dense network (affine BatchNorm), cfg's dense PGD-AT baseline.
    masked=True: the same network as a masked model in fixed mode, whose mask (all ones unless
    the run's initial state brings one) keeps `remaining` of the weights.
    Anything not given keeps cfg's value: by default the search's data, adversary, epochs,
    batch and schedule, so that the run has the search's budget in passes.
    """
    tc = cfg.train
    adv = tc.adversary
    if adversary is not None or adv_steps is not None:
        adv = attack_config(adversary or adv.kind, adv.eps,
                            adv_steps if adv_steps is not None else adv.steps)
    changes = {"model.masked": masked, "model.init": "kaiming_normal",
               "model.pattern": "element",
               "model.width": cfg.model.width if width is None else width,
               "train.trainable": "weights", "train.remaining": float(remaining),
               "train.lr": tc.lr if lr is None else lr, "train.adversary": adv}
    optional = {"train.epochs": epochs, "train.schedule": schedule,
                "train.warmup_epochs": warmup, "tag": tag}
    changes.update({k: v for k, v in optional.items() if v is not None})
    return cfg_replace(cfg, **changes).validate()


def dense_config(cfg: RunConfig, width: float | None = None, lr: float | None = None
                 ) -> RunConfig:
    """Dense PGD-AT with the search's data, adversary, epochs and batch: the same budget in
    forward+backward passes."""
    return weight_config(cfg, masked=False, width=width, lr=lr)


def matching_width(name: str, target_params: int, num_classes: int = 10) -> float:
    """The width multiplier whose dense model has about target_params weights."""
    lo, hi = 1 / 64, 4.0
    for _ in range(30):
        mid = (lo * hi) ** 0.5
        n = param_counts(build(name, width=mid, masked=False, num_classes=num_classes))["total"]
        lo, hi = (mid, hi) if n < target_params else (lo, mid)
    return round((lo * hi) ** 0.5, 4)


__all__ = ["SCALE_KEYWORDS", "attack_config", "paper_pgd", "base_config", "rst_config", "with_seed", "weight_config", "dense_config",
           "matching_width"]
