"""RL102 restarts-needed: its numbers against independent computations (closed forms, brute force, Monte Carlo)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
import torch
from relulint.rules.rl102_restarts import RestartsNeeded, negative_law, p_negative, p_stuck

from relulint.options import Options
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts, ProbeResult
from relulint.records.report import Severity
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


# ------------------------------------------------------------ recorded non-symmetric laws, Monte Carlo

WIDTH, DEPTH = 2, 6

# (weight init, bias init) as written into a model file, and the same laws drawn on batched tensors by
# torch.nn.init itself for the Monte Carlo (kaiming_normal_'s std = gain/√fan_in with fan_in = WIDTH)
KAIMING_STD = torch.nn.init.calculate_gain("leaky_relu", 0) / math.sqrt(WIDTH)
LAWS = {
    "uniform-w/normal-b": (
        "nn.init.uniform_(m.weight, -0.3, 0.5)",
        "nn.init.normal_(m.bias, mean=-0.5, std=0.4)",
        lambda t: torch.nn.init.uniform_(t, -0.3, 0.5),
        lambda t: torch.nn.init.normal_(t, mean=-0.5, std=0.4),
    ),
    "trunc-normal-w/uniform-b": (
        "nn.init.trunc_normal_(m.weight, mean=-0.2, std=0.5, a=-1.0, b=0.5)",
        "nn.init.uniform_(m.bias, -1.0, 0.2)",
        lambda t: torch.nn.init.trunc_normal_(t, mean=-0.2, std=0.5, a=-1.0, b=0.5),
        lambda t: torch.nn.init.uniform_(t, -1.0, 0.2),
    ),
    "kaiming-w/negative-constant-b": (
        "nn.init.kaiming_normal_(m.weight)",
        "nn.init.constant_(m.bias, -0.01)",
        lambda t: torch.nn.init.normal_(t, 0.0, KAIMING_STD),
        lambda t: torch.nn.init.constant_(t, -0.01),
    ),
    "normal-w/zeros-b": (
        "nn.init.normal_(m.weight, mean=-1.0, std=0.5)",
        "nn.init.zeros_(m.bias)",
        lambda t: torch.nn.init.normal_(t, mean=-1.0, std=0.5),
        torch.nn.init.zeros_,
    ),
}


def _model_file(tmp_path: Path, weight: str, bias: str) -> Path:
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            f"""\
            from torch import nn


            def Net():
                layers = [nn.Linear(1, {WIDTH}), nn.ReLU()]
                for _ in range({DEPTH - 1}):
                    layers += [nn.Linear({WIDTH}, {WIDTH}), nn.ReLU()]
                net = nn.Sequential(*layers, nn.Linear({WIDTH}, 1))
                for m in net:
                    if isinstance(m, nn.Linear):
                        {weight}
                        {bias}
                return net
            """
        )
    )
    return path


def _monte_carlo(draw_weight, draw_bias, samples: int = 200_000) -> float:
    """Draw hidden layers 2..DEPTH `samples` times and count inactive nets: every weight and bias of some
    layer strictly negative (nonconvergence Def. 3.1)."""
    torch.manual_seed(0)
    stuck = torch.zeros(samples, dtype=torch.bool)
    for _ in range(DEPTH - 1):
        weights = draw_weight(torch.empty(samples, WIDTH * WIDTH))
        biases = draw_bias(torch.empty(samples, WIDTH))
        stuck |= (weights < 0).all(1) & (biases < 0).all(1)
    return stuck.double().mean().item()


@pytest.mark.parametrize("law", list(LAWS))
def test_stuck_probability_of_recorded_laws_against_monte_carlo(
    tmp_path: Path, law: str, monkeypatch
) -> None:
    import relulint

    weight, bias, draw_weight, draw_bias = LAWS[law]
    _model_file(tmp_path, weight, bias)
    monkeypatch.chdir(tmp_path)
    report = relulint.check("model.py:Net", options=Options(select=("RL102",)), cwd=tmp_path)
    (finding,) = report.findings
    exact = finding.details["p_stuck"]
    assert not finding.details["init_assumed"] and "assumed" not in finding.message
    estimate = _monte_carlo(draw_weight, draw_bias)
    sigma = math.sqrt(max(exact * (1 - exact), 1e-12) / 200_000)
    assert abs(estimate - exact) < 5 * sigma + 1e-9, (law, exact, estimate)
    assert math.copysign(1.0, exact) == 1.0  # never -0.0
    if law == "normal-w/zeros-b":  # a zero bias is not negative (Def. 3.1 is strict): provably 0
        assert exact == 0.0 and "cannot start (probability 0)" in finding.message
        assert "-0.0" not in finding.message and "0.0e+00" not in finding.message


def test_negative_law_closed_forms() -> None:
    def normal(mean: float, std: float) -> InitInfo:
        return InitInfo("normal", mean == 0, std * std, mean, {"mean": mean, "std": std}, origin="recorded")

    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    assert negative_law(normal(-0.5, 0.1), kind="bias") == (pytest.approx(phi(5.0)), None)
    assert negative_law(normal(0.3, 0.6), kind="bias") == (pytest.approx(phi(-0.5)), None)
    uniform = InitInfo("uniform", False, None, 0.1, {"a": -0.3, "b": 0.5}, origin="recorded")
    assert negative_law(uniform) == (pytest.approx(0.3 / 0.8), None)
    assert negative_law(InitInfo("uniform", False, None, 0.5, {"a": 0.0, "b": 1.0}))[0] == 0.0
    assert negative_law(InitInfo("constant", False, 0.0, -0.2))[0] == 1.0
    assert negative_law(InitInfo("constant", False, 0.0, 0.2))[0] == 0.0
    assert negative_law(InitInfo("zeros", True, 0.0, 0.0)) == (0.0, None)  # 0 is not < 0 (Def. 3.1)
    assert negative_law(InitInfo("pytorch-default", True)) == (0.5, None)
    p, why = negative_law(InitInfo("custom", False))
    assert p == 0.5 and why and "custom" in why
    assert p_negative(None) == (0.5, True)
    # the σ² of a weight is fan_in · Var: the std is recovered per entry
    fingerprinted = InitInfo("normal", False, 4 * 0.25, -0.5, {}, origin="fingerprint")
    assert negative_law(fingerprinted, fan_in=4) == (pytest.approx(phi(1.0)), None)


def test_orthogonal_layers_cannot_be_all_negative() -> None:
    """Two orthogonal rows with all entries < 0 would have a positive dot product: P = 0 exactly."""
    ortho = InitInfo("orthogonal", True, 1.0, 0.0)
    assert p_stuck(make_chain(2, 10, weight=ortho))[0] == 0.0
    q = torch.empty(2_000, 2, 2)
    for i in range(q.shape[0]):
        torch.nn.init.orthogonal_(q[i])
    assert not (q < 0).flatten(1).all(1).any()


def test_assumed_laws_are_named_in_the_message() -> None:
    custom = InitInfo("custom", False)
    (finding,) = run(make_chain(2, 10, bias_init=custom))
    assert finding.details["init_assumed"]
    assert "P(entry < 0) = 1/2 assumed for 2.bias (law 'custom' (not symmetric))" in finding.message
    assert "and 6 more" in finding.message  # 9 layers after the first, three named
