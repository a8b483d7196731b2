"""Where the probe's parameters come from: batched draws per block of samples, each block on its own
generator seeded from ``(seed, stream, block index)``, or the model's own construction run once per sample
(the rebuild path, for custom inits)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from relulint.errors import LoadError
from relulint.probe.laws import DrawCounter, draw, draw_layer
from relulint.probe.plan import ENTRYWISE, LayerPlan, Plan
from relulint.probe.tally import Run
from relulint.records.loaded import LoadedModel
from relulint.records.model_facts import Chain
from relulint.sandbox import seeded_global_rng


def block_generator(device: torch.device, seed: int, stream: int, block: int) -> torch.Generator:
    """The generator of one block of samples: seeded from ``(seed, stream, block index)`` only."""
    state = np.random.SeedSequence([seed & (2**64 - 1), stream, block]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed((int(state[0]) << 31) ^ int(state[1]))
    return gen


class Draws:
    """The random numbers of one chunk, drawn block by block.

    Each block of samples draws from its own generator (`block_generator`), for the rows of that block still
    present, in the same calls whatever else the chunk holds: the results depend on the seed, the device
    and the block size, never on how many blocks a chunk holds (``max_memory``).
    """

    def __init__(self, gens: Sequence[torch.Generator], dtype: torch.dtype, drawn: DrawCounter) -> None:
        self.gens = list(gens)
        self.dtype = dtype
        self.drawn = drawn
        self.device = self.gens[0].device

    def _blocks(self, present: Sequence[int]) -> list[tuple[torch.Generator, int]]:
        pairs = list(zip(self.gens, present, strict=True))
        return pairs if len(pairs) == 1 else [(g, k) for g, k in pairs if k > 0]

    def normal(
        self, lead: tuple[int, ...], present: Sequence[int], out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Standard normals ``(*lead, rows)``: one call per block, samples along the last dimension.

        ``out``: a flat buffer whose first elements receive them, instead of a new tensor.
        """
        shape = (*lead, sum(present))
        if out is not None:
            out = out[: math.prod(shape)].view(shape)
        blocks = self._blocks(present)
        for _, k in blocks:
            self.drawn.add("normal", math.prod(lead) * k)
        if len(blocks) == 1:
            target = out if out is not None else torch.empty(shape, device=self.device, dtype=self.dtype)
            return target.normal_(generator=blocks[0][0])
        parts = [
            torch.empty((*lead, k), device=self.device, dtype=self.dtype).normal_(generator=gen)
            for gen, k in blocks
        ]
        return torch.cat(parts, dim=-1, out=out) if out is not None else torch.cat(parts, dim=-1)

    def layer(self, layer: LayerPlan, present: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One layer's ``(W (rows, out, in), b (rows, out) | None)`` for the rows present, block by block."""
        assert layer.weight is not None
        bias = None if layer.zero_bias else layer.bias
        ws, bs = [], []
        for gen, k in self._blocks(present):
            w, b = draw_layer(
                layer.weight,
                bias,
                k,
                layer.out_features,
                layer.in_features,
                gen,
                dtype=self.dtype,
                counter=self.drawn,
            )
            ws.append(w)
            bs.append(b)
        if len(ws) == 1:
            return ws[0], bs[0]
        return torch.cat(ws), (None if bs[0] is None else torch.cat([b for b in bs if b is not None]))

    def layer_samples_last(
        self, layer: LayerPlan, present: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W (out, in, rows), b (out, rows) | None)`` for an entrywise law (iid entries, so any layout is the
        same law): samples last, as the pair engine holds its states."""
        assert layer.weight is not None and layer.weight.kind in ENTRYWISE
        bias = layer.bias
        if bias is not None and bias.is_zero:
            bias = None
        shape = (layer.out_features, layer.in_features)
        ws, bs = [], []
        for gen, k in self._blocks(present):
            ws.append(draw(layer.weight, (*shape, k), gen, dtype=self.dtype, counter=self.drawn))
            if bias is not None:
                bs.append(draw(bias, (layer.out_features, k), gen, dtype=self.dtype, counter=self.drawn))
        w = ws[0] if len(ws) == 1 else torch.cat(ws, dim=-1)
        b = None if not bs else (bs[0] if len(bs) == 1 else torch.cat(bs, dim=-1))
        return w, b


WeightSource = Callable[[int, "Run"], tuple[torch.Tensor, torch.Tensor | None]]


def batched_source(plan: Plan, draws: Draws) -> WeightSource:
    layers = (*plan.hidden, *((plan.output,) if plan.output is not None else ()))

    def source(index: int, run: Run) -> tuple[torch.Tensor, torch.Tensor | None]:
        return draws.layer(layers[index], run.present)

    return source


def preloaded_source(tensors: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> WeightSource:
    def source(index: int, run: Run) -> tuple[torch.Tensor, torch.Tensor | None]:
        w, b = tensors[index]
        if run.rows == run.n:
            return w, b
        return w.index_select(0, run.ids), (b.index_select(0, run.ids) if b is not None else None)

    return source


def rebuild_weights(
    loaded: LoadedModel,
    chain: Chain,
    seeds: Sequence[int],
    device: torch.device,
    dtype: torch.dtype,
    tick: Callable[[], bool],
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Build the model once per seed and stack the chain's Linear parameters: ``[(W (n,out,in), b | None)]``.

    ``tick()`` runs after each build; when it returns False no further model is built (the time limit):
    the tensors then hold the ``n`` samples built so far (``n >= 1``). Parameters of any dtype (bf16, fp16)
    are read as float32 (exact) and cast to ``dtype``, the probe's.
    """
    weights: list[list[torch.Tensor]] = [[] for _ in chain.layers]
    biases: list[list[torch.Tensor]] = [[] for _ in chain.layers]
    for s in seeds:
        with seeded_global_rng(int(s)), torch.no_grad():
            try:
                model = loaded.rebuild()
            except Exception as error:  # the user's constructor
                raise LoadError(f"rebuilding {loaded.name} for the probe failed: {error}") from None
        modules = dict(model.named_modules())
        for index, layer in enumerate(chain.layers):
            module = modules.get(layer.module)
            w = getattr(module, "weight", None)
            if not isinstance(w, torch.Tensor) or tuple(w.shape) != (layer.out_features, layer.in_features):
                raise LoadError(
                    f"probe: the rebuilt {loaded.name} has no Linear {layer.module!r} of shape"
                    f" ({layer.out_features}, {layer.in_features})",
                    hint="the model must build the same layers each time",
                )
            weights[index].append(w.detach().to(torch.float32))
            b = getattr(module, "bias", None)
            if layer.bias and isinstance(b, torch.Tensor):
                biases[index].append(b.detach().to(torch.float32))
        if not tick():
            break
    out = []
    for index in range(len(chain.layers)):
        w = torch.stack(weights[index]).to(device=device, dtype=dtype)
        b = torch.stack(biases[index]).to(device=device, dtype=dtype) if biases[index] else None
        out.append((w, b))
    return out
