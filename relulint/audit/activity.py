"""Run the trained model over the inputs: each hidden unit's activity, and the output.

`collapse` Lemma 1: a ReLU net is constant on the inputs exactly when (with probability one) some hidden
layer is zero on every input — the layer `ChainActivity.dead_layer` names. Activity is tested for exact
zero; units whose output is non-zero but tiny are counted apart (`NEAR_ZERO`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from relulint.audit.observe import Site, attach, detach_all, first_tensor, sites
from relulint.audit.records import ChainActivity, LayerActivity
from relulint.records.model_facts import Chain

#: a unit (or the output) whose largest |value| over the inputs is at most this, times max(1, max|x|),
#: without being exactly zero, is reported as *near* zero / near constant, apart from exact zeros
NEAR_ZERO = 1e-6
BATCH = 4096  # inputs per forward pass


@dataclass
class _Tally:
    """Per unit: on how many inputs it was active, and its largest output."""

    site: Site
    inputs: int = 0
    active: torch.Tensor | None = None
    largest: torch.Tensor | None = None

    def record(self, values: torch.Tensor) -> None:
        values = values.to(torch.float64)
        count = (values > 0).sum(dim=0)
        top = values.amax(dim=0) if values.shape[0] else torch.zeros(values.shape[1], dtype=torch.float64)
        self.active = count if self.active is None else self.active + count
        self.largest = top if self.largest is None else torch.maximum(self.largest, top)
        self.inputs += values.shape[0]


@dataclass
class Observation:
    """What one pass over the inputs saw: per-site tallies and the outputs (inputs × outputs)."""

    tallies: list[_Tally] = field(default_factory=list)
    outputs: np.ndarray | None = None


def model_inputs(xs: np.ndarray, model: nn.Module, shape: tuple[int, ...] | None) -> torch.Tensor:
    """The inputs as a tensor of the model's dtype; reshaped to (n, *shape[1:]) when a shape is given."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    tensor = torch.as_tensor(xs, dtype=dtype)
    if shape is not None and len(shape) > 2:
        tensor = tensor.reshape(tensor.shape[0], *shape[1:])
    return tensor


def observe(model: nn.Module, chains: tuple[Chain, ...], inputs: torch.Tensor) -> Observation:
    """Forward every input once (eval mode, no grad, the user's RNG state restored afterwards) with a
    hook on every hidden layer's observation site."""
    result = Observation()
    handles = []
    for chain in chains:
        for site in sites(chain):
            tally = _Tally(site)
            result.tallies.append(tally)
            handles.append(attach(model, site, tally.record))
    outputs: list[np.ndarray] = []
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for start in range(0, inputs.shape[0], BATCH):
                out = first_tensor(model(inputs[start : start + BATCH]))
                if out is None:
                    continue
                outputs.append(out.detach().to(torch.float64).reshape(out.shape[0], -1).cpu().numpy())
    finally:
        detach_all(handles)
        model.train(was_training)
    result.outputs = np.concatenate(outputs) if outputs else None
    return result


def chain_activity(
    chains: tuple[Chain, ...], observation: Observation, scale: float
) -> tuple[ChainActivity, ...]:
    """Per chain, per hidden layer: dead units (exactly zero on every input), near-dead units, and the
    fraction of inputs each unit is active on."""
    by_chain: dict[int, list[LayerActivity]] = {}
    limit = NEAR_ZERO * max(1.0, scale)
    for tally in observation.tallies:
        site = tally.site
        if tally.active is None or tally.largest is None:
            note = site.note or "not observed (its module never ran on these inputs)"
            layer = LayerActivity(site.layer, site.module, site.width, (), (), (), measured=False, note=note)
        else:
            active = tally.active.numpy()
            largest = tally.largest.numpy()
            dead = tuple(int(i) for i in np.flatnonzero(active == 0))
            near = tuple(int(i) for i in np.flatnonzero((active > 0) & (largest <= limit)))
            fraction = tuple(float(a) / tally.inputs for a in active) if tally.inputs else ()
            layer = LayerActivity(site.layer, site.module, site.width, dead, near, fraction)
        by_chain.setdefault(site.chain, []).append(layer)
    return tuple(
        ChainActivity(c.index, c.shape, tuple(by_chain.get(c.index, ())), bypassed=c.bypassed) for c in chains
    )
