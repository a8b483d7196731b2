"""A deep, narrow MLP with LayerNorm over the layer's 4 features before every ReLU: the normalized
pre-activations have mean 0 over the features and are not all equal, so at least one unit is positive for
every input and no layer can be dead (`collapse` section 5.2)."""

import torch
from torch import nn


class PreNormNarrowMLP(nn.Module):
    """2 -> 20 x [Linear(., 4) -> LayerNorm(4) -> ReLU] -> 1."""

    def __init__(self, width: int = 4, depth: int = 20) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(2 if i == 0 else width, width), nn.LayerNorm(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))
