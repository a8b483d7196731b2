"""The probe's plan for one chain: each layer's sampling law, the inputs D, and which shortcuts are exact.

The laws come from the recorded initializers (`relulint.probe.laws`) or from RAI (`--compare rai`); a chain
whose init only the model's own code knows runs on the rebuild path. D is the papers' domain, the user's
data or, for a bias-free chain with ``d_in = 1``, exactly its two signs (positive homogeneity). A layer with
iid centred Gaussian rows at ``|D| <= 2`` points takes the Gaussian reduction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from relulint.chain_facts import summed_layers
from relulint.errors import DataError, UsageError
from relulint.probe.laws import Law, he_normal_law, pytorch_default_law, resolve_bias, resolve_weight
from relulint.records.loaded import LoadedModel
from relulint.records.model_facts import Chain, Layer

DEFAULT_HALF_WIDTH = math.sqrt(3.0)  # the papers' input domain [-√3, √3]^d_in (`dying` §5)


ENTRYWISE = ("normal", "uniform", "trunc-normal", "constant")  # laws with iid entries


RENORMALIZE_EVERY = 8  # bias-free chains: rescale every few layers (exact by homogeneity; avoids underflow)


@dataclass(frozen=True)
class LayerPlan:
    """How one layer's parameters are sampled: ``weight``/``bias`` laws (``bias=None``: no bias)."""

    module: str
    in_features: int
    out_features: int
    weight: Law | None
    bias: Law | None
    norm: str | None = None
    reduced: bool = False

    @property
    def zero_bias(self) -> bool:
        return self.bias is None or (
            self.bias.is_zero and self.weight is not None and self.weight.kind != "rai"
        )


@dataclass(frozen=True)
class Plan:
    hidden: tuple[LayerPlan, ...]
    output: LayerPlan | None
    points: np.ndarray  # (P, d_in) the inputs propagated
    extremes: tuple[float, ...] | None  # exact-2-point: the x values whose outputs bound the spread over D
    skip_near: bool  # near-constant impossible (positively homogeneous, no output bias, 0 in D's hull)
    source: str  # "batched" or "reinstantiate"
    bias_free: bool  # every hidden layer bias-free (the output layer may have a bias)
    method: str
    notes: tuple[str, ...]
    pair: bool = False  # |D| <= 2 and no normalization: the `run_pair` engine (Gaussian reduction allowed)


def layer_plans(chain: Chain, init: str) -> tuple[list[LayerPlan], list[str]]:
    """Resolve every layer's laws from its `InitInfo` (``init="recorded"``) or by RAI (``init="rai"``)."""
    plans, unknown = [], []
    for index, layer in enumerate(chain.layers):
        if init == "rai":
            plans.append(rai_layer_plan(layer, first=index == 0))
            continue
        weight = resolve_weight(layer.weight_init, layer.in_features, layer.out_features)
        bias = resolve_bias(layer.bias_init, layer.in_features) if layer.bias else None
        if weight is not None and weight.kind == "rai":
            bias = Law("rai") if layer.bias else None
        elif bias is not None and bias.kind == "rai":
            weight = None  # a RAI bias without a RAI weight: only the model knows
        if weight is None:
            unknown.append(f"{layer.module or '(functional)'}.weight")
        if layer.bias and bias is None:
            unknown.append(f"{layer.module or '(functional)'}.bias")
        plans.append(LayerPlan(layer.module, layer.in_features, layer.out_features, weight, bias, layer.norm))
    return plans, unknown


def rai_layer_plan(layer: Layer, *, first: bool) -> LayerPlan:
    """RAI (`dying` §4.1): He normal and zero bias on the chain's first layer, RAI rows on the others."""
    if first:
        bias = Law("constant", mean=0.0) if layer.bias else None
        weight = he_normal_law(layer.in_features)
    else:
        weight = Law("rai")
        bias = Law("rai") if layer.bias else None
    return LayerPlan(layer.module, layer.in_features, layer.out_features, weight, bias, layer.norm)


def default_plans(chain: Chain, plans: list[LayerPlan]) -> list[LayerPlan]:
    """Fill unknown laws with PyTorch's default (used only when the model cannot be rebuilt; noted)."""
    out = []
    for layer, plan in zip(chain.layers, plans, strict=True):
        weight = plan.weight or pytorch_default_law(plan.in_features)
        bias = plan.bias
        if layer.bias and (bias is None or bias.kind == "rai") and weight.kind != "rai":
            bias = pytorch_default_law(plan.in_features)
        out.append(replace(plan, weight=weight, bias=bias))
    return out


def choose_points(
    chain: Chain,
    bias_free: bool,
    *,
    points: int,
    domain: tuple[float, float] | None,
    data: np.ndarray | None,
    seed: int,
) -> tuple[np.ndarray, tuple[float, ...] | None, bool, list[str]]:
    """The inputs D: ``(points_to_propagate, extremes | None, zero_in_hull, notes)``.

    Exact shortcut (positive homogeneity): bias-free, ``d_in = 1``, no normalization → D's signs ``{-1, +1}``.
    """
    d_in = chain.input_dim
    notes: list[str] = []
    if data is not None:
        data = np.asarray(data, dtype=np.float64)
        data = data.reshape(-1, 1) if data.ndim == 1 else data.reshape(data.shape[0], -1)
        if data.shape[1] != d_in:
            raise DataError(
                f"probe data has {data.shape[1]} columns but chain {chain.index} ({chain.shape}) takes {d_in} inputs",
                hint="give one row per input point with d_in columns",
            )
    exact = bias_free and d_in == 1 and not any(layer.norm for layer in chain.hidden)
    if exact:
        xs = data[:, 0] if data is not None else None
        if xs is None:
            lo, hi = domain if domain is not None else (-DEFAULT_HALF_WIDTH, DEFAULT_HALF_WIDTH)
            extremes, zero_in = _domain_extremes(float(lo), float(hi))
        else:
            extremes, zero_in = _data_extremes(xs)
        signs = sorted({math.copysign(1.0, x) for x in extremes if x != 0.0})
        if signs:
            notes.append(
                "exact: a bias-free chain with d_in = 1 is positively homogeneous, so D = {"
                + ", ".join(f"{s:+g}" for s in signs)
                + "} decides every zero layer (any domain or data)"
            )
            return np.array(signs, dtype=np.float64).reshape(-1, 1), tuple(extremes), zero_in, notes
    if data is not None:
        if data.shape[0] > points:
            rng = np.random.default_rng([seed, 2])
            chosen = np.sort(rng.choice(data.shape[0], size=points, replace=False))
            notes.append(f"D: {points} of the {data.shape[0]} data points (--points)")
            data = data[chosen]
        else:
            notes.append(f"D: the {data.shape[0]} data points")
        return data, None, False, notes
    lo, hi = domain if domain is not None else (-DEFAULT_HALF_WIDTH, DEFAULT_HALF_WIDTH)
    check_domain(lo, hi)
    rng = np.random.default_rng([seed, 2])
    notes.append(f"D: {points} points uniform on [{lo:.4g}, {hi:.4g}]^{d_in}")
    return rng.uniform(lo, hi, size=(max(1, points), d_in)), None, False, notes


def check_domain(lo: float, hi: float) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"bad probe domain {lo},{hi}", hint="--domain LOW,HIGH with LOW < HIGH")


def _domain_extremes(lo: float, hi: float) -> tuple[list[float], bool]:
    check_domain(lo, hi)
    extremes = [lo, hi]
    zero_in = lo <= 0.0 <= hi
    if zero_in:
        extremes.append(0.0)
    return extremes, zero_in


def _data_extremes(xs: np.ndarray) -> tuple[list[float], bool]:
    """Per sign, the smallest and largest |x| (the output is affine in |x| on each side) and 0 if present."""
    extremes: list[float] = []
    for side in (xs[xs < 0], xs[xs > 0]):
        if side.size:
            extremes.extend({float(side.min()), float(side.max())})
    zero_in = bool((xs == 0).any())
    if zero_in:
        extremes.append(0.0)
    return extremes, zero_in


def build_plan(
    loaded: LoadedModel | None,
    chain: Chain,
    *,
    init: str,
    path: str,
    points: int,
    domain: tuple[float, float] | None,
    data: np.ndarray | None,
    seed: int,
    shortcuts: bool = True,
) -> Plan:
    if not chain.hidden:
        raise UsageError(f"chain {chain.index} has no ReLU layer to probe")
    summed = summed_layers(chain)
    if summed:
        raise UsageError(
            f"chain {chain.index} has a sum of layers ({', '.join(summed)}), which the probe does not model",
            hint="the collapse Thm 8 bound covers it; probe the model's other chains",
        )
    plans, unknown = layer_plans(chain, init)
    notes: list[str] = []
    rebuild = getattr(loaded, "rebuild", None) if loaded is not None else None
    readable = all(layer.module for layer in chain.layers)
    source = "batched"
    if path == "reinstantiate" or (path == "auto" and unknown):
        if init == "rai" or rebuild is None or not readable:
            if path == "reinstantiate":
                raise UsageError(
                    "the reinstantiate path needs a model that can be rebuilt (LoadedModel.rebuild)"
                )
            notes.append(
                f"init of {', '.join(unknown)} unknown and the model cannot be rebuilt: assumed PyTorch's default"
            )
            plans = default_plans(chain, plans)
        else:
            source = "reinstantiate"
            if unknown:
                notes.append(
                    f"custom or unknown init ({', '.join(unknown)}): re-ran the model's own init per sample"
                )
    elif unknown:
        plans = default_plans(chain, plans)
    for layer in chain.layers:
        if layer.norm and layer.norm not in ("batchnorm", "layernorm"):
            notes.append(
                f"{layer.norm} after {layer.module or 'a layer'} is not modelled by the probe (ignored)"
            )
    n_hidden = len(chain.hidden)
    hidden, output = plans[:n_hidden], (plans[n_hidden] if len(plans) > n_hidden else None)
    if source == "reinstantiate":
        bias_free = not any(layer.bias for layer in chain.hidden)
    else:
        bias_free = all(p.zero_bias for p in hidden)
    xs, extremes, zero_in, point_notes = choose_points(
        chain, bias_free and shortcuts, points=points, domain=domain, data=data, seed=seed
    )
    notes.extend(point_notes)
    n_points = xs.shape[0]
    pair = n_points <= 2 and not any(layer.norm for layer in chain.hidden)
    hidden = [_maybe_reduce(p, n_points, source if shortcuts and pair else "off") for p in hidden]
    skip_near = bool(extremes is not None and zero_in and (output is None or output.zero_bias))
    if skip_near and source == "batched":
        notes.append("near-constant: impossible here (positively homogeneous with 0 in D), not counted")
    method = [source]
    if extremes is not None:
        method.append("exact-2-point")
    if any(p.reduced for p in hidden):
        method.append("gaussian-reduced")
        notes.append(
            f"Gaussian reduction: {n_points} correlated normals per unit instead of a weight row"
            " (iid Gaussian rows: only the pre-activations' joint law at the points of D matters)"
        )
    return Plan(
        hidden=tuple(hidden),
        output=output,
        points=xs,
        extremes=extremes,
        skip_near=skip_near,
        source=source,
        bias_free=bias_free,
        method="+".join(method),
        notes=tuple(notes),
        pair=pair,
    )


def _maybe_reduce(plan: LayerPlan, n_points: int, source: str) -> LayerPlan:
    """Use the Gaussian reduction where it is exact and draws fewer numbers (``|D| <= 2 < fan_in``).

    Exact for any inputs, signs included: given the layer's inputs at the points of D, iid centred Gaussian
    rows make each unit's pre-activations ``N(μ, σ² G + σ_b² 11ᵀ)`` whatever the signs of the Gram ``G``
    (the first layer sees raw inputs, which may point in opposite directions). ``source`` is ``"batched"``
    only where the `run_pair` engine runs (``|D| <= 2``, no normalization).
    """
    ok = (
        source == "batched"
        and plan.weight is not None
        and plan.weight.iid_gaussian
        and (plan.bias is None or plan.bias.gaussian_or_constant)
        and not plan.norm
        and n_points <= 2
        and plan.in_features > n_points
    )
    return replace(plan, reduced=True) if ok else plan
