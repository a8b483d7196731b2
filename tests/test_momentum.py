"""`relulint.theory.momentum`: the matrices of `momentum` Eq. 20 per optimizer, checked against real torch optimizers.

The oscillation test runs `torch.optim.SGD` (heavy ball, dampening, Nesterov), `Adam` and `RMSprop` on the
paper's affine model (Eq. 8) with the expected MSE of Eq. 16, L = ½‖w − Γ‖² + ½(b − Δ)², Γ = (0, …, γ),
and asserts that the error oscillates (changes sign at least twice) exactly when A has complex eigenvalues.
"""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch

from relulint.theory import momentum as mt

GAMMA = 1e-3  # a small target scale (`momentum` §5 uses γ = 0.001); SGD's eigenvalues do not depend on it


# ------------------------------------------------------------------------------------------- algebra


def test_paper_matrix_is_eq_20() -> None:
    beta, eta = 0.8, 0.1
    assert mt.ema_matrix(beta, eta) == (
        (0.8, pytest.approx(0.2)),
        (pytest.approx(-0.08), pytest.approx(0.98)),
    )


def test_paper_critical_beta_reproduces_beta_about_0_7_at_eta_0_1() -> None:
    """`momentum` §4 / Fig. 2: "at β ≈ 0.7 eigenvalues become complex" for η = 0.1."""
    beta_c = mt.critical_beta(0.1)
    assert beta_c == pytest.approx((0.9 / 1.1) ** 2)
    assert round(beta_c, 1) == 0.7
    assert not mt.oscillates(mt.ema_matrix(beta_c - 1e-3, 0.1))
    assert mt.oscillates(mt.ema_matrix(beta_c + 1e-3, 0.1))
    # the closed form agrees with solving trace² = 4·det numerically
    betas = np.linspace(0, 0.999, 100_000)
    disc = (1 + betas - 0.1 * (1 - betas)) ** 2 - 4 * betas
    assert betas[np.argmax(disc < 0)] == pytest.approx(beta_c, abs=1e-4)


@pytest.mark.parametrize(
    ("matrix", "args"),
    [
        (mt.ema_matrix, (0.9, 0.3)),
        (mt.sgd_matrix, (0.1, 0.9, 0.0)),
        (mt.sgd_matrix, (0.05, 0.7, 0.4)),
        (mt.nesterov_matrix, (0.1, 0.9)),
        (mt.adam_matrix, (1e-3, 0.9, 0.01)),
        (mt.rmsprop_matrix, (1e-3, 0.5, 0.01)),
    ],
)
def test_eigenvalues_match_numpy(matrix, args) -> None:
    a = matrix(*args)
    ours = sorted(mt.eigenvalues(a), key=lambda z: (z.real, z.imag))
    theirs = sorted(np.linalg.eigvals(np.array(a)), key=lambda z: (z.real, z.imag))
    assert np.allclose(ours, theirs)


def test_dampening_equal_to_momentum_is_the_paper_form() -> None:
    assert np.allclose(mt.sgd_matrix(0.1, 0.8, dampening=0.8), mt.ema_matrix(0.8, 0.1))


def test_pytorch_sgd_oscillates_at_lower_momentum_than_the_paper_form() -> None:
    """Without dampening the step is lr (not lr(1 − μ)): μ_c = (1 − √lr)² = 0.468 at lr = 0.1."""
    assert mt.critical_momentum_sgd(0.1) == pytest.approx((1 - math.sqrt(0.1)) ** 2)
    assert mt.critical_momentum_sgd(0.1) < mt.critical_beta(0.1)
    low, high = mt.complex_band_sgd(0.1)
    for mu in (0.3, 0.46, 0.48, 0.9):
        assert mt.oscillates(mt.sgd_matrix(0.1, mu)) == (low < mu < high)


def test_nesterov_critical_momentum() -> None:
    for lr in (0.01, 0.1, 0.5):
        mu_c = mt.critical_momentum_nesterov(lr)
        assert not mt.oscillates(mt.nesterov_matrix(lr, mu_c - 1e-3))
        assert mt.oscillates(mt.nesterov_matrix(lr, mu_c + 1e-3))
        trace, det = mt.trace_det(mt.nesterov_matrix(lr, mu_c))
        assert trace**2 == pytest.approx(4 * det)


def test_adam_effective_step_grows_as_targets_shrink() -> None:
    """Adam's step ignores the gradient's scale: η = lr/γ, so small targets push β1 = 0.9 into oscillation."""
    normalized = mt.optimizer_system("adam", 1e-3, betas=(0.9, 0.999), target_std=1.0)
    small = mt.optimizer_system("adam", 1e-3, betas=(0.9, 0.999), target_std=0.01)
    assert normalized is not None and small is not None
    assert normalized.step == pytest.approx(1e-3) and small.step == pytest.approx(0.1)
    assert not normalized.oscillates and small.oscillates
    low, high = mt.complex_band_ema(0.9)
    assert (low, high) == pytest.approx(
        ((1 - math.sqrt(0.9)) / (1 + math.sqrt(0.9)), (1 + math.sqrt(0.9)) / (1 - math.sqrt(0.9)))
    )
    huge = mt.optimizer_system("adam", 1e-3, betas=(0.9, 0.999), target_std=1e-6)
    assert huge is not None and huge.ripples and not huge.oscillates


def test_optimizer_system_forms() -> None:
    assert mt.optimizer_system("sgd", 0.1, momentum=0.9).form == "sgd"
    assert mt.optimizer_system("sgd", 0.1, momentum=0.9, dampening=0.9).form == "ema"
    assert mt.optimizer_system("sgd", 0.1, momentum=0.9, nesterov=True).form == "nesterov"
    assert mt.optimizer_system("adamw", 1e-3, betas=(0.5, 0.999), target_std=0.1).beta == 0.5
    assert mt.optimizer_system("adamw", 1e-3, momentum=0.7, target_std=0.1).beta == 0.7
    assert mt.optimizer_system("rmsprop", 1e-3, momentum=0.9, target_std=0.1).form == "rmsprop"
    assert mt.optimizer_system("adam", 1e-3, betas=(0.9, 0.999)) is None  # needs γ
    assert mt.optimizer_system("adagrad", 1e-2) is None
    with pytest.raises(ValueError):
        mt.sgd_matrix(0.1, 1.2)


def test_optimizer_system_never_guesses_a_missing_value() -> None:
    """An unknown β1 / momentum gives no system — not PyTorch's β1 = 0.9, not momentum 0."""
    assert mt.optimizer_system("adam", 1e-3, target_std=0.01) is None
    assert mt.optimizer_system("adamw", 1e-3, betas=None, momentum=None, target_std=0.01) is None
    assert mt.optimizer_system("sgd", 0.1) is None
    assert mt.optimizer_system("rmsprop", 1e-3, target_std=0.01) is None
    assert mt.optimizer_system("ema", 0.1) is None
    with pytest.raises(ValueError):
        mt.optimizer_system("sgd", 0.1, momentum=0.9, dampening=None)
    with pytest.raises(ValueError):
        mt.optimizer_system("sgd", 0.1, momentum=0.9, nesterov=None)


def _complex_by_eigvals(lr: float, mu, dampening: float = 0.0):
    """Brute force: numpy's eigenvalues of the SGD matrix, built here from the update rule itself
    (buf' = μ buf + (1 − d) a, a' = a − lr buf'); `mu` may be an array (one matrix per entry)."""
    mu = np.asarray(mu, dtype=float)
    a = np.empty((*mu.shape, 2, 2))
    a[..., 0, 0], a[..., 0, 1] = mu, 1 - dampening
    a[..., 1, 0], a[..., 1, 1] = -lr * mu, 1 - lr * (1 - dampening)
    found = np.max(np.abs(np.linalg.eigvals(a).imag), axis=-1) > 1e-7
    return found if found.ndim else bool(found)


@pytest.mark.parametrize("h", [0.01, 0.1, 0.5, 0.9, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 3.9, 4.5])
def test_sgd_threshold_against_a_brute_force_eigenvalue_scan(h: float) -> None:
    """(√h − 1)² < μ < (√h + 1)² for every h — h ≥ 1 included, where the old code returned 0."""
    momenta = np.linspace(0.0, 0.9999, 20_001)
    scan = _complex_by_eigvals(h, momenta)
    critical = mt.critical_momentum_sgd(h)
    assert critical == pytest.approx((math.sqrt(h) - 1) ** 2)
    low, high = mt.complex_band_sgd(h)
    if scan.any():
        first = momenta[np.argmax(scan)]
        assert first == pytest.approx(critical, abs=2e-4)
        assert low == pytest.approx(critical) and high == pytest.approx(min(1.0, (math.sqrt(h) + 1) ** 2))
    else:
        assert critical >= 1.0 and low == high == 1.0  # h ≥ 4: no momentum in [0, 1) oscillates
    margin = 1e-3
    away = np.minimum(np.abs(momenta - low), np.abs(momenta - high)) > margin
    assert np.array_equal(scan[away], ((low < momenta) & (momenta < high))[away])
    for mu in momenta[away][::500]:
        assert mt.oscillates(mt.sgd_matrix(h, mu)) == _complex_by_eigvals(h, mu), (h, mu)


def test_sgd_threshold_with_dampening_and_rmsprop_steps_above_one() -> None:
    """h = lr(1 − d): dampening scales the step; RMSprop's lr/γ is often ≥ 1 (lr = 1e-2, γ = 0.01 → h = 1)."""
    assert mt.critical_momentum_sgd(2.0, dampening=0.5) == pytest.approx(0.0)  # h = 1: any μ > 0
    assert mt.oscillates(mt.sgd_matrix(2.0, 0.05, dampening=0.5))
    rms = mt.optimizer_system("rmsprop", 1.5e-2, momentum=0.2, target_std=0.01)  # h = 1.5
    assert rms is not None
    assert rms.critical == pytest.approx((math.sqrt(1.5) - 1) ** 2, rel=1e-4)  # 0.0505, not 0 (eps: 1e-8)
    assert rms.oscillates == _complex_by_eigvals(1.5, 0.2)
    assert not mt.optimizer_system("rmsprop", 1.5e-2, momentum=0.04, target_std=0.01).oscillates


# -------------------------------------------------------------------- real optimizers, affine model


def affine_run(make_optimizer, steps: int, *, seed_state=None, dims: int = 2) -> list[float]:
    """Run a torch optimizer on `momentum`'s affine model (Eq. 8, expected loss Eq. 16); return a_L per step."""
    gamma = torch.zeros(dims, dtype=torch.float64)
    gamma[-1] = GAMMA  # Γ = (0, …, γ), Eq. 4
    delta = 0.0
    w = torch.nn.Parameter(gamma + torch.linspace(0.5, 1.0, dims, dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor(delta + 0.7, dtype=torch.float64))
    optimizer = make_optimizer([w, b])
    if seed_state is not None:
        seed_state(optimizer, [w, b])
    errors = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = 0.5 * ((w - gamma) ** 2).sum() + 0.5 * (b - delta) ** 2  # E_x[½(aᵀx + c)²], x ~ N(0, I)
        loss.backward()
        optimizer.step()
        errors.append((w[-1] - gamma[-1]).item())
    return errors


def sign_changes(errors: list[float], floor: float) -> int:
    signs = [math.copysign(1.0, e) for e in errors if abs(e) > floor]
    return sum(1 for s, t in zip(signs, signs[1:], strict=False) if s != t)


def steps_for(matrix, limit: int = 4000) -> int | None:
    """Enough steps to see two sign changes when A's eigenvalues are complex; None if too slow to observe."""
    z = mt.eigenvalues(matrix)[0]
    if not mt.oscillates(matrix):
        return 400
    theta = abs(cmath.phase(z))
    steps = math.ceil(3 * math.pi / theta) + 20
    if steps > limit or abs(z) ** steps < 1e-6:
        return None
    return steps


def near_boundary(matrix) -> bool:
    trace, det = mt.trace_det(matrix)
    return abs(trace * trace - 4 * det) < 1e-4


def check_grid(cases) -> tuple[int, int]:
    """Run each (matrix, optimizer factory, state seeder) and compare oscillation with complex eigenvalues."""
    seen = {True: 0, False: 0}
    for matrix, make, seed in cases:
        steps = steps_for(matrix)
        if steps is None or near_boundary(matrix):
            continue
        errors = affine_run(make, steps, seed_state=seed)
        observed = sign_changes(errors, floor=1e-9) >= 2
        predicted = mt.oscillates(matrix)
        assert observed == predicted, (matrix, mt.eigenvalues(matrix), sign_changes(errors, 1e-9))
        seen[predicted] += 1
    return seen[True], seen[False]


LRS = (0.01, 0.05, 0.1, 0.3, 0.6, 0.9)
MOMENTA = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def test_sgd_heavy_ball_oscillates_exactly_when_eigenvalues_are_complex() -> None:
    cases = [
        (mt.sgd_matrix(lr, mu), lambda p, lr=lr, mu=mu: torch.optim.SGD(p, lr=lr, momentum=mu), None)
        for lr in LRS
        for mu in MOMENTA
    ]
    complex_, real = check_grid(cases)
    assert complex_ >= 15 and real >= 15


def test_sgd_with_dampening_paper_form_oscillates_exactly_when_eigenvalues_are_complex() -> None:
    """dampening = momentum is the paper's Eq. 6-7; the critical β at η = 0.1 is ≈ 0.67 (Fig. 2)."""
    cases = [
        (
            mt.sgd_matrix(lr, mu, dampening=d),
            lambda p, lr=lr, mu=mu, d=d: torch.optim.SGD(p, lr=lr, momentum=mu, dampening=d),
            None,
        )
        for lr in LRS
        for mu in MOMENTA
        for d in (mu, 0.5)
        if mu > 0
    ]
    complex_, real = check_grid(cases)
    assert complex_ >= 10 and real >= 10
    # the paper's statement, on the real optimizer: η = 0.1, β = 0.6 calm; β = 0.8 oscillates
    for beta, expected in ((0.6, False), (0.8, True)):
        errors = affine_run(lambda p, b=beta: torch.optim.SGD(p, lr=0.1, momentum=b, dampening=b), 300)
        assert (sign_changes(errors, 1e-9) >= 2) is expected


def test_sgd_nesterov_oscillates_exactly_when_eigenvalues_are_complex() -> None:
    cases = [
        (
            mt.nesterov_matrix(lr, mu),
            lambda p, lr=lr, mu=mu: torch.optim.SGD(p, lr=lr, momentum=mu, nesterov=True),
            None,
        )
        for lr in LRS
        for mu in MOMENTA
        if mu > 0
    ]
    complex_, real = check_grid(cases)
    assert complex_ >= 10 and real >= 10


def _frozen_second_moment(key: str, rms: float):
    """Seed an adaptive optimizer's state so that √v = rms and bias corrections are 1 (β2 / α ≈ 1)."""

    def seed(optimizer, params) -> None:
        for p in params:  # one step with zero gradient creates the state without moving p
            p.grad = torch.zeros_like(p)
        optimizer.step()
        for p in params:
            state = optimizer.state[p]
            state[key].fill_(rms**2)
            if "step" in state:
                state["step"].fill_(1e12)

    return seed


def test_adam_beta1_oscillates_exactly_when_eigenvalues_are_complex() -> None:
    """Adam's first moment is the paper's EMA; with v held at rms², A is Eq. 20 with η = lr/rms."""
    rms = 0.05
    cases = []
    for eta in (0.01, 0.05, 0.1, 0.3, 0.6, 0.9):
        for beta1 in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            lr = eta * rms

            def make(p, lr=lr, beta1=beta1):
                return torch.optim.Adam(p, lr=lr, betas=(beta1, 1 - 1e-9), eps=1e-300)

            cases.append(
                (mt.adam_matrix(lr, beta1, rms, eps=0.0), make, _frozen_second_moment("exp_avg_sq", rms))
            )
    complex_, real = check_grid(cases)
    assert complex_ >= 10 and real >= 10


def test_adam_large_effective_step_ripples() -> None:
    """η = lr/γ beyond (1 + √β1)/(1 − √β1): a negative real eigenvalue, the sign flips every step (§4)."""
    rms, beta1 = 0.05, 0.5
    lr = (
        5.9 * rms
    )  # η = 5.9: above (1 + √0.5)/(1 − √0.5) ≈ 5.83, below the stability limit 2(1 + β1)/(1 − β1) = 6
    matrix = mt.adam_matrix(lr, beta1, rms, eps=0.0)
    assert mt.ripples(matrix) and not mt.oscillates(matrix) and mt.spectral_radius(matrix) < 1
    errors = affine_run(
        lambda p: torch.optim.Adam(p, lr=lr, betas=(beta1, 1 - 1e-9), eps=1e-300),
        60,
        seed_state=_frozen_second_moment("exp_avg_sq", rms),
    )
    assert sign_changes(errors, 1e-12) >= 57  # both eigenvalues negative: (−1)^t times a one-signed sum


def test_rmsprop_momentum_oscillates_exactly_when_eigenvalues_are_complex() -> None:
    rms = 0.02
    cases = []
    for eta in (0.01, 0.05, 0.1, 0.3, 0.6, 0.9):
        for mu in (0.2, 0.4, 0.6, 0.8, 0.9, 0.95):
            lr = eta * rms

            def make(p, lr=lr, mu=mu):
                return torch.optim.RMSprop(p, lr=lr, alpha=1 - 1e-9, eps=1e-300, momentum=mu)

            cases.append(
                (mt.rmsprop_matrix(lr, mu, rms, eps=0.0), make, _frozen_second_moment("square_avg", rms))
            )
    complex_, real = check_grid(cases)
    assert complex_ >= 10 and real >= 5


# ------------------------------------------------------------- the real, unmodified Adam (v not frozen)


def adam_affine_run(lr: float, gamma: float, steps: int) -> list[float]:
    """`torch.optim.Adam(lr=lr)` with PyTorch's defaults (betas=(0.9, 0.999), eps=1e-8, no state seeding) on
    the paper's affine model (Eq. 8, expected loss Eq. 16, Γ = (0, γ), Δ = 0) — the setting of Eq. 19-20.

    Started with the errors at the targets' scale (a = c = γ: the fit works at that scale, where the
    analysis's √v ≈ γ holds); returns the error a_L = w_L − γ after each step.
    """
    target = torch.tensor([0.0, gamma], dtype=torch.float64)
    w = torch.nn.Parameter(target + gamma)
    b = torch.nn.Parameter(torch.tensor(gamma, dtype=torch.float64))
    optimizer = torch.optim.Adam([w, b], lr=lr)
    errors = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = 0.5 * ((w - target) ** 2).sum() + 0.5 * b**2  # E_x[½(aᵀx + c)²], x ~ N(0, I)
        loss.backward()
        optimizer.step()
        errors.append((w[-1] - target[-1]).item())
    return errors


def test_real_adam_oscillates_where_the_frozen_v_analysis_says_so() -> None:
    """lr = 1e-3 (PyTorch's / the paper's Adam default), γ = 0.01: η = lr/γ = 0.1 lies in β1 = 0.9's complex
    band (0.026, 38), so the analysis marks it oscillating; the unmodified optimizer's error changes sign
    again and again, well above rounding level.  With v free, √v shrinks with the error and η grows, so
    the real error swings faster than the frozen model's angle (a half-period of ~36 steps) predicts."""
    lr, gamma = 1e-3, 0.01
    system = mt.optimizer_system("adam", lr, betas=(0.9, 0.999), target_std=gamma)
    assert system is not None and system.oscillates
    errors = adam_affine_run(lr, gamma, 200)
    assert sign_changes(errors, floor=1e-9) >= 6
    assert max(abs(e) for e in errors[20:]) > 1e-5  # real swings, not noise around 0
    # the first half-swing is no slower than the frozen model's half-period π/θ
    theta = abs(cmath.phase(system.eigenvalues[0]))
    first = next(i for i, e in enumerate(errors) if e < 0)
    assert first <= math.pi / theta


def test_real_adam_at_unit_targets_stays_one_signed_in_the_early_phase() -> None:
    """γ = 1: η = 1e-3 is below the band (real eigenvalues) and the real Adam approaches the optimum from
    one side for the first 300 steps.  (Later, as √v decays with the error, η grows and real Adam can
    oscillate at a small amplitude too: the frozen-v verdict "calm" holds for the phase at the targets'
    scale only — documented in relulint.theory.momentum.)"""
    system = mt.optimizer_system("adam", 1e-3, betas=(0.9, 0.999), target_std=1.0)
    assert system is not None and not system.oscillates
    assert sign_changes(adam_affine_run(1e-3, 1.0, 300), floor=1e-9) == 0


# ------------------------------------------------------------------------- the dead cone (Eq. 15, 23)


@pytest.mark.parametrize("eps", [1e-4, 0.01, 0.05, 0.25, 0.5, 0.9])
def test_dead_cone_threshold_inverts_phi(eps: float) -> None:
    z = mt.dead_cone_threshold(eps)
    assert 0.5 * math.erfc(-z / math.sqrt(2.0)) == pytest.approx(eps, rel=1e-12)
    if eps != 0.5:
        assert (z < 0) == (eps < 0.5)  # the cone lies at negative b/‖w‖ for every ε < 1/2


def test_dead_cone_threshold_known_values() -> None:
    assert mt.dead_cone_threshold(0.05) == pytest.approx(-1.6448536269514722, abs=1e-12)
    assert mt.dead_cone_threshold(0.01) == pytest.approx(-2.3263478740408408, abs=1e-12)


def test_dead_cone_matches_monte_carlo_of_a_relu_unit() -> None:
    """P(wᵀx + b > 0) for x ~ N(0, I), measured, against the cone test Φ(b/‖w‖) < ε ⇔ b/‖w‖ < Φ⁻¹(ε).

    The paper's printed form b/‖w‖ < −Φ⁻¹(ε) calls b = 0 (a unit live for half the inputs) dead; the fixed
    test does not, and puts the boundary where the measured live fraction crosses ε."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400_000, 3))
    w = np.array([0.6, -1.2, 0.9])
    eps = 0.05
    norm = float(np.linalg.norm(w))
    se = math.sqrt(eps * (1 - eps) / len(x))
    for ratio in (-3.0, -2.0, -1.8, -1.5, -1.0, 0.0, 1.0, 2.0):
        live = float(np.mean(x @ w + ratio * norm > 0))
        dead = mt.in_dead_cone(ratio * norm, norm, eps)
        if abs(live - eps) > 6 * se:  # decided by the measurement beyond sampling error
            assert dead == (live < eps), (ratio, live)
        slipped = ratio < -mt.dead_cone_threshold(eps)  # the paper's printed inequality
        if ratio in (-1.0, 0.0, 1.0):
            assert slipped and not dead and live > 0.15  # the slip calls live units dead
    assert mt.in_dead_cone(-1.0, 0.0, eps) and not mt.in_dead_cone(1.0, 0.0, eps)
