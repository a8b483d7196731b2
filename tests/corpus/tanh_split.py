"""One path, one network: 8 ReLU layers of width 9 with a Tanh layer (or two Linears in a row) in the
middle. Whatever sits between the ReLU runs, a ReLU layer that is dead for every input makes the output
constant. `WeightNormTanhMiddle` is `TanhMiddle` with weight-normalized ReLU layers, as a user might write it
to keep the ReLUs alive."""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class TanhMiddle(nn.Module):
    """2 -> 4 ReLU layers of width 9 -> a Tanh layer -> 4 ReLU layers of width 9 -> 1."""

    def __init__(self, width: int = 9) -> None:
        super().__init__()
        first = [nn.Linear(2, width), nn.ReLU()] + [
            m for _ in range(3) for m in (nn.Linear(width, width), nn.ReLU())
        ]
        second = [m for _ in range(4) for m in (nn.Linear(width, width), nn.ReLU())]
        self.encoder = nn.Sequential(*first)
        self.mixer = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.decoder = nn.Sequential(*second, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.mixer(self.encoder(x)))


class LinearBottleneck(nn.Module):
    """2 -> 4 ReLU layers of width 9 -> Linear(9, 9) with no activation -> 4 ReLU layers of width 9 -> 1."""

    def __init__(self, width: int = 9) -> None:
        super().__init__()
        self.inp = nn.Linear(2, width)
        self.pre = nn.ModuleList([nn.Linear(width, width) for _ in range(3)])
        self.project = nn.Linear(width, width)
        self.post = nn.ModuleList([nn.Linear(width, width) for _ in range(4)])
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.inp(x))
        for layer in self.pre:
            x = torch.relu(layer(x))
        x = self.project(x)
        for layer in self.post:
            x = torch.relu(layer(x))
        return self.out(x)


class WeightNormTanhMiddle(nn.Module):
    """`TanhMiddle` with `parametrizations.weight_norm` on every ReLU layer (no batch norm)."""

    def __init__(self, width: int = 9) -> None:
        super().__init__()
        first = [weight_norm(nn.Linear(2, width)), nn.ReLU()] + [
            m for _ in range(3) for m in (weight_norm(nn.Linear(width, width)), nn.ReLU())
        ]
        second = [m for _ in range(4) for m in (weight_norm(nn.Linear(width, width)), nn.ReLU())]
        self.encoder = nn.Sequential(*first)
        self.mixer = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.decoder = nn.Sequential(*second, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.mixer(self.encoder(x)))
