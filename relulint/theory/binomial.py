"""Exact binomial tails, for judging a Monte-Carlo count against a probability the theory bounds.

A probe that finds ``k`` born-dead networks in ``n`` draws contradicts an upper bound ``p`` (`collapse`
Thm 8) only when ``k`` or more would be rare under ``p``: ``P(X >= k | n, p) < α`` for ``X ~ Bin(n, p)``
(the one-sided exact test). A normal-approximation interval (Wilson's) cannot decide this where the counts
are small: at ``k = 1`` of ``n = 10^4`` its lower end is 1.8e-5, while one hit in 10^4 draws has
probability 7 % under ``p = 7.6e-6``. The tail is the regularized incomplete beta function, ``P(X >= k) =
I_p(k, n - k + 1)`` (Abramowitz & Stegun 26.5.24 with 6.6.4), computed with its continued fraction
(A&S 26.5.8, evaluated by the modified Lentz method) to about 1e-13 relative accuracy.
"""

from __future__ import annotations

import math

__all__ = ["binomial_upper_tail", "exceeds_bound"]

_TINY = 1e-300
_EPS = 1e-15
_MAX_TERMS = 10_000


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Bin(n, p)``, exactly up to rounding (1 for k <= 0, 0 for k > n)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return _regularized_beta(p, k, n - k + 1)


def exceeds_bound(k: int, n: int, bound: float, alpha: float = 0.025) -> bool:
    """Do ``k`` hits in ``n`` draws exceed the upper bound ``bound`` beyond chance: ``P(X >= k | bound) <
    alpha`` (one-sided exact test; 0.025 is the lower side of a two-sided 95 % interval)?"""
    if n <= 0 or k <= bound * n:
        return False
    return binomial_upper_tail(k, n, bound) < alpha


def _regularized_beta(x: float, a: float, b: float) -> float:
    """``I_x(a, b)`` for ``a, b > 0`` and ``0 < x < 1`` (A&S 26.5.8; the symmetry ``I_x(a, b) = 1 −
    I_{1−x}(b, a)`` where the continued fraction converges slowly)."""
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of `_regularized_beta` (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h
