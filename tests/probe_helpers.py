"""Hand-built `Chain`s and `LoadedModel`s for the probe tests and benchmark (no capture/extract needed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from relulint.facts import Chain, InitInfo, Layer, LoadedModel, Location, Target

LAWS: dict[str, tuple[str, Mapping[str, Any]]] = {
    "he-normal": ("kaiming-normal", {"a": 0, "mode": "fan_in", "nonlinearity": "relu"}),
    "he-uniform": ("kaiming-uniform", {"a": 0, "mode": "fan_in", "nonlinearity": "relu"}),
    "orthogonal": ("orthogonal", {"gain": 1.0}),
    "default": ("pytorch-default", {}),
    "custom": ("custom", {}),
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
