"""A tabular MLP in the rtdl style: blocks of Linear -> ReLU -> Dropout from a list of layer widths."""

import torch
from torch import nn


class MLPBlock(nn.Module):
    def __init__(self, d_in: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.linear(x)))


class MLP(nn.Module):
    """d_layers = [32] * 6: six ReLU layers of width 32."""

    def __init__(self, d_in: int = 20, d_layers: tuple[int, ...] = (32,) * 6, d_out: int = 1) -> None:
        super().__init__()
        widths = [d_in, *d_layers]
        self.blocks = nn.Sequential(
            *[MLPBlock(a, b, 0.1) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        )
        self.head = nn.Linear(widths[-1], d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))
