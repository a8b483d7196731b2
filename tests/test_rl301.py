"""RL301 weight-norm-without-batch-norm: the rule on hand-built chains, and each weight-norm spelling on real modules."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from custom_layers import DeletedWeightLinear as WNLinearSubclass
from custom_layers import GainDirectionMatmul as DirectionGainMatmul
from relulint.rules.rl301_weight_norm import WeightNormWithoutBatchNorm
from torch import nn

from relulint.options import Options
from relulint.records.loaded import LoadedModel, Target
from relulint.records.location import Location
from relulint.records.model_facts import Chain, Layer, ModelFacts, ProbeResult
from relulint.records.report import Severity
from relulint.registry import RuleContext
from relulint.weightnorm import graph_divides_by_norm, weight_norm_kind, weight_norm_modules

RULE = WeightNormWithoutBatchNorm
FIRST = Location("model.py", 9)


def make_chain(width: int, depth: int, *, wn: str | None = "parametrize", norm: str | None = None) -> Chain:
    hidden = [
        Layer(f"blocks.{i}", 1 if i == 0 else width, width, True, "relu", norm=norm, weight_norm=wn)
        for i in range(depth)
    ]
    return Chain(0, (*hidden, Layer("head", width, 1, True, None)), 1, 1, "output", FIRST)


def model_facts(chain: Chain, probes=None) -> ModelFacts:
    return ModelFacts(
        target="model.py:Net",
        name="Net",
        path="model.py",
        location=Location("model.py", 5),
        capture_method="fx",
        capture_reason=None,
        chains=(chain,),
        probes=probes or {},
    )


def run(chain: Chain, options: Options | None = None, probes=None):
    return list(RULE().check(model_facts(chain, probes), RuleContext(options or Options())))


# --------------------------------------------------------------------------------------- the rule


def test_warns_on_a_weight_normalized_chain_at_risk() -> None:
    (finding,) = run(make_chain(3, 12))
    assert finding.severity is Severity.WARNING and finding.location == FIRST
    assert (
        "collapse §5.2" in finding.message and "batch norm" in finding.message and "SELU" in finding.message
    )
    assert "parametrizations.weight_norm" in finding.message
    assert finding.details["at_risk"] and finding.details["probability"] == pytest.approx(
        1 - (1 - 2**-3) ** 12
    )
    assert "BatchNorm" in finding.fix and "SELU" in finding.fix


def test_info_note_when_not_at_risk() -> None:
    (finding,) = run(make_chain(64, 2, wn="weight_norm"))
    assert finding.severity is Severity.INFO and not finding.details["at_risk"]
    assert "not at risk" in finding.message and "torch.nn.utils.weight_norm" in finding.message


def test_p_decides_between_warning_and_note() -> None:
    chain = make_chain(8, 4, wn="custom")  # P ≤ 1 − (1 − 2^-8)^4 ≈ 1.6 %
    assert run(chain)[0].severity is Severity.WARNING
    assert run(chain, Options(p=0.05))[0].severity is Severity.INFO


def test_probe_estimate_is_used_when_run() -> None:
    probe = ProbeResult(
        samples=1000, born_dead=0, ci=(0.0, 0.004), near_constant=0, device="cpu", seconds=0.1
    )
    (finding,) = run(make_chain(3, 12), probes={0: probe})
    assert finding.severity is Severity.INFO and finding.details["source"] == "probe"


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_silent_when_a_norm_precedes_every_relu(norm: str) -> None:
    assert run(make_chain(3, 12, norm=norm)) == []


def test_silent_without_weight_norm() -> None:
    assert run(make_chain(3, 12, wn=None)) == []


# ------------------------------------------------------------------------- real modules, every spelling


class GainDirection(nn.Module):
    """A custom weight-normalized Linear: w = g · v/‖v‖ (named g / v)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.randn(n_out, n_in))
        self.g = nn.Parameter(torch.ones(n_out, 1))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.g * self.v / self.v.norm(dim=1, keepdim=True), self.bias)


class DividesByNorm(nn.Module):
    """No scale parameter, ordinary names: only the graph shows the weight divided by its norm."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(self.weight, dim=1, keepdim=True)
        return F.linear(x, self.weight / (norm + 1e-8), self.bias)


class RsqrtScaled(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.magnitude_ = nn.Parameter(torch.ones(n_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.magnitude_ * self.weight * torch.rsqrt((self.weight**2).sum(1, keepdim=True))).t()


def old_style(n_in: int, n_out: int) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nn.utils.weight_norm(nn.Linear(n_in, n_out))


def new_style(n_in: int, n_out: int) -> nn.Module:
    return torch.nn.utils.parametrizations.weight_norm(nn.Linear(n_in, n_out))


def deep_narrow(make, *, bn: bool = False, width: int = 2, depth: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(make(1 if i == 0 else width, width))
        if bn:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers, nn.Linear(width, 1))


SPELLINGS = [
    pytest.param(old_style, "weight_norm", id="torch.nn.utils.weight_norm"),
    pytest.param(new_style, "parametrize", id="parametrizations.weight_norm"),
    pytest.param(GainDirection, "custom", id="custom-g-v"),
    pytest.param(DividesByNorm, "custom", id="custom-w-over-norm"),
    pytest.param(RsqrtScaled, "custom", id="custom-rsqrt"),
]


@pytest.mark.parametrize(("make", "kind"), SPELLINGS)
def test_weightnorm_module_detects_each_spelling(make, kind) -> None:
    assert weight_norm_kind(make(3, 4)) == kind
    assert set(weight_norm_modules(deep_narrow(make)).values()) == {kind}


def test_plain_layers_are_not_weight_normalized() -> None:
    for module in (nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Conv1d(1, 1, 3), nn.Sequential(nn.Linear(2, 2))):
        assert weight_norm_kind(module) is None
    assert graph_divides_by_norm(deep_narrow(nn.Linear)) == set()


def test_graph_pattern_names_the_owning_modules() -> None:
    model = nn.Sequential(DividesByNorm(1, 2), nn.ReLU(), GainDirection(2, 2), nn.ReLU(), nn.Linear(2, 1))
    assert graph_divides_by_norm(model) == {"0", "2"}


def _extract(model: nn.Module):
    capture = pytest.importorskip("relulint.capture")
    extract = pytest.importorskip("relulint.extract")
    loaded = LoadedModel(
        target=Target(spec="model.py:Net"),
        name="Net",
        module=model,
        path="model.py",
        location=Location("model.py", 1),
        module_locations={},
    )
    return extract.extract_chains(loaded, capture.capture(loaded))


def _facts_from(model: nn.Module) -> ModelFacts:
    chains = _extract(model)
    return ModelFacts("model.py:Net", "Net", "model.py", Location("model.py", 1), "fx", None, chains)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        *SPELLINGS[:3],
        pytest.param(
            DividesByNorm,
            "custom",
            id="custom-w-over-norm",
        ),
    ],
)
def test_each_spelling_fires_through_capture_and_extract(make, kind) -> None:
    facts = _facts_from(deep_narrow(make))
    (chain,) = facts.chains
    assert {layer.weight_norm for layer in chain.hidden} == {kind}
    (finding,) = RULE().check(facts, RuleContext(Options()))
    assert finding.severity is Severity.WARNING


@pytest.mark.parametrize(("make", "kind"), SPELLINGS[:3])
def test_batch_norm_stands_the_rule_down_through_capture_and_extract(make, kind) -> None:
    facts = _facts_from(deep_narrow(make, bn=True))
    assert all(layer.norm == "batchnorm" for chain in facts.chains for layer in chain.hidden)
    assert list(RULE().check(facts, RuleContext(Options()))) == []


# ---------------------------------------------------- custom spellings found by the audit, and a false positive


class ScaledLinear(nn.Module):
    """A learned per-output scale beside `weight` — NOT weight normalization (no norm anywhere)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / n_in**0.5)
        self.scale = nn.Parameter(torch.ones(n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) * self.scale


class ScaledNormalizedLinear(ScaledLinear):
    """The same names, but the forward divides the weight by its norm: weight normalization."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.scale[:, None] * F.normalize(self.weight, dim=1), self.bias)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        pytest.param(WNLinearSubclass, "custom", id="linear-subclass-del-weight"),
        pytest.param(DirectionGainMatmul, "custom", id="direction-gain-matmul"),
        pytest.param(ScaledNormalizedLinear, "custom", id="scale-and-normalize"),
    ],
)
def test_audited_custom_spellings_fire(make, kind) -> None:
    assert weight_norm_kind(make(3, 4)) == kind
    facts = _facts_from(deep_narrow(make))
    (chain,) = facts.chains
    assert chain.depth == 10 and {layer.weight_norm for layer in chain.hidden} == {kind}
    (finding,) = RULE().check(facts, RuleContext(Options()))
    assert finding.severity is Severity.WARNING and "custom weight-normalized" in finding.message


def test_a_scale_beside_a_weight_is_not_weight_norm() -> None:
    """weight + scale alone is not evidence: the graph must divide by a norm (or the names be g / v)."""
    assert weight_norm_kind(ScaledLinear(3, 4)) is None
    facts = _facts_from(deep_narrow(ScaledLinear))
    (chain,) = facts.chains
    assert chain.depth == 10 and {layer.weight_norm for layer in chain.hidden} == {None}
    assert list(RULE().check(facts, RuleContext(Options()))) == []


def test_naming_convention_alone_is_evidence_only_for_weight_norms_own_names() -> None:
    class GV(nn.Module):  # g / v: Salimans & Kingma's names, whatever the forward
        def __init__(self) -> None:
            super().__init__()
            self.g = nn.Parameter(torch.ones(4, 1))
            self.v = nn.Parameter(torch.randn(4, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, self.g * self.v)

    class GainDirectionNoNorm(nn.Module):  # gain / direction, no norm: a rescaling
        def __init__(self) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.ones(4))
            self.direction = nn.Parameter(torch.randn(4, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, self.direction) * self.gain

    assert weight_norm_kind(GV()) == "custom"
    assert weight_norm_kind(GainDirectionNoNorm()) is None
    assert weight_norm_kind(old_style(3, 4)) == "weight_norm"  # the WeightNorm hook


# ------------------------------------------------- a path across chains: a Tanh between two ReLU runs


def split_path(width: int, depth: int, *, routes=("x→output",), wn: str | None = "parametrize"):
    """``1 → width×depth → Linear → Tanh → width×depth → 1`` as extraction gives it: two weight-normalized
    chains whose ReLU layers all lie on every path of the route."""

    def relu(name: str, n_in: int) -> Layer:
        return Layer(name, n_in, width, True, "relu", weight_norm=wn, routes=routes)

    first = [relu(f"a{i}", 1 if i == 0 else width) for i in range(depth)]
    second = [relu(f"b{i}", width) for i in range(depth)]
    return (
        Chain(0, (*first, Layer("mix", width, width, True, "tanh")), 1, width, "activation:tanh", FIRST),
        Chain(1, (*second, Layer("out", width, 1, True, None)), width, 1, "output", Location("model.py", 12)),
    )


def run_all(chains, options: Options | None = None, probes=None, rule=RULE) -> list:
    facts = ModelFacts(
        "model.py:Net", "Net", "model.py", Location("model.py", 5), "fx", None, chains, probes=probes or {}
    )
    return list(rule().check(facts, RuleContext(options or Options())))


def thm8(*widths: int) -> float:
    return 1 - math.prod(1 - 2.0**-w for w in widths)


def test_each_chain_of_a_split_path_at_risk_warns() -> None:
    """Width 9, 4 + 4 ReLU layers: each chain alone 0.78 % (a note), the path 1.6 % > p (collapse Thm 8
    over all 8 layers, Lemma 1): both chains warn, with the path's probability, and the message names it."""
    for chain in split_path(9, 4, routes=None):  # judged alone, as before paths: a note
        (alone,) = run_all((chain,))
        assert alone.severity is Severity.INFO
        assert alone.details["probability"] == pytest.approx(thm8(*[9] * 4), rel=1e-12)
        assert "chains" not in alone.details and "path" not in alone.message
    findings = run_all(split_path(9, 4))
    assert [f.chain for f in findings] == [0, 1]
    assert findings[0].location == FIRST and findings[1].location == Location("model.py", 12)
    for finding in findings:
        assert finding.severity is Severity.WARNING and finding.details["at_risk"]
        assert finding.details["probability"] == pytest.approx(thm8(*[9] * 8), rel=1e-12)
        assert finding.details["chains"] == [0, 1] and finding.details["routes"] == ["x→output"]
        assert finding.details["hidden_widths"] == [9] * 8 and finding.details["relu_layers"] == 4
        assert "ReLU path through chains #0 (1 → 9×4 → 9) and #1 (9 → 9×4 → 1)" in finding.message
        assert "route x→output" in finding.message and "collapse Lemma 1" in finding.message
        assert "up to 1.6 %" in finding.message and "collapse §5.2" in finding.message


def test_a_split_path_below_p_is_a_note_that_names_the_path() -> None:
    (first, second) = run_all(split_path(9, 4), Options(p=0.02))
    for finding in (first, second):
        assert finding.severity is Severity.INFO and not finding.details["at_risk"]
        assert "Its ReLU path through chains #0" in finding.message and "is not at risk" in finding.message


@pytest.mark.parametrize("p", [0.001, 0.005, 0.0078, 0.0079, 0.012, 0.0155, 0.0156, 0.03])
def test_rl301_warns_exactly_when_rl101_finds_the_path_at_risk(p: float) -> None:
    from relulint.rules.rl101_born_dead import BornDeadReluChain

    options = Options(p=p)
    rl101 = run_all(split_path(9, 4), options, rule=BornDeadReluChain)
    rl301 = run_all(split_path(9, 4), options)
    assert len(rl301) == 2
    assert all((f.severity is Severity.WARNING) == bool(rl101) for f in rl301)
    assert bool(rl101) == (thm8(*[9] * 8) > p)


def test_only_the_weight_normalized_chain_of_a_path_is_reported() -> None:
    first, second = split_path(9, 4)
    plain = Chain(1, tuple(dataclasses.replace(layer, weight_norm=None) for layer in second.layers), 9, 1,
                  "output", second.location)  # fmt: skip
    (finding,) = run_all((first, plain))
    assert finding.chain == 0 and finding.severity is Severity.WARNING
    assert finding.details["chains"] == [0, 1] and finding.details["weight_normalized_layers"] == 4


def test_a_probe_measuring_more_on_one_chain_of_the_path() -> None:
    probe = ProbeResult(
        samples=1000, born_dead=500, ci=(0.47, 0.53), near_constant=0, device="cpu", seconds=1
    )
    findings = run_all(split_path(9, 4), probes={1: probe})
    for finding in findings:
        assert finding.details["source"] == "probe" and finding.details["probability"] == 0.5
        assert "50 % (probe, on one of its chains alone)" in finding.message


def test_path_risk_falls_back_to_the_chain_alone() -> None:
    """A chain with no layer that can die is in no kill set: its own `risk` (here 0, protected)."""
    from relulint.verdict import path_risk

    chain = make_chain(3, 12, norm="layernorm")
    assert path_risk(chain, model_facts(chain), 0.01) == (0.0, "bound", None)
    at_risk = make_chain(3, 12)
    probability, source, kill_set = path_risk(at_risk, model_facts(at_risk), 0.01)
    assert kill_set is not None and kill_set.chains == (0,) and source == "bound"
    assert probability == pytest.approx(thm8(*[3] * 12), rel=1e-12)
