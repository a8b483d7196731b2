"""Degenerate parametrizations of trained ReLU layers, read from the weights (`degenerate` §2-3).

For hidden unit j of a layer, its *incoming* vector is a_j = (W[j, :], b[j]) — the bias appended, as
`degenerate` §1 augments the input to (x, 1) — and its *outgoing* vector c_j = W_next[:, j]. The checks:

- zero-in / zero-out: a_j = 0 (the unit outputs ReLU(0) = 0 on every input) or c_j = 0 (nothing reads it);
- redundant (Example 2.3): a_j = λ a_k with λ > 0 (cos > 1 − COS_EPS): c_j ReLU(a_j·x) + c_k ReLU(a_k·x)
  = (λ c_j + c_k) ReLU(a_k·x), one unit (`merge_redundant` performs it);
- opposite (Examples 2.4-2.5): a_j = −λ a_k with outgoing weights of opposite sign: ReLU(z) − ReLU(−z) = z,
  so the pair is (with matching magnitudes, exactly) a linear function;
- unbalanced (Example 2.2, Def 3.2's balanced parametrization ‖a_j‖ = ‖c_j‖): ‖a_j‖ / ‖c_j‖ beyond a factor;
  a_j·s, c_j/s with s = √(‖c_j‖/‖a_j‖) balances it without changing the function (`balance`).

The rewrites (merge, balance) keep the function exactly at any depth (ReLU is positively homogeneous),
but `degenerate`'s results about them (Thm 3.1, Cor 3.3: inverse stability) are for two-layer networks:
for a chain with one hidden layer the checks are exact, deeper they are heuristics.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from relulint.audit.records import Degeneracy
from relulint.records.model_facts import Chain

COS_EPS = 1e-6  # cos > 1 − COS_EPS: positively parallel (the threshold for "they merge")
DEFAULT_UNBALANCE = 100.0  # ‖a_j‖ / ‖c_j‖ above this factor, or below its inverse: unbalanced
MAX_PAIRS = 20  # pairs reported per layer and kind


def _weights(model: nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    if not name:
        return None
    try:
        module = model.get_submodule(name)
    except AttributeError:
        return None
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None
    bias = getattr(module, "bias", None)
    return weight.detach().to(torch.float64), bias.detach().to(torch.float64) if isinstance(
        bias, torch.Tensor
    ) else None


def layer_vectors(model: nn.Module, chain: Chain, i: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(incoming a: width × (in+1), outgoing c: width × out) of hidden layer i, or None when not a plain
    Linear → ReLU → Linear (a norm in between changes what a rescaling does)."""
    layer = chain.layers[i]
    if i + 1 >= len(chain.layers) or layer.norm or layer.norm_after:
        return None
    here, after = _weights(model, layer.module), _weights(model, chain.layers[i + 1].module)
    if here is None or after is None:
        return None
    weight, bias = here
    bias = bias if bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64)
    incoming = torch.cat([weight, bias.reshape(-1, 1)], dim=1)
    outgoing = after[0].T  # width × out
    if outgoing.shape[0] != incoming.shape[0]:
        return None
    return incoming, outgoing


def layer_degeneracies(
    chain: Chain, i: int, incoming: torch.Tensor, outgoing: torch.Tensor, factor: float = DEFAULT_UNBALANCE
) -> list[Degeneracy]:
    """Every degenerate unit and pair of hidden layer i (see the module docstring)."""
    module = chain.layers[i].module
    found: list[Degeneracy] = []

    def add(
        kind: str, units: tuple[int, ...], value: float | None = None, scale: float | None = None
    ) -> None:
        found.append(Degeneracy(chain.index, i, module, kind, units, value, scale))

    n_in, n_out = incoming.norm(dim=1), outgoing.norm(dim=1)
    zero_in = n_in == 0
    zero_out = n_out == 0
    if zero_in.any():
        add("zero-in", tuple(int(j) for j in torch.nonzero(zero_in).flatten()))
    if zero_out.any():
        add("zero-out", tuple(int(j) for j in torch.nonzero(zero_out).flatten()))
    live = torch.nonzero(~zero_in).flatten()
    if len(live) >= 2:
        unit = incoming[live] / n_in[live].reshape(-1, 1)
        cos = unit @ unit.T
        upper = torch.triu(torch.ones_like(cos, dtype=torch.bool), diagonal=1)
        for kind, mask in (("redundant", cos > 1 - COS_EPS), ("opposite", cos < -(1 - COS_EPS))):
            pairs = torch.nonzero(mask & upper)
            shown = 0
            for a, b in pairs.tolist():
                j, k = int(live[a]), int(live[b])
                if kind == "opposite" and float(outgoing[j] @ outgoing[k]) >= 0:
                    continue  # anti-parallel but read the same way: not a linear pair
                if shown < MAX_PAIRS:
                    add(kind, (j, k), float(cos[a, b]))
                shown += 1
    for j in range(incoming.shape[0]):
        if zero_in[j] or zero_out[j]:
            continue
        ratio = float(n_in[j] / n_out[j])
        if ratio > factor or ratio < 1.0 / factor:
            add("unbalanced", (j,), ratio, math.sqrt(float(n_out[j] / n_in[j])))
    return found


def degeneracies(
    model: nn.Module, chains: tuple[Chain, ...], factor: float = DEFAULT_UNBALANCE
) -> tuple[Degeneracy, ...]:
    """`layer_degeneracies` of every hidden layer of every chain that is a plain Linear → ReLU → Linear."""
    found: list[Degeneracy] = []
    for chain in chains:
        for i in range(chain.depth):
            vectors = layer_vectors(model, chain, i)
            if vectors is not None:
                found += layer_degeneracies(chain, i, *vectors, factor=factor)
    return tuple(found)


# ------------------------------------------------------------------- the function-preserving rewrites


def balance(first: nn.Linear, second: nn.Linear, unit: int) -> float:
    """Rescale unit's incoming weights and bias by s and its outgoing weights by 1/s so that both norms
    equal √(‖a‖‖c‖) (`degenerate` Def 3.2); the function is unchanged (positive homogeneity). Returns s."""
    with torch.no_grad():
        a = (
            torch.cat([first.weight[unit], first.bias[unit : unit + 1]]).norm()
            if first.bias is not None
            else first.weight[unit].norm()
        )
        c = second.weight[:, unit].norm()
        s = float(torch.sqrt(c / a))
        first.weight[unit] *= s
        if first.bias is not None:
            first.bias[unit] *= s
        second.weight[:, unit] /= s
    return s


def merge_redundant(first: nn.Linear, second: nn.Linear, keep: int, drop: int) -> float:
    """Fold unit `drop` into `keep` when a_drop = λ a_keep, λ > 0 (`degenerate` Example 2.3, Eq. 35):
    c_keep += λ c_drop, then unit `drop` is zeroed. Returns λ."""
    with torch.no_grad():
        a_keep = torch.cat([first.weight[keep], first.bias[keep : keep + 1]])
        a_drop = torch.cat([first.weight[drop], first.bias[drop : drop + 1]])
        lam = float(a_drop.norm() / a_keep.norm())
        second.weight[:, keep] += lam * second.weight[:, drop]
        second.weight[:, drop] = 0
        first.weight[drop] = 0
        first.bias[drop] = 0
    return lam
