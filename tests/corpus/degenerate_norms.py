"""Normalizations that normalize over a single feature: `LayerNorm(1)` after a 1-unit layer and
`GroupNorm(C, C)` on (N, C) features. Each outputs exactly its bias beta (0 at init) for every input, so the
ReLU after it is zero everywhere: these nets are dead at initialization, not protected."""

import torch
from torch import nn


class ScalarGateNet(nn.Module):
    """2 -> Linear(2, 1) -> LayerNorm(1) -> ReLU -> Linear(1, 8) -> ReLU -> 1."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Linear(2, 1)
        self.gate_norm = nn.LayerNorm(1)
        self.expand = nn.Linear(1, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.relu(self.gate_norm(self.gate(x)))
        return self.out(torch.relu(self.expand(g)))


class PerUnitGroupNormMLP(nn.Module):
    """3 -> 4 x [Linear(., 16) -> GroupNorm(16, 16) -> ReLU] -> 1 (one group per unit)."""

    def __init__(self, d_in: int = 3, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(d_in if i == 0 else width, width), nn.GroupNorm(width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))
