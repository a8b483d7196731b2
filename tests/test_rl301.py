"""RL301 weight-norm-without-batch-norm: the rule on hand-built chains, and each weight-norm spelling on real modules."""

from __future__ import annotations

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
