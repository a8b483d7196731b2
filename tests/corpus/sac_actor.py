"""A compact SAC actor for an embedded controller: a deep, narrow ReLU trunk, a mean head and a log-std head;
forward returns `mu * 0.0 + sigma`-style arithmetic on the two heads (an `add` that is not a residual)."""

import torch
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class SquashedGaussianActor(nn.Module):
    """obs 11 -> 10 ReLU layers of width 6 -> mean and log-std of a 3-D action."""

    def __init__(self, obs_dim: int = 11, act_dim: int = 3, width: int = 6, depth: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(obs_dim, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.mu = nn.Linear(width, act_dim)
        self.log_std = nn.Linear(width, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.trunk(obs)
        mu = self.mu(h)
        log_std = torch.clamp(self.log_std(h), LOG_STD_MIN, LOG_STD_MAX)
        sigma = log_std.exp()
        # keep mu in the graph for the deterministic evaluation path
        return mu * 0.0 + sigma
