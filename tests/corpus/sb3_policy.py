"""An actor-critic policy in the Stable-Baselines3 style: an MLP extractor with separate policy and value
nets, orthogonal init with gain sqrt(2) on the extractor, gain 0.01 on the action head and 1 on the value
head, zero biases."""

import math

import torch
from torch import nn


class MlpExtractor(nn.Module):
    def __init__(self, feature_dim: int, net_arch: list[int], activation_fn: type[nn.Module]) -> None:
        super().__init__()
        policy: list[nn.Module] = []
        value: list[nn.Module] = []
        last = feature_dim
        for width in net_arch:
            policy += [nn.Linear(last, width), activation_fn()]
            value += [nn.Linear(last, width), activation_fn()]
            last = width
        self.policy_net = nn.Sequential(*policy)
        self.value_net = nn.Sequential(*value)
        self.latent_dim = last

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.policy_net(features), self.value_net(features)


def init_weights(module: nn.Module, gain: float) -> None:
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight, gain=gain)
        nn.init.zeros_(module.bias)


class ActorCriticPolicy(nn.Module):
    """obs 8 -> [64, 64] ReLU -> 2 action logits (gain 0.01) and 1 value (gain 1)."""

    def __init__(self, obs_dim: int = 8, n_actions: int = 2) -> None:
        super().__init__()
        self.mlp_extractor = MlpExtractor(obs_dim, [64, 64], nn.ReLU)
        self.action_net = nn.Linear(self.mlp_extractor.latent_dim, n_actions)
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim, 1)
        self.mlp_extractor.apply(lambda m: init_weights(m, math.sqrt(2)))
        init_weights(self.action_net, 0.01)
        init_weights(self.value_net, 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent_pi, latent_vf = self.mlp_extractor(obs)
        return self.action_net(latent_pi), self.value_net(latent_vf)
