"""RL201 symmetric-init-deep-narrow and RL202 signal-length-decay on facts built from real modules.

`facts_for` records the build with `InitRecorder`, describes every Linear with `relulint.init_reconcile.describe_layer`
and strings Linear → ReLU runs (registration order) into chains, standing in for capture + extract so the
rules are tested on real inits without the rest of the pipeline. The generic test of `tests/test_rule_cases.py`
runs the rules' VALID / INVALID example models through the whole pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from relulint import registry
from relulint.init import apply_rai
from relulint.init_reconcile import describe_layer
from relulint.init_recorder import InitRecorder
from relulint.options import Options
from relulint.records.loaded import LoadedModel, Target
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts, ProbeResult
from relulint.registry import RuleContext, all_rules

HERE = Location("model.py", 3)
# Import every rule module, then take the classes from the registry: `all_rules()` discovers rules only
# while the registry is empty, so importing one rule module directly would hide the others from it.
registry._discover()
SymmetricInitDeepNarrow = all_rules()["RL201"]
SignalLengthDecay = all_rules()["RL202"]


def facts_for(build: Callable[[], nn.Module]) -> ModelFacts:
    """Build under the recorder; one chain per run of Linear (→ ReLU) in registration order."""
    with InitRecorder() as rec:
        model = build()
    loaded = LoadedModel(Target("model.py:Net"), "Net", model, "model.py", HERE, {}, rec.events_for(model))
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    layers: list[Layer] = []
    for i, (name, module) in enumerate(leaves):
        if isinstance(module, nn.Linear):
            relu = i + 1 < len(leaves) and isinstance(leaves[i + 1][1], nn.ReLU)
            weight, bias = describe_layer(loaded, name)
            layers.append(
                Layer(
                    name,
                    module.in_features,
                    module.out_features,
                    module.bias is not None,
                    "relu" if relu else None,
                    location=HERE,
                    weight_init=weight,
                    bias_init=bias,
                )
            )
    chain = Chain(0, tuple(layers), layers[0].in_features, layers[-1].out_features, "output", HERE)
    return ModelFacts("model.py:Net", "Net", "model.py", HERE, "registration", None, (chain,))


def mlp(d_in: int, width: int, depth: int, init: Callable[[nn.Linear], None] | None = None) -> nn.Module:
    layers: list[nn.Module] = []
    for i in range(depth):
        layer = nn.Linear(d_in if i == 0 else width, width)
        if init is not None:
            init(layer)
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def run(rule, facts: ModelFacts, **options):
    return list(rule().check(facts, RuleContext(Options(**options))))


def he(layer: nn.Linear) -> None:
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)


# ---------------------------------------------------------------------------------------------- RL201


def test_rl201_fires_on_pytorch_default_width_2() -> None:
    (finding,) = run(SymmetricInitDeepNarrow, facts_for(lambda: mlp(1, 2, 10)))
    assert finding.code == "RL201" and finding.location == HERE
    assert "PyTorch's default" in finding.message and "dying Thm 3.2" in finding.message
    assert "Thm 4.1" in finding.message and "88 % → 22 %" in finding.message
    d = finding.details
    assert d["p_upper_symmetric"] == pytest.approx(1 - 0.75**10)
    assert d["p_upper_rai_best"] == pytest.approx(0.25)  # only the He first layer can die (γ_l = 1/2)
    assert d["p_upper_rai_best"] < d["probability"]


@pytest.mark.parametrize(
    ("init", "label"),
    [
        (he, "He/Kaiming normal"),
        (lambda layer: nn.init.xavier_uniform_(layer.weight), "Xavier/Glorot uniform"),
        (lambda layer: nn.init.orthogonal_(layer.weight), "orthogonal"),
        (lambda layer: nn.init.normal_(layer.weight, std=0.3), "zero-mean normal"),
    ],
)
def test_rl201_names_the_symmetric_init(init, label) -> None:
    (finding,) = run(SymmetricInitDeepNarrow, facts_for(lambda: mlp(2, 3, 12, init)))
    assert label in finding.message


def test_rl201_positive_bias_lowers_but_does_not_remove() -> None:
    def init(layer: nn.Linear) -> None:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.bias.data.fill_(10.0)

    (finding,) = run(SymmetricInitDeepNarrow, facts_for(lambda: mlp(1, 2, 12, init)))
    assert "positive constant bias (10)" in finding.message and "does not remove it" in finding.message
    assert finding.details["positive_bias"]


def test_rl201_silent_after_apply_rai() -> None:
    facts = facts_for(lambda: apply_rai(mlp(1, 2, 10), generator=torch.Generator().manual_seed(0)))
    assert [layer.weight_init.law for layer in facts.chains[0].layers[1:]] == ["rai"] * 10
    assert run(SymmetricInitDeepNarrow, facts) == []


def test_rl201_silent_when_wide_enough_or_p_is_loose() -> None:
    assert run(SymmetricInitDeepNarrow, facts_for(lambda: mlp(3, 32, 10, he))) == []
    facts = facts_for(lambda: mlp(1, 2, 10))
    assert run(SymmetricInitDeepNarrow, facts, rule_options={"RL201": {"p": 0.99}}) == []
    assert run(SymmetricInitDeepNarrow, facts, p=0.99) == []


def test_rl201_silent_on_asymmetric_or_unknown_inits() -> None:
    def positive(layer: nn.Linear) -> None:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.weight.data.abs_()

    assert run(SymmetricInitDeepNarrow, facts_for(lambda: mlp(8, 8, 30, positive))) == []
    facts = facts_for(lambda: mlp(1, 2, 10))
    unknown = tuple(
        Layer(la.module, la.in_features, la.out_features, la.bias, la.activation, location=HERE)
        for la in facts.chains[0].layers
    )
    bare = ModelFacts("t", "Net", "model.py", HERE, "fx", None, (Chain(0, unknown, 1, 1, "output", HERE),))
    assert run(SymmetricInitDeepNarrow, bare) == []


def test_rl201_uses_probe_and_rai_comparison() -> None:
    facts = facts_for(lambda: mlp(1, 2, 9))
    probe = ProbeResult(4000, 3520, (0.87, 0.89), 0, "cpu", 0.1)
    rai = ProbeResult(4000, 870, (0.21, 0.23), 0, "cpu", 0.1, init="rai")
    facts = ModelFacts(**{**facts.__dict__, "probes": {0: probe}, "compare_probes": {0: rai}})
    (finding,) = run(SymmetricInitDeepNarrow, facts)
    assert "88 % (probe)" in finding.message and "measured under RAI: 22 % (probe)" in finding.message
    assert finding.details["rai_measured"] == pytest.approx(870 / 4000)


MODEL = """
from torch import nn


def Net(rai: bool = False):
    layers = [nn.Linear(1, 2), nn.ReLU()]
    for _ in range(9):
        layers += [nn.Linear(2, 2), nn.ReLU()]
    net = nn.Sequential(*layers, nn.Linear(2, 1))
    if rai:
        from relulint.init import apply_rai

        return apply_rai(net)
    return net
"""


def test_rl201_end_to_end_through_the_api(tmp_path, monkeypatch) -> None:
    """`relulint check` on a model file: RL201 fires at the first Linear, and not once apply_rai is used."""
    pytest.importorskip("relulint.load")
    import relulint

    (tmp_path / "model.py").write_text(MODEL.lstrip(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    fired = relulint.check("model.py:Net", select=("RL201",), cwd=tmp_path).findings
    assert [(f.code, f.line) for f in fired] == [("RL201", 5)]
    silent = relulint.check("model.py:Net", select=("RL201",), kwargs={"rai": True}, cwd=tmp_path).findings
    assert silent == ()


# ---------------------------------------------------------------------------------------------- RL202


def test_rl202_fires_on_default_init_with_per_layer_factor() -> None:
    (finding,) = run(SignalLengthDecay, facts_for(lambda: mlp(8, 64, 6)))
    assert "×1/6 per ReLU layer" in finding.message and "shrinks" in finding.message
    assert "He init (σ_w² = 2" in finding.message and "biases dominate" in finding.message
    d = finding.details
    assert d["factors"][0] == pytest.approx(1 / 3) and d["factors"][1] == pytest.approx(1 / 6)
    assert d["total"] == pytest.approx(1 / 3 * 6.0**-5)  # 6 ReLU layers: the output layer is not counted
    assert d["input_share"] < 0.01


def test_rl202_silent_with_he_and_on_shallow_default() -> None:
    assert run(SignalLengthDecay, facts_for(lambda: mlp(8, 64, 12, he))) == []
    assert run(SignalLengthDecay, facts_for(lambda: mlp(8, 64, 2))) == []


def test_rl202_factor_option_and_growth() -> None:
    facts = facts_for(lambda: mlp(8, 64, 6))
    assert run(SignalLengthDecay, facts, rule_options={"RL202": {"factor": 1e9}}) == []

    def big(layer: nn.Linear) -> None:
        nn.init.normal_(layer.weight, std=1.0)

    (finding,) = run(SignalLengthDecay, facts_for(lambda: mlp(16, 128, 4, big)))
    assert "grows" in finding.message and finding.details["total"] > 1e3


def test_rl202_rai_chain_uses_the_rai_length_map() -> None:
    facts = facts_for(lambda: apply_rai(mlp(1, 64, 6), generator=torch.Generator().manual_seed(0)))
    assert run(SignalLengthDecay, facts) == []  # factor ≤ N/(N+1) per layer (dying Cor. 4.4), He first


def test_rl202_needs_every_variance() -> None:
    layer = Layer("a", 4, 4, True, "relu", weight_init=InitInfo("unknown", None), location=HERE)
    chain = Chain(0, (layer, layer, layer), 4, 4, "output", HERE)
    facts = ModelFacts("t", "Net", "model.py", HERE, "fx", None, (chain,))
    assert run(SignalLengthDecay, facts) == []


def test_rule_docs_render() -> None:
    for rule in (SymmetricInitDeepNarrow, SignalLengthDecay):
        text = rule.markdown()
        assert rule.code in text and "## Why is this bad?" in text
        assert all(case.expected() for case in rule.INVALID)
    assert math.isclose(SignalLengthDecay.options[0].default, 1e3)
