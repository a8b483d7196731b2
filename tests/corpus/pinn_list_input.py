"""A space-time PINN whose forward takes the spatial coordinates as a list of (N, 1) tensors and time as a
separate (N, 1) tensor, concatenated inside forward; ReLUs applied with `F.relu`."""

import torch
import torch.nn.functional as F
from torch import nn


class SpaceTimePINN(nn.Module):
    """u(x, y, t) for a heat equation: 10 hidden layers of 6 units."""

    def __init__(self, n_space: int = 2, width: int = 6, depth: int = 10) -> None:
        super().__init__()
        self.input_layer = nn.Linear(n_space + 1, width)
        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
        self.output_layer = nn.Linear(width, 1)

    def forward(self, spatial: list[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.input_layer(torch.cat([*spatial, t], dim=1)))
        for layer in self.hidden:
            h = F.relu(layer(h))
        return self.output_layer(h)
