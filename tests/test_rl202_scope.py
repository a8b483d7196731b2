"""RL202's scope (`collapse` Eq. 2–3): a shrinking signal is reported when it vanishes (no biases) or when
the biases dominate the output (the network is nearly constant); not when wide layers with PyTorch's small
default biases merely scale it down; a LayerNorm after each ReLU restarts the length map."""

from __future__ import annotations

import torch
from torch import nn

from relulint.api import check


def mlp(width: int, depth: int, *, bias: bool = True, norm_after: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(8 if i == 0 else width, width, bias=bias), nn.ReLU()]
        if norm_after:
            layers.append(nn.LayerNorm(width))
    return nn.Sequential(*layers, nn.Linear(width, 1, bias=bias))


def rl202(model: nn.Module):
    return [f for f in check(model).findings if f.code == "RL202"]


def input_share(model: nn.Sequential, samples: int = 4096) -> float:
    """Monte Carlo: the part of the output's E[q] that depends on the input, 1 − E[q | x = 0] / E[q]."""
    with torch.no_grad():
        x = (torch.rand(samples, 8) * 2 - 1) * 3**0.5
        total = model(x).pow(2).mean().item()
        constant = model(torch.zeros(1, 8)).pow(2).item()
    return 1 - constant / total


def test_wide_default_init_mlp_is_not_reported() -> None:
    torch.manual_seed(0)
    model = mlp(1024, 4)
    assert rl202(model) == []
    assert input_share(model) > 0.05  # the input still drives the output: not nearly constant


def test_deep_narrow_default_init_is_reported_with_biases_dominating(tmp_path) -> None:
    # built from a file, so relulint records PyTorch's default init even on layers too small to fingerprint
    (tmp_path / "narrow.py").write_text(
        "from torch import nn\n\n\ndef Net():\n"
        "    layers = [nn.Linear(8, 5), nn.ReLU()]\n"
        "    for _ in range(15):\n"
        "        layers += [nn.Linear(5, 5), nn.ReLU()]\n"
        "    return nn.Sequential(*layers, nn.Linear(5, 1))\n"
    )
    (finding,) = [f for f in check(f"{tmp_path / 'narrow.py'}:Net").findings if f.code == "RL202"]
    assert finding.details["input_share"] < 0.01 and "The biases dominate" in finding.message


def test_bias_free_decay_is_reported() -> None:
    (finding,) = rl202(mlp(64, 8, bias=False))
    assert finding.details["total"] < 1e-3 and finding.details["q_out"] == finding.details["total"]


def test_layernorm_after_each_relu_restarts_the_length_map() -> None:
    assert rl202(mlp(5, 16, norm_after=True)) == []
    chain = check(mlp(5, 16, norm_after=True)).targets[0].facts.chains[0]
    assert all(layer.norm_after == "layernorm" for layer in chain.hidden)
