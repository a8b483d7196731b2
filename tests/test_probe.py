"""The Monte-Carlo probe (`relulint.probe`) against the papers: seeded, tolerances from the standard error.

Tolerance convention: an estimate p̂ from n samples agrees with p when |p̂ − p| ≤ 4·sqrt(p(1 − p)/n); two
estimates agree when their difference is within 4 combined standard errors. Depth counts ReLU layers.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from probe_helpers import make_chain, negative_bias_chain

from relulint.errors import DataError
from relulint.probe import ProbeInterrupted, load_probe_data, probe_chain, wilson_interval
from relulint.theory.collapse import p_born_dead_upper, p_collapse_width2_exact
from relulint.theory.dying import p_born_dead_lower_din1


def se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1.0 - p), 1.0 / n) / n)


def se2(p1: float, n1: int, p2: float, n2: int) -> float:
    p = (p1 * n1 + p2 * n2) / (n1 + n2)
    return math.sqrt(max(p * (1.0 - p), 1.0 / (n1 + n2)) * (1.0 / n1 + 1.0 / n2))


# ------------------------------------------------------------------------------------------ the papers


def test_width2_two_layers_matches_exact_5_32() -> None:
    n = 40_000
    result = probe_chain(None, make_chain(1, [2, 2]), samples=n, seed=11, device="cpu")
    exact = float(p_collapse_width2_exact(2))
    assert exact == float(Fraction(5, 32))
    assert abs(result.estimate - exact) <= 4 * se(exact, n)
    assert "exact-2-point" in result.method


def test_width2_between_dying_bounds_to_depth_30() -> None:
    """`dying` Thm 3.3 (lower, d_in = 1) ≤ P ≤ Thm 3.2 / `collapse` Thm 8 (upper) at every depth 1..30."""
    n = 8_000
    for depth in range(1, 31):
        p = probe_chain(None, make_chain(1, [2] * depth), samples=n, seed=depth, device="cpu").estimate
        lower = p_born_dead_lower_din1(depth, 2)
        upper = p_born_dead_upper([2] * depth)
        assert p >= lower - 4 * se(lower, n), (depth, p, lower)
        assert p <= upper + 4 * se(upper, n), (depth, p, upper)
    assert (
        probe_chain(None, make_chain(1, [2]), samples=n, device="cpu").born_dead == 0
    )  # one layer never dies


def test_he_normal_and_he_uniform_agree() -> None:
    """`collapse`: any symmetric law; the probe's two paths (Gaussian reduction vs drawn weights) too."""
    n = 60_000
    normal = probe_chain(None, make_chain(1, [3] * 6, law="he-normal"), samples=n, seed=1, device="cpu")
    uniform = probe_chain(None, make_chain(1, [3] * 6, law="he-uniform"), samples=n, seed=2, device="cpu")
    assert "gaussian-reduced" in normal.method and "gaussian-reduced" not in uniform.method
    assert abs(normal.estimate - uniform.estimate) <= 4 * se2(normal.estimate, n, uniform.estimate, n)


def test_orthogonal_a_little_lower() -> None:
    """`dying` §4.3 / Fig. 4: orthogonal rows are dependent and die a little less (width 3, depth 6: ~0.026)."""
    n = 50_000
    he = probe_chain(None, make_chain(1, [3] * 6, law="he-normal"), samples=n, seed=3, device="cpu").estimate
    orth = probe_chain(
        None, make_chain(1, [3] * 6, law="orthogonal"), samples=n, seed=4, device="cpu"
    ).estimate
    assert he - orth > 4 * se2(he, n, orth, n)
    assert he - orth < 0.06  # "a little"


def test_rai_lowers_10_layer_width2_to_about_22_percent() -> None:
    """`dying` §5: a 10-layer (9 ReLU layers) width-2 net, d_in = 1: ~88 % symmetric → ~22 % with RAI."""
    n = 10_000
    chain = make_chain(1, [2] * 9, bias=True)
    he = probe_chain(None, chain, samples=n, seed=5, device="cpu")
    rai = probe_chain(None, chain, samples=n, seed=5, device="cpu", init="rai")
    assert rai.init == "rai"
    assert he.estimate >= p_born_dead_lower_din1(9, 2) - 4 * se(0.88, n)
    assert 0.17 <= rai.estimate <= 0.27
    assert rai.ci[1] < he.ci[0]


# ------------------------------------------------------------------------------------------- shortcuts


def test_exact_two_point_matches_256_points() -> None:
    n = 30_000
    chain = make_chain(1, [4] * 8)
    exact = probe_chain(None, chain, samples=n, seed=6, device="cpu")
    full = probe_chain(None, chain, samples=n, seed=7, device="cpu", shortcuts=False)
    assert "exact-2-point" in exact.method and full.method == "batched"
    assert abs(exact.estimate - full.estimate) <= 4 * se2(exact.estimate, n, full.estimate, n)
    for a, b in zip(exact.dead_unit_fraction, full.dead_unit_fraction, strict=True):
        assert abs(a - b) < 0.02


def test_gaussian_reduction_with_gaussian_bias_matches_direct() -> None:
    """Two data points, He weights and N(0, 1) biases: reduced (correlated normals) vs drawn weights."""
    n = 30_000
    chain = make_chain(3, [5] * 6, bias=True, bias_law=None)
    chain = _with_normal_bias(chain)
    data = np.array([[1.0, -0.5, 0.3], [-0.2, 0.8, -1.0]])
    reduced = probe_chain(None, chain, samples=n, seed=8, data=data, device="cpu")
    direct = probe_chain(None, chain, samples=n, seed=9, data=data, device="cpu", shortcuts=False)
    assert "gaussian-reduced" in reduced.method and "gaussian-reduced" not in direct.method
    assert abs(reduced.estimate - direct.estimate) <= 4 * se2(reduced.estimate, n, direct.estimate, n)
    assert 0.01 < reduced.estimate < 0.99


def _with_normal_bias(chain):  # type: ignore[no-untyped-def]
    import dataclasses

    from relulint.records.model_facts import InitInfo

    bias = InitInfo("normal", True, args={"mean": 0.0, "std": 1.0})
    layers = tuple(dataclasses.replace(layer, bias_init=bias) for layer in chain.layers)
    return dataclasses.replace(chain, layers=layers)


def test_pytorch_default_with_biases_counts_near_constant() -> None:
    """PyTorch's default init shrinks the signal (σ_w² = 1/3): many live nets are numerically constant."""
    result = probe_chain(None, make_chain(2, [4] * 20, law="default", bias=True), samples=3_000, seed=0)
    assert result.method == "batched"
    assert 0.5 < result.estimate < 0.85
    assert result.near_constant > 0.1 * result.samples
    assert len(result.dead_unit_fraction) == 20
    assert list(result.dead_unit_fraction) == sorted(result.dead_unit_fraction)  # dead samples count as dead
    bias_free = probe_chain(None, make_chain(1, [4] * 5), samples=2_000, seed=0)
    assert bias_free.near_constant == 0


# --------------------------------------------------------------------------------------------- basics


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27754), abs=2e-5)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=2e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.72246, 1.0), abs=2e-5)
    assert wilson_interval(81, 263) == pytest.approx((0.25529, 0.36621), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_deterministic_per_seed() -> None:
    chain = make_chain(2, [3] * 6, law="default", bias=True)
    a = probe_chain(None, chain, samples=2_000, seed=42, points=32)
    b = probe_chain(None, chain, samples=2_000, seed=42, points=32)
    c = probe_chain(None, chain, samples=2_000, seed=43, points=32)
    assert (a.born_dead, a.near_constant, a.dead_unit_fraction) == (
        b.born_dead,
        b.near_constant,
        b.dead_unit_fraction,
    )
    assert (a.born_dead, a.dead_unit_fraction) != (c.born_dead, c.dead_unit_fraction)


def test_result_fields_and_json() -> None:
    result = probe_chain(None, make_chain(1, [2] * 3), samples=500, seed=0, device="cpu")
    record = result.as_dict()
    assert {"samples", "born_dead", "ci", "near_constant", "device", "seconds"} <= set(record)
    assert record["samples"] == 500 and record["device"] == "cpu" and record["seconds"] > 0
    lo, hi = record["ci"]
    assert lo <= result.estimate <= hi


def test_cuda_requested_without_gpu_falls_back_with_note() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = probe_chain(None, make_chain(1, [2] * 3), samples=200, device="cuda")
    assert result.device == "cpu"
    assert "no CUDA device; ran on CPU" in result.notes


def test_ctrl_c_returns_partial_estimate() -> None:
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(ProbeInterrupted) as info:
        probe_chain(None, make_chain(1, [2] * 4), samples=5_000, chunk=1_000, block=1_000, progress=progress)
    partial = info.value.result
    assert partial.samples == 2_000
    assert any("interrupted" in note for note in partial.notes)


def test_beyond_bound_note_for_positive_bias() -> None:
    """A constant negative bias kills far more often than the symmetric bound allows: the note says why."""
    chain = negative_bias_chain()
    result = probe_chain(None, chain, samples=2_000, seed=0)
    assert result.ci[0] > p_born_dead_upper(chain.hidden_widths)
    assert any("does not cover" in note and "biases" in note for note in result.notes)


# ----------------------------------------------------------------------------------------------- data


def test_load_probe_data_formats(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = np.array([[0.5, -1.0], [1.5, 2.0], [-0.25, 0.0]])
    np.save(tmp_path / "d.npy", x)
    torch.save(torch.tensor(x), tmp_path / "d.pt")
    torch.save({"x": torch.tensor(x), "y": torch.zeros(3)}, tmp_path / "dict.pt")
    (tmp_path / "d.csv").write_text("a,b\n0.5,-1.0\n1.5,2.0\n-0.25,0\n")
    for name in ("d.npy", "d.pt", "dict.pt", "d.csv"):
        np.testing.assert_allclose(load_probe_data(tmp_path / name), x)
    np.save(tmp_path / "col.npy", np.array([1.0, -2.0]))
    assert load_probe_data(tmp_path / "col.npy").shape == (2, 1)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.npy", None),
        ("d.txt", "1,2"),
        ("bad.csv", "a,b\n1,x\n"),
        ("nan.csv", "1,nan\n"),
        ("e.csv", ""),
    ],
)
def test_load_probe_data_errors(tmp_path, name: str, content: str | None) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError) as info:
        load_probe_data(path)
    assert info.value.hint
    assert "\n" not in info.value.message


def test_data_with_wrong_width_is_a_data_error() -> None:
    with pytest.raises(DataError):
        probe_chain(None, make_chain(2, [3] * 2), samples=10, data=np.zeros((4, 3)))


def test_data_drives_the_exact_path_and_caps_points() -> None:
    data = np.linspace(0.5, 2.0, 50).reshape(-1, 1)  # one sign only: D = {+1}
    result = probe_chain(None, make_chain(1, [2] * 3), samples=4_000, seed=0, data=data)
    assert "exact-2-point" in result.method and "{+1}" in " ".join(result.notes)
    # from one positive point, a layer of width 2 dies with prob 1/4 each (`collapse` Thm 8 is exact)
    assert abs(result.estimate - p_born_dead_upper([2] * 3)) <= 4 * se(p_born_dead_upper([2] * 3), 4_000)
    many = probe_chain(
        None, make_chain(2, [3] * 2), samples=100, data=np.random.default_rng(0).normal(size=(500, 2))
    )
    assert any("256 of the 500" in note for note in many.notes)
