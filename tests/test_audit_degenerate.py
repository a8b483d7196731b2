"""`degenerate` §2 checks on hand-built checkpoints, and the rewrites that keep the function."""

from __future__ import annotations

import pytest
import torch
from audit_helpers import audit_json, net_class
from torch import nn

from relulint.audit.degenerate import balance, layer_degeneracies, merge_redundant
from relulint.records.model_facts import Chain, Layer

KWARGS = '{"width": 5, "depth": 1, "d_in": 2}'


def two_layer(hidden: list[list[float]], bias: list[float], out: list[float]) -> dict[str, torch.Tensor]:
    """The state dict of model.py's Net(width=5, depth=1, d_in=2): body.0 (5 × 2), head (1 × 5)."""
    return {
        "body.0.weight": torch.tensor(hidden),
        "body.0.bias": torch.tensor(bias),
        "head.weight": torch.tensor([out]),
        "head.bias": torch.tensor([0.25]),
    }


HEALTHY = two_layer(
    [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5], [0.3, -1.0]],
    [0.1, -0.2, 0.0, 0.3, 0.1],
    [1.0, -1.0, 0.8, 1.2, 0.9],
)
DEGENERATE = two_layer(
    [
        [1.0, 2.0],  # 0
        [2.0, 4.0],  # 1 = 2 × unit 0 (bias too): redundant (Example 2.3)
        [0.0, 0.0],  # 2: zero incoming weights and bias
        [-1.0, 1.0],  # 3
        [1.0, -1.0],  # 4 = −unit 3, opposite outgoing sign: with 3, a linear function (Example 2.4)
    ],
    [0.5, 1.0, 0.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 1e-4, -1e-4],  # 3 and 4: ‖in‖ / ‖out‖ = √2 / 1e-4 ≈ 1.4e4, unbalanced (Example 2.2)
)


def audit(tmp_path, monkeypatch, state):
    monkeypatch.chdir(tmp_path)
    net_class(tmp_path)
    torch.save(state, tmp_path / "w.pt")
    return audit_json("model.py:Net", "--weights", "w.pt", "--kwargs", KWARGS, "--fail-on", "info")


def test_each_degenerate_kind_is_found(tmp_path, monkeypatch) -> None:
    run = audit(tmp_path, monkeypatch, DEGENERATE)
    found = {(d["kind"], tuple(d["units"])) for d in run.target["audit"]["degenerate"]}
    assert found == {
        ("redundant", (0, 1)),
        ("zero-in", (2,)),
        ("opposite", (3, 4)),
        ("unbalanced", (3,)),
        ("unbalanced", (4,)),
    }
    (finding,) = run.findings("RL503")
    assert finding["severity"] == "info" and finding["details"]["exact"] is True
    assert "exact: a two-layer network" in finding["message"]
    assert run.exit_code == 1  # --fail-on info


def test_a_healthy_two_layer_net_has_none(tmp_path, monkeypatch) -> None:
    run = audit(tmp_path, monkeypatch, HEALTHY)
    assert run.target["audit"]["degenerate"] == [] and not run.findings("RL503")
    assert run.exit_code == 0


def test_deeper_chains_are_flagged_as_heuristic(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    net_class(tmp_path)
    torch.manual_seed(0)
    from audit_helpers import MODEL

    namespace: dict = {}
    exec(MODEL, namespace)
    model = namespace["Net"](width=4, depth=2)
    with torch.no_grad():
        model.body[2].weight[1] = 3 * model.body[2].weight[0]
        model.body[2].bias[1] = 3 * model.body[2].bias[0]
    torch.save(model.state_dict(), tmp_path / "w.pt")
    run = audit_json("model.py:Net", "--weights", "w.pt", "--kwargs", '{"width": 4, "depth": 2}')
    (finding,) = [f for f in run.findings("RL503") if f["details"]["layer"] == 1]
    assert {"kind": "redundant", "units": [0, 1]} in [
        {"kind": d["kind"], "units": d["units"]} for d in finding["details"]["degenerate"]
    ]
    assert "heuristic" in finding["message"] and finding["details"]["exact"] is False


def _layers(state: dict[str, torch.Tensor]) -> tuple[nn.Linear, nn.Linear]:
    first, second = nn.Linear(2, 5), nn.Linear(5, 1)
    with torch.no_grad():
        first.weight.copy_(state["body.0.weight"])
        first.bias.copy_(state["body.0.bias"])
        second.weight.copy_(state["head.weight"])
        second.bias.copy_(state["head.bias"])
    return first.double(), second.double()


def _function(first: nn.Linear, second: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return second(torch.relu(first(x)))


def test_balancing_and_merging_keep_the_function() -> None:
    """ReLU's positive homogeneity: a·s, c/s and the merge of a redundant pair change nothing."""
    first, second = _layers(DEGENERATE)
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    with torch.no_grad():
        before = _function(first, second, x)
    s = balance(first, second, 3)
    a = torch.cat([first.weight[3], first.bias[3:4]]).detach().norm()
    assert float(a) == pytest.approx(float(second.weight[:, 3].detach().norm()), rel=1e-12)  # ‖a‖ = ‖c‖
    assert s == pytest.approx((1e-4 / 2**0.5) ** 0.5, rel=1e-6)  # 1e-4 was stored in float32
    lam = merge_redundant(first, second, keep=0, drop=1)
    assert lam == pytest.approx(2.0, rel=1e-12)
    with torch.no_grad():
        after = _function(first, second, x)
    assert torch.allclose(before, after, rtol=0, atol=1e-12)
    assert float((first.weight[1].abs().sum() + second.weight[0, 1].abs()).detach()) == 0.0  # unit 1 is gone


def test_an_opposite_pair_with_matching_weights_is_linear() -> None:
    """c ReLU(z) − c ReLU(−z) = c z (`degenerate` Example 2.4): the pair's sum is affine in x."""
    first, second = _layers(DEGENERATE)
    x = torch.linspace(-3, 3, 101, dtype=torch.float64).reshape(-1, 1).repeat(1, 2)
    x[:, 1] = 0.7 * x[:, 0] + 0.1
    with torch.no_grad():
        h = torch.relu(first(x))
        pair = h[:, 3] * second.weight[0, 3] + h[:, 4] * second.weight[0, 4]
        z = first(x)[:, 3]
    assert torch.allclose(pair, second.weight[0, 3] * z, atol=1e-15)


def test_threshold_is_exact() -> None:
    """cos > 1 − 1e-6 is parallel; a little less is not."""
    chain = Chain(
        index=0,
        layers=(Layer("a", 2, 2, True, "relu"), Layer("b", 2, 1, True, None)),
        input_dim=2,
        output_dim=1,
        end="output",
    )
    outgoing = torch.ones(2, 1, dtype=torch.float64)
    for angle, parallel in ((1e-4, True), (3e-3, False)):  # 1 − cos ≈ angle²/2: 5e-9 and 4.5e-6
        a = torch.tensor([[1.0, 0.0, 0.0], [1.0, angle, 0.0]], dtype=torch.float64)
        kinds = {d.kind for d in layer_degeneracies(chain, 0, a, outgoing)}
        assert ("redundant" in kinds) is parallel
