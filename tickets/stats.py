"""Statistics that the verdicts and the notebooks read accuracies against.

Every model of a study is evaluated on the same test images, so two models are compared on
their paired outcomes per image: a difference of accuracies gets a paired bootstrap interval
(over images, and over search seeds when there are several), and an exact McNemar test on the
images where the two disagree. A verdict then has three outcomes: the interval lies on the
paper's side (supported), on the other side (contradicted), or covers zero (inconclusive at
this scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"


def standard_error(p: float, n: int) -> float:
    """The binomial standard error of an accuracy p measured on n independent images."""
    if n <= 0:
        raise ValueError(f"invalid n={n!r}: a standard error needs at least one image")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"invalid p={p!r}: an accuracy lies in [0, 1]")
    return math.sqrt(p * (1 - p) / n)


def worst_case_standard_error(n: int) -> float:
    """The largest binomial standard error at n images (at p = 0.5): a tolerance that holds
    whatever the accuracy."""
    return standard_error(0.5, n)


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes of two models on the same
    images: under the null, each image where exactly one model is right favours either with
    probability 1/2, so the count of images only `a` gets right is Binomial(discordant, 1/2)."""
    a, b = _as_outcomes(a), _as_outcomes(b)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need one shape, got {a.shape} and {b.shape}")
    if not (np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()):
        raise ValueError("McNemar's test needs 0/1 outcomes per image")
    only_a = int(((a == 1) & (b == 0)).sum())
    only_b = int(((a == 0) & (b == 1)).sum())
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    # P(X <= k) for X ~ Binomial(n, 1/2), summed exactly in log space
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
            for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2 * tail)


def _as_outcomes(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


@dataclass(frozen=True)
class Difference:
    """A difference of two accuracies (a minus b, fractions of 1) with its interval."""

    estimate: float
    low: float
    high: float
    n_images: int
    n_seeds: int
    level: float = 0.95
    p_value: float | None = None  # exact McNemar (one seed, 0/1 outcomes)
    unit: str = "images"  # what was resampled besides the seeds
    percent: bool = True  # a difference of accuracies, shown in points

    @property
    def covers_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def outcome(self, expected_sign: int = 1, threshold: float = 0.0) -> str:
        """The claim that a - b lies above `threshold` (expected_sign +1) or below it (-1):
        supported when the whole interval is on the claimed side, contradicted when it is all
        on the other side, inconclusive when it covers the threshold."""
        if expected_sign not in (1, -1):
            raise ValueError(f"invalid expected_sign={expected_sign!r}: +1 or -1")
        if self.low <= threshold <= self.high:
            return INCONCLUSIVE
        above = self.low > threshold
        return SUPPORTED if above == (expected_sign > 0) else CONTRADICTED

    def describe(self) -> str:
        seeds = f"{self.n_seeds} seeds x " if self.n_seeds > 1 else ""
        def f(v: float) -> str:
            return f"{100 * v:+.1f}" if self.percent else f"{v:+.3f}"

        what = " points" if self.percent else ""
        if self.low == self.high == self.estimate and self.n_images == 0:
            return f"{f(self.estimate)}{what} (an exact count, no sampling noise)"
        return (f"{f(self.estimate)}{what} [{100 * self.level:g} % CI {f(self.low)}, "
                f"{f(self.high)}; {seeds}{self.n_images} {self.unit}]")


def paired_difference(a, b, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> Difference:
    """The mean of a - b with a paired percentile-bootstrap interval.

    a and b hold per-image outcomes on the same images: shape (N,) for one search seed, or
    (S, N) for S seeds (the same N test images under every seed). Outcomes are 0/1, or a
    fraction correct over random draws for a randomised model. Each bootstrap replicate
    resamples the images (the same indices for a and b, and for every seed), and with several
    seeds the seeds too, so the interval covers both sources of noise.
    """
    a, b = _as_outcomes(a), _as_outcomes(b)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need one shape, got {a.shape} and {b.shape}")
    if a.ndim == 1:
        a, b = a[None], b[None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"outcomes must be (images,) or (seeds, images), got {a.shape}")
    if not 0 < level < 1:
        raise ValueError(f"invalid level={level!r}: must lie in (0, 1)")
    d = a - b
    s, n = d.shape
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for r in range(n_boot):
        imgs = rng.integers(0, n, n)
        rows = rng.integers(0, s, s) if s > 1 else np.zeros(1, dtype=int)
        reps[r] = d[np.ix_(rows, imgs)].mean()
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    p = None
    if s == 1 and np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all():
        p = mcnemar_exact(a[0], b[0])
    return Difference(float(d.mean()), float(lo), float(hi), n, s, level, p)


def normal_combination(terms: list[tuple[int, float]], n: int, level: float = 0.95
                       ) -> Difference:
    """sum(sign * p) over independent accuracies p, each measured on n images, without
    per-image outcomes: the unpaired normal interval, whose variance is the sum of the
    binomial variances (conservative when the accuracies share their images)."""
    z = {0.95: 1.959964, 0.9: 1.644854, 0.99: 2.575829}.get(level)
    if z is None:
        raise ValueError(f"invalid level={level!r}: 0.9, 0.95 or 0.99")
    if n <= 0:
        raise ValueError(f"invalid n={n!r}: needs at least one image")
    d = sum(sign * p for sign, p in terms)
    se = math.sqrt(sum(p * (1 - p) for _, p in terms) / n)
    return Difference(d, d - z * se, d + z * se, n, 1, level)


def normal_difference(p_a: float, p_b: float, n: int, level: float = 0.95) -> Difference:
    """p_a - p_b for two accuracies measured on n images each (see normal_combination)."""
    return normal_combination([(1, p_a), (-1, p_b)], n, level)


def exact(value: float) -> Difference:
    """A difference with no sampling noise (a count of passes, say)."""
    return Difference(value, value, value, 0, 1)


def rows_at_best_mean(t, by: str = "variant", metric: str = "pgd",
                      over: str = "remaining") -> dict:
    """For each value of `by` (in the table's order): its rows (one per seed) at the value of
    `over` (the remaining ratio) whose mean `metric` over seeds is highest."""
    out = {}
    for key, g in t.groupby(by, sort=False):
        means = g.groupby(over)[metric].mean()
        out[key] = g[g[over] == means.idxmax()]
    return out


def mean_interval(x, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Difference:
    """One accuracy (per-image outcomes, (N,) or (S, N)) with the same bootstrap interval:
    the difference from a model that is always wrong."""
    x = _as_outcomes(x)
    return paired_difference(x, np.zeros_like(x), n_boot, level, seed)


__all__ = ["SUPPORTED", "CONTRADICTED", "INCONCLUSIVE", "standard_error",
           "worst_case_standard_error", "mcnemar_exact", "Difference", "paired_difference",
           "normal_combination", "normal_difference", "exact", "mean_interval",
           "rows_at_best_mean"]
