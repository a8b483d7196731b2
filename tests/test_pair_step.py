"""The pair engine's fused layer step (`relulint.pair_step`) and its C kernel (`relulint.native`).

The kernel changes speed only: its results must equal the PyTorch path's bit for bit, on edge cases too
(a point whose state is zero, orthogonal, identical and nearly identical inputs, zero layers, lengths that
are not a multiple of any vector width), and the whole probe must give the same counts with and without it.
The PyTorch path itself is checked against a direct computation of the Gaussian reduction and against the
probe without shortcuts. The loader must fall back, never fail, whatever the machine's compiler or cache.

``RELULINT_REQUIRE_NATIVE=1`` (set by ``.ci/run`` where a C compiler exists) turns the skips for a missing
kernel into failures.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from probe_helpers import make_chain

from relulint import native
from relulint.pair_step import TINY, gram_of, lerp_factor, pair_step, relu_state, self_check, tally_expected
from relulint.probe import _Tally, probe_chain, wilson_interval


def scratch(numel: int) -> torch.Tensor:
    return torch.empty(numel, dtype=torch.float64)


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
        if os.environ.get("RELULINT_REQUIRE_NATIVE") == "1":
            pytest.fail(f"RELULINT_REQUIRE_NATIVE=1 but {native.native_status()}")
        pytest.skip(f"the C kernel is not available here: {native.native_status()}")
    return kernel


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
    gram = torch.empty(3, m, dtype=torch.float64)
    gram_of(h, gram, scratch, native=False)
    eps = torch.empty(2, units, m).normal_(generator=gen)
    eps[:, :, m // 2 :: 7] = -eps[:, :, m // 2 :: 7].abs()  # these columns' layer is zero at both points
    return gram, eps


def run_step(gram: torch.Tensor, eps: torch.Tensor, *, use_native: bool, keep: bool = True):
    _, units, m = eps.shape
    eps = eps.clone()
    out = torch.empty(3, m, dtype=torch.float64)
    cos = torch.empty(m, dtype=torch.float64)
    zero = torch.empty(m, dtype=torch.bool)
    pair_step(gram, eps, out, cos, zero, scratch, keep=keep, native=use_native)
    return eps, out, cos, zero


@pytest.mark.parametrize("units", [1, 2, 3, 10, 17])
@pytest.mark.parametrize("m", [1, 3, 7, 513, 1000])
def test_kernel_step_is_bit_identical_to_the_pytorch_path(units: int, m: int) -> None:
    kernel_or_skip()
    gram, eps = random_gram_and_draws(units, m, seed=units * 1000 + m)
    fast, slow = run_step(gram, eps, use_native=True), run_step(gram, eps, use_native=False)
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(bits(a), bits(b))
    if m >= 7:
        assert fast[3].any()  # the zero flags were exercised


@pytest.mark.parametrize("units", [1, 10])
def test_kernel_step_without_keeping_the_states_gives_the_same_gram(units: int) -> None:
    kernel_or_skip()
    gram, eps = random_gram_and_draws(units, 999, seed=5)
    _, *fast = run_step(gram, eps, use_native=True, keep=False)
    _, *slow = run_step(gram, eps, use_native=False)
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(bits(a), bits(b))


@pytest.mark.parametrize("points", [1, 2])
@pytest.mark.parametrize("m", [1, 5, 1031])
def test_kernel_gram_is_bit_identical_to_the_pytorch_path(points: int, m: int) -> None:
    kernel_or_skip()
    h = torch.empty(points, 9, m).normal_(generator=torch.Generator().manual_seed(m)).clamp_min_(0.0)
    rows = 3 if points == 2 else 1
    fast = gram_of(h, torch.empty(rows, m, dtype=torch.float64), scratch)
    slow = gram_of(h, torch.empty(rows, m, dtype=torch.float64), scratch, native=False)
    assert torch.equal(bits(fast), bits(slow))
    exact = (h.double()[:, None] * h.double()[None]).sum(2)  # float products are exact in float64
    np.testing.assert_allclose(fast[0].numpy(), exact[0, 0].numpy(), rtol=1e-15)


@pytest.mark.parametrize("points", [1, 2])
@pytest.mark.parametrize("m", [1, 7, 1031])
def test_kernel_relu_state_is_bit_identical_to_the_pytorch_path(points: int, m: int) -> None:
    kernel_or_skip()
    z = torch.empty(points, 6, m).normal_(generator=torch.Generator().manual_seed(m + points))
    z[:, :, m // 2 :: 5] = -z[:, :, m // 2 :: 5].abs()  # dead samples
    results = []
    for use_native in (True, False):
        zz, live, top = z.clone(), torch.empty(m), torch.empty(points, m)
        relu_state(zz, live, top, native=use_native)
        results.append((zz, live, top))
    for a, b in zip(*results, strict=True):
        assert torch.equal(bits(a), bits(b))
    zz, live, top = results[0]
    assert torch.equal(zz, z.clamp_min(0.0)) and torch.equal(top, zz.amax(dim=1))
    assert live.tolist() == (zz.sum(0) > 0).sum(0).float().tolist() and (live == 0).any()


@pytest.mark.parametrize("m", [1, 6, 1000])
def test_kernel_tally_is_bit_identical_to_the_pytorch_path(m: int) -> None:
    kernel_or_skip()
    gen = torch.Generator().manual_seed(m)
    phi = torch.rand(m, generator=gen, dtype=torch.float64).mul_(math.pi / 2)
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
    expected = sum(round(float(p) * scale + offset) for p, ok in zip(phi, alive, strict=True) if ok)
    assert live == expected  # Python's round: half to even, on the same two float64 operations
    assert died.tolist() == (zero & alive).tolist() and killed == int((zero & alive).sum())
    assert a.tolist() == (alive & ~zero).tolist()


def test_kernel_tally_rounds_exact_ties_to_even() -> None:
    kernel_or_skip()
    phi = torch.arange(8, dtype=torch.float64)  # phi * 1 + 0.5: 0.5, 1.5, ... exact ties
    for use_native in (True, False):
        alive = torch.ones(8, dtype=torch.bool)
        live, _ = tally_expected(
            phi.clone(),
            torch.zeros(8, dtype=torch.bool),
            alive,
            torch.empty(8, dtype=torch.bool),
            1.0,
            0.5,
            native=use_native,
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
    h, out, cos, zero = run_step(gram, eps, use_native=False)
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
    h, out, cos, zero = run_step(gram, eps, use_native=False)
    assert cos[0] == 1.0 and cos[1] == 1.0  # a zero point (or both): cos θ = 1
    assert torch.equal(h[1, :, 0], h[0, :, 0])  # the lerp moves nothing: point 1 copies point 0's units
    assert math.isclose(float(cos[3]), TINY / math.sqrt(float(gram[0, 3] * gram[1, 3])), rel_tol=1e-12)


CLOSE_POINTS = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 3e-6]])
CHAINS = {
    "1→10×10→1 exact 2-point": (dict(d_in=1, widths=[10] * 10), {}),
    "width 3, depth 12": (dict(d_in=1, widths=[3] * 12), {}),
    "2 data points, d_in 3": (
        dict(d_in=3, widths=[5] * 6),
        {"data": np.array([[0.5, -1, 2], [1.5, 0.2, -0.3]])},
    ),
    "2 nearly identical points (near-constant)": (dict(d_in=3, widths=[8] * 6), {"data": CLOSE_POINTS}),
    "multi-block chunks": (dict(d_in=1, widths=[4] * 9), {"block": 1000, "chunk": 3000}),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_probe_counts_are_identical_with_and_without_the_kernel(
    name: str, monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    kernel_or_skip()
    chain_kwargs, probe_kwargs = CHAINS[name]
    chain = make_chain(**chain_kwargs, law="he-normal")
    calls: list[bool] = []
    real_step = native.pair_kernel().step  # type: ignore[union-attr]

    def tally(flag: str) -> _Tally:
        monkeypatch.setenv("RELULINT_NATIVE", flag)
        native._reset()
        kernel = native.pair_kernel()
        if kernel is not None:
            counting = lambda *a: calls.append(True) or real_step(*a)  # noqa: E731
            monkeypatch.setitem(native._state, "kernel", dataclasses.replace(kernel, step=counting))
        out = _Tally()
        probe_chain(
            None, chain, samples=30_000, seed=11, device="cpu", progress=False, tally=out, **probe_kwargs
        )
        return out

    with_kernel, without = tally("1"), tally("0")
    assert calls, "the fused step never ran"
    assert native.native_status() == "PyTorch path: RELULINT_NATIVE=0"
    assert with_kernel.born_dead == without.born_dead
    assert with_kernel.near_constant == without.near_constant
    assert with_kernel.dead_units == without.dead_units
    if "near-constant" in name:
        assert with_kernel.near_constant > 10_000


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


def test_the_kernel_is_built_once_into_the_cache(fresh_native: Path) -> None:
    kernel = kernel_or_skip()
    assert kernel.path.parent == fresh_native
    assert stat.S_IMODE(fresh_native.stat().st_mode) == 0o700
    built = kernel.path.stat().st_mtime_ns
    native._reset()
    again = native.pair_kernel()
    assert again is not None and again.path == kernel.path and again.path.stat().st_mtime_ns == built
    assert [p.name for p in fresh_native.iterdir()] == [kernel.path.name]  # no temporary files left


def test_a_corrupt_cached_library_is_built_again(monkeypatch: pytest.MonkeyPatch, fresh_native: Path) -> None:
    """A library left truncated (a build killed half-way on another machine of a shared home, a full disk)."""
    kernel_or_skip()
    other = fresh_native.parent / "other-cache"  # not the loaded library's directory: that one is mapped
    monkeypatch.setenv("RELULINT_CACHE_DIR", str(other))
    native._reset()
    other.mkdir(mode=0o700)
    corrupt = other / native._library_name(native._compiler(), native._flags())  # type: ignore[arg-type]
    corrupt.write_bytes(b"\x7fELF truncated")
    corrupt.chmod(0o600)
    kernel = native.pair_kernel()
    assert kernel is not None and kernel.path == corrupt and corrupt.stat().st_size > 1000


def test_the_self_check_passes_and_a_failing_one_refuses_the_kernel(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    kernel = kernel_or_skip()
    assert self_check(kernel) == ""
    import relulint.pair_step as pair_step_module

    monkeypatch.setattr(
        pair_step_module, "self_check", lambda kernel: "the kernel's cos differ from PyTorch's"
    )
    native._reset()
    assert native.pair_kernel() is None
    assert native.native_status().startswith("PyTorch path: refused pair_step-")
    assert native.native_status().endswith(
        "the kernel's cos differ from PyTorch's (set CC to another compiler)"
    )


def test_cc_with_arguments(monkeypatch: pytest.MonkeyPatch, fresh_native: Path) -> None:
    kernel_or_skip()
    monkeypatch.setenv("CC", f"{native._compiler()[0]} -DRELULINT_UNUSED=1")  # type: ignore[index]
    native._reset()
    assert native.pair_kernel() is not None, native.native_status()


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch, fresh_native: Path) -> None:
    monkeypatch.setenv("RELULINT_NATIVE", "0")
    assert native.pair_kernel() is None
    assert native.native_status() == "PyTorch path: RELULINT_NATIVE=0"
    assert not fresh_native.exists()  # nothing built


def test_no_compiler_falls_back(monkeypatch: pytest.MonkeyPatch, fresh_native: Path) -> None:
    monkeypatch.setenv("CC", "relulint-no-such-compiler")
    assert native.pair_kernel() is None
    assert native.native_status() == "PyTorch path: no C compiler found (set CC)"


def fake_compiler(directory: Path, script: str) -> Path:
    path = directory / "fake-cc"
    path.write_bytes(b"#!/bin/sh\n" + script.encode("latin-1") + b"\n")
    path.chmod(0o755)
    return path


def test_a_failing_build_falls_back_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    fake = fake_compiler(fresh_native.parent, "echo 'x.c:1:1: error: no license' >&2\necho '  ^' >&2\nexit 1")
    monkeypatch.setenv("CC", str(fake))
    assert native.pair_kernel() is None
    assert (
        native.native_status()
        == "PyTorch path: building the kernel failed (fake-cc: x.c:1:1: error: no license)"
    )
    assert list(fresh_native.iterdir()) == []
    result = probe_chain(None, make_chain(1, [4] * 6), samples=500, seed=0, device="cpu", progress=False)
    assert result.samples == 500  # and the probe still runs, on the PyTorch path


def test_a_compiler_that_prints_bytes_or_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    monkeypatch.setenv(
        "CC", str(fake_compiler(fresh_native.parent, "printf '\\377\\376 broken\\n' >&2\nexit 1"))
    )
    assert native.pair_kernel() is None
    assert native.native_status().startswith("PyTorch path: building the kernel failed (fake-cc: ")
    native._reset()
    monkeypatch.setenv("CC", str(fake_compiler(fresh_native.parent, "exit 0")))  # succeeds, writes nothing
    assert native.pair_kernel() is None
    assert native.native_status() == "PyTorch path: building the kernel failed (fake-cc wrote nothing)"
    assert list(fresh_native.iterdir()) == []


def test_never_uses_a_cache_directory_someone_else_owns(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    fresh_native.mkdir(mode=0o700)
    owner = fresh_native.stat().st_uid
    monkeypatch.setattr(native, "_uid", lambda: owner + 1)  # as another user would see it
    assert native.pair_kernel() is None
    assert (
        native.native_status()
        == "PyTorch path: no private, writable cache directory (set RELULINT_CACHE_DIR)"
    )


def test_never_uses_a_cache_directory_others_can_write(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    fresh_native.mkdir(mode=0o700)
    fresh_native.chmod(0o777)
    assert native.pair_kernel() is None
    assert "no private, writable cache directory" in native.native_status()


def test_no_home_directory_falls_back_to_a_private_temporary_one(
    monkeypatch: pytest.MonkeyPatch, fresh_native: Path
) -> None:
    kernel_or_skip()
    monkeypatch.delenv("RELULINT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(native.Path, "home", staticmethod(no_home))
    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(fresh_native.parent))
    native._reset()
    kernel = native.pair_kernel()
    assert kernel is not None and kernel.path.parent == fresh_native.parent / f"relulint-{native._uid()}"
