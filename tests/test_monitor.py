"""`relulint.monitor.watch` on networks trained for real (seeded, CPU, full batch)."""

from __future__ import annotations

import warnings

import pytest
import torch
from audit_helpers import MODEL, grid, hidden_outputs, last_layer_dead_seed
from torch import nn

from relulint.monitor import DeadNetworkError, DeadReluWarning, Monitor, watch


def net_cls() -> type[nn.Module]:
    namespace: dict = {}
    exec(MODEL, namespace)
    return namespace["Net"]


def train(model: nn.Module, steps: int, lr: float = 0.05, x: torch.Tensor | None = None) -> None:
    x = grid() if x is None else x
    y = torch.exp(x)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def born_dead() -> nn.Module:
    cls = net_cls()
    torch.manual_seed(last_layer_dead_seed(cls, grid()))
    return cls()


def test_a_born_dead_net_is_reported_once_per_event() -> None:
    model = born_dead()
    dead = [i for i, h in enumerate(hidden_outputs(model, grid())) if bool((h == 0).all())]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with watch(model, every=10) as monitor:
            train(model, 50)
    layers = sorted(e.layer for e in monitor.events if e.kind == "dead-layer")
    assert layers == dead  # exactly the layers zero on every input (collapse Lemma 1), each once
    assert all(
        e.step == 10 and e.dead_fraction == 1.0 and e.chain == 0
        for e in monitor.events
        if e.kind == "dead-layer"
    )
    assert [e.kind for e in monitor.events].count("constant-output") == 1
    ours = [w for w in caught if issubclass(w.category, DeadReluWarning)]
    assert len(ours) == len(monitor.events)  # one warning per event, not one per window
    assert all(e.message in {str(w.message) for w in ours} for e in monitor.events)


def test_a_healthy_net_raises_nothing() -> None:
    torch.manual_seed(0)
    model = net_cls()(width=32, depth=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadReluWarning)
        with watch(model, every=10) as monitor:
            train(model, 40, lr=1e-2)
    assert monitor.events == [] and monitor.step == 40


def test_raise_on_dead_layer_stops_training_at_the_first_window() -> None:
    model = born_dead()
    steps = 0
    with pytest.raises(DeadNetworkError) as error, watch(model, every=5, raise_on="dead-layer", warn=False):
        for _ in range(100):
            steps += 1
            model(grid())
    assert steps == 5 and error.value.event.kind == "dead-layer"
    assert "collapse Lemma 1" in str(error.value)


def test_dead_units_crossing_the_threshold() -> None:
    torch.manual_seed(1)
    model = net_cls()(width=10, depth=2)
    with torch.no_grad():
        model.body[0].weight[:6] = 1.0
        model.body[0].bias[:6] = -5.0  # 6 of 10 units below zero on [-√3, √3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadReluWarning)
        with watch(model, every=10, dead_fraction=0.5) as monitor:
            train(model, 30, lr=1e-3)
    events = [e for e in monitor.events if e.kind == "dead-units" and e.layer == 0]
    assert len(events) == 1 and events[0].step == 10 and events[0].dead_fraction == pytest.approx(0.6)
    quiet = Monitor(model, every=10, dead_fraction=0.7, warn=False)
    train(model, 10, lr=1e-3)
    quiet.close()
    assert not [e for e in quiet.events if e.kind == "dead-units" and e.layer == 0]


def test_eval_passes_are_not_counted_and_close_removes_every_hook() -> None:
    model = born_dead()
    monitor = watch(model, every=3, warn=False)
    model.eval()
    with torch.no_grad():
        for _ in range(10):
            model(grid())
    assert monitor.step == 0 and monitor.events == []
    monitor.close()
    hooks = [m._forward_hooks for m in model.modules()] + [m._forward_pre_hooks for m in model.modules()]
    assert all(len(h) == 0 for h in hooks)


@pytest.mark.parametrize("width", [8, 400])  # one kernel over all layers (≤ BATCH_LIMIT values), one each
def test_counts_are_the_units_active_on_some_input(width: int) -> None:
    """The monitor's dead fraction equals the one computed directly from the hidden outputs."""
    from relulint.monitor import BATCH_LIMIT

    assert (64 * width * 3 <= BATCH_LIMIT) is (width == 8)
    torch.manual_seed(3)
    model = net_cls()(width=width, depth=3)
    with torch.no_grad():
        for layer in model.body[::2]:
            layer.bias[: width // 3] = -50.0  # a third of each layer dead on these inputs
    x = torch.randn(64, 1, generator=torch.Generator().manual_seed(0))
    expected = [float((h == 0).all(dim=0).double().mean()) for h in hidden_outputs(model, x)]
    monitor = Monitor(model, every=1, dead_fraction=1e-9, warn=False)
    model.train()
    model(x)
    monitor.close()
    seen = {e.layer: e.dead_fraction for e in monitor.events if e.kind in ("dead-units", "dead-layer")}
    assert seen == {i: f for i, f in enumerate(expected) if f > 0}


def test_models_relulint_cannot_capture_fall_back_to_relu_modules() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.act, self.b = nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1)

        def forward(self, x):
            if x.sum() > 1e9:  # data-dependent control flow: torch.fx cannot trace it
                return x
            return self.b(self.act(self.a(x)))

    model = Odd()
    monitor = Monitor(model, every=1, warn=False)
    assert [s.watch for s in monitor.sites] in (["act"], ["b"])  # relulint's chain, or the ReLU module
    with torch.no_grad():
        model.a.bias.fill_(-100.0)
    model(grid())
    monitor.close()
    assert [e.kind for e in monitor.events][:1] == ["dead-layer"]


def test_bad_arguments() -> None:
    model = net_cls()()
    for kwargs in ({"every": 0}, {"dead_fraction": 0.0}, {"raise_on": "exploded"}):
        with pytest.raises(ValueError):
            Monitor(model, **kwargs)
