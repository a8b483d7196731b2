"""Custom weight-normalized Linear layers several test files build (one copy of each)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GainDirectionMatmul(nn.Module):
    """Custom weight norm with parameters `direction` / `gain`, applied as `x @ w.t() + b`."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.direction = nn.Parameter(torch.randn(n_out, n_in))
        self.gain = nn.Parameter(torch.ones(n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.direction * (self.gain / self.direction.norm(dim=1)).unsqueeze(1)
        return x @ w.t() + self.bias


class DeletedWeightLinear(nn.Linear):
    """A custom weight norm on an nn.Linear subclass: weight_g / weight_v and `del self.weight`."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out)
        self.weight_g = nn.Parameter(torch.ones(n_out, 1))
        self.weight_v = nn.Parameter(torch.randn(n_out, n_in))
        del self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, torch._weight_norm(self.weight_v, self.weight_g, 0), self.bias)
