"""The healthy DeepXDE-style configuration: 4 hidden layers of 50 units, ReLU, He normal, zero biases."""

import torch
from torch import nn


class WideFNN(nn.Module):
    def __init__(self, layer_sizes: tuple[int, ...] = (2, 50, 50, 50, 50, 1)) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
            linear = nn.Linear(fan_in, fan_out)
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
            self.linears.append(linear)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        for linear in self.linears[:-1]:
            x = torch.relu(linear(x))
        return self.linears[-1](x)
