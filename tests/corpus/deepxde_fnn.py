"""A DeepXDE-style fully connected PINN: layer sizes as one list, the activation and the initializer named by
strings, the Linears in a ModuleList and the activation applied as a function in forward."""

import torch
from torch import nn

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
INITIALIZERS = {"Glorot normal": nn.init.xavier_normal_, "He normal": nn.init.kaiming_normal_}


class FNN(nn.Module):
    """Poisson-equation surrogate u(x, y): 12 hidden layers of 8 units, ReLU, Glorot normal, zero biases."""

    def __init__(
        self,
        layer_sizes: tuple[int, ...] = (2, *([8] * 12), 1),
        activation: str = "relu",
        kernel_initializer: str = "Glorot normal",
    ) -> None:
        super().__init__()
        self.activation = ACTIVATIONS[activation]
        initializer = INITIALIZERS[kernel_initializer]
        self.linears = nn.ModuleList()
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
            linear = nn.Linear(fan_in, fan_out)
            initializer(linear.weight)
            nn.init.zeros_(linear.bias)
            self.linears.append(linear)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        for linear in self.linears[:-1]:
            x = self.activation(linear(x))
        return self.linears[-1](x)
