"""A head-wise MLP: each Linear's output is viewed as (batch, heads, head_dim), rectified on that view and
flattened back, as attention-style code often does. A ReLU on a view of the whole output is still a ReLU
layer of the full width."""

import torch
from torch import nn


class HeadwiseMLP(nn.Module):
    """4 -> 10 layers of 2 heads x 3 units (width 6), ReLU on the (N, 2, 3) view -> 1."""

    def __init__(self, d_in: int = 4, heads: int = 2, head_dim: int = 3, depth: int = 10) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        width = heads * head_dim
        self.layers = nn.ModuleList([nn.Linear(d_in if i == 0 else width, width) for i in range(depth)])
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(x).view(-1, self.heads, self.head_dim)
            x = torch.relu(h).flatten(1)
        return self.out(x)
