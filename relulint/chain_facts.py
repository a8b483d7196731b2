"""What one ReLU chain's records imply, read from a `Chain` (`relulint.records.model_facts`) alone.

Which layers can kill the network (`killing_layers`: on every input→output path, not protected by a
normalization) and the `collapse` Thm 8 bound over them (`chain_bound`, `bound_over`); why a skip
connection (`skip_note`) or a normalization (`normalization_note`, `degenerate_norm`) stands RL101 down;
the inits named for people (`init_label`, `init_runs`, `init_notes`) and whether they meet the theorems'
hypotheses (`negative_init`, `symmetric_init`, `asymmetric_init`); the `dying` Thm 3.3 lower bound and
why it may not hold (`p_lower_bound`, `lower_bound_excluded`).

Computed after extraction from the chains alone (no torch, no options); read by `relulint.verdict`
(risks, kill sets, `chain_summary`), the rules (`rules/`), the renderers and `relulint.api` (which chains
to probe).

Counting convention: `depth` is the number of ReLU (hidden) layers (`collapse` Thm 8 / Eq. 5).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from relulint.records.model_facts import Chain, InitInfo, Layer

PROTECTING_NORMS = frozenset({"batchnorm", "layernorm", "groupnorm", "instancenorm"})


def killing_layers(chain: Chain) -> tuple[Layer, ...]:
    """The chain's ReLU layers whose death makes the network constant: on every path of some input→output
    route (`Layer.routes`; `collapse` Lemma 1) and not preceded by a normalization that keeps a unit alive.

    BatchNorm in training mode, LayerNorm and GroupNorm over ≥ 2 features centre the pre-activations, so
    some unit stays positive for every input (`collapse` §5.2); weight normalization and dropout do not
    protect. A layer that every path can avoid (a skip connection around it) cannot kill the network.
    """
    return tuple(chain.layers[i] for i in killing_indices(chain))


def killing_indices(chain: Chain) -> tuple[int, ...]:
    """Where the `killing_layers` are in ``chain.layers``."""
    if chain.bypassed:
        return ()  # a skip connection around the chain: its death cannot make the network constant
    return tuple(
        i
        for i, layer in enumerate(chain.layers)
        if layer.activation == "relu" and layer.routes != () and not _protects(layer)
    )


def summed_layers(chain: Chain) -> list[str]:
    """The chain's layers that are a sum of layers (`Layer.summed_with`), as ``"a + b"``: the probe draws
    one layer at a time from one input and does not model them, so their chains keep the bound."""
    return [
        " + ".join(part.module or "(functional layer)" for part in (layer, *layer.summed_with))
        for layer in chain.layers
        if layer.summed_with
    ]


def unprotected_widths(chain: Chain) -> tuple[int, ...]:
    """Widths of the chain's ReLU layers that can kill the network (`killing_layers`)."""
    return tuple(layer.out_features for layer in killing_layers(chain))


def degenerate_norm(layer: Layer) -> bool:
    """A LayerNorm / GroupNorm whose statistic is taken over a single feature (``LayerNorm(1)``,
    ``GroupNorm(C, C)`` on (N, C) features): it subtracts each value from itself and outputs its bias β
    for every input, so the ReLU after it is constant — dead, not protected."""
    return (
        layer.norm in ("layernorm", "groupnorm", "instancenorm")
        and layer.norm_features is not None
        and layer.norm_features < 2
    )


def bound_over(layers: Sequence[Layer]) -> float:
    """`collapse` Thm 8 over these ReLU layers, 1 − ∏(1 − 2^−N_l); 1.0 when one of them follows a degenerate
    norm (it is constant for every input: dead with certainty)."""
    from relulint.theory.collapse import p_born_dead_upper

    if any(degenerate_norm(layer) for layer in layers):
        return 1.0
    return p_born_dead_upper([layer.out_features for layer in layers])


def chain_bound(chain: Chain) -> float:
    """`bound_over` the chain's `killing_layers`: the born-dead bound RL101 acts on for one chain."""
    return bound_over(killing_layers(chain))


def skip_note(chain: Chain) -> str | None:
    """Why a chain with a skip connection around it is not born dead even when it dies."""
    if not chain.bypassed:
        return None
    if chain.end in ("residual", "concat"):
        how = "a residual add" if chain.end == "residual" else "a concat"
        return (
            f"{how} carries the chain's input around it: if the chain dies the network is still not "
            "constant (born dead needs a zero layer on every path, collapse Lemma 1), so RL101 stands down"
        )
    return (
        "every input→output path can avoid its ReLU layers (a skip connection goes around it): if the chain "
        "dies the network is still not constant (collapse Lemma 1), so RL101 stands down"
    )


def negative_init(chain: Chain) -> InitInfo | None:
    """The first hidden layer's weight law that leans negative (not symmetric, mean < 0), if any.

    `collapse` Thm 8 and `dying` Thm 3.2 assume laws symmetric about zero, and Thm 4.1 covers RAI's
    positive draws; a negative-mean law silences ReLUs beyond every bound (e.g. normal(−0.5, 0.1): the
    probe measures 100 % on a chain whose symmetric bound is 7.6e-05).
    """
    for layer in chain.hidden:
        info = layer.weight_init
        if info is not None and info.symmetric is False and info.mean is not None and info.mean < 0:
            if _clearly_negative(info, layer):
                return info
    return None


#: how many standard errors below zero a mean read off the values must lie to count as leaning negative
NEGATIVE_MEAN_Z = 3.0


def _clearly_negative(info: InitInfo, layer: Layer) -> bool:
    """A recorded law's mean is exact; a mean read off the values (a fingerprint) counts only when it lies
    `NEGATIVE_MEAN_Z` standard errors below zero (``σ/√n`` over the layer's n weights, σ² = sigma2 / fan_in):
    on a narrow layer an asymmetric positive law such as RAI often has a slightly negative sample mean."""
    if info.origin == "recorded":
        return True
    if info.sigma2 is None or info.sigma2 <= 0 or info.mean is None:
        return False
    n = layer.in_features * layer.out_features
    standard_error = math.sqrt(info.sigma2 / max(layer.in_features, 1) / max(n, 1))
    return info.mean < -NEGATIVE_MEAN_Z * standard_error


def asymmetric_init(chain: Chain) -> bool:
    """Some hidden layer after the first has weights from a law *not* symmetric about zero (e.g. RAI).

    `collapse` Thm 8 and `dying` Thm 3.2–3.3 assume symmetric laws. For an asymmetric init the upper bound
    still holds (`dying` Thm 4.1 is it with γ_l = 0, and γ_l ≥ 0 only lowers it), but the lower bound and
    the width-2 value do not.
    """
    return negative_init(chain) is None and any(
        layer.weight_init is not None and layer.weight_init.symmetric is False for layer in chain.hidden[1:]
    )


def symmetric_init(chain: Chain) -> bool:
    """Every hidden layer after the first has a known law symmetric about zero: the hypothesis of the
    `dying` Thm 3.3 lower bound and the `collapse` Prop 10 width-2 value (an unknown init gives neither)."""
    return all(
        layer.weight_init is not None and layer.weight_init.symmetric is True for layer in chain.hidden[1:]
    )


INIT_LABELS = {
    "pytorch-default": "PyTorch's default (kaiming_uniform_(a=√5))",
    "kaiming-normal": "He/Kaiming normal",
    "kaiming-uniform": "He/Kaiming uniform",
    "xavier-normal": "Xavier/Glorot normal",
    "xavier-uniform": "Xavier/Glorot uniform",
    "lecun": "LeCun",
    "normal": "normal",
    "uniform": "uniform",
    "trunc-normal": "truncated normal",
    "orthogonal": "orthogonal",
    "sparse": "sparse normal",
    "zeros": "all-zero",
    "rai": "RAI",
}


def init_label(info: InitInfo) -> str:
    """A person's name for an init: "He/Kaiming normal", "zero-mean uniform", "normal (mean 0.5)"."""
    label = INIT_LABELS.get(info.law, info.law)
    if info.law in ("normal", "uniform", "trunc-normal"):
        if info.symmetric is False and info.mean is not None and abs(info.mean) > 0:
            return f"{label} (mean {info.mean:.3g})"
        return f"zero-mean {label}"
    return label


def init_runs(chain: Chain) -> list[tuple[int, int, str]]:
    """The chain's inits for people, consecutive layers with the same one merged: ``[(first, last, text)]``.

    ``text`` is e.g. ``"He/Kaiming normal σ_w²=2, bias zeros"``; ``first``/``last`` index ``chain.layers``.
    """

    def describe(layer: Any) -> str:
        w, b = layer.weight_init, layer.bias_init
        text = "unknown" if w is None else init_label(w)
        if w is not None and w.sigma2 is not None and w.law not in ("zeros", "unknown"):
            text += f" σ_w²={w.sigma2:.2g}"
        if b is not None:
            if b.law == "constant" and b.mean is not None:
                bias = f"constant {b.mean:.3g}"
            else:
                short = {"pytorch-default": "PyTorch default", "zeros": "zeros"}
                bias = short.get(b.law) or INIT_LABELS.get(b.law, b.law)
            text += f", bias {bias}"
        elif not layer.bias:
            text += ", no bias"
        return text

    runs: list[tuple[int, int, str]] = []
    for i, layer in enumerate(chain.layers):
        text = describe(layer)
        if runs and runs[-1][2] == text:
            runs[-1] = (runs[-1][0], i, text)
        else:
            runs.append((i, i, text))
    return runs


_LOCATION = re.compile(r" at [^ ,]+:\d+(?::\d+)?")


def init_notes(chain: Chain) -> list[str]:
    """Why relulint trusted the values over a recorded init, per layer (`relulint.init_reconcile.resolve`)."""
    where: dict[tuple[str, str], list[int]] = {}
    for i, layer in enumerate(chain.layers):
        for kind, info in (("weight", layer.weight_init), ("bias", layer.bias_init)):
            if info is not None and info.origin == "reconciled" and info.note:
                note = _LOCATION.sub("", info.note)  # the same note on every layer, whatever its line
                where.setdefault((kind, note), []).append(i)
    notes = []
    for (kind, note), layers in where.items():
        label = f"layer {layers[0]}" if len(layers) == 1 else f"layers {', '.join(map(str, layers))}"
        notes.append(f"{label} {kind}: {note}")
    return notes


#: Laws whose entries are i.i.d. and continuous, symmetric about zero when `InitInfo.symmetric` is True:
#: the weight hypothesis of `dying` Thm 3.3 (orthogonal rows are dependent, sparse_ has atoms at zero).
IID_CONTINUOUS_LAWS = frozenset(
    {"pytorch-default", "kaiming-normal", "kaiming-uniform", "xavier-normal", "xavier-uniform", "lecun"}
    | {"normal", "uniform", "trunc-normal"}
)


def lower_bound_excluded(chain: Chain) -> str | None:
    """Why `dying` Thm 3.3 (and the `collapse` Prop 10 width-2 value) do not hold for this chain, or None.

    Both assume zero biases and i.i.d. weights from continuous laws symmetric about zero. Outside them the
    numbers are no lower bound: with PyTorch's default biases a 1 → 2×2 → 1 net is born dead 14.4 % of the
    time (Thm 3.3: 15.6 %), with orthogonal weights 12.5 % (1 → 4×4 → 1: 0.79 %, Thm 3.3: 1.1 %) —
    Monte Carlo in tests/test_theory_limits.py.
    """
    for layer in chain.hidden:
        b = layer.bias_init
        if layer.bias and not (b is not None and (b.law == "zeros" or (b.law == "constant" and b.mean == 0))):
            return "zero biases"
    for layer in chain.hidden:
        w = layer.weight_init
        if w is None or w.law in ("unknown", "custom"):
            return "i.i.d. symmetric weights; relulint could not identify this init"
        if w.law == "orthogonal":
            return "independent weights; orthogonal rows are not"
        if w.symmetric is not True or w.law not in IID_CONTINUOUS_LAWS:
            return f"i.i.d. continuous symmetric weights; {init_label(w)} is not"
    return None


def p_lower_bound(chain: Chain) -> float | None:
    """`dying` Thm 3.3 lower bound, when it applies: uniform width, a one-dimensional input, zero biases and
    i.i.d. weights from continuous symmetric laws (the theorem's hypotheses, `lower_bound_excluded`)."""
    widths = chain.hidden_widths
    if not widths or len(set(widths)) != 1 or chain.input_dim != 1 or lower_bound_excluded(chain):
        return None
    try:
        from relulint.theory.dying import p_born_dead_lower_din1
    except ImportError:  # the `dying` module is optional for the report: no lower bound without it
        return None
    try:
        return float(p_born_dead_lower_din1(len(widths), widths[0]))
    except ValueError:  # outside the theorem's range (e.g. a single ReLU layer)
        return None


def normalization_note(chain: Chain) -> str | None:
    """Why RL101 stands down on (some of) a chain's layers, or why a norm present does not count.

    BatchNorm in training mode, LayerNorm and GroupNorm before a ReLU keep one unit positive for every input
    (`collapse` §5.2); BatchNorm in eval mode applies fixed running statistics, an affine map like any
    other, and weight norm only re-parametrizes W: neither protects.
    """
    protected = [layer for layer in chain.hidden if _protects(layer)]
    eval_bn = [layer for layer in chain.hidden if layer.norm == "batchnorm" and not layer.norm_training]
    degenerate = [i for i, layer in enumerate(chain.hidden) if degenerate_norm(layer)]
    parts = []
    if protected:
        norms = ", ".join(sorted({str(layer.norm) for layer in protected}))
        if len(protected) == chain.depth:
            parts.append(
                f"{norms} before every ReLU keeps a unit alive for every input: P → 0 (collapse §5.2)"
            )
        else:
            parts.append(
                f"{norms} protects {len(protected)} of {chain.depth} ReLU layers (collapse §5.2); "
                f"the other {chain.depth - len(protected)} can die"
            )
    if eval_bn:
        parts.append(
            f"{len(eval_bn)} BatchNorm layer(s) in eval mode use fixed running statistics and do not protect"
        )
    if degenerate:
        kinds = " / ".join(sorted({str(chain.hidden[i].norm) for i in degenerate}))
        where = _ranges(degenerate)
        parts.append(
            f"the {kinds} before ReLU layer{'s' if len(degenerate) > 1 else ''} {where} normalizes over a "
            "single feature (LayerNorm(1), GroupNorm(C, C)): it outputs its bias β for every input, so the "
            "ReLU after it is constant (dead with certainty), not protected"
        )
    return "; ".join(parts) or None


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``"0–2, 5"``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)


def _protects(layer: Any) -> bool:
    return (
        layer.norm in PROTECTING_NORMS
        and (layer.norm != "batchnorm" or layer.norm_training)
        and not degenerate_norm(layer)
    )
