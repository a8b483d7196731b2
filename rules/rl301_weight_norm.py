"""RL301 weight-norm-without-batch-norm: weight normalization is not a cure for collapse (`collapse` §5.2).

Theory: `collapse` §5.2 — batch normalization and SELU let deep, narrow nets escape collapse; weight
normalization (it only re-parametrizes w = g·v/‖v‖) and dropout do not.  The risk is RL101's, decided on
paths (`relulint.verdict.path_risk`): `collapse` Theorem 8's bound 1 − ∏(1 − 2^−N_l) over the unprotected
ReLU layers that every input→output path through the chain crosses (`collapse` Lemma 1), or the probe's
estimate.
"""

from __future__ import annotations

from collections.abc import Iterator

from relulint.chain_facts import unprotected_widths
from relulint.formatting import layers, percent
from relulint.records.model_facts import Chain, ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.verdict import KillSet, kill_sets, path_risk

KINDS = {
    "weight_norm": "torch.nn.utils.weight_norm",
    "parametrize": "parametrizations.weight_norm",
    "custom": "a custom weight-normalized layer",
}
ALTERNATIVES = (
    "put BatchNorm before each ReLU (collapse §5.2)",
    "or use SELU activations (collapse §5.2)",
    "or widen / shorten the chain (collapse Eq 5)",
    "or use an asymmetric init: relulint.init.apply_rai(model) (dying §4)",
)


def weight_normalized(chain: Chain) -> list[str]:
    """The weight-norm kinds used by the chain's ReLU layers (one entry per weight-normalized layer)."""
    return [layer.weight_norm for layer in chain.hidden if layer.weight_norm]


class WeightNormWithoutBatchNorm(Rule):
    code = "RL301"
    name = "weight-norm-without-batch-norm"
    severity = Severity.WARNING
    groups = ("normalization",)
    summary = "A ReLU chain relies on weight normalization, which does not keep deep, narrow nets from dying."
    what = """
        Finds ReLU chains with no batch normalization before their ReLUs whose layers are
        weight-normalized: `torch.nn.utils.weight_norm` (`weight_g` / `weight_v`),
        `torch.nn.utils.parametrizations.weight_norm`, or a custom layer with evidence of a
        normalization — weight norm's own names (`weight_g` / `weight_v`, `g` / `v`, also on an
        `nn.Linear` subclass that deletes its `weight`) or a `forward` that divides a weight by its norm
        (`v / v.norm()`, `F.normalize`, `rsqrt`, `torch._weight_norm`; any parameter names, e.g.
        `direction` / `gain`). A learned per-output `scale` beside a plain `weight`, with no norm in the
        graph, is a rescaling, not weight normalization, and is not reported. When the network is at risk
        of being born dead through the chain (probability above `p`, decided on paths as RL101 decides
        it: `collapse` Theorem 8 over the unprotected ReLU layers that every input→output path crosses —
        the largest such path through the chain, which may span several chains split by a Tanh or a bare
        Linear, `collapse` Lemma 1 — or the probe's estimate) the finding is a warning, and its message
        names the path when the risk comes from more than one chain; otherwise it is an info note,
        because weight normalization is often chosen *as* the cure for dead ReLUs and it is not one. The
        rule is silent when a normalization that keeps a unit alive (BatchNorm in training mode,
        LayerNorm, GroupNorm) precedes every ReLU.
    """
    why = """
        `collapse` §5.2 tests the usual remedies on deep, narrow ReLU nets: batch normalization and SELU
        let them escape collapse, while weight normalization and dropout do not. Weight normalization
        writes each row as w = g · v/‖v‖; the sign of w·x + b — whether a unit fires — is unchanged by the
        positive rescaling of the row, and v is drawn from the same symmetric law, so the probability that
        some layer is zero for every input is bounded by the same 1 − ∏ₗ (1 − 2^−Nₗ) as without it
        (`collapse` Theorem 8: exact at one fixed input, an upper bound for every input of a set), and
        equal to the probability without weight normalization, whatever it is. A network
        born dead is constant and trains only to the mean of the targets (`collapse` Theorem 4). One dead
        layer anywhere on every path suffices (`collapse` Lemma 1), so the risk is the path's: two
        weight-normalized halves of a stack split by a Tanh can each be safe alone and not together.
    """
    options = (
        RuleOption(
            "p", 0.01, "the born-dead probability above which the finding is a warning instead of a note"
        ),
    )
    references = (
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): §5.2, Theorem 8, Eq. 5.",
        "Salimans, Kingma. Weight normalization: a simple reparameterization (2016).",
    )
    INVALID = (
        Case(
            title="New-style weight norm (parametrize) on a deep, narrow chain",
            code="""
                from torch import nn
                from torch.nn.utils.parametrizations import weight_norm


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        blocks = [weight_norm(nn.Linear(3, 3))]  # expect: RL301
                        blocks += [weight_norm(nn.Linear(3, 3)) for _ in range(11)]
                        self.blocks = nn.ModuleList(blocks)
                        self.head = nn.Linear(3, 1)

                    def forward(self, x):
                        for block in self.blocks:
                            x = block(x).relu()
                        return self.head(x)
            """,
        ),
        Case(
            title="Old-style torch.nn.utils.weight_norm (weight_g / weight_v) in nn.Sequential",
            code="""
                from torch import nn
                from torch.nn.utils import weight_norm


                def Net():
                    layers = [weight_norm(nn.Linear(1, 2)), nn.ReLU()]  # expect: RL301
                    for _ in range(9):
                        layers += [weight_norm(nn.Linear(2, 2)), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(2, 1))
            """,
        ),
        Case(
            title="A custom weight-normalized Linear (g · v / ‖v‖)",
            code="""
                import torch
                from torch import nn
                import torch.nn.functional as F


                class WNLinear(nn.Module):
                    def __init__(self, n_in, n_out):
                        super().__init__()
                        self.v = nn.Parameter(torch.randn(n_out, n_in))
                        self.g = nn.Parameter(torch.ones(n_out, 1))
                        self.bias = nn.Parameter(torch.zeros(n_out))

                    def forward(self, x):
                        return F.linear(x, self.g * self.v / self.v.norm(dim=1, keepdim=True), self.bias)


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.layers = nn.ModuleList([WNLinear(2, 2)])  # expect: RL301
                        self.layers.extend(WNLinear(2, 2) for _ in range(9))
                        self.out = nn.Linear(2, 1)

                    def forward(self, x):
                        for layer in self.layers:
                            x = torch.relu(layer(x))
                        return self.out(x)
            """,
        ),
        Case(
            title="Not at risk, but weight norm is not what keeps it alive (info note)",
            code="""
                from torch import nn
                from torch.nn.utils.parametrizations import weight_norm


                def Net():
                    return nn.Sequential(
                        weight_norm(nn.Linear(8, 64)),  # expect: RL301
                        nn.ReLU(),
                        weight_norm(nn.Linear(64, 64)),
                        nn.ReLU(),
                        nn.Linear(64, 1),
                    )
            """,
        ),
        Case(
            title="A Tanh splits the chain: each half 0.78 %, but every path crosses all 8 layers (1.6 %, warning)",
            code="""
                from torch import nn
                from torch.nn.utils.parametrizations import weight_norm


                def Net(width: int = 9):
                    first = [weight_norm(nn.Linear(1, width)), nn.ReLU()]  # expect: RL301
                    first += [m for _ in range(3) for m in (weight_norm(nn.Linear(width, width)), nn.ReLU())]
                    second = [m for _ in range(4) for m in (weight_norm(nn.Linear(width, width)), nn.ReLU())]  # expect: RL301
                    return nn.Sequential(*first, nn.Linear(width, width), nn.Tanh(), *second, nn.Linear(width, 1))
            """,
        ),
    )
    VALID = (
        Case(
            title="Batch norm before every ReLU",
            code="""
                from torch import nn
                from torch.nn.utils.parametrizations import weight_norm


                def Net(width: int = 3, depth: int = 12):
                    layers = [weight_norm(nn.Linear(3, width)), nn.BatchNorm1d(width), nn.ReLU()]
                    for _ in range(depth - 1):
                        layers += [weight_norm(nn.Linear(width, width)), nn.BatchNorm1d(width), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(width, 1))
            """,
        ),
        Case(
            title="No weight normalization (RL101's business, not this rule's)",
            code="""
                from torch import nn


                def Net():
                    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
            """,
        ),
        Case(
            title="A Tanh-split path with batch norm before every ReLU: no layer on it can die",
            code="""
                from torch import nn
                from torch.nn.utils.parametrizations import weight_norm


                def relu_layers(d_in: int, width: int, count: int) -> list[nn.Module]:
                    layers: list[nn.Module] = []
                    for _ in range(count):
                        layers += [weight_norm(nn.Linear(d_in, width)), nn.BatchNorm1d(width), nn.ReLU()]
                        d_in = width
                    return layers


                def Net(width: int = 9):
                    smooth = [nn.Linear(width, width), nn.Tanh()]
                    return nn.Sequential(*relu_layers(1, width, 4), *smooth, *relu_layers(width, width, 4), nn.Linear(width, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        p = ctx.option(type(self), "p")
        sets = kill_sets(facts.chains)
        for chain in facts.chains:
            kinds = weight_normalized(chain)
            if not kinds or not unprotected_widths(chain):
                continue
            probability, source, kill_set = path_risk(chain, facts, p, sets)
            at_risk = probability > p
            path = None
            if kill_set is not None and len(kill_set.chains) > 1:
                path = kill_set.member_chains(facts.chains), kill_set
            details = {
                "weight_norm": sorted(set(kinds)),
                "weight_normalized_layers": len(kinds),
                "relu_layers": chain.depth,
                "probability": probability,
                "source": source,
                "p": p,
                "at_risk": at_risk,
            }
            if path is not None:
                details.update(
                    chains=list(path[1].chains),
                    routes=list(path[1].routes),
                    hidden_widths=list(path[1].widths),
                )
            yield self.finding(
                facts,
                self.message(chain, kinds, probability, source, at_risk, path),
                chain=chain,
                severity=Severity.WARNING if at_risk else Severity.INFO,
                fix="; ".join(ALTERNATIVES),
                details=details,
            )

    @staticmethod
    def message(
        chain: Chain,
        kinds: list[str],
        probability: float,
        source: str,
        at_risk: bool,
        path: tuple[list[Chain], KillSet] | None = None,
    ) -> str:
        how = " and ".join(KINDS.get(k, k) for k in sorted(set(kinds)))
        head = (
            f"ReLU chain {chain.shape} uses weight normalization ({how}) on {len(kinds)} of its "
            f"{chain.depth} ReLU layers and no batch norm before them"
        )
        where = "probe" if source == "probe" else "collapse Thm 8"
        amount = percent(probability) if source == "probe" else f"up to {percent(probability)}"
        alternatives = "batch norm before each ReLU or SELU activations do (collapse §5.2)"
        if path is not None:
            return path_message(head, path, amount, source, at_risk, alternatives)
        if at_risk:
            return (
                f"{head}: it is born dead with probability {amount} ({where}). Weight normalization only "
                f"re-parametrizes the weights and does not prevent collapse; {alternatives}."
            )
        return (
            f"{head}. It is not at risk at this depth and width (P {amount}, {where}), but weight "
            f"normalization is not what keeps it alive: it does not prevent collapse (collapse §5.2); "
            f"{alternatives}."
        )


def path_message(
    head: str,
    path: tuple[list[Chain], KillSet],
    amount: str,
    source: str,
    at_risk: bool,
    alternatives: str,
) -> str:
    """RL301's message for a chain whose risk is that of a ReLU path across several chains (RL101's)."""
    chains, kill_set = path
    names = " and ".join(f"#{c.index} ({c.shape})" for c in chains)
    routes = ", ".join(kill_set.routes)
    path_text = (
        f"ReLU path through chains {names} ({layers(len(kill_set.widths))} that every path of "
        f"{'route' if len(kill_set.routes) == 1 else 'routes'} {routes} crosses)"
    )
    where = (
        "probe, on one of its chains alone"
        if source == "probe"
        else "collapse Thm 8 over the path: one dead layer makes everything after it constant, "
        "collapse Lemma 1"
    )
    if at_risk:
        return (
            f"{head}, and it lies on a {path_text} that is born dead with probability {amount} ({where}). "
            f"Weight normalization only re-parametrizes the weights and does not prevent collapse; "
            f"{alternatives}."
        )
    return (
        f"{head}. Its {path_text} is not at risk at this depth and width (P {amount}, {where}), but weight "
        f"normalization is not what keeps it alive: it does not prevent collapse (collapse §5.2); "
        f"{alternatives}."
    )
