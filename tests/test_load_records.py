"""What loading records beyond the model: construction sites and inits of models built at import time,
init functions imported by name, a seeded build (same verdicts every run) that leaves the caller's RNGs
as they were, and findings that point at the user's line even for `relulint.check(nn.Sequential(...))`."""

from __future__ import annotations

import random
import textwrap

import numpy as np
import torch
from torch import nn

from relulint.api import check

TOPLEVEL = """
    from torch import nn
    from torch.nn.init import kaiming_normal_

    layers = []
    for i in range(12):
        layer = nn.Linear(1 if i == 0 else 3, 3)
        kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        layers += [layer, nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(3, 1))


    class Direct(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(32, 32)
            kaiming_normal_(self.a.weight, mode="fan_out")
            self.b = nn.Linear(32, 1)

        def forward(self, x):
            return self.b(self.a(x).relu())
"""


def write(tmp_path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip())
    return str(path)


def test_module_level_instance_points_at_its_lines_and_knows_its_inits(tmp_path) -> None:
    path = write(tmp_path, "toplevel_a.py", TOPLEVEL)
    (target,) = check(f"{path}:model", cwd=tmp_path).targets
    assert target.facts.location.line == 9  # `model = nn.Sequential(...)`
    (chain,) = target.facts.chains
    assert chain.location.line == 6  # the first Linear
    weight = chain.layers[1].weight_init
    assert weight.law == "kaiming-normal" and weight.origin == "recorded"
    assert weight.args["mode"] == "fan_out" and weight.args["init"] == "nn.init.kaiming_normal_"
    assert {f.code for f in target.findings} >= {"RL101", "RL201"}
    assert all(f.location.path.endswith("toplevel_a.py") for f in target.findings)


def test_init_function_imported_by_name_is_recorded_with_its_arguments(tmp_path) -> None:
    path = write(tmp_path, "toplevel_b.py", TOPLEVEL)
    (target,) = check(f"{path}:Direct", cwd=tmp_path).targets
    weight = target.facts.chains[0].layers[0].weight_init
    assert weight.origin == "recorded" and weight.args["init"] == "nn.init.kaiming_normal_"
    assert weight.args["mode"] == "fan_out" and weight.args["nonlinearity"] == "leaky_relu"


def test_build_is_seeded_and_the_callers_rng_is_untouched(tmp_path) -> None:
    path = write(tmp_path, "seeded.py", TOPLEVEL)
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    first = check(f"{path}:Direct", cwd=tmp_path).targets[0].facts
    second = check(f"{path}:Direct", cwd=tmp_path).targets[0].facts
    after = (torch.get_rng_state(), np.random.get_state()[1], random.getstate())
    assert torch.equal(before[0], after[0]) and (before[1] == after[1]).all() and before[2] == after[2]
    w1 = first.chains[0].layers[1].weight_init
    w2 = second.chains[0].layers[1].weight_init
    assert w1.sigma2 == w2.sigma2 and w1.mean == w2.mean  # fingerprints of the same seeded draw


def test_an_instance_of_a_torch_class_points_at_the_callers_line() -> None:
    layers: list[nn.Module] = []
    for i in range(12):
        layers += [nn.Linear(1 if i == 0 else 3, 3), nn.ReLU()]
    report = check(nn.Sequential(*layers, nn.Linear(3, 1)))  # this line
    (finding, *_) = report.findings
    assert finding.location.path.endswith("test_load_records.py")
    assert "torch" not in finding.location.path
