"""RL101 born-dead-relu-chain: a deep, narrow ReLU chain that is likely constant at initialization.

Theory: `collapse` Theorem 8 / `dying` Theorem 3.2 (upper bound 1 − ∏(1 − 2^−N_l)), `collapse` Eq. 5
(maximum safe depth), `dying` Theorem 3.3 (lower bound for d_in = 1), `collapse` Proposition 10 (width 2), `dying` Corollary 3.5 (width for a given depth).
"""

from __future__ import annotations

from collections.abc import Iterator

from relulint.facts import Chain, Finding, ModelFacts, Severity
from relulint.formatting import layers, percent
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.summary import (
    asymmetric_init,
    init_label,
    lower_bound_excluded,
    negative_init,
    normalization_note,
    unprotected_widths,
)
from relulint.theory.collapse import max_safe_depth, min_safe_width, p_born_dead_upper

__all__ = [
    "BornDeadReluChain",
    "risk",
    "theory_values",
]


def risk(chain: Chain, facts: ModelFacts) -> tuple[float, str]:
    """The born-dead probability relulint acts on, and where it comes from (probe, or Thm 8 bound)."""
    if chain.bypassed:
        return 0.0, "skip"  # a skip connection around the chain: the network is never constant through it
    probe = facts.probes.get(chain.index)
    if probe is not None and probe.samples:
        return probe.estimate, "probe"
    return p_born_dead_upper(unprotected_widths(chain)), "bound"


def theory_values(chain: Chain, p: float) -> dict[str, float | int | str | None]:
    """Bounds for the json details: upper (Thm 8), lower (Thm 3.3, d_in = 1), width 2 (Prop 10).

    The lower bound and the width-2 value are given only under their hypotheses: d_in = 1, zero biases
    and i.i.d. symmetric weights (`summary.lower_bound_excluded`; with biases or orthogonal weights the
    true probability is below them). The Prop 10 Markov chain is exact up to 3 ReLU layers and a slight
    underestimate beyond (its Appendix J assumes independent directions; see `relulint.theory.collapse`),
    so relulint reports max(chain, Thm 3.3 lower bound) and calls it the width-2 value, not an exact one.
    """
    from relulint.theory.collapse import p_collapse_width2
    from relulint.theory.dying import p_born_dead_lower_din1

    widths = unprotected_widths(chain)
    width = min(widths) if widths else 0
    uniform = len(set(widths)) == 1
    values: dict[str, float | int | str | None] = {
        "p_upper": p_born_dead_upper(widths),
        "p_lower": None,
        "p_width2": None,
        "safe_depth": max_safe_depth(width, p) if width else None,
        "min_width": min_safe_width(len(widths), p) if widths else None,
    }
    if uniform and chain.input_dim == 1 and widths and len(widths) == chain.depth:
        excluded = lower_bound_excluded(chain)
        if excluded is None:
            values["p_lower"] = p_born_dead_lower_din1(len(widths), width)
            if width == 2:
                values["p_width2"] = max(p_collapse_width2(len(widths)), values["p_lower"])
        elif len(widths) >= 2:
            values["no_lower_bound"] = excluded  # Thm 3.3 would be quoted, but its hypotheses fail
    return values


class BornDeadReluChain(Rule):
    code = "RL101"
    name = "born-dead-relu-chain"
    severity = Severity.WARNING
    groups = ("architecture",)
    summary = "A deep, narrow ReLU chain is likely born dead: constant for every input at initialization."
    what = """
        Finds chains of Linear → ReLU layers whose probability of being *born dead* — some hidden layer
        outputs zero for every input, so the network is constant — exceeds `p` (default 1 %). The
        probability is the upper bound of `collapse` Theorem 8 (= `dying` Theorem 3.2),
        1 − ∏ₗ (1 − 2^−Nₗ) over the ReLU layer widths Nₗ, or the probe's Monte-Carlo estimate when
        `--probe` ran. The message gives the widths, the ReLU depth, the probability (with the `dying`
        Theorem 3.3 lower bound when d_in = 1, and the `collapse` Proposition 10 value at width 2 — both
        only for zero biases and i.i.d. symmetric weights, the theorem's hypotheses; with biases or an
        orthogonal init the true value can be below them, so the message says no lower bound applies),
        the deepest safe chain at this width (`collapse` Eq. 5) and the narrowest safe width at this
        depth, and the fixes.

        Severity: warning, raised to error when the probability is at least 50 % (the net is more
        likely dead than alive), so `--fail-on error` gates only those.

        Depth counts ReLU (hidden) layers, as `collapse` Theorem 8 does; a ReLU on the last layer counts.
        The rule stands down for layers preceded by a normalization that keeps a live unit for every
        input (BatchNorm in training mode, LayerNorm, GroupNorm); weight normalization and dropout do not
        count (`collapse` §5.2).
    """
    why = """
        A born-dead network is constant, its gradient vanishes in every layer before the dead one
        (`collapse` Lemma 1, Corollary 2), and training can only fit the last layer: it ends at the mean
        of the target under MSE and at the median under MAE (`collapse` Theorem 4). The loss is flat and
        the prediction constant, which looks like a bad learning rate. The chance grows with depth and
        shrinks with width. For 10 ReLU layers the `collapse` Theorem 8 bound is 0.97 % at width 10, 27 %
        at width 5 and 74 % at width 3 (`collapse` §4, Fig. 6); the true probability is lower, and the
        bound looser the wider the net: a Monte Carlo of bias-free He-initialized nets with d_in = 1 and
        inputs on both sides of 0 gives 0.17 %, 15 % and 63 % (the bound is 5.7× the truth at width 10).
        Every i.i.d. symmetric weight law (He, Xavier, LeCun, whatever its scale) gives the same bound
        (`collapse` Theorem 8; `dying` Theorem 3.2 with symmetric biases too). Orthogonal init is a little lower, not better in kind: about
        2 points lower at 10 ReLU layers of width 3 to 5 in Monte Carlo (`collapse` §5.1, Fig. 7), and at
        2 ReLU layers below the `dying` Theorem 3.3 lower bound, which assumes independent weights (12.5 %
        against 15.6 % at width 2). Where the papers are loose or wrong: docs/theory.md.
    """
    options = (
        RuleOption(
            "p",
            0.01,
            "the largest acceptable born-dead probability (`collapse` §4: keep it below 1 % or 10 %)",
        ),
    )
    references = (
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): Theorem 8, Eq. 5, Prop. 10, §5.",
        "Lu, Shin, Su, Karniadakis. Dying ReLU and initialization (`dying`): Theorems 3.2, 3.3, Cor. 3.5.",
        "Theory and its limits (docs/theory.md): where relulint measured the papers' bounds loose or wrong.",
    )
    INVALID = (
        Case(
            title="A PINN-style MLP, 20 ReLU layers of width 4",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 4, depth: int = 20):
                        super().__init__()
                        self.first = nn.Linear(2, width)  # expect: RL101
                        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
                        self.out = nn.Linear(width, 1)

                    def forward(self, x, t):
                        h = torch.relu(self.first(torch.cat([x, t], dim=1)))
                        for layer in self.hidden:
                            h = torch.relu(layer(h))
                        return self.out(h)
            """,
        ),
        Case(
            title="nn.Sequential, width 2, ten ReLU layers",
            code="""
                from torch import nn


                def Net():
                    layers = [nn.Linear(1, 2), nn.ReLU()]  # expect: RL101
                    for _ in range(9):
                        layers += [nn.Linear(2, 2), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(2, 1))
            """,
        ),
        Case(
            title="Weight normalization does not protect",
            code="""
                from torch import nn
                from torch.nn.utils.parametrizations import weight_norm


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        blocks = [weight_norm(nn.Linear(3, 3))]  # expect: RL101
                        blocks += [weight_norm(nn.Linear(3, 3)) for _ in range(11)]
                        self.blocks = nn.ModuleList(blocks)
                        self.head = nn.Linear(3, 1)

                    def forward(self, x):
                        for block in self.blocks:
                            x = block(x).relu()
                        return self.head(x)
            """,
        ),
    )
    VALID = (
        Case(
            title="Wide enough for its depth",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 32, depth: int = 20):
                        super().__init__()
                        self.first = nn.Linear(2, width)
                        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
                        self.out = nn.Linear(width, 1)

                    def forward(self, x, t):
                        h = torch.relu(self.first(torch.cat([x, t], dim=1)))
                        for layer in self.hidden:
                            h = torch.relu(layer(h))
                        return self.out(h)
            """,
        ),
        Case(
            title="Batch norm before every ReLU",
            code="""
                from torch import nn


                def Net(width: int = 2, depth: int = 10):
                    layers = [nn.Linear(1, width), nn.BatchNorm1d(width), nn.ReLU()]
                    for _ in range(depth - 1):
                        layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(width, 1))
            """,
        ),
        Case(
            title="A transformer feed-forward block",
            code="""
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, d_model: int = 64):
                        super().__init__()
                        self.norm = nn.LayerNorm(d_model)
                        self.ff = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Linear(4 * d_model, d_model))

                    def forward(self, x):
                        return x + self.ff(self.norm(x))
            """,
        ),
        Case(
            title="The same narrow chain with a non-dying activation",
            code="""
                from torch import nn


                def Net():
                    layers = [nn.Linear(1, 2), nn.Tanh()]
                    for _ in range(9):
                        layers += [nn.Linear(2, 2), nn.Tanh()]
                    return nn.Sequential(*layers, nn.Linear(2, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        p = ctx.option(type(self), "p")
        for chain in facts.chains:
            probability, source = risk(chain, facts)
            negative = negative_init(chain)
            if negative is not None and source == "bound" and unprotected_widths(chain):
                yield self.finding(
                    facts,
                    f"ReLU chain {chain.shape} ({layers(chain.depth)}) is initialized from a law leaning "
                    f"negative ({init_label(negative)}): collapse Thm 8 and dying Thm 3.2 assume laws "
                    f"symmetric about zero, so their bound ({percent(probability)}) does not hold, and a "
                    "negative mean silences ReLUs beyond it. Measure it: relulint probe (or --probe).",
                    chain=chain,
                    fix="a symmetric init (nn.init.kaiming_normal_) or RAI (relulint.init.apply_rai)",
                    details={"probability": probability, "source": "bound-not-applicable", "p": p},
                )
                continue
            if probability <= p:
                continue
            values = theory_values(chain, p)
            yield self.finding(
                facts,
                self.message(chain, probability, source, values, p),
                chain=chain,
                severity=Severity.ERROR if probability >= 0.5 else Severity.WARNING,
                fix=self.fix_text(chain, values),
                details={"probability": probability, "source": source, "p": p, **values},
            )

    @staticmethod
    def message(chain: Chain, probability: float, source: str, values: dict, p: float) -> str:
        widths = unprotected_widths(chain)
        width = min(widths)
        parts = [
            f"ReLU chain {chain.shape} ({layers(chain.depth)}) is born dead with probability "
            + (
                f"{percent(probability)} (probe)"
                if source == "probe"
                else f"up to {percent(probability)} (collapse Thm 8)"
            )
        ]
        if values.get("p_width2") is not None:
            parts.append(f"width-2 value {percent(values['p_width2'])} (collapse Prop 10)")
        elif values.get("p_lower"):  # a zero lower bound says nothing
            parts.append(f"at least {percent(values['p_lower'])} (dying Thm 3.3)")
        elif values.get("no_lower_bound") and not asymmetric_init(chain):
            parts.append(
                f"no lower bound applies (dying Thm 3.3 assumes {values['no_lower_bound']})"
                + ("" if source == "probe" else ": --probe measures it")
            )
        if source == "probe":
            parts.append(f"bound {percent(values['p_upper'])}")
        elif asymmetric_init(chain):
            parts.append(
                "the bound is for symmetric inits; this chain's asymmetric init (RAI) lowers it "
                "(dying Thm 4.1): --probe measures it"
            )
        head = "; ".join(parts) + "."
        safe, need = values["safe_depth"], values["min_width"]
        if safe:
            limits = f" At width {width} at most {safe} ReLU layers keep it ≤ {percent(p)} (collapse Eq 5)"
        else:
            limits = (
                f" At width {width} a single ReLU layer already dies with probability 2^−{width} = "
                f"{percent(2.0**-width)} > {percent(p)} (collapse Eq 5)"
            )
        if len(widths) < chain.depth:
            limits += f"; its {len(widths)} unprotected ReLU layers need width ≥ {need}."
        else:
            limits += f"; {layers(chain.depth)} need{'s' if chain.depth == 1 else ''} width ≥ {need}."
        note = normalization_note(chain)
        return head + limits + (f" Normalization: {note}." if note else "")

    @staticmethod
    def fix_text(chain: Chain, values: dict) -> str:
        need, safe = values["min_width"], values["safe_depth"]
        widths = unprotected_widths(chain)
        fixes = [
            f"widen to {need} (P ≤ {percent(p_born_dead_upper([need] * len(widths)))})",
            f"cut to {safe} ReLU layers" if safe else "cut the chain",
            "put BatchNorm/LayerNorm before each ReLU (P → 0, collapse §5.2)",
            "use an asymmetric init: relulint.init.apply_rai(model) (dying §4)",
            "or SELU activations (collapse §5.2)",
        ]
        return "; ".join(fixes)
