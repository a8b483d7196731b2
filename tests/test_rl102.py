"""RL102 restarts-needed: its numbers against independent computations (closed forms, brute force, Monte Carlo)."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import pytest
import torch
from relulint.rules.rl102_restarts import (
    RestartsNeeded,
    negative_law,
    p_negative,
    p_stuck,
    p_stuck_path,
    stuck_candidates,
)

from relulint.options import Options
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts, ProbeResult
from relulint.records.report import Severity
from relulint.registry import RuleContext
from relulint.theory.nonconvergence import inactive_region_param_counts, p_inactive_region
from relulint.verdict import kill_sets

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


# ------------------------------------------------- a path across chains: a Tanh between two ReLU runs

ROUTE = ("x→output",)


def split_path(
    width: int, depth: int, *, routes=ROUTE, weight=DEFAULT, bias_init=DEFAULT
) -> tuple[Chain, ...]:
    """``1 → width×depth → Linear → Tanh → width×depth → 1`` as extraction gives it: two chains (the first
    ends in the Tanh's Linear) whose ReLU layers all lie on every path of the route."""

    def relu(name: str, n_in: int) -> Layer:
        return Layer(name, n_in, width, True, "relu", weight_init=weight, bias_init=bias_init, routes=routes)

    first = [relu(f"a{i}", 1 if i == 0 else width) for i in range(depth)]
    mixer = Layer("mix", width, width, True, "tanh", weight_init=weight, bias_init=bias_init)
    second = [relu(f"b{i}", width) for i in range(depth)]
    return (
        Chain(0, (*first, mixer), 1, width, "activation:tanh", Location("model.py", 5)),
        Chain(1, (*second, Layer("out", width, 1, True, None)), width, 1, "output", Location("model.py", 7)),
    )


def run_all(chains: tuple[Chain, ...], options: Options, probes=None, rule=RULE) -> list:
    facts = ModelFacts(
        "model.py:Net", "Net", "model.py", Location("model.py", 4), "fx", None, chains, probes=probes or {}
    )
    return list(rule().check(facts, RuleContext(options)))


def test_a_tanh_split_path_is_reported_once_with_the_paths_numbers() -> None:
    """Width 2, 4 + 4 ReLU layers, p = 0.7: each chain alone is 1 − (3/4)^4 = 68.4 % ≤ p and used to pass;
    the path is 1 − (3/4)^8 = 90.0 % (collapse Thm 8 over every layer every path crosses, Lemma 1)."""
    options = Options(p=0.7)
    chains = split_path(2, 4)
    for chain in split_path(2, 4, routes=None):  # each chain judged alone: below p
        assert run_all((chain,), options) == []
    (finding,) = run_all(chains, options)
    assert finding.chain == 0 and finding.location == Location("model.py", 5)
    assert finding.severity is Severity.INFO
    p_path = 1 - (1 - 2**-2) ** 8
    assert finding.details["p_born_dead"] == pytest.approx(p_path, rel=1e-12)
    assert finding.details["restarts"] == brute_force_restarts(p_path) == 44
    assert finding.details["chains"] == [0, 1] and finding.details["routes"] == ["x→output"]
    # nonconvergence Def 3.1 / Lemma 4.1 over the path: layers 2..4 of each chain (6 parameters each); the
    # first layer of each chain is left out, its input (x, or the Tanh's output) can be negative
    p_lemma = 1 - (1 - 2**-6) ** 6
    counts = inactive_region_param_counts([1, 2, 2, 2, 2, 2]) + inactive_region_param_counts(
        [2, 2, 2, 2, 2, 1]
    )
    assert counts == [6] * 6 and p_inactive_region(counts) == pytest.approx(p_lemma, rel=1e-12)
    assert finding.details["p_stuck"] == pytest.approx(p_lemma, rel=1e-12)
    assert finding.details["stuck_layers"] == 6
    assert finding.details["restarts_stuck_only"] == brute_force_restarts(p_lemma)
    assert "ReLU path through chains #0 (1 → 2×4 → 2) and #1 (2 → 2×4 → 1)" in finding.message
    assert "route x→output" in finding.message and "collapse Lemma 1" in finding.message
    assert "at most 44 independent initializations" in finding.message
    assert "one of its 6 ReLU layers whose input is a ReLU output" in finding.message
    # where RL101 reports the path, and nowhere else
    from relulint.rules.rl101_born_dead import BornDeadReluChain

    (rl101,) = run_all(chains, options, rule=BornDeadReluChain)
    assert (rl101.location, rl101.chain, rl101.details["chains"]) == (finding.location, 0, [0, 1])
    assert rl101.details["probability"] == finding.details["p_born_dead"]


def test_a_split_path_below_p_stays_silent() -> None:
    assert run_all(split_path(2, 4), Options(p=0.95)) == []  # 90.0 % ≤ 95 %
    assert run_all(split_path(10, 4), Options()) == []  # 1 − (1 − 2^-10)^8 = 0.78 % ≤ 1 %
    (finding,) = run_all(split_path(9, 4), Options())  # 1.6 % > 1 %, each chain 0.78 %
    assert finding.details["p_born_dead"] == pytest.approx(1 - (1 - 2**-9) ** 8, rel=1e-12)


def test_a_layer_after_a_norm_that_follows_the_relu_is_not_in_the_inactive_region() -> None:
    """ReLU → LayerNorm → Linear: the Linear's input can be negative, so Def 3.1's argument fails for it."""
    first, second = split_path(2, 4)
    layers = list(first.layers)
    layers[1] = dataclasses.replace(layers[1], norm_after="layernorm")
    chains = (Chain(0, tuple(layers), 1, 2, "activation:tanh", first.location), second)
    (kill_set,) = kill_sets(chains)
    names = [layer.module for layer in stuck_candidates(kill_set, chains)]
    assert names == ["a1", "a3", "b1", "b2", "b3"]  # a0, b0: chain starts; a2: after the LayerNorm
    assert p_stuck_path(kill_set, chains)[0] == pytest.approx(1 - (1 - 2**-6) ** 5, rel=1e-12)


def test_one_chains_inactive_region_leaves_out_what_a_norm_or_a_skip_covers() -> None:
    """The single-chain finding counts the layers the path finding would (`stuck_layers`): not one after a
    ReLU → LayerNorm (its input can be negative), not one a skip connection bypasses (its death is not the
    network's). 1 → 2×6 → 1 with biases, P_l = 2^-6 per layer."""
    plain = make_chain(2, 6)
    (finding,) = run(plain)
    assert finding.details["p_stuck"] == pytest.approx(1 - (1 - 2**-6) ** 5, rel=1e-12)  # layers 2..6
    layers = list(plain.layers)
    layers[2] = dataclasses.replace(layers[2], norm_after="layernorm")  # layer 3's input can be negative
    layers[4] = dataclasses.replace(layers[4], routes=())  # a skip around layer 4 (every path can avoid it)
    (finding,) = run(dataclasses.replace(plain, layers=tuple(layers)))
    assert finding.details["p_stuck"] == pytest.approx(1 - (1 - 2**-6) ** 3, rel=1e-12)  # layers 2, 3, 6
    assert p_stuck(dataclasses.replace(plain, layers=tuple(layers)))[0] == finding.details["p_stuck"]


def test_a_probe_measuring_more_on_one_chain_drives_the_paths_restarts() -> None:
    probe = ProbeResult(
        samples=1000, born_dead=500, ci=(0.47, 0.53), near_constant=0, device="cpu", seconds=1
    )
    (finding,) = run_all(split_path(9, 4), Options(), probes={1: probe})
    assert finding.details["source"] == "probe" and finding.details["p_born_dead"] == 0.5
    assert finding.details["restarts"] == brute_force_restarts(0.5) == 7 and "at most" not in finding.message


def test_stuck_on_a_split_path_against_monte_carlo() -> None:
    """Draw the whole net 1 → 2×4 → Linear → Tanh → 2×4 → 1 under PyTorch's default init (uniform
    ±1/√fan_in, weights and biases) and look at the outputs on 17 points of [−2, 2]: the share of draws
    with some layer of `stuck_candidates` all negative matches `p_stuck_path` within 4 standard errors,
    each of them is constant (Def 3.1: inactive, Lemma 3.4: stuck), and the first layer after the Tanh
    all negative is no such proof (some of those nets still vary), which is why it is left out."""
    samples, width, depth = 100_000, 2, 4
    gen = torch.Generator().manual_seed(0)

    def linear(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        bound = 1 / math.sqrt(n_in)
        w = (torch.rand(samples, n_out, n_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(samples, n_out, 1, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        return w, b, (w < 0).flatten(1).all(1) & (b < 0).flatten(1).all(1)

    h = torch.linspace(-2, 2, 17, dtype=torch.float64).expand(samples, 1, 17)
    stuck = torch.zeros(samples, dtype=torch.bool)
    after_tanh = torch.zeros(samples, dtype=torch.bool)
    for run_index in range(2):
        for i in range(depth):
            w, b, negative = linear(1 if run_index == 0 and i == 0 else width, width)
            if i > 0:
                stuck |= negative
            elif run_index == 1:
                after_tanh = negative
            h = torch.relu(w @ h + b)
        if run_index == 0:
            w, b, _ = linear(width, width)
            h = torch.tanh(w @ h + b)
    w, b, _ = linear(width, 1)
    out = (w @ h + b).reshape(samples, -1)
    constant = (out - out[:, :1]).abs().amax(1) <= 1e-12

    chains = split_path(width, depth)
    (kill_set,) = kill_sets(chains)
    exact, assumed, count = p_stuck_path(kill_set, chains)
    assert count == 6 and not assumed
    estimate = stuck.double().mean().item()
    assert abs(estimate - exact) < 4 * math.sqrt(exact * (1 - exact) / samples)
    assert bool(constant[stuck].all())
    only_after_tanh = after_tanh & ~stuck
    assert int(only_after_tanh.sum()) > 500 and int((~constant[only_after_tanh]).sum()) > 10
    # and the net is born dead far more often than either chain's own bound says (RL101's point)
    share = constant.double().mean().item()
    assert share - 6 * math.sqrt(share * (1 - share) / samples) > 1 - (3 / 4) ** 4
