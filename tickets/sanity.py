"""Sanity checks on a robustness evaluation, after Carlini et al. 2019 ("On evaluating
adversarial robustness"). Each check returns pass or fail with the numbers behind it; a failed
check is reported, never hidden. A gradient-masked model fails several of them.
"""

from __future__ import annotations

import math
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


def _each(result) -> torch.Tensor:
    """Per-image correctness under attack of an evaluation result (True where still right)."""
    return torch.tensor(attacks.outcomes(result.robust_correct), dtype=torch.bool)


def _correct(model, split: Split, cfg: AttackConfig, n: int, seed: int) -> torch.Tensor:
    """Per-image correctness under cfg on the first n images."""
    return _each(attacks.evaluate(model, split, cfg, n=n, seed=seed))


def _pgd(eps: float, steps: int = 20, restarts: int = 1) -> AttackConfig:
    return AttackConfig(kind="pgd", eps=eps, alpha=max(eps / 4, 1e-6) if eps else 1e-6,
                        steps=steps, restarts=restarts)


def pgd_loop_at_zero(model, split: Split, alpha: float, n: int, steps: int = 20,
                     seed: int = 0) -> torch.Tensor:
    """Per-image correctness after PGD at eps 0 with step size alpha, the attack's loop run
    in full (random start, steps, projection, bookkeeping) instead of returning the images
    untouched: a projection that lets a step through shows as accuracy below clean."""
    sub = split.head(n)
    x, y = sub.images(), sub.y
    g = torch.Generator(device=x.device).manual_seed(seed)
    x_adv = attacks.pgd(model, x, y, eps=0.0, alpha=alpha, steps=steps, generator=g,
                        skip_at_zero=False)
    return attacks.predict(model, x_adv) == y


def restart_outcomes(model, split: Split, cfg: AttackConfig, n: int, seed: int
                     ) -> torch.Tensor:
    """Per-image correctness under cfg on the first n images, attacked in one batch from a
    generator seeded with `seed`: an attack of R restarts then begins with the very start of
    the same attack at one restart, and draws the other R - 1 starts afresh."""
    sub = split.head(n)
    x, y = sub.images(), sub.y
    g = torch.Generator(device=x.device).manual_seed(seed)
    return attacks.predict(model, attacks.perturb(model, x, y, cfg, g)) == y


def square_outcomes(model, split: Split, eps: float, n: int, queries: int = 1000,
                    seed: int = 0) -> torch.Tensor:
    """Per-image correctness under the Square attack (black-box, score-based) from
    pyautoattack, on the first n images."""
    from pyautoattack import AutoAttack

    sub = split.head(n)
    x, y = sub.images(), sub.y
    with attacks.eval_mode(model), attacks.autoattack_log():
        aa = AutoAttack(model, attacks=["square"], version="custom", eps=eps,
                        device=x.device, seed=seed)
        aa.verbose = False
        aa.square.n_queries = queries
        x_adv = aa.run_standard_evaluation(x, y, batch_size=250)[0]
        return attacks.predict(model, x_adv) == y


def square_accuracy(model, split: Split, eps: float, n: int, queries: int = 1000,
                    seed: int = 0) -> float:
    """Accuracy under the Square attack (black-box, score-based) from pyautoattack."""
    return square_outcomes(model, split, eps, n, queries, seed).float().mean().item()


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test (McNemar's exact test on the discordant images): the chance
    of `wins` or more among wins + losses images if each went either way with probability
    1/2. 1.0 when there are no discordant images."""
    if wins < 0 or losses < 0:
        raise ValueError(f"invalid wins={wins!r}, losses={losses!r}: counts of images, >= 0")
    k = wins + losses
    return sum(math.comb(k, i) for i in range(wins, k + 1)) / 2 ** k


def stronger(a_correct, b_correct, level: float = 0.05) -> tuple[bool, dict]:
    """Whether attack a is stronger than attack b on the same images, decided on the paired
    per-image outcomes (True where the model is still right): a is stronger when the images
    only a breaks outnumber those only b breaks at one-sided exact sign-test p < level. Also
    returns the counts and the p-value. A difference of a few images is never decisive."""
    a = torch.as_tensor(a_correct, dtype=torch.bool).flatten()
    b = torch.as_tensor(b_correct, dtype=torch.bool).flatten()
    if a.shape != b.shape:
        raise ValueError(f"invalid outcomes: a has {len(a)} images, b has {len(b)}; the two "
                         f"attacks must be paired on the same images")
    only_a = int((~a & b).sum())
    only_b = int((a & ~b).sum())
    p = sign_test_p(only_a, only_b)
    return p < level, {"broken only by a": only_a, "broken only by b": only_b, "p": p}


def run_checks(model, split: Split, eps: float = 8 / 255, n: int = 200, seed: int = 0,
               large_eps: float = 0.5, square_queries: int = 1000,
               repeats: int = 0, restarts: int = 3) -> list[Check]:
    """All checks on one model. repeats > 0 adds the stability check for randomised models.

    Each check can fail:
    * eps = 0: PGD's loop runs in full at eps 0 with the evaluation's step size (eps / 4),
      not the shortcut that returns the images untouched, so a projection that lets a step
      through, or a model that answers differently at every call, shows below clean.
    * restarts: PGD-20 with `restarts` restarts against one restart, per image, both in one
      batch from the same seed, so the R restarts include the one (their other starts are
      fresh draws): a worst case kept per image can only go down, so any image right under R
      restarts but broken under one fails the check (the restarts' bookkeeping is broken);
      a randomised model (repeats > 0), whose single images may flip at each call, fails
      only when one restart is stronger than R on the paired sign test.
    * black-box: Square fails the check when it is stronger than PGD-20 on the paired
      per-image outcomes, at one-sided exact sign-test p < 0.05 over the images that only one
      of the two breaks (tickets.sanity.stronger), not on a rounding of the two accuracies.
    The other checks allow one image of slack (random starts) on a deterministic model. A
    randomised model (repeats > 0) draws afresh at every call, so two single evaluations
    differ by draw noise even when nothing is wrong: each comparison of two evaluations
    (eps 0 against clean, each eps against the next, more steps against fewer, FGSM against
    PGD-20) then fails only when the attack that should be weaker is stronger on the paired
    per-image outcomes, at one-sided exact sign-test p < 0.05 (tickets.sanity.stronger), as
    the restarts check does.
    """
    tol = 1.0 / max(n, 1) + 1e-9  # one sample of slack for random starts
    out: list[Check] = []
    clean = attacks.evaluate(model, split, AttackConfig(kind="none"), n=n).clean
    eps_grid = [0.0, eps / 4, eps / 2, eps, 2 * eps, large_eps]
    at_zero = pgd_loop_at_zero(model, split, max(eps / 4, 1e-6), n, 20, seed)
    sub = split.head(n)
    clean_each = attacks.predict(model, sub.images()) == sub.y
    each_eps = [at_zero.cpu()] + [_correct(model, split, _pgd(e), n, seed)
                                  for e in eps_grid[1:]]
    by_eps = [c.double().mean().item() for c in each_eps]
    pairs = list(zip(each_eps, each_eps[1:], strict=False))
    if repeats:  # a randomised model: the smaller eps may not be significantly stronger
        mono = not any(stronger(a, b)[0] for a, b in pairs)
    else:
        mono = all(b <= a + tol for a, b in zip(by_eps, by_eps[1:], strict=False))
    out.append(Check("accuracy falls as eps grows", mono,
                     "PGD-20 accuracy never rises with eps" + (
                         " (a randomised model: no smaller eps significantly stronger than "
                         "the next, paired one-sided sign test p < 0.05)" if repeats else ""),
                     {f"eps={e * 255:.3g}/255": a for e, a in zip(eps_grid, by_eps, strict=True)}))
    out.append(Check("about 0 at a large eps", by_eps[-1] <= 0.05,
                     f"PGD-20 accuracy at eps={large_eps:g} is at most 5 %",
                     {"accuracy": by_eps[-1]}))
    # per image, not on two rounded accuracies (a float32 mean of 31 of 100 is not 0.31)
    differ = int((at_zero != clean_each).sum())
    # a randomised model: the eps-0 loop may not break significantly more images than clean
    ok0 = not stronger(at_zero.cpu(), clean_each.cpu())[0] if repeats else differ == 0
    out.append(Check("eps = 0 gives the clean accuracy", ok0,
                     "PGD-20's loop run at eps 0 (step eps/4) gives every image the clean "
                     "prediction's outcome" + (
                         " (a randomised model: it breaks no significantly more images than "
                         "the clean evaluation, paired one-sided sign test p < 0.05)"
                         if repeats else ""),
                     {"clean": clean, "eps0": by_eps[0],
                      "images that differ": differ / max(len(at_zero), 1)}))
    by_steps = {k: attacks.evaluate(model, split, _pgd(eps, k), n=n, seed=seed)
                for k in (5, 20, 50)}
    steps = {k: r.robust for k, r in by_steps.items()}
    each_steps = {k: _each(r) for k, r in by_steps.items()}
    if repeats:  # fewer steps may not be significantly stronger than more
        more_ok = not (stronger(each_steps[5], each_steps[20])[0]
                       or stronger(each_steps[20], each_steps[50])[0])
    else:
        more_ok = steps[5] + tol >= steps[20] and steps[20] + tol >= steps[50]
    out.append(Check("more steps never help the defender", more_ok,
                     "PGD-5 >= PGD-20 >= PGD-50" + (
                         " (a randomised model: fewer steps never significantly stronger, "
                         "paired one-sided sign test p < 0.05)" if repeats else ""),
                     {f"PGD-{k}": v for k, v in steps.items()}))
    one = restart_outcomes(model, split, _pgd(eps, 20, 1), n, seed)
    many = restart_outcomes(model, split, _pgd(eps, 20, restarts), n, seed)
    rescued = int((many & ~one).sum())
    # a randomised model answers afresh at each call, so single images may flip either way:
    # it fails only when one restart is stronger than R on the paired sign test
    ok = not stronger(one, many)[0] if repeats else rescued == 0
    out.append(Check("more restarts never help the defender", ok,
                     f"per image: no image broken by 1 restart is right under {restarts} "
                     f"restarts that include it" + (
                         " (a randomised model: not significantly more, one-sided sign test "
                         "p < 0.05)" if repeats else ""),
                     {"restarts=1": one.float().mean().item(),
                      f"restarts={restarts}": many.float().mean().item(),
                      "images rescued by more restarts": rescued / max(len(one), 1),
                      "images broken only by the extra restarts":
                          int((one & ~many).sum()) / max(len(one), 1)}))
    fgsm_each = _correct(model, split, AttackConfig(kind="fgsm", eps=eps), n, seed)
    fgsm = fgsm_each.double().mean().item()
    single_ok = (not stronger(fgsm_each, each_steps[20])[0] if repeats
                 else fgsm + tol >= steps[20])
    out.append(Check("single-step weaker than iterative", single_ok,
                     "FGSM accuracy >= PGD-20 accuracy" + (
                         " (a randomised model: FGSM not significantly stronger, paired "
                         "one-sided sign test p < 0.05)" if repeats else ""),
                     {"FGSM": fgsm, "PGD-20": steps[20]}))
    if square_queries:
        sq = square_outcomes(model, split, eps, n, square_queries, seed)
        worse, counts = stronger(sq.cpu(), each_steps[20])
        out.append(Check("black-box not stronger than white-box", not worse,
                         f"Square ({square_queries} queries) not stronger than PGD-20 on the "
                         f"paired images (one-sided sign test, p < 0.05 fails)",
                         {"Square": sq.float().mean().item(), "PGD-20": steps[20],
                          "only Square breaks": counts["broken only by a"] / max(n, 1),
                          "only PGD-20 breaks": counts["broken only by b"] / max(n, 1),
                          "p": counts["p"]}))
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
