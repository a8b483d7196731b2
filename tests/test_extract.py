"""Extract: ReLU chains from real nn.Module classes (every ReLU spelling, norms, residuals, fallbacks)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from custom_layers import DeletedWeightLinear
from helpers_capture import chains_of, loaded_model, summary
from torch import nn
from torch.nn.utils import parametrizations, weight_norm

import relulint.init_reconcile
from relulint.capture import hooks_capture
from relulint.errors import CaptureError
from relulint.extract import extract_chains
from relulint.records.captured import Capture
from relulint.records.location import Location
from relulint.records.model_facts import InitInfo

# ------------------------------------------------------------------------------ every ReLU spelling

SPELLINGS: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "nn.ReLU": lambda m, x: m.relu(x),
    "nn.ReLU(inplace=True)": lambda m, x: m.relu_inplace(x),
    "nn.ReLU6": lambda m, x: m.relu6(x),
    "F.relu": lambda m, x: F.relu(x),
    "F.relu(inplace=True)": lambda m, x: F.relu(x, inplace=True),
    "F.relu_": lambda m, x: F.relu_(x),
    "F.relu6": lambda m, x: F.relu6(x),
    "torch.relu": lambda m, x: torch.relu(x),
    "torch.relu_": lambda m, x: torch.relu_(x),
    "x.relu()": lambda m, x: x.relu(),
    "x.relu_()": lambda m, x: x.relu_(),
    "x.clamp(min=0)": lambda m, x: x.clamp(min=0),
    "x.clamp_(min=0)": lambda m, x: x.clamp_(min=0),
    "x.clamp(0)": lambda m, x: x.clamp(0),
    "torch.clamp(x, min=0)": lambda m, x: torch.clamp(x, min=0),
    "torch.clamp(x, 0)": lambda m, x: torch.clamp(x, 0),
    "x.clamp_min(0)": lambda m, x: x.clamp_min(0),
    "torch.clamp_min(x, 0)": lambda m, x: torch.clamp_min(x, 0),
    "x.clip(min=0)": lambda m, x: x.clip(min=0),
    "torch.clip(x, min=0)": lambda m, x: torch.clip(x, min=0),
    "F.threshold(x, 0, 0)": lambda m, x: F.threshold(x, 0.0, 0.0),
}


class Spelled(nn.Module):
    """2 → 6 → 6 → 6 → 1 with the hidden ReLUs written one way, through a ModuleList loop."""

    def __init__(self, spelling: str) -> None:
        super().__init__()
        self.spelling = spelling
        self.layers = nn.ModuleList([nn.Linear(2, 6), nn.Linear(6, 6), nn.Linear(6, 6)])
        self.out = nn.Linear(6, 1)
        self.relu = nn.ReLU()
        self.relu_inplace = nn.ReLU(inplace=True)
        self.relu6 = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = SPELLINGS[self.spelling]
        for layer in self.layers:
            x = act(self, layer(x))
        return self.out(x)


def _hooks_chains(model: nn.Module) -> tuple[Capture, tuple]:
    loaded = loaded_model(model)
    captured = hooks_capture(model, _Nowhere())
    assert isinstance(captured, Capture), captured
    return captured, extract_chains(loaded, captured)


class _Nowhere:
    """A locator that never finds the user's file (the hooks capture is called directly)."""

    def here(self, depth: int = 1) -> None:
        return None


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_every_relu_spelling_makes_one_chain(spelling: str, method: str) -> None:
    model = Spelled(spelling)
    if method == "fx":
        captured, chains = chains_of(model)
    else:
        captured, chains = _hooks_chains(model)
    assert captured.method == method
    assert summary(chains) == [(2, (6, 6, 6), 1, "output")]
    chain = chains[0]
    assert chain.depth == 3
    assert not chain.relu_on_last
    assert chain.modules == ("layers.0", "layers.1", "layers.2", "out")
    assert [layer.activation for layer in chain.layers] == ["relu", "relu", "relu", None]


# ------------------------------------------------------------------------------------ structure


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
        self.body = nn.Sequential(Block(5), Block(5))
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


def test_sequential() -> None:
    model = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1))
    captured, chains = chains_of(model)
    assert captured.method == "fx"
    assert summary(chains) == [(1, (10, 10), 1, "output")]
    assert chains[0].index == 0
    assert chains[0].has_bias


def test_nested_modules() -> None:
    _, chains = chains_of(Nested())
    assert summary(chains) == [(3, (5, 5, 5), 2, "output")]
    assert chains[0].modules == ("stem.0", "body.0.fc", "body.1.fc", "head")


def test_relu_on_last_layer() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU())
    _, chains = chains_of(model)
    assert summary(chains) == [(2, (4, 3), 3, "output")]
    assert chains[0].relu_on_last
    assert chains[0].depth == 2


def test_linear_output_layer() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    _, chains = chains_of(model)
    assert not chains[0].relu_on_last
    assert chains[0].layers[-1].activation is None
    assert chains[0].depth == 1


def test_bias_free() -> None:
    model = nn.Sequential(nn.Linear(1, 4, bias=False), nn.ReLU(), nn.Linear(4, 1, bias=False))
    _, chains = chains_of(model)
    assert not chains[0].has_bias
    assert [layer.bias for layer in chains[0].layers] == [False, False]


def test_relu_on_raw_input_is_ignored() -> None:
    model = nn.Sequential(nn.ReLU(), nn.Linear(3, 3))
    _, chains = chains_of(model)
    assert chains == ()


# --------------------------------------------------------------------------- normalization, dropout


@pytest.mark.parametrize(
    ("norm", "name"),
    [
        (lambda: nn.BatchNorm1d(6), "batchnorm"),
        (lambda: nn.LayerNorm(6), "layernorm"),
        (lambda: nn.GroupNorm(2, 6), "groupnorm"),
    ],
)
def test_norm_before_relu(norm: Callable[[], nn.Module], name: str) -> None:
    model = nn.Sequential(
        nn.Linear(2, 6), norm(), nn.ReLU(), nn.Linear(6, 6), norm(), nn.ReLU(), nn.Linear(6, 1)
    )
    _, chains = chains_of(model)
    assert summary(chains) == [(2, (6, 6), 1, "output")]
    assert [layer.norm for layer in chains[0].layers] == [name, name, None]


def test_batchnorm_eval_uses_running_stats() -> None:
    model = nn.Sequential(nn.Linear(2, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 1)).eval()
    _, chains = chains_of(model)
    assert chains[0].layers[0].norm == "batchnorm"
    assert chains[0].layers[0].norm_training is False
    train = nn.Sequential(nn.Linear(2, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 1))
    _, chains = chains_of(train)
    assert chains[0].layers[0].norm_training is True


class FunctionalNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 6)
        self.b = nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.layer_norm(self.a(x), (6,))
        h = F.dropout(F.relu(h), p=0.1, training=self.training)
        return self.b(h)


def test_functional_norm_and_dropout() -> None:
    _, chains = chains_of(FunctionalNorm())
    layer = chains[0].layers[0]
    assert (layer.norm, layer.dropout, layer.activation) == ("layernorm", True, "relu")
    assert chains[0].layers[1].dropout is False


def test_dropout_modules() -> None:
    model = nn.Sequential(
        nn.Linear(2, 6), nn.Dropout(0.1), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Dropout(0.2)
    )
    model.append(nn.Linear(6, 1))
    _, chains = chains_of(model)
    assert [layer.dropout for layer in chains[0].layers] == [True, True, False]
    assert chains[0].depth == 2


def test_weight_norm_old_api() -> None:
    model = nn.Sequential(weight_norm(nn.Linear(2, 6)), nn.ReLU(), weight_norm(nn.Linear(6, 1)))
    _, chains = chains_of(model)
    assert summary(chains) == [(2, (6,), 1, "output")]
    assert [layer.weight_norm for layer in chains[0].layers] == ["weight_norm", "weight_norm"]


def test_weight_norm_new_api() -> None:
    model = nn.Sequential(
        parametrizations.weight_norm(nn.Linear(2, 6)),
        nn.ReLU(),
        parametrizations.weight_norm(nn.Linear(6, 1)),
    )
    captured, chains = chains_of(model)
    assert captured.method == "fx"
    assert summary(chains) == [(2, (6,), 1, "output")]
    assert [layer.weight_norm for layer in chains[0].layers] == ["parametrize", "parametrize"]


class WNLinear(nn.Module):
    """A hand-written weight-normalized linear layer (v, g, b)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.randn(n_out, n_in))
        self.g = nn.Parameter(torch.ones(n_out, 1))
        self.b = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.g * self.v / self.v.norm(dim=1, keepdim=True), self.b)


class CustomWN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = WNLinear(1, 8)
        self.l2 = WNLinear(8, 8)
        self.out = WNLinear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.l2(torch.relu(self.l1(x)))))


def test_custom_weight_norm_module() -> None:
    _, chains = chains_of(CustomWN())
    assert summary(chains) == [(1, (8, 8), 1, "output")]
    layers = chains[0].layers
    assert [layer.weight_norm for layer in layers] == ["custom"] * 3
    assert [layer.bias for layer in layers] == [True] * 3
    assert chains[0].modules == ("l1", "l2", "out")


class FunctionalWN(nn.Module):
    """`F.linear(x, w / ||w||)` written directly in the model's forward."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(5, 2))
        self.b1 = nn.Parameter(torch.zeros(5))
        self.w2 = nn.Parameter(torch.randn(1, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(F.linear(x, self.w1 / self.w1.norm(dim=1, keepdim=True), self.b1))
        return F.linear(h, self.w2)


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_functional_linear(method: str) -> None:
    model = FunctionalWN()
    _, chains = chains_of(model) if method == "fx" else _hooks_chains(model)
    assert summary(chains) == [(2, (5,), 1, "output")]
    first, last = chains[0].layers
    assert (first.module, first.weight_norm, first.bias) == ("w1", "custom", True)
    assert (last.module, last.weight_norm, last.bias) == ("w2", None, False)


# ------------------------------------------------------------------------ residual, concat, fan-out


class ResidualMLP(nn.Module):
    def __init__(self, width: int = 8, blocks: int = 2) -> None:
        super().__init__()
        self.inp = nn.Linear(3, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
            for _ in range(blocks)
        )
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.inp(x))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def test_residual_splits_chains() -> None:
    _, chains = chains_of(ResidualMLP())
    assert summary(chains) == [
        (3, (8,), 8, "residual"),
        (8, (8, 8), 8, "residual"),
        (8, (8, 8), 8, "residual"),
    ]
    assert max(chain.depth for chain in chains) == 2
    assert [chain.index for chain in chains] == [0, 1, 2]


class FFN(nn.Module):
    """A transformer feed-forward block: x + W2 act(W1 LN(x))."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(16)
        self.up = nn.Linear(16, 64)
        self.act = act
        self.down = nn.Linear(64, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(self.norm(x))))


def test_transformer_ffn_gelu_is_not_a_chain() -> None:
    _, chains = chains_of(FFN(nn.GELU()))
    assert chains == ()


def test_transformer_ffn_relu_is_depth_one() -> None:
    _, chains = chains_of(FFN(nn.ReLU()))
    assert summary(chains) == [(16, (64,), 16, "residual")]
    assert chains[0].depth == 1


class DenseConcat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(8, 4)
        self.c = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.a(x))
        h = F.relu(self.b(torch.cat([x, h], dim=1)))
        return self.c(h)


def test_concat_splits_chains() -> None:
    _, chains = chains_of(DenseConcat())
    assert summary(chains) == [(4, (4,), 4, "concat"), (8, (4,), 1, "output")]


class FanOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 5)
        self.b = nn.Linear(5, 5)
        self.c = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.a(x))
        aux = h.mean()
        return self.c(F.relu(self.b(h))), aux


def test_fan_out_of_a_relu_keeps_the_chain() -> None:
    _, chains = chains_of(FanOut())
    assert summary(chains) == [(2, (5, 5), 1, "output")]


class PINN(nn.Module):
    """forward(x, t) with the inputs concatenated before the first layer."""

    def __init__(self, width: int = 10, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(2, width), nn.Tanh()]
        self.net = nn.Sequential(nn.Linear(2, width), nn.ReLU())
        for _ in range(depth - 1):
            self.net.append(nn.Linear(width, width))
            self.net.append(nn.ReLU())
        self.net.append(nn.Linear(width, 1))
        del layers

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t], dim=1))


def test_multi_input_concat_before_first_linear() -> None:
    _, chains = chains_of(PINN())
    assert summary(chains) == [(2, (10, 10, 10, 10), 1, "output")]


class UntraceablePINN(PINN):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.sum() > 1e9:
            x = x * 0
        return self.net(torch.cat([x, t], dim=1))


def test_multi_input_hooks_fallback() -> None:
    captured, chains = chains_of(UntraceablePINN())
    assert captured.method == "hooks"
    assert "2 inputs of shape (8, 1)" in (captured.reason or "")
    assert summary(chains) == [(2, (10, 10, 10, 10), 1, "output")]


class Switches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 7)
        self.b = nn.Linear(7, 7)
        self.c = nn.Linear(7, 2)

    def forward(
        self, x: torch.Tensor, use_relu: bool = True, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        act = F.relu if use_relu else torch.tanh
        if mask is not None:
            x = x * mask
        return self.c(act(self.b(act(self.a(x)))))


def test_bool_and_none_defaults_trace_with_concrete_args() -> None:
    captured, chains = chains_of(Switches())
    assert captured.method == "fx"
    assert summary(chains) == [(3, (7, 7), 2, "output")]


# ------------------------------------------------------------------------- non-dying activations


@pytest.mark.parametrize(
    "act",
    [
        nn.Tanh(),
        nn.LeakyReLU(),
        nn.PReLU(),
        nn.ELU(),
        nn.SELU(),
        nn.GELU(),
        nn.SiLU(),
        nn.Sigmoid(),
        nn.Softplus(),
    ],
    ids=lambda m: type(m).__name__,
)
def test_non_dying_activation_is_not_a_relu_chain(act: nn.Module) -> None:
    model = nn.Sequential(nn.Linear(2, 6), act, nn.Linear(6, 6), act, nn.Linear(6, 1))
    _, chains = chains_of(model)
    assert chains == ()


class Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(30.0 * x)


def test_sine_activation_is_not_a_relu_chain() -> None:
    model = nn.Sequential(nn.Linear(2, 6), Sine(), nn.Linear(6, 6), Sine(), nn.Linear(6, 1))
    _, chains = chains_of(model)
    assert chains == ()


@pytest.mark.parametrize("act", [nn.Tanh(), nn.GELU(), Sine()], ids=lambda m: type(m).__name__)
def test_relu_layers_then_non_dying_activation(act: nn.Module) -> None:
    relus = [m for _ in range(3) for m in (nn.Linear(4, 4), nn.ReLU())]
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), *relus[2:], nn.Linear(4, 4), act, nn.Linear(4, 1))
    _, chains = chains_of(model)
    name = {"Tanh": "tanh", "GELU": "gelu", "Sine": "sin"}[type(act).__name__]
    assert summary(chains) == [(2, (4, 4, 4), 4, f"activation:{name}")]
    assert chains[0].depth == 3
    assert chains[0].layers[-1].activation == name
    assert not chains[0].relu_on_last


# ---------------------------------------------------------------------------------------- CNN


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 16 * 16, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_cnn_only_the_mlp_head_is_a_chain() -> None:
    _, chains = chains_of(SmallCNN())
    assert summary(chains) == [(8 * 16 * 16, (32,), 10, "output")]
    assert chains[0].modules == ("head.1", "head.3")


class UntraceableCNN(SmallCNN):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 1e9:
            return x
        return self.head(self.features(x))


def test_untraceable_cnn_does_not_crash() -> None:
    captured, chains = chains_of(UntraceableCNN())
    assert captured.method in ("hooks", "registration")
    assert summary(chains) == [(8 * 16 * 16, (32,), 10, "output")]


# ------------------------------------------------------------------------------- fallbacks


class DataDependent(nn.Module):
    """One model per way a forward breaks torch.fx symbolic tracing (data-dependent `if`, `range`, `int`,
    `len`, iteration over a tensor, a numpy round trip)."""

    def __init__(self, trick: str) -> None:
        super().__init__()
        self.trick = trick
        self.layers = nn.ModuleList([nn.Linear(4, 9), nn.Linear(9, 9), nn.Linear(9, 9)])
        self.out = nn.Linear(9, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.trick == "if":
            if x.sum() > 1e9:
                x = -x
        elif self.trick == "range":
            for _ in range(x.shape[0] // 100):
                x = x * 1
        elif self.trick == "int":
            x = x[: int(x.shape[0])]
        elif self.trick == "len":
            x = x[: len(x)]
        elif self.trick == "iterate":
            x = torch.stack([row for row in x])
        elif self.trick == "numpy":
            x = x * float(np.abs(np.asarray(x)).max() > -1)
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.out(x)


@pytest.mark.parametrize(
    ("trick", "error"),
    [
        ("if", "TraceError"),
        ("range", "TypeError"),
        ("int", "TypeError"),
        ("len", "RuntimeError"),
        ("iterate", "TraceError"),
        ("numpy", "ValueError"),
    ],
)
def test_untraceable_forward_falls_back_to_hooks(trick: str, error: str) -> None:
    captured, chains = chains_of(DataDependent(trick))
    assert captured.method == "hooks"
    assert captured.degraded
    assert (captured.reason or "").startswith(f"torch.fx could not trace forward: {error}")
    assert summary(chains) == [(4, (9, 9, 9), 3, "output")]


def test_module_list_root_uses_registration_order() -> None:
    model = nn.ModuleList([nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)])
    captured, chains = chains_of(model)
    assert captured.method == "registration"
    assert "no forward" in (captured.reason or "")
    assert summary(chains) == [(3, (4, 4), 1, "output")]


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.b = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("subclasses implement forward")


def test_forward_that_raises_uses_registration_order() -> None:
    captured, chains = chains_of(Broken())
    assert captured.method == "registration"
    assert "NotImplementedError" in (captured.reason or "")
    assert summary(chains) == [(3, (4,), 1, "output")]


# ------------------------------------------------------------------------------ layers, misc


def test_lazy_linear_uninitialised_needs_an_input_shape() -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(CaptureError, match="lazy modules"):
        chains_of(model)
    _, chains = chains_of(model, input_shape=(8, 3))  # materialised by the example forward
    assert summary(chains) == [(3, (4, 4), 1, "output")]


def test_lazy_linear_materialised() -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 1))
    model(torch.randn(2, 3))
    _, chains = chains_of(model)
    assert summary(chains) == [(3, (4,), 1, "output")]


def test_locations_from_module_locations() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    base = loaded_model(model)
    sites = {"0": Location("x.py", 10), "2": Location("x.py", 12)}
    loaded = type(base)(**{**base.__dict__, "module_locations": sites})
    from relulint.capture import capture

    chains = extract_chains(loaded, capture(loaded))
    assert chains[0].location == Location("x.py", 10)
    assert [layer.location for layer in chains[0].layers] == [Location("x.py", 10), Location("x.py", 12)]
    chains = extract_chains(base, capture(base))
    assert chains[0].location == base.location


def test_describe_layer_is_used_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def describe_layer(loaded: object, qualname: str) -> tuple[InitInfo, InitInfo]:
        seen.append(qualname)
        return InitInfo("kaiming-uniform", True), InitInfo("uniform", True)

    monkeypatch.setattr(relulint.init_reconcile, "describe_layer", describe_layer, raising=False)
    _, chains = chains_of(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    assert seen == ["0", "2"]
    assert chains[0].layers[0].weight_init == InitInfo("kaiming-uniform", True)
    assert chains[0].layers[1].bias_init == InitInfo("uniform", True)


def test_no_describe_layer_leaves_inits_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(relulint.init_reconcile, "describe_layer", raising=False)
    _, chains = chains_of(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    assert all(layer.weight_init is None and layer.bias_init is None for layer in chains[0].layers)


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU())
        self.short = nn.Linear(6, 1)
        self.long = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.short(h), self.long(h)


def test_branches_follow_the_deepest_head() -> None:
    _, chains = chains_of(TwoHeads())
    assert summary(chains) == [(2, (6, 6, 6), 2, "output")]


# ------------------------------------------------------------- nn.Linear subclasses without `weight`


class DeletedWeightNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([DeletedWeightLinear(2, 3), DeletedWeightLinear(3, 3)])
        self.out = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.out(x)


def test_module_layer_of_a_linear_subclass_without_weight() -> None:
    from relulint.node_roles import module_layer

    layer = module_layer(DeletedWeightLinear(2, 3), "l")  # used to raise AttributeError: no 'weight'
    assert layer is not None
    assert (layer.in_features, layer.out_features, layer.bias, layer.weight_norm) == (2, 3, True, "custom")
    no_bias = DeletedWeightLinear(4, 5)
    no_bias.bias = None
    del no_bias.in_features, no_bias.out_features  # sizes from the direction weight_v instead
    layer = module_layer(no_bias, "l")
    assert layer is not None and (layer.in_features, layer.out_features, layer.bias) == (4, 5, False)


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_chain_through_linear_subclasses_without_weight(method: str) -> None:
    model = DeletedWeightNet()
    _, chains = chains_of(model) if method == "fx" else _hooks_chains(model)
    assert summary(chains) == [(2, (3, 3), 1, "output")]
    assert [layer.weight_norm for layer in chains[0].layers] == ["custom", "custom", None]
