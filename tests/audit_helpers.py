"""Shared by the audit and monitor tests: a model file, seeded born-dead nets, full-batch training, and
`relulint audit … --format json` run in-process."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from typer.testing import CliRunner

from relulint.cli import app

MODEL = """
from torch import nn


class Net(nn.Module):
    def __init__(self, width=2, depth=10, d_in=1):
        super().__init__()
        layers = [nn.Linear(d_in, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.body(x))
"""

HALF = math.sqrt(3.0)  # the papers' domain [-√3, √3] (`collapse` §2, `dying` §5)
N_POINTS = 201  # odd: the median of the targets is one of them


def net_class(tmp_path: Path) -> type[nn.Module]:
    """Write model.py into tmp_path and return its Net class (the file the CLI audits)."""
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(compile(MODEL, str(tmp_path / "model.py"), "exec"), namespace)
    return namespace["Net"]


def grid() -> torch.Tensor:
    """N_POINTS inputs evenly on [-√3, √3], 0 among them."""
    return torch.linspace(-HALF, HALF, N_POINTS).reshape(-1, 1)


def hidden_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each hidden ReLU layer's output on x (model.body is Linear, ReLU, ...)."""
    outputs, h = [], x
    with torch.no_grad():
        for module in model.body:
            h = module(h)
            if isinstance(module, nn.ReLU):
                outputs.append(h)
    return outputs


def last_layer_dead_seed(cls: type[nn.Module], x: torch.Tensor, **kwargs: Any) -> int:
    """The first seed whose freshly built net has its *last* hidden layer zero on every input of x:
    born dead (`collapse` Lemma 1) with the output bias its only parameter that gets a gradient."""
    for seed in range(10_000):
        torch.manual_seed(seed)
        model = cls(**kwargs)
        if bool((hidden_outputs(model, x)[-1] == 0).all()):
            return seed
    raise AssertionError("no seed gives a net with a dead last hidden layer")


def train(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, lr: float, steps: int, adam: bool = False
) -> None:
    """Full-batch gradient descent (SGD, or Adam) on MSE or MAE."""
    params = model.parameters()
    opt = torch.optim.Adam(params, lr=lr) if adam else torch.optim.SGD(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        error = model(x) - y
        value = (error**2).mean() if loss == "mse" else error.abs().mean()
        value.backward()
        opt.step()


def save_data(tmp_path: Path, x: torch.Tensor, y: torch.Tensor) -> None:
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", y.numpy())


@dataclass
class AuditRun:
    exit_code: int
    document: dict[str, Any] | None
    output: str

    @property
    def target(self) -> dict[str, Any]:
        assert self.document is not None, self.output
        (target,) = self.document["targets"]
        return target

    def findings(self, code: str) -> list[dict[str, Any]]:
        return [f for f in self.target["findings"] if f["code"] == code]


def audit_json(*args: str) -> AuditRun:
    """`relulint audit ARGS --format json` in-process."""
    result = CliRunner().invoke(app, ["audit", *args, "--format", "json"])
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    return AuditRun(result.exit_code, document, result.output)
