"""Bounds and the RAI initialisation from ``dying`` (Lu, Shin, Su, Karniadakis, "Dying ReLU and Initialization").

Layer count: every public function takes **ReLU (hidden) layers** (relulint's one convention,
``relulint.theory.layers``).  The paper's theorems are stated for an "L-layer network" with L - 1 hidden ReLU
layers and a linear output layer (Eq. 2.1); the functions convert with
:func:`relulint.theory.layers.paper_layers_from_relu_layers` and each docstring says how.

* :func:`p_born_dead_lower_din1` -- Thm 3.3's explicit lower bound ``p_low(L, N)`` for ``d_in = 1``.
* :func:`width_for_depth_cor35` -- Cor. 3.5, ``N = log2(L / delta)``.
* :func:`beta_moments`, :func:`rai_sigma_w`, :func:`rai_weight_std` -- RAI's ``sigma_w`` from Eq. 4.2
  (Beta(2, 1) gives 0.6007, computed, not hard-coded).
* :func:`rai_upper_bound` -- Thm 4.1, which needs the data-dependent constants ``gamma_l`` as input.
* :func:`rai_length_map_coefficients` -- Thm 4.3 / Cor. 4.4, the RAI length-map coefficients.
* :func:`rai_entry_second_moment` -- the second moment of one entry of RAI's ``[W, b]`` (Thm 4.3's
  ingredient), from which the length map follows exactly up to the ReLU's share of ``E[h^2]``.
* The symmetric length map (``collapse`` Eq. 2-3, the ``gamma = 0`` case of Thm 4.3) lives in
  :mod:`relulint.theory.collapse` and is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext

from relulint.theory.collapse import (
    p_born_dead_upper,
    pytorch_default_linear_sigma_b2,
    pytorch_default_linear_sigma_w2,
    signal_length,
    signal_length_factor,
)
from relulint.theory.layers import paper_layers_from_relu_layers

__all__ = [
    "beta_moments",
    "p_born_dead_lower_din1",
    "pytorch_default_linear_sigma_b2",
    "pytorch_default_linear_sigma_w2",
    "rai_entry_second_moment",
    "rai_length_map_coefficients",
    "rai_sigma_w",
    "rai_upper_bound",
    "rai_weight_std",
    "signal_length",
    "signal_length_factor",
    "width_for_depth_cor35",
]


def _check_int(value: int, what: str, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def p_born_dead_lower_din1(relu_layers: int, width: int) -> float:
    """``dying`` Thm 3.3: the explicit lower bound ``p_low(L, N)`` on the born-dead probability for ``d_in = 1``.

    ``p_low(L, N) = 1 - a1^(L-2) + c (a2^(L-2) - a1^(L-2))`` with ``a1 = 1 - 2^-N``,
    ``a2 = 1 - 2^-(N-1) - (N-1) 4^-N`` and ``c = (1 - 2^-(N-1))(1 - 2^-N) / (1 + (N-1) 2^-N)``.  The paper's
    ``L`` counts layers as in Eq. 2.1 (L - 1 hidden ReLU layers), so ``L = relu_layers + 1`` and the exponent is
    ``relu_layers - 1`` (the proof's 3-state chain started after the first hidden layer).

    Range of validity (the theorem's hypotheses): ``d_in = 1``; every hidden layer of the same width ``N``;
    all biases zero; weights independent from continuous symmetric laws with
    ``P(<w, v1> > 0, <w, v2> < 0) <= 1/4`` for nonnegative ``v1, v2`` -- true for Gaussian (any rotation-
    invariant) rows; the output layer is linear (or has a ReLU: the bound is on some hidden layer dying).  The
    born-dead event is "constant on the training inputs" with D containing points on both sides of 0.

    Values: 0 for ``relu_layers <= 1`` (one hidden layer with ``d_in = 1`` is never constant), and exactly the
    true probability at ``relu_layers = 2`` (5/32 for ``N = 2``; for ``N = 1`` it is exact at every depth,
    ``1 - 2^-(relu_layers - 1)``).  Evaluated in decimal arithmetic with ``~0.6 N`` extra digits because the
    formula cancels (the result is of order ``4^-N`` while its terms are of order 1); it is accurate to double
    precision unless it underflows (below ~1e-308, for widths beyond ~500), where 0.0 is returned.
    """
    n = _check_int(relu_layers, "relu_layers", 0)
    big_n = _check_int(width, "width", 1)
    if n <= 1:
        return 0.0
    exponent = paper_layers_from_relu_layers(n) - 2  # the theorem's L - 2
    with localcontext() as ctx:
        ctx.prec = 40 + math.ceil(0.61 * big_n) + len(str(exponent))
        one = Decimal(1)
        x = one / (Decimal(2) ** big_n)  # 2^-N
        a1 = one - x
        a2 = one - 2 * x - (big_n - 1) * x * x
        c = (one - 2 * x) * (one - x) / (one + (big_n - 1) * x)
        a1k = a1**exponent
        a2k = a2**exponent if a2 != 0 else Decimal(0)
        p_low = one - a1k + c * (a2k - a1k)
    return min(1.0, max(0.0, float(p_low)))


def width_for_depth_cor35(relu_layers: int, delta: float) -> float:
    """``dying`` Cor. 3.5: the width ``N = log2(L / delta)`` that keeps the born-dead probability below ``delta``.

    The paper's ``L`` is its layer count (Eq. 2.1), ``L = relu_layers + 1``; the proof bounds
    ``1 - (1 - 2^-N)^(L-1) <= L 2^-N = delta``.  Returns the real number (ceil it for a width); it is
    conservative by about ``log2(L / (L - 1))`` plus the union bound's slack -- the exact smallest width for
    the Thm 3.2 bound is :func:`relulint.theory.collapse.min_safe_width`.
    """
    n = _check_int(relu_layers, "relu_layers", 0)
    delta = float(delta)
    if not 0.0 < delta <= 1.0:
        raise ValueError(f"delta must be in (0, 1], got {delta!r}")
    return math.log2(paper_layers_from_relu_layers(n) / delta)


def beta_moments(a: float, b: float) -> tuple[float, float]:
    """First two raw moments ``(E[X], E[X^2])`` of ``Beta(a, b)``: ``a/(a+b)`` and ``a(a+1)/((a+b)(a+b+1))``.

    For ``dying`` Eq. 4.2 (RAI uses ``P = Beta(2, 1)``: ``(2/3, 1/2)``).  No layer count involved.
    """
    a, b = float(a), float(b)
    if not (a > 0.0 and b > 0.0):
        raise ValueError(f"Beta parameters must be > 0, got a={a!r}, b={b!r}")
    s = a + b
    return a / s, a * (a + 1.0) / (s * (s + 1.0))


def rai_sigma_w(mean: float = 2.0 / 3.0, second_moment: float = 0.5) -> float:
    """``sigma_w`` of the randomised asymmetric initialisation: ``dying`` Eq. 4.2.

    ``sigma_w = sqrt(2) (-mu1 / sqrt(pi) + sqrt(mu1^2 / pi + 1 - mu2))`` from the first two moments
    ``mu1, mu2`` of the asymmetric law ``P`` on ``[0, M]``; it makes ``A_upp / 2 = N / (N + 1)`` in Cor. 4.4.
    The defaults are Beta(2, 1) (:func:`beta_moments`), which gives ``0.6007`` as in §4.3.  Fan-in convention
    (Thm 4.3, Appendix G): the Gaussian entries of a row have standard deviation ``sigma_w / sqrt(fan_in)``
    with ``fan_in = N_(l-1)`` the number of inputs (the bias is not counted) -- see :func:`rai_weight_std`.
    Requires ``mu2 < 1`` (the paper's assumption) and ``mu2 >= mu1^2``.  No layer count involved.
    """
    mu1, mu2 = float(mean), float(second_moment)
    if not mu1 >= 0.0:
        raise ValueError(f"mean of the asymmetric law must be >= 0, got {mu1!r}")
    if not mu1 * mu1 <= mu2 * (1.0 + 1e-12) + 1e-300:
        raise ValueError(f"second moment {mu2!r} is below mean^2 = {mu1 * mu1!r}")
    if not mu2 < 1.0:
        raise ValueError(f"Eq. 4.2 assumes a second moment < 1, got {mu2!r}")
    return math.sqrt(2.0) * (-mu1 / math.sqrt(math.pi) + math.sqrt(mu1 * mu1 / math.pi + 1.0 - mu2))


def rai_weight_std(fan_in: int, mean: float = 2.0 / 3.0, second_moment: float = 0.5) -> float:
    """Per-entry standard deviation ``sigma_w / sqrt(fan_in)`` of RAI's Gaussian entries (``dying`` Thm 4.3, App. G).

    ``sigma_l^2 = sigma_w^2 / N_(l-1)`` with ``N_(l-1) = fan_in`` the layer's number of inputs (Appendix G:
    ``np.random.randn(fan_out, fan_in + 1) * 0.6007 / fan_in ** 0.5``); ``sigma_w`` from :func:`rai_sigma_w`.
    """
    fan_in = _check_int(fan_in, "fan_in", 1)
    return rai_sigma_w(mean, second_moment) / math.sqrt(fan_in)


def rai_upper_bound(hidden_widths: Sequence[int], gammas: Sequence[float] | float) -> float:
    """``dying`` Thm 4.1: ``1 - prod_{l=1}^{L-1} (1 - (1/2 - gamma_l)^N_l)`` under RAI (count: ReLU layers).

    ``hidden_widths`` are the widths ``N_1..N_(L-1)`` of the hidden ReLU layers (the paper's ``L - 1``).  The
    theorem fixes ``gamma_1 = 0`` (the first layer is He-initialised) and only asserts that the other
    ``gamma_l`` exist in ``(0, 0.5]``, depending on the widths and on the training inputs -- it gives no
    formula, so the bound is not computable from the architecture alone.  Pass ``gammas`` for layers
    ``2..L-1`` (one per hidden layer after the first, or one number for all of them, each in ``[0, 0.5]``);
    ``gammas = 0`` gives back Thm 3.2 (:func:`relulint.theory.collapse.p_born_dead_upper`), which is therefore
    also a valid -- looser -- bound under RAI.  (The proof in Appendix E writes the exponent as ``N_(j-1)``
    where the statement has ``N_l``; the statement's form is used.)
    """
    widths = [_check_int(w, "every hidden width", 1) for w in hidden_widths]
    if not widths:
        return 0.0
    rest = len(widths) - 1
    gs = [float(gammas)] * rest if isinstance(gammas, (int, float)) else [float(g) for g in gammas]
    if len(gs) != rest:
        raise ValueError(f"need {rest} gammas (layers 2..{len(widths)}; gamma_1 = 0 is fixed), got {len(gs)}")
    if any(not 0.0 <= g <= 0.5 for g in gs):
        raise ValueError("every gamma must be in [0, 0.5]")
    if all(g == 0.0 for g in gs):
        return p_born_dead_upper(widths)
    log_survival = math.log1p(-math.ldexp(1.0, -widths[0]))
    for g, w in zip(gs, widths[1:], strict=True):
        q = (0.5 - g) ** w  # underflow to 0 only when the term is negligible against 1
        log_survival += math.log1p(-q)
    return -math.expm1(log_survival)


def rai_length_map_coefficients(
    width: int, sigma_w: float, mean: float = 2.0 / 3.0, second_moment: float = 0.5
) -> tuple[float, float, float]:
    """``dying`` Cor. 4.4 (Thm 4.3 with equal widths): ``(A_low / 2, A_upp / 2, sigma_b^2)`` of RAI's length map.

    ``A_low/2 E[q^l] + sigma_b^2 <= E[q^(l+1)] <= A_upp/2 E[q^l] + sigma_b^2`` with
    ``sigma_b^2 = (mu2 + sigma_w^2) / (N + 1)``, ``A_low = N (mu2 + sigma_w^2) / (N + 1)`` and
    ``A_upp = N (sigma_w^2 + 2 sqrt(2/pi) mu1 sigma_w + 2 mu2) / (N + 1)``.  With ``sigma_w`` from
    :func:`rai_sigma_w`, ``A_upp / 2 = N / (N + 1)``.  ``width`` is the common hidden width ``N`` (per ReLU
    layer).  The corollary assumes ``mu1 >= M / 2`` for the law's support ``[0, M]``.
    """
    n = _check_int(width, "width", 1)
    s, mu1, mu2 = float(sigma_w), float(mean), float(second_moment)
    sigma_b2 = (mu2 + s * s) / (n + 1)
    a_low = n * (mu2 + s * s) / (n + 1)
    a_upp = n * (s * s + 2.0 * math.sqrt(2.0 / math.pi) * mu1 * s + 2.0 * mu2) / (n + 1)
    return a_low / 2.0, a_upp / 2.0, sigma_b2


def rai_entry_second_moment(
    fan_in: int, sigma_w: float, second_moment: float = 0.5, *, bias: bool = True
) -> float:
    """``E[v^2]`` of every entry of one RAI row ``v = [w, b]`` (``dying`` §4.1, Appendix G; Thm 4.3).

    One of the ``C = fan_in + 1`` columns (``fan_in`` without a bias), uniform, holds ``X ~ P`` with
    ``E[X^2] = mu2``; the others are ``N(0, sigma_w^2 / fan_in)``.  So every entry has
    ``mu2 / C + (C - 1) / C * sigma_w^2 / fan_in``, which with a bias is ``(mu2 + sigma_w^2) / (fan_in + 1)``
    -- the ``sigma_b^2`` of Cor. 4.4.  Two entries of a row are uncorrelated (one of them is a centred
    Gaussian), so for an input ``z >= 0`` (a ReLU output) ``E[h^2] = E[v^2] (|z|^2 + 1_bias)`` exactly.
    """
    n = _check_int(fan_in, "fan_in", 1)
    s2, mu2 = float(sigma_w) ** 2, float(second_moment)
    if not (s2 >= 0.0 and mu2 >= 0.0):
        raise ValueError("sigma_w^2 and the second moment must be >= 0")
    columns = n + (1 if bias else 0)
    return mu2 / columns + (columns - 1) / columns * s2 / n
