"""RL501 collapsed-network: a trained network with a hidden layer zero on every input is a constant
function, stuck at the targets' mean (MSE) or median (MAE) (`collapse` Lemma 1, Lemma 3, Thm 4, Cor 6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from relulint.formatting import percent
from relulint.records.location import Location
from relulint.records.model_facts import Chain, ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext

CAUSES = {
    "RL101": "RL101 born-dead-relu-chain: the chain is deep and narrow enough to start dead (collapse Thm 8)",
    "RL201": "RL201: a symmetric init (He, Xavier, ...) on a deep, narrow chain; RAI avoids it (dying §4)",
    "RL301": "RL301: weight normalization does not keep deep, narrow nets from dying (collapse §5)",
    "RL401": "RL401: small targets with an oscillating momentum optimizer kill ReLUs (momentum §5)",
}
FIX = (
    "retrain from a fresh initialization the collapse cannot reach: widen the chain (relulint check gives "
    "the narrowest safe width, collapse Eq 5), use RAI (dying §4) or a normalization before each ReLU; "
    "z-normalize the targets (momentum Eq 1)"
)


def _numbers(values: Any) -> str:
    if values is None:
        return "–"
    return ", ".join(f"{v:.6g}" for v in values) if len(values) > 1 else f"{values[0]:.6g}"


def _layer_location(chain: Chain | None, layer: int) -> Location | None:
    if chain is None or layer >= len(chain.layers):
        return None
    return chain.layers[layer].location or chain.location


class CollapsedNetwork(Rule):
    code = "RL501"
    name = "collapsed-network"
    severity = Severity.ERROR
    groups = ("audit",)
    summary = "The trained network is constant: a hidden layer is zero on every input (relulint audit)."
    what = """
        `relulint audit TARGET --weights FILE` runs the trained model over the training inputs (`--data`,
        else points drawn from `--domain`) and fires when a hidden ReLU layer of a chain outputs exactly
        zero on every input: the network is then a constant function. The finding points at that layer and
        gives the number of inputs, the constant, the targets' mean and median (`--targets`), which of the
        two the constant matches (within 0.05 standard deviations of the targets) and the R² of the fit;
        the architecture rules that predicted it (RL101, RL201, RL401, as `relulint check` reports them) are
        named as the cause. A layer that is not exactly zero but below 1e-6 everywhere, with a near-constant
        output, is reported apart as a warning ("near zero"). When no layer is zero but the output is
        constant on regions of the inputs (`collapse` Cor 6, partial collapse), an info finding lists them.
    """
    why = """
        If a ReLU net is constant on the inputs, some hidden layer is zero on every input (`collapse`
        Lemma 1), and every gradient with respect to that layer and the layers before it vanishes
        (Lemma 3): training can only move the layers after it, whose input is constant. Theorem 4: the
        network then ends at the constant minimizing the loss — the mean of the targets under the L2 loss
        (MSE), their median under L1 (MAE) — where all gradients vanish (Cor 5): training stops, R² = 0.
        Cor 6: the same happens on regions K_i of the inputs, where the net equals the targets' mean over
        K_i. The network cannot recover: it has to be re-initialized.
    """
    references = (
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): §4, Lemma 1, Cor 2, "
        "Lemma 3, Theorem 4, Corollaries 5-6; Theorem 8 and Eq. 5 for the cause.",
        "Lu, Shin, Su, Karniadakis. Dying ReLU and initialization (`dying`): §4, randomized asymmetric init.",
    )
    INVALID = (
        Case(
            title="A layer pushed below zero on every input: the output is its output bias (targets' mean)",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.hidden = nn.Linear(1, 4)  # expect: RL501
                        self.out = nn.Linear(4, 1)
                        with torch.no_grad():  # the state training left: every unit's bias far below zero
                            self.hidden.weight.fill_(1.0)
                            self.hidden.bias.fill_(-10.0)
                            self.out.bias.fill_(2.0)

                    def forward(self, x):
                        return self.out(torch.relu(self.hidden(x)))
            """,
            files={"x.csv": "x\n-1\n0\n1\n2\n3\n", "y.csv": "y\n0\n1\n2\n3\n4\n"},
            options={"data": "x.csv", "targets_file": "y.csv:y"},
        ),
    )
    VALID = (
        Case(
            title="A live layer: the output follows the inputs",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.hidden = nn.Linear(1, 4)
                        self.out = nn.Linear(4, 1)
                        with torch.no_grad():
                            self.hidden.weight.fill_(1.0)
                            self.hidden.bias.copy_(torch.tensor([1.0, 0.0, -1.0, -2.0]))
                            self.out.weight.fill_(1.0)

                    def forward(self, x):
                        return self.out(torch.relu(self.hidden(x)))
            """,
            files={"x.csv": "x\n-1\n0\n1\n2\n3\n", "y.csv": "y\n0\n1\n2\n3\n4\n"},
            options={"data": "x.csv", "targets_file": "y.csv:y"},
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        audit = getattr(facts, "audit", None)
        if audit is None:
            return
        chains = {c.index: c for c in facts.chains}
        fired = False
        for activity in audit.chains:
            chain = chains.get(activity.index)
            if activity.bypassed:
                continue  # a skip connection carries the input around it: the net is not constant
            for exact in (True, False):
                layer = activity.dead_layer if exact else activity.near_dead_layer
                if layer is None:
                    continue
                fired = True
                yield self._layer_finding(facts, audit, activity, chain, layer, exact)
                break
        output = audit.output
        if fired or output is None:
            return
        if output.constant or output.near_constant:
            yield self.finding(
                facts,
                f"The output is {'exactly' if output.constant else 'nearly'} constant over the "
                f"{audit.inputs} inputs ({audit.data_source}) although no observed hidden layer is zero on "
                f"all of them (collapse Lemma 1: one is, possibly where relulint cannot watch). "
                + self._output_text(audit),
                severity=Severity.ERROR if output.constant else Severity.WARNING,
                fix=FIX,
                details=self._details(audit, None, None),
            )
        elif output.regions:
            covered = sum(r.count for r in output.regions)
            parts = [
                f"{r.count} inputs in [{_numbers(r.low)}] … [{_numbers(r.high)}] → {_numbers(r.value)}"
                + (f" (their targets' mean {_numbers(r.target_mean)})" if r.target_mean is not None else "")
                for r in output.regions[:3]
            ]
            yield self.finding(
                facts,
                f"Partial collapse (collapse Cor 6): the output is constant on {len(output.regions)} region(s) "
                f"holding {covered} of the {audit.inputs} inputs ({percent(covered / audit.inputs)}): "
                + "; ".join(parts)
                + ". There the gradients vanish and the net stays at the targets' mean over the region.",
                severity=Severity.INFO,
                fix="if the targets are not constant there, retrain with more width or RAI (dying §4)",
                details=self._details(audit, None, None),
            )

    def _layer_finding(
        self, facts: ModelFacts, audit: Any, activity: Any, chain: Any, layer: int, exact: bool
    ) -> Finding:
        record = activity.layers[layer]
        zero = "zero on every one" if exact else "below 1e-6 (not exactly zero) on every one"
        text = (
            f"Hidden layer {layer} ({record.module or 'functional'}, width {record.width}) of chain "
            f"#{activity.index} ({activity.shape}) is {zero} of the {audit.inputs} inputs "
            f"({audit.data_source}): the network is {'a constant function (collapse Lemma 1)' if exact else 'nearly constant'}, "
            f"and no gradient reaches layers 0–{layer} (Lemma 3). " + self._output_text(audit)
        )
        if audit.causes:
            text += " Cause: " + "; ".join(CAUSES.get(c, c) for c in audit.causes) + " (relulint check)."
        location = _layer_location(chain, layer)
        return self.finding(
            facts,
            text,
            chain=chain,
            location=location,
            severity=Severity.ERROR if exact else Severity.WARNING,
            fix=FIX,
            details=self._details(audit, activity.index, layer),
        )

    @staticmethod
    def _output_text(audit: Any) -> str:
        output = audit.output
        if output is None:
            return ""
        text = f"Its output is {_numbers(output.value)}"
        if output.target_mean is None:
            return text + "; pass --targets to compare it with the targets' mean and median (collapse Thm 4)."
        text += f"; the targets' mean is {_numbers(output.target_mean)}, their median {_numbers(output.target_median)}"
        if output.matches == "mean":
            text += ": training converged to the mean, the end point of the MSE loss (collapse Thm 4)"
        elif output.matches == "median":
            text += ": training converged to the median, the end point of the MAE loss (collapse Thm 4)"
        else:
            text += " (neither within 0.05 σ: training had not finished, or the loss is neither MSE nor MAE)"
        if audit.loss and output.matches and {"mse": "mean", "mae": "median"}[audit.loss] != output.matches:
            text += f" — not the {'mean' if audit.loss == 'mse' else 'median'} --loss {audit.loss} leads to"
        if output.r2 is not None:
            text += f"; R² = {round(output.r2, 3) + 0.0:.3f}"
        return text + "."

    @staticmethod
    def _details(audit: Any, chain: int | None, layer: int | None) -> dict[str, Any]:
        output = audit.output
        return {
            "dead_layer": layer,
            "inputs": audit.inputs,
            "data_source": audit.data_source,
            "value": list(output.value) if output else None,
            "target_mean": list(output.target_mean) if output and output.target_mean else None,
            "target_median": list(output.target_median) if output and output.target_median else None,
            "matches": output.matches if output else None,
            "r2": output.r2 if output else None,
            "causes": list(audit.causes),
        }
