"""ReLU after a sum of two Linear branches, as GraphSAGE-style layers and projection-shortcut ResNets write it:
``relu(lin_l(neighbours) + lin_r(x))`` and ``relu(fc2(relu(fc1(x))) + proj(x))``. The sum is one layer of the
common width whose ReLU lies on every path (each branch went through its own symmetric weights: no skip)."""

import torch
import torch.nn.functional as F
from torch import nn


class MeanSAGELayer(nn.Module):
    """One dense GraphSAGE-style layer over a batch of nodes that are all neighbours (the mean aggregator)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin_l = nn.Linear(in_channels, out_channels)  # the neighbours' mean
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False)  # the node itself

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        neighbours = x.mean(dim=0, keepdim=True).expand_as(x)
        return self.lin_l(neighbours) + self.lin_r(x)


class MeanSAGE(nn.Module):
    """3 features -> a Linear(3, 4) + ReLU -> 8 SAGE layers of 4 channels, each followed by a ReLU -> 2."""

    def __init__(self, in_channels: int = 3, hidden: int = 4, out_channels: int = 2, layers: int = 8) -> None:
        super().__init__()
        self.lin_in = nn.Linear(in_channels, hidden)
        self.convs = nn.ModuleList(MeanSAGELayer(hidden, hidden) for _ in range(layers))
        self.lin_out = nn.Linear(hidden, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.lin_in(x))
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.lin_out(x)


class ProjectionBlock(nn.Module):
    """A post-activation residual block with a projection shortcut (a Linear on the skip path)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.proj = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc2(torch.relu(self.fc1(x))) + self.proj(x))


class ProjectionResMLP(nn.Module):
    """2 -> Linear(2, 6) + ReLU -> 8 projection blocks of width 6 -> 1."""

    def __init__(self, width: int = 6, blocks: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(2, width), nn.ReLU())
        self.blocks = nn.Sequential(*(ProjectionBlock(width) for _ in range(blocks)))
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
