"""A policy for a dict observation space (Stable-Baselines3 MultiInputPolicy style): `forward(obs)` gets a
dict of tensors (batched or not) that it flattens and concatenates, then a deep, narrow ReLU MLP with `F.relu`."""

import torch
import torch.nn.functional as F
from torch import nn


class DictObsPolicy(nn.Module):
    """{'position': (N, 3), 'velocity': (N, 3)} -> 10 ReLU layers of width 6 -> 2 actions."""

    def __init__(self, width: int = 6, depth: int = 10, n_actions: int = 2) -> None:
        super().__init__()
        self.keys = ("position", "velocity")
        self.input_layer = nn.Linear(6, width)
        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
        self.action_head = nn.Linear(width, n_actions)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if obs["position"].dim() == 1:  # a single, unbatched observation
            obs = {key: value.unsqueeze(0) for key, value in obs.items()}
        x = torch.cat([obs[key].flatten(1) for key in self.keys], dim=1)
        x = F.relu(self.input_layer(x))
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.action_head(x)
