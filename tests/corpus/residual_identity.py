"""A residual MLP whose blocks add an explicit `nn.Identity()` shortcut to a narrow Linear-ReLU-Linear branch;
a wide stem with a ReLU and a linear head."""

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.shortcut = nn.Identity()
        self.branch = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.branch(x)


class ResidualMLP(nn.Module):
    """stem 3 -> 16 + ReLU, 8 blocks with a 4-unit ReLU branch (alone: 2^-4 = 6.25 % each), head 16 -> 1."""

    def __init__(self, d_in: int = 3, dim: int = 16, hidden: int = 4, n_blocks: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(d_in, dim), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(dim, hidden) for _ in range(n_blocks)])
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
