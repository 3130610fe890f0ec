"""Statistics that the verdicts and the notebooks read accuracies against."""

from __future__ import annotations

import math


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


__all__ = ["standard_error", "worst_case_standard_error"]
