"""Inactive regions and restarts from ``nonconvergence`` (Cheridito, Jentzen, Rossmannek).

Layer count: the paper's architecture is ``a = (a_0, a_1, ..., a_D)`` with ``D`` affine maps and hidden layers
``1..D-1`` (so ``D`` is ``dying``'s ``L``).  relulint passes ReLU (hidden) layers: the hidden widths are
``a_1..a_(D-1)`` (``relulint.theory.layers``).

* Def. 3.1: the inactive region ``I_(a,j)`` of hidden layer ``j``: *every* weight and bias of layer ``j``
  (its ``a_j (a_(j-1) + 1)`` parameters) is negative.  For ``j >= 2`` the layer's input is a ReLU output
  (``>= 0``), so the layer outputs 0 for every input, and Lemma 3.4: gradient steps never leave ``I_(a,j)``.
  Layer 1 is excluded (``I_a`` is the union over ``j in (1, D)``): its input can be negative.
* Lemma 4.1: ``P(Theta in I_a) = 1 - prod_{j=2}^{D-1} (1 - prod_{i in layer j} P(theta_i < 0))`` for
  independent parameters -- :func:`p_inactive_region`.
* Lemma 4.1, Eq. 4.1 / 4.3: with ``n`` i.i.d. initialisations all of them start (and stay) inactive with
  probability ``P^n`` -- :func:`failure_after_restarts`, :func:`restarts_needed`.  (Prop. 4.2 then bounds
  the expected loss from below by ``P^n`` times a constant of the target, Eq. 4.4; it is not the ``P^n``.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "failure_after_restarts",
    "inactive_region_param_counts",
    "p_inactive_region",
    "restarts_needed",
]


def _check_probability(p: float, what: str) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], got {p!r}")
    return p


def inactive_region_param_counts(architecture: Sequence[int], *, bias: bool = True) -> list[int]:
    """Parameter counts of the layers that Lemma 4.1 ranges over, from ``a = (a_0, ..., a_D)``.

    ``nonconvergence`` Def. 3.1 / Lemma 4.1: hidden layers ``j = 2..D-1``, each with ``a_j (a_(j-1) + 1)``
    parameters (``a_j a_(j-1)`` if the layers have no bias).  ``architecture`` lists the input dimension,
    the hidden widths (ReLU layers) and the output dimension.  Fewer than 2 hidden layers -> ``[]``.
    """
    a = [int(x) for x in architecture]
    if any(x < 1 for x in a):
        raise ValueError(f"every layer size must be >= 1, got {list(architecture)!r}")
    extra = 1 if bias else 0
    return [a[j] * (a[j - 1] + extra) for j in range(2, len(a) - 1)]


def p_inactive_region(layer_param_counts: Sequence[int], p_negative: float | Sequence[float] = 0.5) -> float:
    """``nonconvergence`` Lemma 4.1 (Eq. 4.2): probability that an initialisation lies in the inactive set ``I_a``.

    ``1 - prod_j (1 - p_j^(k_j))`` where ``k_j`` is the number of parameters (weights and biases) of hidden
    layer ``j`` for ``j = 2..D-1`` -- the layers *after the first* hidden layer, see
    :func:`inactive_region_param_counts` (count: ReLU layers after the first) -- and ``p_j`` is the probability
    that one of its parameters is negative (``1/2`` for any continuous symmetric law; a layer in which some
    parameter is never negative, like RAI's positive entry in every row, has ``p_j = 0``).  ``p_negative`` is
    one number for all layers or one per layer.  Parameters must be independent (the lemma's assumption).

    Computed in log space: ``p_j^(k_j)`` underflows to 0 only when it is below the smallest (subnormal)
    double ~5e-324 (a 64 x 65 layer at ``p = 1/2`` gives ``2^-4160``); the result is then the true value
    rounded to a double.
    """
    counts = [int(k) for k in layer_param_counts]
    if any(k < 1 for k in counts):
        raise ValueError("every layer must have at least one parameter")
    if isinstance(p_negative, (int, float)):
        ps = [_check_probability(p_negative, "p_negative")] * len(counts)
    else:
        ps = [_check_probability(p, "every p_negative") for p in p_negative]
        if len(ps) != len(counts):
            raise ValueError(f"need one p_negative per layer ({len(counts)}), got {len(ps)}")
    log_survival = 0.0
    for k, p in zip(counts, ps, strict=True):
        if p == 0.0:
            continue
        if p == 1.0:
            return 1.0
        q = math.exp(k * math.log(p))  # P(all k parameters of this layer negative)
        log_survival += math.log1p(-q)
    # -expm1(0.0) is -0.0 (no layer can be inactive): report +0.0, and never leave [0, 1] by rounding
    return min(1.0, max(0.0, -math.expm1(log_survival))) + 0.0


def failure_after_restarts(p_fail: float, n: int) -> float:
    """``p_fail ** n``: probability that all ``n`` i.i.d. initialisations fail (``nonconvergence`` Lemma 4.1, Eq. 4.3).

    ``n`` counts initialisations (the first one included); ``n = 0`` -> 1.  No layer count involved.
    """
    p = _check_probability(p_fail, "p_fail")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    return p ** int(n)


def restarts_needed(p_fail: float, confidence: float = 0.99) -> int | None:
    """Smallest number ``n`` of i.i.d. initialisations with ``p_fail^n <= 1 - confidence`` (``nonconvergence`` Lemma 4.1, Eq. 4.3).

    ``n = ceil(log(1 - confidence) / log(p_fail))`` checked against :func:`failure_after_restarts`; ``n``
    counts initialisations, the first one included.  ``p_fail = 0`` -> 1; ``p_fail = 1`` -> ``None`` (no
    number of restarts helps).  ``confidence`` must be in ``(0, 1)``.  No layer count involved.
    """
    p = _check_probability(p_fail, "p_fail")
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    target = 1.0 - c
    if p == 1.0:
        return None
    if p <= target:
        return 1
    n = max(1, math.ceil(math.log(target) / math.log(p)))
    while n > 1 and failure_after_restarts(p, n - 1) <= target:
        n -= 1
    while failure_after_restarts(p, n) > target:
        n += 1
    return n
