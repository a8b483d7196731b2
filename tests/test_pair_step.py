"""The pair engine's fused layer step (`relulint.pair_step`) and its C kernel (`relulint.native`).

The kernel changes speed only: its results must equal the PyTorch path's bit for bit, on edge cases too
(a point whose state is zero, orthogonal inputs, lengths that are not a multiple of any vector width), and
the whole probe must give the same counts with and without it. The PyTorch path itself is checked against
a direct computation of the Gaussian reduction.
"""

from __future__ import annotations

import math
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from probe_helpers import make_chain

from relulint import native
from relulint.pair_step import TINY, gram_of, lerp_factor, pair_step, scratch_numel, tally_expected
from relulint.probe import _Tally, probe_chain


@pytest.fixture
def fresh_native(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Load the kernel again under this test's environment (a private cache directory), and forget it after."""
    monkeypatch.setenv("RELULINT_CACHE_DIR", str(tmp_path / "cache"))
    native._reset()
    yield tmp_path / "cache"
    native._reset()


def kernel_or_skip() -> native.PairKernel:
    kernel = native.pair_kernel()
    if kernel is None:
        pytest.skip(f"the C kernel is not available here: {native.native_status()}")
    return kernel


def random_gram_and_draws(units: int, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A Gram of real post-ReLU states (with zero points, orthogonal and identical pairs planted) and draws."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.empty(2, units, m).normal_(generator=gen).clamp_min_(0.0)
    if m >= 4:
        h[0, :, 0] = 0.0  # point 0 zero
        h[:, :, 1] = 0.0  # both zero
        h[1, :, 2] = h[0, :, 2]  # identical: cos θ = 1
        h[1, :, 3] = torch.where(h[0, :, 3] > 0, 0.0, 1.0)  # disjoint supports: cos θ = 0
    gram = torch.empty(3, m, dtype=torch.float64)
    gram_of(h, gram, torch.empty(scratch_numel(units, m)), native=False)
    return gram, torch.empty(2, units, m).normal_(generator=gen)


def run_step(gram: torch.Tensor, eps: torch.Tensor, *, use_native: bool):
    _, units, m = eps.shape
    eps = eps.clone()
    out = torch.empty(3, m, dtype=torch.float64)
    cos = torch.empty(m, dtype=torch.float64)
    zero = torch.empty(m, dtype=torch.bool)
    pair_step(gram, eps, out, cos, zero, torch.empty(scratch_numel(units, m)), native=use_native)
    return eps, out, cos, zero


@pytest.mark.parametrize("units", [1, 2, 3, 10, 17])
@pytest.mark.parametrize("m", [1, 3, 7, 513, 1000])
def test_kernel_step_is_bit_identical_to_the_pytorch_path(units: int, m: int) -> None:
    kernel_or_skip()
    gram, eps = random_gram_and_draws(units, m, seed=units * 1000 + m)
    for fast, slow in zip(
        run_step(gram, eps, use_native=True), run_step(gram, eps, use_native=False), strict=True
    ):
        assert torch.equal(fast, slow)


@pytest.mark.parametrize("points", [1, 2])
@pytest.mark.parametrize("m", [1, 5, 1031])
def test_kernel_gram_is_bit_identical_to_the_pytorch_path(points: int, m: int) -> None:
    kernel_or_skip()
    h = torch.empty(points, 9, m).normal_(generator=torch.Generator().manual_seed(m)).clamp_min_(0.0)
    rows = 3 if points == 2 else 1
    fast = gram_of(h, torch.empty(rows, m, dtype=torch.float64), torch.empty(scratch_numel(9, m)))
    slow = gram_of(
        h, torch.empty(rows, m, dtype=torch.float64), torch.empty(scratch_numel(9, m)), native=False
    )
    assert torch.equal(fast, slow)


@pytest.mark.parametrize("m", [1, 6, 1000])
def test_kernel_tally_is_bit_identical_to_the_pytorch_path(m: int) -> None:
    kernel_or_skip()
    gen = torch.Generator().manual_seed(m)
    phi = torch.rand(m, generator=gen, dtype=torch.float64).mul_(math.pi / 2)
    phi[: m // 3] = math.pi / 2  # cos θ = 1: exact ties of the fixed point are not special
    zero = torch.rand(m, generator=gen) < 0.3
    alive = torch.rand(m, generator=gen) < 0.8
    width = 10
    scale, offset = -width * 65536 / (2 * math.pi), 0.75 * width * 65536
    results = []
    for use_native in (True, False):
        a, died = alive.clone(), torch.empty(m, dtype=torch.bool)
        live, killed = tally_expected(phi.clone(), zero, a, died, scale, offset, native=use_native)
        results.append((live, killed, died, a))
    (live, killed, died, a), (live2, killed2, died2, a2) = results
    assert (live, killed) == (live2, killed2)
    assert torch.equal(died, died2) and torch.equal(a, a2)
    # and against the definition
    expected = sum(round(float(p) * scale + offset) for p, ok in zip(phi, alive, strict=True) if ok)
    assert live == expected
    assert died.tolist() == (zero & alive).tolist() and killed == int((zero & alive).sum())
    assert a.tolist() == (alive & ~zero).tolist()


def test_step_matches_the_gaussian_reduction_computed_directly() -> None:
    """The PyTorch path against the textbook form: z_1 ∝ cos θ ε_0 + sin θ ε_1 (the scale drops out)."""
    gram, eps = random_gram_and_draws(12, 200, seed=7)
    h, out, cos, zero = run_step(gram, eps, use_native=False)
    uu, vv, uv = gram.double().numpy()
    e = eps.double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(uu * vv > 0, uv / np.sqrt(uu * vv), 1.0)
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, None))
    z1 = c * e[0] + s * e[1]  # (N, m): the same direction as the probe's lerp, another positive factor
    h0, h1 = np.maximum(e[0], 0.0), np.maximum(z1, 0.0)
    direct_cos = (h0 * h1).sum(0) / np.sqrt((h0 * h0).sum(0) * (h1 * h1).sum(0))
    probe_cos = out[2].numpy() / np.sqrt(out[0].numpy() * out[1].numpy())
    alive = ((h0 * h0).sum(0) > 0) & ((h1 * h1).sum(0) > 0)
    np.testing.assert_allclose(probe_cos[alive], direct_cos[alive], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cos.numpy(), c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h[0].numpy(), h0, rtol=0)  # point 0 keeps its own draws
    assert zero.tolist() == ((h0 * h0).sum(0) + (h1 * h1).sum(0) == 0).tolist()
    # point 1 is the textbook z_1 times cos θ + sin θ... divided by it: the lerp's factor
    factor = lerp_factor(gram).numpy()
    np.testing.assert_allclose(h[1].numpy() * factor, h1, rtol=2e-5, atol=1e-6)


def test_a_point_whose_state_is_zero_becomes_a_copy_of_the_other() -> None:
    gram, eps = random_gram_and_draws(6, 8, seed=3)
    h, out, cos, zero = run_step(gram, eps, use_native=False)
    assert cos[0] == 1.0 and cos[1] == 1.0  # a zero point (or both): cos θ = 1
    assert torch.equal(h[1, :, 0], h[0, :, 0])  # lerp weight 1: point 1 copies point 0's units
    assert math.isclose(float(cos[3]), TINY / math.sqrt(float(gram[0, 3] * gram[1, 3])), rel_tol=1e-12)


CHAINS = {
    "1→10×10→1 exact 2-point": (dict(d_in=1, widths=[10] * 10, law="he-normal"), {}),
    "width 3, depth 12": (dict(d_in=1, widths=[3] * 12, law="he-normal"), {}),
    "domain off zero (near-constant counted)": (
        dict(d_in=1, widths=[6] * 8, law="he-normal"),
        {"domain": (0.5, 2.0)},
    ),
    "2 data points, d_in 3": (
        dict(d_in=3, widths=[5] * 6, law="he-normal"),
        {"data": np.array([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3]])},
    ),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_probe_counts_are_identical_with_and_without_the_kernel(
    name: str, monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    kernel_or_skip()
    chain_kwargs, probe_kwargs = CHAINS[name]
    chain = make_chain(**chain_kwargs)

    def tally(flag: str) -> _Tally:
        monkeypatch.setenv("RELULINT_NATIVE", flag)
        native._reset()
        out = _Tally()
        probe_chain(
            None, chain, samples=30_000, seed=11, device="cpu", progress=False, tally=out, **probe_kwargs
        )
        return out

    with_kernel, without = tally("1"), tally("0")
    assert native.native_status() == "PyTorch path: RELULINT_NATIVE=0"
    assert (
        "gaussian-reduced"
        in probe_chain(None, chain, samples=10, seed=0, device="cpu", progress=False, **probe_kwargs).method
    )
    assert with_kernel.born_dead == without.born_dead
    assert with_kernel.near_constant == without.near_constant
    assert with_kernel.dead_units == without.dead_units
    assert with_kernel.drawn == without.drawn


def test_the_kernel_is_built_once_into_the_cache(fresh_native: Path) -> None:
    kernel = kernel_or_skip()
    assert kernel.path.parent == fresh_native
    assert stat.S_IMODE(fresh_native.stat().st_mode) == 0o700
    built = kernel.path.stat().st_mtime_ns
    native._reset()
    again = native.pair_kernel()
    assert again is not None and again.path == kernel.path and again.path.stat().st_mtime_ns == built
    assert [p.name for p in fresh_native.iterdir()] == [kernel.path.name]  # no temporary files left


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch, fresh_native: Path) -> None:
    monkeypatch.setenv("RELULINT_NATIVE", "0")
    assert native.pair_kernel() is None
    assert native.native_status() == "PyTorch path: RELULINT_NATIVE=0"
    assert not fresh_native.exists()  # nothing built


def test_no_compiler_falls_back(monkeypatch: pytest.MonkeyPatch, fresh_native: Path) -> None:
    monkeypatch.setenv("CC", "relulint-no-such-compiler")
    assert native.pair_kernel() is None
    assert native.native_status() == "PyTorch path: no C compiler found (set CC)"


def test_a_failing_build_falls_back_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    failing = fresh_native.parent / "failing-cc"
    failing.write_text("#!/bin/sh\necho 'cc: error: no license' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    assert native.pair_kernel() is None
    assert (
        native.native_status()
        == "PyTorch path: building the kernel failed (failing-cc: cc: error: no license)"
    )
    assert list(fresh_native.iterdir()) == []
    # and the probe still runs, on the PyTorch path
    result = probe_chain(
        None, make_chain(1, [4] * 6, law="he-normal"), samples=500, seed=0, device="cpu", progress=False
    )
    assert result.samples == 500


def test_never_loads_from_a_directory_someone_else_owns(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    fresh_native.mkdir(mode=0o700)
    owner = fresh_native.stat().st_uid
    monkeypatch.setattr(native.os, "getuid", lambda: owner + 1)  # as another user would see it
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(fresh_native.parent))
    monkeypatch.delenv("RELULINT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh_native.parent))
    (fresh_native.parent / "relulint").mkdir(mode=0o700)
    (fresh_native.parent / f"relulint-{owner + 1}").mkdir(mode=0o700)
    assert native.pair_kernel() is None
    assert native.native_status() == "PyTorch path: no writable cache directory (set RELULINT_CACHE_DIR)"
