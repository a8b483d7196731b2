"""A neural-operator style pointwise channel MLP: 1x1 `Conv1d` layers over (batch, channels, grid points),
a lifting layer, a deep stack of 1x1 convolutions with ReLU, and a projection."""

import torch
from torch import nn


class PointwiseOperator(nn.Module):
    """Lift 2 input channels (a(x), x) to 6 channels, 9 more 1x1 conv + ReLU layers, project to 1 channel."""

    def __init__(self, in_channels: int = 2, width: int = 6, depth: int = 10) -> None:
        super().__init__()
        self.lifting = nn.Conv1d(in_channels, width, kernel_size=1)
        self.mlp = nn.ModuleList([nn.Conv1d(width, width, kernel_size=1) for _ in range(depth - 1)])
        self.projection = nn.Conv1d(width, 1, kernel_size=1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.lifting(a))
        for conv in self.mlp:
            h = torch.relu(conv(h))
        return self.projection(h)
