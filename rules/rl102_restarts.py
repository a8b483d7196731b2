"""RL102 restarts-needed (info): how many independent initializations a chain at risk needs.

Theory: `nonconvergence` (Cheridito, Jentzen, Rossmannek) Definition 3.1 (inactive region: every weight and
bias of one hidden layer after the first negative), Lemma 3.4 (SGD never leaves it), Lemma 4.1 (the
probability of starting there, Eq. 4.2) and Proposition 4.2 (n independent restarts all fail with P^n).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from relulint.rules.rl101_born_dead import percent, risk

from relulint.facts import Chain, Finding, InitInfo, Layer, ModelFacts, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.nonconvergence import p_inactive_region, restarts_needed

CONFIDENCE = 0.99


def p_negative(info: InitInfo | None) -> tuple[float, bool]:
    """P(one entry < 0) under a recorded init, and whether it is assumed (unknown law → 1/2).

    A symmetric continuous law gives 1/2 (`nonconvergence` Lemma 4.1 uses i.i.d. symmetric entries); zeros
    and non-negative constants give 0 (no layer is then entirely negative); a negative constant gives 1;
    RAI puts one positive entry in every row, so its layers are never entirely negative (0).
    """
    if info is None:
        return 0.5, True
    if info.law in ("zeros", "rai"):
        return 0.0, False
    if info.law == "constant":
        value = info.mean if info.mean is not None else info.args.get("val", 0.0)
        return (1.0 if float(value) < 0 else 0.0), False
    if info.symmetric:
        return 0.5, False
    return 0.5, True


def layer_all_negative(layer: Layer) -> tuple[float, bool]:
    """P(every weight and bias of the layer is negative), `nonconvergence` Lemma 4.1, and whether assumed."""
    pw, assumed_w = p_negative(layer.weight_init)
    n_weights = layer.in_features * layer.out_features
    log_p = n_weights * math.log(pw) if pw > 0 else -math.inf
    assumed = assumed_w
    if layer.bias:
        pb, assumed_b = p_negative(layer.bias_init)
        log_p += layer.out_features * math.log(pb) if pb > 0 else -math.inf
        assumed = assumed or assumed_b
    return (math.exp(log_p) if log_p > -math.inf else 0.0), assumed


def p_stuck(chain: Chain) -> tuple[float, bool]:
    """`nonconvergence` Lemma 4.1 for the chain's recorded init: P(some hidden layer after the first is inactive).

    Def. 3.1 ranges over hidden layers j = 2..D−1 (the ReLU layers after the first; the first one's input
    can be negative).  Returns the probability and whether an init law had to be assumed.
    """
    layers = chain.hidden[1:]
    if not layers:
        return 0.0, False
    per_layer = [layer_all_negative(layer) for layer in layers]
    probability = p_inactive_region([1] * len(per_layer), [q for q, _ in per_layer])
    return probability, any(assumed for _, assumed in per_layer)


class RestartsNeeded(Rule):
    code = "RL102"
    name = "restarts-needed"
    severity = Severity.INFO
    groups = ("architecture",)
    summary = (
        "How many independent initializations a ReLU chain at risk needs for a 99 % chance of one live net."
    )
    what = """
        For every ReLU chain at risk (born-dead probability above `p`, as RL101 computes it), reports two
        numbers. The probability that the recorded initialization starts in the *provably stuck* region of
        `nonconvergence` Definition 3.1 — every weight and bias of some hidden layer after the first is
        negative — from Lemma 4.1 (Eq. 4.2), with the per-entry probability of a negative value taken from
        the recorded init (1/2 for symmetric laws, 0 for zero biases or RAI). And the number n of
        independent initializations needed for a 99 % chance that at least one run is not born dead:
        n independent restarts all fail with probability Pⁿ (Proposition 4.2), so n = ⌈ln 0.01 / ln P⌉,
        with P the born-dead probability (the `collapse` Theorem 8 bound, or the probe's estimate when
        `--probe` ran; a bound gives an upper bound on n).
    """
    why = """
        A network that starts in the inactive region can never leave it: the layer outputs zero for every
        input, its gradient is zero, and stochastic gradient descent leaves its parameters where they are
        (`nonconvergence` Lemma 3.4). The chance of starting there is Lemma 4.1's product; since it is
        positive for every initialization with i.i.d. symmetric parameters, a deep, narrow net has a fixed
        probability of failing however long it trains, and only restarts help (Proposition 4.2). Knowing n
        turns "sometimes it doesn't train" into a budget — or into the argument for fixing the
        architecture (RL101) instead.
    """
    options = (RuleOption("p", 0.01, "the born-dead probability above which a chain is at risk"),)
    references = (
        "Cheridito, Jentzen, Rossmannek. Non-convergence of stochastic gradient descent in the training of deep "
        "neural networks (`nonconvergence`): Definition 3.1, Lemma 3.4, Lemma 4.1, Proposition 4.2.",
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): Theorem 8.",
    )
    INVALID = (
        Case(
            title="nn.Sequential, width 2, ten ReLU layers",
            code="""
                from torch import nn


                def Net():
                    layers = [nn.Linear(1, 2), nn.ReLU()]  # expect: RL102
                    for _ in range(9):
                        layers += [nn.Linear(2, 2), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(2, 1))
            """,
        ),
    )
    VALID = (
        Case(
            title="Wide enough for its depth",
            code="""
                from torch import nn


                def Net(width: int = 32, depth: int = 10):
                    layers = [nn.Linear(1, width), nn.ReLU()]
                    for _ in range(depth - 1):
                        layers += [nn.Linear(width, width), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(width, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        p = ctx.option(type(self), "p")
        for chain in facts.chains:
            probability, source = risk(chain, facts)
            if probability <= p:
                continue
            stuck, assumed = p_stuck(chain)
            n = restarts_needed(min(max(probability, 0.0), 1.0), CONFIDENCE)
            n_stuck = restarts_needed(stuck, CONFIDENCE)
            yield self.finding(
                facts,
                self.message(chain, probability, source, stuck, n),
                chain=chain,
                details={
                    "p_born_dead": probability,
                    "source": source,
                    "restarts": n,
                    "confidence": CONFIDENCE,
                    "p_stuck": stuck,
                    "restarts_stuck_only": n_stuck,
                    "init_assumed": assumed,
                },
            )

    @staticmethod
    def message(chain: Chain, probability: float, source: str, stuck: float, n: int | None) -> str:
        where = "probe" if source == "probe" else "collapse Thm 8 bound"
        if n is None:
            restarts = "no number of restarts helps: every initialization is born dead"
        else:
            at_most = "at most " if source == "bound" else ""
            restarts = (
                f"{at_most}{n} independent initialization{'s' if n != 1 else ''} give a 99 % chance that at least "
                f"one is not born dead (nonconvergence Prop 4.2: all n fail with P^n)"
            )
        return (
            f"ReLU chain {chain.shape}: born dead with probability {percent(probability)} ({where}); {restarts}. "
            f"With the recorded init it starts with probability {percent(stuck)} in the region SGD provably "
            f"never leaves (every weight and bias of a hidden layer negative: nonconvergence Def 3.1, "
            f"Lemma 3.4, Lemma 4.1)."
        )
