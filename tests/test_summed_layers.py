"""A ReLU after a sum of Linear branches, ``relu(a(x) + b(y))``, is one ReLU layer (`Layer.summed_with`).

GraphSAGE-style layers, projection shortcuts and two-branch blocks write it this way. Each unit's
pre-activation is the sum of two independent symmetric terms given the inputs, so `collapse` Thm 8's 2^-N
per layer covers the layer; before, the add ended the chain and the ReLU after it was never counted (a
silent miss on models that are born dead a quarter of the time). ``x + f(x)`` stays a skip.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relulint.api import check
from relulint.audit.observe import sites
from relulint.errors import UsageError
from relulint.options import Options
from relulint.probe import probe_chain
from relulint.render import render
from relulint.theory import p_born_dead_upper

WIDTH, DEPTH = 4, 8


class TwoBranches(nn.Module):
    """relu(a(x) + b(x)), 8 times at width 4: the plain chain's risk, 1 − (1 − 2^-4)^8 = 40.3 %."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH))
        self.b = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for a, b in zip(self.a, self.b, strict=True):
            x = F.relu(a(x) + b(x))
        return x


class PostActivationResidual(nn.Module):
    """relu(x + f(x)): the identity is no layer, so the add is a skip and the blocks are bypassed."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(2, 16)
        self.fc = nn.ModuleList(nn.Linear(16, 16) for _ in range(DEPTH))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        for fc in self.fc:
            x = F.relu(x + fc(x))
        return x


class SharedOperand(nn.Module):
    """An operand used elsewhere too (``h`` also goes to the output) is not part of a sum."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
        self.body = nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(3, 3), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        return self.body(F.relu(h + self.b(x))) + h


def test_the_relu_after_a_sum_of_branches_is_a_layer_on_every_path() -> None:
    report = check(TwoBranches())
    (chain,) = report.targets[0].facts.chains
    assert chain.hidden_widths == (WIDTH,) * DEPTH
    assert [layer.module for layer in chain.hidden] == [f"a.{i}" for i in range(DEPTH)]
    assert [[part.module for part in layer.summed_with] for layer in chain.hidden] == [
        [f"b.{i}"] for i in range(DEPTH)
    ]
    assert all(layer.routes for layer in chain.hidden)  # every path crosses each sum's ReLU
    (rl101,) = [f for f in report.findings if f.code == "RL101"]
    assert rl101.details["p_upper_unprotected"] == pytest.approx(1 - (1 - 2**-WIDTH) ** DEPTH, rel=1e-12)
    layers = json.loads(render(report, "json", options=Options()))["targets"][0]["chains"][0]["layers"]
    assert [layer["summed_with"] for layer in layers] == [[f"b.{i}"] for i in range(DEPTH)]


def test_the_bound_holds_for_the_real_network_by_monte_carlo() -> None:
    """2,000 fresh TwoBranches (PyTorch's default init, seeded): the share whose output is the same on 256
    inputs is below the Thm 8 bound by more than 3 standard errors, and far above zero (the sums do die:
    the layer the old extraction did not see)."""
    n, dead = 2_000, 0
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(1234)
        x = torch.empty(256, WIDTH).uniform_(-math.sqrt(3), math.sqrt(3))
        with torch.no_grad():
            for _ in range(n):
                out = TwoBranches()(x)
                dead += bool((out == out[0]).all())
    finally:
        torch.random.set_rng_state(state)
    estimate = dead / n
    se = math.sqrt(estimate * (1 - estimate) / n)
    bound = p_born_dead_upper([WIDTH] * DEPTH)
    assert estimate + 3 * se < bound  # 40.3 %: an upper bound, as Thm 8 says
    assert estimate - 3 * se > 0.1  # about a quarter: not a rare event the old silence could excuse


def test_an_identity_or_a_shared_operand_is_no_sum() -> None:
    chains = check(PostActivationResidual()).targets[0].facts.chains
    assert not any(layer.summed_with for chain in chains for layer in chain.layers)
    assert "RL101" not in {f.code for f in check(PostActivationResidual()).findings}
    chains = check(SharedOperand()).targets[0].facts.chains
    assert not any(layer.summed_with for chain in chains for layer in chain.layers)


def test_the_inactive_region_of_a_sum_needs_every_part_negative() -> None:
    """RL102: `nonconvergence` Def 3.1 for a summed layer asks all weights and biases of both parts to be
    negative: (2^-(16 + 4))² per layer under PyTorch's symmetric default, over layers 2..8."""
    (rl102,) = [f for f in check(TwoBranches()).findings if f.code == "RL102"]
    per_layer = (2.0 ** -(WIDTH * WIDTH + WIDTH)) ** 2
    assert rl102.details["p_stuck"] == pytest.approx(1 - (1 - per_layer) ** (DEPTH - 1), rel=1e-9)


def test_no_signal_length_claim_and_no_probe_on_a_sum() -> None:
    report = check(TwoBranches(), probe=True, samples=200)
    assert "RL202" not in {f.code for f in report.findings}  # the parts' inputs may differ in length
    facts = report.targets[0].facts
    assert facts.probes == {}  # the probe draws one layer from one input: the bound stands
    (rl101,) = [f for f in report.findings if f.code == "RL101"]
    assert rl101.details["source"] == "bound"
    with pytest.raises(UsageError, match=r"a\.0 \+ b\.0"):
        probe_chain(None, facts.chains[0], samples=100)


def test_the_audit_watches_a_sum_only_where_its_relu_output_is_read() -> None:
    (chain,) = check(TwoBranches()).targets[0].facts.chains
    watched = sites(chain)
    # every hidden layer is a sum: its first part's output is not the sum, and the next sum's first part
    # may read something else, so only the chain's output layer (none here) could watch; none is observed
    assert all(site.watch is None and "a sum of layers" in (site.note or "") for site in watched)
