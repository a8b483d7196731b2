"""A PINN in float64, the usual PINN dtype: built in float32, then `.double()` at the end of `__init__`."""

import torch
from torch import nn


class DoublePINN(nn.Module):
    """2 -> 5x16 -> 1 with PyTorch's default init, converted to float64."""

    def __init__(self, width: int = 5, depth: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(2, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.double()

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        return self.net(xt)
