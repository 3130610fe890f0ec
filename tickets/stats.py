"""Statistics that the verdicts and the notebooks read accuracies against.

Every model of a study is evaluated on the same test images, so two models are compared on
their paired outcomes per image. A comparison of two trainings or searches is graded on its
per-seed paired differences with an interval that covers both sources of noise
(:func:`seed_interval`): the seed-to-seed spread of the searches, and the sampling of the test
images, which every seed shares and which the spread between seeds therefore does not contain.
A verdict part then has three outcomes: the interval lies on the paper's side of its threshold
(supported), on the other side (contradicted), or covers it (inconclusive at this scale), and
one-sided p-values consistent with that interval feed a family-wise correction over a report
(:func:`holm`).

The percentile bootstrap over seeds and images (:func:`paired_difference`) is kept for
description only: with three seeds it undercovers (tests/test_stats.py simulates it).
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist

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


# ---- distributions (no scipy at run time) ---------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(x: float, df: float) -> float:
    """P(T > x) for Student's t with df degrees of freedom (df=inf: the standard normal)."""
    if math.isinf(df):
        return 0.5 * math.erfc(x / math.sqrt(2.0))
    if df <= 0:
        raise ValueError(f"invalid df={df!r}: degrees of freedom must be positive")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + x * x))
    return tail if x >= 0 else 1.0 - tail


@lru_cache(maxsize=256)
def t_quantile(prob: float, df: float) -> float:
    """The prob-quantile of Student's t with df degrees of freedom (df=inf: the normal)."""
    if not 0.0 < prob < 1.0:
        raise ValueError(f"invalid prob={prob!r}: a quantile needs a probability in (0, 1)")
    if math.isinf(df):
        return NormalDist().inv_cdf(prob)
    if prob < 0.5:
        return -t_quantile(1.0 - prob, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - prob:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_sf(mid, df) > 1.0 - prob else (lo, mid)
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


# ---- differences with their intervals -------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """A difference of two accuracies (a minus b, fractions of 1) with its interval.

    When the interval is one of this module's closed forms, `var_seed` (with `df` degrees of
    freedom) and `var_image` are the two variance terms it was built from (see
    :func:`seed_interval`), and one-sided p-values consistent with the interval follow
    (:meth:`p_beyond`). `data` holds what the interval was computed from, compactly
    (:func:`encode_values`), so that anyone can re-derive it (tickets.claims.rederive)."""

    estimate: float
    low: float
    high: float
    n_images: int
    n_seeds: int
    level: float = 0.95
    p_value: float | None = None  # exact McNemar (one seed, 0/1 outcomes)
    unit: str = "images"  # what was resampled besides the seeds
    percent: bool = True  # a difference of accuracies, shown in points
    method: str = ""  # how the interval was computed (a key of tickets.claims.rederive)
    var_seed: float | None = None  # the between-seed variance of the estimate
    var_image: float | None = None  # the image-sampling variance of the estimate
    df: float | None = None  # degrees of freedom of var_seed (seeds - 1)
    data: dict | None = field(default=None, compare=False, repr=False)

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

    def p_beyond(self, threshold: float, side: int) -> float | None:
        """One-sided p-value against "the true difference lies on the far side of `threshold`
        from `side`" (+1: the claim "a - b > threshold"; -1: "a - b < threshold"), consistent
        with the interval: the interval at level L excludes the threshold on that side exactly
        when this p-value is below (1 - L) / 2. None when the interval has no closed form."""
        if side not in (1, -1):
            raise ValueError(f"invalid side={side!r}: +1 or -1")
        if self.var_seed is None or self.var_image is None:
            return None
        if self.method == "seeds-t" and self.n_seeds < 2:
            return None  # one value: no interval, no test
        gap = side * (self.estimate - threshold)  # > 0: the estimate lies on `side`
        return _one_sided_p(gap, self.var_seed, self.var_image, self.df)

    def describe(self) -> str:
        seeds = f"{self.n_seeds} seeds x " if self.n_seeds > 1 else ""
        def f(v: float) -> str:
            return f"{100 * v:+.1f}" if self.percent else f"{v:+.3f}"

        what = " points" if self.percent else ""
        if self.low == self.high == self.estimate and self.n_images == 0:
            if self.n_seeds == 1 and self.method == "seeds-t":
                return f"{f(self.estimate)}{what} (one seed: no interval)"
            return f"{f(self.estimate)}{what} (an exact count, no sampling noise)"
        if self.n_images == 0:  # an interval over seeds alone
            return (f"{f(self.estimate)}{what} [{100 * self.level:g} % CI {f(self.low)}, "
                    f"{f(self.high)}; {self.n_seeds} seeds]")
        return (f"{f(self.estimate)}{what} [{100 * self.level:g} % CI {f(self.low)}, "
                f"{f(self.high)}; {seeds}{self.n_images} {self.unit}]")


def _half_width(q_seed: float, q_image: float, var_seed: float, var_image: float) -> float:
    return math.sqrt(q_seed * q_seed * var_seed + q_image * q_image * var_image)


def _quantiles(prob: float, df: float | None) -> tuple[float, float]:
    return t_quantile(prob, math.inf if df is None else df), t_quantile(prob, math.inf)


def _one_sided_p(gap: float, var_seed: float, var_image: float, df: float | None) -> float:
    """The one-sided level alpha at which the bound of the interval (Banerjee's combination,
    see seed_interval) lies exactly `gap` from the estimate: p = alpha solves
    sign(x) * sqrt(x^2 var_seed + z(x)^2 var_image) = gap, x the t-quantile at 1 - alpha and
    z(x) the normal quantile at the same probability."""
    nu = math.inf if df is None or var_seed == 0 else df
    if var_seed == 0 and var_image == 0:
        return 0.0 if gap > 0 else 1.0
    if var_image == 0:
        return t_sf(gap / math.sqrt(var_seed), nu)
    if var_seed == 0:
        return t_sf(gap / math.sqrt(var_image), math.inf)

    def width(x: float) -> float:
        tail = t_sf(x, nu)
        tail = min(max(tail, 1e-300), 1.0 - 1e-16)
        z = -NormalDist().inv_cdf(tail)
        return math.copysign(math.sqrt(x * x * var_seed + z * z * var_image), x)

    lo, hi = -1.0, 1.0
    while width(lo) > gap:
        lo *= 2.0
    while width(hi) < gap:
        hi *= 2.0
        if hi > 1e8:
            return 0.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if width(mid) < gap else (lo, mid)
        if hi - lo < 1e-12 * max(1.0, abs(hi)):
            break
    return t_sf((lo + hi) / 2.0, nu)


def _closed_form(estimate: float, var_seed: float, var_image: float, df: float | None,
                 level: float, n_images: int, n_seeds: int, method: str,
                 data: dict | None = None, percent: bool = True, unit: str = "images",
                 p_value: float | None = None) -> Difference:
    if not 0 < level < 1:
        raise ValueError(f"invalid level={level!r}: must lie in (0, 1)")
    q_seed, q_image = _quantiles((1 + level) / 2, df)
    half = _half_width(q_seed, q_image, var_seed, var_image)
    return Difference(float(estimate), float(estimate - half), float(estimate + half), n_images,
                      n_seeds, level, p_value, unit, percent, method, float(var_seed),
                      float(var_image), df, data)


def seed_interval(a, b, level: float = 0.95) -> Difference:
    """The mean of a - b over seeds and images, with an interval that covers both the
    seed-to-seed noise of the searches and the sampling of the test images.

    a and b hold per-image outcomes on the same images: shape (S, N) for S seeds, the same N
    test images under every seed (or (N,) for one seed). Outcomes are 0/1, or a fraction
    correct over random draws for a randomised model.

    Method. Let d[s, i] = a[s, i] - b[s, i], d_s its mean over images (one paired difference
    per seed) and D_i its mean over seeds (one per image). The estimate is the mean of d.

    - Seed noise: var_seed = var(d_s) / S, the between-seed variance (ddof 1) of the mean,
      with S - 1 degrees of freedom. It holds the searches' spread (and the part of the image
      noise that differs from seed to seed), but not the noise of drawing the N test images,
      which every seed shares.
    - Image noise: var_image = var(D_i) / N (ddof 1), the sampling variance of the mean over
      N images drawn at random, given the seeds.

    The interval is estimate -/+ sqrt(t^2 var_seed + z^2 var_image), t the (1 + level) / 2
    quantile of Student's t with S - 1 degrees of freedom and z the normal one (Banerjee's
    conservative combination of two variance estimates with their own degrees of freedom).
    Counting the per-seed image noise in both terms makes it more conservative still. With one
    seed the seed term is unknown and the interval has the image term alone: such a part may be
    shown but is never graded (tickets.claims.base.Part). The method name is "paired-seeds".
    """
    a, b = _as_outcomes(a), _as_outcomes(b)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need one shape, got {a.shape} and {b.shape}")
    if a.ndim == 1:
        a, b = a[None], b[None]
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"outcomes must be (images,) or (seeds, images) with 2 or more "
                         f"images, got {a.shape}")
    d = a - b
    s, n = d.shape
    per_image = d.mean(axis=0)
    var_image = float(per_image.var(ddof=1)) / n
    var_seed = float(d.mean(axis=1).var(ddof=1)) / s if s > 1 else 0.0
    p = None
    if s == 1 and np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all():
        p = mcnemar_exact(a[0], b[0])
    data = {"a": encode_values(a), "b": encode_values(b)}
    return _closed_form(float(d.mean()), var_seed, var_image, s - 1 if s > 1 else None, level,
                        n, s, "paired-seeds", data, p_value=p)


def seed_values_interval(values, level: float = 0.95, percent: bool = True) -> Difference:
    """The mean of one value per seed (a per-seed difference that is not a mean over shared
    test images) with a t interval over the seeds, S - 1 degrees of freedom. One seed gives
    the value with no interval. The method name is "seeds-t"."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("no per-seed values")
    var_seed = float(v.var(ddof=1)) / v.size if v.size > 1 else 0.0
    data = {"values": [float(x) for x in v]}
    return _closed_form(float(v.mean()), var_seed, 0.0, v.size - 1 if v.size > 1 else None,
                        level, 0, int(v.size), "seeds-t", data, percent, "seeds")


def paired_difference(a, b, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> Difference:
    """The mean of a - b with a paired percentile-bootstrap interval (method name
    "percentile-bootstrap"). Kept to describe, not to grade: resampling 3 seeds with
    replacement understates the seed-to-seed noise, and the interval undercovers (see
    tests/test_stats.py); graded parts use :func:`seed_interval`.

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
    data = {"a": encode_values(a), "b": encode_values(b), "n_boot": n_boot, "seed": seed}
    return Difference(float(d.mean()), float(lo), float(hi), n, s, level, p,
                      method="percentile-bootstrap", data=data)


def normal_combination(terms: list[tuple[int, float]], n: int, level: float = 0.95
                       ) -> Difference:
    """sum(sign * p) over independent accuracies p, each measured on n images, without
    per-image outcomes: the unpaired normal interval, whose variance is the sum of the
    binomial variances (conservative when the accuracies share their images). One training
    run: the seed noise is not in it (method name "normal")."""
    if n <= 0:
        raise ValueError(f"invalid n={n!r}: needs at least one image")
    if level not in (0.9, 0.95, 0.99):
        raise ValueError(f"invalid level={level!r}: 0.9, 0.95 or 0.99")
    d = sum(sign * p for sign, p in terms)
    var = sum(p * (1 - p) for _, p in terms) / n
    data = {"terms": [[int(sign), float(p)] for sign, p in terms], "n": int(n)}
    return _closed_form(d, 0.0, var, None, level, n, 1, "normal", data)


def normal_difference(p_a: float, p_b: float, n: int, level: float = 0.95) -> Difference:
    """p_a - p_b for two accuracies measured on n images each (see normal_combination)."""
    return normal_combination([(1, p_a), (-1, p_b)], n, level)


def seed_normal_interval(values, terms: list[tuple[int, float]], n: int,
                         level: float = 0.95) -> Difference:
    """The mean of one value per seed, each a signed sum of accuracies measured on the same n
    images without per-image outcomes (validation accuracies of training histories), with an
    interval that covers both noises: the seed term is seed_values_interval's (the variance
    of the mean over S seeds, S - 1 degrees of freedom), the image term normal_combination's
    binomial variance at `terms`, the accuracies averaged over seeds (as if every seed shared
    the image noise: the conservative case). They are combined as in :func:`seed_interval`.
    With one seed the interval is normal_combination's. The method name is "seeds-normal"."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("no per-seed values")
    if n <= 0:
        raise ValueError(f"invalid n={n!r}: needs at least one image")
    var_seed = float(v.var(ddof=1)) / v.size if v.size > 1 else 0.0
    var_image = sum(p * (1 - p) for _, p in terms) / n
    data = {"values": [float(x) for x in v], "terms": [[int(sg), float(p)] for sg, p in terms],
            "n": int(n)}
    return _closed_form(float(v.mean()), var_seed, var_image, v.size - 1 if v.size > 1 else None,
                        level, int(n), int(v.size), "seeds-normal", data)


def exact(value: float) -> Difference:
    """A difference with no sampling noise (a count of passes, say)."""
    return Difference(value, value, value, 0, 1, method="exact", var_seed=0.0, var_image=0.0,
                      data={"value": float(value)})


VALIDATION = "val_pgd"  # robust accuracy on the validation split at the selected checkpoint


def require_validation(t, column: str = VALIDATION):
    """The validation column `column` of table t, refusing a missing, test or empty one: every
    choice a verdict makes (the best ratio, variant, baseline) is made on validation, never on
    the graded test images."""
    if not column.startswith("val"):
        raise ValueError(f"invalid select_on={column!r}: choices are made on a validation "
                         f"column (a name starting with 'val'), never on test outcomes")
    if column not in t:
        raise ValueError(f"the table has no column {column!r}: choices are made on validation, "
                         f"so the study must add {column!r} (robust accuracy on the validation "
                         f"split at the selected checkpoint) to every row; columns are "
                         f"{sorted(map(str, t.columns))}")
    col = t[column].astype(float)
    if col.isna().all():
        raise ValueError(f"column {column!r} holds no values: nothing to select on")
    return col


def rows_at_best_on_validation(t, by: str | None = "variant", over: str = "remaining",
                               select_on: str = VALIDATION) -> dict:
    """For each value of `by` (in the table's order; by=None: the whole table under the key
    None): its rows (one per seed) at the value of `over` whose mean validation accuracy
    `select_on` over seeds is highest (the first in table order on a tie). Only `by`, `over`
    and `select_on` are read, so no test outcome can sway the choice."""
    val = require_validation(t, select_on)
    groups = [(None, t.index)] if by is None else \
        [(k, g.index) for k, g in t.groupby(by, sort=False)]
    out = {}
    for key, idx in groups:
        means = val.loc[idx].groupby(list(t.loc[idx, over]), sort=False).mean()
        out[key] = t.loc[idx[(t.loc[idx, over] == means.idxmax()).to_numpy()]]
    return out


def best_on_validation(t, over: str, select_on: str = VALIDATION):
    """The value of `over` (a variant, a method, a ratio) whose mean validation accuracy
    `select_on` over seeds is highest (the first in table order on a tie)."""
    val = require_validation(t, select_on)
    means = val.groupby(list(t[over]), sort=False).mean()
    return means.idxmax()


def mean_interval(x, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Difference:
    """One accuracy (per-image outcomes, (N,) or (S, N)) with the same bootstrap interval:
    the difference from a model that is always wrong."""
    x = _as_outcomes(x)
    return paired_difference(x, np.zeros_like(x), n_boot, level, seed)


def encode_values(m) -> dict:
    """A (seeds, images) array of per-image values, compactly and exactly: 0/1 outcomes as
    packed bits (np.packbits, base64); fractions with a common denominator up to 1000 (shares
    of correct draws, differences of outcomes) as zlib-compressed int16 numerators; anything
    else as zlib-compressed float64. :func:`decode_values` inverts it."""
    m = np.atleast_2d(np.asarray(m, dtype=float))
    shape = [int(x) for x in m.shape]
    if np.isin(m, (0.0, 1.0)).all():
        bits = np.packbits(m.astype(np.uint8).ravel())
        return {"shape": shape, "bits": base64.b64encode(bits.tobytes()).decode("ascii")}
    for den in range(1, 1001):
        num = np.rint(m * den)
        if np.abs(num - m * den).max() < 1e-9 and np.abs(num).max() < 2 ** 15 \
                and np.array_equal(num / den, m):
            raw = zlib.compress(num.astype("<i2").tobytes(), 9)
            return {"shape": shape, "den": den, "int16": base64.b64encode(raw).decode("ascii")}
    raw = zlib.compress(m.astype("<f8").tobytes(), 9)
    return {"shape": shape, "float64": base64.b64encode(raw).decode("ascii")}


def decode_values(d: dict) -> np.ndarray:
    """The (seeds, images) array that :func:`encode_values` encoded."""
    shape = tuple(d["shape"])
    size = int(np.prod(shape))
    if "bits" in d:
        bits = np.frombuffer(base64.b64decode(d["bits"]), dtype=np.uint8)
        return np.unpackbits(bits, count=size).astype(float).reshape(shape)
    if "int16" in d:
        raw = zlib.decompress(base64.b64decode(d["int16"]))
        return np.frombuffer(raw, dtype="<i2").astype(float).reshape(shape) / d["den"]
    if "float64" in d:
        raw = zlib.decompress(base64.b64decode(d["float64"]))
        return np.frombuffer(raw, dtype="<f8").astype(float).reshape(shape)
    raise ValueError(f"invalid encoded values: keys {sorted(d)}, expected bits, int16 or float64")


def holm(p_values: list[float | None], alpha: float = 0.05) -> tuple[list[bool], list[float]]:
    """Holm-Bonferroni over m p-values: sorted ascending, the j-th smallest (j = 0, 1, ...) is
    rejected while p <= alpha / (m - j), and the procedure stops at the first that is not.
    Returns whether each is rejected and its adjusted p-value (the running maximum of
    min(1, (m - j) p)), in the input order. A missing p-value (None) counts in m and is never
    rejected. The family-wise error rate is at most alpha under any dependence."""
    if not 0 < alpha < 1:
        raise ValueError(f"invalid alpha={alpha!r}: must lie in (0, 1)")
    m = len(p_values)
    ps = [1.0 if p is None else float(p) for p in p_values]
    order = sorted(range(m), key=lambda i: ps[i])
    rejected, adjusted = [False] * m, [1.0] * m
    running, going = 0.0, True
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * ps[i]))
        adjusted[i] = running
        going = going and p_values[i] is not None and ps[i] <= alpha / (m - j)
        rejected[i] = going
    return rejected, adjusted


__all__ = ["SUPPORTED", "CONTRADICTED", "INCONCLUSIVE", "standard_error",
           "worst_case_standard_error", "mcnemar_exact", "t_sf", "t_quantile", "Difference",
           "seed_interval", "seed_values_interval", "paired_difference", "normal_combination",
           "normal_difference", "seed_normal_interval", "exact", "mean_interval", "VALIDATION",
           "require_validation", "rows_at_best_on_validation", "best_on_validation",
           "encode_values", "decode_values", "holm"]
