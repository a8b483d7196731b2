"""A DeepSDF-style decoder: weight-normalized Linears, the latent code and xyz concatenated back in at
`latent_in`, ReLU and dropout after every hidden layer, tanh on the signed distance."""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class Decoder(nn.Module):
    """latent 3 + xyz 3 -> 10 weight-normed layers of width 8 (layer 3: 8 - 6 = 2 units), input re-injected
    at layer 4."""

    def __init__(
        self, latent_size: int = 3, dims=(8,) * 10, latent_in=(4,), dropout_prob: float = 0.2
    ) -> None:
        super().__init__()
        dims = [latent_size + 3, *dims, 1]
        self.num_layers = len(dims)
        self.latent_in = latent_in
        for layer in range(self.num_layers - 1):
            out_dim = dims[layer + 1] - dims[0] if layer + 1 in latent_in else dims[layer + 1]
            setattr(self, f"lin{layer}", weight_norm(nn.Linear(dims[layer], out_dim)))
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout_prob)
        self.th = nn.Tanh()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        for layer in range(self.num_layers - 1):
            lin = getattr(self, f"lin{layer}")
            if layer in self.latent_in:
                x = torch.cat([x, inputs], 1)
            x = lin(x)
            if layer < self.num_layers - 2:
                x = self.dropout(self.relu(x))
        return self.th(x)
