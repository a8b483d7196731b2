"""ReLU spelled other ways: `nn.LeakyReLU(0.0)` (a configurable "leaky" activation left at slope 0),
`h.clamp_min(0)` and `torch.maximum(h, 0)`. Each is max(h, 0), so each layer can die like a ReLU layer."""

import torch
from torch import nn


class ConfigurableActMLP(nn.Module):
    """2 -> 12 layers of width 5 with nn.LeakyReLU(negative_slope) -> 1; negative_slope = 0.0 here."""

    def __init__(self, width: int = 5, depth: int = 12, negative_slope: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(2 if i == 0 else width, width), nn.LeakyReLU(negative_slope)]
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ClampMinMLP(nn.Module):
    """2 -> 12 layers of width 5 with `h.clamp_min(0)` -> 1."""

    def __init__(self, width: int = 5, depth: int = 12) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2 if i == 0 else width, width) for i in range(depth)])
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x).clamp_min(0)
        return self.out(x)


class MaximumMLP(nn.Module):
    """2 -> 12 layers of width 5 with `torch.maximum(h, zero)` -> 1."""

    def __init__(self, width: int = 5, depth: int = 12) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2 if i == 0 else width, width) for i in range(depth)])
        self.out = nn.Linear(width, 1)
        self.register_buffer("zero", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.maximum(layer(x), self.zero)
        return self.out(x)
