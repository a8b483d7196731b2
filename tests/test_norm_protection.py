"""Degenerate norms are not protection: ``LayerNorm(1)`` and ``GroupNorm(C, C)`` on (N, C) features
normalise each value by itself and output their bias β for every input, so the ReLU after them is
constant — dead, not protected (`collapse` §5.2's argument needs a mean over ≥ 2 features).

The degenerate claim is measured first (the norms' outputs over 1000 inputs), then relulint's verdict is
checked through the CLI's json: such a chain is constant with probability 1, while a LayerNorm or a
GroupNorm over ≥ 2 features still protects.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import torch
from graph_models import findings, run_json
from torch import nn

from relulint.chain_facts import degenerate_norm
from relulint.records.model_facts import Layer

GEN = torch.Generator().manual_seed(3)


@pytest.mark.parametrize(
    "norm, width",
    [(nn.LayerNorm(1), 1), (nn.GroupNorm(8, 8), 8), (nn.GroupNorm(3, 3), 3)],
    ids=["LayerNorm(1)", "GroupNorm(8,8)", "GroupNorm(3,3)"],
)
def test_a_norm_over_one_feature_outputs_beta_for_every_input(norm: nn.Module, width: int) -> None:
    """In float64 the output is β to 1e-9 over 1000 inputs of spread 5; in float32 only rounding residue is
    left (the issue measured a std of 3e-8 on unit inputs): below 1e-4 of the input's spread."""
    with torch.no_grad():
        norm.bias.normal_(generator=GEN)  # any β: the output is β whatever the input
        x = torch.randn(1000, width, generator=GEN, dtype=torch.float64) * 5 + 2
        y = norm.double()(x)
        assert float(y.std(dim=0).max()) < 1e-9
        assert torch.allclose(y, norm.bias.expand_as(y), atol=1e-9)
        y32 = norm.float()(x.float())
    assert float(y32.std(dim=0).max()) < 1e-4 * float(x.std())


@pytest.mark.parametrize(
    "norm",
    [nn.LayerNorm(8), nn.GroupNorm(2, 8), nn.GroupNorm(1, 8)],
    ids=["LayerNorm(8)", "GroupNorm(2,8)", "GroupNorm(1,8)"],
)
def test_a_norm_over_two_or_more_features_keeps_a_unit_alive(norm: nn.Module) -> None:
    """Centred over ≥ 2 features, some unit is positive for every input (unless all are equal): the ReLU
    after it is never dead, whatever the Linear before it (200 random Linears, 1000 inputs each)."""
    with torch.no_grad():
        weight = torch.randn(200, 4, 8, generator=GEN)
        bias = torch.randn(200, 1, 8, generator=GEN)
        pre = torch.randn(200, 1000, 4, generator=GEN) @ weight + bias  # 200 Linears, 1000 inputs each
        h = torch.relu(norm(pre.reshape(-1, 8)))
    assert bool((h > 0).any(dim=1).all())
    assert not bool((pre > 0).any(dim=-1).all())  # without the norm, some inputs leave every unit ≤ 0


def test_degenerate_norm_reads_the_feature_count() -> None:
    base = Layer("fc", 4, 8, True, "relu")
    assert degenerate_norm(Layer("fc", 4, 8, True, "relu", norm="groupnorm", norm_features=1))
    assert not degenerate_norm(Layer("fc", 4, 8, True, "relu", norm="groupnorm", norm_features=4))
    assert not degenerate_norm(Layer("fc", 4, 8, True, "relu", norm="batchnorm", norm_features=None))
    assert not degenerate_norm(base)


MODEL = """
import torch
from torch import nn


def Net():
    layers = [nn.Linear(4, WIDTH), NORM, nn.ReLU()]
    for _ in range(5):
        layers += [nn.Linear(WIDTH, WIDTH), NORM, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, 1))
"""


def model(norm: str, width: int) -> str:
    return MODEL.replace("NORM", norm).replace("WIDTH", str(width))


def build(source: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source), "<model>", "exec"), namespace)
    torch.manual_seed(0)
    return namespace["Net"]()


@pytest.mark.parametrize(
    "norm, width", [("nn.GroupNorm(8, 8)", 8), ("nn.LayerNorm(1)", 1)], ids=["GroupNorm(C,C)", "LayerNorm(1)"]
)
def test_a_chain_after_degenerate_norms_is_constant_not_protected(tmp_path, monkeypatch, norm, width) -> None:
    source = model(norm, width)
    net = build(source).double().eval()
    with torch.no_grad():
        out = net(torch.randn(1000, 4, generator=GEN, dtype=torch.float64) * 3)
    assert float(out.std()) < 1e-9  # constant for every input: the claim relulint now reports
    code, doc = run_json(tmp_path, monkeypatch, source, "Net")
    (chain,) = doc["targets"][0]["chains"]
    assert chain["verdict"] == "likely dead" and chain["p_upper_unprotected"] == 1.0
    assert "single feature" in chain["normalization"]
    (finding,) = findings(doc)
    assert code == 1 and finding["severity"] == "error"
    assert finding["details"]["probability"] == 1.0 and finding["details"]["source"] == "degenerate-norm"
    assert "constant for every input" in finding["message"]


@pytest.mark.parametrize("norm", ["nn.GroupNorm(2, 8)", "nn.LayerNorm(8)"])
def test_a_norm_over_several_features_still_protects(tmp_path, monkeypatch, norm) -> None:
    code, doc = run_json(tmp_path, monkeypatch, model(norm, 8), "Net")
    (chain,) = doc["targets"][0]["chains"]
    assert chain["verdict"] == "protected" and chain["p_upper_unprotected"] == 0.0
    assert findings(doc) == [] and code == 0
