"""The fix relulint recommends: randomized asymmetric initialization (RAI), `dying` §4.1 and Appendix G.

    >>> from relulint.init import apply_rai
    >>> model = apply_rai(make_model(), generator=torch.Generator().manual_seed(0))

RAI (`dying` §4.1) initializes the augmented matrix ``V = [W, b]`` of every layer after the first row by
row: one entry per row, at an index drawn uniformly from the ``fan_in + 1`` columns (the bias included),
is drawn from an asymmetric law ``P`` on ``[0, M]`` (default ``Beta(2, 1)``); the other entries are
``N(0, σ_w² / fan_in)``. The first layer gets He normal weights ``N(0, 2 / fan_in)`` and zero bias, because
its inputs can be negative. ``σ_w`` comes from the law's first two moments by `dying` Eq. 4.2
(:func:`relulint.theory.dying.rai_sigma_w`; 0.6007 for Beta(2, 1)), which makes the length map's
``A_upp / 2 = N / (N + 1)`` (Cor. 4.4). RAI lowers the born-dead bound of `dying` Thm 3.2 to the one of
Thm 4.1, ``1 − ∏ (1 − (1/2 − γ_l)^{N_l})``; `dying` Fig. 4 gives born dead 88 % → 22 % on a 10-layer width-2 net.

Everything takes an optional ``torch.Generator``; with one, the global RNG is never touched.
Layouts: torch's ``nn.Linear`` stores ``W`` as ``(out_features, in_features)``, so Appendix G's
``W = V[:, :-1].T`` (Keras layout) is ``V[:, :-1]`` here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.distributions import Beta, Distribution

from relulint.theory.dying import rai_sigma_w

__all__ = [
    "apply_rai",
    "default_dist",
    "dist_name",
    "he_normal",
    "rai_",
    "rai_plan",
    "rai_sigma_w_for",
    "sample_rai",
]

ReluLike = (nn.ReLU,)
PassThrough = (
    nn.Dropout,
    nn.AlphaDropout,
    nn.Identity,
    nn.BatchNorm1d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.InstanceNorm1d,
)


def default_dist() -> Distribution:
    """``Beta(2, 1)``: the asymmetric law ``P`` of `dying` §4.3 and §5."""
    return Beta(torch.tensor(2.0), torch.tensor(1.0))


def _moments(dist: Distribution) -> tuple[float, float]:
    """``(E[X], E[X²])`` of a scalar law on ``[0, ∞)`` (the ``μ'_1, μ'_2`` of `dying` Thm 4.3)."""
    if tuple(dist.batch_shape) or tuple(dist.event_shape):
        raise ValueError(f"RAI needs a scalar law P, got batch_shape={tuple(dist.batch_shape)}")
    support = dist.support
    if support is None or support.is_discrete or bool(support.check(torch.tensor(-1e-6))):
        raise ValueError(
            f"RAI needs a continuous law P on [0, M] (dying §4.1); {dist!r} has support {support}"
        )
    mean = float(dist.mean)
    second = float(dist.variance) + mean * mean
    if not (math.isfinite(mean) and math.isfinite(second)):
        raise ValueError(f"the law P = {dist!r} needs finite first two moments (dying Thm 4.3)")
    return mean, second


def dist_name(dist: Distribution) -> str:
    """``Beta(2, 1)``-style name of a law (torch's repr omits the parameters)."""
    params = []
    for key in dist.arg_constraints:
        value = getattr(dist, key, None)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            params.append(f"{float(value):g}")
    return f"{type(dist).__name__}({', '.join(params)})"


def rai_sigma_w_for(dist: Distribution | None = None) -> float:
    """``σ_w`` of `dying` Eq. 4.2 computed from the moments of ``dist`` (Beta(2, 1) → 0.6007)."""
    mean, second = _moments(dist if dist is not None else default_dist())
    return rai_sigma_w(mean, second)


def _sample_dist(dist: Distribution, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    """``dist.sample(shape)``; with a generator, seeded from it inside `torch.random.fork_rng` (global RNG kept).

    `torch.distributions` samplers draw from the global CPU generator; forking it and seeding the fork from
    ``generator`` makes the draw reproducible and leaves the caller's global RNG state as it was.
    """
    if generator is None:
        return dist.sample(tuple(shape))
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return dist.sample(tuple(shape))


def sample_rai(
    out_features: int,
    in_features: int,
    *,
    bias: bool = True,
    batch: Sequence[int] = (),
    dist: Distribution | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw RAI weights ``(W, b)`` for a layer that is not the first (`dying` §4.1, Appendix G).

    ``V = [W, b]`` has shape ``(*batch, out_features, in_features + 1)`` (no bias column when ``bias`` is
    false); per row one index ``k`` is uniform over the columns and ``V[k] ~ P``, the rest
    ``N(0, σ_w² / in_features)`` with ``σ_w`` from `dying` Eq. 4.2. ``batch`` draws independent copies at
    once (the Monte-Carlo probe and tests vectorise over it).
    """
    if out_features < 1 or in_features < 1:
        raise ValueError("a layer needs in_features >= 1 and out_features >= 1")
    law = dist if dist is not None else default_dist()
    sigma_w = rai_sigma_w_for(law)
    cols = in_features + (1 if bias else 0)
    gen_device = generator.device if generator is not None else torch.device("cpu")
    shape = (*tuple(batch), out_features, cols)
    v = torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float64)
    v.mul_(sigma_w / math.sqrt(in_features))
    k = torch.randint(0, cols, (*shape[:-1], 1), generator=generator, device=gen_device)
    positive = _sample_dist(law, (*shape[:-1], 1), generator).to(device=gen_device, dtype=torch.float64)
    v.scatter_(-1, k, positive)
    v = v.to(device=device if device is not None else gen_device, dtype=dtype)
    weight = v[..., :in_features].contiguous()
    return weight, (v[..., in_features].contiguous() if bias else None)


def he_normal(
    out_features: int,
    in_features: int,
    *,
    batch: Sequence[int] = (),
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """He normal weights ``N(0, 2 / fan_in)``: RAI's first layer (`dying` §4.1), with zero bias."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    w = torch.randn((*tuple(batch), out_features, in_features), generator=generator, device=gen_device)
    w.mul_(math.sqrt(2.0 / in_features))
    return w.to(device=device if device is not None else gen_device, dtype=dtype)


def _record(kind: str, tensors: Sequence[torch.Tensor | None], args: dict[str, Any]) -> Any:
    """Tell an active `relulint.init_recorder.InitRecorder` about this init (so it records `rai`, not `copy_`)."""
    from relulint.init_recorder import recording

    return recording(kind, [t for t in tensors if t is not None], args, source="relulint.init")


def rai_(
    linear: nn.Module,
    *,
    first_layer: bool = False,
    dist: Distribution | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Initialize one ``nn.Linear`` in place by RAI (`dying` §4.1, Appendix G); returns it.

    ``first_layer=True`` gives He normal weights and zero bias instead (`dying` §4.1: the first layer's
    inputs may be negative). ``dist`` is the asymmetric law ``P`` (default ``Beta(2, 1)``); ``σ_w`` follows
    from its moments by `dying` Eq. 4.2. ``generator`` seeds every draw without touching the global RNG.
    """
    weight = getattr(linear, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise TypeError(f"rai_ needs a layer with a 2-D weight (nn.Linear), got {type(linear).__name__}")
    bias = getattr(linear, "bias", None)
    bias = bias if isinstance(bias, torch.Tensor) else None
    out_features, in_features = weight.shape
    with torch.no_grad():
        if first_layer:
            args = {"a": 0, "mode": "fan_in", "nonlinearity": "relu", "first_layer": True}
            with _record("kaiming_normal", [weight], args):
                weight.copy_(he_normal(out_features, in_features, generator=generator, dtype=weight.dtype))
            if bias is not None:
                with _record("zeros", [bias], {"first_layer": True}):
                    bias.zero_()
            return linear
        law = dist if dist is not None else default_dist()
        mean, second = _moments(law)
        args = {"dist": dist_name(law), "sigma_w": rai_sigma_w(mean, second), "mu1": mean, "mu2": second}
        w, b = sample_rai(
            out_features,
            in_features,
            bias=bias is not None,
            dist=law,
            generator=generator,
            dtype=weight.dtype,
        )
        with _record("rai", [weight, bias], args):
            weight.copy_(w)
            if bias is not None and b is not None:
                bias.copy_(b)
    return linear


# ------------------------------------------------------------------------------------ which layers


def rai_plan(model: nn.Module) -> dict[str, bool]:
    """Which Linears `apply_rai` initializes: qualified name → ``first_layer`` (He) or not (RAI).

    Preferred source: the model's ReLU chains as relulint's pipeline sees them (`relulint.capture` and
    `relulint.extract`): every Linear of every chain, the chain's first one He. When those modules are
    missing or the capture fails, the fallback walks leaf modules in registration order: a Linear
    followed (through dropout / norm / identity) by an ``nn.ReLU`` continues a chain, a new run starts a
    chain, and a chain's first Linear gets He. If the model registers no ``nn.ReLU`` at all (functional
    ``torch.relu`` in ``forward``), the fallback takes every Linear in registration order as one chain.
    """
    chains = _pipeline_chains(model)
    if chains is None:
        chains = _registration_chains(model)
    plan: dict[str, bool] = {}
    for chain in chains:
        for position, name in enumerate(chain):
            plan.setdefault(name, position == 0)
    return plan


def _pipeline_chains(model: nn.Module) -> list[list[str]] | None:
    try:
        from relulint.capture import capture
        from relulint.extract import extract_chains
        from relulint.load import from_module
    except ImportError:
        return None
    try:
        loaded = from_module(model)
        chains = extract_chains(loaded, capture(loaded))
    except Exception as error:  # the user's forward failed to capture: fall back, say why
        warnings.warn(f"apply_rai: capture failed ({error}); using registration order", stacklevel=3)
        return None
    linears = {name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    return [[layer.module for layer in chain.layers if layer.module in linears] for chain in chains]


def _leaves(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Leaf modules in registration order; a Linear counts as a leaf (its parametrizations are skipped)."""
    inside: str | None = None
    for name, module in model.named_modules():
        if inside is not None and name.startswith(inside):
            continue
        if isinstance(module, nn.Linear):
            inside = f"{name}."
            yield name, module
        elif not any(True for _ in module.children()):
            yield name, module


def _registration_chains(model: nn.Module) -> list[list[str]]:
    leaves = list(_leaves(model))
    linears = [name for name, m in leaves if isinstance(m, nn.Linear)]
    if not any(isinstance(m, ReluLike) for _, m in leaves):
        return [linears] if linears else []
    chains: list[list[str]] = []
    current: list[str] | None = None
    relu_after_last = False
    has_relu = False
    for name, module in leaves:
        if isinstance(module, nn.Linear):
            if current is not None and relu_after_last:
                current.append(name)
            else:
                if current is not None and has_relu:
                    chains.append(current)
                current, has_relu = [name], False
            relu_after_last = False
        elif isinstance(module, ReluLike):
            if current is not None:
                relu_after_last = has_relu = True
        elif not isinstance(module, PassThrough):
            if current is not None and has_relu:
                chains.append(current)
            current, relu_after_last, has_relu = None, False, False
    if current is not None and has_relu:
        chains.append(current)
    return chains


def apply_rai(
    model: nn.Module, *, dist: Distribution | None = None, generator: torch.Generator | None = None
) -> nn.Module:
    """Initialize every Linear in a ReLU chain of ``model`` by RAI (first layer He, zero bias); returns it.

    The layers are chosen by :func:`rai_plan`. ``generator`` seeds every draw without touching the global
    RNG; ``dist`` is RAI's asymmetric law (default ``Beta(2, 1)``). `dying` §4.1, Eq. 4.2, Appendix G.
    """
    modules = dict(model.named_modules())
    for name, first in rai_plan(model).items():
        rai_(modules[name], first_layer=first, dist=dist, generator=generator)
    return model
