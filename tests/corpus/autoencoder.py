"""A fully connected autoencoder with a 2-D latent code and a ReLU on the code (a common slip): encoder
32 -> 16 -> 4 -> 2, decoder 2 -> 4 -> 16 -> 32, ReLU after every layer but the last."""

import torch
from torch import nn


class Autoencoder(nn.Module):
    def __init__(self, d_in: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(d_in, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
            nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU(),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 16), nn.ReLU(),
            nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, d_in),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
