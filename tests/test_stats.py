"""Paired statistics: the exact McNemar test by hand and against scipy, and the paired
bootstrap interval on outcomes whose true difference is zero, positive or negative."""

import math

import numpy as np
import pytest

from tickets.stats import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    mcnemar_exact,
    mean_interval,
    paired_difference,
)


def _pairs(only_a: int, only_b: int, both: int = 5, neither: int = 5):
    a = [1] * only_a + [0] * only_b + [1] * both + [0] * neither
    b = [0] * only_a + [1] * only_b + [1] * both + [0] * neither
    return np.array(a), np.array(b)


def test_mcnemar_by_hand():
    # 1 vs 9 discordant images: p = 2 * P(X <= 1 | n=10, 1/2) = 2 * (1 + 10) / 1024
    assert mcnemar_exact(*_pairs(1, 9)) == pytest.approx(22 / 1024, rel=1e-12)
    # symmetric in a and b, and 1 when the two models never disagree
    assert mcnemar_exact(*_pairs(9, 1)) == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar_exact(*_pairs(0, 0)) == 1.0
    # 5 vs 5: the two-sided tail passes 1 and is capped
    assert mcnemar_exact(*_pairs(5, 5)) == 1.0


@pytest.mark.parametrize("only_a,only_b", [(3, 12), (40, 25), (150, 86), (0, 7), (500, 480)])
def test_mcnemar_matches_scipys_binomial_test(only_a, only_b):
    stats = pytest.importorskip("scipy.stats")
    expected = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert mcnemar_exact(*_pairs(only_a, only_b)) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_refuses_bad_input():
    with pytest.raises(ValueError, match="shape"):
        mcnemar_exact(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact(np.full(3, 0.5), np.ones(3))


def _model(p: float, n: int, rng) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


def test_no_effect_is_inconclusive():
    rng = np.random.default_rng(0)
    a = _model(0.4, 1000, rng)
    b = a.copy()
    flip = rng.choice(1000, 60, replace=False)  # 30 images each way: a true difference of 0
    b[flip[:30]] = 1 - b[flip[:30]]
    a[flip[30:]] = 1 - a[flip[30:]]
    d = paired_difference(a, b, seed=1)
    assert d.covers_zero and d.outcome(+1) == INCONCLUSIVE and d.outcome(-1) == INCONCLUSIVE
    assert d.p_value is not None and d.p_value > 0.05


@pytest.mark.parametrize("shift,expected_up,expected_down", [(0.05, SUPPORTED, CONTRADICTED),
                                                             (-0.05, CONTRADICTED, SUPPORTED)])
def test_a_real_effect_is_supported_on_its_side_and_contradicted_on_the_other(
        shift, expected_up, expected_down):
    rng = np.random.default_rng(2)
    b = _model(0.4, 1000, rng)
    a = b.copy()
    idx = np.flatnonzero(b == (0 if shift > 0 else 1))[:50]  # 50 images change: 5 points
    a[idx] = 1 - a[idx]
    d = paired_difference(a, b, seed=3)
    assert d.estimate == pytest.approx(shift)
    assert d.outcome(+1) == expected_up and d.outcome(-1) == expected_down
    assert not d.covers_zero and d.low <= d.estimate <= d.high
    assert d.p_value < 1e-6


def test_the_interval_is_paired():
    """Two models that agree on almost every image: the paired interval of a 1-point
    difference is far narrower than the unpaired standard error would suggest."""
    rng = np.random.default_rng(4)
    b = _model(0.5, 1000, rng)
    a = b.copy()
    a[np.flatnonzero(b == 0)[:10]] = 1
    d = paired_difference(a, b, seed=5)
    unpaired_se = math.sqrt(2 * 0.25 / 1000)
    assert d.high - d.low < 2 * unpaired_se and d.outcome(+1) == SUPPORTED


def test_seeds_widen_the_interval():
    """Three seeds whose differences disagree give a wider interval than one seed alone."""
    rng = np.random.default_rng(6)
    b = np.stack([_model(0.4, 1000, rng) for _ in range(3)])
    a = b.copy()
    for s, k in enumerate((0, 40, 80)):  # seed effects of 0, 4 and 8 points
        a[s, np.flatnonzero(b[s] == 0)[:k]] = 1
    many = paired_difference(a, b, seed=7)
    one = paired_difference(a[1], b[1], seed=7)
    assert many.n_seeds == 3 and many.estimate == pytest.approx(0.04)
    assert many.high - many.low > one.high - one.low
    assert many.p_value is None, "McNemar is for one seed"


def test_fractional_outcomes_of_a_randomised_model_and_one_accuracy():
    a = np.array([1.0, 0.5, 0.25, 0.0] * 100)
    d = paired_difference(a, np.zeros_like(a), n_boot=500)
    assert d.estimate == pytest.approx(0.4375) and d.p_value is None
    m = mean_interval([1, 0, 1, 1], n_boot=500)
    assert m.estimate == 0.75 and 0 <= m.low <= m.high <= 1
    assert "+75.0 points" in m.describe() and "4 images" in m.describe()
    with pytest.raises(ValueError, match="shape"):
        paired_difference(np.ones(3), np.ones(4))


def test_normal_intervals_add_the_binomial_variances():
    from tickets.stats import normal_combination, normal_difference

    d = normal_difference(0.4, 0.3, 500)
    se = math.sqrt((0.4 * 0.6 + 0.3 * 0.7) / 500)
    assert d.estimate == pytest.approx(0.1)
    assert d.high - d.estimate == pytest.approx(1.959964 * se)
    four = normal_combination([(1, 0.4), (-1, 0.3), (-1, 0.35), (1, 0.3)], 500)
    assert four.estimate == pytest.approx(0.05)
    assert four.high - four.low > d.high - d.low, "more terms, more variance"
    with pytest.raises(ValueError, match="level"):
        normal_difference(0.4, 0.3, 500, level=0.8)
