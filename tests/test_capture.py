"""Capture: node conventions of the fx / hooks / registration captures, fallbacks, and no side effects."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from custom_layers import GainDirectionMatmul
from helpers_capture import capture_of, loaded_model
from torch import nn
from torch.nn.utils import parametrizations, weight_norm

from relulint.api import check
from relulint.capture import (
    _Locator,
    capture,
    concrete_args_for,
    describe_exception,
    effective_leaves,
    has_forward,
    hooks_capture,
    is_leaf_module,
    short_name,
)
from relulint.errors import CaptureError
from relulint.records.captured import Capture, Node, NodeKind

HERE = str(Path(__file__))
SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# <marker>``."""
    hits = [i + 1 for i, text in enumerate(SOURCE) if text.rstrip().endswith(f"# <{marker}>")]
    assert len(hits) == 1, marker
    return hits[0]


class Conventions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 4)
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([x, y], dim=1))  # <fc>
        h = h.clamp(min=0)  # <clamp-method>
        h = torch.clamp(h, 0)
        h = h + self.fc2(h)  # <add>
        h = torch.sin(h)
        return h * 2


def render(nodes: tuple[Node, ...]) -> list[str]:
    """``target(input targets) {args}`` per node, kind-agnostic for operators."""
    by_id = {node.id: node for node in nodes}
    out = []
    for node in nodes:
        inputs = ",".join(by_id[i].target for i in node.inputs)
        args = dict(node.args)
        args.pop("inplace", None)
        out.append(f"{node.target}({inputs}) {args}" if args else f"{node.target}({inputs})")
    return out


EXPECTED = [
    "x()",
    "y()",
    "cat(x,y) {'dim': 1}",
    "fc(cat)",
    "clamp(fc) {'min': 0}",
    "clamp(clamp) {'min': 0}",
    "fc2(clamp)",
    "add(clamp,fc2)",
    "sin(add)",
    "mul(sin) {'other': 2}",
    "output(mul)",
]


def _hooks(model: nn.Module, path: str = HERE, shape: tuple[int, ...] | None = None) -> Capture:
    captured = hooks_capture(model, _Locator(path), shape)
    assert isinstance(captured, Capture), captured
    return captured


def test_fx_node_conventions() -> None:
    captured = capture_of(Conventions(), path=HERE)
    assert captured.method == "fx"
    assert captured.reason is None
    assert not captured.degraded
    assert render(captured.nodes) == EXPECTED
    kinds = {node.target: node.kind for node in captured.nodes}
    assert kinds["x"] is NodeKind.INPUT
    assert kinds["fc"] is NodeKind.MODULE
    assert kinds["cat"] is NodeKind.FUNCTION
    assert kinds["sin"] is NodeKind.FUNCTION
    assert kinds["output"] is NodeKind.OUTPUT
    assert [n.kind for n in captured.nodes if n.target == "clamp"] == [NodeKind.METHOD, NodeKind.FUNCTION]


def test_hooks_node_conventions() -> None:
    captured = _hooks(Conventions(), shape=(8, 1))
    assert render(captured.nodes) == EXPECTED
    assert [n.kind for n in captured.nodes if n.target == "clamp"] == [NodeKind.METHOD, NodeKind.FUNCTION]


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_locations_are_lines_of_the_users_forward(method: str) -> None:
    model = Conventions()
    captured = capture_of(model, path=HERE) if method == "fx" else _hooks(model, shape=(8, 1))
    lines = {node.target: node.location.line for node in captured.nodes if node.location is not None}
    assert lines["fc"] == line_of("fc")
    assert lines["cat"] == line_of("fc")
    assert lines["add"] == line_of("add")
    assert {n.location.path for n in captured.nodes if n.location} == {HERE}


def test_no_location_outside_the_users_file() -> None:
    captured = capture_of(Conventions(), path="elsewhere.py")
    assert all(node.location is None for node in captured.nodes)


def test_nodes_form_a_dag_in_order() -> None:
    for captured in (capture_of(Conventions()), _hooks(Conventions(), shape=(8, 1))):
        assert [node.id for node in captured.nodes] == list(range(len(captured.nodes)))
        assert all(i < node.id for node in captured.nodes for i in node.inputs)


class FunctionalLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 2))
        self.b = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.linear(x, self.w, self.b))


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_parameters_are_named_in_args(method: str) -> None:
    model = FunctionalLinear()
    captured = capture_of(model) if method == "fx" else _hooks(model)
    linear = next(node for node in captured.nodes if node.target == "linear")
    assert linear.args["params"] == {"weight": "w", "bias": "b"}
    assert [captured.nodes[i].kind for i in linear.inputs] == [NodeKind.INPUT]


def test_parametrized_linear_is_one_module_call() -> None:
    model = nn.Sequential(parametrizations.weight_norm(nn.Linear(2, 3)), nn.ReLU())
    captured = capture_of(model)
    assert captured.method == "fx"
    assert [(n.kind, n.target) for n in captured.nodes[1:-1]] == [
        (NodeKind.MODULE, "0"),
        (NodeKind.MODULE, "1"),
    ]
    assert is_leaf_module(model[0])


def test_old_weight_norm_hooks_records_no_weight_computation() -> None:
    model = nn.Sequential(weight_norm(nn.Linear(2, 3)), nn.ReLU())
    captured = _hooks(model)
    assert [n.target for n in captured.nodes] == ["input", "0", "1", "output"]


# ----------------------------------------------------------------------------- concrete args


class Defaults(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor, use_relu: bool = True, mask: torch.Tensor | None = None, k: int = 2):
        h = self.fc(x)
        if mask is not None:
            h = h * mask
        return F.relu(h) if use_relu else torch.tanh(h)


def test_concrete_args_for_bool_and_none_defaults() -> None:
    assert concrete_args_for(Defaults()) == {"use_relu": True, "mask": None}


def test_concrete_args_trace_without_assert_nodes() -> None:
    captured = capture_of(Defaults())
    assert captured.method == "fx"
    assert [n.target for n in captured.nodes] == ["x", "k", "fc", "relu", "output"]


# ------------------------------------------------------------------------------------ fallbacks


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 1e9:
            x = -x
        return self.out(F.relu(self.fc(x)))


def test_hooks_fallback_reason_names_fx_error_and_input() -> None:
    captured = capture_of(Untraceable())
    assert captured.method == "hooks"
    assert captured.reason == (
        "torch.fx could not trace forward: TraceError: symbolically traced variables cannot be used as "
        "inputs to control flow (example input: shape (8, 5), torch.randn)"
    )
    assert [n.target for n in captured.nodes if n.kind is not NodeKind.METHOD] == [
        "x",
        "fc",
        "relu",
        "out",
        "output",
    ]


def test_input_shape_option_is_used() -> None:
    captured = capture_of(Untraceable(), input_shape=(3, 5))
    assert "(3, 5)" in (captured.reason or "")


def test_wrong_input_shape_falls_to_registration() -> None:
    captured = capture_of(Untraceable(), input_shape=(3, 7))
    assert captured.method == "registration"
    assert "shape (3, 7): RuntimeError" in (captured.reason or "")
    # the F.relu of forward is read from its source (issue 11): fc is still a ReLU layer
    assert [n.target for n in captured.nodes] == ["input", "fc", "relu", "out", "output"]
    assert captured.gaps and "--input-shape" in captured.gaps[0]


def test_container_root_uses_registration() -> None:
    model = nn.ModuleList([nn.Linear(2, 2), nn.ReLU(), nn.ModuleList([nn.Linear(2, 1)])])
    assert not has_forward(model)
    captured = capture_of(model)
    assert captured.method == "registration"
    assert captured.reason == "ModuleList has no forward (a container)"
    assert [n.target for n in captured.nodes] == ["input", "0", "1", "2.0", "output"]
    assert [n.inputs for n in captured.nodes] == [(), (0,), (1,), (2,), (3,)]


def test_not_a_module_is_a_capture_error() -> None:
    with pytest.raises(CaptureError):
        capture(loaded_model(object()))


def test_describe_exception_keeps_the_first_line() -> None:
    assert describe_exception(ValueError("bad\nmore")) == "ValueError: bad"
    assert describe_exception(KeyError()) == "KeyError"


def test_short_names() -> None:
    assert short_name(torch.relu) == "relu"
    assert short_name(F.relu) == "relu"
    assert short_name(F.threshold) == "threshold"
    assert short_name(torch.Tensor.__radd__) == "add"
    assert short_name(torch.Tensor.__iadd__) == "iadd"
    assert short_name(torch.Tensor.relu_) == "relu_"


class WNLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.randn(3, 1))
        self.g = nn.Parameter(torch.ones(3, 1))
        self.b = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.g * self.v / self.v.norm(dim=1, keepdim=True), self.b)


class Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wn = WNLinear()
        self.seq = nn.Sequential(nn.Linear(3, 3), nn.MultiheadAttention(3, 1))
        self.plain = nn.ModuleDict({"a": nn.ReLU()})


def test_leaf_modules() -> None:
    holder = Holder()
    assert is_leaf_module(holder.wn)
    assert is_leaf_module(nn.Linear(2, 2))
    assert not is_leaf_module(holder)
    assert not is_leaf_module(holder.seq)
    assert not is_leaf_module(holder.plain)
    assert [name for name, _ in effective_leaves(holder)] == ["wn", "seq.0", "seq.1", "plain.a"]


# ------------------------------------------------------------------------------- side effects


class Stateful(nn.Module):
    """Untraceable forward that uses dropout (RNG), BatchNorm (running stats) and a Python counter."""

    def __init__(self, old_weight_norm: bool = False) -> None:
        super().__init__()
        fc = nn.Linear(4, 6)
        self.fc = weight_norm(fc) if old_weight_norm else fc
        self.bn = nn.BatchNorm1d(6)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 1))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if x.sum() > 1e9:
            x = -x
        h = F.dropout(self.drop(torch.relu(self.bn(self.fc(x)))), 0.3, self.training)
        return self.head(h + torch.rand_like(h))


def _state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, bool]]:
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return tensors, {name: m.training for name, m in model.named_modules()}


@pytest.mark.parametrize("old_weight_norm", [False, True], ids=["deepcopy", "snapshot"])
def test_capture_leaves_the_model_and_rng_unchanged(old_weight_norm: bool) -> None:
    torch.manual_seed(1234)
    model = Stateful(old_weight_norm)
    model.head.eval()  # mixed training flags must survive
    if not old_weight_norm:
        copy.deepcopy(model)  # the deepcopy path is taken
    weight_attr = model.fc.weight if old_weight_norm else None
    tensors, modes = _state(model)
    rng = torch.random.get_rng_state()

    captured = capture_of(model)

    assert captured.method == "hooks"
    assert torch.equal(torch.random.get_rng_state(), rng)
    after, after_modes = _state(model)
    assert after_modes == modes
    assert after.keys() == tensors.keys()
    assert all(torch.equal(after[k], tensors[k]) for k in tensors)
    assert int(model.bn.num_batches_tracked) == 0
    if old_weight_norm:
        assert model.fc.weight is weight_attr
    else:
        assert model.calls == 0  # ran on a copy
    targets = [n.target for n in captured.nodes if n.target not in ("sum", "gt")]
    assert targets[:6] == ["x", "fc", "bn", "relu", "drop", "dropout"]


def test_fx_capture_leaves_rng_and_modes_unchanged() -> None:
    model = Stateful()
    model.eval()
    model.bn.train()
    rng = torch.random.get_rng_state()
    _, modes = _state(model)
    captured = capture_of(nn.Sequential(model.fc, model.bn, nn.ReLU(), model.head))
    assert captured.method == "fx"
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert _state(model)[1] == modes


# ------------------------------------------------------------------ custom linear layers: one name list


def test_weight_and_gain_names_are_weightnorms_lists() -> None:
    from relulint import capture as cap
    from relulint.weightnorm import DIRECTION_NAMES, SCALE_NAMES

    assert cap.WEIGHT_NAMES == frozenset(DIRECTION_NAMES)
    assert cap.GAIN_NAMES == frozenset(SCALE_NAMES)
    for name in ("direction", "weight_direction", "weight_v", "v", "w", "kernel"):
        assert name in cap.WEIGHT_NAMES


def test_a_direction_gain_layer_is_captured_as_one_module_call() -> None:
    from relulint.capture import custom_linear_weight

    layer = GainDirectionMatmul(2, 3)
    name, weight = custom_linear_weight(layer)
    assert name == "direction" and weight.shape == (3, 2)
    assert is_leaf_module(layer)
    model = nn.Sequential(
        GainDirectionMatmul(2, 3), nn.ReLU(), GainDirectionMatmul(3, 3), nn.ReLU(), nn.Linear(3, 1)
    )
    modules = [n.target for n in capture_of(model).nodes if n.kind is NodeKind.MODULE]
    assert modules == ["0", "1", "2", "3", "4"]


def test_registration_order_interleaves_parallel_lists_of_linears_and_relus() -> None:
    """A container with `self.linears = ModuleList(...)` and `self.acts = ModuleList(...)` and no forward."""
    from relulint.api import check

    class Lists(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linears = nn.ModuleList([nn.Linear(3, 3) for _ in range(12)])
            self.acts = nn.ModuleList([nn.ReLU() for _ in range(12)])

    (target,) = check(Lists()).targets
    assert target.facts.capture_method == "registration"
    assert "alternating layers" in target.facts.capture_reason
    (chain,) = target.facts.chains
    assert chain.depth == 12 and chain.hidden_widths == (3,) * 12
    # an ordinary container (Linear, ReLU, Linear, ReLU …) is left as registered
    plain = check(nn.ModuleDict({"a": nn.Linear(2, 4), "r": nn.ReLU(), "b": nn.Linear(4, 1)})).targets[0]
    assert "alternating" not in (plain.facts.capture_reason or "")


class Draws(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(2, 4), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        np.random.rand()
        random.random()
        return self.b(torch.relu(self.a(x)))


def test_forward_drawing_from_numpy_and_random_leaves_their_state() -> None:
    np.random.seed(5)
    random.seed(7)
    before = (np.random.get_state()[1].copy(), random.getstate())
    check(Draws())
    assert (np.random.get_state()[1] == before[0]).all() and random.getstate() == before[1]


def test_warnings_of_the_capture_forward_passes_are_not_shown() -> None:
    """The capture runs forward as a trace or on relulint's example inputs: what PyTorch warns about there
    (here softmax without a dim) is relulint's probing, and would point at relulint's hooks; not shown."""
    import warnings

    from relulint.api import check

    class Implicit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.abs().sum() >= 0:  # data-dependent: fx cannot trace it, the hooks run forward for real
                return torch.nn.functional.softmax(self.body(x))  # no dim: PyTorch warns
            return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = check(Implicit())
    assert report.targets[0].facts is not None and report.targets[0].facts.chains
    assert [str(w.message) for w in caught if "softmax" in str(w.message)] == []
