"""RL502 dead-units: a large fraction of a trained hidden layer is zero on every input."""

from __future__ import annotations

from collections.abc import Iterator

from relulint.formatting import percent
from relulint.option_types import Probability
from relulint.records.model_facts import ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption

SHOWN = 12  # unit indices listed in a message


def _units(units: tuple[int, ...]) -> str:
    more = f", … (+{len(units) - SHOWN})" if len(units) > SHOWN else ""
    return ", ".join(map(str, units[:SHOWN])) + more


class DeadUnits(Rule):
    code = "RL502"
    name = "dead-units"
    severity = Severity.WARNING
    groups = ("audit",)
    summary = "Many units of a trained hidden layer are dead on every input (relulint audit)."
    what = """
        `relulint audit` counts, per hidden ReLU layer, the units whose output is exactly zero on every
        input (`--data`, else the domain) and warns when they are at least `dead-fraction` of the layer
        (default 0.5; `--dead-fraction`, or `[tool.relulint.rules.RL502] dead-fraction`). The message lists
        the dead units, the near-dead ones (non-zero somewhere but never above 1e-6) apart, and the layer's
        live width. A layer dead as a whole is RL501's, not reported again here, nor are the layers after
        it (their input is constant) — unless a skip connection goes around the chain: then the network is
        not constant, RL501 stays silent and the dead layer is reported here.
    """
    why = """
        A unit whose ReLU is zero on every training input receives no gradient for its incoming weights and
        bias: the argument of `collapse` Lemma 3, applied to one unit instead of a whole layer. Nothing in
        training brings it back, so the layer is effectively narrower — and a narrower layer is more likely
        to die as a whole (`collapse` Thm 8, Eq. 5: the collapse probability grows as 2^-N shrinks); when
        the last live unit goes, the network collapses to a constant (Lemma 1, Thm 4). Dead units are
        also degenerate parameters (`degenerate` §2, Example 2.2: a unit contributing nothing).
    """
    options = (
        RuleOption(
            "dead-fraction",
            0.5,
            "warn when at least this fraction of a layer's units is dead (the --dead-fraction option)",
            kind=Probability(),
        ),
    )
    references = (
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): Lemma 1, Lemma 3, "
        "Theorem 4, Theorem 8, Eq. 5.",
        "Berner, Elbrächter, Grohs. How degenerate is the parametrization of neural networks with the ReLU "
        "activation function? (`degenerate`): §2.",
    )
    INVALID = (
        Case(
            title="Three of four units below zero on every input",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.hidden = nn.Linear(1, 4)  # expect: RL502
                        self.out = nn.Linear(4, 1)
                        with torch.no_grad():
                            self.hidden.weight.copy_(torch.tensor([[1.0], [1.0], [2.0], [3.0]]))
                            self.hidden.bias.copy_(torch.tensor([1.0, -9.0, -20.0, -30.0]))

                    def forward(self, x):
                        return self.out(torch.relu(self.hidden(x)))
            """,
            files={"x.csv": "x\n-1\n0\n1\n2\n3\n"},
            options={"data": "x.csv"},
        ),
    )
    VALID = (
        Case(
            title="One dead unit of four: below the default fraction 0.5",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.hidden = nn.Linear(1, 4)
                        self.out = nn.Linear(4, 1)
                        with torch.no_grad():
                            self.hidden.weight.copy_(torch.tensor([[1.0], [2.0], [-1.0], [3.0]]))
                            self.hidden.bias.copy_(torch.tensor([1.0, 0.5, 0.0, -30.0]))

                    def forward(self, x):
                        return self.out(torch.relu(self.hidden(x)))
            """,
            files={"x.csv": "x\n-1\n0\n1\n2\n3\n"},
            options={"data": "x.csv"},
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        audit = getattr(facts, "audit", None)
        if audit is None:
            return
        per_rule = ctx.options.rule_options.get(self.code, {})
        threshold = float(per_rule.get("dead-fraction", ctx.options.dead_fraction))
        chains = {c.index: c for c in facts.chains}
        for activity in audit.chains:
            chain = chains.get(activity.index)
            collapsed = activity.dead_layer if not activity.bypassed else None
            for layer in activity.layers:
                if collapsed is not None and layer.index > collapsed:
                    break  # after the all-zero layer the input is constant: RL501 explains these layers
                if not layer.measured or layer.width == 0 or (layer.all_dead and not activity.bypassed):
                    continue
                if layer.dead_fraction < threshold or not layer.dead_units:
                    continue
                live = layer.width - len(layer.dead_units)
                near = (
                    f"; near dead (non-zero but ≤ 1e-6 everywhere): {_units(layer.near_dead_units)}"
                    if layer.near_dead_units
                    else ""
                )
                location = (
                    chain.layers[layer.index].location
                    if chain and chain.layers[layer.index].location
                    else None
                )
                yield self.finding(
                    facts,
                    f"Hidden layer {layer.index} ({layer.module or 'functional'}, width {layer.width}) of chain "
                    f"#{activity.index} ({activity.shape}): {len(layer.dead_units)} of {layer.width} units "
                    f"({percent(layer.dead_fraction)}, ≥ {percent(threshold)}) are zero on every one of the "
                    f"{audit.inputs} inputs ({audit.data_source}): units {_units(layer.dead_units)}{near}. "
                    f"They get no gradient again (collapse Lemma 3, per unit): the layer works at width {live}, "
                    f"and a narrower layer is likelier to die whole (collapse Thm 8).",
                    chain=chain,
                    location=location,
                    fix=(
                        "re-initialize the dead units (or the model) and lower the learning rate / momentum that "
                        "pushed them below zero; RAI (dying §4) or a normalization before the ReLU keeps units alive"
                    ),
                    details={
                        "layer": layer.index,
                        "module": layer.module,
                        "width": layer.width,
                        "dead_units": list(layer.dead_units),
                        "near_dead_units": list(layer.near_dead_units),
                        "dead_fraction": layer.dead_fraction,
                        "threshold": threshold,
                    },
                )
