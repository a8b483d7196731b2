"""The probe: a Monte-Carlo estimate of a chain's born-dead probability for *this* model's init.

Definition (`dying` Eq. 3.1): a sample of the parameters is born dead when the network is constant on the
input set D. Almost surely that happens exactly when some hidden (ReLU) layer is zero at every x in D
(`collapse` Lemma 1), which is what the probe counts, exactly (no threshold). It counts separately the
samples that are *numerically* near-constant without a zero layer (relative output spread below 1e-6:
the signal-length decay of PyTorch's default init, `collapse` Eq. 2-3), and per hidden layer the mean
fraction of units that carry no signal (zero at every x in D, or the sample already died before it; in a
Gaussian-reduced bias-free layer, its expectation given the layer's inputs, ``1/4 + asin(cos θ) / 2π`` per
unit: the same mean, less variance, no pass over the units).

How it samples (``ProbeResult.method`` / ``notes`` say which path ran):

* **batched**: the parameters of every layer are drawn for a whole block of samples at once from the
  recorded initializers (`relulint.probe_sampling`), on the probe's own ``torch.Generator`` per block.
* **reinstantiate**: where an init is custom or unknown, the model's own construction
  (``LoadedModel.rebuild``) runs once per sample under a fork of the global RNGs (torch, numpy, random)
  seeded from ``seed``; the chain's Linear modules are read by qualified name. Slow; progress bar.
* **exact-2-point**: a bias-free chain with ``d_in = 1`` is positively homogeneous, ``h(x) = |x| h(sign x)``,
  so a layer is zero on all of D iff it is zero at ``-1`` and ``+1`` (the signs present in D): D is
  replaced by those two points, exactly, for any domain or data (`DESIGN.md`, `dying` Thm 3.3's setting).
* **gaussian-reduced**: for a layer with iid centred Gaussian weights (He / Xavier / normal) and a
  Gaussian, constant or absent bias, only the joint law of its pre-activations at the points of D matters:
  given the previous layer's outputs ``H`` the ``N`` units are iid ``N(m 1, σ_w² G + σ_b² 11ᵀ)`` with
  ``G = H Hᵀ`` the Gram matrix of the points, whatever the signs of its entries. With ``|D| <= 2`` the probe
  draws ``|D| N`` correlated normals (Cholesky of the 2 x 2 covariance) instead of the ``N N_prev`` weights;
  used where ``|D| < N_prev``.

Scale: a bias-free hidden stack is positively homogeneous, so the probe may divide each sample's (and, with
``|D| <= 2``, each point's) hidden state by any positive number to keep float32 in range; it carries the
log of those factors per sample and point and puts them back (with the output bias) before it compares the
outputs for the near-constant count.

Speed: vectorised over samples, samples already dead are dropped (early exit), float32. The samples are
drawn in fixed blocks, each from a generator seeded from (seed, block index); ``max_memory`` only sets how
many blocks run at once, so the result is deterministic for a given seed and device. torch draws a
generator's numbers on one thread, so on a CPU two chunks run at once (`_workers`, threads), each on its
own blocks' generators: both cores draw, and neither idles while the other does the arithmetic. After a
ReLU, a Gaussian-reduced bias-free layer at two points (the common case: deep bias-free chains) runs as one
step, lerp, ReLU and Gram (`relulint.pair_step`), in plain PyTorch (no compiler at run time). Runs on CUDA when asked
(``device="auto"`` picks it when present) and falls back to the CPU with a note; the global RNG states are
left untouched.
"""

from __future__ import annotations

import math
import queue
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from relulint.errors import DataError, LoadError, UsageError
from relulint.facts import Chain, Layer, LoadedModel, ProbeResult
from relulint.pair_step import Scratch, gram_of, lerp_factor, pair_step, relu_state, tally_expected
from relulint.probe_sampling import (
    DrawCounter,
    Law,
    draw,
    draw_layer,
    he_normal_law,
    pytorch_default_law,
    resolve_bias,
    resolve_weight,
)
from relulint.sandbox import seeded_global_rng

__all__ = [
    "NEAR_CONSTANT_RTOL",
    "ProbeInterrupted",
    "load_probe_data",
    "parse_device",
    "probe_chain",
    "resolve_device",
    "status_progress",
    "wilson_interval",
]

NEAR_CONSTANT_RTOL = 1e-6  # relative output spread below which a live sample counts as near-constant
DEFAULT_HALF_WIDTH = math.sqrt(3.0)  # the papers' input domain [-√3, √3]^d_in (`dying` §5)
CPU_CHUNK_BYTES = 16 << 20  # working set per chunk on the CPU: small enough to stay in cache
# working set of one block of samples (each block has its own generator): fixed per device type, so the
# draws never depend on --max-memory, which only sets how many blocks run at once
BLOCK_BYTES = {"cpu": 16 << 20, "cuda": 64 << 20}
COMPACT_BELOW = 0.75  # drop dead samples from the chunk once fewer than this fraction is alive
ENTRYWISE = ("normal", "uniform", "trunc-normal", "constant")  # laws with iid entries
FIXED = 1 << 16  # dead-unit tallies: integer multiples of 1 / FIXED units (exact sums in any order)
RENORMALIZE_EVERY = 8  # bias-free chains: rescale every few layers (exact by homogeneity; avoids underflow)
ProgressArg = bool | Callable[[int, int], None] | None
_T = TypeVar("_T")


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


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def parse_device(text: str | None) -> str:
    """Validate ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (any case, spaces trimmed); the
    normalized text, or `UsageError`. Never touches CUDA (the GPU is looked for when the probe runs)."""
    value = (text or "auto").strip().lower()
    if not _DEVICE.fullmatch(value):
        raise UsageError(f"unknown device {text!r}", hint="--device auto, cpu, cuda or cuda:N (e.g. cuda:0)")
    return value


def resolve_device(device: str | None = "auto") -> tuple[torch.device, str | None]:
    """``auto`` → CUDA when available, else CPU; ``cuda`` / ``cuda:N`` without that GPU → CPU with a note
    (never an error). An unknown name is a `UsageError` (`parse_device`)."""
    text = parse_device(device)
    if text == "auto":
        return (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")), None
    if text == "cpu":
        return torch.device("cpu"), None
    if not torch.cuda.is_available():
        return torch.device("cpu"), "no CUDA device; ran on CPU"
    index, count = int(text.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        return torch.device("cpu"), f"no CUDA device {index} ({count} present); ran on CPU"
    return torch.device(text), None


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
    bias_free: bool  # every hidden layer bias-free (the output layer may have a bias)
    method: str
    notes: tuple[str, ...]
    pair: bool = False  # |D| <= 2 and no normalization: the `_run_pair` engine (Gaussian reduction allowed)


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
    _check_domain(lo, hi)
    rng = np.random.default_rng([seed, 2])
    notes.append(f"D: {points} points uniform on [{lo:.4g}, {hi:.4g}]^{d_in}")
    return rng.uniform(lo, hi, size=(max(1, points), d_in)), None, False, notes


def _check_domain(lo: float, hi: float) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"bad probe domain {lo},{hi}", hint="--domain LOW,HIGH with LOW < HIGH")


def _domain_extremes(lo: float, hi: float) -> tuple[list[float], bool]:
    _check_domain(lo, hi)
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
        pair=pair,
    )


def _maybe_reduce(plan: _LayerPlan, n_points: int, source: str) -> _LayerPlan:
    """Use the Gaussian reduction where it is exact and draws fewer numbers (``|D| <= 2 < fan_in``).

    Exact for any inputs, signs included: given the layer's inputs at the points of D, iid centred Gaussian
    rows make each unit's pre-activations ``N(μ, σ² G + σ_b² 11ᵀ)`` whatever the signs of the Gram ``G``
    (the first layer sees raw inputs, which may point in opposite directions). ``source`` is ``"batched"``
    only where the `_run_pair` engine runs (``|D| <= 2``, no normalization).
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


# --------------------------------------------------------------------------------------------- engine


@dataclass
class _Tally:
    """Counts from a run of samples (summed over chunks)."""

    samples: int = 0
    born_dead: int = 0
    near_constant: int = 0
    dead_units: list[int] = field(default_factory=list)  # per layer: Σ dead units, × FIXED (exact sums)
    drawn: DrawCounter = field(default_factory=DrawCounter)
    workers: int = 1  # chunks that ran at once (threads): the benchmark's floor draws on as many streams

    def add(self, other: _Tally) -> None:
        self.workers = max(self.workers, other.workers)
        self.samples += other.samples
        self.born_dead += other.born_dead
        self.near_constant += other.near_constant
        if not self.dead_units:
            self.dead_units = [0] * len(other.dead_units)
        self.dead_units = [a + b for a, b in zip(self.dead_units, other.dead_units, strict=True)]
        self.drawn.merge(other.drawn)


def _block_generator(device: torch.device, seed: int, stream: int, block: int) -> torch.Generator:
    """The generator of one block of samples: seeded from ``(seed, stream, block index)`` only."""
    state = np.random.SeedSequence([seed & (2**64 - 1), stream, block]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed((int(state[0]) << 31) ^ int(state[1]))
    return gen


class _Draws:
    """The random numbers of one chunk, drawn block by block.

    Each block of samples draws from its own generator (`_block_generator`), for the rows of that block still
    present, in the same calls whatever else the chunk holds: the results depend on the seed, the device
    and the block size, never on how many blocks a chunk holds (``max_memory``).
    """

    def __init__(self, gens: Sequence[torch.Generator], dtype: torch.dtype, drawn: DrawCounter) -> None:
        self.gens = list(gens)
        self.dtype = dtype
        self.drawn = drawn
        self.device = self.gens[0].device

    def _blocks(self, present: Sequence[int]) -> list[tuple[torch.Generator, int]]:
        pairs = list(zip(self.gens, present, strict=True))
        return pairs if len(pairs) == 1 else [(g, k) for g, k in pairs if k > 0]

    def normal(
        self, lead: tuple[int, ...], present: Sequence[int], out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Standard normals ``(*lead, rows)``: one call per block, samples along the last dimension.

        ``out``: a flat buffer whose first elements receive them, instead of a new tensor.
        """
        shape = (*lead, sum(present))
        if out is not None:
            out = out[: math.prod(shape)].view(shape)
        blocks = self._blocks(present)
        for _, k in blocks:
            self.drawn.add("normal", math.prod(lead) * k)
        if len(blocks) == 1:
            target = out if out is not None else torch.empty(shape, device=self.device, dtype=self.dtype)
            return target.normal_(generator=blocks[0][0])
        parts = [
            torch.empty((*lead, k), device=self.device, dtype=self.dtype).normal_(generator=gen)
            for gen, k in blocks
        ]
        return torch.cat(parts, dim=-1, out=out) if out is not None else torch.cat(parts, dim=-1)

    def layer(self, layer: _LayerPlan, present: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One layer's ``(W (rows, out, in), b (rows, out) | None)`` for the rows present, block by block."""
        assert layer.weight is not None
        bias = None if layer.zero_bias else layer.bias
        ws, bs = [], []
        for gen, k in self._blocks(present):
            w, b = draw_layer(
                layer.weight,
                bias,
                k,
                layer.out_features,
                layer.in_features,
                gen,
                dtype=self.dtype,
                counter=self.drawn,
            )
            ws.append(w)
            bs.append(b)
        if len(ws) == 1:
            return ws[0], bs[0]
        return torch.cat(ws), (None if bs[0] is None else torch.cat([b for b in bs if b is not None]))

    def layer_samples_last(
        self, layer: _LayerPlan, present: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W (out, in, rows), b (out, rows) | None)`` for an entrywise law (iid entries, so any layout is the
        same law): samples last, as the pair engine holds its states."""
        assert layer.weight is not None and layer.weight.kind in ENTRYWISE
        bias = layer.bias
        if bias is not None and bias.is_zero:
            bias = None
        shape = (layer.out_features, layer.in_features)
        ws, bs = [], []
        for gen, k in self._blocks(present):
            ws.append(draw(layer.weight, (*shape, k), gen, dtype=self.dtype, counter=self.drawn))
            if bias is not None:
                bs.append(draw(bias, (layer.out_features, k), gen, dtype=self.dtype, counter=self.drawn))
        w = ws[0] if len(ws) == 1 else torch.cat(ws, dim=-1)
        b = None if not bs else (bs[0] if len(bs) == 1 else torch.cat(bs, dim=-1))
        return w, b


WeightSource = Callable[[int, "_Run"], tuple[torch.Tensor, torch.Tensor | None]]


def _batched_source(plan: _Plan, draws: _Draws) -> WeightSource:
    layers = (*plan.hidden, *((plan.output,) if plan.output is not None else ()))

    def source(index: int, run: _Run) -> tuple[torch.Tensor, torch.Tensor | None]:
        return draws.layer(layers[index], run.present)

    return source


def _preloaded_source(tensors: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> WeightSource:
    def source(index: int, run: _Run) -> tuple[torch.Tensor, torch.Tensor | None]:
        w, b = tensors[index]
        if run.rows == run.n:
            return w, b
        return w.index_select(0, run.ids), (b.index_select(0, run.ids) if b is not None else None)

    return source


class _Run:
    """Bookkeeping of one chunk: alive rows, born-dead count, dead units per layer (`collapse` Lemma 1).

    The chunk is ``len(sizes)`` blocks of samples, rows in block order. Dead rows stay until their *block*
    drops them (fewer than ``COMPACT_BELOW`` of its present rows alive), so each block's draws (one call per
    layer for its present rows) are the same whether it runs alone or beside other blocks.
    """

    def __init__(self, sizes: Sequence[int], layers: int, device: torch.device) -> None:
        self.n = sum(sizes)
        self.present = list(sizes)  # rows of each block in the current tensors
        self.alive_count = list(sizes)  # alive samples of each block
        self.rows = self.alive_rows = self.n
        self.ids = torch.arange(self.n, device=device)  # chunk-local sample of each row
        self.alive = torch.ones(self.n, dtype=torch.bool, device=device)
        self.block_of_row = (
            torch.repeat_interleave(
                torch.arange(len(sizes), device=device), torch.tensor(list(sizes), device=device)
            )
            if len(sizes) > 1
            else None
        )
        self.tally = _Tally(samples=self.n, dead_units=[0] * layers)

    def record(self, index: int, live_units: torch.Tensor, width: int) -> int:
        """After hidden layer ``index``: count its dead units and the samples it kills; returns alive rows.

        Samples that died before this layer count as all of its units dead (they carry no signal).
        """
        partial = self.alive_rows < self.rows
        exact32 = width * self.rows < 1 << 24  # integer-valued: a float32 sum is exact below 2^24
        if not partial and self.block_of_row is None:  # the common case, in as few small ops as possible
            total = live_units.sum() if exact32 else live_units.sum(dtype=torch.float64)
            live_sum, nonzero = torch.stack([total, torch.count_nonzero(live_units).to(total.dtype)]).tolist()
            return self._killed(index, round(live_sum) * FIXED, self.rows - int(nonzero), width, live_units)
        dead = live_units == 0
        died = dead & self.alive if partial else dead
        live = live_units * self.alive if partial else live_units
        live = (live.sum() if exact32 else live.sum(dtype=torch.float64)).round().to(torch.int64)
        return self._account(index, live * FIXED, died, width)

    def record_expected(self, index: int, phi: torch.Tensor | None, zero: torch.Tensor, width: int) -> int:
        """:meth:`record` for a Gaussian-reduced bias-free layer, given ``phi = asin(cos θ)`` (float64; None for
        one point; one element when every row has the same inputs) for the angle ``θ`` between the points'
        inputs and ``zero`` (m,) bool: the layer is zero at every point.

        Given its inputs, a unit is dead at both points with probability ``1/4 + asin(cos θ) / 2π`` (1/2 for
        one point); the live units are counted as ``width`` times the complement of that (Rao-Blackwell: the
        same mean as the count, less variance, no pass over the units), per row in fixed point (integers,
        summed exactly in float64 below 2^53) so that the sums are exact whatever the chunking.
        """
        if phi is None or phi.numel() == 1:  # one point, or the first layer: one angle for every row
            p_live = 0.5 if phi is None else 0.75 - float(phi) / (2 * math.pi)
            died = zero & self.alive if self.alive_rows < self.rows else zero
            return self._account(index, round(width * p_live * FIXED) * self.alive_rows, died, width)
        died = torch.empty_like(zero)
        scale, offset = -width * FIXED / (2 * math.pi), 0.75 * width * FIXED
        live, killed = tally_expected(phi, zero, self.alive, died, scale, offset)
        return self._book(index, live, died, killed, width)

    def _killed(self, index: int, live_fixed: int, killed: int, width: int, live: torch.Tensor) -> int:
        """The all-alive single-block case: ``killed`` rows died, the alive ones are where ``live != 0``."""
        self.tally.dead_units[index] += self.n * width * FIXED - live_fixed
        if killed:
            self.tally.born_dead += killed
            self.alive = live != 0
            self.alive_rows -= killed
            self.alive_count = [self.alive_count[0] - killed]
        return self.alive_rows

    def _account(self, index: int, live: int | torch.Tensor, died: torch.Tensor, width: int) -> int:
        """Add a layer's live units (fixed point, summed over the alive rows: an int, or an integer-valued
        tensor) and the rows it kills (``died``, bool per row)."""
        if isinstance(live, int):
            live_fixed, killed = live, int(died.sum())
        else:
            live_fixed, killed = torch.stack([live.to(torch.int64), died.sum()]).tolist()
        if killed:
            self.alive &= ~died
        return self._book(index, int(live_fixed), died, int(killed), width)

    def _book(self, index: int, live_fixed: int, died: torch.Tensor, killed: int, width: int) -> int:
        """Book a layer's live units (fixed point) and the ``killed`` rows (``died``, already out of
        ``alive``); returns the alive rows."""
        self.tally.dead_units[index] += self.n * width * FIXED - live_fixed
        if killed:
            if self.block_of_row is None:
                per_block = [killed]
            else:
                stats = torch.zeros(len(self.present), dtype=torch.int64, device=died.device)
                per_block = stats.index_add_(0, self.block_of_row, died.to(torch.int64)).tolist()
            self.tally.born_dead += killed
            self.alive_rows -= killed
            self.alive_count = [a - d for a, d in zip(self.alive_count, per_block, strict=True)]
        return self.alive_rows

    def finish_dead(self, start: int, widths: Sequence[int]) -> None:
        for index in range(start, len(self.tally.dead_units)):
            self.tally.dead_units[index] += self.n * widths[index] * FIXED

    def compact(self) -> torch.Tensor | None:
        """Drop the dead rows of the blocks that are mostly dead; the kept row indices (None: nothing to do)."""
        flags = [a < COMPACT_BELOW * p for a, p in zip(self.alive_count, self.present, strict=True)]
        if not any(flags):
            return None
        if self.block_of_row is None:
            keep = self.alive.nonzero().squeeze(1)
        else:
            dropping = torch.tensor(flags, device=self.alive.device).index_select(0, self.block_of_row)
            keep = (self.alive | ~dropping).nonzero().squeeze(1)
            self.block_of_row = self.block_of_row.index_select(0, keep)
        self.present = [a if f else p for a, p, f in zip(self.alive_count, self.present, flags, strict=True)]
        self.ids = self.ids.index_select(0, keep)
        self.alive = self.alive.index_select(0, keep)
        self.rows = keep.numel()
        return keep


def _near_constant(values: torch.Tensor, alive: torch.Tensor) -> int:
    """Samples whose outputs ``values`` (m, d_out, E) vary by less than 1e-6 of their size over D."""
    spread = (values.amax(dim=2) - values.amin(dim=2)).amax(dim=1)
    scale = values.abs().amax(dim=(1, 2))
    near = alive & (scale > 0) & (spread <= NEAR_CONSTANT_RTOL * scale)
    return int(near.sum())


def _count_near(
    plan: _Plan,
    signal: torch.Tensor,
    bias: torch.Tensor | None,
    log_scale: torch.Tensor | None,
    alive: torch.Tensor,
) -> int:
    """Near-constant samples from the output layer's ``signal = W h`` (m, d_out, P) and ``bias`` (m, d_out).

    ``log_scale`` (m, P) or (m, 1), float64: the hidden state ``h`` at point p is the true one divided by
    ``exp(log_scale[:, p])`` (the bias-free rescaling); the outputs are put back on one scale per sample, in
    float64, *with* the bias: ``o_p = exp(s_p) W h_p + b``, all divided by ``exp(max_p s_p)``.
    """
    if log_scale is not None:
        shift = log_scale.amax(dim=1, keepdim=True)
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        signal = signal.to(torch.float64) * (log_scale - shift).exp().unsqueeze(1)
        if (
            bias is not None
        ):  # beyond e^700 the bias swamps any signal: the sample is near-constant either way
            bias = bias.to(torch.float64) * (-shift).clamp_max_(700.0).exp()
    if plan.extremes is None:
        values = signal + bias.unsqueeze(2) if bias is not None else signal
        return _near_constant(values, alive)
    # exact-2-point: out(x) = b + |x| W h(sign x) (positively homogeneous), at the extremes of D
    column = {math.copysign(1.0, float(v)): i for i, v in enumerate(plan.points[:, 0])}
    base = bias if bias is not None else torch.zeros_like(signal[..., 0])
    columns = [
        base if x == 0.0 else base + abs(x) * signal[..., column[math.copysign(1.0, x)]]
        for x in plan.extremes
    ]
    return _near_constant(torch.stack(columns, dim=2), alive)


def _points_gram(xs: np.ndarray, device: torch.device) -> torch.Tensor:
    """The Gram of the fixed points (float64), as `relulint.pair_step.gram_of` lays it out: (3, 1) for two
    points, (1, 1) for one."""
    g = xs @ xs.T
    rows = [[g[0, 0]], [g[1, 1]], [g[0, 1]]] if len(xs) == 2 else [[g[0, 0]]]
    return torch.tensor(rows, dtype=torch.float64, device=device)


class _Workspace:
    """Flat buffers reused across layers and chunks for the pair engine's big tensors (fresh memory costs a
    page fault per 4 KiB, more than the arithmetic)."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype
        self.buffers: dict[tuple[int, torch.dtype], torch.Tensor] = {}

    def flat(self, index: int, numel: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Buffer ``index`` (of ``dtype``, default the draws') with at least ``numel`` elements."""
        key = (index, dtype or self.dtype)
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < numel:
            buf = self.buffers[key] = torch.empty(numel, device=self.device, dtype=key[1])
        return buf

    def take(self, index: int, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
        """A contiguous ``shape`` view of buffer ``index`` (its first elements)."""
        numel = math.prod(shape)
        return self.flat(index, numel, dtype)[:numel].view(shape)


def _split(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(|h_p|² (P, m), h_0·h_1 (m,) | None)`` from a Gram ``(|h_0|², |h_1|², h_0·h_1)`` (3, m) or ``|h_0|²``
    (1, m) (`relulint.pair_step.gram_of`)."""
    return (gram[:2], gram[2]) if gram.shape[0] == 3 else (gram, None)


# the pair engine's buffers: the draws and states alternate between 0 and 1; float64 Grams alternate
# between 3 and 4 (a layer's input and output), cos θ in 5, the PyTorch path's scratch in 6, the zero flags
# in 7, a drawn layer's live units and largest units in 8 and 9 (distinct indices: with float64 draws the
# dtypes coincide)
GRAMS, COS, SCRATCH, ZERO, LIVE, TOP = (3, 4), 5, 6, 7, 8, 9


def _scratch(ws: _Workspace) -> Scratch:
    return lambda numel: ws.flat(SCRATCH, numel, torch.float64)


def _state_gram(h: torch.Tensor, ws: _Workspace, slot: int) -> torch.Tensor:
    """`gram_of` the states ``h`` (P, N, m) into float64 buffer ``GRAMS[slot]``."""
    n_points, _, rows = h.shape
    out = ws.take(GRAMS[slot], (3 if n_points == 2 else 1, rows), torch.float64)
    return gram_of(h, out, _scratch(ws))


def _gaussian_pre(
    sq: torch.Tensor, uv: torch.Tensor | None, layer: _LayerPlan, eps: torch.Tensor
) -> torch.Tensor:
    """Pre-activations (P, N, m) at ≤ 2 points of ``N`` iid Gaussian units given the Gram of the inputs.

    Unit ``j`` sees ``z_j = (w_j·h_p + b_j)_p ~ N(μ, σ² G + σ_b² 11ᵀ)`` (iid over j; ``σ² = Var(w)``), for any
    sign of ``G``'s entries; drawn as ``μ + L ε`` with the closed-form 2 x 2 Cholesky factor ``L``. ``eps``
    (standard normal) is overwritten.
    """
    assert layer.weight is not None
    var_w = layer.weight.std**2
    var_b, mean_b = 0.0, 0.0
    if layer.bias is not None:
        mean_b = layer.bias.mean
        var_b = layer.bias.std**2 if layer.bias.kind == "normal" else 0.0
    l11 = (sq[0] * var_w + var_b).sqrt()
    if eps.shape[0] == 2:
        assert uv is not None
        c01 = uv * var_w + var_b
        c11 = sq[1] * var_w + var_b
        l21 = torch.where(l11 > 0, c01 / l11.clamp_min(1e-30), torch.zeros_like(l11))
        l22 = (c11 - l21 * l21).clamp_min_(0.0).sqrt_()
        eps[1].mul_(l22.to(eps.dtype)).addcmul_(eps[0], l21.to(eps.dtype))
    eps[0].mul_(l11.to(eps.dtype))
    return eps.add_(mean_b) if mean_b else eps


def _angle(sq: torch.Tensor, uv: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(cos θ, sin θ)`` between the two points' states from their Gram (``cos θ = 1`` where a point is zero,
    a copy of the other; ``sin θ >= 1e-15``: sqrt of exact zeros is slow on x86, and it is below float32's
    ulp). ``(None, None)`` for one point."""
    if uv is None:
        return None, None
    uu, vv = sq.unbind(0)
    cos = (uv * (uu * vv).rsqrt_()).nan_to_num_(nan=1.0).clamp_(-1.0, 1.0)  # 0 · ∞ where a point is zero
    sin = (1.0 - cos.square()).clamp_min_(1e-30).sqrt_()
    return cos, sin


def _gaussian_pre_scalefree(
    eps: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None, *, lerp: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`_gaussian_pre` for a bias-free layer, up to a positive factor per sample and point (exact here).

    Bias-free layers are positively homogeneous, so each point's pre-activations may be divided by any
    positive number. Given the angle ``θ`` between the points' inputs (`_angle`; any sign of ``cos θ``: raw
    inputs may point in opposite directions) the pair is ``(σ|h_0| ε_0, σ|h_1| (cos θ ε_0 + sin θ ε_1))``. The
    probe keeps ``z_0 = ε_0`` and, with ``lerp`` (needs ``cos θ + sin θ > 0``: always so after a ReLU), one
    lerp ``z_1 = t ε_0 + (1 - t) ε_1``, ``t = cos θ / (cos θ + sin θ)`` (factor ``σ|h_1| (cos θ + sin θ)``);
    otherwise ``z_1 = cos θ ε_0 + sin θ ε_1`` (factor ``σ|h_1|``). A point whose layer is zero stays zero
    whatever follows; it gets ``cos θ = 1`` (a copy of the other point, factor 0), which changes neither
    which layers are zero nor which units are. ``eps`` is overwritten.

    Returns ``(z, g)``: ``g`` (m,) is point 1's factor beyond ``σ|h_1|`` (None: 1).
    """
    if cos is None or sin is None:
        return eps, None
    z0, z1 = eps.unbind(0)
    if lerp:
        total = cos + sin
        z1.lerp_(z0, (cos / total).to(eps.dtype))
        return eps, total
    z1.mul_(sin.to(eps.dtype)).addcmul_(z0, cos.to(eps.dtype))
    return eps, None


def _pair_affine(
    w: torch.Tensor, b: torch.Tensor | None, h: torch.Tensor | None, xs: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``W h_p + b`` for every point into ``out`` (P, N, m), from ``W (m, N, K)`` and ``h (P, K, m)`` (None:
    the fixed points ``xs``)."""
    m, n_out, k = w.shape
    z = out[: xs.shape[0] * n_out * m].view(xs.shape[0], n_out, m)
    if h is None:
        z.copy_(torch.matmul(xs, w.reshape(m * n_out, k).T).view(-1, m, n_out).transpose(1, 2))
    else:
        z.copy_(torch.bmm(w, h.permute(2, 1, 0)).permute(2, 1, 0))
    return z.add_(b.T) if b is not None else z


def _points_affine_samples_last(
    w: torch.Tensor, b: torch.Tensor | None, xs: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``W x_p + b`` into ``out`` (P, N, m) from ``W (N, K, m)``, ``b (N, m)`` (samples last) and points ``xs``."""
    n_out, k, m = w.shape
    z = out[: xs.shape[0] * n_out * m].view(xs.shape[0], n_out, m)
    if k == 1:
        torch.mul(w.view(1, n_out, m), xs.view(-1, 1, 1), out=z)
    else:
        torch.matmul(xs, w.permute(1, 0, 2).reshape(k, n_out * m), out=z.view(-1, n_out * m))
    return z.add_(b) if b is not None else z


def _run_pair(
    plan: _Plan,
    run: _Run,
    draws: _Draws | None,
    source: WeightSource,
    dtype: torch.dtype,
    workspace: _Workspace | None = None,
) -> _Tally:
    """The engine for ``|D| <= 2`` (exact-2-point and 2-point data): hidden states ``(P, N, m)``.

    Samples last, so per-sample coefficients broadcast along contiguous memory and sums over the units are
    plain adds of rows; the big tensors live in reused buffers. Bias-free chains are carried up to a positive
    factor per sample and point (Gaussian reduction: see `_gaussian_pre_scalefree`; drawn layers: divided by
    the largest unit every few layers and before a reduced layer); ``log_scale`` (P, m) accumulates the log
    of those factors when the near-constant count needs them.
    """
    device = run.ids.device
    xs = torch.as_tensor(plan.points, dtype=dtype, device=device)
    n_points = xs.shape[0]
    log_scale = (
        torch.zeros((n_points, run.rows), dtype=torch.float64, device=device)
        if plan.bias_free and not plan.skip_near
        else None
    )
    ws = workspace or _Workspace(device, dtype)  # buffers: see GRAMS
    widths = [p.out_features for p in plan.hidden]
    slot = gslot = 0
    h: torch.Tensor | None = None
    # the Gram of the current state (float64, `_split`), where a reduced layer needs it
    gram: torch.Tensor | None = None
    last = len(plan.hidden) - 1
    for index, layer in enumerate(plan.hidden):
        phi: torch.Tensor | None = None  # asin(cos θ) between the points' inputs (float64), reduced layers
        width = layer.out_features
        next_reduced = index < last and plan.hidden[index + 1].reduced
        fused = False
        if layer.reduced:
            assert draws is not None and layer.weight is not None
            sq, uv = _split(gram if gram is not None else _points_gram(plan.points, device))
            # the previous state is not read (only its Gram): draw over it, keep the working set small
            slot = 0
            eps = draws.normal((n_points, width), run.present, out=ws.flat(slot, n_points * width * run.rows))
            if plan.bias_free and log_scale is not None:
                log_scale.add_(sq.log().mul_(0.5).add_(math.log(layer.weight.std)))
            if plan.bias_free and gram is not None and uv is not None:
                # after a ReLU, at two points: lerp, ReLU and the Gram in one pass (`relulint.pair_step`)
                if log_scale is not None:
                    log_scale[1].add_(lerp_factor(gram).log_())
                gslot ^= 1
                out_gram = ws.take(GRAMS[gslot], (3, run.rows), torch.float64)
                cos = ws.take(COS, (run.rows,), torch.float64)
                zero = ws.take(ZERO, (run.rows,), torch.bool)
                pair_step(gram, eps, out_gram, cos, zero, _scratch(ws))
                h, gram, phi, fused = eps, out_gram, cos.asin_(), True
            elif plan.bias_free:  # the raw points (any sign of cos θ), or one point
                cos, sin = _angle(sq, uv)
                phi = torch.asin(cos) if cos is not None else None
                lerp = cos is None or bool((cos + sin > 0).all())
                z, extra = _gaussian_pre_scalefree(eps, cos, sin, lerp=lerp)
                if log_scale is not None and extra is not None:
                    log_scale[1].add_(extra.log())
            else:
                z = _gaussian_pre(sq, uv, layer, eps)
        else:
            slot ^= 1  # reads the state in the other buffer
            out = ws.flat(slot, n_points * layer.out_features * run.rows)
            if (
                h is None
                and draws is not None
                and layer.weight is not None
                and layer.weight.kind in ENTRYWISE
            ):
                w, b = draws.layer_samples_last(layer, run.present)
                z = _points_affine_samples_last(w, b, xs, out)
            else:
                w, b = source(index, run)
                z = _pair_affine(w, b, h, xs, out)
        top: torch.Tensor | None = None  # each point's largest unit (P, m), drawn layers
        if fused or (layer.reduced and plan.bias_free and next_reduced):
            # Rao-Blackwell: the Gram is at hand (or the next layer needs it); a layer is zero iff Σ h² = 0 at
            # both points, and given its inputs a unit is dead with probability 1/4 + asin(cos θ) / 2π (1/2
            # for one point): count that expectation instead of the units (same mean, no pass over them)
            if not fused:
                h = z.clamp_min_(0.0)
                gslot ^= 1
                gram = _state_gram(h, ws, gslot)
                zero = (gram[0] == 0) & (gram[1] == 0) if n_points == 2 else gram[0] == 0
            remaining = run.record_expected(index, phi, zero, width)
        else:
            gram = None
            # ReLU, live units per sample and the largest unit per point, in one pass
            live, top = ws.take(LIVE, (run.rows,)), ws.take(TOP, (n_points, run.rows))
            relu_state(z, live, top)
            h = z
            remaining = run.record(index, live, width)
        if remaining == 0:
            run.finish_dead(index + 1, widths)
            return run.tally
        if (
            plan.bias_free
            and not layer.reduced
            and (next_reduced or index % RENORMALIZE_EVERY == RENORMALIZE_EVERY - 1)
        ):
            assert top is not None  # a drawn layer
            top.clamp_min_(1e-30)
            h.div_(top.unsqueeze(1))
            if log_scale is not None:
                log_scale.add_(top.to(torch.float64).log_())
        keep = run.compact()
        if keep is not None:
            if not (fused and next_reduced):  # else h is not read again: the next layer reads only the Gram
                slot ^= 1
                h = torch.index_select(h, 2, keep, out=ws.take(slot, (*h.shape[:2], keep.numel())))
            log_scale = log_scale.index_select(1, keep) if log_scale is not None else None
            if gram is not None:
                gram = gram.index_select(1, keep)
        if next_reduced and gram is None:
            gslot ^= 1
            gram = _state_gram(h, ws, gslot)
    assert h is not None
    if plan.skip_near:
        return run.tally
    if plan.output is not None:
        w, b = source(len(plan.hidden), run)
        signal = torch.bmm(w, h.permute(2, 1, 0))  # (m, d_out, P)
    else:
        signal, b = h.permute(2, 1, 0), None
    scale = log_scale.T if log_scale is not None else None
    run.tally.near_constant = _count_near(plan, signal, b, scale, run.alive)
    return run.tally


def _normalize(
    z: torch.Tensor, norm: str | None, log_scale: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Training-mode BatchNorm over D (per unit) or LayerNorm (per point) at init (γ = 1, β = 0).

    ``z`` (m, N, P). With ``log_scale`` (m,) the true pre-activations are ``exp(log_scale) z`` (the bias-free
    rescaling); the norm's ``eps`` is not scale-free, so it is applied to the true values, in float64, and
    the result comes back divided by its largest entry with the new ``log_scale``.
    """
    if norm not in ("batchnorm", "layernorm"):
        return z, log_scale
    dim = 2 if norm == "batchnorm" else 1
    if log_scale is None:
        mean = z.mean(dim=dim, keepdim=True)
        var = z.var(dim=dim, keepdim=True, unbiased=False)
        return (z - mean) / torch.sqrt(var + 1e-5), None
    z64 = z.to(torch.float64)
    centred = z64 - z64.mean(dim=dim, keepdim=True)
    var = centred.square().mean(dim=dim, keepdim=True)
    # (z - mean) / sqrt(var + 1e-5 e^{-2s}) = e^{-a/2} (z - mean) / sqrt(var e^{-a} + e^{t - a}), t = log 1e-5 - 2s
    t = (math.log(1e-5) - 2.0 * log_scale).view(-1, 1, 1)
    a = torch.maximum(t, var.amax(dim=(1, 2), keepdim=True).log())
    out = centred / (var * (-a).exp() + (t - a).exp()).sqrt()
    top = out.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-300)
    new_scale = (top.log() - 0.5 * a).view(-1)
    return (out / top).to(z.dtype), new_scale


def _run_points(
    plan: _Plan,
    run: _Run,
    draws: _Draws | None,
    source: WeightSource,
    dtype: torch.dtype,
    workspace: _Workspace | None = None,
) -> _Tally:
    """The general engine: hidden states ``(m, N, P)``, one batched matmul per layer, dead samples dropped."""
    device = run.ids.device
    xt = torch.as_tensor(plan.points, dtype=dtype, device=device).T.contiguous()  # (d_in, P)
    # bias-free: h is the true hidden state divided by exp(log_scale) per sample (exact by homogeneity)
    log_scale = torch.zeros(run.rows, dtype=torch.float64, device=device) if plan.bias_free else None
    widths = [p.out_features for p in plan.hidden]
    h: torch.Tensor | None = None
    for index, layer in enumerate(plan.hidden):
        w, b = source(index, run)
        if h is None:
            z = torch.matmul(w, xt)
            if b is not None:
                z.add_(b.unsqueeze(2))
        elif b is not None:
            z = torch.baddbmm(b.unsqueeze(2), w, h)
        else:
            z = torch.bmm(w, h)
        z, log_scale = _normalize(z, layer.norm, log_scale)
        h = z.clamp_min_(0.0)
        live = h.amax(dim=2).sign_().sum(1)
        remaining = run.record(index, live, layer.out_features)
        if remaining == 0:
            run.finish_dead(index + 1, widths)
            return run.tally
        if log_scale is not None and index % RENORMALIZE_EVERY == RENORMALIZE_EVERY - 1:
            top = h.amax(dim=(1, 2)).clamp_min_(1e-30)
            h = h.div_(top[:, None, None])
            log_scale.add_(top.to(torch.float64).log_())
        keep = run.compact()
        if keep is not None:
            h = h.index_select(0, keep)
            log_scale = log_scale.index_select(0, keep) if log_scale is not None else None
    assert h is not None
    if plan.skip_near:
        return run.tally
    if plan.output is not None:
        w, b = source(len(plan.hidden), run)
        signal = torch.bmm(w, h)
    else:
        signal, b = h, None
    scale = log_scale.unsqueeze(1) if log_scale is not None else None
    run.tally.near_constant = _count_near(plan, signal, b, scale, run.alive)
    return run.tally


# ---------------------------------------------------------------------------------- reinstantiate path


def _rebuild_weights(
    loaded: LoadedModel,
    chain: Chain,
    seeds: Sequence[int],
    device: torch.device,
    dtype: torch.dtype,
    tick: Callable[[], bool],
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Build the model once per seed and stack the chain's Linear parameters: ``[(W (n,out,in), b | None)]``.

    ``tick()`` runs after each build; when it returns False no further model is built (the time limit):
    the tensors then hold the ``n`` samples built so far (``n >= 1``). Parameters of any dtype (bf16, fp16)
    are read as float32 (exact) and cast to ``dtype``, the probe's.
    """
    weights: list[list[torch.Tensor]] = [[] for _ in chain.layers]
    biases: list[list[torch.Tensor]] = [[] for _ in chain.layers]
    for s in seeds:
        with seeded_global_rng(int(s)), torch.no_grad():
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
        if not tick():
            break
    out = []
    for index in range(len(chain.layers)):
        w = torch.stack(weights[index]).to(device=device, dtype=dtype)
        b = torch.stack(biases[index]).to(device=device, dtype=dtype) if biases[index] else None
        out.append((w, b))
    return out


# ----------------------------------------------------------------------------------------- the driver


def _per_sample_bytes(plan: _Plan) -> int:
    """An upper estimate of one sample's working set (float32 hidden states, weights, temporaries).

    The pair engine (``|D| <= 2``) holds two buffers of ``|D| x width`` floats, an allowance of ``3 x (width +
    1)`` floats for temporaries (the float64 copy of the states for the Gram is larger; the estimate is kept
    as it was when it first sized the blocks, so that the draws, and every seeded result, stay the same), the
    weight matrix of at most one drawn layer at a time (none for a Gaussian-reduced one), biases, two float64 Grams and cos θ (7 float64)
    and per-sample bookkeeping; the points engine also holds weight-shaped temporaries.
    """
    widths = [p.out_features for p in plan.hidden] + [plan.points.shape[1]]
    if plan.output is not None:
        widths.append(plan.output.out_features)
    wmax = max(widths)
    n_points = plan.points.shape[0]
    if plan.pair:
        layers = [*(p for p in plan.hidden if not p.reduced), *([plan.output] if plan.output else [])]
        weights = max((p.in_features * p.out_features for p in layers), default=0)
        floats = (2 * n_points + 3) * wmax + 3 + weights + 4 * wmax
        return 4 * floats + 8 * 7 + 160  # + the Grams, cos θ and float64 / int64 per-sample values
    return 4 * (4 * wmax * n_points + 3 * wmax * wmax + 4 * wmax) + 64


def _block_samples(plan: _Plan, device: torch.device) -> int:
    """Samples per block: fixed by the chain and the device type (never by ``max_memory``)."""
    return max(1, BLOCK_BYTES.get(device.type, BLOCK_BYTES["cuda"]) // _per_sample_bytes(plan))


def _blocks_per_chunk(plan: _Plan, block: int, max_memory: int, device: torch.device) -> int:
    budget = min(max_memory, CPU_CHUNK_BYTES) if device.type == "cpu" else max_memory
    return max(1, int(budget) // (block * _per_sample_bytes(plan)))


class _Progress:
    """Progress of a long probe: a rich bar with the samples done and an ETA on stderr (auto: shown on a
    TTY once a run looks longer than 2 s), or ``callback(done, total)`` (`status_progress` turns the CLI's
    status line into one)."""

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
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self.bar = Progress(*columns, console=Console(stderr=True), transient=True)
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


def status_progress(
    report: Callable[[str], None], label: str, clock: Callable[[], float] = time.monotonic
) -> Callable[[int, int], None]:
    """A ``progress`` callback for `probe_chain` that writes ``"<label>: 812/2000 samples, ETA 40 s"`` to
    ``report`` (the CLI's status line on stderr), at most ten times a second."""
    start = clock()
    last = [-math.inf]

    def update(done: int, total: int) -> None:
        now = clock()
        if now - last[0] < 0.1 and done < total:
            return
        last[0] = now
        text = f"{label}: {done}/{total} samples"
        if 0 < done < total:
            text += f", ETA {_duration((now - start) / done * (total - done))}"
        report(text)

    return update


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _workers(
    plan: _Plan,
    dev: torch.device,
    samples: int,
    block: int,
    block_bytes: int,
    max_memory: int,
    asked: int | None,
) -> int:
    """Chunks run at once: two on a CPU with two threads or more, where the memory bound holds two blocks.

    torch draws each generator's numbers on one thread, so one chunk at a time leaves the other cores idle
    while it draws; two chunks (each on its own blocks' generators) keep two busy. The pair engine is bound
    by its draws, so it always gains; the points engine is bound by its matmuls, which already use every
    thread, so it runs two chunks only on small CPUs (2-4 threads: measured +28-46 % on 2 cores; on more
    cores two thread teams would compete). The reinstantiate path runs the user's code and stays on the
    calling thread (``asked`` cannot change that); CUDA queues its work asynchronously already.
    """
    if plan.source != "batched":
        return 1
    if asked is not None:  # never more chunks at once than the memory bound holds blocks
        return max(1, min(int(asked), max_memory // max(block_bytes, 1)))
    threads = torch.get_num_threads()
    if dev.type != "cpu" or threads < 2 or (not plan.pair and threads > 4):
        return 1
    return 2 if samples > block and max_memory >= 2 * block_bytes else 1


def _in_order(
    work: Callable[[Any, Any], _T], items: Sequence[Any], workers: int, make_state: Callable[[], Any]
) -> Iterator[_T]:
    """``work(item, state)`` for each item, results yielded in order, at most ``workers`` running at once.

    Each running call holds one ``state`` (made by ``make_state``, reused by later calls, never shared by
    two at once). One worker runs everything on the calling thread. On an exception (Ctrl-C included) no
    new item starts; calls already running finish in their threads and their results are dropped.
    """
    if workers <= 1:
        state = make_state()
        for item in items:
            yield work(item, state)
        return
    states: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for _ in range(workers):
        states.put(make_state())

    def call(item: Any) -> _T:
        state = states.get()
        try:
            return work(item, state)
        finally:
            states.put(state)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="relulint-probe")
    pending: deque[Future[_T]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(call, item))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


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
    block: int | None = None,
    tally: _Tally | None = None,
    shortcuts: bool = True,
    workers: int | None = None,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Monte-Carlo estimate of P(born dead) for ``chain`` (`dying` Eq. 3.1, `collapse` Lemma 1).

    ``init="recorded"`` samples the layers' recorded initializers (``Layer.weight_init`` / ``bias_init``);
    ``init="rai"`` samples RAI (`dying` §4.1) instead. ``path`` is ``"auto"`` (batched unless an init is custom
    or unknown, then reinstantiate), ``"batched"`` or ``"reinstantiate"``. ``data`` (points × d_in) replaces
    the default domain ``[-√3, √3]^d_in`` (``domain=(lo, hi)`` changes it); ``points`` caps |D|. ``progress``:
    None (auto), True, False, or a ``callback(done, total)``. Ctrl-C raises `ProbeInterrupted` carrying the
    estimate from the finished samples. ``tally`` (if given) receives the raw counts, including how many
    random numbers of each kind were drawn, in which calls (the benchmark's floor). ``shortcuts=False`` turns
    off the exact 2-point reduction and the Gaussian reduction (tests compare both ways). ``workers``: chunks
    in flight at once (default `_workers`: two on a CPU with two threads or more, else one). ``timeout``
    (seconds, by ``clock``): no new sample is started after it (the rebuild path checks after every model it
    builds, the batched one after every chunk); the result is over the samples reached, says so in a note
    and keeps the requested count (``ProbeResult.samples_requested``). ``dtype``: the probe's own arithmetic
    (float32 or float64), whatever the model's parameters are (bf16 and fp16 are read as float32).

    The samples are drawn in blocks (``block`` samples, by default fixed by the chain and the device type),
    each from a generator seeded from ``(seed, block index)``; a chunk runs ``max_memory`` worth of whole
    blocks at once (at least one; ``chunk`` samples, rounded up to whole blocks, overrides it). So the result
    depends on the seed and the device only, never on ``max_memory``.
    """
    if init not in ("recorded", "rai"):
        raise UsageError(f"unknown probe init {init!r}", hint="--compare rai")
    if path not in ("auto", "batched", "reinstantiate"):
        raise UsageError(f"unknown probe path {path!r}")
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    if isinstance(max_memory, bool) or not isinstance(max_memory, int | float) or not max_memory > 0:
        raise UsageError(
            f"--max-memory must be a positive size, not {max_memory!r}",
            hint="--max-memory 1GiB (or 512MiB, or bytes)",
        )
    if block is not None and block < 1 or chunk is not None and chunk < 1:
        raise UsageError("probe block and chunk sizes must be at least 1 sample")
    if dtype not in (torch.float32, torch.float64):
        raise UsageError(
            f"the probe computes in float32 or float64, not {dtype}",
            hint="the model's own dtype (bf16, fp16) does not matter: its parameters are read as float32",
        )
    if timeout is not None and not timeout > 0:  # also NaN
        raise UsageError(f"the probe's time limit must be positive, not {timeout!r}", hint="--timeout 120")
    start = time.perf_counter()
    deadline = None if timeout is None or math.isinf(timeout) else clock() + timeout
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
    block_size = min(block or _block_samples(plan, dev), samples)
    block_bytes = block_size * _per_sample_bytes(plan)
    workers = _workers(plan, dev, samples, block_size, block_bytes, int(max_memory), workers)
    total = _Tally(dead_units=[0] * len(plan.hidden), workers=workers)
    per_chunk = (
        -(-chunk // block_size)
        if chunk
        else _blocks_per_chunk(plan, block_size, int(max_memory) // workers, dev)
    )
    if chunk is None and max_memory < block_bytes:
        notes.append(
            f"--max-memory {_size_text(max_memory)} is below one block of {block_size} samples"
            f" (~{_size_text(block_bytes)}): ran one block at a time"
        )
    n_blocks = -(-samples // block_size)
    stream = 1 if init == "recorded" else 5
    seeds = (
        np.random.default_rng([seed, 3]).integers(0, 2**62, size=samples)
        if plan.source == "reinstantiate"
        else None
    )
    label = f"probe chain {chain.index}" + (": rebuilding the model per sample" if seeds is not None else "")
    bar = _Progress(progress, samples, label)
    engine = _run_pair if plan.pair else _run_points

    def in_time() -> bool:
        return deadline is None or clock() < deadline

    def result(extra: Sequence[str] = ()) -> ProbeResult:
        seconds = time.perf_counter() - start
        return _result(total, plan, dev, seconds, init, chain, [*notes, *extra], requested=samples)

    chunks = [range(first, min(n_blocks, first + per_chunk)) for first in range(0, n_blocks, per_chunk)]
    done = 0

    def run_chunk(blocks: range, workspace: _Workspace) -> _Tally:
        """One chunk of whole blocks; its samples start at ``blocks.start * block_size``."""
        first = blocks.start * block_size
        sizes = [min(block_size, samples - j * block_size) for j in blocks]
        draws: _Draws | None = None
        with torch.no_grad():  # thread-local: set in the thread that runs the chunk
            if seeds is not None:
                assert loaded is not None
                built = [first]

                def tick(built: list[int] = built) -> bool:
                    built[0] += 1
                    bar.update(built[0])
                    return in_time()

                chunk_seeds = seeds[first : first + sum(sizes)]
                weights = _rebuild_weights(loaded, chain, chunk_seeds, dev, dtype, tick)
                sizes = _first_samples(sizes, built[0] - first)  # fewer where the time limit stopped it
                run = _Run(sizes, len(plan.hidden), dev)
                source = _preloaded_source(weights)
            else:
                run = _Run(sizes, len(plan.hidden), dev)
                gens = [_block_generator(dev, seed, stream, j) for j in blocks]
                draws = _Draws(gens, dtype, run.tally.drawn)
                source = _batched_source(plan, draws)
            return engine(plan, run, draws, source, dtype, workspace)

    stopped = False
    try:
        for chunk_tally in _in_order(run_chunk, chunks, workers, lambda: _Workspace(dev, dtype)):
            total.add(chunk_tally)
            done += chunk_tally.samples
            bar.update(done)
            if done < samples and not in_time():
                stopped = True
                break
    except KeyboardInterrupt:
        bar.close()
        raise ProbeInterrupted(result([f"interrupted: {total.samples} of {samples} samples"])) from None
    bar.close()
    if tally is not None:
        tally.add(total)
    if stopped:
        return result(
            [
                f"stopped at the time limit (--timeout {timeout:g} s): {total.samples} of {samples} samples;"
                " the estimate and its interval are over those"
            ]
        )
    return result()


def _first_samples(sizes: Sequence[int], n: int) -> list[int]:
    """Block sizes holding only the first ``n`` samples of blocks of ``sizes`` (a chunk stopped early)."""
    out = []
    for size in sizes:
        take = min(size, max(n, 0))
        if take:
            out.append(take)
        n -= take
    return out


def _size_text(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _result(
    total: _Tally,
    plan: _Plan,
    dev: torch.device,
    seconds: float,
    init: str,
    chain: Chain,
    notes: list[str],
    *,
    requested: int,
) -> ProbeResult:
    n = total.samples
    ci = wilson_interval(total.born_dead, n)
    widths = [p.out_features for p in plan.hidden]
    fractions = tuple(d / (n * w * FIXED) for d, w in zip(total.dead_units, widths, strict=True)) if n else ()
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
        samples_requested=requested,
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
