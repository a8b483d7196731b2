"""RL101 and the report say why normalized layers count or not (`collapse` §5.2): BatchNorm in training
mode / LayerNorm before every ReLU → stand down with the reason; on half the layers → the numbers are those
of the layers that can die; BatchNorm in eval mode → does not protect, said so."""

from __future__ import annotations

import json

from torch import nn

from relulint.api import check
from relulint.options import Options
from relulint.render import render
from relulint.theory.collapse import min_safe_width, p_born_dead_upper


def chain(norm_every: int | None, width: int = 3, depth: int = 12) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Linear(1 if i == 0 else width, width))
        if norm_every is not None and i % norm_every == norm_every - 1:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers, nn.Linear(width, 1))


def rl101(report):
    return [f for f in report.findings if f.code == "RL101"]


def test_batchnorm_everywhere_stands_down_and_says_why() -> None:
    report = check(chain(1))
    assert rl101(report) == []
    text = render(report, "text", options=Options())
    assert "batchnorm before every ReLU keeps a unit alive for every input: P → 0 (collapse §5.2)" in text
    (summary,) = json.loads(render(report, "json", options=Options()))["targets"][0]["chains"]
    assert summary["verdict"] == "protected" and summary["p_upper_unprotected"] == 0.0
    assert summary["safe_depth"] is None and summary["min_width"] is None and summary["p_lower"] is None
    assert "every ReLU" in summary["normalization"]


def test_half_protected_chain_reports_the_layers_that_can_die() -> None:
    (finding,) = rl101(check(chain(2)))
    assert finding.details["probability"] == p_born_dead_upper([3] * 6)
    assert finding.details["min_width"] == min_safe_width(6, 0.01)
    assert f"its 6 unprotected ReLU layers need width ≥ {min_safe_width(6, 0.01)}" in finding.message
    assert "batchnorm protects 6 of 12 ReLU layers" in finding.message
    assert finding.details["p_lower"] is None  # dying Thm 3.3 is for an unnormalized chain


def test_eval_mode_batchnorm_does_not_protect_and_the_message_says_so() -> None:
    (finding,) = rl101(check(chain(1).eval()))
    assert finding.details["probability"] == p_born_dead_upper([3] * 12)
    assert (
        "BatchNorm layer(s) in eval mode use fixed running statistics and do not protect" in finding.message
    )
