"""RL503 degenerate-neurons: zero, redundant, opposite or unbalanced units in the trained weights
(`degenerate` §2-3)."""

from __future__ import annotations

from collections.abc import Iterator

from relulint.option_types import Number
from relulint.records.model_facts import ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption

KINDS = {
    "zero-in": "zero incoming weights and bias (outputs 0)",
    "zero-out": "zero outgoing weights (read by nothing)",
    "redundant": "redundant pairs (positively parallel incoming weights: they merge into one unit, Example 2.3)",
    "opposite": "opposite pairs (anti-parallel, opposite outgoing signs: together ≈ a linear function, Example 2.4)",
    "unbalanced": "unbalanced units (‖incoming‖/‖outgoing‖ far from 1, Example 2.2; rescale by s to balance)",
}
SHOWN = 6


class DegenerateNeurons(Rule):
    code = "RL503"
    name = "degenerate-neurons"
    severity = Severity.INFO
    groups = ("audit",)
    summary = "Degenerate units in trained weights: zero, redundant, opposite or unbalanced (relulint audit)."
    what = """
        `relulint audit` reads each plain Linear → ReLU → Linear layer of the trained weights, with unit j's
        incoming vector a_j = (W[j], b[j]) and outgoing vector c_j = W_next[:, j], and lists per layer: zero
        units (a_j = 0 or c_j = 0), redundant pairs (cos(a_j, a_k) > 1 − 1e-6: c_j ReLU(a_j·x) + c_k
        ReLU(a_k·x) is one unit), opposite pairs (cos < −1 + 1e-6 with outgoing weights of opposite sign:
        ReLU(z) − ReLU(−z) = z, a linear function), and unbalanced units (‖a_j‖/‖c_j‖ above
        `unbalance-factor`, default 100, or below its inverse) with the factor s = √(‖c_j‖/‖a_j‖) that
        balances them (a_j·s, c_j/s: the function is unchanged, ReLU being positively homogeneous). For a
        chain with one hidden layer these are exactly `degenerate`'s cases; deeper, they are heuristics
        (the paper's theory is for two-layer networks), and the message says which.
    """
    why = """
        `degenerate` §2 shows four ways a ReLU parametrization is degenerate — unbalanced magnitudes
        (Example 2.2), redundant directions (Example 2.3), opposite weight vectors (Examples 2.4-2.5) and,
        with them, units that contribute nothing — and §3 (Thm 3.1, Def 3.2, Cor 3.3) that excluding them
        (a balanced parametrization without redundant or opposite directions) makes the parameters
        inversely stable: functions close to each other have parameters close to each other. Degenerate
        units waste width (a merged pair is one unit: the layer is narrower than it looks, `collapse`
        Thm 8) and make training's landscape flat in directions that change nothing.
    """
    options = (
        RuleOption(
            "unbalance-factor",
            100.0,
            "a unit is unbalanced when ‖incoming‖/‖outgoing‖ exceeds this factor or is below its inverse",
            kind=Number(low=1.0, low_open=True),
        ),
    )
    references = (
        "Berner, Elbrächter, Grohs. How degenerate is the parametrization of neural networks with the ReLU "
        "activation function? (`degenerate`): §2 Examples 2.2-2.5; §3 Theorem 3.1, Definition 3.2, Cor 3.3.",
        "`collapse` Theorem 8 (narrower layers collapse more often).",
    )
    INVALID = (
        Case(
            title="Two units with the same direction (a redundant pair) and a zero unit",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.hidden = nn.Linear(2, 3)  # expect: RL503
                        self.out = nn.Linear(3, 1)
                        with torch.no_grad():
                            self.hidden.weight.copy_(torch.tensor([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]]))
                            self.hidden.bias.copy_(torch.tensor([0.5, 1.0, 0.0]))
                            self.out.weight.copy_(torch.tensor([[1.0, 1.0, 1.0]]))

                    def forward(self, x):
                        return self.out(torch.relu(self.hidden(x)))
            """,
        ),
    )
    VALID = (
        Case(
            title="Balanced units in distinct directions",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.hidden = nn.Linear(2, 3)
                        self.out = nn.Linear(3, 1)
                        with torch.no_grad():
                            self.hidden.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
                            self.hidden.bias.copy_(torch.tensor([0.0, 0.0, 0.0]))
                            self.out.weight.copy_(torch.tensor([[1.0, -1.0, 1.5]]))

                    def forward(self, x):
                        return self.out(torch.relu(self.hidden(x)))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        audit = getattr(facts, "audit", None)
        if audit is None or not audit.degenerate:
            return
        chains = {c.index: c for c in facts.chains}
        layers: dict[tuple[int, int], list] = {}
        for item in audit.degenerate:
            layers.setdefault((item.chain, item.layer), []).append(item)
        for (chain_index, layer), items in sorted(layers.items()):
            chain = chains.get(chain_index)
            parts = []
            for kind, text in KINDS.items():
                found = [d for d in items if d.kind == kind]
                if not found:
                    continue
                if kind in ("zero-in", "zero-out"):
                    shown = ", ".join(str(u) for d in found for u in d.units)
                elif kind == "unbalanced":
                    shown = ", ".join(
                        f"{d.units[0]} (ratio {d.value:.3g}, s = {d.scale:.3g})" for d in found[:SHOWN]
                    )
                else:
                    shown = ", ".join(f"({d.units[0]}, {d.units[1]})" for d in found[:SHOWN])
                more = (
                    f" … (+{len(found) - SHOWN})"
                    if len(found) > SHOWN and kind not in ("zero-in", "zero-out")
                    else ""
                )
                parts.append(f"{text}: {shown}{more}")
            exact = chain_index in audit.exact_two_layer
            scope = (
                "exact: a two-layer network, degenerate §3"
                if exact
                else f"a heuristic here: degenerate's theory is for two-layer networks, this chain has {chain.depth if chain else '?'} hidden layers"
            )
            location = chain.layers[layer].location if chain and chain.layers[layer].location else None
            yield self.finding(
                facts,
                f"Hidden layer {layer} ({items[0].module}) of chain #{chain_index}: "
                + "; ".join(parts)
                + f" ({scope}).",
                chain=chain,
                location=location,
                fix=(
                    "merge redundant pairs (c_k += λ c_j, drop j) and balance units (a·s, c/s); a regularizer "
                    "penalizing unbalance and parallel directions keeps the parametrization non-degenerate "
                    "(degenerate §3)"
                ),
                details={
                    "layer": layer,
                    "exact": exact,
                    "degenerate": [
                        {"kind": d.kind, "units": list(d.units), "value": d.value, "scale": d.scale}
                        for d in items
                    ],
                },
            )
