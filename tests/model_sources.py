"""Model files the command-line tests write into temporary projects (one copy of each)."""

from __future__ import annotations

import textwrap

# 12 ReLU layers of width 3, PyTorch's default init: born dead with probability up to 80 % (collapse Thm 8)
DEEP_NARROW = textwrap.dedent(
    """\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, width: int = 3, depth: int = 12):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(1, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
            self.out = nn.Linear(width, 1)

        def forward(self, x):
            for layer in self.layers:
                x = torch.relu(layer(x))
            return self.out(x)
    """
)
