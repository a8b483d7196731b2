"""A physics-informed network u(x, t) in two versions: one relulint flags, and its fix.

relulint check examples/pinn.py            # both models; DeepNarrowPINN fails
relulint check examples/pinn.py:WidePINN   # the fix passes
"""

import torch
from torch import nn


class DeepNarrowPINN(nn.Module):
    """16 hidden ReLU layers of width 5: born dead with probability ≈ 40 % (collapse Thm 8)."""

    def __init__(self, width: int = 5, depth: int = 16):
        super().__init__()
        self.input = nn.Linear(2, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.output = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.input(torch.cat([x, t], dim=1)))
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.output(h)


class WidePINN(nn.Module):
    """The fix: width 16 keeps P(born dead) < 1 % at this depth, and He init keeps the signal length."""

    def __init__(self, width: int = 16, depth: int = 16):
        super().__init__()
        self.input = nn.Linear(2, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.output = nn.Linear(width, 1)
        for layer in [self.input, *self.hidden]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.input(torch.cat([x, t], dim=1)))
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.output(h)
