"""Sanity checks on a robustness evaluation, after Carlini et al. 2019 ("On evaluating
adversarial robustness"). Each check returns pass or fail with the numbers behind it; a failed
check is reported, never hidden. A gradient-masked model fails several of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd
import torch

from tickets import attacks
from tickets.config import AttackConfig
from tickets.data import Split


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    numbers: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _acc(model, split: Split, cfg: AttackConfig, n: int, seed: int) -> float:
    return attacks.evaluate(model, split, cfg, n=n, seed=seed).robust


def _pgd(eps: float, steps: int = 20, restarts: int = 1) -> AttackConfig:
    return AttackConfig(kind="pgd", eps=eps, alpha=max(eps / 4, 1e-6) if eps else 1e-6,
                        steps=steps, restarts=restarts)


def square_accuracy(model, split: Split, eps: float, n: int, queries: int = 1000,
                    seed: int = 0) -> float:
    """Accuracy under the Square attack (black-box, score-based) from pyautoattack."""
    from pyautoattack import AutoAttack

    sub = split.head(n)
    x, y = sub.images(), sub.y
    with attacks.eval_mode(model), attacks.autoattack_log():
        aa = AutoAttack(model, attacks=["square"], version="custom", eps=eps,
                        device=x.device, seed=seed)
        aa.verbose = False
        aa.square.n_queries = queries
        x_adv = aa.run_standard_evaluation(x, y, batch_size=250)[0]
        return (attacks.predict(model, x_adv) == y).float().mean().item()


def run_checks(model, split: Split, eps: float = 8 / 255, n: int = 200, seed: int = 0,
               large_eps: float = 0.5, square_queries: int = 1000,
               repeats: int = 0) -> list[Check]:
    """All checks on one model. repeats > 0 adds the stability check for randomised models."""
    tol = 1.0 / max(n, 1) + 1e-9  # one sample of slack for random starts
    out: list[Check] = []
    clean = attacks.evaluate(model, split, AttackConfig(kind="none"), n=n).clean
    eps_grid = [0.0, eps / 4, eps / 2, eps, 2 * eps, large_eps]
    by_eps = [_acc(model, split, _pgd(e), n, seed) for e in eps_grid]
    mono = all(b <= a + tol for a, b in zip(by_eps, by_eps[1:], strict=False))
    out.append(Check("accuracy falls as eps grows", mono,
                     "PGD-20 accuracy never rises with eps",
                     {f"eps={e * 255:.3g}/255": a for e, a in zip(eps_grid, by_eps, strict=True)}))
    out.append(Check("about 0 at a large eps", by_eps[-1] <= 0.05,
                     f"PGD-20 accuracy at eps={large_eps:g} is at most 5 %",
                     {"accuracy": by_eps[-1]}))
    # a randomised model (repeats > 0) draws afresh at each call: allow the stability bound
    tol0 = 0.03 if repeats else 1e-9
    out.append(Check("eps = 0 gives the clean accuracy", abs(by_eps[0] - clean) <= tol0,
                     "PGD at eps 0 equals clean accuracy" + (
                         " (within 3 points: a randomised model)" if repeats else ""),
                     {"clean": clean, "eps0": by_eps[0]}))
    steps = {k: _acc(model, split, _pgd(eps, k), n, seed) for k in (5, 20, 50)}
    out.append(Check("more steps never help the defender",
                     steps[5] + tol >= steps[20] and steps[20] + tol >= steps[50],
                     "PGD-5 >= PGD-20 >= PGD-50", {f"PGD-{k}": v for k, v in steps.items()}))
    r1, r3 = steps[20], _acc(model, split, _pgd(eps, 20, 3), n, seed)
    out.append(Check("more restarts never help the defender", r3 <= r1 + tol,
                     "3 restarts <= 1 restart", {"restarts=1": r1, "restarts=3": r3}))
    fgsm = _acc(model, split, AttackConfig(kind="fgsm", eps=eps), n, seed)
    out.append(Check("single-step weaker than iterative", fgsm + tol >= steps[20],
                     "FGSM accuracy >= PGD-20 accuracy", {"FGSM": fgsm, "PGD-20": steps[20]}))
    if square_queries:
        sq = square_accuracy(model, split, eps, n, square_queries, seed)
        out.append(Check("black-box not stronger than white-box", sq + 2 * tol >= steps[20],
                         f"Square ({square_queries} queries) accuracy >= PGD-20 accuracy",
                         {"Square": sq, "PGD-20": steps[20]}))
    if repeats:
        accs = torch.tensor([_acc(model, split, _pgd(eps), n, seed + i) for i in range(repeats)])
        spread = (accs.max() - accs.min()).item()
        out.append(Check("stable under repeated evaluation", spread <= 0.03,
                         f"PGD-20 accuracy over {repeats} evaluations spans at most 3 points",
                         {"min": accs.min().item(), "max": accs.max().item()}))
    return out


def table(checks: dict[str, list[Check]]) -> pd.DataFrame:
    """One row per model and check, for a report table."""
    rows = []
    for model_name, cs in checks.items():
        for c in cs:
            nums = ", ".join(f"{k} {100 * v:.1f}" for k, v in c.numbers.items())
            rows.append({"model": model_name, "check": c.name,
                         "result": "pass" if c.passed else "FAIL", "numbers (%)": nums})
    return pd.DataFrame(rows)


def assert_attack_below_clean(table: pd.DataFrame, n: int, robust: str = "pgd",
                              clean: str = "clean") -> None:
    """Raise AssertionError naming the rows whose robust accuracy exceeds their clean accuracy
    by more than sampling noise (two worst-case standard errors at n images). An attack that
    raises accuracy is broken; one a few images above clean is a net near chance, whose loss
    the attack raises without changing its guesses for the worse (tiny dry runs)."""
    from tickets.stats import worst_case_standard_error

    if n < 1:
        raise ValueError(f"invalid n={n!r}: the number of test images, at least 1")
    slack = 2 * worst_case_standard_error(n)
    bad = table[table[robust] > table[clean] + slack]
    if len(bad):
        raise AssertionError(f"{robust} accuracy above {clean} by more than {100 * slack:.1f} "
                             f"points (2 standard errors at n={n}) in rows "
                             f"{bad.index.tolist()}: {bad[[clean, robust]].to_dict('records')}")
