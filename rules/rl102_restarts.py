"""RL102 restarts-needed (info): how many independent initializations a chain or path at risk needs.

Theory: `nonconvergence` (Cheridito, Jentzen, Rossmannek) Definition 3.1 (inactive region: every weight and
bias of one hidden layer after the first negative), Lemma 3.4 (SGD never leaves it), Lemma 4.1 (the
probability of starting there, Eq. 4.2; n independent restarts all start there with P^n, Eq. 4.1/4.3) and
Proposition 4.2 (the expected loss is then bounded below).

Decided on paths, as RL101 decides (`relulint.verdict.kill_sets`): one finding per kill set above `p`, at
RL101's place. Across chains the inactive region is Lemma 4.1 over the path's layers whose input is a ReLU
output (`stuck_candidates`): 1 − ∏(1 − P_l), independent inits; a chain's first layer is left out, like
Def. 3.1's first hidden layer (after a Tanh or a bare Linear its input can be negative).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from relulint.chain_facts import killing_indices
from relulint.formatting import layers, percent
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.nonconvergence import p_inactive_region, restarts_needed
from relulint.verdict import KillSet, kill_sets, network_risk, risk, single_chain

CONFIDENCE = 0.99


def _phi(z: float) -> float:
    """Standard normal CDF Φ(z)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _entry_std(info: InitInfo, fan_in: int | None, kind: str) -> float | None:
    """The entries' standard deviation: the recorded `std`, else from σ² (fan_in·Var for a weight)."""
    std = _number(info.args.get("std"))
    if std is not None:
        return abs(std)
    if info.sigma2 is None:
        return None
    scale = fan_in if kind == "weight" and fan_in else 1
    return math.sqrt(max(info.sigma2, 0.0) / scale)


def negative_law(
    info: InitInfo | None, fan_in: int | None = None, kind: str = "weight"
) -> tuple[float, str | None]:
    """P(one entry < 0) under a recorded init, and why it had to be assumed (None: it follows from the law).

    `nonconvergence` Def. 3.1 counts *strictly* negative parameters (θ_k < 0, an open set, which is what
    Lemma 3.4's argument needs), so an entry that is exactly 0 is not negative: `zeros` gives 0 and so does
    a constant c ≥ 0 (a constant c < 0 gives 1).  Lemma 4.1 needs independent entries and P(θ < 0) for
    each; from the recorded law:

    * a law symmetric about zero and continuous (PyTorch's default, Kaiming, Xavier, `normal(0, σ)`,
      `uniform(−a, a)`, ...): 1/2;
    * `normal(mean, std)`: Φ(−mean/std) (std = 0: the constant `mean`);
    * `uniform(a, b)`: the fraction (0 − a)/(b − a) of [a, b] below 0, clipped to [0, 1];
    * `trunc_normal(mean, std, a, b)`: (Φ((min(b, 0) − mean)/std) − Φ((a − mean)/std)) / (Φ((b − mean)/std)
      − Φ((a − mean)/std)), 0 when a ≥ 0;
    * RAI (a positive entry in every row), `eye_` / `dirac_` (entries ≥ 0), `sparse_` (zeros in every
      column): 0 — no layer can be all negative;
    * anything else (a custom or unknown law, no record): 1/2 *assumed*, and the reason is returned.
    """
    if info is None:
        return 0.5, "no record of its init"
    law = info.law
    if law in ("zeros", "rai", "identity", "sparse"):
        return 0.0, None
    if law == "constant":
        value = info.mean if info.mean is not None else _number(info.args.get("val", info.args.get("value")))
        if value is None:
            return 0.5, "a constant of unknown value"
        return (1.0 if value < 0 else 0.0), None
    if info.symmetric:
        return 0.5, None
    if law in ("normal", "trunc-normal"):
        mean = _number(info.args.get("mean"))
        mean = info.mean if mean is None and law == "normal" else mean
        std = _entry_std(info, fan_in, kind)
        if mean is None or std is None:
            return 0.5, f"{law} with unknown mean / std"
        if std == 0:
            return (1.0 if mean < 0 else 0.0), None
        if law == "normal":
            return _phi(-mean / std), None
        a, b = _number(info.args.get("a", -2.0)), _number(info.args.get("b", 2.0))
        if a is None or b is None or not a < b:
            return 0.5, "trunc-normal with unknown bounds"
        if a >= 0:
            return 0.0, None
        lo, hi = _phi((a - mean) / std), _phi((b - mean) / std)
        if hi - lo <= 0:
            return 0.5, "trunc-normal with no mass inside its bounds"
        return min(1.0, max(0.0, (_phi((min(b, 0.0) - mean) / std) - lo) / (hi - lo))), None
    if law == "uniform":
        a, b = (
            _number(info.args.get("a", info.args.get("from"))),
            _number(info.args.get("b", info.args.get("to"))),
        )
        if (a is None or b is None) and info.mean is not None:
            std = _entry_std(info, fan_in, kind)
            if std is not None:
                a, b = info.mean - math.sqrt(3.0) * std, info.mean + math.sqrt(3.0) * std
        if a is None or b is None:
            return 0.5, "uniform with unknown bounds"
        if not a < b:
            return (1.0 if a < 0 else 0.0), None  # a point mass at a
        return min(1.0, max(0.0, -a / (b - a))), None
    if info.symmetric is None:
        return 0.5, f"an init relulint could not identify ({law})"
    return 0.5, f"law {law!r} ({'not ' if info.symmetric is False else ''}symmetric)"


def p_negative(info: InitInfo | None, fan_in: int | None = None, kind: str = "weight") -> tuple[float, bool]:
    """P(one entry < 0) under a recorded init, and whether it was assumed (see :func:`negative_law`)."""
    probability, why = negative_law(info, fan_in, kind)
    return probability, why is not None


def _all_negative_impossible(info: InitInfo | None, layer: Layer) -> bool:
    """Orthogonal rows (or columns) of length ≥ 2 cannot all be negative: two all-negative vectors have a
    positive dot product.  (The entries are dependent, so Lemma 4.1's product does not apply; it is 0.)"""
    return info is not None and info.law == "orthogonal" and min(layer.in_features, layer.out_features) >= 2


def layer_all_negative_why(layer: Layer) -> tuple[float, list[str]]:
    """P(every weight and bias of the layer is negative) and, per parameter, why its law was assumed. A sum
    of layers (`Layer.summed_with`) is inactive when every part is: the product over the independent parts."""
    probability, assumed = _one_layer_all_negative(layer)
    for part in layer.summed_with:
        p_part, why = _one_layer_all_negative(part)
        probability, assumed = probability * p_part, assumed + why
    return probability, assumed


def _one_layer_all_negative(layer: Layer) -> tuple[float, list[str]]:
    assumed: list[str] = []
    name = layer.module or "(functional layer)"
    if _all_negative_impossible(layer.weight_init, layer):
        return 0.0, assumed
    pw, why = negative_law(layer.weight_init, layer.in_features, "weight")
    if why:
        assumed.append(f"{name}.weight ({why})")
    n_weights = layer.in_features * layer.out_features
    log_p = n_weights * math.log(pw) if pw > 0 else -math.inf
    if layer.bias:
        pb, why = negative_law(layer.bias_init, layer.in_features, "bias")
        if why:
            assumed.append(f"{name}.bias ({why})")
        log_p += layer.out_features * math.log(pb) if pb > 0 else -math.inf
    return (math.exp(log_p) if log_p > -math.inf else 0.0), assumed


def p_stuck(chain: Chain) -> tuple[float, bool]:
    """`nonconvergence` Lemma 4.1 for the chain's recorded init: P(some hidden layer after the first is inactive).

    Def. 3.1 ranges over hidden layers j = 2..D−1 (the ReLU layers after the first; the first one's input
    can be negative); only layers whose death makes the network constant count (`stuck_layers`).  Returns
    the probability and whether an init law had to be assumed.
    """
    probability, assumed, _count = p_stuck_why(chain)
    return probability, bool(assumed)


def p_stuck_why(chain: Chain) -> tuple[float, list[str], int]:
    """:func:`p_stuck` with the parameters whose P(entry < 0) = 1/2 was assumed, and why, and the layer count."""
    return _lemma_4_1(stuck_layers([(chain, i) for i in killing_indices(chain)]))


def stuck_candidates(kill_set: KillSet, chains: tuple[Chain, ...]) -> list[Layer]:
    """`stuck_layers` of a kill set (its members across chains)."""
    by_index = {chain.index: chain for chain in chains}
    return stuck_layers([(by_index[c], i) for c, i in kill_set.members])


def stuck_layers(members: list[tuple[Chain, int]]) -> list[Layer]:
    """The layers (``(chain, index in chain.layers)``, each one whose death makes the network constant) that
    Def. 3.1's argument covers: those whose input is a ReLU output (≥ 0).

    `nonconvergence` Def. 3.1 leaves out the first hidden layer because its input can be negative; the
    same holds for the first ReLU layer of every chain (its input is the network's input, a Tanh's or a
    bare Linear's output) and for a layer after a normalization that follows the ReLU. The others, all
    weights and biases negative, output 0 for every input and stay there (Lemma 3.4); a layer that every
    path crosses, that makes the network constant. Layers a norm protects or a skip bypasses never come in
    (`relulint.chain_facts.killing_indices`).
    """
    found = []
    for chain, i in members:
        before = chain.layers[i - 1] if i > 0 else None
        if before is not None and before.activation == "relu" and before.norm_after is None:
            found.append(chain.layers[i])
    return found


def p_stuck_path(kill_set: KillSet, chains: tuple[Chain, ...]) -> tuple[float, list[str], int]:
    """`nonconvergence` Lemma 4.1 over a kill set across chains: P(some layer of `stuck_candidates` is
    inactive) = 1 − ∏(1 − P_l) for independently initialized layers, P_l = P(all its weights and biases
    < 0) (`layer_all_negative_why`). Returns it, the parameters whose law was assumed, and the layer count."""
    return _lemma_4_1(stuck_candidates(kill_set, chains))


def _lemma_4_1(candidates: list[Layer]) -> tuple[float, list[str], int]:
    """1 − ∏(1 − P_l) over ``candidates``, the parameters whose law was assumed, and how many layers."""
    if not candidates:
        return 0.0, [], 0
    per_layer = [layer_all_negative_why(layer) for layer in candidates]
    probability = p_inactive_region([1] * len(per_layer), [q for q, _ in per_layer])
    return probability, [why for _, whys in per_layer for why in whys], len(candidates)


def restart_details(
    probability: float, source: str, n: int | None, stuck: float, assumed: list[str]
) -> dict[str, object]:
    """The json details every RL102 finding carries: the born-dead probability and its source, the restarts
    for `CONFIDENCE` (Eq. 4.3), the inactive-region probability and the restarts it alone would need."""
    return {
        "p_born_dead": probability,
        "source": source,
        "restarts": n,
        "confidence": CONFIDENCE,
        "p_stuck": stuck,
        "restarts_stuck_only": restarts_needed(stuck, CONFIDENCE),
        "init_assumed": bool(assumed),
        "assumed": assumed,
    }


def probability_text(p: float) -> str:
    """`percent`, but an exact 0 reads "0" (not "0.0e+00") and an exact 1 reads "1"."""
    if p <= 0.0:
        return "0"
    if p >= 1.0:
        return "1"
    return percent(p)


class RestartsNeeded(Rule):
    code = "RL102"
    name = "restarts-needed"
    severity = Severity.INFO
    groups = ("architecture",)
    summary = (
        "How many independent initializations a ReLU chain or path at risk needs for a 99 % chance of one "
        "live net."
    )
    what = """
        For every ReLU chain or path at risk (born-dead probability above `p`, decided as RL101 decides it:
        over the ReLU layers that every input→output path crosses, so a Tanh or a bare Linear that splits a
        deep, narrow ReLU stack into two chains does not split the risk), reports two numbers, once per
        path, where RL101 reports it. The probability that the recorded initialization starts in the
        *provably stuck* region of `nonconvergence` Definition 3.1 — every weight and bias of some hidden
        layer whose input is a ReLU output is negative (the first layer of a chain is left out, as Def. 3.1
        leaves out the first hidden layer: its input can be negative) — from Lemma 4.1 (Eq. 4.2),
        1 − ∏(1 − P_l) over those layers of the path, with the per-entry probability of a negative value
        taken from the recorded law (1/2 for symmetric laws; Φ(−mean/std) for `normal(mean, std)`; the
        share of [a, b] below 0 for `uniform(a, b)`; 1 for a negative constant and 0 for zeros — Def. 3.1
        counts strictly negative parameters — a non-negative constant, RAI or an orthogonal matrix; 1/2
        *assumed*, and said so in the message, for a law relulint does not know). And the number n of
        independent initializations needed for a 99 % chance that at least one run is not born dead:
        n independent restarts all fail with probability Pⁿ (Lemma 4.1, Eq. 4.1/4.3), so n = ⌈ln 0.01 / ln P⌉,
        with P the born-dead probability (the `collapse` Theorem 8 bound over the path, or the probe's
        estimate when `--probe` ran; a bound gives an upper bound on n).
    """
    why = """
        A network that starts in the inactive region can never leave it: the layer outputs zero for every
        input, its gradient is zero, and stochastic gradient descent leaves its parameters where they are
        (`nonconvergence` Lemma 3.4). The chance of starting there is Lemma 4.1's product; since it is
        positive for every initialization with i.i.d. symmetric parameters, a deep, narrow net has a fixed
        probability of failing however long it trains (Proposition 4.2 bounds the expected loss from below
        by it), and only restarts help (Lemma 4.1, Eq. 4.3: all n fail with Pⁿ). One inactive layer on
        every path is enough, whatever sits between it and the output (`collapse` Lemma 1), so restarts must
        beat the whole path, not each chain of it: with independent layers some layer of the path is
        inactive with probability 1 − ∏(1 − P_l) over all of them (Lemma 4.1). Knowing n
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
        Case(
            title="A Tanh splits 8 ReLU layers of width 9 into two chains (0.78 % each): the path is 1.6 %",
            code="""
                from torch import nn


                def Net(width: int = 9):
                    first = [nn.Linear(1, width), nn.ReLU()]  # expect: RL102
                    first += [m for _ in range(3) for m in (nn.Linear(width, width), nn.ReLU())]
                    second = [m for _ in range(4) for m in (nn.Linear(width, width), nn.ReLU())]
                    return nn.Sequential(*first, nn.Linear(width, width), nn.Tanh(), *second, nn.Linear(width, 1))
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
        Case(
            title="The same Tanh split one unit wider: 8 ReLU layers of width 10 on the path, 0.78 %",
            code="""
                from torch import nn


                def Net(width: int = 10):
                    first = [nn.Linear(1, width), nn.ReLU()]
                    first += [m for _ in range(3) for m in (nn.Linear(width, width), nn.ReLU())]
                    second = [m for _ in range(4) for m in (nn.Linear(width, width), nn.ReLU())]
                    return nn.Sequential(*first, nn.Linear(width, width), nn.Tanh(), *second, nn.Linear(width, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        """One finding per kill set above `p`, as RL101 decides (`relulint.verdict.kill_sets`: the ReLU
        layers on every path of an input→output route): told as its chain when it is one chain's, as a path
        across chains otherwise, anchored where RL101 anchors it (the path's first chain)."""
        p = ctx.option(type(self), "p")
        for kill_set in kill_sets(facts.chains):
            alone = single_chain(kill_set, facts.chains)
            if alone is None:
                yield from self.path_finding(facts, kill_set, p)
            else:
                yield from self.chain_finding(facts, alone, p)

    def chain_finding(self, facts: ModelFacts, chain: Chain, p: float) -> Iterator[Finding]:
        """A kill set that is one chain's layers (the usual case): the chain's risk and Lemma 4.1 over its
        killing layers whose input is a ReLU output (`p_stuck_why`)."""
        probability, source = risk(chain, facts, p)
        if probability <= p:
            return
        stuck, assumed, _count = p_stuck_why(chain)
        n = restarts_needed(min(max(probability, 0.0), 1.0), CONFIDENCE)
        yield self.finding(
            facts,
            self.message(chain, probability, source, stuck, n, assumed),
            chain=chain,
            details=restart_details(probability, source, n, stuck, assumed),
        )

    def path_finding(self, facts: ModelFacts, kill_set: KillSet, p: float) -> Iterator[Finding]:
        """The ReLU layers on every path across several chains (a Tanh or a bare Linear between ReLU runs):
        the path's born-dead probability (`network_risk`, RL101's) sets the restarts, and the inactive
        region is Lemma 4.1 over the path's layers whose input is a ReLU output (`p_stuck_path`)."""
        probability, source = network_risk(kill_set, facts, p)
        if probability <= p:
            return
        chains = kill_set.member_chains(facts.chains)
        stuck, assumed, count = p_stuck_path(kill_set, facts.chains)
        n = restarts_needed(min(max(probability, 0.0), 1.0), CONFIDENCE)
        yield self.finding(
            facts,
            path_message(chains, kill_set, probability, source, stuck, count, n, assumed),
            chain=chains[0],
            details={
                **restart_details(probability, source, n, stuck, assumed),
                "chains": list(kill_set.chains),
                "routes": list(kill_set.routes),
                "hidden_widths": list(kill_set.widths),
                "stuck_layers": count,
            },
        )

    @staticmethod
    def message(
        chain: Chain,
        probability: float,
        source: str,
        stuck: float,
        n: int | None,
        assumed: list[str] | None = None,
    ) -> str:
        where = "probe" if source == "probe" else "collapse Thm 8 bound"
        amount = percent(probability) if source == "probe" else f"up to {percent(probability)}"
        text = (
            f"ReLU chain {chain.shape}: born dead with probability {amount} ({where}); "
            f"{restarts_text(n, source)}. With the recorded init it {start_text(stuck)} in the region SGD "
            f"provably never leaves (every weight and bias of a hidden layer negative: nonconvergence Def 3.1, "
            f"Lemma 3.4, Lemma 4.1)"
        )
        return text + assumed_text(assumed) + "."


def restarts_text(n: int | None, source: str) -> str:
    """How many independent initializations give a 99 % chance of one that is not born dead."""
    if n is None:
        return "no number of restarts helps: every initialization is born dead"
    at_most = "at most " if source == "bound" else ""
    return (
        f"{at_most}{n} independent initialization{'s' if n != 1 else ''} give a 99 % chance that at least "
        f"one is not born dead (nonconvergence Lemma 4.1, Eq 4.3: all n fail with P^n)"
    )


def start_text(stuck: float) -> str:
    return (
        "cannot start (probability 0)"
        if stuck <= 0.0
        else f"starts with probability {probability_text(stuck)}"
    )


def assumed_text(assumed: list[str] | None) -> str:
    if not assumed:
        return ""
    shown = ", ".join(assumed[:3]) + (f" and {len(assumed) - 3} more" if len(assumed) > 3 else "")
    return f"; P(entry < 0) = 1/2 assumed for {shown}"


def path_message(
    chains: list[Chain],
    kill_set: KillSet,
    probability: float,
    source: str,
    stuck: float,
    count: int,
    n: int | None,
    assumed: list[str] | None = None,
) -> str:
    """RL102's message for the ReLU layers every path crosses, spread over several chains."""
    names = " and ".join(f"#{c.index} ({c.shape})" for c in chains)
    routes = ", ".join(kill_set.routes)
    if source == "probe":
        where = "probe, on one of its chains alone"
        amount = percent(probability)
    else:
        where = (
            "collapse Thm 8 bound over the path: one dead layer makes everything after it constant, "
            "collapse Lemma 1"
        )
        amount = f"up to {percent(probability)}"
    text = (
        f"ReLU path through chains {names} ({layers(len(kill_set.widths))} that every path of "
        f"{'route' if len(kill_set.routes) == 1 else 'routes'} {routes} crosses): born dead with probability "
        f"{amount} ({where}); {restarts_text(n, source)}. With the recorded init it {start_text(stuck)} in "
        f"the region SGD provably never leaves (every weight and bias of one of its {layers(count)} whose "
        "input is a ReLU output negative, 1 − ∏(1 − P_l) over them: nonconvergence Def 3.1, Lemma 3.4, "
        "Lemma 4.1)"
    )
    return text + assumed_text(assumed) + "."
