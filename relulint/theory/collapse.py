"""Born-dead probabilities from ``collapse`` (Lu, Su, Karniadakis, "Collapse of deep and narrow neural nets").

Layer count: every function here counts **ReLU (hidden) layers** (``relulint.theory.layers``), which is the
count of ``collapse`` Thm 8 and Eq. 5: pass the widths of the layers that are followed by a ReLU, including the
last layer only if it has a ReLU too.

What is here:

* :func:`p_born_dead_upper` -- Thm 8 (= ``dying`` Thm 3.2): ``1 - prod_l (1 - 2^-N_l)``.  For a *fixed* nonzero
  input and bias-free symmetric init this is the *exact* probability that the output is zero; as a probability
  of being born dead on a whole input set (a constant function) it is an *upper bound*.
* :func:`max_safe_depth`, :func:`min_safe_width` -- Eq. 5 and its inverse in the width.
* The width-2 Markov chain of Prop. 10 / Appendix J (:func:`width2_transition_matrix`,
  :func:`width2_initial_distribution`, :func:`p_collapse_width2`).
* The length map Eq. 2-3 (:func:`signal_length_factor`, :func:`signal_length`) and PyTorch's default
  ``nn.Linear`` variances (:func:`pytorch_default_linear_sigma_w2`, :func:`pytorch_default_linear_sigma_b2`).

The width-2 chain (Prop. 10, Appendix J) -- how the matrix is derived
---------------------------------------------------------------------
The printed 16 x 16 matrix of Appendix J is garbled (rows are shifted and truncated), so the matrix is *derived
in code* from the case rules of the appendix.  Bias-free, ``d_in = 1``, width 2: by positive homogeneity the
hidden layer ``l`` is ``h_l(x) = x u_l`` for ``x > 0`` and ``|x| v_l`` for ``x < 0`` with ``u_l, v_l`` in the
closed positive quadrant, so it is fixed by ``(u_l, v_l) = (h_l(1), h_l(-1))``.  A *state* records which of the
two units are nonzero on each side: the side pattern is one of ``both, unit 1 only, unit 2 only, none`` and the
state number (the paper's case number) is ``4 * plus_pattern + minus_pattern + 1``: case (1) = both units live
on both sides, case (4) = both live for ``x > 0`` and nothing for ``x < 0``, case (7) = unit 1 for ``x > 0`` and
unit 2 for ``x < 0``, ..., case (16) = the zero function, which is absorbing.

One more layer with weight rows ``a_1, a_2``: unit ``i`` is live on the + side iff ``a_i . u > 0`` and on the
- side iff ``a_i . v > 0``; the rows are independent, so a transition probability is a product of two per-unit
probabilities.  If one side is already zero the other side's unit is live with probability 1/2 (sign symmetry,
exact for any symmetric law).  If both sides are nonzero and the weights are rotation invariant (Gaussian),
with ``alpha`` the angle between ``u`` and ``v`` (in ``[0, pi/2]``) and ``r = alpha / (2 pi)``::

    P(live on both) = P(dead on both) = 1/2 - r,   P(live on + only) = P(live on - only) = r.

Appendix J then *assumes* the direction of a side vector with two live units is uniform on the quadrant and
independent of the other side (its integrals over ``theta`` and ``psi``).  That gives ``E[r], E[r^2]`` =
``1/12, 1/96`` when both sides have two live units (``r = |U - U'| / 4``), ``1/8, 1/48`` when one side has two
and the other one (``r = U / 4``), and ``r = 0`` or ``1/4`` when both sides have a single live unit (the same
unit or different units).  These reproduce every number printed in the appendix: 17/96, 1/32, 1/96 (from case
1), 7/48, 1/24, 1/48 (from case 2) and 1/4, 1/16 (cases 4, 6, 7).  The matrix is column-stochastic,
``P[j, i] = P(next layer in case j+1 | this layer in case i+1)`` and ``pi^L = P^(L-1) pi^1`` (Eq. 4), with
``pi^1`` = 1/4 on cases (4), (7), (10), (13) (each first-layer unit is live on exactly one side).

Exactness, and what Monte Carlo says.  For Gaussian weights the uniform-angle assumption holds exactly for
layers 1 and 2 (a layer-2 side vector with two live units is a column of the Gaussian weight matrix
conditioned to be positive), so ``p_collapse_width2(L)`` is *exact for L <= 3* (and for ``L <= 2`` under
*any* symmetric law: only signs matter; ``p_collapse_width2(2) = 5/32``).  From layer 3 on the same weight
matrix acts on ``u`` and ``v``, which correlates their directions (ReLU layers contract the angle between
``u`` and ``v``), so the states are *not exactly Markov* with these transition probabilities and the chain is
an approximation for ``L >= 4``.

Monte Carlo of real width-2 nets (``tests/theory/mc.py``; 2,000,000 Gaussian nets, D = {-1, +1}, see
:data:`WIDTH2_CHAIN_VS_MC`): the chain agrees within sampling error for ``L <= 3`` (where it is exact) and is
*slightly low* from ``L = 4`` on -- real nets die a little more often: by 0.0024 at L = 4, 0.005 at L = 5,
0.006-0.007 at L = 6-10 (20-28 standard errors at this sample size), 0.002 at L = 15, 0.0006 at L = 20 and
0.00004 at L = 30, shrinking as both tend to 1.  So ``collapse`` Fig. 6A's "numerics match" holds to within
one percentage point, not exactly.  Uniform weights give the same Monte-Carlo numbers within sampling error
(their angle law differs, so the chain is not exact for them either).  Monte Carlo always lies between the
``dying`` Thm 3.3 lower bound and the Thm 8 upper bound.  The chain stays below the Thm 8 upper bound at every
depth but drops *below the rigorous Thm 3.3 lower bound* for ``L >= 13`` (by up to 3.4e-4, at L = 16) --
further evidence that it underestimates.  Callers that want a number that is never below a proven bound can
use ``max(p_collapse_width2(L), p_born_dead_lower_din1(L, 2))``; neither is exact for ``L >= 4``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

__all__ = [
    "DEPTH_CAP",
    "WIDTH2_CASES",
    "WIDTH2_CHAIN_VS_MC",
    "log_p_born_dead_upper",
    "max_safe_depth",
    "min_safe_width",
    "p_born_dead_upper",
    "p_collapse_width2",
    "p_collapse_width2_exact",
    "pytorch_default_linear_sigma_b2",
    "pytorch_default_linear_sigma_w2",
    "signal_length",
    "signal_length_factor",
    "width2_initial_distribution",
    "width2_transition_matrix",
    "width2_transition_matrix_exact",
]

#: The largest depth :func:`max_safe_depth` returns: wider layers give bounds beyond any real network
#: (width >= ~67 at p = 1 %, or widths so large that ``2^-N`` underflows a double).
DEPTH_CAP: int = 10**18

_LN2 = math.log(2.0)


# --------------------------------------------------------------------------------------------------------------
# Theorem 8 / Eq. 5
# --------------------------------------------------------------------------------------------------------------


def _check_width(width: int, what: str = "width") -> int:
    if isinstance(width, bool) or int(width) != width or width < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {width!r}")
    return int(width)


def _check_probability(p: float, what: str = "p") -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"{what} must be a probability in [0, 1], got {p!r}")
    return p


def _log1m_pow2(width: int) -> float:
    """``log(1 - 2^-width)``, accurate for every width (0.0 once ``2^-width`` underflows)."""
    return math.log1p(-math.ldexp(1.0, -width))


def _p_upper_log_survival(counts: Counter[int]) -> float:
    """``sum_l log(1 - 2^-N_l)`` grouped by width, so uniform and listed widths round identically."""
    return math.fsum(float(c) * _log1m_pow2(n) for n, c in sorted(counts.items()))


def _p_upper_uniform(width: int, depth: int) -> float:
    """Thm 8 for ``depth`` ReLU layers of one width; the same arithmetic as :func:`p_born_dead_upper`."""
    if depth <= 0:
        return 0.0
    return -math.expm1(_p_upper_log_survival(Counter({width: depth})))


def p_born_dead_upper(hidden_widths: Sequence[int]) -> float:
    """Upper bound on the born-dead probability: ``collapse`` Thm 8 (= ``dying`` Thm 3.2, Eq. 3.3).

    ``1 - prod_l (1 - 2^-N_l)`` over the widths ``N_l`` of the layers that are followed by a ReLU (count: ReLU
    layers; include the last layer only if it has a ReLU too -- Thm 8's two cases).  For bias-free networks
    with weights from any symmetric nonzero laws this is *exactly* the probability that the output at one
    fixed nonzero input is zero; it bounds the probability of being constant on an input set (born dead,
    ``dying`` Eq. 3.1) from above, and ``dying`` Thm 3.2 shows it also bounds it when biases are symmetric.

    Computed as ``-expm1(sum log1p(-2^-N_l))``: relative accuracy ~1e-15 even for tiny values (width 64 and 100
    layers give ~5.4e-18, not 0).  The value underflows to 0.0 only when the true probability is below the
    smallest double (widths beyond ~1000); use :func:`log_p_born_dead_upper` there.  No layers -> 0.0.
    """
    counts = Counter(_check_width(n, "every hidden width") for n in hidden_widths)
    if not counts:
        return 0.0
    return max(0.0, -math.expm1(_p_upper_log_survival(counts)))  # never -0.0 (it printed as "-0.0 %")


def log_p_born_dead_upper(hidden_widths: Sequence[int]) -> float:
    """Natural log of :func:`p_born_dead_upper` (``collapse`` Thm 8), finite for any widths (count: ReLU layers).

    Useful for very wide layers where the probability itself is below the smallest double (width 4096:
    ``log p ~ -4096 ln 2``).  No layers -> ``-inf``.
    """
    counts = Counter(_check_width(n, "every hidden width") for n in hidden_widths)
    if not counts:
        return -math.inf
    # S = sum_l -log(1 - 2^-N_l) > 0; p = 1 - exp(-S).  Work with log S to survive underflow.
    log_terms = []
    for n, c in counts.items():
        if n <= 1000:
            log_t = math.log(-_log1m_pow2(n))
        else:  # -log(1 - x) = x (1 + x/2 + ...) with x = 2^-n far below double precision
            log_t = -n * _LN2
        log_terms.append(math.log(c) + log_t)
    m = max(log_terms)
    log_s = m + math.log(math.fsum(math.exp(t - m) for t in log_terms))
    s = math.exp(log_s)
    if s < 1e-8:  # log(1 - e^-S) = log S + log1p(-S/2 + S^2/6 - ...)
        return log_s + math.log1p(-s / 2.0 + s * s / 6.0)
    return math.log(-math.expm1(-s))


def max_safe_depth(width: int, p: float) -> int:
    """Largest number of ReLU layers of width ``N`` whose Thm 8 bound stays ``<= p``: ``collapse`` Eq. 5.

    ``L <= ln(1 - p) / ln(1 - 2^-N)`` (count: ReLU layers, as in Eq. 5 and Thm 8), floored, then corrected
    against :func:`p_born_dead_upper` so that ``p_born_dead_upper([N] * L) <= p`` and
    ``p_born_dead_upper([N] * (L + 1)) > p`` hold as computed (exact boundaries included; for ``L`` beyond
    ``2^53`` only to double resolution).  ``p = 0`` -> 0; ``p = 1``, or a bound beyond :data:`DEPTH_CAP`
    (``10**18``; e.g. width >= ~67 at p = 1 %), -> :data:`DEPTH_CAP`.
    """
    width = _check_width(width)
    p = _check_probability(p)
    if p == 0.0:
        return 0
    if p == 1.0:
        return DEPTH_CAP
    log_q = _log1m_pow2(width)
    if log_q == 0.0:
        return DEPTH_CAP
    ratio = math.log1p(-p) / log_q
    if ratio >= DEPTH_CAP:
        return DEPTH_CAP
    depth = int(math.floor(ratio))
    for _ in range(8):
        if depth < DEPTH_CAP and _p_upper_uniform(width, depth + 1) <= p:
            depth += 1
        else:
            break
    for _ in range(8):
        if depth > 0 and _p_upper_uniform(width, depth) > p:
            depth -= 1
        else:
            break
    return depth


def min_safe_width(depth: int, p: float) -> int:
    """Smallest width ``N`` whose Thm 8 bound for ``depth`` ReLU layers is ``<= p``: Eq. 5 solved for N.

    ``1 - (1 - 2^-N)^L <= p  <=>  N >= -log2(1 - (1 - p)^(1/L))`` (``collapse`` Eq. 5; count: ReLU layers).
    Computed with ``expm1/log1p``, ceiled, then corrected by +-1 against :func:`p_born_dead_upper` so that
    ``p_born_dead_upper([N] * depth) <= p < p_born_dead_upper([N - 1] * depth)`` (for ``N > 1``).
    ``depth = 0`` or ``p = 1`` -> 1.  ``p = 0`` with ``depth >= 1`` has no answer: ValueError.
    """
    if isinstance(depth, bool) or int(depth) != depth or depth < 0:
        raise ValueError(f"depth must be an integer >= 0 (ReLU layers), got {depth!r}")
    depth = int(depth)
    p = _check_probability(p)
    if depth == 0 or p == 1.0:
        return 1
    if p == 0.0:
        raise ValueError("no finite width has born-dead probability 0 (p must be > 0)")
    gap = -math.expm1(math.log1p(-p) / depth)  # 1 - (1 - p)^(1/L) > 0
    width = max(1, math.ceil(-math.log2(gap)))
    while width > 1 and _p_upper_uniform(width - 1, depth) <= p:
        width -= 1
    while _p_upper_uniform(width, depth) > p:
        width += 1
    return width


# --------------------------------------------------------------------------------------------------------------
# Proposition 10 / Appendix J: the width-2 chain
# --------------------------------------------------------------------------------------------------------------

# side patterns in the paper's order: both units live, unit 1 only, unit 2 only, none
_PATTERNS: tuple[frozenset[int], ...] = (frozenset({0, 1}), frozenset({0}), frozenset({1}), frozenset())
_PATTERN_NAMES = ("units 1,2", "unit 1", "unit 2", "none")

#: ``WIDTH2_CASES[k]`` describes the paper's case ``(k + 1)`` (state index ``k``): live units for x > 0 | x < 0.
WIDTH2_CASES: tuple[str, ...] = tuple(
    f"case ({4 * i + j + 1}): x>0 {_PATTERN_NAMES[i]} | x<0 {_PATTERN_NAMES[j]}"
    for i in range(4)
    for j in range(4)
)

# Per-unit type probabilities as polynomials c0 + c1 * r in r = alpha / (2 pi).
# Types: (live on + side, live on - side).
_Poly = tuple[Fraction, Fraction]


def _unit_type_polys(plus_live: bool, minus_live: bool) -> dict[tuple[bool, bool], _Poly]:
    half, zero, one = Fraction(1, 2), Fraction(0), Fraction(1)
    if plus_live and minus_live:
        return {
            (True, True): (half, -one),
            (True, False): (zero, one),
            (False, True): (zero, one),
            (False, False): (half, -one),
        }
    if plus_live:
        return {(True, False): (half, zero), (False, False): (half, zero)}
    if minus_live:
        return {(False, True): (half, zero), (False, False): (half, zero)}
    return {(False, False): (one, zero)}


def _angle_moments(plus: frozenset[int], minus: frozenset[int]) -> tuple[Fraction, Fraction]:
    """``(E[r], E[r^2])`` for ``r = angle(u, v) / (2 pi)`` under Appendix J's uniform-angle assumption."""
    if not plus or not minus:
        return Fraction(0), Fraction(0)  # r does not enter
    if len(plus) == 2 and len(minus) == 2:
        # r = |U - U'| / 4 with U, U' iid uniform on [0, 1]: E|U-U'| = 1/3, E|U-U'|^2 = 1/6
        return Fraction(1, 12), Fraction(1, 96)
    if len(plus) == 2 or len(minus) == 2:
        # one side along a unit axis, the other uniform in the quadrant: r = U / 4
        return Fraction(1, 8), Fraction(1, 48)
    if plus == minus:  # same single unit on both sides: u, v parallel
        return Fraction(0), Fraction(0)
    return Fraction(1, 4), Fraction(1, 16)  # different single units: u, v orthogonal


def width2_transition_matrix_exact() -> list[list[Fraction]]:
    """The Prop. 10 / Appendix J transition matrix of ``collapse`` as exact fractions (column-stochastic).

    ``P[j][i]`` = probability that the next ReLU layer is in case ``j + 1`` given this layer is in case
    ``i + 1`` (the paper's convention ``P_ji``).  Derived from the case rules (see the module docstring), not
    copied from the garbled printed matrix.  Count: one step = one more ReLU layer.
    """
    size = 16
    matrix = [[Fraction(0)] * size for _ in range(size)]
    for i in range(size):
        plus, minus = _PATTERNS[i // 4], _PATTERNS[i % 4]
        m1, m2 = _angle_moments(plus, minus)
        polys = _unit_type_polys(bool(plus), bool(minus))
        for t1, (a0, a1) in polys.items():
            for t2, (b0, b1) in polys.items():
                # E[(a0 + a1 r)(b0 + b1 r)]
                prob = a0 * b0 + (a0 * b1 + a1 * b0) * m1 + a1 * b1 * m2
                new_plus = frozenset(k for k, t in enumerate((t1, t2)) if t[0])
                new_minus = frozenset(k for k, t in enumerate((t1, t2)) if t[1])
                j = 4 * _PATTERNS.index(new_plus) + _PATTERNS.index(new_minus)
                matrix[j][i] += prob
    return matrix


def width2_transition_matrix() -> np.ndarray:
    """``collapse`` Prop. 10 / Appendix J 16 x 16 transition matrix ``P`` as floats (column-stochastic).

    ``P[j, i] = P(next ReLU layer in case j+1 | this layer in case i+1)``, so ``pi^(l+1) = P @ pi^l`` (Eq. 4).
    Columns sum to 1; case (16) (index 15, the zero function) is absorbing.  Count: one step = one ReLU layer.
    """
    return np.array([[float(x) for x in row] for row in width2_transition_matrix_exact()], dtype=float)


def width2_initial_distribution() -> np.ndarray:
    """``pi^1`` of ``collapse`` Prop. 10: the case distribution after the first ReLU layer (length 16).

    Bias-free, ``d_in = 1``: first-layer unit ``i`` computes ``ReLU(w_i x)``, live for ``x > 0`` iff
    ``w_i > 0`` and for ``x < 0`` otherwise, so each unit is live on exactly one side with probability 1/2:
    1/4 each on cases (4), (7), (10), (13).  Count: after 1 ReLU layer.
    """
    pi = np.zeros(16)
    pi[[3, 6, 9, 12]] = 0.25
    return pi


def _check_relu_layers(relu_layers: int) -> int:
    if isinstance(relu_layers, bool) or int(relu_layers) != relu_layers or relu_layers < 0:
        raise ValueError(f"relu_layers must be an integer >= 0, got {relu_layers!r}")
    return int(relu_layers)


def p_collapse_width2(relu_layers: int) -> float:
    """``collapse`` Prop. 10: probability that a width-2, ``d_in = 1``, bias-free ReLU net is born constant.

    The last component of ``pi^L = P^(L-1) pi^1`` (Eq. 4), ``L = relu_layers`` (count: ReLU layers of width 2).
    The same number applies to ``dying``'s (L+1)-layer net with L width-2 hidden layers and a linear output
    layer of any width (a linear read-out of a nonzero layer is a.s. nonconstant).  ``p_collapse_width2(2)`` is
    5/32.  Exact for ``relu_layers <= 3`` with Gaussian weights (``<= 2`` for any symmetric law); beyond
    that an approximation that is slightly low (Monte Carlo is up to ~0.007 higher, and for ``L >= 13`` the
    chain is even below ``dying`` Thm 3.3's lower bound; see the module docstring).  ``relu_layers = 0`` ->
    0.0 (a linear map).
    """
    n = _check_relu_layers(relu_layers)
    if n == 0:
        return 0.0
    pi = np.linalg.matrix_power(width2_transition_matrix(), n - 1) @ width2_initial_distribution()
    return float(min(1.0, max(0.0, pi[15])))


def p_collapse_width2_exact(relu_layers: int) -> Fraction:
    """:func:`p_collapse_width2` in exact rational arithmetic (``collapse`` Prop. 10; count: ReLU layers).

    ``p_collapse_width2_exact(2) == Fraction(5, 32)``.  Cost grows linearly in ``relu_layers``.
    """
    n = _check_relu_layers(relu_layers)
    if n == 0:
        return Fraction(0)
    matrix = width2_transition_matrix_exact()
    pi = [Fraction(0)] * 16
    for k in (3, 6, 9, 12):
        pi[k] = Fraction(1, 4)
    for _ in range(n - 1):
        pi = [sum((matrix[j][i] * pi[i] for i in range(16) if pi[i]), Fraction(0)) for j in range(16)]
    return pi[15]


#: Measured for this module (``tests/theory/mc.py``, Gaussian weights, 2,000,000 networks, D = {-1, +1}):
#: ``relu_layers -> (chain, Monte-Carlo estimate, standard error)``.
WIDTH2_CHAIN_VS_MC: dict[int, tuple[float, float, float]] = {
    1: (0.0, 0.0, 0.0),
    2: (0.15625, 0.15595, 0.00026),
    3: (0.34017, 0.34043, 0.00034),
    4: (0.49520, 0.49763, 0.00035),
    5: (0.61635, 0.62136, 0.00034),
    6: (0.70908, 0.71534, 0.00032),
    7: (0.77963, 0.78646, 0.00029),
    8: (0.83317, 0.83990, 0.00026),
    10: (0.90454, 0.91011, 0.00020),
    15: (0.97653, 0.97864, 0.00010),
    20: (0.99427, 0.99489, 0.00005),
    30: (0.99966, 0.99970, 0.00001),
}


# --------------------------------------------------------------------------------------------------------------
# Eq. 2-3: the length map (also ``dying`` Thm 4.3 with symmetric weights)
# --------------------------------------------------------------------------------------------------------------


def signal_length_factor(sigma_w2: float) -> float:
    """One ReLU layer's factor on the mean squared pre-activation length: ``sigma_w^2 / 2`` (``collapse`` Eq. 3).

    ``E[q^l] = sigma_w^2 / 2 * E[q^(l-1)] + sigma_b^2`` for weights of variance ``sigma_w^2 / fan_in``; He init
    (``sigma_w^2 = 2``) gives 1.  Count: per ReLU layer.
    """
    sigma_w2 = float(sigma_w2)
    if not sigma_w2 >= 0.0:
        raise ValueError(f"sigma_w2 must be >= 0, got {sigma_w2!r}")
    return sigma_w2 / 2.0


def signal_length(
    q0: float,
    sigma_w2s: Sequence[float],
    sigma_b2s: Sequence[float] | None = None,
    *,
    input_is_post_relu: bool = False,
) -> list[float]:
    """Expected pre-activation lengths ``[E[q^1], ..., E[q^L]]``: ``collapse`` Eq. 2-3 (``dying`` Thm 4.3, sym.).

    ``q^l = |h^l|^2 / N_l`` with ``h^l`` the pre-activation of layer ``l``; layer ``l`` has weights of variance
    ``sigma_w2s[l] / fan_in`` and biases of variance ``sigma_b2s[l]`` (default 0).  The first step is
    ``E[q^1] = sigma_w^2 q^0 + sigma_b^2`` (the input is not passed through a ReLU; ``q^0 = |x|^2 / d_in``); the
    later ones ``E[q^l] = sigma_w^2 / 2 E[q^(l-1)] + sigma_b^2``.  Set ``input_is_post_relu`` when ``q0`` is
    itself a ReLU layer's pre-activation length (e.g. the chain starts mid-network), so the first step halves
    too.  Exact for any width and any symmetric weight law (only the variances enter).  Count: one entry per
    affine layer ending in a ReLU (ReLU layers), or per affine layer if you pass the read-out too.
    """
    ws = [float(w) for w in sigma_w2s]
    bs = [0.0] * len(ws) if sigma_b2s is None else [float(b) for b in sigma_b2s]
    if len(bs) != len(ws):
        raise ValueError(f"sigma_w2s and sigma_b2s differ in length ({len(ws)} != {len(bs)})")
    if any(not w >= 0.0 for w in ws) or any(not b >= 0.0 for b in bs) or not float(q0) >= 0.0:
        raise ValueError("q0 and all variances must be >= 0")
    out: list[float] = []
    q = float(q0)
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        factor = w if (i == 0 and not input_is_post_relu) else w / 2.0
        q = factor * q + b
        out.append(q)
    return out


def pytorch_default_linear_sigma_w2() -> float:
    """``sigma_w^2 = fan_in * Var(w) = 1/3`` for PyTorch's default ``nn.Linear`` weights (for Eq. 2-3).

    ``reset_parameters`` uses ``kaiming_uniform_(a=sqrt(5))``: ``gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)``,
    ``bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)``, ``Var = bound^2 / 3 = 1 / (3 fan_in)``.  The length
    map factor per ReLU layer is then ``1/6`` (:func:`signal_length_factor`), far from He's 1.
    """
    a = math.sqrt(5.0)
    gain = math.sqrt(2.0 / (1.0 + a * a))
    bound_times_sqrt_fan_in = gain * math.sqrt(3.0)  # bound = gain * sqrt(3 / fan_in)
    return bound_times_sqrt_fan_in**2 / 3.0


def pytorch_default_linear_sigma_b2(fan_in: int) -> float:
    """``sigma_b^2 = 1 / (3 fan_in)`` for PyTorch's default ``nn.Linear`` bias ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    The variance of ``U(-c, c)`` is ``c^2 / 3``.  For ``collapse`` Eq. 2-3 / :func:`signal_length`.
    """
    fan_in = _check_width(fan_in, "fan_in")
    return 1.0 / (3.0 * fan_in)
