"""A skip connection around a chain (`x + f(x)`, `cat([x, f(x)])`) keeps the network from being constant
when the chain dies, so RL101 stands down and says why; a chain that feeds both operands of the add
(`h = f(x); h + g(h)`) is not protected (`collapse` Lemma 1: born dead needs a zero layer on every path)."""

from __future__ import annotations

import json

import torch
from torch import nn

from relulint.api import check
from relulint.options import Options
from relulint.render import render


class Block(nn.Module):
    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.relu(self.fc1(x)))


class ResMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[Block() for _ in range(20)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(3, 3), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class Trunk(nn.Module):
    """A deep, narrow trunk feeding both operands of a residual add: its death kills both."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(1, 3), *[m for _ in range(11) for m in (nn.ReLU(), nn.Linear(3, 3))]
        )
        self.branch = nn.Sequential(nn.ReLU(), nn.Linear(3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        return h + self.branch(h)


def test_residual_branches_stand_down_and_say_why() -> None:
    report = check(ResMLP())
    assert [f.code for f in report.findings if f.code in ("RL101", "RL102", "RL201")] == []
    (first, *_) = report.targets[0].facts.chains
    assert first.bypassed and first.end == "residual"
    text = " ".join(render(report, "text", options=Options()).replace("│", " ").split())
    assert "a residual add carries the chain's input around it" in text
    summary = json.loads(render(report, "json", options=Options()))["targets"][0]["chains"][0]
    assert summary["verdict"] == "protected" and summary["skip"].startswith("a residual add")


def test_concat_with_the_input_stands_down() -> None:
    (chain,) = check(Concat()).targets[0].facts.chains
    assert chain.end == "concat" and chain.bypassed


def test_a_trunk_feeding_both_operands_is_not_protected() -> None:
    report = check(Trunk())
    chains = report.targets[0].facts.chains
    assert not any(c.bypassed for c in chains)
    assert "RL101" in {f.code for f in report.findings}


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(2, 3)
        self.branch = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(3, 3), nn.ReLU())])
        self.out = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.branch(h))


def test_rl202_is_silent_on_a_residual_branch() -> None:
    assert "RL202" not in {f.code for f in check(Residual()).findings}


def test_probing_a_chain_with_a_skip_around_it_does_not_crash() -> None:
    report = check(Residual(), probe_all=True, samples=300, points=32)
    bypassed = [c for c in report.targets[0].facts.chains if c.bypassed]
    assert bypassed and not any(f.chain == bypassed[0].index for f in report.findings)
