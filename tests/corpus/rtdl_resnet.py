"""A tabular ResNet in the rtdl style: a first Linear, blocks `x + Dropout(Linear(Dropout(ReLU(Linear(
BatchNorm(x))))))` and a head `Linear(ReLU(BatchNorm(x)))`."""

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d_main: int, d_hidden: int, dropout_first: float, dropout_second: float) -> None:
        super().__init__()
        self.normalization = nn.BatchNorm1d(d_main)
        self.linear_first = nn.Linear(d_main, d_hidden)
        self.activation = nn.ReLU()
        self.dropout_first = nn.Dropout(dropout_first)
        self.linear_second = nn.Linear(d_hidden, d_main)
        self.dropout_second = nn.Dropout(dropout_second)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.normalization(x)
        z = self.linear_first(z)
        z = self.activation(z)
        z = self.dropout_first(z)
        z = self.linear_second(z)
        z = self.dropout_second(z)
        return x + z


class Head(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.normalization = nn.BatchNorm1d(d_in)
        self.activation = nn.ReLU()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.activation(self.normalization(x)))


class TabularResNet(nn.Module):
    """8 blocks, d_main = 16, d_hidden = 4 (each block's ReLU layer alone would be 2^-4 = 6.25 %)."""

    def __init__(self, d_in: int = 12, d_main: int = 16, d_hidden: int = 4, n_blocks: int = 8) -> None:
        super().__init__()
        self.first_layer = nn.Linear(d_in, d_main)
        self.blocks = nn.Sequential(*[Block(d_main, d_hidden, 0.1, 0.0) for _ in range(n_blocks)])
        self.head = Head(d_main, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first_layer(x)))
