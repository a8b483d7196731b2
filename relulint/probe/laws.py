"""Batched samplers for the Monte-Carlo probe (`relulint.probe`): one law per recorded initializer.

Every sampler draws ``n`` independent copies of one layer's parameters at once, from the probe's own
``torch.Generator`` (never the global RNG), as tensors of shape ``(n, out_features, in_features)`` for
weights and ``(n, out_features)`` for biases (torch's ``nn.Linear`` layout).

:func:`resolve_weight` / :func:`resolve_bias` turn an `InitInfo` (``law`` + ``args`` with torch.nn.init's
parameter names, or ``sigma2``/``mean`` when the args are missing) into a :class:`Law`; they return
``None`` for ``custom``/``unknown`` inits, which the probe then samples by re-running the model's own
construction (the slow path).

Laws (``dying`` and ``collapse`` only need symmetric laws for their bounds; the probe samples whatever the
model uses):

* ``pytorch-default``: ``nn.Linear.reset_parameters`` = ``kaiming_uniform_(a=√5)``, i.e. weights
  ``U(±1/√fan_in)``, and bias ``U(±1/√fan_in)``.
* ``kaiming-*``/``xavier-*``/``lecun``/``normal``/``uniform``: normal or uniform with the std / bound from
  the args (gain, mode, a), exactly as ``torch.nn.init`` computes them.
* ``trunc-normal``: inverse-CDF sampling, as ``torch.nn.init.trunc_normal_``.
* ``constant``/``zeros``.
* ``orthogonal``: batched ``torch.linalg.qr`` with the sign fix of ``torch.nn.init.orthogonal_``.
* ``rai``: ``dying`` §4.1 / Appendix G: in each row of ``V = [W, b]`` one entry, at a uniform index, from
  the asymmetric law ``P`` (default ``Beta(2, 1)``, drawn as ``√U``: its CDF is ``x²``), the others
  ``N(0, σ_w² / fan_in)`` with ``σ_w`` from Eq. 4.2 (:func:`relulint.theory.dying.rai_sigma_w`, 0.6007).
  A recorded `relulint.init.rai_` call carries ``dist`` (``"Beta(2, 1)"``), ``sigma_w``, ``mu1`` and
  ``mu2``: the probe samples that law with that ``σ_w`` (:func:`rai_law`); laws it cannot draw by inverse
  CDF (a general ``Beta(a, b)``) are left to the model's own construction.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch

from relulint.records.model_facts import InitInfo
from relulint.theory.dying import beta_moments, rai_sigma_w, rai_weight_std

__all__ = [
    "DrawCounter",
    "Law",
    "draw_bias",
    "draw_layer",
    "draw_weight",
    "he_normal_law",
    "resolve_bias",
    "resolve_weight",
]

PositiveLaw = tuple[str, float, float]  # RAI's law P: ("beta", a, b) or ("uniform", low, high)
DEFAULT_POSITIVE: PositiveLaw = ("beta", 2.0, 1.0)
NORMAL_FAMILY = {"kaiming-normal", "xavier-normal", "normal"}
UNIFORM_FAMILY = {"kaiming-uniform", "xavier-uniform", "uniform"}


@dataclass(frozen=True)
class Law:
    """A resolved sampling law for one parameter tensor.

    ``kind``: ``"normal"`` (``mean``, ``std``), ``"uniform"`` (``low``, ``high``), ``"trunc-normal"``
    (``mean``, ``std``, ``low``, ``high``: absolute bounds), ``"constant"`` (``mean``), ``"orthogonal"``
    (``gain``) or ``"rai"`` (weight and bias drawn jointly, ``dying`` §4.1: ``positive`` is the law ``P``
    of the one positive entry per row, ``sigma_w`` the σ_w of Eq. 4.2; 0 = the theory's for ``P``).
    """

    kind: str
    mean: float = 0.0
    std: float = 0.0
    low: float = 0.0
    high: float = 0.0
    gain: float = 1.0
    positive: PositiveLaw = ("beta", 2.0, 1.0)
    sigma_w: float = 0.0

    @property
    def is_zero(self) -> bool:
        return self.kind == "constant" and self.mean == 0.0

    @property
    def iid_gaussian(self) -> bool:
        """Independent centred Gaussian entries: the hypothesis of the probe's Gaussian reduction."""
        return self.kind == "normal" and self.mean == 0.0

    @property
    def gaussian_or_constant(self) -> bool:
        """A bias law that keeps a layer's pre-activations jointly Gaussian given its input."""
        return self.kind in ("normal", "constant")

    def describe(self) -> str:
        if self.kind == "normal":
            return f"N({self.mean:g}, {self.std:.4g}²)"
        if self.kind == "uniform":
            return f"U({self.low:.4g}, {self.high:.4g})"
        if self.kind == "trunc-normal":
            return f"TN({self.mean:g}, {self.std:.4g}²; [{self.low:g}, {self.high:g}])"
        if self.kind == "constant":
            return f"const {self.mean:g}"
        if self.kind == "orthogonal":
            return f"orthogonal(gain={self.gain:g})"
        if self.kind == "rai" and self.positive != DEFAULT_POSITIVE:
            name, a, b = self.positive
            return f"rai({name.capitalize()}({a:g}, {b:g}))"
        return self.kind


# ------------------------------------------------------------------------------------------ resolving


def _arg(args: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in args and args[name] is not None:
            return args[name]
    return default


def _gain(nonlinearity: str, param: float | None) -> float:
    """``torch.nn.init.calculate_gain`` (pure; relu → √2, leaky_relu(a) → √(2/(1+a²)), linear → 1)."""
    try:
        return float(torch.nn.init.calculate_gain(cast(Any, nonlinearity), param))
    except ValueError:
        return float(torch.nn.init.calculate_gain("leaky_relu", param))


def _kaiming_std(args: Mapping[str, Any], fan_in: int, fan_out: int) -> float:
    a = float(_arg(args, "a", default=0.0))
    mode = str(_arg(args, "mode", default="fan_in"))
    nonlinearity = str(_arg(args, "nonlinearity", default="leaky_relu"))
    fan = fan_out if mode == "fan_out" else fan_in
    return _gain(nonlinearity, a) / math.sqrt(max(fan, 1))


def _from_sigma2(info: InitInfo, kind: str, fan: int) -> Law | None:
    """Fallback when the args are missing: ``sigma2`` is fan_in·Var(W) for weights, Var(b) for biases."""
    if info.sigma2 is None:
        return None
    mean = float(info.mean or 0.0)
    std = math.sqrt(max(info.sigma2, 0.0) / max(fan, 1))
    if kind == "uniform":
        half = math.sqrt(3.0) * std
        return Law("uniform", low=mean - half, high=mean + half)
    return Law("normal", mean=mean, std=std)


def pytorch_default_law(fan_in: int) -> Law:
    """``nn.Linear.reset_parameters``: ``kaiming_uniform_(a=√5)`` = ``U(±1/√fan_in)`` (bias the same bound)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return Law("uniform", low=-bound, high=bound)


def he_normal_law(fan_in: int) -> Law:
    """He normal ``N(0, 2 / fan_in)``: RAI's first layer (``dying`` §4.1)."""
    return Law("normal", std=math.sqrt(2.0 / max(fan_in, 1)))


_DIST = re.compile(r"\s*(Beta|Uniform)\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)\s*")


def _positive_law(dist: Any) -> PositiveLaw | None:
    """RAI's law ``P`` from its recorded name (`relulint.init.dist_name`: ``"Beta(2, 1)"``, ``"Uniform(0,
    1)"``) where the probe can draw it by inverse CDF: ``Beta(a, 1)`` (``U^{1/a}``), ``Beta(1, b)`` (``1 -
    U^{1/b}``), ``Uniform(lo, hi)``; else None (the model's own construction samples it)."""
    if dist is None:
        return DEFAULT_POSITIVE  # `relulint.init` records the law; without a name assume its default
    match = _DIST.fullmatch(str(dist))
    if match is None:
        return None
    try:
        a, b = float(match.group(2)), float(match.group(3))
    except ValueError:
        return None
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    if match.group(1) == "Uniform":
        return ("uniform", a, b) if 0.0 <= a < b else None
    if a > 0 and b > 0 and (b == 1.0 or a == 1.0):
        return ("beta", a, b)
    return None


def _positive_moments(law: PositiveLaw) -> tuple[float, float]:
    """``(E[X], E[X²])`` of RAI's law ``P`` (the ``μ'_1, μ'_2`` of `dying` Thm 4.3)."""
    name, a, b = law
    if name == "uniform":
        return (a + b) / 2, (a * a + a * b + b * b) / 3
    return beta_moments(a, b)


def rai_law(args: Mapping[str, Any]) -> Law | None:
    """The RAI law a recorded `relulint.init.rai_` call describes (`dying` §4.1, Eq. 4.2), or None.

    ``args`` as recorded: ``dist`` (the law ``P``'s name), ``sigma_w`` (Eq. 4.2), ``mu1``, ``mu2`` (P's first
    two moments). The moments must be P's (1e-4 relative: the name prints six digits); ``sigma_w`` is the
    recorded one (the theory's for P when it is missing). None: a law the probe cannot draw (the model's own
    construction samples it).
    """
    positive = _positive_law(_arg(args, "dist"))
    if positive is None:
        return None
    mu1, mu2 = _positive_moments(positive)
    recorded = (_arg(args, "mu1"), _arg(args, "mu2"))
    for value, expected in zip(recorded, (mu1, mu2), strict=True):
        if value is not None and not math.isclose(float(value), expected, rel_tol=1e-4):
            return None
    sigma_w = _arg(args, "sigma_w")
    if sigma_w is None:
        try:
            sigma_w = rai_sigma_w(mu1, mu2)
        except ValueError:
            return None
    if not (math.isfinite(float(sigma_w)) and float(sigma_w) >= 0.0):
        return None
    return Law("rai", positive=positive, sigma_w=float(sigma_w))


SHARED_LAWS = frozenset({"pytorch-default", "zeros", "constant", "rai", "trunc-normal"})


def _shared_law(info: InitInfo, args: Mapping[str, Any], fan_in: int) -> Law | None:
    """The laws a weight and a bias resolve alike: PyTorch's default, constants, RAI, truncated normal."""
    law = info.law
    if law == "pytorch-default":
        return pytorch_default_law(fan_in)
    if law in ("zeros", "constant"):
        value = _arg(args, "val", "value", default=0.0 if law == "zeros" else info.mean)
        return None if value is None else Law("constant", mean=float(value))
    if law == "rai":
        return rai_law(args)
    return _trunc_normal(args)


def resolve_weight(info: InitInfo | None, fan_in: int, fan_out: int) -> Law | None:
    """The sampling law of a weight ``(fan_out, fan_in)`` from its `InitInfo`; ``None`` = slow path."""
    if info is None:
        return None
    law, args = info.law, dict(info.args or {})
    if law == "orthogonal":
        return Law("orthogonal", gain=float(_arg(args, "gain", default=1.0)))
    if law in SHARED_LAWS:
        return _shared_law(info, args, fan_in)
    family = "uniform" if law in UNIFORM_FAMILY or _arg(args, "distribution") == "uniform" else "normal"
    if law.startswith("kaiming") and (args or info.sigma2 is None):
        std = _kaiming_std(args, fan_in, fan_out)
        return _scaled(family, std)
    if law.startswith("xavier") and (args or info.sigma2 is None):
        std = float(_arg(args, "gain", default=1.0)) * math.sqrt(2.0 / max(fan_in + fan_out, 1))
        return _scaled(family, std)
    if law == "lecun" and info.sigma2 is None:
        return _scaled(family, 1.0 / math.sqrt(max(fan_in, 1)))
    if law in ("normal", "uniform") and args:
        return _plain(law, args)
    if law in NORMAL_FAMILY | UNIFORM_FAMILY | {"lecun"}:
        return _from_sigma2(info, family, fan_in)
    return None  # custom, unknown


def resolve_bias(info: InitInfo | None, fan_in: int) -> Law | None:
    """The sampling law of a bias of a layer with ``fan_in`` inputs; ``None`` = slow path."""
    if info is None:
        return None
    law, args = info.law, dict(info.args or {})
    if law in SHARED_LAWS:
        return _shared_law(info, args, fan_in)
    if law in ("normal", "uniform") and args:
        return _plain(law, args)
    if law in NORMAL_FAMILY | UNIFORM_FAMILY:
        return _from_sigma2(info, "uniform" if law in UNIFORM_FAMILY else "normal", 1)
    return None


def _scaled(family: str, std: float) -> Law:
    if family == "uniform":
        bound = math.sqrt(3.0) * std
        return Law("uniform", low=-bound, high=bound)
    return Law("normal", std=std)


def _plain(law: str, args: Mapping[str, Any]) -> Law:
    if law == "normal":
        return Law(
            "normal", mean=float(_arg(args, "mean", default=0.0)), std=float(_arg(args, "std", default=1.0))
        )
    return Law(
        "uniform",
        low=float(_arg(args, "a", "low", default=0.0)),
        high=float(_arg(args, "b", "high", default=1.0)),
    )


def _trunc_normal(args: Mapping[str, Any]) -> Law | None:
    if not args:
        return None
    return Law(
        "trunc-normal",
        mean=float(_arg(args, "mean", default=0.0)),
        std=float(_arg(args, "std", default=1.0)),
        low=float(_arg(args, "a", default=-2.0)),
        high=float(_arg(args, "b", default=2.0)),
    )


# ------------------------------------------------------------------------------------------- sampling


class DrawCounter(Counter[str]):
    """Random numbers drawn per kind (``"normal"``, ``"uniform"``), and ``calls``: how many draw calls of
    each ``(kind, size)`` there were (the benchmark's floor replays exactly those calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[tuple[str, int]] = Counter()

    def add(self, kind: str, k: int, calls: int = 1) -> None:
        """Record ``calls`` draw calls of ``k`` numbers of ``kind`` each."""
        self[kind] += k * calls
        self.calls[(kind, k)] += calls

    def merge(self, other: Counter[str]) -> None:
        self.update(other)
        calls = getattr(other, "calls", None)
        if calls is not None:
            self.calls.update(calls)


def _count(counter: Counter[str] | None, kind: str, k: int, calls: int = 1) -> None:
    """Count ``calls`` draw calls of ``k`` numbers each."""
    if isinstance(counter, DrawCounter):
        counter.add(kind, k, calls)
    elif counter is not None:
        counter[kind] += k * calls


def draw(
    law: Law,
    shape: tuple[int, ...],
    gen: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
    counter: Counter[str] | None = None,
) -> torch.Tensor:
    """``shape`` iid entries of a scalar law (normal, uniform, trunc-normal, constant) on ``gen``'s device."""
    device = gen.device
    numel = math.prod(shape)
    if law.kind == "normal":
        _count(counter, "normal", numel)
        return torch.empty(shape, device=device, dtype=dtype).normal_(law.mean, law.std, generator=gen)
    if law.kind == "uniform":
        _count(counter, "uniform", numel)
        return torch.empty(shape, device=device, dtype=dtype).uniform_(law.low, law.high, generator=gen)
    if law.kind == "constant":
        return torch.full(shape, law.mean, device=device, dtype=dtype)
    if law.kind == "trunc-normal":
        _count(counter, "uniform", numel)
        return _trunc_normal_sample(law, shape, gen, dtype)
    raise ValueError(f"law {law.kind!r} is not an entrywise law")


def _trunc_normal_sample(
    law: Law, shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """Inverse-CDF truncated normal (the method of ``torch.nn.init.trunc_normal_``)."""

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    std = max(law.std, 1e-30)
    lo, hi = cdf((law.low - law.mean) / std), cdf((law.high - law.mean) / std)
    u = torch.empty(shape, device=gen.device, dtype=dtype).uniform_(2 * lo - 1, 2 * hi - 1, generator=gen)
    x = u.erfinv_().mul_(std * math.sqrt(2.0)).add_(law.mean)
    return x.clamp_(law.low, law.high)


def draw_orthogonal(
    n: int,
    rows: int,
    cols: int,
    gain: float,
    gen: torch.Generator,
    *,
    dtype: torch.dtype,
    counter: Counter[str] | None,
) -> torch.Tensor:
    """``n`` draws of ``torch.nn.init.orthogonal_`` for a ``(rows, cols)`` matrix: batched QR with the sign fix.

    As torch: a Gaussian ``(max, min)`` matrix, ``Q, R = qr(A)``, ``Q *= sign(diag R)`` (Haar measure), then
    transposed when ``rows < cols``; times ``gain``. ``dying`` §4.3 / Fig. 4: its rows are dependent.
    """
    big, small = max(rows, cols), min(rows, cols)
    _count(counter, "normal", n * big * small)
    a = torch.empty((n, big, small), device=gen.device, dtype=torch.float32).normal_(generator=gen)
    q, r = torch.linalg.qr(a)
    q = q * torch.diagonal(r, dim1=-2, dim2=-1).sign().unsqueeze(-2)
    if rows < cols:
        q = q.transpose(-2, -1)
    return q.mul_(gain).to(dtype).contiguous()


def draw_rai(
    n: int,
    out_features: int,
    in_features: int,
    bias: bool,
    gen: torch.Generator,
    *,
    dtype: torch.dtype,
    counter: Counter[str] | None,
    law: Law | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` RAI draws of ``V = [W, b]`` (``dying`` §4.1, Appendix G), a layer after the first.

    Per row, ``k`` uniform over the ``fan_in (+ 1)`` columns and ``V[k] ~ P`` (``law.positive``, default
    ``Beta(2, 1)`` as ``√U``); the other entries ``N(0, σ_w² / fan_in)`` (``law.sigma_w``; 0 or no ``law``:
    Eq. 4.2's for Beta(2, 1)). No bias column when the layer has no bias (as `relulint.init.sample_rai`).
    """
    law = law or Law("rai")
    cols = in_features + (1 if bias else 0)
    shape = (n, out_features, cols)
    _count(counter, "normal", n * out_features * cols)
    _count(counter, "uniform", n * out_features, calls=2)  # the index k (randint) and P's entry
    if law.sigma_w > 0.0:
        std = law.sigma_w / math.sqrt(in_features)  # dying Thm 4.3, App. G: σ_w / √fan_in
    else:
        std = rai_weight_std(in_features)  # dying Eq. 4.2, Thm 4.3, App. G
    v = torch.empty(shape, device=gen.device, dtype=dtype).normal_(0.0, std, generator=gen)
    k = torch.randint(0, cols, (n, out_features, 1), generator=gen, device=gen.device)
    u = torch.empty((n, out_features, 1), device=gen.device, dtype=dtype).uniform_(generator=gen)
    v.scatter_(-1, k, _inverse_cdf(law.positive, u))
    weight = v[..., :in_features]
    return weight, (v[..., in_features] if bias else None)


def _inverse_cdf(law: PositiveLaw, u: torch.Tensor) -> torch.Tensor:
    """RAI's positive entry from uniforms ``u`` (in place): ``Beta(a, 1)`` has CDF ``x^a`` (``U^{1/a}``; √U for
    the default Beta(2, 1)), ``Beta(1, b)`` has CDF ``1 - (1 - x)^b``, ``Uniform(lo, hi)`` is affine."""
    name, a, b = law
    if name == "uniform":
        return u.mul_(b - a).add_(a)
    if b == 1.0:
        return u.sqrt_() if a == 2.0 else u.pow_(1.0 / a)
    return u.pow_(1.0 / b).neg_().add_(1.0)  # Beta(1, b): 1 - U^{1/b} (U and 1 - U have one law)


def draw_weight(
    law: Law,
    n: int,
    out_features: int,
    in_features: int,
    gen: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
    counter: Counter[str] | None = None,
) -> torch.Tensor:
    """``n`` weight matrices ``(n, out_features, in_features)`` from ``law`` (not RAI: see :func:`draw_layer`)."""
    if law.kind == "orthogonal":
        return draw_orthogonal(n, out_features, in_features, law.gain, gen, dtype=dtype, counter=counter)
    return draw(law, (n, out_features, in_features), gen, dtype=dtype, counter=counter)


def draw_bias(
    law: Law,
    n: int,
    out_features: int,
    gen: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
    counter: Counter[str] | None = None,
) -> torch.Tensor:
    """``n`` bias vectors ``(n, out_features)`` from ``law``."""
    return draw(law, (n, out_features), gen, dtype=dtype, counter=counter)


def draw_layer(
    weight: Law,
    bias: Law | None,
    n: int,
    out_features: int,
    in_features: int,
    gen: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
    counter: Counter[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` draws of one layer's ``(W, b)``; ``bias=None`` means the layer has no bias."""
    if weight.kind == "rai":
        return draw_rai(
            n, out_features, in_features, bias is not None, gen, dtype=dtype, counter=counter, law=weight
        )
    w = draw_weight(weight, n, out_features, in_features, gen, dtype=dtype, counter=counter)
    if bias is None:
        return w, None
    if bias.kind == "rai":  # a RAI bias with a non-RAI weight: draw its column of V alone
        raise ValueError("a RAI bias needs a RAI weight (dying §4.1 draws the row [W, b] jointly)")
    return w, draw_bias(bias, n, out_features, gen, dtype=dtype, counter=counter)
