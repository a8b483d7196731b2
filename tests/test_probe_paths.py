"""The probe's two sampling paths (batched laws vs re-running the model's own init) and the global RNGs."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import torch
from probe_helpers import MLP, loaded_model, make_chain
from torch import nn

from relulint.probe import probe_chain
from relulint.records.model_facts import InitInfo


def se2(p1: float, n1: int, p2: float, n2: int) -> float:
    p = (p1 * n1 + p2 * n2) / (n1 + n2)
    return math.sqrt(max(p * (1.0 - p), 1.0 / (n1 + n2)) * (1.0 / n1 + 1.0 / n2))


def test_batched_and_reinstantiate_agree_on_pytorch_default_with_biases() -> None:
    loaded = loaded_model(lambda: MLP(1, (2, 2, 2, 2), 1, bias=True))
    chain = make_chain(1, [2] * 4, law="default", bias=True)
    n1, n2 = 20_000, 2_000
    batched = probe_chain(loaded, chain, samples=n1, seed=1)
    slow = probe_chain(loaded, chain, samples=n2, seed=1, path="reinstantiate")
    assert batched.method == "batched" and slow.method == "reinstantiate"
    assert 0.2 < batched.estimate < 0.8
    assert abs(batched.estimate - slow.estimate) <= 4 * se2(batched.estimate, n1, slow.estimate, n2)
    assert abs(batched.near_constant / n1 - slow.near_constant / n2) <= 4 * se2(0.05, n1, 0.05, n2) + 0.01


class CustomInit(nn.Module):
    """Weights from user code that uses the global RNGs (torch, numpy and random)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.ModuleList([nn.Linear(1, 3, bias=False), nn.Linear(3, 3, bias=False), nn.Linear(3, 1)])
        for layer in self.body:
            scale = 1.0 + random.random() + float(np.random.rand())
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape) * scale)


def _custom_chain():  # type: ignore[no-untyped-def]
    chain = make_chain(1, [3, 3], law="custom")
    layers = tuple(dataclasses.replace(layer, bias=False, bias_init=None) for layer in chain.layers[:-1])
    out = dataclasses.replace(chain.layers[-1], bias=True, bias_init=InitInfo("unknown", None))
    return dataclasses.replace(chain, layers=(*layers, out))


def test_custom_init_reinstantiates_and_leaves_global_rng_untouched() -> None:
    loaded = loaded_model(CustomInit)
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    before = (torch.get_rng_state().clone(), np.random.get_state(), random.getstate())
    result = probe_chain(loaded, _custom_chain(), samples=300, seed=0)
    batched = probe_chain(None, make_chain(2, [3] * 3, law="default", bias=True), samples=300, seed=0)
    after = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    assert result.method.startswith("reinstantiate") and "exact-2-point" in result.method
    assert batched.method == "batched"
    assert torch.equal(before[0], after[0])
    assert (
        before[1][0] == after[1][0]
        and np.array_equal(before[1][1], after[1][1])
        and before[1][2:] == after[1][2:]
    )
    assert before[2] == after[2]
    # two hidden ReLU layers, d_in = 1, symmetric (Gaussian) rows: P(dead) = 1/8 · ... ≈ `collapse` Prop 10
    assert 0.0 < result.estimate < 0.3
    again = probe_chain(loaded, _custom_chain(), samples=300, seed=0)
    assert again.born_dead == result.born_dead  # deterministic: the per-sample seeds come from --seed


def test_unknown_init_without_rebuild_assumes_default_with_note() -> None:
    chain = make_chain(2, [3] * 3, law="custom", bias=True)
    result = probe_chain(None, chain, samples=200, seed=0)
    assert result.method == "batched"
    assert any("assumed PyTorch's default" in note for note in result.notes)
