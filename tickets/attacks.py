"""White-box attacks (FGSM, FGSM with random start, PGD) and accuracy under attack.

Images are pixels in [0, 1]; eps and the step size are in the same units. Attacks put the
model in eval mode for their duration (BatchNorm statistics are neither used from the batch
nor updated) and restore the previous mode afterwards. Gradients are taken with respect to
the input only, so no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from tickets.config import AttackConfig
from tickets.data import Split

Model = Callable[[torch.Tensor], torch.Tensor]


BN_MODES = ("eval", "batch", "update")


@contextlib.contextmanager
def eval_mode(model: nn.Module | Model, train: bool = False, bn_mode: str | None = None
              ) -> Iterator[None]:
    """Temporarily set how the model runs while an attack differentiates it.

    bn_mode 'eval' (the default; train=False): eval mode, running statistics used.
    'batch' (train=True): train mode with BatchNorm on batch statistics but its running
    statistics frozen, so the attack sees the very function being trained and changes nothing.
    'update': train mode with running statistics updated by every attack step, as the RST
    release does (the paper's flaw (c)).
    """
    if not isinstance(model, nn.Module):
        yield
        return
    mode = bn_mode or ("batch" if train else "eval")
    if mode not in BN_MODES:
        raise ValueError(f"invalid bn_mode={mode!r}: allowed values are {BN_MODES}")
    was_training = model.training
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    model.train(mode != "eval")
    if mode == "batch":
        for m in bns:
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        model.train(was_training)


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini-Wagner margin: best wrong logit minus the true logit, per sample."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    wrong = logits.clone()
    wrong.scatter_(1, y[:, None], float("-inf"))
    return wrong.max(1).values - true


def _loss(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    logits = logits.float()  # under bf16 autocast the loss and its gradient stay float32
    if kind == "cw":
        return margin_loss(logits, y)
    return F.cross_entropy(logits, y, reduction="none")


def _project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        flat = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        delta = delta * (eps / flat).clamp(max=1.0).view(-1, 1, 1, 1)
    return (x + delta).clamp(0, 1) - x


def _random_start(x: torch.Tensor, eps: float, norm: str, g: torch.Generator | None
                  ) -> torch.Tensor:
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=g, device=x.device) * 2 - 1) * eps
    else:
        d = torch.randn(x.shape, generator=g, device=x.device)
        r = torch.rand(x.shape[0], generator=g, device=x.device).view(-1, 1, 1, 1)
        delta = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1) * r * eps
    return _project(delta, x, eps, norm)


def _step(grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return alpha * grad.sign()
    return alpha * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)


def input_grad(model: Model, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the summed per-sample loss w.r.t. x, and the logits.

    A model with ``member_logits`` (an exact expectation over R2S members, or EOT) has its
    per-sample loss averaged over the members' outputs, unless it asks for the mean softmax
    (``over='softmax'``), in which case its own logits are used.
    """
    x = x.detach().requires_grad_(True)
    if hasattr(model, "member_logits") and getattr(model, "over", "loss") != "softmax":
        outs = model.member_logits(x)
        per = torch.stack([_loss(o, y, loss) for o in outs]).mean(0)
        logits = torch.stack([F.softmax(o.detach(), 1) for o in outs]).mean(0).log()
    else:
        logits = model(x)
        per = _loss(logits, y, loss)
    grad, = torch.autograd.grad(per.sum(), x)
    return grad, logits.detach()


def pgd(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255,
        alpha: float = 2 / 255, steps: int = 10, norm: str = "linf", loss: str = "ce",
        random_start: bool = True, restarts: int = 1, early_stop: bool = False,
        generator: torch.Generator | None = None, bn_mode: str = "eval",
        skip_at_zero: bool = True) -> torch.Tensor:
    """Projected gradient descent. Every restart draws its own random start from `generator`
    (restart k's start is the k-th draw, so R restarts begin with the start of one restart).
    Over restarts, a sample keeps the first misclassifying example found, else the one of
    highest loss. With early_stop a sample stops moving as soon as it is misclassified (the
    RST release's behaviour). It is not weaker than the default in accuracy terms: an image
    misclassified once stays misclassified, where the default's last step may move it back
    (measured on a small conv4: 26.4 % robust with early stop, 26.6 % without). What it
    changes is the examples' loss and the cost: only images still standing are attacked. At eps 0 the attack returns x
    unchanged without running, unless skip_at_zero is off: then the loop runs (random start,
    steps, projection, restarts' bookkeeping), as the sanity check of eps 0 needs."""
    if eps == 0 and skip_at_zero:
        return x.clone()
    best = x.clone()
    best_loss = torch.full((len(x),), -float("inf"), device=x.device)
    best_wrong = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    with eval_mode(model, bn_mode=bn_mode):
        for _ in range(restarts):
            delta = _random_start(x, eps, norm, generator) if random_start else torch.zeros_like(x)
            active = torch.ones(len(x), dtype=torch.bool, device=x.device)
            for _ in range(steps):
                if early_stop and bn_mode == "eval":
                    # only the samples still standing are differentiated (in eval mode each
                    # sample's gradient is its own): the same steps at a fraction of the cost
                    idx = active.nonzero().squeeze(1)
                    sub, logits = input_grad(model, (x + delta)[idx], y[idx], loss)
                    active[idx] = logits.argmax(1) == y[idx]
                    grad = torch.zeros_like(x)
                    grad[idx] = sub
                else:
                    grad, logits = input_grad(model, x + delta, y, loss)
                    active &= logits.argmax(1) == y
                if early_stop:
                    if not active.any():
                        break
                    grad = grad * active.view(-1, 1, 1, 1)
                delta = _project(delta + _step(grad, alpha, norm), x, eps, norm)
            with torch.no_grad():
                logits = model(x + delta)
                per = _loss(logits, y, loss)
                wrong = logits.argmax(1) != y
                better = (wrong & ~best_wrong) | (~best_wrong & ~wrong & (per > best_loss))
                best[better] = (x + delta)[better]
                best_loss = torch.where(better, per, best_loss)
                best_wrong |= wrong
    return best.detach()


def fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float = 8 / 255,
         alpha: float | None = None, random_start: bool = False, norm: str = "linf",
         loss: str = "ce", generator: torch.Generator | None = None, bn_mode: str = "eval"
         ) -> torch.Tensor:
    """One signed-gradient step of size alpha (eps by default), from x or a random start."""
    if eps == 0:
        return x.clone()
    alpha = eps if alpha is None else alpha
    with eval_mode(model, bn_mode=bn_mode):
        delta = _random_start(x, eps, norm, generator) if random_start else torch.zeros_like(x)
        grad, _ = input_grad(model, x + delta, y, loss)
        delta = _project(delta + _step(grad, alpha, norm), x, eps, norm)
    return (x + delta).detach()


def passes_per_example(cfg: AttackConfig) -> int:
    """Forward+backward passes an attack spends per example (not counting the final check)."""
    if cfg.kind == "none":
        return 0
    if cfg.kind in ("fgsm", "fgsm_rs"):
        return 1
    return cfg.steps * cfg.restarts


def perturb(model: Model, x: torch.Tensor, y: torch.Tensor, cfg: AttackConfig,
            generator: torch.Generator | None = None, bn_mode: str = "eval") -> torch.Tensor:
    """Adversarial examples for a batch under an AttackConfig."""
    if cfg.kind == "none":
        return x
    if cfg.kind == "fgsm":
        return fgsm(model, x, y, cfg.eps, cfg.eps, False, cfg.norm, cfg.loss, generator, bn_mode)
    if cfg.kind == "fgsm_rs":
        return fgsm(model, x, y, cfg.eps, cfg.alpha, True, cfg.norm, cfg.loss, generator, bn_mode)
    return pgd(model, x, y, cfg.eps, cfg.alpha, cfg.steps, cfg.norm, cfg.loss, cfg.random_start,
               cfg.restarts, cfg.early_stop, generator, bn_mode)


@dataclass
class EvalResult:
    clean: float
    robust: float
    n: int
    attack: str
    flags: list[str] = field(default_factory=list)  # warnings the attack raised (AutoAttack)
    # per image, in split order: "1" where the model is right, "0" where it is wrong
    clean_correct: str = ""
    robust_correct: str = ""

    def as_dict(self) -> dict:
        return {"clean": self.clean, "robust": self.robust, "n": self.n, "attack": self.attack,
                "flags": self.flags, "clean_correct": self.clean_correct,
                "robust_correct": self.robust_correct}


def outcome_string(correct: torch.Tensor) -> str:
    """Per-image correctness (a bool tensor) as a string of 0s and 1s, compact in JSON."""
    return "".join("1" if c else "0" for c in correct.cpu().tolist())


def outcomes(s: str) -> list[int]:
    """The per-image 0/1 outcomes of an outcome string."""
    return [int(c) for c in s]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def autoattack_log() -> Iterator[list[str]]:
    """Collect pyautoattack's warnings (zero gradients, randomness, ...) instead of printing
    them; the list fills while the context is open."""
    log = logging.getLogger("auto-attack")
    collect = _Collect()
    old = log.propagate
    log.addHandler(collect)
    log.propagate = False
    try:
        yield collect.messages
    finally:
        log.removeHandler(collect)
        log.propagate = old


def zero_gradient_points(flags: list[str]) -> int:
    """Total points AutoAttack reported with an all-zero input gradient (a masking sign)."""
    import re

    return sum(int(m.group(1)) for f in flags
               if (m := re.search(r"there are (\d+) points with zero gradient", f)))


@torch.no_grad()
def predict(model: Model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    with eval_mode(model):
        return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x),
                                                                                batch_size)])


def evaluate(model: Model, split: Split, cfg: AttackConfig, n: int = 0, batch_size: int = 500,
             seed: int = 0, progress: bool = False) -> EvalResult:
    """Clean and robust accuracy on the first n examples of a split (all when n=0)."""
    from tqdm import tqdm

    split = split.head(n)
    g = torch.Generator(device=split.x.device).manual_seed(seed)
    clean, robust = [], []
    starts = range(0, len(split), batch_size)
    for i in tqdm(starts, desc=cfg.describe(), disable=not progress, leave=False):
        x, y = split.images(slice(i, i + batch_size)), split.y[i:i + batch_size]
        with eval_mode(model), torch.no_grad():
            clean.append(model(x).argmax(1) == y)
        xa = perturb(model, x, y, cfg, g)
        with eval_mode(model), torch.no_grad():
            robust.append(model(xa).argmax(1) == y)
    c = torch.cat(clean) if clean else torch.zeros(0, dtype=torch.bool)
    r = torch.cat(robust) if robust else torch.zeros(0, dtype=torch.bool)
    m = max(len(split), 1)
    return EvalResult(c.sum().item() / m, r.sum().item() / m, len(split), cfg.describe(),
                      clean_correct=outcome_string(c), robust_correct=outcome_string(r))


# the attacks each pyautoattack version runs, and how a label names them
AA_VERSION_ATTACKS = {"standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
                      "rand": ("apgd-ce", "apgd-dlr"),
                      "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")}
AA_NAMES = {"apgd-ce": "APGD-CE", "apgd-dlr": "APGD-DLR", "apgd-t": "APGD-T", "fab": "FAB",
            "fab-t": "FAB-T", "square": "Square"}


def aa_attack_label(version: str, names: Iterable[str], square_queries: int = 5000,
                    eot_iter: int = 1) -> str:
    """A label naming the attacks an AutoAttack run actually ran. Only the standard, plus and
    rand versions are called AutoAttack plainly; a custom set is 'APGD-CE alone (a subset of
    AutoAttack)', say."""
    names = list(names)
    parts = [AA_NAMES.get(a, a) + (f" ({square_queries} queries)" if a == "square" else "")
             for a in names]
    listed = ", ".join(parts)
    eot = f", EOT {eot_iter}" if eot_iter > 1 else ""
    if version in AA_VERSION_ATTACKS and tuple(names) == AA_VERSION_ATTACKS[version]:
        return f"AutoAttack {version} ({listed}{eot})"
    alone = " alone" if len(parts) == 1 else ""
    return f"{listed}{alone}{eot} (a subset of AutoAttack)"


def autoattack(model: nn.Module, split: Split, eps: float = 8 / 255, n: int = 200,
               version: str = "standard", attacks: list[str] | None = None,
               norm: str = "linf", batch_size: int = 250, seed: int = 0) -> EvalResult:
    """AutoAttack through pyautoattack (Croce and Hein's reference code).

    version='standard' runs APGD-CE, APGD-T, FAB-T and Square (5,000 queries);
    version='custom' runs `attacks`; version='rand' is the variant for randomised defences
    (APGD-CE and APGD-DLR, EOT over 20 draws). The result's attack label names the attacks
    that ran, read from the AutoAttack object (tickets.attacks.aa_attack_label).
    """
    from pyautoattack import AutoAttack

    split = split.head(n)
    device = split.x.device
    x, y = split.images(), split.y
    with eval_mode(model), autoattack_log() as messages:
        aa = AutoAttack(model, attacks=attacks if version == "custom" else None, device=device,
                        eps=eps, norm={"linf": "Linf", "l2": "L2"}[norm], seed=seed,
                        version=version)
        aa.verbose = False
        x_adv = aa.run_standard_evaluation(x, y, batch_size=batch_size)[0]
        with torch.no_grad():
            clean_c = predict(model, x) == y
            robust_c = predict(model, x_adv) == y
    label = aa_attack_label(version, aa.attacks_to_run, aa.square.n_queries, aa.apgd.eot_iter)
    eps_s = f"{eps * 255:g}/255" if norm == "linf" else f"{eps:g}"
    return EvalResult(clean_c.float().mean().item(), robust_c.float().mean().item(), len(split),
                      f"{label} {norm} eps={eps_s}", sorted(set(messages)),
                      outcome_string(clean_c), outcome_string(robust_c))
