"""`relulint.theory.binomial`: the exact binomial tail against sums of exact rational terms."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from relulint.theory.binomial import binomial_upper_tail, exceeds_bound


def exact_tail(k: int, n: int, p: float) -> float:
    """Σ_{i ≥ k} C(n, i) p^i (1 − p)^(n − i) in rational arithmetic, rounded once."""
    q = Fraction(p)
    return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(max(k, 0), n + 1)))


def test_the_tail_matches_exact_rational_sums() -> None:
    rng = random.Random(7)
    cases = [(rng.randint(0, n), n, p) for n in (1, 2, 5, 40, 160, 300) for p in (1e-6, 0.01, 0.3, 0.5, 0.97)]
    cases += [(rng.randint(0, 250), 250, rng.random() ** 3) for _ in range(60)]
    for k, n, p in cases:
        expected = exact_tail(k, n, p)
        got = binomial_upper_tail(k, n, p)
        assert got == pytest.approx(expected, rel=1e-11, abs=1e-300), (k, n, p)


def test_edges_and_a_closed_form() -> None:
    assert binomial_upper_tail(0, 10, 0.3) == 1.0 and binomial_upper_tail(11, 10, 0.3) == 0.0
    assert binomial_upper_tail(3, 10, 0.0) == 0.0 and binomial_upper_tail(3, 10, 1.0) == 1.0
    p, n = 7.629e-6, 10_000  # P(X >= 1) = 1 − (1 − p)^n
    assert binomial_upper_tail(1, n, p) == pytest.approx(-math.expm1(n * math.log1p(-p)), rel=1e-12)
    # a million fair coins: P(X >= 500,300) against the normal tail with continuity correction, z = 0.5994
    tail = 0.5 * math.erfc((500_300 - 0.5 - 500_000) / math.sqrt(250_000) / math.sqrt(2))
    assert binomial_upper_tail(500_300, 1_000_000, 0.5) == pytest.approx(tail, rel=2e-3)


def test_exceeds_bound_is_the_one_sided_test() -> None:
    assert not exceeds_bound(1, 10_000, 7.629e-6)  # 7 %: chance
    assert exceeds_bound(5, 10_000, 7.629e-6)  # < 1e-12
    assert not exceeds_bound(0, 10_000, 0.1) and not exceeds_bound(5, 0, 0.1)
    assert not exceeds_bound(1_050, 10_000, 0.1)  # 10.5 %: z = 1.67, one-sided p = 0.05 > 0.025
    assert exceeds_bound(1_070, 10_000, 0.1)  # z = 2.33, p = 0.01
