"""An MNIST-style classifier that insists on image batches: `forward` checks the input is (N, C, H, W) (a
data-dependent `if` that torch.fx cannot trace) and raises on a flat (N, 784) example tensor."""

import torch
import torch.nn.functional as F
from torch import nn


class DigitClassifier(nn.Module):
    """(N, 1, 28, 28) -> flatten -> 10 ReLU layers of width 6 -> 10 logits."""

    def __init__(self, width: int = 6, depth: int = 10) -> None:
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(28 * 28 if i == 0 else width, width) for i in range(depth)])
        self.classifier = nn.Linear(width, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"expected a batch of images (N, C, H, W), got shape {tuple(images.shape)}")
        n, c, h, w = images.shape
        x = images.reshape(n, c * h * w)
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.classifier(x)
