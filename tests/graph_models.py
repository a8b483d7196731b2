"""Model files for the path / skip / norm tests, written the way their libraries write them (our own
imitations, not their code), and a helper that runs the real command line on one of them.

- `TANH_SPLIT`, `TWO_LINEARS`: one path of 8 ReLU layers of width 9, broken into two chains by a Tanh
  layer or by a Linear bottleneck without activation (a PINN with a smooth middle, an MLP with a
  projection).
- `RTDL_RESNET`: a tabular ResNet in rtdl's style — a first Linear, residual blocks of
  BatchNorm → Linear → ReLU → Dropout → Linear → Dropout added to the stream, a head
  BatchNorm → ReLU → Linear — and `RTDL_NARROW_ENDS`, the same with a narrow ReLU stem and MLP head.
- `PRE_LN_GPT`: a pre-LN transformer (token embedding, blocks x + attn(ln(x)), x + ffn(ln(x)) with a
  ReLU FFN, final LayerNorm, head).
- `SKIP_FC`: a fully connected PINN net in physicsnemo's style with a skip connection every two layers
  written with swapped variables (``x, x_skip = x + x_skip, x``).
- `NERF`: a NeRF MLP that concatenates its input back in after layer 4.
- `IDENTITY_SHORTCUT`: residual blocks ``shortcut(x) + fc2(relu(fc1(pre(x))))`` with ``nn.Identity``
  shortcuts and an ``nn.Identity`` / ``nn.Dropout`` before the branch.
- `GAUSSIAN_ACTOR`: an RL policy returning ``(mu, mu * 0.0 + log_std.exp())``.
- `DEEPONET`: a DeepONet, ``sum(branch(u) * trunk(y))``: two inputs, each with its own path.
- `GATED_MLP`: layers ``relu(value(x)) * sigmoid(gate(x))`` with no skip (a ReGLU-style gate).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

TANH_SPLIT = """
import torch
from torch import nn


def relu_layers(d_in: int, width: int, count: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(count):
        layers += [nn.Linear(d_in, width), nn.ReLU()]
        d_in = width
    return layers


class TanhSplit(nn.Module):
    def __init__(self, width: int = 9):
        super().__init__()
        self.encoder = nn.Sequential(*relu_layers(2, width, 4))
        self.smooth = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.decoder = nn.Sequential(*relu_layers(width, width, 4))
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        return self.out(self.decoder(self.smooth(self.encoder(x))))


class TwoLinears(nn.Module):
    def __init__(self, width: int = 9):
        super().__init__()
        self.encoder = nn.Sequential(*relu_layers(2, width, 4))
        self.project = nn.Linear(width, width)  # a linear bottleneck, no activation
        self.decoder = nn.Sequential(*relu_layers(width, width, 4))
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        return self.out(self.decoder(self.project(self.encoder(x))))
"""

RTDL_RESNET = """
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d_main, d_hidden, dropout_first, dropout_second, skip_connection=True):
        super().__init__()
        self.normalization = nn.BatchNorm1d(d_main)
        self.linear_first = nn.Linear(d_main, d_hidden)
        self.activation = nn.ReLU()
        self.dropout_first = nn.Dropout(dropout_first)
        self.linear_second = nn.Linear(d_hidden, d_main)
        self.dropout_second = nn.Dropout(dropout_second)
        self.skip_connection = skip_connection

    def forward(self, x):
        x_input = x
        x = self.normalization(x)
        x = self.linear_first(x)
        x = self.activation(x)
        x = self.dropout_first(x)
        x = self.linear_second(x)
        x = self.dropout_second(x)
        if self.skip_connection:
            x = x_input + x
        return x


class Head(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.normalization = nn.BatchNorm1d(d_in)
        self.activation = nn.ReLU()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.linear(self.activation(self.normalization(x)))


class ResNet(nn.Module):
    def __init__(self, d_in=8, d_main=16, d_hidden=4, n_blocks=8, dropout_first=0.1, dropout_second=0.0, d_out=1):
        super().__init__()
        self.first_layer = nn.Linear(d_in, d_main)
        self.blocks = nn.Sequential(
            *[Block(d_main, d_hidden, dropout_first, dropout_second) for _ in range(n_blocks)]
        )
        self.head = Head(d_main, d_out)

    def forward(self, x):
        x = self.first_layer(x)
        x = self.blocks(x)
        return self.head(x)


class NarrowEnds(nn.Module):
    \"\"\"The same blocks between a narrow ReLU stem and a narrow MLP head: only those two layers are on
    every path.\"\"\"

    def __init__(self, d_in=2, d_main=6, d_hidden=4, n_blocks=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(d_in, d_main), nn.ReLU())
        self.blocks = nn.Sequential(*[Block(d_main, d_hidden, 0.1, 0.0) for _ in range(n_blocks)])
        self.head = nn.Sequential(nn.Linear(d_main, d_main), nn.ReLU(), nn.Linear(d_main, 1))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
"""

PRE_LN_GPT = """
import torch
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.1):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff)
        self.act = nn.ReLU()
        self.proj = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, d_ff)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.ln_2(x))
        return x


class TinyGPT(nn.Module):
    def __init__(self, vocab_size=50, d_model=16, n_layers=6, n_heads=2, d_ff=4):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, d_ff) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, idx):
        x = self.tok_emb(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))
"""

SKIP_FC = """
import torch
from torch import nn


class FCLayer(nn.Module):
    def __init__(self, in_features, out_features, activation_fn):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.activation_fn = activation_fn

    def forward(self, x):
        return self.activation_fn(self.linear(x))


class FullyConnected(nn.Module):
    def __init__(self, in_features=2, layer_size=6, out_features=1, num_layers=10, skip_connections=True):
        super().__init__()
        self.skip_connections = skip_connections
        self.layers = nn.ModuleList()
        layer_in_features = in_features
        for _ in range(num_layers):
            self.layers.append(FCLayer(layer_in_features, layer_size, nn.ReLU()))
            layer_in_features = layer_size
        self.final_layer = nn.Linear(layer_size, out_features)

    def forward(self, x):
        x_skip = None
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.skip_connections and i % 2 == 0:
                if x_skip is not None:
                    x, x_skip = x + x_skip, x
                else:
                    x_skip = x
        return self.final_layer(x)
"""

NERF = """
import torch
import torch.nn.functional as F
from torch import nn


class NeRF(nn.Module):
    def __init__(self, D=8, W=8, input_ch=3, output_ch=4, skips=(4,)):
        super().__init__()
        self.skips = skips
        self.pts_linears = nn.ModuleList(
            [nn.Linear(input_ch, W)]
            + [nn.Linear(W, W) if i not in skips else nn.Linear(W + input_ch, W) for i in range(D - 1)]
        )
        self.output_linear = nn.Linear(W, output_ch)

    def forward(self, x):
        input_pts = x
        h = x
        for i, _ in enumerate(self.pts_linears):
            h = self.pts_linears[i](h)
            h = F.relu(h)
            if i in self.skips:
                h = torch.cat([input_pts, h], -1)
        return self.output_linear(h)
"""

IDENTITY_SHORTCUT = """
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, width=16, hidden=3, pre="identity"):
        super().__init__()
        self.pre = nn.Identity() if pre == "identity" else nn.Dropout(0.1)
        self.shortcut = nn.Identity()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x):
        return self.shortcut(x) + self.fc2(torch.relu(self.fc1(self.pre(x))))


class ResMLP(nn.Module):
    def __init__(self, d_in=2, width=16, n_blocks=10):
        super().__init__()
        self.stem = nn.Linear(d_in, width)
        pres = ["identity", "dropout"] * (n_blocks // 2)
        self.blocks = nn.Sequential(*[BasicBlock(width, 3, pre) for pre in pres])
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
"""

GAUSSIAN_ACTOR = """
import torch
from torch import nn


class GaussianActor(nn.Module):
    def __init__(self, obs_dim=4, act_dim=2, width=3, depth=12):
        super().__init__()
        layers = []
        d = obs_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.net = nn.Sequential(*layers)
        self.mu = nn.Linear(width, act_dim)
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs):
        mu = self.mu(self.net(obs))
        std = mu * 0.0 + self.log_std.exp()
        return mu, std
"""

DEEPONET = """
import torch
from torch import nn


def mlp(d_in, width, depth, d_out):
    layers = [nn.Linear(d_in, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, d_out))


class DeepONet(nn.Module):
    def __init__(self, sensors=20, width=8, depth=12, p=10):
        super().__init__()
        self.branch = mlp(sensors, width, depth, p)
        self.trunk = mlp(1, width, depth, p)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, u, y):
        return (self.branch(u) * self.trunk(y)).sum(dim=-1, keepdim=True) + self.b
"""

GATED_MLP = """
import torch
from torch import nn


class GatedLayer(nn.Module):
    \"\"\"relu(value(x)) * sigmoid(gate(x)): the gate is a second path, but a product with a dead ReLU's
    zeros is zero.\"\"\"

    def __init__(self, d_in, width):
        super().__init__()
        self.value = nn.Linear(d_in, width)
        self.gate = nn.Linear(d_in, width)

    def forward(self, x):
        return torch.relu(self.value(x)) * torch.sigmoid(self.gate(x))


class GatedMLP(nn.Module):
    def __init__(self, d_in=2, width=4, depth=6):
        super().__init__()
        self.layers = nn.ModuleList([GatedLayer(d_in if i == 0 else width, width) for i in range(depth)])
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x)
"""


def thm8(*widths: int) -> float:
    """`collapse` Thm 8 written out, 1 − ∏(1 − 2^−N), independently of relulint.theory."""
    survive = 1.0
    for width in widths:
        survive *= 1.0 - 2.0**-width
    return 1.0 - survive


def run_json(
    tmp_path: Path, monkeypatch: Any, source: str, target: str, *args: str
) -> tuple[int, dict[str, Any]]:
    """`relulint check model.py:<target> --format json <args>` through the real command line (in process):
    the exit code and the parsed document."""
    from relulint.cli import app

    (tmp_path / "model.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", f"model.py:{target}", "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def findings(document: dict[str, Any], code: str = "RL101") -> list[dict[str, Any]]:
    return [f for t in document["targets"] for f in t["findings"] if f["code"] == code]
