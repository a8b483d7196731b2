"""DDPG actor and critic in the style of the original paper's reference implementations: fan-in uniform init
for the hidden layers and a final layer drawn from uniform(-3e-3, 3e-3) so that the initial outputs are
near zero; the critic feeds the action in at the second layer."""

import math

import torch
from torch import nn

FINAL_INIT = 3e-3


def fanin_init(weight: torch.Tensor) -> None:
    bound = 1.0 / math.sqrt(weight.size(1))
    nn.init.uniform_(weight, -bound, bound)


class Actor(nn.Module):
    def __init__(
        self, state_dim: int = 17, action_dim: int = 6, hidden1: int = 400, hidden2: int = 300
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(state_dim, hidden1)
        self.fc2 = nn.Linear(hidden1, hidden2)
        self.fc3 = nn.Linear(hidden2, action_dim)
        self.relu = nn.ReLU()
        self.tanh = nn.Tanh()
        fanin_init(self.fc1.weight)
        fanin_init(self.fc2.weight)
        nn.init.uniform_(self.fc3.weight, -FINAL_INIT, FINAL_INIT)
        nn.init.uniform_(self.fc3.bias, -FINAL_INIT, FINAL_INIT)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.fc1(state))
        out = self.relu(self.fc2(out))
        return self.tanh(self.fc3(out))


class Critic(nn.Module):
    def __init__(
        self, state_dim: int = 17, action_dim: int = 6, hidden1: int = 400, hidden2: int = 300
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(state_dim, hidden1)
        self.fc2 = nn.Linear(hidden1 + action_dim, hidden2)
        self.fc3 = nn.Linear(hidden2, 1)
        fanin_init(self.fc1.weight)
        fanin_init(self.fc2.weight)
        nn.init.uniform_(self.fc3.weight, -FINAL_INIT, FINAL_INIT)
        nn.init.uniform_(self.fc3.bias, -FINAL_INIT, FINAL_INIT)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.fc1(state))
        out = torch.relu(self.fc2(torch.cat([out, action], dim=1)))
        return self.fc3(out)
