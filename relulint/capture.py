"""Capture: the model's forward pass as a graph of normalised `Node`s.

Methods, tried in order; every fallback says why in `Capture.reason` (reported as RL901), and a capture
that may be incomplete says why in `Capture.gaps` (reported as RL902, a warning):

0. ``torchscript`` — a `torch.jit.script` / `torch.jit.trace` model is read from its inlined TorchScript
   graph (`relulint.capture_jit`); a scripted *submodule* is one leaf call, replaced by its graph's
   nodes after the fx or hooks capture (`expand_scripts`).
1. ``fx`` (`relulint.capture_fx`) — `torch.fx` symbolic tracing with a custom tracer (bool / None
   defaults of `forward` are passed as `concrete_args`). `forward` runs on proxies only; module
   attributes it assigns (``self.calls += 1``) are restored afterwards.
2. ``hooks`` (`relulint.capture_hooks`) — when fx fails (data-dependent control flow, ``len(x)``, numpy,
   ...): run `forward` under `torch.no_grad()` on example inputs, recording leaf-module calls with forward
   hooks and functions / tensor methods with a `TorchFunctionMode`. The graph is built by tensor identity.
   The example inputs (`relulint.capture_inputs`) are built from `forward`'s signature — one tensor per
   argument, a list / dict of tensors where annotated or used so (`relulint.capture_source`), integer ids
   for embeddings — and fitted to the layers: a layer whose input does not fit raises `Mismatch` before it
   computes, and the arguments that input came from are changed (a width, a list's length, ids, an
   image's size). ``input_shape`` / ``input_dtype`` (``--input-shape x=8,1``, ``--input-dtype long``) are
   used as given. The user's model, its training flags, parameters, buffers and the global RNG state are
   left as they were (the run uses a deep copy, or a snapshot restored after when the model cannot be
   copied).
3. ``registration`` (`relulint.capture_registration`) — when the model has no `forward` or running it
   fails on every example input: the leaf modules in `named_modules()` order, chained linearly, with the
   functional ReLUs read from the source of `forward` and the methods it calls
   (`capture_source.functional_relu_leaves`).

A forward that reads Python's `random` (``range(random.randint(2, 6))``) is captured under several seeds
of `random` (the caller's state restored); when the graphs differ the deepest is kept and `Capture.notes`
says that the depth is not fixed. Lazy modules (`nn.LazyLinear`) are materialised first by one example
forward on the model itself; when no input shape is known, a `CaptureError` asks for ``--input-shape``.

Which modules are leaves is `relulint.capture_leaves`; how a call's arguments become a node's ``inputs``
and ``args`` is `relulint.capture_calls`. Node conventions (shared by the three methods, read by
`relulint.extract`):

- ``INPUT`` nodes: one per tensor argument of `forward`, ``target`` = the argument name.
- ``MODULE``: ``target`` = the qualified submodule name (``"body.0"``); leaf modules only (torch's
  own modules, every `nn.Linear`, parametrized modules and custom linear-like modules).
- ``FUNCTION`` / ``METHOD``: ``target`` = the short name (``"relu"``, ``"relu_"``, ``"clamp"``,
  ``"add"``, ``"iadd"``, ``"cat"``, ``"linear"``, ``"sin"``). Operators are named as in `operator`
  (``x + y`` → ``"add"``; hooks see it as the tensor method ``"add"``).
- ``inputs``: ids of the producing nodes, in argument order (lists such as ``cat([a, b])`` are
  flattened; duplicates kept). Values that are not tensors of the graph (shapes, sizes) are left out.
- ``args``: literal (non-tensor) arguments by name, positional ones named from a small table
  (``torch.clamp(x, 0)`` → ``{"min": 0}``, ``torch.cat(xs, 1)`` → ``{"dim": 1}``) or ``"arg<i>"``
  (``i`` counts ``self`` / the first tensor as 0). Model parameters and buffers passed as arguments
  are listed under ``args["params"]`` as ``{argument name: qualified parameter name}``, e.g.
  ``F.linear(x, self.w, self.b)`` → ``{"params": {"weight": "w", "bias": "b"}}``.
- ``location``: the innermost line of the user's file (`LoadedModel.path`) on the call stack.
- Attribute reads of parameters (fx ``get_attr``) are not nodes; non-tensor values (``x.size(0)``,
  ``x.shape``) are not nodes under fx and not recorded by hooks. ``x.T`` is the method node ``"T"``.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from relulint import capture_inputs
from relulint.capture_calls import describe_exception, short_name
from relulint.capture_fx import concrete_args_for, fx_capture
from relulint.capture_hooks import _first_leaf_plan, hooks_capture, required_arguments, restored_attributes
from relulint.capture_jit import is_script_module, script_argument_names, script_nodes
from relulint.capture_leaves import (
    GAIN_NAMES,
    WEIGHT_NAMES,
    _Locator,
    custom_linear_weight,
    effective_leaves,
    has_forward,
    is_affine_leaf,
    is_leaf_module,
)
from relulint.capture_registration import registration_capture
from relulint.capture_source import uses_python_random
from relulint.errors import CaptureError
from relulint.records.captured import Capture, Node, NodeKind
from relulint.records.loaded import LoadedModel
from relulint.sandbox import seeded_global_rng

# `capture` and the pieces of the capture methods that tests and `relulint.extract` import from here
__all__ = [
    "GAIN_NAMES",
    "WEIGHT_NAMES",
    "_Locator",
    "capture",
    "concrete_args_for",
    "custom_linear_weight",
    "describe_exception",
    "effective_leaves",
    "has_forward",
    "hooks_capture",
    "is_leaf_module",
    "registration_capture",
    "short_name",
]


# ------------------------------------------------------------------------------------- public


def capture(
    loaded: LoadedModel,
    *,
    input_shape: tuple[int, ...] | Mapping[str, tuple[int, ...]] | None = None,
    input_dtype: str | Mapping[str, str] | None = None,
) -> Capture:
    """The forward pass of `loaded.module` as a `Capture` (fx, else hooks, else registration order).

    `input_shape` is the shape of the example input of the hooks capture (batch included, e.g. ``(8, 16)``)
    for every argument of `forward`, or one shape per argument name (``{"x": (8, 1), "t": (8, 1)}``);
    `input_dtype` likewise (``"int64"`` for token ids). What is not given is inferred from the layers.
    Errors raised by the user's code are never propagated: they select the next method and end up in
    `Capture.reason` (and `Capture.gaps` when forward could not run at all). Lazy modules are
    materialised by one example forward first; when that cannot run, a `CaptureError` asks for
    ``--input-shape``.
    """
    module = loaded.module
    if not isinstance(module, nn.Module):
        raise CaptureError(
            f"{loaded.name} is a {type(module).__name__}, not a torch.nn.Module",
            hint="relulint checks nn.Module instances",
        )
    locate = _Locator(loaded.path)
    inputs = _InputRequest(input_shape, input_dtype)
    # seeded, and the global torch / numpy / random RNG states restored afterwards; the forward passes here
    # run as a symbolic trace or on relulint's own example inputs, so what they warn about (PyTorch on an
    # input relulint guessed, fx on a trace) is relulint's probing, not the user's model: not shown (and
    # PyTorch's warnings would point at relulint's hooks, the frame that called the operation)
    with seeded_global_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if capture_inputs.is_lazy(module):
            materialise_lazy(loaded, locate, inputs)
        with restored_attributes(module):
            if is_script_module(module):
                return torchscript_capture(module, locate)
            if not has_forward(module):
                reason = f"{type(module).__name__} has no forward (a container)"
                return registration_capture(module, reason, gap=_no_forward_gap(module))
            captured = _capture_forward(module, locate, inputs)
    return captured


@dataclass(frozen=True)
class _InputRequest:
    """What the user said of the example inputs (`capture`'s `input_shape` / `input_dtype`)."""

    shape: Any = None
    dtype: Any = None

    def flags(self, names: Sequence[str], module: nn.Module) -> str:
        """The flags that would let forward run: ``--input-shape x=8,1 --input-shape t=8,1``."""
        if len(names) <= 1:
            text = "--input-shape 8,16 (batch, features of the input)"
        else:
            text = " ".join(f"--input-shape {name}=8,N" for name in names) + " (one per forward argument)"
        if any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in module.modules()):
            text += ", and --input-dtype long for token ids"
        return text


def _capture_forward(module: nn.Module, locate: _Locator, inputs: _InputRequest) -> Capture:
    """fx, else hooks, else registration; traced under two seeds of `random` when forward uses it."""
    seeds = (0, 1) if uses_python_random(module) else (None,)
    captures = [_capture_once(module, locate, inputs, seed) for seed in seeds]
    if len(captures) > 1 and _signature(captures[0]) != _signature(captures[1]):
        captures += [_capture_once(module, locate, inputs, seed) for seed in range(2, 8)]
        deepest = max(captures, key=lambda c: len(c.nodes))
        sizes = sorted({len(c.nodes) for c in captures})
        note = (
            f"the depth of forward is not fixed: it draws from Python's random, and {len(captures)} traces "
            f"under different seeds gave graphs of {', '.join(map(str, sizes))} operations; the deepest is "
            "reported"
        )
        return dataclasses.replace(deepest, notes=(*deepest.notes, note))
    return captures[0]


def _signature(captured: Capture) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    return tuple((n.kind.value, n.target, n.inputs) for n in captured.nodes)


def _capture_once(module: nn.Module, locate: _Locator, inputs: _InputRequest, seed: int | None) -> Capture:
    if seed is not None:  # only `random` (and numpy's) change from trace to trace, not the example inputs
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(0)
    try:
        return expand_scripts(module, fx_capture(module, locate))
    except Exception as exc:  # noqa: BLE001 - any error of the user's forward under fx
        fx_reason = f"torch.fx could not trace forward: {describe_exception(exc)}"
    result = hooks_capture(module, locate, inputs.shape, inputs.dtype)
    if isinstance(result, Capture):
        return dataclasses.replace(expand_scripts(module, result), reason=f"{fx_reason} {result.reason}")
    names = required_arguments(module)
    tried = result.removeprefix("running forward on an example input failed ")
    gap = (
        f"forward raised on every example input tried {tried}, so the layers were read in registration "
        f"order; pass example inputs: {inputs.flags(names, module)}, or wrap the model so that forward "
        "takes tensors"
    )
    return registration_capture(module, f"{fx_reason}; {result}", gap=gap)


def _no_forward_gap(module: nn.Module) -> str | None:
    """Why a container's verdict may be incomplete; None when it holds no affine layer, or when each one
    sits in a plain `nn.Sequential` (whose forward is its registration order: nothing is guessed)."""
    affine = [name for name, m in effective_leaves(module) if is_affine_leaf(m)]
    if not affine:
        return None
    sequential = {
        name
        for name, m in module.named_modules()
        if isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward
    }
    if all(any(_within(name, outer) for outer in sequential) for name in affine):
        return None
    return (
        f"{type(module).__name__} has no forward, so the layers were read in the order they were registered "
        "(skip connections and the order of use are not seen); check the model that calls them, or give it a "
        "forward"
    )


def _within(name: str, outer: str) -> bool:
    return outer == "" or name.startswith(outer + ".")


def materialise_lazy(loaded: LoadedModel, locate: _Locator, inputs: _InputRequest) -> None:
    """Run one example forward on the model itself so that its lazy modules (`nn.LazyLinear`) get their
    shapes and initial weights; a `CaptureError` asking for ``--input-shape`` when that cannot run."""
    module = loaded.module
    names = required_arguments(module)
    first = _first_leaf_plan(module)
    given = inputs.shape is not None
    if first is None and not given:
        raise CaptureError(
            f"{loaded.name} has lazy modules (nn.LazyLinear, ...) whose sizes are only known after a forward "
            "pass, and its first layer does not say the input's shape",
            hint=inputs.flags(names, module),
        )
    result = hooks_capture(module, locate, inputs.shape, inputs.dtype, in_place=True)
    if not isinstance(result, Capture) or capture_inputs.is_lazy(module):
        why = result if isinstance(result, str) else "the lazy modules were not called"
        raise CaptureError(
            f"{loaded.name} has lazy modules (nn.LazyLinear, ...) and relulint could not materialise them with "
            f"an example forward: {why}",
            hint=inputs.flags(names, module),
        )


# ---------------------------------------------------------------------------------- TorchScript


def torchscript_capture(module: torch.jit.ScriptModule, locate: _Locator) -> Capture:
    """A `torch.jit.script` / `torch.jit.trace` model: its inlined TorchScript graph (`capture_jit`)."""
    names = script_argument_names(module)
    nodes = [Node(i, NodeKind.INPUT, name) for i, name in enumerate(names)]
    body, outputs, loops = script_nodes(module, "", list(range(len(names))), len(nodes))
    nodes.extend(body)
    nodes.append(Node(len(nodes), NodeKind.OUTPUT, "output", tuple(outputs)))
    reason = f"{type(module).__name__} is compiled TorchScript; its graph was read"
    return Capture(method="torchscript", nodes=tuple(nodes), reason=reason, gaps=_loop_gaps(loops))


def _loop_gaps(loops: int) -> tuple[str, ...]:
    if not loops:
        return ()
    return (
        f"the TorchScript graph has {loops} loop{'s' if loops > 1 else ''} whose body relulint does not read; "
        "check the Python model before scripting it (file.py:Name of the nn.Module)",
    )


def expand_scripts(module: nn.Module, captured: Capture) -> Capture:
    """Replace each call of a scripted submodule (a MODULE node) by the nodes of its TorchScript graph."""
    scripted: dict[int, torch.jit.ScriptModule] = {}
    for node in captured.nodes:
        if node.kind is NodeKind.MODULE:
            try:
                sub = module.get_submodule(node.target)
            except (AttributeError, RuntimeError):
                continue
            if is_script_module(sub):
                scripted[node.id] = sub
    if not scripted:
        return captured
    out: list[Node] = []
    remap: dict[int, int] = {}
    loops = 0
    for node in captured.nodes:
        inputs = tuple(remap[i] for i in node.inputs if i in remap)
        if node.id in scripted:
            body, outputs, skipped = script_nodes(
                scripted[node.id], f"{node.target}.", inputs, len(out), node.location
            )
            loops += skipped
            out.extend(body)
            if outputs:
                remap[node.id] = outputs[0]
            elif inputs:
                remap[node.id] = inputs[0]
            continue
        remap[node.id] = len(out)
        out.append(dataclasses.replace(node, id=len(out), inputs=inputs))
    note = f"scripted submodules read from their TorchScript graphs: {', '.join(s for s in sorted({n.target for n in captured.nodes if n.id in scripted}))}"
    return dataclasses.replace(
        captured, nodes=tuple(out), notes=(*captured.notes, note), gaps=(*captured.gaps, *_loop_gaps(loops))
    )
