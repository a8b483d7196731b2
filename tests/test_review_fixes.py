"""Regressions found by review: negative-mean inits are outside the symmetric bound; a probed chain with a
skip around it does not crash; a training script deriving from torch's Dataset is not imported; a forward
that draws from numpy / random leaves those RNGs as they were; RL202 is silent on residual branches."""

from __future__ import annotations

import random
import textwrap

import numpy as np
import torch
from torch import nn

from relulint.api import check
from relulint.precommit import defines_modules

NEGATIVE = """
    from torch import nn


    def Neg():
        layers = []
        for i in range(5):
            layer = nn.Linear(2 if i == 0 else 16, 16)
            nn.init.normal_(layer.weight, mean=-0.5, std=0.1)
            nn.init.zeros_(layer.bias)
            layers += [layer, nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(16, 1))
"""


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(2, 3)
        self.branch = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(3, 3), nn.ReLU())])
        self.out = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.branch(h))


class Draws(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(2, 4), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        np.random.rand()
        random.random()
        return self.b(torch.relu(self.a(x)))


def test_negative_mean_init_is_not_passed_by_the_symmetric_bound(tmp_path) -> None:
    (tmp_path / "neg.py").write_text(textwrap.dedent(NEGATIVE))
    report = check(f"{tmp_path / 'neg.py'}:Neg")
    (finding,) = [f for f in report.findings if f.code == "RL101"]
    assert "leaning negative" in finding.message and "does not hold" in finding.message
    probed = check(f"{tmp_path / 'neg.py'}:Neg", probe=True, samples=200, points=32)
    (measured,) = [f for f in probed.findings if f.code == "RL101"]
    assert measured.details["source"] == "probe" and measured.details["probability"] > 0.9


def test_probing_a_chain_with_a_skip_around_it_does_not_crash() -> None:
    report = check(Residual(), probe_all=True, samples=300, points=32)
    bypassed = [c for c in report.targets[0].facts.chains if c.bypassed]
    assert bypassed and not any(f.chain == bypassed[0].index for f in report.findings)


def test_a_training_script_with_a_dataset_class_is_not_a_model_file(tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import torch\nfrom torch.utils.data import Dataset\n\n\nclass Data(Dataset):\n    pass\n\n\n"
        "raise SystemExit('training ran at import')\n"
    )
    assert not defines_modules(script)


def test_forward_drawing_from_numpy_and_random_leaves_their_state() -> None:
    np.random.seed(5)
    random.seed(7)
    before = (np.random.get_state()[1].copy(), random.getstate())
    check(Draws())
    assert (np.random.get_state()[1] == before[0]).all() and random.getstate() == before[1]


def test_rl202_is_silent_on_a_residual_branch() -> None:
    assert "RL202" not in {f.code for f in check(Residual()).findings}
