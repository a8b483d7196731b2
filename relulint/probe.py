"""The probe: a Monte-Carlo estimate of a chain's born-dead probability for *this* model's init.

Definition (`dying` Eq. 3.1): a sample of the parameters is born dead when the network is constant on the
input set D. Almost surely that happens exactly when some hidden (ReLU) layer is zero at every x in D
(`collapse` Lemma 1), which is what the probe counts, exactly (no threshold). It counts separately the
samples that are *numerically* near-constant without a zero layer (relative output spread below 1e-6:
the signal-length decay of PyTorch's default init, `collapse` Eq. 2-3), and per hidden layer the mean
fraction of units that carry no signal (zero at every x in D, or the sample already died before it).

How it samples (``ProbeResult.method`` / ``notes`` say which path ran):

* **batched**: the parameters of every layer are drawn for a whole chunk of samples at once from the
  recorded initializers (`relulint.probe_sampling`), on the probe's own ``torch.Generator``.
* **reinstantiate**: where an init is custom or unknown, the model's own construction
  (``LoadedModel.rebuild``) runs once per sample under a fork of the global RNGs (torch, numpy, random)
  seeded from ``seed``; the chain's Linear modules are read by qualified name. Slow; progress bar.
* **exact-2-point**: a bias-free chain with ``d_in = 1`` is positively homogeneous, ``h(x) = |x| h(sign x)``,
  so a layer is zero on all of D iff it is zero at ``-1`` and ``+1`` (the signs present in D): D is
  replaced by those two points, exactly, for any domain or data (`DESIGN.md`, `dying` Thm 3.3's setting).
* **gaussian-reduced**: for a layer with iid centred Gaussian weights (He / Xavier / normal) and a
  Gaussian, constant or absent bias, only the joint law of its pre-activations at the points of D matters:
  given the previous layer's outputs ``H`` the ``N`` units are iid ``N(m 1, σ_w² G + σ_b² 11ᵀ)`` with
  ``G = H Hᵀ`` the Gram matrix of the points. With ``|D| <= 2`` the probe draws ``|D| N`` correlated normals
  (Cholesky of the 2 x 2 covariance) instead of the ``N N_prev`` weights; used where ``|D| < N_prev``.

Speed: vectorised over samples, chunked to ``max_memory``, samples already dead are dropped (early exit),
float32. Runs on CUDA when asked (``device="auto"`` picks it when present) and falls back to the CPU with a
note. Deterministic for a given seed, device and memory bound; the global RNG states are left untouched.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relulint.errors import DataError, LoadError, UsageError
from relulint.facts import Chain, Layer, LoadedModel, ProbeResult
from relulint.probe_sampling import (
    Law,
    draw_layer,
    he_normal_law,
    pytorch_default_law,
    resolve_bias,
    resolve_weight,
)

__all__ = [
    "NEAR_CONSTANT_RTOL",
    "ProbeInterrupted",
    "load_probe_data",
    "probe_chain",
    "resolve_device",
    "wilson_interval",
]

NEAR_CONSTANT_RTOL = 1e-6  # relative output spread below which a live sample counts as near-constant
DEFAULT_HALF_WIDTH = math.sqrt(3.0)  # the papers' input domain [-√3, √3]^d_in (`dying` §5)
CPU_CHUNK_BYTES = 16 << 20  # working set per chunk on the CPU: small enough to stay in cache
COMPACT_BELOW = 0.75  # drop dead samples from the chunk once fewer than this fraction is alive
RENORMALIZE_EVERY = 8  # bias-free chains: rescale every few layers (exact by homogeneity; avoids underflow)
ProgressArg = bool | Callable[[int, int], None] | None


class ProbeInterrupted(KeyboardInterrupt):
    """Ctrl-C during a probe: ``result`` is the estimate from the samples finished so far."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__("probe interrupted")
        self.result = result


# ----------------------------------------------------------------------------------------- statistics


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (95 % for ``z = 1.96``); ``(0, 1)`` if n = 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return (max(0.0, center - half), min(1.0, center + half))


# ----------------------------------------------------------------------------------------------- data


def load_probe_data(path: str | Path) -> np.ndarray:
    """The probe's input set D from ``.npy``, ``.pt``/``.pth`` or ``.csv``: a 2-D float array (points × d_in).

    A 1-D array is one input per row (d_in = 1); trailing dimensions are flattened (``(n, 28, 28)`` →
    ``(n, 784)``). A ``.pt`` file holds a tensor, an array, or a dict with one tensor (or the key ``x``,
    ``inputs`` or ``data``). A ``.csv`` may have one header line. Raises `DataError` (one line + hint).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"probe data file not found: {p}", hint="--data takes a .npy, .pt or .csv file of inputs"
        )
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            raw: Any = np.load(p, allow_pickle=False)
        elif suffix in (".pt", ".pth"):
            raw = _load_pt(p)
        elif suffix == ".csv":
            raw = _load_csv(p)
        else:
            raise DataError(
                f"unknown probe data format {suffix or p.name!r}", hint="use a .npy, .pt or .csv file"
            )
    except DataError:
        raise
    except Exception as error:  # numpy / torch parse errors of any kind
        raise DataError(
            f"cannot read probe data {p}: {error}", hint="save the inputs as one numeric array"
        ) from None
    return _as_points(raw, p)


def _load_pt(path: Path) -> Any:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        for key in ("x", "inputs", "data", "X"):
            if key in obj:
                return obj[key]
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor | np.ndarray)]
        if len(tensors) != 1:
            raise DataError(
                f"{path} holds a dict of {len(tensors)} arrays; which one is the input?",
                hint="save one tensor, or a dict with the key 'x'",
            )
        return tensors[0]
    if isinstance(obj, list | tuple) and obj and isinstance(obj[0], torch.Tensor):
        return obj[0]  # (inputs, targets)
    return obj


def _load_csv(path: Path) -> np.ndarray:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if lines:
        try:
            [float(v) for v in lines[0].split(",")]
        except ValueError:
            lines = lines[1:]  # a header
    if not lines:
        raise DataError(f"probe data {path} has no rows", hint="one input per line, comma-separated")
    return np.array([[float(v) for v in line.split(",")] for line in lines], dtype=np.float64)


def _as_points(raw: Any, path: Path) -> np.ndarray:
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"probe data {path} is not numeric", hint="save the inputs as one float array"
        ) from None
    if arr.ndim == 0 or arr.size == 0:
        raise DataError(f"probe data {path} is empty or a scalar", hint="one input per row")
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)
    if not np.isfinite(arr).all():
        raise DataError(f"probe data {path} contains NaN or infinite values", hint="drop or fill them first")
    return arr


# --------------------------------------------------------------------------------------------- device


def resolve_device(device: str = "auto") -> tuple[torch.device, str | None]:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU → CPU with a note (never an error)."""
    text = (device or "auto").strip().lower()
    if text == "auto":
        return (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")), None
    if text == "cpu":
        return torch.device("cpu"), None
    if text.startswith("cuda"):
        if torch.cuda.is_available():
            return torch.device(text), None
        return torch.device("cpu"), "no CUDA device; ran on CPU"
    raise UsageError(f"unknown device {device!r}", hint="--device auto, cpu or cuda")


# ----------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _LayerPlan:
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
class _Plan:
    hidden: tuple[_LayerPlan, ...]
    output: _LayerPlan | None
    points: np.ndarray  # (P, d_in) the inputs propagated
    extremes: tuple[float, ...] | None  # exact-2-point: the x values whose outputs bound the spread over D
    skip_near: bool  # near-constant impossible (positively homogeneous, no output bias, 0 in D's hull)
    source: str  # "batched" or "reinstantiate"
    bias_free: bool
    method: str
    notes: tuple[str, ...]


def _layer_plans(chain: Chain, init: str) -> tuple[list[_LayerPlan], list[str]]:
    """Resolve every layer's laws from its `InitInfo` (``init="recorded"``) or by RAI (``init="rai"``)."""
    plans, unknown = [], []
    for index, layer in enumerate(chain.layers):
        if init == "rai":
            plans.append(_rai_plan(layer, first=index == 0))
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
        plans.append(
            _LayerPlan(layer.module, layer.in_features, layer.out_features, weight, bias, layer.norm)
        )
    return plans, unknown


def _rai_plan(layer: Layer, *, first: bool) -> _LayerPlan:
    """RAI (`dying` §4.1): He normal and zero bias on the chain's first layer, RAI rows on the others."""
    if first:
        bias = Law("constant", mean=0.0) if layer.bias else None
        weight = he_normal_law(layer.in_features)
    else:
        weight = Law("rai")
        bias = Law("rai") if layer.bias else None
    return _LayerPlan(layer.module, layer.in_features, layer.out_features, weight, bias, layer.norm)


def _default_plans(chain: Chain, plans: list[_LayerPlan]) -> list[_LayerPlan]:
    """Fill unknown laws with PyTorch's default (used only when the model cannot be rebuilt; noted)."""
    out = []
    for layer, plan in zip(chain.layers, plans, strict=True):
        weight = plan.weight or pytorch_default_law(plan.in_features)
        bias = plan.bias
        if layer.bias and (bias is None or bias.kind == "rai") and weight.kind != "rai":
            bias = pytorch_default_law(plan.in_features)
        out.append(replace(plan, weight=weight, bias=bias))
    return out


def _choose_points(
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
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"bad probe domain {lo},{hi}", hint="--domain LOW,HIGH with LOW < HIGH")
    rng = np.random.default_rng([seed, 2])
    notes.append(f"D: {points} points uniform on [{lo:.4g}, {hi:.4g}]^{d_in}")
    return rng.uniform(lo, hi, size=(max(1, points), d_in)), None, False, notes


def _domain_extremes(lo: float, hi: float) -> tuple[list[float], bool]:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"bad probe domain {lo},{hi}", hint="--domain LOW,HIGH with LOW < HIGH")
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


def _build_plan(
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
) -> _Plan:
    if not chain.hidden:
        raise UsageError(f"chain {chain.index} has no ReLU layer to probe")
    plans, unknown = _layer_plans(chain, init)
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
            plans = _default_plans(chain, plans)
        else:
            source = "reinstantiate"
            if unknown:
                notes.append(
                    f"custom or unknown init ({', '.join(unknown)}): re-ran the model's own init per sample"
                )
    elif unknown:
        plans = _default_plans(chain, plans)
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
    xs, extremes, zero_in, point_notes = _choose_points(
        chain, bias_free and shortcuts, points=points, domain=domain, data=data, seed=seed
    )
    notes.extend(point_notes)
    n_points = xs.shape[0]
    hidden = [
        _maybe_reduce(p, n_points, source if shortcuts else "off", layer)
        for p, layer in zip(hidden, chain.hidden, strict=True)
    ]
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
    return _Plan(
        hidden=tuple(hidden),
        output=output,
        points=xs,
        extremes=extremes,
        skip_near=skip_near,
        source=source,
        bias_free=bias_free,
        method="+".join(method),
        notes=tuple(notes),
    )


def _maybe_reduce(plan: _LayerPlan, n_points: int, source: str, layer: Layer) -> _LayerPlan:
    """Use the Gaussian reduction where it is exact and draws fewer numbers (``|D| <= 2 < fan_in``)."""
    ok = (
        source == "batched"
        and plan.weight is not None
        and plan.weight.iid_gaussian
        and (plan.bias is None or plan.bias.gaussian_or_constant)
        and not layer.norm
        and n_points <= 2
        and plan.in_features > n_points
    )
    return replace(plan, reduced=True) if ok else plan


# --------------------------------------------------------------------------------------------- engine


@dataclass
class _Tally:
    """Counts from a run of samples (summed over chunks)."""

    samples: int = 0
    born_dead: int = 0
    near_constant: int = 0
    dead_units: list[float] = field(default_factory=list)
    drawn: Counter[str] = field(default_factory=Counter)

    def add(self, other: _Tally) -> None:
        self.samples += other.samples
        self.born_dead += other.born_dead
        self.near_constant += other.near_constant
        if not self.dead_units:
            self.dead_units = [0.0] * len(other.dead_units)
        self.dead_units = [a + b for a, b in zip(self.dead_units, other.dead_units, strict=True)]
        self.drawn.update(other.drawn)


WeightSource = Callable[[int, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor | None]]


def _batched_source(
    plan: _Plan, gen: torch.Generator, dtype: torch.dtype, drawn: Counter[str]
) -> WeightSource:
    layers = (*plan.hidden, *((plan.output,) if plan.output is not None else ()))

    def source(index: int, ids: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        layer = layers[index]
        assert layer.weight is not None
        bias = (
            layer.bias
            if not (layer.bias is not None and layer.bias.is_zero and layer.weight.kind != "rai")
            else None
        )
        return draw_layer(
            layer.weight, bias, m, layer.out_features, layer.in_features, gen, dtype=dtype, counter=drawn
        )

    return source


def _preloaded_source(tensors: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> WeightSource:
    def source(index: int, ids: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        w, b = tensors[index]
        return w.index_select(0, ids), (b.index_select(0, ids) if b is not None else None)

    return source


class _Run:
    """Bookkeeping of one chunk: alive rows, born-dead count, dead units per layer (`collapse` Lemma 1)."""

    def __init__(self, n: int, layers: int, device: torch.device) -> None:
        self.n = n
        self.ids = torch.arange(n, device=device)
        self.alive = torch.ones(n, dtype=torch.bool, device=device)
        self.alive_rows = n  # rows of the current tensors that are alive
        self.tally = _Tally(samples=n, dead_units=[0.0] * layers)

    def record(self, index: int, live_units: torch.Tensor, width: int) -> int:
        """After hidden layer ``index``: count its dead units and the samples it kills; returns alive rows.

        Samples that died before this layer count as all of its units dead (they carry no signal).
        """
        dead = live_units == 0
        died = dead & self.alive if self.alive_rows < self.alive.numel() else dead
        live_sum, k = torch.stack([(live_units * self.alive).sum(), died.sum()]).tolist()
        self.tally.dead_units[index] += self.n - live_sum / width
        if k:
            self.tally.born_dead += int(k)
            self.alive &= ~died
            self.alive_rows -= int(k)
        return self.alive_rows

    def finish_dead(self, start: int) -> None:
        for index in range(start, len(self.tally.dead_units)):
            self.tally.dead_units[index] += self.n

    def compact(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        keep = self.alive.nonzero().squeeze(1)
        self.ids = self.ids.index_select(0, keep)
        self.alive = torch.ones(keep.numel(), dtype=torch.bool, device=keep.device)
        self.alive_rows = keep.numel()
        return [t.index_select(0, keep) for t in tensors]


def _near_constant(values: torch.Tensor, alive: torch.Tensor) -> int:
    """Samples whose outputs ``values`` (m, d_out, E) vary by less than 1e-6 of their size over D."""
    spread = (values.amax(dim=2) - values.amin(dim=2)).amax(dim=1)
    scale = values.abs().amax(dim=(1, 2))
    near = alive & (scale > 0) & (spread <= NEAR_CONSTANT_RTOL * scale)
    return int(near.sum())


def _gaussian_pre(
    gram: tuple[torch.Tensor, ...],
    layer: _LayerPlan,
    m: int,
    gen: torch.Generator,
    dtype: torch.dtype,
    drawn: Counter[str],
) -> list[torch.Tensor]:
    """Pre-activations at ≤ 2 points of ``N`` iid Gaussian units given the Gram of the layer's inputs.

    Unit ``j`` sees ``z_j = (w_j·h_p + b_j)_p ~ N(μ, σ² G + σ_b² 11ᵀ)`` (iid over j; ``σ² = Var(w)``); drawn as
    ``μ + L ε`` with the closed-form 2 x 2 Cholesky factor ``L`` and ``ε`` standard normal.
    """
    assert layer.weight is not None
    var_w = layer.weight.std**2
    var_b, mean_b = 0.0, 0.0
    if layer.bias is not None:
        mean_b = layer.bias.mean
        var_b = layer.bias.std**2 if layer.bias.kind == "normal" else 0.0
    n_units = layer.out_features
    eps = torch.empty((len(gram) if len(gram) == 1 else 2, m, n_units), device=gen.device, dtype=dtype)
    eps.normal_(generator=gen)
    drawn["normal"] += eps.numel()
    c00 = gram[0] * var_w + var_b
    l11 = c00.sqrt()
    if len(gram) == 1:
        z0 = eps[0].mul_(l11[:, None])
        return [z0.add_(mean_b) if mean_b else z0]
    c01 = gram[2] * var_w + var_b
    c11 = gram[1] * var_w + var_b
    l21 = torch.where(l11 > 0, c01 / l11.clamp_min(1e-30), torch.zeros_like(l11))
    l22 = (c11 - l21 * l21).clamp_min_(0.0).sqrt_()
    z1 = eps[1].mul_(l22[:, None]).addcmul_(eps[0], l21[:, None])
    z0 = eps[0].mul_(l11[:, None])
    if mean_b:
        z0.add_(mean_b)
        z1.add_(mean_b)
    return [z0, z1]


def _gaussian_pre_scalefree(
    gram: tuple[torch.Tensor, ...],
    n_units: int,
    m: int,
    gen: torch.Generator,
    dtype: torch.dtype,
    drawn: Counter[str],
) -> list[torch.Tensor]:
    """:func:`_gaussian_pre` for a bias-free layer, up to a positive factor per sample and point (exact here).

    Bias-free layers are positively homogeneous, so only the *signs* of ``z`` and the directions of the two
    post-activation vectors matter downstream. Dividing ``L ε`` by ``l11`` and the second point by
    ``l21 + l22`` leaves ``z_0 = ε_0`` and ``z_1 = (1 - t) ε_0 + t ε_1`` with ``t = l22 / (l21 + l22)``: one
    multiply-add instead of three multiplies, and no drift of the scale over depth. A point whose layer is already
    zero stays zero whatever follows; it is replaced by a copy of the other point (``t = 0``), which changes
    neither which layers are zero nor which units are.
    """
    eps = torch.empty((len(gram) if len(gram) == 1 else 2, m, n_units), device=gen.device, dtype=dtype)
    eps.normal_(generator=gen)
    drawn["normal"] += eps.numel()
    if len(gram) == 1:
        return [eps[0]]
    uu, vv, uv = gram
    both = (uu > 0) & (vv > 0)
    k1 = uv / uu.clamp_min(1e-30)
    k2 = (vv / uu.clamp_min(1e-30) - k1 * k1).clamp_min_(0.0).sqrt_()
    t = torch.where(both, k2 / (k1 + k2).clamp_min(1e-30), torch.zeros_like(k1))
    z1 = eps[1].mul_(t.unsqueeze(1)).addcmul_(eps[0], (1.0 - t).unsqueeze(1))  # faster than lerp_ here
    return [eps[0], z1]


def _gram(hs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``(|h_0|², |h_1|², h_0·h_1)`` per sample (``(|h_0|²,)`` for one point)."""
    if len(hs) == 1:
        return (torch.linalg.vecdot(hs[0], hs[0]),)
    a, c = hs
    return (torch.linalg.vecdot(a, a), torch.linalg.vecdot(c, c), torch.linalg.vecdot(a, c))


def _run_pair(
    plan: _Plan, n: int, source: WeightSource, gen: torch.Generator, dtype: torch.dtype, drawn: Counter[str]
) -> _Tally:
    """The engine for ``|D| <= 2`` (exact-2-point and 2-point data): one ``(m, N)`` tensor per point."""
    device = gen.device
    xs = torch.as_tensor(plan.points, dtype=dtype, device=device)  # (P, d_in)
    run = _Run(n, len(plan.hidden), device)
    hs: list[torch.Tensor] = []
    gram: tuple[torch.Tensor, ...] | None = None
    m = n
    for index, layer in enumerate(plan.hidden):
        if layer.reduced:
            if gram is None:  # the first layer: the Gram of the fixed points
                g = xs @ xs.T
                gram = tuple(
                    torch.full((m,), float(v), device=device, dtype=dtype)
                    for v in ((g[0, 0],) if len(xs) == 1 else (g[0, 0], g[1, 1], g[0, 1]))
                )
            if plan.bias_free:
                zs = _gaussian_pre_scalefree(gram, layer.out_features, m, gen, dtype, drawn)
            else:
                zs = _gaussian_pre(gram, layer, m, gen, dtype, drawn)
        else:
            w, b = source(index, run.ids, m)
            if not hs:
                zs = [torch.matmul(w, x) for x in xs]
            else:
                zs = [torch.bmm(w, h.unsqueeze(2)).squeeze(2) for h in hs]
            if b is not None:
                zs = [z.add_(b) for z in zs]
        hs = [z.clamp_min_(0.0) for z in zs]
        # live units per sample: values are >= 0, so sign() is 0/1 (faster than count_nonzero(dim=1))
        live = (hs[0] + hs[1]).sign_().sum(1) if len(hs) == 2 else hs[0].sign().sum(1)
        remaining = run.record(index, live, layer.out_features)
        if remaining == 0:
            run.finish_dead(index + 1)
            return run.tally
        if plan.bias_free and not layer.reduced and index % RENORMALIZE_EVERY == RENORMALIZE_EVERY - 1:
            scale = torch.stack([h.amax(dim=1) for h in hs]).amax(dim=0).clamp_min_(1e-30)
            hs = [h.div_(scale[:, None]) for h in hs]
        if remaining < COMPACT_BELOW * hs[0].shape[0]:
            hs = run.compact(*hs)
        m = hs[0].shape[0]
        next_reduced = index + 1 < len(plan.hidden) and plan.hidden[index + 1].reduced
        gram = _gram(hs) if next_reduced else None
    if not plan.skip_near:
        run.tally.near_constant = _pair_near_constant(plan, hs, run, source, m)
    return run.tally


def _pair_near_constant(plan: _Plan, hs: list[torch.Tensor], run: _Run, source: WeightSource, m: int) -> int:
    if plan.output is not None:
        w, b = source(len(plan.hidden), run.ids, m)
        outs = [torch.bmm(w, h.unsqueeze(2)).squeeze(2) for h in hs]
    else:
        outs, b = hs, None
    if plan.extremes is None:
        values = torch.stack([o + b if b is not None else o for o in outs], dim=2)
        return _near_constant(values, run.alive)
    by_sign = {float(plan.points[i, 0]): outs[i] for i in range(len(outs))}
    columns = []
    for x in plan.extremes:
        base = b if b is not None else torch.zeros_like(outs[0])
        columns.append(base if x == 0.0 else base + abs(x) * by_sign[math.copysign(1.0, x)])
    return _near_constant(torch.stack(columns, dim=2), run.alive)


def _normalize(z: torch.Tensor, norm: str | None) -> torch.Tensor:
    """Training-mode BatchNorm over D (per unit) or LayerNorm (per point) at init (γ = 1, β = 0)."""
    if norm == "batchnorm":
        mean = z.mean(dim=2, keepdim=True)
        var = z.var(dim=2, keepdim=True, unbiased=False)
        return (z - mean) / torch.sqrt(var + 1e-5)
    if norm == "layernorm":
        mean = z.mean(dim=1, keepdim=True)
        var = z.var(dim=1, keepdim=True, unbiased=False)
        return (z - mean) / torch.sqrt(var + 1e-5)
    return z


def _run_points(
    plan: _Plan, n: int, source: WeightSource, gen: torch.Generator, dtype: torch.dtype, drawn: Counter[str]
) -> _Tally:
    """The general engine: hidden states ``(m, N, P)``, one batched matmul per layer, dead samples dropped."""
    device = gen.device
    xt = torch.as_tensor(plan.points, dtype=dtype, device=device).T.contiguous()  # (d_in, P)
    run = _Run(n, len(plan.hidden), device)
    h: torch.Tensor | None = None
    m = n
    for index, layer in enumerate(plan.hidden):
        w, b = source(index, run.ids, m)
        if h is None:
            z = torch.matmul(w, xt)
            if b is not None:
                z.add_(b.unsqueeze(2))
        elif b is not None:
            z = torch.baddbmm(b.unsqueeze(2), w, h)
        else:
            z = torch.bmm(w, h)
        h = _normalize(z, layer.norm).clamp_min_(0.0)
        live = h.amax(dim=2).sign_().sum(1)
        remaining = run.record(index, live, layer.out_features)
        if remaining == 0:
            run.finish_dead(index + 1)
            return run.tally
        if plan.bias_free and index % RENORMALIZE_EVERY == RENORMALIZE_EVERY - 1:
            h = h.div_(h.amax(dim=(1, 2), keepdim=True).clamp_min_(1e-30))
        if remaining < COMPACT_BELOW * h.shape[0]:
            (h,) = run.compact(h)
        m = h.shape[0]
    assert h is not None
    if plan.output is not None:
        w, b = source(len(plan.hidden), run.ids, m)
        values = torch.baddbmm(b.unsqueeze(2), w, h) if b is not None else torch.bmm(w, h)
    else:
        values = h
    run.tally.near_constant = _near_constant(values, run.alive)
    return run.tally


# ---------------------------------------------------------------------------------- reinstantiate path


@contextlib.contextmanager
def _forked_global_rng(seed: int) -> Iterator[None]:
    """Run user code with the global torch / numpy / random RNGs seeded from ``seed``, then restore them."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = (
        list(range(torch.cuda.device_count()))
        if torch.cuda.is_available() and torch.cuda.is_initialized()
        else []
    )
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would queue CUDA seeding
            for index in cuda:
                torch.cuda.default_generators[index].manual_seed(seed)
            np.random.seed(seed % (2**32))
            random.seed(seed)
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def _rebuild_weights(
    loaded: LoadedModel,
    chain: Chain,
    seeds: Sequence[int],
    device: torch.device,
    dtype: torch.dtype,
    tick: Callable[[], None],
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Build the model once per seed and stack the chain's Linear parameters: ``[(W (n,out,in), b | None)]``."""
    weights: list[list[torch.Tensor]] = [[] for _ in chain.layers]
    biases: list[list[torch.Tensor]] = [[] for _ in chain.layers]
    for s in seeds:
        with _forked_global_rng(int(s)), torch.no_grad():
            try:
                model = loaded.rebuild()
            except Exception as error:  # the user's constructor
                raise LoadError(f"rebuilding {loaded.name} for the probe failed: {error}") from None
        modules = dict(model.named_modules())
        for index, layer in enumerate(chain.layers):
            module = modules.get(layer.module)
            w = getattr(module, "weight", None)
            if not isinstance(w, torch.Tensor) or tuple(w.shape) != (layer.out_features, layer.in_features):
                raise LoadError(
                    f"probe: the rebuilt {loaded.name} has no Linear {layer.module!r} of shape"
                    f" ({layer.out_features}, {layer.in_features})",
                    hint="the model must build the same layers each time",
                )
            weights[index].append(w.detach().to(torch.float32))
            b = getattr(module, "bias", None)
            if layer.bias and isinstance(b, torch.Tensor):
                biases[index].append(b.detach().to(torch.float32))
        tick()
    out = []
    for index in range(len(chain.layers)):
        w = torch.stack(weights[index]).to(device=device, dtype=dtype)
        b = torch.stack(biases[index]).to(device=device, dtype=dtype) if biases[index] else None
        out.append((w, b))
    return out


# ----------------------------------------------------------------------------------------- the driver


def _chunk_size(plan: _Plan, samples: int, max_memory: int, device: torch.device) -> int:
    widths = [p.out_features for p in plan.hidden] + [plan.points.shape[1]]
    if plan.output is not None:
        widths.append(plan.output.out_features)
    wmax = max(widths)
    n_points = plan.points.shape[0]
    per_sample = 4 * (4 * wmax * n_points + 3 * wmax * wmax + 4 * wmax) + 64
    chunk = max(1, int(max_memory) // per_sample)
    if device.type == "cpu":
        chunk = min(chunk, max(256, CPU_CHUNK_BYTES // per_sample))
    return max(1, min(samples, chunk))


class _Progress:
    """A rich progress bar on stderr for long runs (auto: shown on a TTY once a run looks longer than 2 s)."""

    def __init__(self, progress: ProgressArg, total: int, label: str) -> None:
        self.callback = progress if callable(progress) else None
        self.mode = progress if isinstance(progress, bool) else None
        self.total, self.label = total, label
        self.bar: Any = None
        self.task: Any = None
        self.start = time.perf_counter()

    def update(self, done: int) -> None:
        if self.callback is not None:
            self.callback(done, self.total)
            return
        if self.bar is None and self._wanted(done):
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def _wanted(self, done: int) -> bool:
        if self.mode is False:
            return False
        if self.mode is True:
            return True
        if not sys.stderr.isatty() or done <= 0:
            return False
        elapsed = time.perf_counter() - self.start
        return elapsed / done * (self.total - done) > 2.0

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def probe_chain(
    loaded: LoadedModel | None,
    chain: Chain,
    *,
    samples: int,
    points: int = 256,
    domain: tuple[float, float] | None = None,
    data: np.ndarray | None = None,
    seed: int = 0,
    device: str = "auto",
    max_memory: int = 1 << 30,
    init: str = "recorded",
    progress: ProgressArg = None,
    path: str = "auto",
    dtype: torch.dtype = torch.float32,
    chunk: int | None = None,
    tally: _Tally | None = None,
    shortcuts: bool = True,
) -> ProbeResult:
    """Monte-Carlo estimate of P(born dead) for ``chain`` (`dying` Eq. 3.1, `collapse` Lemma 1).

    ``init="recorded"`` samples the layers' recorded initializers (``Layer.weight_init`` / ``bias_init``);
    ``init="rai"`` samples RAI (`dying` §4.1) instead. ``path`` is ``"auto"`` (batched unless an init is custom
    or unknown, then reinstantiate), ``"batched"`` or ``"reinstantiate"``. ``data`` (points × d_in) replaces
    the default domain ``[-√3, √3]^d_in`` (``domain=(lo, hi)`` changes it); ``points`` caps |D|. ``progress``:
    None (auto), True, False, or a ``callback(done, total)``. Ctrl-C raises `ProbeInterrupted` carrying the
    estimate from the finished samples. ``tally`` (if given) receives the raw counts, including how many
    random numbers of each kind were drawn (the benchmark's floor). ``shortcuts=False`` turns off the exact
    2-point reduction and the Gaussian reduction (tests compare both ways); ``chunk`` fixes the chunk size.
    """
    if init not in ("recorded", "rai"):
        raise UsageError(f"unknown probe init {init!r}", hint="--compare rai")
    if path not in ("auto", "batched", "reinstantiate"):
        raise UsageError(f"unknown probe path {path!r}")
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    start = time.perf_counter()
    dev, device_note = resolve_device(device)
    plan = _build_plan(
        loaded,
        chain,
        init=init,
        path=path,
        points=points,
        domain=domain,
        data=data,
        seed=seed,
        shortcuts=shortcuts,
    )
    notes = list(plan.notes) + ([device_note] if device_note else [])
    total = _Tally(dead_units=[0.0] * len(plan.hidden))
    size = chunk or _chunk_size(plan, samples, max_memory, dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(np.random.default_rng([seed, 1 if init == "recorded" else 5]).integers(2**62)))
    seeds = (
        np.random.default_rng([seed, 3]).integers(0, 2**62, size=samples)
        if plan.source == "reinstantiate"
        else None
    )
    bar = _Progress(progress, samples, f"probe chain {chain.index}")
    engine = _run_pair if plan.points.shape[0] <= 2 and not any(p.norm for p in plan.hidden) else _run_points

    def result(extra: Sequence[str] = ()) -> ProbeResult:
        return _result(total, plan, dev, time.perf_counter() - start, init, chain, [*notes, *extra])

    try:
        with torch.no_grad():
            done = 0
            while done < samples:
                n = min(size, samples - done)
                if seeds is not None:
                    assert loaded is not None
                    built = [done]

                    def tick(built: list[int] = built) -> None:
                        built[0] += 1
                        bar.update(built[0])

                    weights = _rebuild_weights(loaded, chain, seeds[done : done + n], dev, dtype, tick)
                    source = _preloaded_source(weights)
                else:
                    source = _batched_source(plan, gen, dtype, total.drawn)
                total.add(engine(plan, n, source, gen, dtype, total.drawn))
                done += n
                bar.update(done)
    except KeyboardInterrupt:
        bar.close()
        raise ProbeInterrupted(result([f"interrupted: {total.samples} of {samples} samples"])) from None
    bar.close()
    if tally is not None:
        tally.add(total)
    return result()


def _result(
    total: _Tally, plan: _Plan, dev: torch.device, seconds: float, init: str, chain: Chain, notes: list[str]
) -> ProbeResult:
    n = total.samples
    ci = wilson_interval(total.born_dead, n)
    fractions = tuple(d / n for d in total.dead_units) if n else ()
    notes = notes + _bound_notes(chain, plan, ci, init)
    return ProbeResult(
        samples=n,
        born_dead=total.born_dead,
        ci=ci,
        near_constant=total.near_constant,
        device=str(dev),
        seconds=seconds,
        method=plan.method,
        dead_unit_fraction=fractions,
        init=init,
        notes=tuple(notes),
    )


def _bound_notes(chain: Chain, plan: _Plan, ci: tuple[float, float], init: str) -> list[str]:
    """A warning when the estimate exceeds `collapse` Thm 8's upper bound beyond its interval, and why."""
    from relulint.theory.collapse import p_born_dead_upper

    upper = p_born_dead_upper(chain.hidden_widths)
    if ci[0] <= upper:
        return []
    reasons = []
    laws = [p.weight.kind for p in plan.hidden if p.weight is not None]
    if plan.source == "reinstantiate":
        reasons.append("the weights come from custom code (the theorem needs independent symmetric entries)")
    if "orthogonal" in laws:
        reasons.append("orthogonal rows are dependent")
    if "rai" in laws or init == "rai":
        reasons.append("RAI is asymmetric (its bound is dying Thm 4.1)")
    if any(p.weight is not None and p.weight.mean != 0.0 for p in plan.hidden):
        reasons.append("the weights are not centred")
    if not plan.bias_free:
        reasons.append("the biases are not symmetric or not zero")
    if any(p.norm for p in plan.hidden):
        reasons.append("normalization layers")
    if not reasons:
        reasons.append("the inputs D are not a single fixed input")
    return [
        f"estimate above the collapse Thm 8 bound {upper:.4g} beyond its 95 % interval: the theory does not"
        f" cover this case ({'; '.join(reasons)})"
    ]
