"""Bypass decided on the graph: a residual block is bypassed whatever sits between the stream and its first
Linear (a pre-norm, a dropout, an ``nn.Identity``, swapped variables), and only the layers on every
input→output path can kill the network (`collapse` Lemma 1).

Models are written the way rtdl (tabular ResNet), GPT-style code (pre-LN blocks), physicsnemo
(FullyConnected with skip connections) and NeRF write them (`graph_models`). Each verdict is checked
through the CLI's json, and the claim behind it numerically: silencing a bypassed block's ReLU leaves the
output varying with the input (``x + const``), silencing a layer on every path makes it constant.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import torch
from graph_models import IDENTITY_SHORTCUT, NERF, PRE_LN_GPT, RTDL_RESNET, SKIP_FC, findings, run_json, thm8
from helpers_capture import loaded_model
from torch import nn

from relulint.capture import hooks_capture
from relulint.extract import extract_chains
from relulint.verdict import kill_sets


def build(source: str, name: str, **kwargs: Any) -> nn.Module:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), namespace)  # our own model sources
    torch.manual_seed(0)
    return namespace[name](**kwargs)


def silence(layer: nn.Linear) -> None:
    """Make the ReLU after `layer` output zero for every input (weights 0, bias −1)."""
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(-1.0)


def output_spread(model: nn.Module, d_in: int) -> float:
    """The largest standard deviation of an output over 256 random inputs (0 for a constant network)."""
    model.eval()
    x = torch.randn(256, d_in, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(model(x).std(dim=0).max())


class _Nowhere:
    def here(self, depth: int = 1) -> None:
        return None


def hooks_kill_sets(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The kill sets' chains when the forward is read by the hooks capture (recorded data flow)."""
    captured = hooks_capture(model, _Nowhere(), shape)
    assert not isinstance(captured, str), captured
    return [k.chains for k in kill_sets(extract_chains(loaded_model(model), captured))]


# ---------------------------------------------------------------------------- rtdl tabular ResNet


def test_rtdl_resnet_blocks_are_not_false_alarms(tmp_path, monkeypatch) -> None:
    """Eight pre-BatchNorm blocks with a width-4 hidden layer (6.25 % each alone, 8 RL101 before): every
    block has the stream around it, the first Linear has no ReLU and the head's ReLU follows a norm."""
    code, doc = run_json(tmp_path, monkeypatch, RTDL_RESNET, "ResNet")
    model = doc["targets"][0]
    assert len(model["chains"]) == 8 and findings(doc) == [] and model["paths"] == []
    for chain in model["chains"]:
        assert chain["end"] == "residual" and chain["verdict"] == "protected"
        assert [layer["routes"] for layer in chain["layers"]] == [
            [],
            None,
        ]  # the ReLU layer, the Linear after
        assert chain["skip"].startswith("a residual add") and chain["p_upper_unprotected"] == 0.0
    assert code == 0


def test_rtdl_blocks_around_a_narrow_stem_and_head(tmp_path, monkeypatch) -> None:
    """Only the stem's ReLU and the head's hidden ReLU lie on every path: RL101 reports those two, with
    their own probability 1 − (1 − 2^-6)^2, as one path; the blocks between them stay out of it."""
    code, doc = run_json(tmp_path, monkeypatch, RTDL_RESNET, "NarrowEnds")
    model = doc["targets"][0]
    (finding,) = findings(doc)
    assert code == 1 and finding["details"]["chains"] == [0, 9]
    assert finding["details"]["probability"] == pytest.approx(thm8(6, 6), rel=1e-12)
    assert [c["verdict"] for c in model["chains"][1:9]] == ["protected"] * 8
    assert model["chains"][0]["layers"][0]["routes"] == ["x→output"]
    net = build(RTDL_RESNET, "NarrowEnds")
    assert hooks_kill_sets(net, (16, 2)) == [(0, 9)]


def test_silencing_a_block_leaves_x_plus_const_but_the_stem_kills() -> None:
    base = build(RTDL_RESNET, "NarrowEnds")
    assert output_spread(base, 2) > 1e-3
    block = build(RTDL_RESNET, "NarrowEnds")
    for b in block.blocks:
        silence(b.linear_first)  # every block's branch dead: the stream still carries x
    assert output_spread(block, 2) > 1e-3
    stem = build(RTDL_RESNET, "NarrowEnds")
    silence(stem.stem[0])
    assert output_spread(stem, 2) < 1e-6
    head = build(RTDL_RESNET, "NarrowEnds")
    silence(head.head[0])
    assert output_spread(head, 2) < 1e-6


# ----------------------------------------------------------------------------- pre-LN transformer


def test_pre_ln_transformer_ffn_blocks_are_bypassed(tmp_path, monkeypatch) -> None:
    """x + attn(ln_1(x)), x + mlp(ln_2(x)) with a width-4 ReLU FFN: the stream goes around every FFN."""
    code, doc = run_json(tmp_path, monkeypatch, PRE_LN_GPT, "TinyGPT")
    model = doc["targets"][0]
    assert len(model["chains"]) == 6 and findings(doc) == [] and code == 0
    assert all(c["verdict"] == "protected" and c["end"] == "residual" for c in model["chains"])


# ---------------------------------------------------------------- physicsnemo-style skip connections


def test_swapped_variable_skips(tmp_path, monkeypatch) -> None:
    """``x, x_skip = x + x_skip, x`` every two layers: only the first layer (before the first skip) and
    the last (after the last add) are on every path."""
    code, doc = run_json(tmp_path, monkeypatch, SKIP_FC, "FullyConnected")
    model = doc["targets"][0]
    modules = [[layer["module"] for layer in c["layers"]] for c in model["chains"]]
    assert modules[0] == ["layers.0.linear"] and modules[-1] == ["layers.9.linear", "final_layer"]
    assert all(c["verdict"] == "protected" for c in model["chains"][1:-1])
    (finding,) = findings(doc)
    assert code == 1 and finding["details"]["chains"] == [0, len(modules) - 1]
    assert finding["details"]["probability"] == pytest.approx(thm8(6, 6), rel=1e-12)  # 3.1 %
    assert hooks_kill_sets(build(SKIP_FC, "FullyConnected"), (16, 2)) == [(0, len(modules) - 1)]


def test_swapped_variable_skips_numerically() -> None:
    for inner in (1, 2, 4, 6, 8):
        net = build(SKIP_FC, "FullyConnected")
        silence(net.layers[inner].linear)
        assert output_spread(net, 2) > 1e-4, inner
    for outer in (0, 9):
        net = build(SKIP_FC, "FullyConnected")
        silence(net.layers[outer].linear)
        assert output_spread(net, 2) < 1e-6, outer


def test_without_skips_it_is_one_chain(tmp_path, monkeypatch) -> None:
    source = SKIP_FC.replace("skip_connections=True", "skip_connections=False")
    code, doc = run_json(tmp_path, monkeypatch, source, "FullyConnected")
    (finding,) = findings(doc)
    assert finding["details"]["probability"] == pytest.approx(thm8(*[6] * 10), rel=1e-12)


# ------------------------------------------------------------------------------ NeRF concat skip


def test_nerf_concat_skip(tmp_path, monkeypatch) -> None:
    """The input concatenated back after layer 4: layers 0–4 are bypassed, layers 5–7 are on every path."""
    code, doc = run_json(tmp_path, monkeypatch, NERF, "NeRF")
    first, second = doc["targets"][0]["chains"]
    assert first["end"] == "concat" and first["verdict"] == "protected" and first["depth"] == 5
    (finding,) = findings(doc)
    assert code == 1 and finding["chain"] == 1 and finding["details"]["chains"] == [1]
    assert finding["details"]["probability"] == pytest.approx(thm8(8, 8, 8), rel=1e-12)  # 1.2 %
    net = build(NERF, "NeRF")
    silence(net.pts_linears[2])
    assert output_spread(net, 3) > 1e-4
    silence(net.pts_linears[6])
    assert output_spread(net, 3) < 1e-6


# ------------------------------------------------------------------- Identity / dropout pre-branch


@pytest.mark.parametrize("bias", [True, False])
def test_identity_and_dropout_before_the_branch(tmp_path, monkeypatch, bias: bool) -> None:
    """``shortcut(x) + fc2(relu(fc1(pre(x))))`` with Identity shortcuts and an Identity or Dropout as
    ``pre``: ten width-3 branches (12.5 % each alone), none on every path — also with a bias-free ``fc2``,
    which passes a dead ReLU's zeros on to the add, where ``x + 0`` is still ``x``."""
    source = (
        IDENTITY_SHORTCUT
        if bias
        else IDENTITY_SHORTCUT.replace("Linear(hidden, width)", "Linear(hidden, width, bias=False)")
    )
    code, doc = run_json(tmp_path, monkeypatch, source, "ResMLP")
    chains = doc["targets"][0]["chains"]
    assert len(chains) == 10 and findings(doc) == [] and code == 0
    assert all(c["end"] == "residual" and c["verdict"] == "protected" for c in chains)
    assert hooks_kill_sets(build(IDENTITY_SHORTCUT, "ResMLP"), (16, 2)) == []
