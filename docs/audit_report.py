"""Regenerate README.md's "After training" report from a real run: train a born-dead 1 → 2×10 → 1 net,
then `relulint audit` its checkpoint.

    python docs/audit_report.py          # rewrite README.md's audit block
    python docs/audit_report.py --check  # exit 1 when README.md's block differs (the test-suite runs this)

The net is `collapse` Fig. 2's set-up: y = x sin(5x) on 201 points of [-√3, √3], a 1 → 2×10 → 1 ReLU
net with PyTorch's default init (the first seed whose net is born dead on these points), Adam on MSE,
full batch. Everything runs in a temporary directory holding `model.py` (the class below), `last.pt`,
`x.npy` and `y.npy`, so the report names those files only. The block sits between the
`<!-- audit-report -->` and `<!-- /audit-report -->` markers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from readme_block import update_readme_block

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- audit-report -->", "<!-- /audit-report -->"
COMMAND = "relulint audit model.py:Net --weights last.pt --data x.npy --targets y.npy --loss mse"

MODEL = """\
from torch import nn


class Net(nn.Module):
    def __init__(self, width=2, depth=10):
        super().__init__()
        layers = [nn.Linear(1, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.body(x))
"""

TRAIN = """\
import math, sys

import numpy as np
import torch

sys.path.insert(0, ".")
from model import Net

x = torch.linspace(-math.sqrt(3), math.sqrt(3), 201).reshape(-1, 1)
y = x * torch.sin(5 * x)
for seed in range(1000):  # the first born-dead net: a hidden layer zero on every input
    torch.manual_seed(seed)
    net = Net()
    h, dead = x, False
    with torch.no_grad():
        for module in net.body:
            h = module(h)
            dead = dead or bool((h == 0).all())
    if dead:
        break
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for _ in range(600):
    opt.zero_grad()
    ((net(x) - y) ** 2).mean().backward()
    opt.step()
torch.save({"epoch": 600, "model_state_dict": net.state_dict(), "optimizer_state_dict": opt.state_dict()}, "last.pt")
np.save("x.npy", x.numpy())
np.save("y.npy", y.numpy())
"""


def sample() -> str:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "model.py").write_text(MODEL, encoding="utf-8")
        subprocess.run([sys.executable, "-c", TRAIN], cwd=directory, env=env, check=True)
        run = subprocess.run(
            [sys.executable, "-m", "relulint", *COMMAND.split()[1:]],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    return f"{START}\n```\n$ {COMMAND}\n{run.stdout.rstrip()}\n```\n{END}"


def main() -> int:
    return update_readme_block(START, END, sample, "audit-report")


if __name__ == "__main__":
    raise SystemExit(main())
