"""TorchScript: a deep, narrow MLP compiled with `torch.jit.script`, returned by a factory (the top-level
model is a ScriptModule) and held as a submodule of an eager wrapper."""

import torch
from torch import nn


class NarrowMLP(nn.Module):
    def __init__(self, d_in: int, width: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d_in if i == 0 else width, width) for i in range(depth)])
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.out(x)


def scripted_value_net() -> torch.jit.ScriptModule:
    """3 -> 12 ReLU layers of width 5 -> 1, scripted for deployment."""
    return torch.jit.script(NarrowMLP(3, 5, 12))


class ScriptedBody(nn.Module):
    """An eager wrapper around a scripted body: 4 -> 12 ReLU layers of width 5 -> 1, then a sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.jit.script(NarrowMLP(4, 5, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(x))
