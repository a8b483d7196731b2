"""The Python API of the audit: nn.Module targets, the user's RNG state, skip connections."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from relulint.audit import audit


class Residual(nn.Module):
    """x + W2 ReLU(W1 x): a dead ReLU layer leaves the identity path (`collapse` Lemma 1 needs a zero
    layer on every path)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 8)
        self.outer = nn.Linear(8, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(x + self.outer(torch.relu(self.inner(x))))


def test_a_module_instance_with_a_dead_block_behind_a_skip(tmp_path) -> None:
    torch.manual_seed(0)
    model = Residual()
    with torch.no_grad():
        model.inner.bias.fill_(-100.0)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(-1, 1, size=(32, 4)))
    report = audit(model, data="x.npy", cwd=tmp_path)
    (target,) = report.targets
    (chain,) = target.facts.audit.chains
    assert chain.bypassed and chain.dead_layer == 0
    assert not target.facts.audit.output.constant
    codes = {f.code for f in report.findings}
    assert "RL501" not in codes and "RL502" in codes  # the net is not constant; the block is dead


def test_the_users_rng_state_is_left_alone(tmp_path) -> None:
    """No --data: the points come from a generator of the audit's own (seeded), not the global ones."""
    torch.manual_seed(1)
    model = Residual()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(123)
    np.random.seed(5)
    torch_before, numpy_before = torch.get_rng_state(), np.random.get_state()
    report = audit(model, weights="w.pt", cwd=tmp_path)
    assert report.targets[0].facts.audit.data_source.startswith("domain: 256 points")
    assert torch.equal(torch.get_rng_state(), torch_before)
    numpy_after = np.random.get_state()
    assert numpy_after[0] == numpy_before[0] and np.array_equal(numpy_after[1], numpy_before[1])
    assert numpy_after[2:] == numpy_before[2:]


def test_weights_are_loaded_into_the_instance(tmp_path) -> None:
    torch.manual_seed(2)
    trained = Residual()
    with torch.no_grad():
        trained.head.bias.fill_(7.0)
        trained.inner.bias.fill_(-100.0)
        trained.outer.bias.zero_()
        trained.head.weight.zero_()
    torch.save({"state_dict": trained.state_dict()}, tmp_path / "w.pt")
    report = audit(Residual(), weights="w.pt", cwd=tmp_path, points=16)
    out = report.targets[0].facts.audit.output
    assert out.constant and out.value == (7.0,)
