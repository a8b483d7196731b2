"""The pair engine's layer step (`relulint.probe.pair_step`): plain PyTorch, bit for bit the documented arithmetic.

Its results must equal a NumPy reference that spells out the documented operations one at a time (the per
sample factors in float64 with correctly rounded square roots, the lerp in float32 as a difference, a
product and a sum, the Gram as float64 products summed over the units in order), on edge cases too (a
point whose state is zero, orthogonal, identical and nearly identical inputs, zero layers, lengths that are
not a multiple of any vector width): so the probe's counts depend on the seed only, never on how PyTorch
fuses or vectorises an operation. The step itself is checked against a direct computation of the Gaussian
reduction and against the probe without shortcuts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from probe_helpers import make_chain

from relulint.probe import probe_chain, wilson_interval
from relulint.probe.pair_step import (
    TINY,
    _gram_wide,
    gram_of,
    lerp_factor,
    pair_step,
    relu_state,
    tally_expected,
)
from relulint.probe.tally import Tally


def scratch(numel: int) -> torch.Tensor:
    return torch.empty(numel, dtype=torch.float64)


def bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits (signed zeros and NaN payloads count)."""
    return t.view({torch.float32: torch.int32, torch.float64: torch.int64}.get(t.dtype, t.dtype))


def random_gram_and_draws(units: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A Gram of real post-ReLU states (zero points, identical, nearly identical and orthogonal pairs planted)
    and draws (with columns whose layer comes out zero)."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.empty(2, units, m).normal_(generator=gen).clamp_min_(0.0)
    if m >= 6:
        h[0, :, 0] = 0.0  # point 0 zero
        h[:, :, 1] = 0.0  # both zero
        h[1, :, 2] = h[0, :, 2]  # identical: cos θ = 1
        h[1, :, 3] = torch.where(h[0, :, 3] > 0, 0.0, 1.0)  # disjoint supports: cos θ = 0
        h[1, :, 4] = h[0, :, 4] * (1 + 2**-18)  # nearly identical
    gram = torch.from_numpy(reference_gram(h.numpy()))
    eps = torch.empty(2, units, m).normal_(generator=gen)
    eps[:, :, m // 2 :: 7] = -eps[:, :, m // 2 :: 7].abs()  # these columns' layer is zero at both points
    return gram, eps


def run_step(gram: torch.Tensor, eps: torch.Tensor):  # type: ignore[no-untyped-def]
    _, units, m = eps.shape
    eps = eps.clone()
    out = torch.empty(3, m, dtype=torch.float64)
    cos = torch.empty(m, dtype=torch.float64)
    zero = torch.empty(m, dtype=torch.bool)
    pair_step(gram, eps, out, cos, zero, scratch)
    return eps, out, cos, zero


# ------------------------------------------------------------------- the reference, one operation at a time


def reference_gram(h: np.ndarray) -> np.ndarray:
    """``(|h_0|², |h_1|², h_0·h_1)`` (or ``|h_0|²``): float64 products of the float32 states, exact, summed over
    the units in order from zero."""
    wide = h.astype(np.float64)
    rows = [(0, 0), (1, 1), (0, 1)] if h.shape[0] == 2 else [(0, 0)]
    out = np.zeros((len(rows), h.shape[2]))
    for unit in range(h.shape[1]):
        for row, (i, j) in enumerate(rows):
            out[row] = out[row] + wide[i, unit] * wide[j, unit]
    return out


def reference_step(gram: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, ...]:
    """The documented step: per sample ``root = √max(uu vv - w², 0)``, ``w = uv + TINY``, ``s = root / (w +
    root)`` and ``cos θ = min(w / √(uu vv), 1)`` in float64; per unit ``z_1 = z_0 + s (z_1 - z_0)`` in float32
    (difference, product, sum), the ReLU, the Gram, and the zero flags."""
    uu, vv, uv = gram
    prod = uu * vv
    root = np.sqrt(np.maximum(prod - uv * uv, 0.0))
    w = uv + TINY
    with np.errstate(divide="ignore"):
        cos = np.minimum(w / np.sqrt(prod), 1.0)
    s = (root / (w + root)).astype(np.float32)
    z0, z1 = eps[0].copy(), eps[1].copy()
    z1 = (z1 - z0) * s
    z1 = z0 + z1
    h = np.maximum(np.stack([z0, z1]), np.float32(0.0))
    out = reference_gram(h)
    return h, out, cos, (out[0] == 0) & (out[1] == 0)


@pytest.mark.parametrize("units", [1, 2, 3, 10, 17])
@pytest.mark.parametrize("m", [1, 3, 7, 513, 1000])
def test_the_step_is_bit_identical_to_the_reference(units: int, m: int) -> None:
    gram, eps = random_gram_and_draws(units, m, seed=units * 1000 + m)
    fast = run_step(gram, eps)
    slow = reference_step(gram.numpy(), eps.numpy())
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(bits(a), bits(torch.from_numpy(np.ascontiguousarray(b))))
    if m >= 7:
        assert fast[3].any()  # the zero flags were exercised


@pytest.mark.parametrize("points", [1, 2])
@pytest.mark.parametrize("m", [1, 5, 1031])
def test_the_gram_is_bit_identical_to_the_reference(points: int, m: int) -> None:
    h = torch.empty(points, 9, m).normal_(generator=torch.Generator().manual_seed(m)).clamp_min_(0.0)
    rows = 3 if points == 2 else 1
    fast = gram_of(h, torch.empty(rows, m, dtype=torch.float64), scratch)
    assert torch.equal(bits(fast), bits(torch.from_numpy(reference_gram(h.numpy()))))
    exact = (h.double()[:, None] * h.double()[None]).sum(2)  # float products are exact in float64
    np.testing.assert_allclose(fast[0].numpy(), exact[0, 0].numpy(), rtol=1e-15)


@pytest.mark.parametrize("points", [1, 2])
def test_the_gpu_form_of_the_gram_agrees(points: int) -> None:
    """CUDA sums the products in one reduction (PyTorch's order): the same values up to rounding."""
    h = torch.empty(points, 33, 257).normal_(generator=torch.Generator().manual_seed(4)).clamp_min_(0.0)
    wide = h.double()
    rows = 3 if points == 2 else 1
    reduced = _gram_wide(wide, torch.empty(rows, 257, dtype=torch.float64), scratch, ordered=False)
    np.testing.assert_allclose(reduced.numpy(), reference_gram(h.numpy()), rtol=1e-14)


@pytest.mark.parametrize("points", [1, 2])
@pytest.mark.parametrize("m", [1, 7, 1031])
def test_relu_state_reads_the_live_and_largest_units(points: int, m: int) -> None:
    z = torch.empty(points, 6, m).normal_(generator=torch.Generator().manual_seed(m + points))
    z[:, :, m // 2 :: 5] = -z[:, :, m // 2 :: 5].abs()  # dead samples
    relu = np.maximum(z.numpy(), 0.0)
    for spare in (None, torch.full((6 * m + 3,), 7.0)):  # its own buffer, or a lent one (any contents)
        zz, live, top = z.clone(), torch.empty(m), torch.empty(points, m)
        relu_state(zz, live, top, spare)
        assert torch.equal(bits(zz), bits(torch.from_numpy(relu)))
        assert torch.equal(top, torch.from_numpy(relu.max(axis=1)))
        assert live.tolist() == (relu.sum(0) > 0).sum(0).astype(np.float32).tolist() and (live == 0).any()


@pytest.mark.parametrize("m", [1, 6, 1000])
def test_tally_counts_live_units_and_deaths_exactly(m: int) -> None:
    gen = torch.Generator().manual_seed(m)
    phi = torch.rand(m, generator=gen, dtype=torch.float64).mul_(math.pi / 2)
    zero = torch.rand(m, generator=gen) < 0.3
    alive = torch.rand(m, generator=gen) < 0.8
    width = 10
    scale, offset = -width * 65536 / (2 * math.pi), 0.75 * width * 65536
    a, died = alive.clone(), torch.empty(m, dtype=torch.bool)
    live, killed = tally_expected(phi.clone(), zero, a, died, scale, offset)
    expected = sum(round(float(p) * scale + offset) for p, ok in zip(phi, alive, strict=True) if ok)
    assert live == expected  # Python's round: half to even, on the same two float64 operations
    assert died.tolist() == (zero & alive).tolist() and killed == int((zero & alive).sum())
    assert a.tolist() == (alive & ~zero).tolist()


def test_tally_rounds_exact_ties_to_even() -> None:
    phi = torch.arange(8, dtype=torch.float64)  # phi * 1 + 0.5: 0.5, 1.5, ... exact ties
    alive = torch.ones(8, dtype=torch.bool)
    live, _ = tally_expected(
        phi.clone(), torch.zeros(8, dtype=torch.bool), alive, torch.empty(8, dtype=torch.bool), 1.0, 0.5
    )
    assert live == sum(round(k + 0.5) for k in range(8)) == 0 + 2 + 2 + 4 + 4 + 6 + 6 + 8


def test_the_wrappers_refuse_mismatched_tensors() -> None:
    gram, eps = random_gram_and_draws(4, 10, seed=0)
    out, cos, zero = (
        torch.empty(3, 10, dtype=torch.float64),
        torch.empty(10, dtype=torch.float64),
        torch.empty(10, dtype=torch.bool),
    )
    with pytest.raises(ValueError, match="pair_step"):
        pair_step(gram, eps[:, :, :9], out, cos, zero, scratch)
    with pytest.raises(ValueError, match="pair_step"):
        pair_step(gram, eps, out, cos.float(), zero, scratch)
    with pytest.raises(ValueError, match="gram_of"):
        gram_of(eps, torch.empty(1, 10, dtype=torch.float64), scratch)
    with pytest.raises(ValueError, match="tally_expected"):
        tally_expected(cos, zero[:5], zero.clone(), zero.clone(), 1.0, 0.0)


def test_step_matches_the_gaussian_reduction_computed_directly() -> None:
    """The PyTorch path against the textbook form: z_1 ∝ cos θ ε_0 + sin θ ε_1 (the scale drops out)."""
    gram, eps = random_gram_and_draws(12, 200, seed=7)
    h, out, cos, zero = run_step(gram, eps)
    uu, vv, uv = gram.numpy()
    e = eps.double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(uu * vv > 0, uv / np.sqrt(uu * vv), 1.0)
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, None))
    z1 = c * e[0] + s * e[1]  # (N, m): the same direction as the probe's lerp, another positive factor
    h0, h1 = np.maximum(e[0], 0.0), np.maximum(z1, 0.0)
    alive = ((h0 * h0).sum(0) > 0) & ((h1 * h1).sum(0) > 0)
    direct_cos = (h0 * h1).sum(0)[alive] / np.sqrt((h0 * h0).sum(0) * (h1 * h1).sum(0))[alive]
    probe_cos = out[2].numpy()[alive] / np.sqrt(out[0].numpy() * out[1].numpy())[alive]
    np.testing.assert_allclose(probe_cos, direct_cos, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cos.numpy(), c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h[0].numpy(), h0, rtol=0)  # point 0 keeps its own draws
    assert zero.tolist() == ((h0 * h0).sum(0) + (h1 * h1).sum(0) == 0).tolist() and zero.any()
    factor = lerp_factor(gram).numpy()  # the lerp's point 1 is the textbook one divided by cos θ + sin θ
    np.testing.assert_allclose(h[1].numpy() * factor, h1, rtol=2e-5, atol=1e-6)


def test_a_point_whose_state_is_zero_becomes_a_copy_of_the_other() -> None:
    gram, eps = random_gram_and_draws(6, 8, seed=3)
    h, out, cos, zero = run_step(gram, eps)
    assert cos[0] == 1.0 and cos[1] == 1.0  # a zero point (or both): cos θ = 1
    assert torch.equal(h[1, :, 0], h[0, :, 0])  # the lerp moves nothing: point 1 copies point 0's units
    assert math.isclose(float(cos[3]), TINY / math.sqrt(float(gram[0, 3] * gram[1, 3])), rel_tol=1e-12)


CLOSE_POINTS = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 3e-6]])


def test_nearly_identical_points_agree_with_the_probe_without_shortcuts() -> None:
    """The fused step's Gram and lerp stay accurate when the two points' states are nearly parallel
    (uu vv - w² is a tiny difference of large numbers): its near-constant fraction matches the probe that
    draws every weight in float64 (``shortcuts=False``), within the two estimates' standard errors. (The
    points differ by 8e-7 of their length, so float32 rounding anywhere shows: 0.55 with every weight drawn in
    float32, 0.29 with the previous float32 Gram, against 0.60.)"""
    chain = make_chain(3, [8] * 6, law="he-normal")
    n = 20_000
    fast = probe_chain(None, chain, samples=n, seed=1, device="cpu", progress=False, data=CLOSE_POINTS)
    slow = probe_chain(
        None,
        chain,
        samples=n,
        seed=2,
        device="cpu",
        progress=False,
        data=CLOSE_POINTS,
        shortcuts=False,
        dtype=torch.float64,
    )
    assert "gaussian-reduced" in fast.method and "gaussian-reduced" not in slow.method
    p, q = fast.near_constant / n, slow.near_constant / n
    se = math.sqrt(p * (1 - p) / n + q * (1 - q) / n)
    assert q > 0.3 and abs(p - q) < 4 * se, (p, q, se)


def test_float64_draws_agree_with_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """float64 runs take the PyTorch path (their own buffers: the dtypes of the draws and the Grams coincide)."""
    chain = make_chain(1, [3] * 12, law="he-normal")
    n = 30_000
    runs = [
        probe_chain(None, chain, samples=n, seed=s, device="cpu", progress=False, dtype=d)
        for s, d in ((3, torch.float32), (4, torch.float64))
    ]
    (k32, k64) = (r.born_dead for r in runs)
    lo, hi = wilson_interval(k32, n)
    p = k32 / n
    se = math.sqrt(2 * p * (1 - p) / n)
    assert abs(k64 - k32) / n < 4 * se, (k32, k64, lo, hi)
    assert 0.2 < p < 0.8  # a chain where born-dead samples are common, so the comparison has teeth


@pytest.mark.parametrize("k", [1, 3])
def test_a_first_layer_from_the_points_is_each_points_product(k: int) -> None:
    """``W x_p`` for the fixed points, samples last: one input (a multiply by each point's number) and
    several (a matmul) give the plain per-sample products, bit for bit where there is one input."""
    from relulint.probe.pair_engine import _points_affine_samples_last

    gen = torch.Generator().manual_seed(k)
    n_out, m = 5, 257
    w = torch.empty(n_out, k, m).normal_(generator=gen)
    xs = torch.tensor([[-1.5] * k, [0.25] * k])[:, :k]
    out = torch.full((2 * n_out * m,), float("nan"))
    z = _points_affine_samples_last(w, None, xs, out)
    if k == 1:
        assert torch.equal(bits(z), bits(w[:, 0][None] * xs[:, 0, None, None]))
    else:
        torch.testing.assert_close(z, torch.einsum("pk,nkm->pnm", xs, w))


@pytest.mark.parametrize(
    ("widths", "data", "dtype"),
    [
        ([10] * 10, None, torch.float32),
        ([3] * 12, None, torch.float32),
        ([10] * 10, None, torch.float64),
        ([8] * 6, np.array([[1.0, 2.0, 3.0], [1.0 + 1e-6, 2.0, 3.0]]), torch.float32),  # nearly identical
    ],
)
def test_the_gpu_form_of_the_step_counts_as_the_cpu_form(
    monkeypatch: pytest.MonkeyPatch, widths: list[int], data: np.ndarray | None, dtype: torch.dtype
) -> None:
    """The form CUDA takes (one reduction for the Gram, PyTorch's square roots), run on the CPU through the
    whole probe: the same counts as the CPU form, sample for sample, on seeded runs of 100,000."""
    from relulint.probe import pair_step as step

    def run() -> tuple[int, int, list[int]]:
        tally = Tally()
        chain = make_chain(1 if data is None else data.shape[1], widths)
        probe_chain(
            None,
            chain,
            samples=100_000,
            seed=7,
            device="cpu",
            progress=False,
            tally=tally,
            data=data,
            dtype=dtype,
        )
        return tally.born_dead, tally.near_constant, tally.dead_units

    cpu_form = run()
    gpu_calls: list[str] = []

    def gpu_form(t: torch.Tensor) -> bool:
        gpu_calls.append(t.device.type)
        return False

    monkeypatch.setattr(step, "in_order", gpu_form)
    assert run() == cpu_form
    assert gpu_calls  # the GPU form ran
