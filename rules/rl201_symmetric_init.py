"""RL201 symmetric-init-deep-narrow: a born-dead-prone chain initialized from a law symmetric about zero.

Theory: `dying` Thm 3.2 (any symmetric weight law: P(born dead) ≤ 1 − ∏(1 − 2^−N_l), the same for every
scale), `collapse` §5.1 and `dying` §4.3 (orthogonal and LSUV do not help; a positive constant bias
lowers the probability but does not remove it, `dying` Fig. 4), `dying` §4.1 / Thm 4.1 (RAI, the fix:
1 − ∏(1 − (1/2 − γ_l)^N_l) with γ_1 = 0 and γ_l ∈ (0, 1/2]), `dying` Fig. 4 (born dead 88 % → 22 % at 10 layers in its count, i.e. 9 ReLU layers, width 2, as §5 reads them off
Fig. 4; §5's post-training collapse rates, > 90 % and 40 %, are a different measure).
"""

from __future__ import annotations

from collections.abc import Iterator

from relulint.chain_facts import init_label, symmetric_init, unprotected_widths
from relulint.formatting import layers, percent
from relulint.records.model_facts import Chain, InitInfo, ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.dying import rai_upper_bound
from relulint.verdict import KillSet, kill_sets, network_risk, risk, single_chain


def chain_inits(chain: Chain) -> tuple[list[InitInfo], bool, bool]:
    """(symmetric weight inits of the hidden layers, any RAI, any asymmetric or unknown) — what RL201 decides on.

    RAI keeps a He first layer (`dying` §4.1), so the layers after the first decide: RL201 speaks only when
    each of them has a known law symmetric about zero. A layer whose law is unknown (too few entries to
    fingerprint, no record) counts as "not known symmetric": RL201 stays silent rather than name an init
    the chain may not have (RL101 still reports the risk).
    """
    known = [layer.weight_init for layer in chain.hidden if layer.weight_init is not None]
    rai = any(info.law == "rai" for info in known)
    return [info for info in known if info.symmetric], rai, not symmetric_init(chain)


def positive_biases(chain: Chain) -> list[float]:
    """The positive constant biases of the hidden layers (`dying` Fig. 4: they lower the risk)."""
    values = []
    for layer in chain.hidden:
        info = layer.bias_init
        if info is not None and info.law == "constant" and info.mean is not None and info.mean > 0:
            values.append(info.mean)
    return values


class SymmetricInitDeepNarrow(Rule):
    code = "RL201"
    name = "symmetric-init-deep-narrow"
    severity = Severity.WARNING
    groups = ("initialization",)
    summary = (
        "A deep, narrow ReLU chain is initialized from a symmetric law (He, Xavier, orthogonal…): use RAI."
    )
    what = """
        Finds ReLU chains whose born-dead probability exceeds `p` (the `collapse` Theorem 8 / `dying`
        Theorem 3.2 bound, or the probe's estimate) and whose hidden-layer weights were drawn from a law
        symmetric about zero: He/Kaiming, Xavier/Glorot, LeCun, PyTorch's default
        `kaiming_uniform_(a=√5)`, any zero-mean normal or uniform, and also orthogonal and LSUV. relulint
        knows the initializer from the calls it records while the model is built (`torch.nn.init.*`,
        in-place `.data.normal_()` and friends, `reset_parameters`, `model.apply(fn)`) and from a
        statistical fingerprint of the values.

        The message names the initializer, says why it cannot help, and what the randomized asymmetric
        initialization (RAI, `relulint.init.apply_rai`) buys for this chain: the `dying` Theorem 4.1 bound
        and, with `--probe --compare rai`, the measured probability under RAI. A positive constant bias
        is reported as lowering the risk without removing it. Chains initialized by RAI are never flagged
        here (RL101 still fires when they stay above `p`).
    """
    why = """
        For any weights drawn independently from laws symmetric about zero (and symmetric or zero
        biases), each hidden layer of width N_l is zero on every input with probability 2^−N_l given the
        layers before it, so P(born dead) ≤ 1 − ∏(1 − 2^−N_l) (`dying` Theorem 3.2, `collapse` Theorem 8)
        — an upper bound, close for very narrow nets and loose from width 5 up: at 10 ReLU layers (bias-free,
        d_in = 1, inputs on both sides of 0) it is 94 % against 91 % measured at width 2, but 27 % against
        15 % at width 5 and 0.97 % against 0.17 % at width 10 (Monte Carlo, docs/theory.md). The scale of
        the law does not enter: He, Xavier and LeCun only rescale the same sign pattern, and orthogonal /
        LSUV give "very close" probabilities, a little lower (`collapse` §5.1, `dying` §4.3). The common advice "use He init" therefore does not help a deep, narrow net.
        A large positive bias lowers the probability but does not remove it (`dying` Fig. 4). RAI draws
        one entry per row of [W, b] from a positive law, so each unit is active on a positive fraction of
        inputs: the bound becomes 1 − ∏(1 − (1/2 − γ_l)^N_l) with γ_l > 0 (`dying` Theorem 4.1), and
        `dying` Fig. 4 shows 88 % → 22 % born dead for a 10-layer width-2 net (`dying` counts the output
        layer: 9 ReLU layers). Those are born-dead probabilities, which `dying` §5 reads off Fig. 4; after
        training, §5 measures more than 90 % (He) and 40 % (RAI) of its 1,000 runs collapsed (Fig. 6).
    """
    use_instead = """
        from torch import nn

        from relulint.init import apply_rai


        def Net():
            layers = [nn.Linear(1, 2), nn.ReLU()]
            for _ in range(9):
                layers += [nn.Linear(2, 2), nn.ReLU()]
            return apply_rai(nn.Sequential(*layers, nn.Linear(2, 1)))
    """
    options = (
        RuleOption(
            "p", None, "largest acceptable born-dead probability; None = the global `p` (default 1 %)"
        ),
    )
    references = (
        "Lu, Shin, Su, Karniadakis. Dying ReLU and initialization (`dying`): Thm 3.2, §4.1 (RAI), Eq. 4.2, "
        "Thm 4.1, §4.3 and Fig. 4, §5.",
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): Theorem 8, §5.1.",
    )
    INVALID = (
        Case(
            title="PyTorch's default init, width 2, ten ReLU layers",
            code="""
                from torch import nn


                def Net():
                    layers = [nn.Linear(1, 2), nn.ReLU()]  # expect: RL201
                    for _ in range(9):
                        layers += [nn.Linear(2, 2), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(2, 1))
            """,
        ),
        Case(
            title="He init applied with model.apply: the usual advice does not help",
            code="""
                from torch import nn


                def he(module):
                    if isinstance(module, nn.Linear):
                        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                        nn.init.zeros_(module.bias)


                class Net(nn.Module):
                    def __init__(self, width: int = 3, depth: int = 12):
                        super().__init__()
                        self.inp = nn.Linear(2, width)  # expect: RL201
                        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
                        self.out = nn.Linear(width, 1)
                        self.apply(he)

                    def forward(self, x):
                        x = self.inp(x).relu()
                        for layer in self.hidden:
                            x = layer(x).relu()
                        return self.out(x)
            """,
        ),
        Case(
            title="Orthogonal init (and LSUV, which only rescales it)",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(20)])  # expect: RL201
                        for layer in self.layers:
                            nn.init.orthogonal_(layer.weight)
                            nn.init.zeros_(layer.bias)
                        self.head = nn.Linear(4, 1)

                    def forward(self, x):
                        for layer in self.layers:
                            x = torch.relu(layer(x))
                        return self.head(x)
            """,
        ),
        Case(
            title="A positive constant bias lowers the risk but does not remove it",
            code="""
                from torch import nn


                def Net():
                    layers = []
                    for i in range(12):
                        layer = nn.Linear(1 if i == 0 else 2, 2)  # expect: RL201
                        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                        layer.bias.data.fill_(10.0)
                        layers += [layer, nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(2, 1))
            """,
        ),
    )
    VALID = (
        Case(  # the documented fix, tested as written
            title="The same chain initialized by RAI (RL101 may still fire; RL201 does not)",
            code=use_instead,
        ),
        Case(
            title="He init on a chain wide enough for its depth",
            code="""
                from torch import nn


                def Net(width: int = 32, depth: int = 10):
                    layers = []
                    for i in range(depth):
                        layer = nn.Linear(3 if i == 0 else width, width)
                        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                        nn.init.zeros_(layer.bias)
                        layers += [layer, nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(width, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        p = ctx.option(type(self), "p")
        p = ctx.options.p if p is None else float(p)
        for chain in facts.chains:
            if not chain.hidden:
                continue
            symmetric, rai, asymmetric = chain_inits(chain)
            if rai or asymmetric or not symmetric:
                continue  # RAI / asymmetric / unknown init: not this rule's advice (RL101 still applies)
            probability, source = risk(chain, facts, p)
            if probability <= p:
                continue
            details = self.details(chain, facts, symmetric, probability, source, p)
            if details["p_upper_rai_best"] >= details["p_upper_symmetric"]:
                continue  # one ReLU layer: RAI keeps a He first layer (dying §4.1), so it changes nothing
            yield self.finding(
                facts,
                self.message(chain, details),
                chain=chain,
                fix="initialize with relulint.init.apply_rai(model) (dying §4.1: He first layer, RAI after it)",
                details=details,
            )
        for kill_set in kill_sets(facts.chains):
            if single_chain(kill_set, facts.chains) is None:
                yield from self.path_finding(facts, kill_set, p)

    def path_finding(self, facts: ModelFacts, kill_set: KillSet, p: float) -> Iterator[Finding]:
        """The ReLU layers every path crosses, over several chains (a Tanh or a bare Linear between ReLU
        runs: `collapse` Lemma 1): RL201 speaks when each of those chains has a known symmetric init."""
        chains = kill_set.member_chains(facts.chains)
        symmetric: list[InitInfo] = []
        for chain in chains:
            known, rai, asymmetric = chain_inits(chain)
            if rai or asymmetric or not known:
                return
            symmetric += known
        probability, source = network_risk(kill_set, facts, p)
        if probability <= p:
            return
        details = self.details(chains[0], facts, symmetric, probability, source, p, widths=kill_set.widths)
        if details["p_upper_rai_best"] >= details["p_upper_symmetric"]:
            return
        names = " and ".join(f"#{c.index} ({c.shape})" for c in chains)
        subject = f"ReLU path through chains {names} ({layers(len(kill_set.widths))} that every path crosses)"
        yield self.finding(
            facts,
            self.message(chains[0], details, subject=subject),
            chain=chains[0],
            fix="initialize with relulint.init.apply_rai(model) (dying §4.1: He first layer, RAI after it)",
            details={**details, "chains": list(kill_set.chains)},
        )

    @staticmethod
    def details(
        chain: Chain,
        facts: ModelFacts,
        inits: list[InitInfo],
        probability: float,
        source: str,
        p: float,
        widths: tuple[int, ...] | None = None,
    ) -> dict:
        widths = widths or unprotected_widths(chain) or chain.hidden_widths
        laws = list(dict.fromkeys(init_label(info) for info in inits))
        compare = facts.compare_probes.get(chain.index)
        return {
            "init": laws,
            "probability": probability,
            "source": source,
            "p": p,
            "p_upper_symmetric": rai_upper_bound(widths, 0.0),
            # Thm 4.1 with every γ_l (l ≥ 2) at its largest value 1/2: only the He first layer can die
            "p_upper_rai_best": rai_upper_bound(widths, 0.5),
            "rai_measured": compare.estimate if compare is not None and compare.samples else None,
            "positive_bias": positive_biases(chain),
        }

    @staticmethod
    def message(chain: Chain, d: dict, subject: str | None = None) -> str:
        how = "probe" if d["source"] == "probe" else "dying Thm 3.2 bound"
        if d["positive_bias"] and d["source"] != "probe":
            how = "dying Thm 3.2 bound for zero bias"
        parts = [
            f"{subject or f'ReLU chain {chain.shape} ({layers(chain.depth)})'} is initialized with "
            f"{', '.join(d['init'])}, "
            f"a law symmetric about zero: it is born dead with probability {percent(d['probability'])} ({how})."
        ]
        parts.append(
            "Rescaling a symmetric law changes nothing: each layer of width N dies with probability 2^−N "
            "whatever the variance, and orthogonal/LSUV do no better (dying Thm 3.2, collapse §5.1)."
        )
        if d["positive_bias"]:
            bias = ", ".join(f"{b:g}" for b in dict.fromkeys(d["positive_bias"]))
            parts.append(
                f"The positive constant bias ({bias}) lowers this risk but does not remove it (dying Fig. 4)."
            )
        rai = (
            "RAI (relulint.init.apply_rai) lowers the bound to 1 − ∏(1 − (1/2 − γ_l)^N_l) (dying Thm 4.1), "
            f"between {percent(d['p_upper_rai_best'])} (γ_l → 1/2, what the He first layer alone "
            f"contributes to the bound) and {percent(d['p_upper_symmetric'])} (γ_l → 0) for this chain: "
            "the theorem proves γ_l > 0 but does not give it"
        )
        if d["rai_measured"] is not None:
            rai += f"; measured under RAI: {percent(d['rai_measured'])} (probe)"
        else:
            rai += (
                " (dying Fig. 4: born dead 88 % → 22 % for its 10-layer width-2 net, i.e. 9 ReLU layers; "
                "--probe --compare rai measures this chain)"
            )
        parts.append(rai + ".")
        return " ".join(parts)
