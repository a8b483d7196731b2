"""ReLU spellings, 1×1-conv channel MLPs, TorchScript modules, random depth, and the source reader of
the registration capture (issue 11, "Silent misses"). Models in `fixtures/capture/spellings.py`."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from helpers_capture import capture_of, chains_of, summary
from helpers_cli_json import FIXTURES, chains, check_json, codes, finding
from torch import nn

import relulint
from relulint.capture_jit import script_nodes
from relulint.capture_source import argument_hints, functional_relu_leaves, uses_python_random
from relulint.records.captured import NodeKind

SPELLINGS = str(FIXTURES / "spellings.py")
CHAIN = [(2, [6] * 10, 1)]  # WIDTH 6, DEPTH 10 in the fixture


def thm8(width: int, depth: int) -> float:
    return 1 - (1 - 2.0**-width) ** depth


@pytest.fixture(scope="module")
def spellings():
    run = check_json(SPELLINGS)
    assert run.exit_code == 1, run.stderr
    return run


# ------------------------------------------------------------------------------------- spellings


@pytest.mark.parametrize(
    "name",
    [
        "Leaky0",  # nn.LeakyReLU(0.0)
        "FunctionalLeaky0",  # F.leaky_relu(h, 0.0)
        "ClampMin",  # h.clamp_min(0)
        "ClampMinKeyword",  # h.clamp(min=0)
        "MaximumZerosLike",  # torch.maximum(h, torch.zeros_like(h))
        "MaximumScalar",  # torch.maximum(h, torch.tensor(0.0))  (fx: a tensor constant)
        "UntraceableMaximum",  # the same through the hooks capture
        "ReluOnView",  # F.relu(h.view(...)).view(...)
        "ReluOnSlice",  # F.relu(h[:, :])
    ],
)
def test_relu_spellings_make_a_chain(spellings, name: str) -> None:
    target = spellings.target(name)
    assert chains(target) == CHAIN
    assert target["chains"][0]["p_upper"] == pytest.approx(thm8(6, 10))
    assert "RL101" in codes(target)


@pytest.mark.parametrize("name", ["Leaky", "SpatialConv2d", "Spelled"])
def test_what_is_not_a_relu_chain(spellings, name: str) -> None:
    """A real leaky ReLU (slope 0.01), 3×3 convolutions, no activation."""
    target = spellings.target(name)
    assert target["chains"] == [] and "RL101" not in codes(target)


def test_max_reduction_is_not_a_relu() -> None:
    class Reduce(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 4), nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.max(self.a(x), 0).values.expand(3, 4))

    assert chains_of(Reduce())[1] == ()


# ------------------------------------------------------------------------------- 1×1 convolutions


@pytest.mark.parametrize(("name", "channels_in"), [("PointwiseConv1d", 2), ("PointwiseConv2d", 3)])
def test_pointwise_conv_mlp_is_a_chain(spellings, name: str, channels_in: int) -> None:
    target = spellings.target(name)
    assert chains(target) == [(channels_in, [6] * 10, 1)]
    assert "RL101" in codes(target)


# ------------------------------------------------------------------------------------ TorchScript


@pytest.mark.parametrize("factory", ["scripted", "traced"])
def test_top_level_torchscript_model(factory: str) -> None:
    run = check_json(f"{SPELLINGS}:{factory}")
    (target,) = run.document["targets"]
    assert target["capture"]["method"] == "torchscript"
    assert "has no forward" not in target["capture"]["reason"]
    assert chains(target) == CHAIN
    assert target["chains"][0]["p_upper"] == pytest.approx(thm8(6, 10))
    assert "RL101" in codes(target)


@pytest.mark.parametrize(("name", "method"), [("WithScripted", "fx"), ("UntraceableWithScripted", "hooks")])
def test_scripted_submodule(spellings, name: str, method: str) -> None:
    target = spellings.target(name)
    assert target["capture"]["method"] == method
    assert chains(target) == CHAIN
    assert "RL101" in codes(target)
    assert "encoder" in finding(target, "RL901")["message"]  # "scripted submodules read …: encoder"


def test_torchscript_nodes_name_the_qualified_parameters() -> None:
    model = torch.jit.script(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    nodes, outputs, loops = script_nodes(model, "enc.", [0], 1)
    assert loops == 0
    linear = [n for n in nodes if n.target == "linear"]
    assert [dict(n.args)["params"] for n in linear] == [
        {"weight": "enc.0.weight", "bias": "enc.0.bias"},
        {"weight": "enc.2.weight", "bias": "enc.2.bias"},
    ]
    assert [dict(n.args)["module"] for n in linear] == ["enc.0", "enc.2"]
    relu = next(n for n in nodes if n.target == "relu")
    assert relu.inputs == (linear[0].id,) and linear[1].inputs == (relu.id,)
    assert outputs == [linear[1].id] and linear[0].inputs == (0,)


# ----------------------------------------------------------------------------------- random depth


def test_random_depth_reports_the_deepest_graph_and_keeps_the_callers_random_state() -> None:
    random.seed(1234)
    state = random.getstate()
    report = relulint.check(f"{SPELLINGS}:RandomDepth")
    assert random.getstate() == state
    (target,) = report.targets
    (chain,) = target.facts.chains
    assert chain.depth >= 8  # 1 + randint(2, 12) blocks: the deepest of 8 seeds, not the first
    assert chain.depth == relulint.check(f"{SPELLINGS}:RandomDepth").targets[0].facts.chains[0].depth
    (rl901,) = [f for f in target.findings if f.code == "RL901"]
    assert "the depth of forward is not fixed" in rl901.message and "the deepest is reported" in rl901.message


def test_fixed_depth_is_traced_once() -> None:
    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 4), nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(F.relu(self.a(x)))

    assert not uses_python_random(Fixed())
    assert capture_of(Fixed()).notes == ()


# --------------------------------------------------------------------------------- source reader


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(2, 4)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1)) for _ in range(3)])
        self.heads = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 1)])
        self.gate = nn.Linear(4, 4)
        self.act = F.relu

    def forward(self, x: torch.Tensor, cfg: object) -> torch.Tensor:
        h = self.first(x)
        h = torch.relu(h)
        for _i, block in enumerate(self.blocks):
            h = block(h).relu_()
        h = self.act(self.gate(h))
        for head in self.heads[:-1]:
            h = h + head(h).clamp(min=0)
        if cfg.rescale:  # type: ignore[attr-defined]  # fx cannot trace it; no tensor has .rescale
            h = h / h.norm()
        return self.heads[-1](h)


def test_functional_relus_read_from_the_source() -> None:
    assert functional_relu_leaves(Functional()) == {
        "first",
        "blocks.0.1",  # the block's last leaf (its Dropout): the ReLU follows the whole block
        "blocks.1.1",
        "blocks.2.1",
        "gate",
        "heads.0",
    }


def test_registration_capture_inserts_the_functional_relus() -> None:
    captured = capture_of(Functional())
    assert captured.method == "registration"
    relus_after = [captured.nodes[n.inputs[0]].target for n in captured.nodes if n.kind is NodeKind.FUNCTION]
    assert relus_after == ["first", "blocks.0.1", "blocks.1.1", "blocks.2.1", "heads.0", "gate"]
    assert captured.gaps and "cfg=8,N" in captured.gaps[0]


def test_argument_hints_from_annotations_and_use() -> None:
    class Inputs(nn.Module):
        def forward(self, xs: list[torch.Tensor], batch: dict, pair, t):  # noqa: ANN001, ANN201
            a, b = pair
            return torch.cat([*xs, batch["u"], batch.get("v"), a, b, t], 1)

    hints = argument_hints(Inputs())
    assert hints["xs"].kind == "list"
    assert hints["batch"].kind == "dict" and hints["batch"].keys == ["u", "v"]
    assert hints["pair"].kind == "tensor" and hints["pair"].sequence_use and hints["pair"].count == 2
    assert hints["t"].kind == "tensor" and not hints["t"].sequence_use


def test_model_whose_forward_always_raises_is_incomplete_not_clean(tmp_path, monkeypatch) -> None:
    (tmp_path / "model.py").write_text(
        "import torch.nn.functional as F\nfrom torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = nn.Linear(2, 3)\n"
        "        self.b = nn.Linear(3, 1)\n\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('load the checkpoint first')\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    run = check_json("model.py:Net")
    assert run.exit_code == 1  # a warning: never a silent pass
    target = run.target("Net")
    message = finding(target, "RL902")["message"]
    assert "RuntimeError: load the checkpoint first" in message and "--input-shape 8,16" in message
    assert summary(chains_of(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))[1]) == [
        (2, (3,), 1, "output")
    ]


def test_torchscript_loop_is_a_gap_not_a_silent_pass() -> None:
    class Repeat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp, self.block, self.out = nn.Linear(2, 4), nn.Linear(4, 4), nn.Linear(4, 1)

        def forward(self, x: torch.Tensor, times: int = 3) -> torch.Tensor:
            h = F.relu(self.inp(x))
            for _ in range(times):
                h = F.relu(self.block(h))
            return self.out(h)

    captured = capture_of(torch.jit.script(Repeat()))
    assert captured.method == "torchscript"
    assert captured.gaps and "1 loop whose body relulint does not read" in captured.gaps[0]


def test_registration_order_starts_a_new_branch_where_widths_do_not_chain() -> None:
    """DeepONet whose forward cannot run: branch and trunk are two chains, not one of 24 layers."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branch = nn.ModuleList([nn.Linear(20, 8)] + [nn.Linear(8, 8) for _ in range(3)])
            self.trunk = nn.ModuleList([nn.Linear(2, 8)] + [nn.Linear(8, 8) for _ in range(3)])

        def forward(self, u: torch.Tensor, y: torch.Tensor, cfg: object) -> torch.Tensor:
            for layer in self.branch[: cfg.depth]:  # type: ignore[attr-defined]
                u = F.relu(layer(u))
            for layer in self.trunk:
                y = F.relu(layer(y))
            return (u * y).sum(-1)

    captured, found = chains_of(Net())
    assert captured.method == "registration" and captured.gaps
    assert summary(found) == [(20, (8, 8, 8, 8), 8, "output"), (2, (8, 8, 8, 8), 8, "output")]


def test_keyword_only_arguments_are_passed_by_keyword() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 4)] + [nn.Linear(4, 4) for _ in range(2)])

        def forward(self, x: torch.Tensor, *, t: torch.Tensor) -> torch.Tensor:
            if x.sum() > 1e9:
                return x
            h = torch.cat([x, t], 1)
            for layer in self.layers:
                h = F.relu(layer(h))
            return h

    captured, found = chains_of(Net())
    # 3 features over two arguments: one to the first, the rest to the last (any split runs forward)
    assert captured.method == "hooks" and "x: (8, 1), t: (8, 2)" in (captured.reason or "")
    assert summary(found) == [(3, (4, 4, 4), 4, "output")]
