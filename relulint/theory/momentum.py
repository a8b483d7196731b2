"""Gradient descent with momentum as a linear system, after ``momentum`` (Arnekvist, Carvalho, Kragic, Stork).

Pure math (``math`` / ``cmath`` only, no torch).  Paper key ``momentum`` (Arnekvist et al., *The effect of
target normalization and momentum on dying ReLU*; full reference in the README's References).

The paper's set-up (§3-4): targets ``y = Γᵀx + Δ`` with ``x ~ N(0, I)`` (Eq. 2-4) scaled to variance ``γ²``
by Eq. 1, the affine model ``ŷ = wᵀx + b`` (Eq. 8) and the MSE (Eq. 10).  The gradient is the error itself,
``∂L/∂w = a = w − Γ`` and ``∂L/∂b = c = b − Δ`` (Eq. 17-18): every coordinate is a quadratic of curvature 1.
With the update of Eq. 6-7,

    m ← β m + (1 − β) g,        θ ← θ − η m,

each (momentum, error) pair evolves by the constant matrix of Eq. 20,

    A = [[β, 1 − β], [−ηβ, 1 − η(1 − β)]],

and the error oscillates (changes sign again and again) exactly when A has complex eigenvalues: then
``a_t = r^t · C cos(tθ + φ)``.  With two positive real eigenvalues ``a_t`` is a sum of two decaying
exponentials and changes sign at most once; a negative real eigenvalue flips the sign every step (the
paper's "ripples", §4).  Small targets make this dangerous because the optimum ``(w, b) = (Γ, Δ)`` then lies
close to the dead cone ``b/‖w‖ < Φ⁻¹(ε)`` (Eq. 15, 23; :func:`in_dead_cone`), and the oscillation carries the
ReLU into it (§5).  The paper writes the cone as ``b/‖w‖ < −Φ⁻¹(ε)``, a sign slip: ``Φ(b/‖w‖) < ε`` (Eq. 15
with Eq. 23) is ``b/‖w‖ < Φ⁻¹(ε)``, a negative number for ε < 1/2 (the unit is dead when its bias is far
below zero); the slipped form would call a unit with ``b = 0`` dead.

This module derives A for the optimizers PyTorch users run.  ``curvature`` (λ) is the Hessian eigenvalue of
the coordinate; λ = 1 is the paper's model (unit-variance inputs).  Weight decay adds to λ.

* Paper / EMA form (:func:`ema_matrix`): the matrix of Eq. 20 (with ``λη`` for ``η``).  Characteristic
  polynomial ``z² − (1 + β − ηλ(1 − β)) z + β``: trace ``1 + β − ηλ(1 − β)``, determinant ``β``.  The
  eigenvalues are complex iff ``√β > |1 − ηλ| / (1 + ηλ)``, so the critical momentum is
  ``β_c = ((1 − η)/(1 + η))²`` (:func:`critical_beta`); at η = 0.1 that is 0.669 — the paper's "β ≈ 0.7"
  (§4, Fig. 2; §5 "complex eigenvalues for β > 0.7").
* PyTorch SGD (:func:`sgd_matrix`): ``buf ← μ buf + (1 − d) g``, ``θ ← θ − lr buf`` with state
  ``(buf, a)``: ``A = [[μ, (1 − d)λ], [−lr μ, 1 − lr(1 − d)λ]]``, trace ``1 + μ − h``, determinant ``μ``,
  with ``h = lr (1 − d) λ``.  Complex iff ``(√h − 1)² < μ < (√h + 1)²``, for every h > 0 (h ≥ 1 included:
  the threshold is then ``(√h − 1)²``, not 0; for h ≥ 4 no μ in [0, 1) oscillates).  The paper's form is the special
  case ``d = μ`` (then ``h = η(1 − β)λ``); PyTorch's default ``d = 0`` oscillates at much lower momentum:
  ``μ_c = (1 − √lr)²`` = 0.468 at lr = 0.1 (:func:`critical_momentum_sgd`).  PyTorch's first step sets
  ``buf = g`` (no dampening); that changes the initial state only, not A.
* PyTorch SGD with ``nesterov=True`` (:func:`nesterov_matrix`): the step is ``g + μ buf``, so
  ``a' = a − lr(λa + μ buf')`` and ``A = [[μ, (1 − d)λ], [−lr μ², 1 − lrλ(1 + μ(1 − d))]]``, determinant
  ``μ(1 − lrλ)``; with d = 0 (PyTorch requires it) trace ``(1 + μ)(1 − h)``.  Complex iff
  ``μ > k − √(k² − 1)`` with ``k = (1 + h)/(1 − h)`` (for h < 1).
* Adam / AdamW β1 (:func:`adam_matrix`): ``m`` is the paper's EMA with β = β1, but the step is
  ``lr · m̂ / (√v̂ + eps)``.  Adam is not a linear system: ``v`` (the EMA of g²) moves with the error.  The
  analysis **linearizes Adam with v held fixed**: for a frozen ``v``, A is exactly Eq. 20 with the
  *effective* step ``η = lr λ / (√v + eps)`` (:func:`adaptive_step`), and near the optimum, where the fit
  works at the scale of the targets, ``√v ≈ γ`` (on the paper's model the gradient *is* the error), so
  ``η ≈ lr/γ``.  Adam's step does not scale with the gradient — small targets make its steps large
  relative to γ.  Complex iff ``(1 − √β1)/(1 + √β1) < η < (1 + √β1)/(1 − √β1)`` (0.026 < η < 38 for
  β1 = 0.9); beyond the upper end the eigenvalue is real and negative (ripples).  Bias correction tends to
  1 and does not change A; AdamW's decoupled decay multiplies θ by ``1 − lr·wd`` (negligible at the
  defaults) and is ignored.

  What the frozen-v model does and does not predict for the real optimizer (tests/test_momentum.py runs
  the unmodified ``torch.optim.Adam``, default betas and eps, on the affine model started at the scale of
  the targets): where it says *oscillating* (e.g. lr = 1e-3, γ = 0.01: η = 0.1 > 0.026) the real error
  changes sign again and again, and faster than the frozen model's rotation angle, because ``v`` shrinks
  with the error and η grows.  The converse does not hold: a *calm* verdict (η below the band) is only
  the early phase — as the error decays, √v decays with it (β2 = 0.999 forgets in ~10³ steps), η climbs
  into the band, and real Adam ends up oscillating at a small amplitude too (γ = 0.1, lr = 1e-3: calm for
  ~350 steps, then oscillating).  The analysis is therefore a statement about the phase in which the fit
  is at the targets' scale — where the oscillation can carry a unit into the dead cone — not about the
  asymptotic tail.
* RMSprop with ``momentum`` (:func:`rmsprop_matrix`): ``buf ← μ buf + g/(√v + eps)``, ``θ ← θ − lr buf`` is
  PyTorch SGD (d = 0) with the effective step ``lr λ / (√v + eps)``; the same ``√v ≈ γ`` reasoning applies.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

__all__ = [
    "MomentumSystem",
    "OPTIMIZER_FORMS",
    "adam_matrix",
    "adaptive_step",
    "complex_band_ema",
    "complex_band_sgd",
    "critical_beta",
    "critical_momentum_nesterov",
    "critical_momentum_sgd",
    "dead_cone_threshold",
    "eigenvalues",
    "ema_matrix",
    "has_complex_eigenvalues",
    "in_dead_cone",
    "nesterov_matrix",
    "optimizer_system",
    "oscillates",
    "ripples",
    "rmsprop_matrix",
    "sgd_matrix",
]

Matrix = tuple[tuple[float, float], tuple[float, float]]

# relative tolerance on the discriminant: eigenvalues within it of a double root count as real
_TOL = 1e-12

# optimizer (lower-case PyTorch class name) -> which matrix models its momentum
OPTIMIZER_FORMS: dict[str, str] = {
    "sgd": "sgd",
    "adam": "adam",
    "adamw": "adam",
    "nadam": "adam",
    "radam": "adam",
    "adamax": "adam",
    "rmsprop": "rmsprop",
}


def _check(name: str, value: float, low: float, high: float, *, high_open: bool = True) -> float:
    value = float(value)
    ok = low <= value < high if high_open else low <= value <= high
    if not ok or math.isnan(value):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")
    return value


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


# ------------------------------------------------------------------------------------------ matrices


def ema_matrix(beta: float, eta: float, curvature: float = 1.0) -> Matrix:
    """``momentum`` Eq. 20: A for the paper's update Eq. 6-7 on state ``(m, a)``.

    ``m' = βm + (1 − β)λa``, ``a' = a − ηm'``.  With ``curvature`` λ = 1 this is the printed matrix.
    """
    b = _check("beta", beta, 0.0, 1.0)
    h = _positive("eta", eta) * _positive("curvature", curvature)
    lam = float(curvature)
    return ((b, (1.0 - b) * lam), (-eta * b, 1.0 - h * (1.0 - b)))


def sgd_matrix(lr: float, momentum: float, dampening: float = 0.0, curvature: float = 1.0) -> Matrix:
    """A for ``torch.optim.SGD`` (heavy ball, ``nesterov=False``) on state ``(buf, a)``.

    ``buf' = μ buf + (1 − d)λa``, ``a' = a − lr buf'``.  ``dampening = momentum`` gives ``momentum`` Eq. 20.
    """
    mu = _check("momentum", momentum, 0.0, 1.0)
    d = _check("dampening", dampening, 0.0, 1.0, high_open=False)
    lr, lam = _positive("lr", lr), _positive("curvature", curvature)
    return ((mu, (1.0 - d) * lam), (-lr * mu, 1.0 - lr * (1.0 - d) * lam))


def nesterov_matrix(lr: float, momentum: float, dampening: float = 0.0, curvature: float = 1.0) -> Matrix:
    """A for ``torch.optim.SGD(nesterov=True)``: step ``g + μ buf'`` instead of ``buf'``.

    ``buf' = μ buf + (1 − d)λa``, ``a' = a − lr(λa + μ buf') = −lr μ² buf + (1 − lrλ(1 + μ(1 − d))) a``.
    """
    mu = _check("momentum", momentum, 0.0, 1.0)
    d = _check("dampening", dampening, 0.0, 1.0, high_open=False)
    lr, lam = _positive("lr", lr), _positive("curvature", curvature)
    return ((mu, (1.0 - d) * lam), (-lr * mu * mu, 1.0 - lr * lam * (1.0 + mu * (1.0 - d))))


def adaptive_step(lr: float, grad_rms: float, eps: float = 1e-8) -> float:
    """Adam's / RMSprop's effective step ``lr / (√v + eps)`` with ``√v = grad_rms``.

    On the paper's model the gradient is the error (Eq. 17-18); while the fit works at the scale of targets
    of standard deviation γ, ``grad_rms ≈ γ`` and the effective step is ``≈ lr/γ``.
    """
    return _positive("lr", lr) / (_positive("grad_rms", grad_rms) + float(eps))


def adam_matrix(
    lr: float, beta1: float, grad_rms: float, eps: float = 1e-8, curvature: float = 1.0
) -> Matrix:
    """A for Adam/AdamW's first moment: Eq. 20 with ``η = lr/(√v + eps)`` (second moment held fixed)."""
    return ema_matrix(beta1, adaptive_step(lr, grad_rms, eps), curvature)


def rmsprop_matrix(
    lr: float, momentum: float, grad_rms: float, eps: float = 1e-8, curvature: float = 1.0
) -> Matrix:
    """A for ``torch.optim.RMSprop(momentum=μ)``: PyTorch SGD (d = 0) with step ``lr/(√v + eps)``."""
    return sgd_matrix(adaptive_step(lr, grad_rms, eps), momentum, 0.0, curvature)


# -------------------------------------------------------------------------------------- eigenvalues


def trace_det(matrix: Matrix) -> tuple[float, float]:
    (p, q), (r, s) = matrix
    return p + s, p * s - q * r


def discriminant(matrix: Matrix) -> float:
    """``tr² − 4 det``: negative ⇔ complex eigenvalues."""
    trace, det = trace_det(matrix)
    return trace * trace - 4.0 * det


def eigenvalues(matrix: Matrix) -> tuple[complex, complex]:
    """The two eigenvalues of a 2×2 matrix (the larger real part, then the other)."""
    trace, det = trace_det(matrix)
    root = cmath.sqrt(trace * trace - 4.0 * det)
    return (trace + root) / 2.0, (trace - root) / 2.0


def has_complex_eigenvalues(matrix: Matrix) -> bool:
    """Complex eigenvalues ⇒ the error oscillates (``momentum`` §4, Fig. 2)."""
    trace, det = trace_det(matrix)
    return trace * trace - 4.0 * det < -_TOL * max(1.0, trace * trace, abs(det))


def ripples(matrix: Matrix) -> bool:
    """A real, negative eigenvalue: the error flips sign every step (``momentum`` §4, "ripples")."""
    if has_complex_eigenvalues(matrix):
        return False
    return min(z.real for z in eigenvalues(matrix)) < 0.0


def oscillates(matrix: Matrix) -> bool:
    """The oscillation condition of ``momentum`` §4: A (Eq. 20 or its PyTorch variants) has complex eigenvalues."""
    return has_complex_eigenvalues(matrix)


def spectral_radius(matrix: Matrix) -> float:
    return max(abs(z) for z in eigenvalues(matrix))


# --------------------------------------------------------------------------------------- dead cone


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def dead_cone_threshold(eps: float) -> float:
    """``Φ⁻¹(ε)``: a ReLU unit ``max(0, wᵀx + b)`` with ``x ~ N(0, I)`` is in the dead cone iff ``b/‖w‖`` is below it.

    ``momentum`` Eq. 23: ``P(wᵀx + b > 0) = Φ(b/‖w‖)``; Eq. 15 calls the unit dead when that is ``< ε``, i.e.
    ``b/‖w‖ < Φ⁻¹(ε)`` (the paper prints ``−Φ⁻¹(ε)``, a sign slip).  Negative for ε < 1/2: Φ⁻¹(0.01) = −2.326.
    Computed by bisection on ``math.erfc`` to double precision (no scipy).
    """
    eps = float(eps)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _normal_cdf(mid) < eps:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def in_dead_cone(bias: float, weight_norm: float, eps: float) -> bool:
    """Whether ``(w, b)`` lies in the dead cone of ``momentum`` Eq. 15/23: ``Φ(b/‖w‖) < ε`` ⇔ ``b/‖w‖ < Φ⁻¹(ε)``.

    ``weight_norm = 0`` means the unit outputs ``max(0, b)``: dead iff ``b < 0`` (the centre of the cone, §5).
    """
    if weight_norm < 0:
        raise ValueError(f"weight_norm must be >= 0, got {weight_norm!r}")
    if weight_norm == 0:
        return bias < 0
    return bias / weight_norm < dead_cone_threshold(eps)


# --------------------------------------------------------------------------------- critical momenta


def critical_beta(eta: float, curvature: float = 1.0) -> float:
    """Smallest β with complex eigenvalues for the paper's A (Eq. 20): ``((1 − ηλ)/(1 + ηλ))²``.

    Derivation: trace² < 4 det with trace ``1 + β − h(1 − β)`` and det ``β`` (h = ηλ); with ``s = √β`` the
    upper branch is ``(1 − s)² < h(1 − s)(1 + s)`` ⇔ ``s > (1 − h)/(1 + h)``, the lower one
    ``s > (h − 1)/(h + 1)``.  At η = 0.1: 0.669, the paper's "β ≈ 0.7" (§4, Fig. 2).
    """
    h = _positive("eta", eta) * _positive("curvature", curvature)
    return ((1.0 - h) / (1.0 + h)) ** 2


def complex_band_ema(beta: float) -> tuple[float, float]:
    """The steps ``ηλ`` for which Eq. 20 has complex eigenvalues at momentum β: ``((1−√β)/(1+√β), (1+√β)/(1−√β))``."""
    s = math.sqrt(_check("beta", beta, 0.0, 1.0))
    return (1.0 - s) / (1.0 + s), (1.0 + s) / (1.0 - s) if s < 1.0 else math.inf


def _sgd_step(lr: float, dampening: float, curvature: float) -> float:
    d = _check("dampening", dampening, 0.0, 1.0, high_open=False)
    return _positive("lr", lr) * (1.0 - d) * _positive("curvature", curvature)


def critical_momentum_sgd(lr: float, dampening: float = 0.0, curvature: float = 1.0) -> float:
    """Smallest PyTorch-SGD momentum with complex eigenvalues: ``(√h − 1)²``, ``h = lr(1 − d)λ``.

    Trace ``1 + μ − h`` and determinant ``μ``: the eigenvalues are complex iff ``(1 + μ − h)² < 4μ`` ⇔
    ``|1 + μ − h| < 2√μ`` ⇔ ``(√μ − 1)² < h < (√μ + 1)²`` ⇔ ``(√h − 1)² < μ < (√h + 1)²`` — for every
    h > 0, on both sides of h = 1 (at h = 1 any μ > 0 oscillates; for h ≥ 4 the threshold is ≥ 1 and no
    momentum in [0, 1) oscillates).  The value is returned unclipped: ≥ 1 means "none".
    """
    h = _sgd_step(lr, dampening, curvature)
    return (math.sqrt(h) - 1.0) ** 2


def complex_band_sgd(lr: float, dampening: float = 0.0, curvature: float = 1.0) -> tuple[float, float]:
    """Momenta μ with complex eigenvalues for PyTorch SGD: the open band ``((√h − 1)², (√h + 1)²)``, both
    ends clipped to 1 (``(1.0, 1.0)``: empty in [0, 1), h ≥ 4).  See :func:`critical_momentum_sgd`."""
    h = _sgd_step(lr, dampening, curvature)
    root = math.sqrt(h)
    return min(1.0, (root - 1.0) ** 2), min(1.0, (root + 1.0) ** 2)


def critical_momentum_nesterov(lr: float, curvature: float = 1.0) -> float:
    """Smallest Nesterov momentum (d = 0) with complex eigenvalues: ``k − √(k² − 1)``, ``k = (1 + h)/(1 − h)``.

    From ``(1 + μ)²(1 − h)² < 4μ(1 − h)`` ⇔ ``μ² − 2kμ + 1 < 0``.  For h ≥ 1 the eigenvalues are never complex
    in [0, 1) (returns 1.0: no momentum oscillates).
    """
    h = _positive("lr", lr) * _positive("curvature", curvature)
    if h >= 1.0:
        return 1.0
    k = (1.0 + h) / (1.0 - h)
    return k - math.sqrt(k * k - 1.0)


# --------------------------------------------------------------------------------------- one call


@dataclass(frozen=True)
class MomentumSystem:
    """The linear system of one optimizer set-up on the paper's affine model (``momentum`` §4, Eq. 19-20)."""

    optimizer: str  # "sgd", "adam", "rmsprop", ... as the user wrote it (lower case)
    form: str  # "ema" (Eq. 20), "sgd", "nesterov", "adam", "rmsprop"
    beta: float  # the momentum coefficient (SGD/RMSprop momentum, Adam β1)
    step: float  # the effective step h = lr·(1 − d)·λ, or lr/(√v + eps) for Adam / RMSprop
    matrix: Matrix
    critical: float  # the smallest momentum with complex eigenvalues at this step
    note: str = ""  # how the step was obtained (Adam / RMSprop: from the target scale)

    @property
    def eigenvalues(self) -> tuple[complex, complex]:
        return eigenvalues(self.matrix)

    @property
    def oscillates(self) -> bool:
        return oscillates(self.matrix)

    @property
    def ripples(self) -> bool:
        return ripples(self.matrix)

    @property
    def spectral_radius(self) -> float:
        return spectral_radius(self.matrix)

    def describe_eigenvalues(self) -> str:
        """``0.90 ± 0.19i (|λ| = 0.95)`` or ``0.97, 0.83``."""
        z1, z2 = self.eigenvalues
        if self.oscillates:
            return f"{z1.real:.3g} ± {abs(z1.imag):.3g}i (|z| = {abs(z1):.3g})"
        return f"{z1.real:.3g}, {z2.real:.3g}"


def optimizer_system(
    optimizer: str,
    lr: float,
    *,
    momentum: float | None = None,
    betas: tuple[float, float] | None = None,
    dampening: float | None = 0.0,
    nesterov: bool | None = False,
    target_std: float | None = None,
    eps: float = 1e-8,
    curvature: float = 1.0,
) -> MomentumSystem | None:
    """The system for one optimizer as PyTorch runs it, or None when there is nothing to analyse.

    ``optimizer`` is the lower-case class name ("ema" is the paper's Eq. 6-7 with ``momentum`` = β).
    Adam-family optimizers use ``betas[0]`` (``momentum`` when ``betas`` is None); Adam and RMSprop need
    ``target_std`` (γ) for their effective step ``lr/γ`` (see the module docstring).

    Nothing is guessed: None is returned when the optimizer has no momentum to analyse *or* when a value
    the system needs is None — the momentum (SGD, RMSprop, "ema"), β1 (Adam), γ (Adam, RMSprop).  The
    caller decides what an unknown value means (RL401 reports it).  ``dampening`` / ``nesterov`` default to
    PyTorch's constructor defaults (0, False); passing None (unknown) for SGD raises ValueError.
    """
    name = optimizer.lower()
    if name == "ema":
        if momentum is None:
            return None
        beta = float(momentum)
        return MomentumSystem(
            name, "ema", beta, lr * curvature, ema_matrix(beta, lr, curvature), critical_beta(lr)
        )
    form = OPTIMIZER_FORMS.get(name)
    if form is None:
        return None
    if form == "sgd":
        if momentum is None:
            return None
        if dampening is None or nesterov is None:
            raise ValueError("SGD needs dampening and nesterov (PyTorch's defaults: 0.0, False)")
        return _sgd_system(name, lr, float(momentum), float(dampening), bool(nesterov), curvature)
    if target_std is None or target_std <= 0:
        return None
    if form == "adam":
        beta1 = betas[0] if betas is not None else momentum
        if beta1 is None:
            return None  # unknown β1: never PyTorch's 0.9 by default
        step = adaptive_step(lr, target_std, eps) * curvature
        note = f"effective step lr/γ = {lr:g}/{target_std:.3g} = {step:.3g}, as Adam normalizes the gradient"
        matrix = ema_matrix(beta1, step)
        return MomentumSystem(name, "adam", float(beta1), step, matrix, critical_beta(step), note)
    if momentum is None:
        return None
    mu = float(momentum)
    step = adaptive_step(lr, target_std, eps) * curvature
    note = f"effective step lr/γ = {lr:g}/{target_std:.3g} = {step:.3g}, as RMSprop normalizes the gradient"
    return MomentumSystem(name, "rmsprop", mu, step, sgd_matrix(step, mu), critical_momentum_sgd(step), note)


def _sgd_system(name: str, lr: float, mu: float, d: float, nesterov: bool, lam: float) -> MomentumSystem:
    if nesterov:
        matrix = nesterov_matrix(lr, mu, d, lam)
        return MomentumSystem(name, "nesterov", mu, lr * lam, matrix, critical_momentum_nesterov(lr, lam))
    if d > 0 and abs(d - mu) < 1e-12:
        return MomentumSystem(name, "ema", mu, lr * lam, ema_matrix(mu, lr, lam), critical_beta(lr, lam))
    matrix = sgd_matrix(lr, mu, d, lam)
    return MomentumSystem(name, "sgd", mu, lr * (1 - d) * lam, matrix, critical_momentum_sgd(lr, d, lam))
