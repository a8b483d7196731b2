"""`relulint audit` on networks trained for real (seeded, CPU, full batch, a second or two each).

`collapse` Thm 4: a net with a hidden layer zero on every input trains to the targets' mean under MSE and
their median under MAE. The born-dead nets here have their *last* hidden layer zero on every input, so the
output is the output bias b and b alone gets a gradient; the dynamics are then scalar and the tolerances
exact:

- MSE, SGD step η: b ← b − 2η(b − ȳ), so |b_T − ȳ| = (1 − 2η)^T |b_0 − ȳ|, plus the float32 rounding of
  the mean in the gradient, at most n·ε₃₂·max|y| (n inputs);
- MAE: b ← b − η·s with s = (#{y < b} − #{y > b})/n ∈ [−1, 1]; s points at the median, so after b first
  crosses it, |b − median| ≤ η for good.

The targets y = exp(x) on [-√3, √3] are skewed: mean sinh(√3)/√3 ≈ 1.59, median exp(0) = 1 (0.45 σ apart),
so "matches" can only be right for the right reason.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audit_helpers import audit_json, grid, hidden_outputs, last_layer_dead_seed, net_class, save_data, train

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = grid()
    y = torch.exp(x)
    save_data(tmp_path, x, y)
    return x, y


def born_dead(tmp_path):
    cls = net_class(tmp_path)
    seed = last_layer_dead_seed(cls, grid())
    torch.manual_seed(seed)
    return cls()


def test_born_dead_net_trained_with_mse_ends_at_the_target_mean(tmp_path, data) -> None:
    x, y = data
    model = born_dead(tmp_path)
    b0 = float(model.head.bias.detach())
    lr, steps = 0.05, 400
    train(model, x, y, "mse", lr, steps)
    torch.save(model.state_dict(), tmp_path / "last.pt")
    mean, median = float(y.double().mean()), float(y.double().median())
    tolerance = (1 - 2 * lr) ** steps * abs(b0 - mean) + len(y) * EPS32 * float(y.abs().max())
    value = float(model.head.bias.detach())
    assert abs(value - mean) <= tolerance  # Thm 4, independently of relulint
    assert abs(value - median) > 100 * tolerance

    run = audit_json(
        "model.py:Net", "--weights", "last.pt", "--data", "x.npy", "--targets", "y.npy", "--loss", "mse"
    )
    assert run.exit_code == 1, run.output  # an error finding
    audit = run.target["audit"]
    assert audit["inputs"] == len(x) and audit["data_source"] == "data: x.npy"
    (chain,) = audit["chains"]
    assert chain["dead_layer"] is not None and chain["layers"][chain["dead_layer"]]["dead_units"] == 2
    out = audit["output"]
    assert out["constant"] is True and out["std"] == 0.0
    assert abs(out["value"] - value) <= 1e-6 * abs(value)
    assert out["target_mean"] == pytest.approx(mean, rel=1e-6)
    assert out["target_median"] == pytest.approx(median, rel=1e-6)
    assert out["matches"] == "mean"
    assert abs(out["r2"]) < 1e-6  # a constant at the mean explains nothing
    (finding,) = run.findings("RL501")
    assert finding["severity"] == "error" and finding["details"]["matches"] == "mean"
    assert "mean" in finding["message"] and "collapse Thm 4" in finding["message"]
    assert "RL101" in finding["details"]["causes"]  # 2 × 10 is born dead with P ≤ 94 % (Thm 8)


def test_born_dead_net_trained_with_mae_ends_at_the_target_median(tmp_path, data) -> None:
    x, y = data
    model = born_dead(tmp_path)
    b0 = float(model.head.bias.detach())
    median = float(y.double().median())
    lr, steps = 0.01, 1500  # far more steps than |b0 − median| / lr: b crosses the median early on
    assert abs(b0 - median) < 0.1 * lr * steps
    train(model, x, y, "mae", lr, steps)
    torch.save({"epoch": 7, "model_state_dict": model.state_dict()}, tmp_path / "ckpt.pt")
    value = float(model.head.bias.detach())
    assert abs(value - median) <= lr + 4 * EPS32 * abs(median)  # within one step after crossing (Thm 4)

    run = audit_json("model.py:Net", "--weights", "ckpt.pt", "--data", "x.npy", "--targets", "y.npy")
    audit = run.target["audit"]
    assert audit["weights_key"] == "model_state_dict"
    out = audit["output"]
    assert out["constant"] is True and out["matches"] == "median"
    assert out["distance_median"] <= lr / float(y.double().std(unbiased=False)) + 1e-6
    (finding,) = run.findings("RL501")
    assert "median" in finding["message"] and finding["details"]["matches"] == "median"


def test_a_healthy_net_is_not_reported(tmp_path, data) -> None:
    x, _ = data
    cls = net_class(tmp_path)
    y = torch.sin(2 * x)
    torch.save(y, tmp_path / "y.pt")
    torch.manual_seed(0)
    model = cls(width=32, depth=2)
    train(model, x, y, "mse", 1e-2, 600, adam=True)
    torch.save(model.state_dict(), tmp_path / "last.pt")
    run = audit_json(
        "model.py:Net",
        "--weights",
        "last.pt",
        "--kwargs",
        '{"width": 32, "depth": 2}',
        "--data",
        "x.npy",
        "--targets",
        "y.pt",
    )
    assert run.exit_code == 0, run.output
    audit = run.target["audit"]
    assert audit["chains"][0]["dead_layer"] is None
    out = audit["output"]
    assert out["constant"] is False and out["matches"] is None
    residual = float(((model(x).detach() - y) ** 2).sum()) / float(((y - y.mean()) ** 2).sum())
    assert out["r2"] == pytest.approx(1 - residual, abs=1e-5) and out["r2"] > 0.95
    assert not run.findings("RL501") and not run.findings("RL502")


def test_a_layer_mostly_dead_is_rl502(tmp_path, data) -> None:
    """8 of 10 units of the first layer pushed below zero on every input before training: they never get a
    gradient (collapse Lemma 3, per unit) and are still dead after 300 Adam steps."""
    x, _ = data
    cls = net_class(tmp_path)
    y = torch.sin(2 * x)
    np.save(tmp_path / "y.npy", y.numpy())
    torch.manual_seed(1)
    model = cls(width=10, depth=2)
    with torch.no_grad():
        model.body[0].weight[:8] = 1.0
        model.body[0].bias[:8] = -5.0  # w·x + b ≤ √3 − 5 < 0 on every input
    train(model, x, y, "mse", 1e-2, 300, adam=True)
    assert (hidden_outputs(model, x)[0][:, :8] == 0).all()
    torch.save(model.state_dict(), tmp_path / "last.pt")
    run = audit_json(
        "model.py:Net",
        "--weights",
        "last.pt",
        "--kwargs",
        '{"width": 10, "depth": 2}',
        "--data",
        "x.npy",
        "--targets",
        "y.npy",
    )
    layer = run.target["audit"]["chains"][0]["layers"][0]
    assert layer["dead"][:8] == list(range(8)) and layer["dead_units"] >= 8
    (finding,) = [f for f in run.findings("RL502") if f["details"]["layer"] == 0]
    assert finding["severity"] == "warning" and finding["line"] == 8  # nn.Linear(d_in, width) in model.py
    assert finding["details"]["dead_fraction"] >= 0.8
    assert not run.findings("RL501")
    # a higher --dead-fraction silences it
    quiet = audit_json(
        "model.py:Net",
        "--weights",
        "last.pt",
        "--kwargs",
        '{"width": 10, "depth": 2}',
        "--data",
        "x.npy",
        "--dead-fraction",
        "0.95",
    )
    assert not [f for f in quiet.findings("RL502") if f["details"]["layer"] == 0]


def test_without_data_the_domain_is_sampled_and_the_report_says_so(tmp_path, data) -> None:
    model = born_dead(tmp_path)
    torch.save(model.state_dict(), tmp_path / "init.pt")
    run = audit_json("model.py:Net", "--weights", "init.pt", "--points", "64", "--seed", "3")
    audit = run.target["audit"]
    assert audit["inputs"] == 64
    assert audit["data_source"].startswith("domain: 64 points uniform on [-1.732, 1.732]^1")
    assert audit["output"]["constant"] is True and audit["output"]["matches"] is None
    assert run.findings("RL501") and "pass --targets" in run.findings("RL501")[0]["message"]
