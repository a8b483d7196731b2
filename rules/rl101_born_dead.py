"""RL101 born-dead-relu-chain: a deep, narrow ReLU chain that is likely constant at initialization.

Theory: `collapse` Theorem 8 / `dying` Theorem 3.2 (upper bound 1 − ∏(1 − 2^−N_l)), `collapse` Eq. 5
(maximum safe depth), `dying` Theorem 3.3 (lower bound for d_in = 1), `collapse` Proposition 10 (width 2), `dying` Corollary 3.5 (width for a given depth).
"""

from __future__ import annotations

from collections.abc import Iterator

from relulint.chain_facts import (
    asymmetric_init,
    chain_bound,
    degenerate_norm,
    init_label,
    killing_layers,
    lower_bound_excluded,
    negative_init,
    normalization_note,
    unprotected_widths,
)
from relulint.formatting import layers, percent
from relulint.records.model_facts import Chain, ModelFacts, ProbeResult
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.collapse import max_safe_depth, min_safe_width, p_born_dead_upper
from relulint.verdict import (
    VERDICT_LIKELY_DEAD,
    KillSet,
    kill_sets,
    loose_bound,
    network_risk,
    risk,
    single_chain,
    verdict_for,
)

__all__ = [
    "BornDeadReluChain",
    "theory_values",
]


def theory_values(chain: Chain, p: float) -> dict[str, float | int | str | None]:
    """Bounds for the json details: upper (Thm 8), lower (Thm 3.3, d_in = 1), width 2 (Prop 10).

    `p_upper_unprotected` is the bound over the layers that can kill the network (what RL101 decides on),
    `p_upper_all` the bound over every ReLU layer of the chain (`relulint.verdict.chain_summary`'s).

    The lower bound and the width-2 value are given only under their hypotheses: d_in = 1, zero biases
    and i.i.d. symmetric weights (`chain_facts.lower_bound_excluded`; with biases or orthogonal weights the
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
        "p_upper_unprotected": chain_bound(chain),
        "p_upper_all": p_born_dead_upper(chain.hidden_widths),
        "p_lower": None,
        "p_width2": None,
        "safe_depth": max_safe_depth(width, p) if width else None,
        "min_width": min_safe_width(len(widths), p) if widths else None,
    }
    if uniform and chain.input_dim == 1 and widths and len(widths) == chain.depth:
        excluded = lower_bound_excluded(chain)
        if excluded is None:
            p_lower = p_born_dead_lower_din1(len(widths), width)
            values["p_lower"] = p_lower
            if width == 2:
                values["p_width2"] = max(p_collapse_width2(len(widths)), p_lower)
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
        1 − ∏ₗ (1 − 2^−Nₗ) over the widths Nₗ of the ReLU layers that every input→output path crosses:
        one dead layer makes everything after it constant whatever the activations between (`collapse`
        Lemma 1), so a Tanh or a bare Linear between two ReLU runs joins them into one path, and a block
        with a skip connection around it (residual add, concat with the input, whatever sits on either
        path) is left out. With `--probe`, the probe clears a chain only when its whole 95 % interval lies
        at or below `p`; otherwise the bound stands and the message gives both. The message gives the
        widths, the ReLU depth, the probability (with the `dying` Theorem 3.3 lower bound when d_in = 1,
        and the `collapse` Proposition 10 value at width 2 — both only for zero biases and i.i.d. symmetric
        weights, the theorem's hypotheses; with biases or an orthogonal init the true value can be below
        them, so the message says no lower bound applies), the deepest safe chain at this width
        (`collapse` Eq. 5) and the narrowest safe width at this depth, and the fixes.

        Severity: warning, raised to error when the probability is at least 50 % (the net is more
        likely dead than alive), so `--fail-on error` gates only those.

        Depth counts ReLU (hidden) layers, as `collapse` Theorem 8 does; a ReLU on the last layer counts.
        The rule stands down for layers preceded by a normalization that keeps a live unit for every
        input (BatchNorm in training mode, LayerNorm or GroupNorm over ≥ 2 features); weight normalization
        and dropout do not count (`collapse` §5.2), and a norm over a single feature (`LayerNorm(1)`,
        `GroupNorm(C, C)`) outputs its bias for every input: the ReLU after it is constant.
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
        Case(
            title="A Tanh between two ReLU runs does not stop a dead layer: one path of 8 layers",
            code="""
                from torch import nn


                def Net(width: int = 9):
                    first = [nn.Linear(2, width), nn.ReLU()]  # expect: RL101
                    first += [m for _ in range(3) for m in (nn.Linear(width, width), nn.ReLU())]
                    second = [m for _ in range(4) for m in (nn.Linear(width, width), nn.ReLU())]
                    return nn.Sequential(*first, nn.Linear(width, width), nn.Tanh(), *second, nn.Linear(width, 1))
            """,
        ),
        Case(
            title="A ReLU after a sum of two Linear branches (GraphSAGE-style) is one layer of its width",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 4, depth: int = 8):
                        super().__init__()
                        self.stem = nn.Linear(3, width)
                        self.own = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))  # expect: RL101
                        self.mean = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
                        self.head = nn.Linear(width, 1)

                    def forward(self, x):
                        x = self.stem(x)  # no ReLU here: only the sums' ReLUs can die
                        for own, mean in zip(self.own, self.mean):
                            x = torch.relu(own(x) + mean(x.mean(0, keepdim=True).expand_as(x)))
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
        Case(
            title="Narrow residual blocks with a pre-norm and dropout: the stream goes around each",
            code="""
                from torch import nn


                class Block(nn.Module):
                    def __init__(self, d_main: int = 16, d_hidden: int = 3):
                        super().__init__()
                        self.norm = nn.BatchNorm1d(d_main)
                        self.ff = nn.Sequential(nn.Linear(d_main, d_hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(d_hidden, d_main))

                    def forward(self, x):
                        return x + self.ff(self.norm(x))


                def Net():
                    return nn.Sequential(nn.Linear(4, 16), *[Block() for _ in range(8)], nn.Linear(16, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        """One finding per kill set above `p` (`relulint.verdict.kill_sets`: the ReLU layers on every path
        of an input→output route), told as its chain when it is one chain's, as a path across chains
        otherwise; a chain whose init leans negative gets its own finding (the bound does not hold)."""
        p = ctx.option(type(self), "p")
        told: set[int] = set()
        for chain in facts.chains:
            probability, source = risk(chain, facts, p)
            negative = negative_init(chain)
            if negative is not None and source == "bound" and unprotected_widths(chain):
                told.add(chain.index)
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
        for kill_set in kill_sets(facts.chains):
            alone = single_chain(kill_set, facts.chains)
            if alone is None:
                yield from self.path_finding(facts, kill_set, p)
            elif alone.index not in told:
                yield from self.chain_finding(facts, alone, p)

    def chain_finding(self, facts: ModelFacts, chain: Chain, p: float) -> Iterator[Finding]:
        """The finding for a kill set that is one chain's layers (the usual case): the probe may decide."""
        probability, source = risk(chain, facts, p)
        if probability <= p:
            return
        if source == "bound" and any(degenerate_norm(layer) for layer in killing_layers(chain)):
            source = "degenerate-norm"  # a norm over one feature: constant for every input, not a bound
        values = theory_values(chain, p)
        probe = facts.probes.get(chain.index)
        message = self.message(chain, probability, source, values, p)
        extra: dict[str, object] = {}
        if source == "bound" and probe is not None and probe.samples:
            message += " " + probe_not_clearing(probe, p)
            extra = {"probe": probe.estimate, "probe_ci": list(probe.ci)}
        yield self.finding(
            facts,
            message,
            chain=chain,
            severity=severity_for(probability, p, loose_bound([chain], source)),
            fix=DEGENERATE_FIX if source == "degenerate-norm" else self.fix_text(chain, values),
            details={
                "probability": probability,
                "source": source,
                "p": p,
                **values,
                **extra,
                "chains": [chain.index],
            },
        )

    def path_finding(self, facts: ModelFacts, kill_set: KillSet, p: float) -> Iterator[Finding]:
        """The finding for the ReLU layers on every path across several chains: `collapse` Lemma 1 — a dead
        layer makes all after it constant, whatever the activations between — so Thm 8 runs over them all."""
        probability, source = network_risk(kill_set, facts, p)
        if probability <= p:
            return
        chains = kill_set.member_chains(facts.chains)
        widths = kill_set.widths
        width, count = min(widths), len(widths)
        safe, need = max_safe_depth(width, p), min_safe_width(count, p)
        every = [w for c in chains for w in c.hidden_widths]
        values = {
            "p_upper_unprotected": kill_set.bound,
            "p_upper_all": p_born_dead_upper(every),
            "p_lower": None,
            "p_width2": None,
            "safe_depth": safe,
            "min_width": need,
        }
        yield self.finding(
            facts,
            path_message(chains, kill_set, probability, source, safe, need, p),
            chain=chains[0],
            severity=severity_for(probability, p, loose_bound(chains, source)),
            fix=fix_for(widths, safe, need, rai=any(asymmetric_init(c) for c in chains)),
            details={
                "probability": probability,
                "source": source,
                "p": p,
                **values,
                "chains": list(kill_set.chains),
                "hidden_widths": list(widths),
                "routes": list(kill_set.routes),
            },
        )

    @staticmethod
    def message(chain: Chain, probability: float, source: str, values: dict, p: float) -> str:
        widths = unprotected_widths(chain)
        width = min(widths)
        if source == "degenerate-norm":
            return (
                f"ReLU chain {chain.shape} ({layers(chain.depth)}) is constant for every input, whatever "
                f"the init (probability 1). Normalization: {normalization_note(chain)}."
            )
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
            parts.append(f"bound {percent(values['p_upper_unprotected'])}")
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
        return fix_for(
            unprotected_widths(chain), values["safe_depth"], values["min_width"], rai=asymmetric_init(chain)
        )


def severity_for(probability: float, p: float, loose: bool) -> Severity:
    """Error where the verdict is "likely dead" (`relulint.verdict.verdict_for`), else warning: a loose
    bound (an asymmetric init such as RAI, `loose_bound`) is at most a warning until a probe measures it."""
    return (
        Severity.ERROR
        if verdict_for(probability, p, loose=loose) == VERDICT_LIKELY_DEAD
        else Severity.WARNING
    )


DEGENERATE_FIX = (
    "normalize over ≥ 2 features: LayerNorm(width), GroupNorm(G, width) with G < width (e.g. GroupNorm(1, "
    "width)), or BatchNorm1d(width) (collapse §5.2)"
)


def fix_for(widths: tuple[int, ...], safe: int | None, need: int, rai: bool = False) -> str:
    """The fixes for ReLU layers of these widths that can kill the network; with `rai` (the init is already
    asymmetric, `asymmetric_init`) measuring its risk replaces the advice to use RAI."""
    fixes = [
        f"widen to {need} (P ≤ {percent(p_born_dead_upper([need] * len(widths)))})",
        f"cut to {safe} ReLU layers" if safe else "cut the chain",
        "put BatchNorm/LayerNorm before each ReLU (P → 0, collapse §5.2)",
        "measure what the asymmetric init leaves: relulint probe (or --probe)"
        if rai
        else "use an asymmetric init: relulint.init.apply_rai(model) (dying §4)",
        "or SELU activations (collapse §5.2)",
    ]
    return "; ".join(fixes)


def probe_not_clearing(probe: ProbeResult, p: float) -> str:
    """Why the probe's estimate does not replace the bound: its 95 % interval reaches above `p`."""
    low, high = probe.ci

    def share(x: float) -> str:
        return "0" if x == 0 else percent(x)

    return (
        f"The probe saw {probe.born_dead} of {probe.samples} inits born dead ({share(probe.estimate)}, 95 % "
        f"interval {share(low)}–{share(high)}): the interval reaches above p = {percent(p)}, so the probe "
        "does not clear the chain and the bound stands (more --samples narrow the interval)."
    )


def path_message(
    chains: list[Chain],
    kill_set: KillSet,
    probability: float,
    source: str,
    safe: int | None,
    need: int | None,
    p: float,
) -> str:
    """RL101's message for the ReLU layers every path crosses, spread over several chains."""
    widths = kill_set.widths
    names = " and ".join(
        f"#{c.index} ({c.shape}" + (f", line {c.location.line})" if c.location else ")") for c in chains
    )
    shape = f"{widths[0]}×{len(widths)}" if len(set(widths)) == 1 else "-".join(map(str, widths))
    head = (
        f"ReLU path through chains {names} is born dead with probability up to {percent(kill_set.bound)} "
        f"(collapse Thm 8 over its {layers(len(widths))}, {shape}, that every input→output path crosses: "
        "one dead layer makes everything after it constant, whatever the activations between, "
        "collapse Lemma 1)."
    )
    if source == "probe":
        head += f" The probe measured more on one of its chains alone: {percent(probability)}."
    inputs = sorted({route.split("→")[0] for route in kill_set.routes if "→" in route})
    head += f" Routes: {', '.join(kill_set.routes)}." if len(inputs) > 1 or len(kill_set.routes) > 1 else ""
    width = min(widths)
    if safe:
        limits = f" At width {width} at most {safe} ReLU layers keep it ≤ {percent(p)} (collapse Eq 5)"
    else:
        limits = (
            f" At width {width} a single ReLU layer already dies with probability 2^−{width} = "
            f"{percent(2.0**-width)} > {percent(p)} (collapse Eq 5)"
        )
    return head + limits + f"; {layers(len(widths))} need width ≥ {need}."
