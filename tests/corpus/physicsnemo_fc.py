"""A physics-ML fully connected net with skip connections in the physicsnemo/Modulus style: every second
layer adds the output saved two layers earlier, with the variables swapped in one statement
(`x, x_skip = x + x_skip, x`)."""

import torch
from torch import nn


class FCLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))


class FullyConnected(nn.Module):
    """3 -> 8 layers of 8 units with skip connections -> 1."""

    def __init__(
        self, in_features: int = 3, layer_size: int = 8, out_features: int = 1, num_layers: int = 8
    ) -> None:
        super().__init__()
        self.skip_connections = True
        layers = [FCLayer(in_features, layer_size)]
        layers += [FCLayer(layer_size, layer_size) for _ in range(num_layers - 1)]
        self.layers = nn.ModuleList(layers)
        self.final_layer = nn.Linear(layer_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_skip = None
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.skip_connections and i % 2 == 0:
                if x_skip is not None:
                    x, x_skip = x + x_skip, x
                else:
                    x_skip = x
        return self.final_layer(x)
