"""Tests for relulint.theory.nonconvergence: Def. 3.1, Lemma 4.1, Prop. 4.2."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from relulint.theory.nonconvergence import (
    failure_after_restarts,
    inactive_region_param_counts,
    p_inactive_region,
    restarts_needed,
)

sys.path.insert(0, str(Path(__file__).parent))
from mc import tolerance  # noqa: E402


def test_param_counts() -> None:
    # a = (1, 2, 3, 2, 1): hidden layers 1..3; Lemma 4.1 uses j = 2, 3 with a_j (a_(j-1) + 1) parameters
    assert inactive_region_param_counts([1, 2, 3, 2, 1]) == [3 * 3, 2 * 4]
    assert inactive_region_param_counts([1, 2, 3, 2, 1], bias=False) == [6, 6]
    assert inactive_region_param_counts([4, 8, 1]) == []  # one hidden layer: I_a is empty
    with pytest.raises(ValueError):
        inactive_region_param_counts([1, 0, 1])


def test_lemma41_formula() -> None:
    assert p_inactive_region([]) == 0.0
    assert p_inactive_region([3]) == pytest.approx(1 / 8)
    assert p_inactive_region([3, 6, 4]) == pytest.approx(1 - (1 - 2**-3) * (1 - 2**-6) * (1 - 2**-4))
    assert p_inactive_region([2, 2], [0.3, 0.8]) == pytest.approx(1 - (1 - 0.09) * (1 - 0.64))
    assert p_inactive_region([5, 5], [0.0, 0.5]) == pytest.approx(2**-5)  # a layer that can never be inactive
    assert p_inactive_region([5], 1.0) == 1.0
    # the paper's lower bound 1 - (1 - p^(W(W+1)))^(D-2) (Eq. 4.1); a = (1, 2, 2, 2, 1): D = 4, W = 2 (equality)
    counts = inactive_region_param_counts([1, 2, 2, 2, 1])
    assert p_inactive_region(counts) == pytest.approx(1 - (1 - 0.5 ** (2 * 3)) ** (4 - 2))
    counts = inactive_region_param_counts([3, 4, 2, 3, 1])  # D = 4, W = 4: the bound is loose
    assert p_inactive_region(counts) >= 1 - (1 - 0.5 ** (4 * 5)) ** (4 - 2)
    # tiny values stay positive; huge layers underflow to the true value rounded to a double
    assert p_inactive_region([100] * 10) == pytest.approx(10 * 2.0**-100, rel=1e-12)
    assert p_inactive_region([32 * 33]) == pytest.approx(2.0**-1056, rel=1e-3)  # subnormal, still > 0
    assert p_inactive_region([64 * 65]) == 0.0  # 2^-4160: below the smallest double
    with pytest.raises(ValueError):
        p_inactive_region([3, 3], [0.5])


def test_lemma41_monte_carlo() -> None:
    """Sample independent symmetric parameters of a = (1, 2, 1, 2, 1) and check the event of Def. 3.1 directly."""
    rng = np.random.default_rng(7)
    arch = [1, 2, 1, 2, 1]
    n = 200_000
    sizes = [arch[j] * (arch[j - 1] + 1) for j in range(1, len(arch))]  # every affine layer
    params = [rng.standard_normal((n, k)) for k in sizes]
    # I_a: some hidden layer j in 2..D-1 (index j-1 here) has all parameters negative
    inactive = np.zeros(n, dtype=bool)
    for j in range(2, len(arch) - 1):
        inactive |= np.all(params[j - 1] < 0, axis=1)
    p = p_inactive_region(inactive_region_param_counts(arch))
    assert abs(inactive.mean() - p) <= tolerance(p, n)


def test_inactive_layer_makes_network_constant() -> None:
    """Lemma 3.2: if every parameter of a hidden layer j >= 2 is negative, the realisation is constant in x."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((50, 3)) * 5
    w1, b1 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    w2, b2 = -np.abs(rng.standard_normal((5, 4))), -np.abs(rng.standard_normal(5))
    w3, b3 = rng.standard_normal((1, 5)), rng.standard_normal(1)
    out = np.maximum(np.maximum(x @ w1.T + b1, 0) @ w2.T + b2, 0) @ w3.T + b3
    assert np.ptp(out) == 0.0


@pytest.mark.parametrize("p_fail", [1e-9, 0.001, 0.01, 0.05, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999999])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.99, 0.999])
def test_restarts_needed_brute_force(p_fail: float, confidence: float) -> None:
    n = restarts_needed(p_fail, confidence)
    assert n is not None
    brute = next(k for k in range(1, 10**8) if p_fail**k <= 1 - confidence)
    assert n == brute
    assert failure_after_restarts(p_fail, n) <= 1 - confidence
    if n > 1:
        assert failure_after_restarts(p_fail, n - 1) > 1 - confidence


def test_restarts_edges() -> None:
    assert restarts_needed(0.0) == 1
    assert restarts_needed(1.0) is None
    assert restarts_needed(0.01) == 1  # exactly at the boundary: 0.01 <= 1 - 0.99
    assert restarts_needed(0.7, 0.99) == 13
    assert failure_after_restarts(0.5, 0) == 1.0
    assert failure_after_restarts(0.5, 3) == 0.125
    with pytest.raises(ValueError):
        restarts_needed(0.5, 1.0)
    with pytest.raises(ValueError):
        restarts_needed(1.5)


def test_restarts_simulated() -> None:
    """Simulate Bernoulli(p_fail) initialisations: n = restarts_needed(...) all fail with frequency ~ p_fail^n."""
    rng = np.random.default_rng(9)
    p_fail, confidence = 0.6, 0.95
    n = restarts_needed(p_fail, confidence)
    assert n == math.ceil(math.log(0.05) / math.log(0.6)) == 6
    trials = 200_000
    all_fail = np.all(rng.random((trials, n)) < p_fail, axis=1).mean()
    p = failure_after_restarts(p_fail, n)
    assert abs(all_fail - p) <= tolerance(p, trials)
    assert all_fail <= 1 - confidence
    fewer = np.all(rng.random((trials, n - 1)) < p_fail, axis=1).mean()
    assert fewer > 1 - confidence


def test_no_possible_inactive_layer_gives_plus_zero() -> None:
    """-expm1(0.0) is -0.0: a chain whose layers can never be all negative must report +0.0, not -0.0."""
    for p in (0.0, [0.0, 0.0, 0.0]):
        value = p_inactive_region([6, 6, 6], p)
        assert value == 0.0 and math.copysign(1.0, value) == 1.0
        assert f"{value:.1e}" == "0.0e+00"  # what the old message printed as "-0.0e+00"
    assert p_inactive_region([], 0.5) == 0.0 and math.copysign(1.0, p_inactive_region([], 0.5)) == 1.0
    assert 0.0 <= p_inactive_region([1] * 50, 0.999999) <= 1.0
