"""RL102 restarts-needed: its numbers against independent computations (closed forms, brute force, Monte Carlo)."""

from __future__ import annotations

import math

import pytest
import torch
from relulint.rules.rl102_restarts import RestartsNeeded, p_stuck

from relulint.facts import Chain, InitInfo, Layer, Location, ModelFacts, ProbeResult, Severity
from relulint.options import Options
from relulint.registry import RuleContext
from relulint.theory.nonconvergence import inactive_region_param_counts, p_inactive_region

RULE = RestartsNeeded
DEFAULT = InitInfo(law="pytorch-default", symmetric=True)


def make_chain(width: int, depth: int, *, bias: bool = True, weight=DEFAULT, bias_init=DEFAULT) -> Chain:
    hidden = [
        Layer(
            f"{2 * i}", 1 if i == 0 else width, width, bias, "relu", weight_init=weight, bias_init=bias_init
        )
        for i in range(depth)
    ]
    return Chain(0, (*hidden, Layer("out", width, 1, bias, None)), 1, 1, "output", Location("model.py", 5))


def run(chain: Chain, probes=None, options: Options | None = None):
    facts = ModelFacts(
        "model.py:Net", "Net", "model.py", Location("model.py", 4), "fx", None, (chain,), probes=probes or {}
    )
    return list(RULE().check(facts, RuleContext(options or Options())))


def brute_force_restarts(p: float, confidence: float = 0.99) -> int:
    n = 1
    while p**n > 1 - confidence:
        n += 1
    return n


def test_width_2_depth_10_numbers() -> None:
    """1 → 2×10 → 1 with bias: layers 2..10 have 2·(2 + 1) = 6 parameters each (nonconvergence Lemma 4.1)."""
    (finding,) = run(make_chain(2, 10))
    assert finding.severity is Severity.INFO and finding.location == Location("model.py", 5)
    p_bd = 1 - (1 - 2**-2) ** 10  # collapse Thm 8 bound
    assert finding.details["p_born_dead"] == pytest.approx(p_bd)
    assert finding.details["restarts"] == brute_force_restarts(p_bd) == 80
    p_lemma = 1 - (1 - 2**-6) ** 9
    assert finding.details["p_stuck"] == pytest.approx(p_lemma, rel=1e-12)
    assert finding.details["restarts_stuck_only"] == brute_force_restarts(p_lemma)
    assert "80 independent initializations" in finding.message and "13 %" in finding.message
    # the theory module's architecture form gives the same number
    counts = inactive_region_param_counts([1] + [2] * 10 + [1])
    assert p_inactive_region(counts) == pytest.approx(p_lemma, rel=1e-12)


def test_stuck_probability_against_monte_carlo() -> None:
    """Draw PyTorch's default Linear init (uniform ±1/√fan_in for weights and biases) and count stuck nets."""
    generator = torch.Generator().manual_seed(0)
    samples, width, depth = 200_000, 2, 10
    stuck = torch.zeros(samples, dtype=torch.bool)
    for _ in range(1, depth):  # hidden layers 2..depth (Def. 3.1 excludes the first)
        bound = 1 / math.sqrt(width)
        weights = (torch.rand(samples, width, width, generator=generator) * 2 - 1) * bound
        biases = (torch.rand(samples, width, generator=generator) * 2 - 1) * bound
        stuck |= (weights < 0).flatten(1).all(1) & (biases < 0).all(1)
    estimate = stuck.double().mean().item()
    exact, _ = p_stuck(make_chain(width, depth))
    sigma = math.sqrt(exact * (1 - exact) / samples)
    assert abs(estimate - exact) < 4 * sigma


def test_init_laws_change_the_stuck_region() -> None:
    zeros = InitInfo(law="zeros", symmetric=True)
    assert p_stuck(make_chain(2, 10, bias_init=zeros)) == (0.0, False)  # a zero bias is never negative
    rai = InitInfo(law="rai", symmetric=False)
    assert p_stuck(make_chain(2, 10, weight=rai))[0] == 0.0  # RAI: a positive entry in every row
    no_bias = p_stuck(make_chain(2, 10, bias=False))[0]
    assert no_bias == pytest.approx(1 - (1 - 2**-4) ** 9)
    negative = InitInfo(law="constant", symmetric=False, mean=-0.1)
    assert p_stuck(make_chain(2, 3, bias_init=negative))[0] == pytest.approx(1 - (1 - 2**-4) ** 2)
    assert p_stuck(make_chain(2, 3, weight=None, bias_init=None)) == (
        pytest.approx(1 - (1 - 2**-6) ** 2),
        True,
    )


def test_probe_estimate_drives_the_restarts() -> None:
    probe = ProbeResult(
        samples=1000, born_dead=500, ci=(0.47, 0.53), near_constant=0, device="cpu", seconds=1.0
    )
    (finding,) = run(make_chain(2, 10), probes={0: probe})
    assert (
        finding.details["source"] == "probe" and finding.details["restarts"] == brute_force_restarts(0.5) == 7
    )
    assert "at most" not in finding.message


def test_always_dead_needs_infinitely_many_restarts() -> None:
    probe = ProbeResult(
        samples=100, born_dead=100, ci=(0.97, 1.0), near_constant=0, device="cpu", seconds=1.0
    )
    (finding,) = run(make_chain(2, 10), probes={0: probe})
    assert finding.details["restarts"] is None and "no number of restarts helps" in finding.message


def test_silent_when_not_at_risk() -> None:
    assert run(make_chain(32, 10)) == []
    assert len(run(make_chain(8, 4), options=Options(p=0.001))) == 1
