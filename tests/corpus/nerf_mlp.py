"""A NeRF-style MLP: positions through D Linear+ReLU layers with the input concatenated back in after layer
`skips`, a density head from the trunk, and a colour branch that also sees the viewing direction. One
(N, 3 + 3) tensor in, split inside forward as the original code does."""

import torch
import torch.nn.functional as F
from torch import nn


class TinyNeRF(nn.Module):
    """D = 8 layers of W = 6 units, skip (concat of the positions) after layer 4."""

    def __init__(
        self, D: int = 8, W: int = 6, input_ch: int = 3, input_ch_views: int = 3, skips=(4,)
    ) -> None:
        super().__init__()
        self.input_ch, self.input_ch_views, self.skips = input_ch, input_ch_views, skips
        self.pts_linears = nn.ModuleList(
            [nn.Linear(input_ch, W)]
            + [nn.Linear(W + input_ch, W) if i in skips else nn.Linear(W, W) for i in range(D - 1)]
        )
        self.views_linears = nn.ModuleList([nn.Linear(input_ch_views + W, W // 2)])
        self.feature_linear = nn.Linear(W, W)
        self.alpha_linear = nn.Linear(W, 1)
        self.rgb_linear = nn.Linear(W // 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        input_pts, input_views = torch.split(x, [self.input_ch, self.input_ch_views], dim=-1)
        h = input_pts
        for i, layer in enumerate(self.pts_linears):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([input_pts, h], -1)
        alpha = self.alpha_linear(h)
        feature = self.feature_linear(h)
        h = torch.cat([feature, input_views], -1)
        for layer in self.views_linears:
            h = F.relu(layer(h))
        rgb = self.rgb_linear(h)
        return torch.cat([rgb, alpha], -1)
