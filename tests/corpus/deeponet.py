"""A DeepONet in the DeepXDE style: `forward` takes one tuple (sensor values of the input function, query
points) and checks that the two batches match; the branch and trunk are FNNs that apply their activation as a
function (`torch.relu`), DeepXDE also activates the trunk's output; a dot product over the p outputs plus a
scalar bias combines them."""

import torch
from torch import nn


class FNN(nn.Module):
    def __init__(self, layer_sizes: list[int], activation=torch.relu) -> None:
        super().__init__()
        self.activation = activation
        self.linears = nn.ModuleList(
            [nn.Linear(a, b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:], strict=True)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear in self.linears[:-1]:
            x = self.activation(linear(x))
        return self.linears[-1](x)


class DeepONet(nn.Module):
    """Antiderivative operator: 100 sensors, 1-D query points, branch and trunk 12 hidden layers of width 8."""

    def __init__(self, sensors: int = 100, width: int = 8, depth: int = 12, p: int = 8) -> None:
        super().__init__()
        self.branch = FNN([sensors, *([width] * depth), p])
        self.trunk = FNN([1, *([width] * depth), p])
        self.activation_trunk = torch.relu
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x_func, x_loc = inputs
        if x_func.shape[0] != x_loc.shape[0]:
            raise ValueError("DeepONet: one query point per input function (unaligned batches)")
        branch = self.branch(x_func)
        trunk = self.activation_trunk(self.trunk(x_loc))
        return torch.einsum("bi,bi->b", branch, trunk).unsqueeze(1) + self.b
