"""Verdicts: the born-dead probability relulint acts on, for one chain and for the network.

A ReLU layer dead for every input makes everything after it constant, whatever the activations between
(`collapse` Lemma 1). So the network is born dead when one of the ReLU layers that *every* path of an
input→output route crosses is dead, and `collapse` Thm 8's argument bounds that probability over exactly
those layers: each is dead with probability at most 2^−N_l given the layers before it, whatever feeds it
(a Tanh, a second Linear), so P ≤ 1 − ∏ₗ (1 − 2^−N_l). Chains (`relulint.extract`) are for reading; a
*kill set* — the ReLU layers on every path of one route, across chains — is what RL101 decides on, and
RL102 and RL301 with it (`path_risk`: the largest kill set through one chain).

The probe (`relulint.probe`) never overrules a proof with noise: it clears a chain only when its whole
95 % interval lies at or below `p`, and its estimate replaces the bound only when the interval lies
wholly above `p` (a measured risk, often above the bound for an init outside the theorem's hypothesis).
An interval that straddles `p` decides nothing: the bound stands.

The words of a chain's verdict (`VERDICTS`, from best to worst; `verdict`) and `chain_summary` — the
numbers every report format prints for one chain: the `collapse` Thm 8 bound, the `dying` Thm 3.3 lower
bound, the safe depth and width, the probe's estimate and the verdict — live here too; the renderers and
the tests read them. The chain facts they are computed from are `relulint.chain_facts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relulint.chain_facts import (
    asymmetric_init,
    bound_over,
    chain_bound,
    killing_indices,
    normalization_note,
    p_lower_bound,
    skip_note,
    unprotected_widths,
)
from relulint.records.model_facts import Chain, Layer, ModelFacts, ProbeResult

__all__ = [
    "KillSet",
    "LIKELY_DEAD",
    "VERDICTS",
    "VERDICT_AT_RISK",
    "VERDICT_LIKELY_DEAD",
    "VERDICT_NO_RELU",
    "VERDICT_OK",
    "VERDICT_PROTECTED",
    "chain_summary",
    "decide",
    "kill_sets",
    "network_risk",
    "path_risk",
    "risk",
    "verdict",
    "verdict_for",
    "loose_bound",
]


#: Verdicts, from best to worst.
VERDICT_NO_RELU = "no relu"  # the chain has no ReLU layer: nothing can die
VERDICT_PROTECTED = "protected"  # a normalization keeps a live unit before every ReLU (`collapse` §5.2)
VERDICT_OK = "ok"  # born-dead probability at most p
VERDICT_AT_RISK = "at risk"  # above p
VERDICT_LIKELY_DEAD = "likely dead"  # at least one half
VERDICTS = (VERDICT_NO_RELU, VERDICT_PROTECTED, VERDICT_OK, VERDICT_AT_RISK, VERDICT_LIKELY_DEAD)

LIKELY_DEAD = 0.5


def decide(bound: float, probe: ProbeResult | None, p: float) -> tuple[float, str]:
    """The probability to act on, from the Thm 8 `bound` and an optional probe, and its source.

    ``"probe"`` when the probe decides (its interval wholly at or below `p`: cleared; wholly above `p`:
    measured), else ``"bound"``: the proof stands.
    """
    if probe is None or not probe.samples:
        return bound, "bound"
    low, high = probe.ci
    if high <= p or low > p:
        return probe.estimate, "probe"
    return bound, "bound"


def risk(chain: Chain, facts: ModelFacts, p: float) -> tuple[float, str]:
    """The born-dead probability relulint acts on for one chain, over its `killing_layers`, and where it
    comes from: ``"skip"`` (every path can avoid the chain), ``"probe"`` or ``"bound"`` (`decide`)."""
    if chain.bypassed:
        return 0.0, "skip"  # a skip connection around the chain: the network is never constant through it
    return decide(chain_bound(chain), facts.probes.get(chain.index), p)


@dataclass(frozen=True)
class KillSet:
    """The ReLU layers on every path of one or more input→output routes (`relulint.paths`).

    Members are the layers that can die (`relulint.chain_facts.killing_layers`):
    `members` are ``(chain index, index in chain.layers)``; `layers` the same layers; `routes` the routes
    (``"x→output"``) whose paths all cross them, or ``("chain <i>",)`` for a chain the graph could not
    place (judged alone).
    """

    routes: tuple[str, ...]
    members: tuple[tuple[int, int], ...]
    layers: tuple[Layer, ...]

    @property
    def chains(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(chain for chain, _ in self.members))

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(layer.out_features for layer in self.layers)

    def member_chains(self, chains: Sequence[Chain]) -> list[Chain]:
        """The chains of `chains` that hold this kill set's layers, in forward order."""
        return [chain for chain in chains if chain.index in self.chains]

    @property
    def bound(self) -> float:
        """`collapse` Thm 8 over the layers that can die (`relulint.chain_facts.bound_over`)."""
        return bound_over(self.layers)


def kill_sets(chains: tuple[Chain, ...]) -> tuple[KillSet, ...]:
    """The network's kill sets, in forward order: one per distinct set of layers that can die on every path
    of a route; a set inside another one is left out (the larger one's probability is at least as high).

    Only layers that can die are members (a normalization that protects a layer keeps it out), so a route
    whose every crossed layer is protected, or that every chain's layers can be avoided on, has none.
    """
    by_route: dict[str, list[tuple[int, int]]] = {}
    where: dict[tuple[int, int], Layer] = {}
    for chain in chains:
        for i in killing_indices(chain):
            layer = chain.layers[i]
            where[(chain.index, i)] = layer
            routes = layer.routes if layer.routes is not None else (f"chain {chain.index}",)
            for route in routes:
                by_route.setdefault(route, []).append((chain.index, i))
    merged: dict[tuple[tuple[int, int], ...], list[str]] = {}
    for route, members in by_route.items():
        merged.setdefault(tuple(sorted(set(members))), []).append(route)
    keys = list(merged)
    kept = [m for m in keys if not any(set(m) < set(other) for other in keys)]
    kept.sort()
    return tuple(KillSet(tuple(merged[m]), m, tuple(where[x] for x in m)) for m in kept)


def single_chain(kill_set: KillSet, chains: tuple[Chain, ...]) -> Chain | None:
    """The chain whose killing layers are exactly this kill set (the usual case), else None."""
    if len(kill_set.chains) != 1:
        return None
    (chain,) = kill_set.member_chains(chains)
    ours = {(chain.index, i) for i in killing_indices(chain)}
    return chain if ours == set(kill_set.members) else None


def network_risk(kill_set: KillSet, facts: ModelFacts, p: float) -> tuple[float, str]:
    """The born-dead probability of a kill set, and its source (`decide`).

    A probe measures one chain on its own input domain, not on what the chains before it feed it, so it
    can clear only a kill set that is one chain's. Across chains the bound stands, unless a member chain's
    probe measured more than it (its interval wholly above `p`: that chain's death alone kills the network).
    """
    chain = single_chain(kill_set, facts.chains)
    if chain is not None:
        return risk(chain, facts, p)
    best = (kill_set.bound, "bound")
    for member in facts.chains:
        ours = {i for c, i in kill_set.members if c == member.index}
        if not ours or ours != set(killing_indices(member)):
            continue
        measured, source = risk(member, facts, p)
        if source == "probe" and measured > p and measured > best[0]:
            best = (measured, "probe")
    return best


def path_risk(
    chain: Chain, facts: ModelFacts, p: float, sets: tuple[KillSet, ...] | None = None
) -> tuple[float, str, KillSet | None]:
    """The born-dead probability of the network through one chain, as RL101 decides it: the largest
    `network_risk` among the kill sets with a member in this chain (a tie goes to the set that is this
    chain's alone), with its source and that kill set; ``risk(chain)`` and None for a chain in no kill set.

    A chain whose risk alone is at most `p` can still lie on a path that is above it (a Tanh or a bare
    Linear between two ReLU runs: `collapse` Lemma 1), so rules that judge a chain read this, not `risk`.
    `sets` are `kill_sets(facts.chains)` when the caller has them already.
    """
    best: tuple[float, bool, str, KillSet] | None = None
    for kill_set in kill_sets(facts.chains) if sets is None else sets:
        if chain.index not in kill_set.chains:
            continue
        probability, source = network_risk(kill_set, facts, p)
        alone = single_chain(kill_set, facts.chains) is not None
        if best is None or (probability, alone) > best[:2]:
            best = (probability, alone, source, kill_set)
    if best is None:
        return (*risk(chain, facts, p), None)
    return best[0], best[2], best[3]


def verdict(chain: Chain, risk: float, p: float, source: str = "bound") -> str:
    """The chain's verdict for a born-dead probability `risk` (from `source`, `decide`) against `p`."""
    if chain.depth == 0:
        return VERDICT_NO_RELU
    if not unprotected_widths(chain):
        return VERDICT_PROTECTED
    return verdict_for(risk, p, loose=loose_bound([chain], source))


def verdict_for(probability: float, p: float, *, loose: bool = False) -> str:
    """ "likely dead" (at least one half), "at risk" (above `p`) or "ok". A `loose` probability (`loose_bound`)
    says at most "at risk": it is only an upper bound, lowered by an unknown amount."""
    if probability >= LIKELY_DEAD and not loose:
        return VERDICT_LIKELY_DEAD
    if probability > p:
        return VERDICT_AT_RISK
    return VERDICT_OK


def loose_bound(chains: list[Chain], source: str) -> bool:
    """Is the probability the symmetric `collapse` Thm 8 bound of chains of which one has an asymmetric
    init (RAI: `asymmetric_init`)? It still bounds the risk from above (`dying` Thm 4.1 with γ_l = 0), but
    RAI exists to lower it (`dying` Fig. 4: 88 % → 22 %), so it cannot say "likely dead"; a probe can."""
    return source == "bound" and any(asymmetric_init(chain) for chain in chains)


def chain_summary(chain: Chain, p: float, probe: ProbeResult | None = None) -> dict[str, Any]:
    """The theory's numbers for one chain (json-ready; every count is ReLU layers).

    Keys: `index`, `shape`, `hidden_widths`, `depth`, `input_dim`, `output_dim`, `end`, `path`, `line`,
    `p_upper_all` (`collapse` Thm 8 over all hidden widths; `p_upper` is the same value, its older name),
    `p_upper_unprotected` (the same over the layers that can kill the network, `killing_layers`: not
    protected by a normalization, on every input→output path; what RL101 acts on), `p_lower` (`dying`
    Thm 3.3; null unless the width is uniform, d_in = 1, biases zero and weights i.i.d. symmetric), `p_probe` (the Monte-Carlo estimate; null
    without a probe), `safe_depth` (most ReLU layers at the narrowest unprotected width with P ≤ p,
    `collapse` Eq. 5; 10**18 means unbounded), `min_width` (narrowest uniform width with P ≤ p for the
    unprotected layers; both null when no layer can kill the network), `verdict` (one of `VERDICTS`; a
    probe decides it only when its interval lies wholly on one side of p, `relulint.verdict.decide`),
    `normalization` (why normalized layers do or do not count, `normalization_note`; null without norms).
    """
    from relulint.theory.collapse import max_safe_depth, min_safe_width, p_born_dead_upper

    widths = chain.hidden_widths
    unprotected = unprotected_widths(chain)
    p_upper = p_born_dead_upper(widths)
    p_acting = chain_bound(chain)
    p_probe = probe.estimate if probe is not None and probe.samples else None
    risk, source = decide(p_acting, probe, p)
    return {
        "index": chain.index,
        "shape": chain.shape,
        "hidden_widths": list(widths),
        "depth": chain.depth,
        "input_dim": chain.input_dim,
        "output_dim": chain.output_dim,
        "end": chain.end,
        "path": chain.location.path if chain.location else None,
        "line": chain.location.line if chain.location else None,
        "p_upper": p_upper,
        "p_upper_all": p_upper,
        "p_upper_unprotected": p_acting,
        "p_lower": p_lower_bound(chain) if len(unprotected) == len(widths) else None,
        "p_probe": p_probe,
        # both over the layers that can die (the unprotected ones), as RL101 reports them
        "safe_depth": max_safe_depth(min(unprotected), p) if unprotected else None,
        "min_width": min_safe_width(len(unprotected), p) if unprotected else None,
        "verdict": verdict(chain, risk, p, source),
        "normalization": normalization_note(chain),
        "skip": skip_note(chain),
    }
