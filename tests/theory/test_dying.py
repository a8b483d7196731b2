"""Tests for relulint.theory.dying (Thm 3.3, Cor 3.5, RAI Eq 4.2 / Thm 4.1 / Cor 4.4) and layers.py."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from relulint.theory.collapse import min_safe_width, p_born_dead_upper
from relulint.theory.dying import (
    beta_moments,
    p_born_dead_lower_din1,
    rai_length_map_coefficients,
    rai_sigma_w,
    rai_upper_bound,
    rai_weight_std,
    width_for_depth_cor35,
)
from relulint.theory.layers import paper_layers_from_relu_layers, relu_layers_from_paper_layers

sys.path.insert(0, str(Path(__file__).parent))
from mc import born_dead_din1, tolerance  # noqa: E402

# ---------------------------------------------------------------------------------------------- layers


def test_layer_conventions() -> None:
    assert relu_layers_from_paper_layers(10) == 9  # dying Eq. 2.1: a 10-layer net has 9 hidden layers
    assert paper_layers_from_relu_layers(9) == 10
    for n in range(0, 50):
        assert relu_layers_from_paper_layers(paper_layers_from_relu_layers(n)) == n
    with pytest.raises(ValueError):
        relu_layers_from_paper_layers(0)
    with pytest.raises(ValueError):
        paper_layers_from_relu_layers(-1)


# ---------------------------------------------------------------------------------------------- Thm 3.3


def _p_low_fraction(relu_layers: int, width: int) -> Fraction:
    """Thm 3.3's formula in exact rational arithmetic (L = relu_layers + 1)."""
    k = relu_layers - 1  # L - 2
    x = Fraction(1, 2**width)
    a1 = 1 - x
    a2 = 1 - 2 * x - (width - 1) * x * x
    c = (1 - 2 * x) * (1 - x) / (1 + (width - 1) * x)
    return 1 - a1**k + c * (a2**k - a1**k)


@pytest.mark.parametrize("width", [1, 2, 3, 5, 10, 30, 64, 150])
@pytest.mark.parametrize("relu_layers", [2, 3, 5, 20, 60])
def test_p_low_matches_exact_rational(width: int, relu_layers: int) -> None:
    exact = float(_p_low_fraction(relu_layers, width))
    assert p_born_dead_lower_din1(relu_layers, width) == pytest.approx(exact, rel=1e-13, abs=0.0)
    assert p_born_dead_lower_din1(relu_layers, width) > 0.0


def test_p_low_special_values() -> None:
    assert p_born_dead_lower_din1(0, 3) == 0.0
    assert p_born_dead_lower_din1(1, 3) == 0.0  # one hidden layer with d_in = 1 is never constant
    assert p_born_dead_lower_din1(2, 2) == pytest.approx(5 / 32, rel=1e-15)
    for n in range(1, 12):  # width 1: exact, 1 - 2^-(n-1)
        assert p_born_dead_lower_din1(n, 1) == pytest.approx(1 - 2.0 ** -(n - 1), rel=1e-15)
    # two hidden layers of width N: exact value 2^-(N-1) 2^-N + (1 - 2^-(N-1)) 4^-N ~ 3 * 4^-N, no cancellation
    for width in (8, 30, 100):
        exact = 2.0 ** -(2 * width - 1) + (1 - 2.0 ** -(width - 1)) * 4.0**-width
        assert p_born_dead_lower_din1(2, width) == pytest.approx(exact, rel=1e-13)
    assert p_born_dead_lower_din1(100, 4096) == 0.0  # ~1e-2462: below the smallest double
    assert p_born_dead_lower_din1(10**9, 3) == pytest.approx(1.0)


@pytest.mark.parametrize("width", [2, 3, 4])
def test_thm33_sandwich_monte_carlo(width: int) -> None:
    """p_low (Thm 3.3) <= Monte Carlo <= Thm 3.2 upper bound, d_in = 1, bias-free, D = {-1, +1}, depths 2..20."""
    n = 120_000
    p_hat = born_dead_din1(width, 20, n, np.random.default_rng(1000 + width))
    for depth in range(2, 21):
        lo = p_born_dead_lower_din1(depth, width)
        up = p_born_dead_upper([width] * depth)
        mc = p_hat[depth - 1]
        assert lo - tolerance(lo, n) <= mc <= up + tolerance(up, n), (width, depth, lo, mc, up)
    # where the bound is exact (two hidden layers) the estimate must agree two-sided
    lo2 = p_born_dead_lower_din1(2, width)
    assert abs(p_hat[1] - lo2) <= tolerance(lo2, n)


def test_dying_figure3_sentence() -> None:
    """``dying`` §3: "a 10-layer NN of width 10 has a probability of dying less than 1% whereas a 10-layer NN of
    width 5 has a probability of dying greater than 10%; for width of three the probability is about 60%".
    A 10-layer net in ``dying`` (Eq. 2.1) has 9 ReLU layers."""
    relu = relu_layers_from_paper_layers(10)
    assert p_born_dead_upper([10] * relu) < 0.01
    n = 40_000
    rng = np.random.default_rng(99)
    p3 = born_dead_din1(3, relu, n, rng)[-1]
    p5 = born_dead_din1(5, relu, n, rng)[-1]
    assert abs(p3 - 0.58) < 0.02  # "about 60%": measured 0.579
    assert p5 > 0.10 + tolerance(0.1, n)


# ---------------------------------------------------------------------------------------------- Cor 3.5


@pytest.mark.parametrize("relu_layers", [1, 2, 9, 50, 1000])
@pytest.mark.parametrize("delta", [0.5, 0.1, 0.01, 1e-4])
def test_cor35_width_is_safe(relu_layers: int, delta: float) -> None:
    width = width_for_depth_cor35(relu_layers, delta)
    assert width == pytest.approx(math.log2((relu_layers + 1) / delta))
    # the corollary's bound: with N = log2(L / delta) (real), 1 - (1 - 2^-N)^(L-1) <= delta
    assert -math.expm1(relu_layers * math.log1p(-(2.0**-width))) <= delta
    # and it is conservative compared with inverting Eq. 5 exactly
    assert math.ceil(width) >= min_safe_width(relu_layers, delta)


# ---------------------------------------------------------------------------------------------- RAI


def test_beta_moments() -> None:
    assert beta_moments(2, 1) == pytest.approx((2 / 3, 1 / 2))
    assert beta_moments(1, 1) == pytest.approx((1 / 2, 1 / 3))
    rng = np.random.default_rng(5)
    x = rng.beta(3.0, 2.0, 400_000)
    m1, m2 = beta_moments(3.0, 2.0)
    assert abs(x.mean() - m1) < 4 * x.std() / math.sqrt(x.size)
    assert abs((x**2).mean() - m2) < 4 * (x**2).std() / math.sqrt(x.size)


def test_rai_sigma_w_beta21() -> None:
    """``dying`` §4.3: P = Beta(2, 1) gives sigma_w = -2 sqrt(2) / (3 sqrt(pi)) + sqrt(1 + 8 / (9 pi)) ~ 0.6007."""
    sigma = rai_sigma_w(*beta_moments(2, 1))
    assert round(sigma, 4) == 0.6007
    assert sigma == pytest.approx(
        -2 * math.sqrt(2) / (3 * math.sqrt(math.pi)) + math.sqrt(1 + 8 / (9 * math.pi))
    )
    assert rai_sigma_w() == sigma
    # fan-in convention of Appendix G: per-entry std = 0.6007 / sqrt(fan_in)
    for fan_in in (1, 2, 10, 256):
        assert rai_weight_std(fan_in) * math.sqrt(fan_in) == pytest.approx(sigma)
    with pytest.raises(ValueError):
        rai_sigma_w(0.9, 1.2)  # Eq. 4.2 assumes mu2 < 1


@pytest.mark.parametrize("width", [1, 2, 5, 100])
@pytest.mark.parametrize("ab", [(2, 1), (1, 1), (5, 2)])
def test_rai_eq42_makes_length_map_stable(width: int, ab: tuple[float, float]) -> None:
    """Eq. 4.2 is chosen so that A_upp / 2 = N / (N + 1) in Cor. 4.4."""
    m1, m2 = beta_moments(*ab)
    low, upp, sb2 = rai_length_map_coefficients(width, rai_sigma_w(m1, m2), m1, m2)
    assert upp == pytest.approx(width / (width + 1))
    assert 0 < low <= upp
    assert sb2 > 0


def test_rai_upper_bound() -> None:
    widths = [2, 3, 4, 2]
    assert rai_upper_bound(widths, 0.0) == p_born_dead_upper(widths)  # gamma = 0: Thm 3.2
    assert rai_upper_bound(widths, [0.0, 0.0, 0.0]) == p_born_dead_upper(widths)
    assert rai_upper_bound(widths, 0.5) == pytest.approx(0.25)  # only gamma_1 = 0 remains
    values = [rai_upper_bound(widths, g) for g in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert values == sorted(values, reverse=True)
    g = [0.1, 0.2, 0.05]
    expected = 1 - (1 - 0.5**2) * (1 - 0.4**3) * (1 - 0.3**4) * (1 - 0.45**2)
    assert rai_upper_bound(widths, g) == pytest.approx(expected)
    assert rai_upper_bound([], []) == 0.0
    with pytest.raises(ValueError):
        rai_upper_bound(widths, [0.1])
    with pytest.raises(ValueError):
        rai_upper_bound(widths, 0.7)


def _rai_born_dead(width: int, relu_layers: int, n: int, rng: np.random.Generator, rai: bool) -> float:
    """Born-dead frequency on D = {-1, +1} for d_in = 1 nets with biases: RAI (App. G) or He with zero bias."""
    w1 = rng.standard_normal((n, width)) * math.sqrt(2.0)  # He, first layer, zero bias (both schemes)
    u, v = np.maximum(w1, 0.0), np.maximum(-w1, 0.0)
    sigma = rai_sigma_w()
    for _ in range(relu_layers - 1):
        if rai:
            big_v = rng.standard_normal((n, width, width + 1)) * sigma / math.sqrt(width)
            k = rng.integers(0, width + 1, (n, width))
            np.put_along_axis(big_v, k[..., None], rng.beta(2.0, 1.0, (n, width, 1)), axis=2)
            w, b = big_v[..., :-1], big_v[..., -1]
        else:
            w, b = rng.standard_normal((n, width, width)) * math.sqrt(2.0 / width), np.zeros((n, width))
        u = np.maximum(np.einsum("bij,bj->bi", w, u) + b, 0.0)
        v = np.maximum(np.einsum("bij,bj->bi", w, v) + b, 0.0)
    # constant on D (with a generic linear read-out) iff the last hidden layer agrees at both points
    return float(np.mean(np.all(u == v, axis=1)))


def test_rai_monte_carlo_below_symmetric_bound() -> None:
    """Thm 4.1 with gamma_l >= 0: RAI's born-dead probability is below Thm 3.2's bound, and (Fig. 4) far below He."""
    n, width, depth = 40_000, 2, 10
    rng = np.random.default_rng(41)
    p_rai = _rai_born_dead(width, depth, n, rng, rai=True)
    p_he = _rai_born_dead(width, depth, n, rng, rai=False)
    assert p_rai <= p_born_dead_upper([width] * depth)
    assert p_rai + tolerance(p_rai, n) + tolerance(p_he, n) < p_he
    assert abs(p_he - 0.910) < 0.01  # He = symmetric, bias-free: the width-2 value at 10 ReLU layers


def test_rai_entry_second_moment_closed_form_and_monte_carlo() -> None:
    """Every entry of a RAI row [w, b] has E[v²] = (μ₂ + σ_w²)/(fan_in + 1) (Cor. 4.4's σ_b²): checked
    against a numpy sampler of Appendix G written out here (one Beta(2, 1) entry per row, the rest normal)."""
    from relulint.theory.dying import rai_entry_second_moment, rai_sigma_w

    sigma_w = rai_sigma_w()
    for fan_in, bias in ((5, True), (5, False), (1, True), (16, True)):
        expected = rai_entry_second_moment(fan_in, sigma_w, 0.5, bias=bias)
        if bias:
            assert expected == pytest.approx((0.5 + sigma_w**2) / (fan_in + 1), rel=1e-12)
        rng = np.random.default_rng(fan_in)
        rows, cols = 200_000, fan_in + (1 if bias else 0)
        v = rng.standard_normal((rows, cols)) * sigma_w / np.sqrt(fan_in)
        v[np.arange(rows), rng.integers(0, cols, rows)] = np.sqrt(rng.uniform(size=rows))  # Beta(2, 1)
        column_means = (v**2).mean(0)
        se = (v**2).std(0) / np.sqrt(rows)
        assert np.all(np.abs(column_means - expected) <= 4 * se)
        z = rng.uniform(size=(rows, fan_in))  # a nonnegative input: E[h²] = E[v²] (|z|² + 1_bias)
        h = (v[:, :fan_in] * z).sum(1) + (v[:, fan_in] if bias else 0.0)
        target = expected * ((z**2).sum(1) + (1.0 if bias else 0.0))
        diff = h**2 - target
        assert abs(diff.mean()) <= 4 * diff.std() / np.sqrt(rows)
