"""The output analysis (`collapse` Thm 4, Cor 6) and exact-vs-near zero tests, on hand-set weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audit_helpers import audit_json, net_class

from relulint.audit.outcome import MATCH_TOLERANCE, matched, output_facts


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return net_class(tmp_path)


def test_partial_collapse_regions(tmp_path, files) -> None:
    """Every unit off for x < 0: the output is the output bias there (Cor 6's K = [-√3, 0)), and varies
    for x > 0. The region and its targets' mean are checked against numpy on the same points."""
    cls = files
    model = cls(width=3, depth=1)
    with torch.no_grad():
        model.body[0].weight.copy_(torch.tensor([[1.0], [2.0], [0.5]]))
        model.body[0].bias.zero_()
        model.head.weight.copy_(torch.tensor([[1.0, -0.5, 2.0]]))
        model.head.bias.fill_(0.3)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    xs = np.linspace(-1.7, 1.7, 100)  # no point at 0
    ys = np.sin(3 * xs)
    np.save(tmp_path / "x.npy", xs)
    np.save(tmp_path / "y.npy", ys)
    run = audit_json(
        "model.py:Net",
        "--weights",
        "w.pt",
        "--kwargs",
        '{"width": 3, "depth": 1}',
        "--data",
        "x.npy",
        "--targets",
        "y.npy",
        "--fail-on",
        "info",
    )
    out = run.target["audit"]["output"]
    assert out["constant"] is False and out["matches"] is None
    (region,) = out["regions"]
    inside = xs < 0
    assert region["count"] == int(inside.sum())
    assert region["value"] == pytest.approx(0.3, abs=1e-6)
    assert region["low"] == [pytest.approx(-1.7)] and region["high"] == [
        pytest.approx(float(xs[inside].max()))
    ]
    assert region["target_mean"] == pytest.approx(float(ys[inside].mean()))
    (finding,) = run.findings("RL501")
    assert finding["severity"] == "info" and "Partial collapse (collapse Cor 6)" in finding["message"]
    assert run.exit_code == 1


def test_near_zero_layers_are_reported_apart(tmp_path, files) -> None:
    """Units that output at most 1e-9: not exactly dead (no RL501 error), near dead (a warning)."""
    cls = files
    model = cls(width=2, depth=1)
    with torch.no_grad():
        model.body[0].weight.fill_(1e-9)
        model.body[0].bias.fill_(1e-9)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x.npy", np.linspace(0.0, 1.0, 11))
    run = audit_json(
        "model.py:Net", "--weights", "w.pt", "--kwargs", '{"width": 2, "depth": 1}', "--data", "x.npy"
    )
    chain = run.target["audit"]["chains"][0]
    assert chain["dead_layer"] is None and chain["near_dead_layer"] == 0
    assert chain["layers"][0]["near_dead"] == [0, 1] and chain["layers"][0]["dead"] == []
    (finding,) = run.findings("RL501")
    assert finding["severity"] == "warning" and "not exactly zero" in finding["message"]
    out = run.target["audit"]["output"]
    assert out["constant"] or out["near_constant"]  # 1e-9 vanishes against the output bias in float32


def test_domain_points_are_the_probes_draw(tmp_path, files) -> None:
    """Without --data the audit draws its inputs as the probe does: numpy default_rng([seed, 2]),
    uniform on the domain (default [-√3, √3])."""
    from relulint.audit.data import domain_points

    xs, text = domain_points(3, 50, None, 7)
    expected = np.random.default_rng([7, 2]).uniform(-np.sqrt(3), np.sqrt(3), size=(50, 3))
    assert np.array_equal(xs, expected) and "(no --data)" in text
    xs, _ = domain_points(1, 5, (0.0, 2.0), 0)
    assert xs.min() >= 0.0 and xs.max() <= 2.0


def test_matching_rules() -> None:
    t = MATCH_TOLERANCE
    assert matched(0.0, 0.5, None) == "mean" and matched(0.5, 0.0, None) == "median"
    assert matched(2 * t, 3 * t, None) is None
    assert matched(0.2 * t, 0.1 * t, "mse") == "mean"  # both within: the loss decides (Thm 4)
    assert matched(0.1 * t, 0.2 * t, "mae") == "median"
    assert matched(0.1 * t, 0.2 * t, None) == "mean"  # else the nearer


def test_r2_and_multi_output() -> None:
    outputs = np.array([[1.0, 2.0]] * 4)
    targets = np.array([[0.0, 2.0], [1.0, 2.0], [2.0, 2.0], [1.0, 6.0]])
    facts = output_facts(outputs, np.zeros((4, 1)), targets, None)
    assert facts.constant and facts.value == (1.0, 2.0)
    assert facts.target_mean == (1.0, 3.0) and facts.target_median == (1.0, 2.0)
    assert facts.matches == "median"  # component 1 is at its mean and median, component 2 at its median
    total = ((targets - targets.mean(axis=0)) ** 2).sum()
    assert facts.r2 == pytest.approx(1 - ((targets - outputs) ** 2).sum() / total)
