"""Hand-built `Chain`s and `LoadedModel`s for the probe tests and benchmark (no capture/extract needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from relulint.init import rai_
from relulint.init_reconcile import info_from_event
from relulint.init_recorder import InitRecorder
from relulint.probe import NEAR_CONSTANT_RTOL
from relulint.probe.laws import Law, resolve_bias, resolve_weight
from relulint.records.loaded import LoadedModel, Target
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer

LAWS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "he-normal": ("kaiming-normal", {"a": 0, "mode": "fan_in", "nonlinearity": "relu"}),
    "he-uniform": ("kaiming-uniform", {"a": 0, "mode": "fan_in", "nonlinearity": "relu"}),
    "orthogonal": ("orthogonal", {"gain": 1.0}),
    "default": ("pytorch-default", {}),
    "custom": ("custom", {}),
    "small-normal": ("normal", {"mean": 0.0, "std": 0.25}),  # iid Gaussian, the signal shrinks (σ_w² N = 1/4)
}


def info(name: str) -> InitInfo:
    law, args = LAWS[name]
    return InitInfo(law=law, symmetric=True, args=dict(args), origin="recorded")


def make_chain(
    d_in: int,
    widths: Sequence[int],
    d_out: int | None = 1,
    *,
    law: str = "he-normal",
    bias: bool = False,
    bias_law: str | None = None,
    prefix: str = "body",
) -> Chain:
    """``d_in → widths (ReLU) → d_out`` (linear output; ``d_out=None``: no output layer); modules ``body.0`` …"""
    dims = [d_in, *widths]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(_layer(f"{prefix}.{i}", fan_in, fan_out, "relu", law, bias, bias_law))
    if d_out is not None:
        layers.append(_layer(f"{prefix}.{len(widths)}", dims[-1], d_out, None, law, bias, bias_law))
    return Chain(index=0, layers=tuple(layers), input_dim=d_in, output_dim=d_out or widths[-1], end="output")


def _layer(
    name: str, fan_in: int, fan_out: int, act: str | None, law: str, bias: bool, bias_law: str | None
) -> Layer:
    b_info = None
    if bias:
        b_info = (
            info(bias_law) if bias_law else (info("default") if law == "default" else InitInfo("zeros", True))
        )
    return Layer(
        module=name,
        in_features=fan_in,
        out_features=fan_out,
        bias=bias,
        activation=act,
        weight_init=info(law),
        bias_init=b_info,
    )


class MLP(nn.Module):
    """``d_in → widths → d_out`` with nn.Linear layers named ``body.0``, ``body.1``, … (PyTorch default init)."""

    def __init__(
        self, d_in: int = 1, widths: Sequence[int] = (2, 2, 2), d_out: int = 1, bias: bool = True
    ) -> None:
        super().__init__()
        dims = [d_in, *widths, d_out]
        self.body = nn.ModuleList(
            nn.Linear(a, b, bias=bias) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, x: Any) -> Any:
        for layer in self.body[:-1]:
            x = layer(x).relu()
        return self.body[-1](x)


class RaiMLP(MLP):
    """`MLP` initialised by `relulint.init.rai_` layer by layer (the first He, the output layer RAI too, as
    `relulint.init.apply_rai` does on a chain), from the global RNG (the probe's rebuild path forks and
    seeds it per sample). ``dtype``: the parameters' (RAI then draws into bf16, say)."""

    def __init__(
        self,
        d_in: int = 1,
        widths: Sequence[int] = (2, 2, 2),
        d_out: int = 1,
        bias: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(d_in, widths, d_out, bias)
        self.to(dtype)
        for index, layer in enumerate(self.body):
            rai_(layer, first_layer=index == 0)


def recorded_chain(factory: Callable[[], nn.Module]) -> Chain:
    """The chain of an `MLP`-like model as relulint's recorder sees it: every layer's `InitInfo` from the
    init calls recorded while ``factory`` builds it (`relulint.init_recorder.InitRecorder`, `relulint.init_reconcile.info_from_event`), the
    last call per parameter winning (as the loader keeps it)."""
    with InitRecorder() as recorder:
        model = factory()
    events = {event.param: event for event in recorder.events_for(model)}
    linears = list(model.body)  # type: ignore[union-attr]
    layers = []
    for index, linear in enumerate(linears):
        name = f"body.{index}"
        shape = tuple(linear.weight.shape)
        weight_info = info_from_event(events[f"{name}.weight"], shape)
        bias_info = None
        if linear.bias is not None:
            bias_info = info_from_event(
                events[f"{name}.bias"], tuple(linear.bias.shape), "bias", fan_in=shape[1]
            )
        layers.append(
            Layer(
                module=name,
                in_features=shape[1],
                out_features=shape[0],
                bias=linear.bias is not None,
                activation="relu" if index < len(linears) - 1 else None,
                weight_init=weight_info,
                bias_init=bias_info,
            )
        )
    d_in, d_out = layers[0].in_features, layers[-1].out_features
    return Chain(index=0, layers=tuple(layers), input_dim=d_in, output_dim=d_out, end="output")


def loaded_model(factory: Callable[[], nn.Module], name: str = "Net") -> LoadedModel:
    return LoadedModel(
        target=Target(spec="t"),
        name=name,
        module=factory(),
        path="x.py",
        location=Location("x.py", 1),
        module_locations={},
        rebuild=factory,
    )


def with_output_bias(chain: Chain, law: str = "default") -> Chain:
    """``chain`` with a bias (``law``) on its output layer only (hidden layers unchanged)."""
    out = dataclasses.replace(chain.layers[-1], bias=True, bias_init=info(law))
    return dataclasses.replace(chain, layers=(*chain.layers[:-1], out))


def negative_bias_chain() -> Chain:
    """1 → 4×3 → 1 with every bias the constant −1: dies far more often than the symmetric bound allows."""
    chain = make_chain(2, [4] * 3, bias=True)
    bias = InitInfo("constant", False, args={"val": -1.0})
    return dataclasses.replace(
        chain, layers=tuple(dataclasses.replace(layer, bias_init=bias) for layer in chain.layers)
    )


def with_norm(chain: Chain, norm: str) -> Chain:
    """``chain`` with ``norm`` ("batchnorm" / "layernorm") after every hidden layer."""
    hidden = tuple(dataclasses.replace(layer, norm=norm) for layer in chain.hidden)
    return dataclasses.replace(chain, layers=(*hidden, *chain.layers[len(hidden) :]))


def _draw64(law: Law, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if law.kind == "normal":
        return rng.normal(law.mean, law.std, size=shape)
    if law.kind == "uniform":
        return rng.uniform(law.low, law.high, size=shape)
    if law.kind == "constant":
        return np.full(shape, law.mean)
    raise ValueError(f"the reference does not sample {law.kind!r}")


def _norm64(z: np.ndarray, norm: str | None) -> np.ndarray:
    """Training-mode BatchNorm over the points (per unit) or LayerNorm (per point), γ = 1, β = 0, eps 1e-5."""
    if norm is None:
        return z
    axis = 2 if norm == "batchnorm" else 1
    centred = z - z.mean(axis=axis, keepdims=True)
    return centred / np.sqrt((centred**2).mean(axis=axis, keepdims=True) + 1e-5)


def reference_probe(
    chain: Chain, data: np.ndarray, samples: int, seed: int, batch: int = 1000
) -> tuple[int, int]:
    """``(born_dead, near_constant)`` by brute force in float64: every weight drawn from the recorded law,
    every point of ``data`` (P × d_in) propagated, no shortcut, no rescaling, one sample at a time in
    effect (vectorised over independent samples). The definitions of `relulint.probe`: born dead = some
    hidden layer zero at every point; near-constant = alive and the outputs' spread over D at most 1e-6 of
    their largest magnitude."""
    rng = np.random.default_rng(seed)
    laws = []
    for layer in chain.layers:
        weight = resolve_weight(layer.weight_init, layer.in_features, layer.out_features)
        bias = resolve_bias(layer.bias_init, layer.in_features) if layer.bias else None
        assert weight is not None and (bias is not None or not layer.bias)
        laws.append((layer, weight, bias))
    n_hidden = len(chain.hidden)
    x = np.asarray(data, dtype=np.float64).T  # (d_in, P)
    dead = near = 0
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        h = np.broadcast_to(x, (n, *x.shape))
        zero = np.zeros(n, dtype=bool)
        values = h
        for index, (layer, weight, bias) in enumerate(laws):
            z = _draw64(weight, (n, layer.out_features, layer.in_features), rng) @ h
            if bias is not None:
                z = z + _draw64(bias, (n, layer.out_features), rng)[..., None]
            if index < n_hidden:
                h = np.maximum(_norm64(z, layer.norm), 0.0)
                zero |= ~h.any(axis=(1, 2))
                values = h
            else:
                values = z
        spread = (values.max(axis=2) - values.min(axis=2)).max(axis=1)
        scale = np.abs(values).max(axis=(1, 2))
        dead += int(zero.sum())
        near += int((~zero & (scale > 0) & (spread <= NEAR_CONSTANT_RTOL * scale)).sum())
    return dead, near
