"""Capture: the model's forward pass as a graph of normalised `Node`s.

Methods, tried in order; every fallback says why in `Capture.reason` (reported as RL901), and a capture
that may be incomplete says why in `Capture.gaps` (reported as RL902, a warning):

0. ``torchscript`` — a `torch.jit.script` / `torch.jit.trace` model is read from its inlined TorchScript
   graph (`relulint.capture_jit`); a scripted *submodule* is one leaf call, replaced by its graph's
   nodes after the fx or hooks capture (`expand_scripts`).
1. ``fx`` — `torch.fx` symbolic tracing with a custom tracer (bool / None defaults of `forward` are
   passed as `concrete_args`). `forward` runs on proxies only; module attributes it assigns
   (``self.calls += 1``) are restored afterwards.
2. ``hooks`` — when fx fails (data-dependent control flow, ``len(x)``, numpy, ...): run `forward` under
   `torch.no_grad()` on example inputs, recording leaf-module calls with forward hooks and functions /
   tensor methods with a `TorchFunctionMode`. The graph is built by tensor identity. The example inputs
   (`relulint.capture_inputs`) are built from `forward`'s signature — one tensor per argument, a list /
   dict of tensors where annotated or used so (`relulint.capture_source`), integer ids for embeddings —
   and fitted to the layers: a layer whose input does not fit raises `Mismatch` before it computes, and
   the arguments that input came from are changed (a width, a list's length, ids, an image's size).
   ``input_shape`` / ``input_dtype`` (``--input-shape x=8,1``, ``--input-dtype long``) are used as given.
   The user's model, its training flags, parameters, buffers and the global RNG state are left as they
   were (the run uses a deep copy, or a snapshot restored after when the model cannot be copied).
3. ``registration`` — when the model has no `forward` or running it fails on every example input: the
   leaf modules in `named_modules()` order, chained linearly, with the functional ReLUs read from the
   source of `forward` and the methods it calls (`capture_source.functional_relu_leaves`).

A forward that reads Python's `random` (``range(random.randint(2, 6))``) is captured under several seeds
of `random` (the caller's state restored); when the graphs differ the deepest is kept and `Capture.notes`
says that the depth is not fixed. Lazy modules (`nn.LazyLinear`) are materialised first by one example
forward on the model itself; when no input shape is known, a `CaptureError` asks for ``--input-shape``.

Node conventions (shared by the three methods, read by `relulint.extract`):

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

import copy
import dataclasses
import inspect
import os
import random
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

from relulint import capture_inputs
from relulint.capture_inputs import ArgPlan, Item, Mismatch
from relulint.capture_jit import is_script_module, script_argument_names, script_nodes
from relulint.capture_source import argument_hints, functional_relu_leaves, uses_python_random
from relulint.errors import CaptureError
from relulint.facts import Capture, LoadedModel, Location, Node, NodeKind
from relulint.sandbox import seeded_global_rng
from relulint.weightnorm import DIRECTION_NAMES, SCALE_NAMES

BATCH = 8  # rows of the example input of the hooks capture

# Positional parameter names of the operations whose literal arguments matter (index 0 = input / self).
POSITIONAL: dict[str, tuple[str, ...]] = {
    "clamp": ("input", "min", "max"),
    "clip": ("input", "min", "max"),
    "clamp_min": ("input", "min"),
    "cat": ("tensors", "dim"),
    "concat": ("tensors", "dim"),
    "concatenate": ("tensors", "dim"),
    "stack": ("tensors", "dim"),
    "relu": ("input", "inplace"),
    "relu6": ("input", "inplace"),
    "threshold": ("input", "threshold", "value", "inplace"),
    "hardtanh": ("input", "min_val", "max_val", "inplace"),
    "leaky_relu": ("input", "negative_slope", "inplace"),
    "elu": ("input", "alpha", "inplace"),
    "celu": ("input", "alpha", "inplace"),
    "softplus": ("input", "beta", "threshold"),
    "dropout": ("input", "p", "training", "inplace"),
    "alpha_dropout": ("input", "p", "training", "inplace"),
    "feature_alpha_dropout": ("input", "p", "training", "inplace"),
    "dropout1d": ("input", "p", "training", "inplace"),
    "dropout2d": ("input", "p", "training", "inplace"),
    "dropout3d": ("input", "p", "training", "inplace"),
    "linear": ("input", "weight", "bias"),
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    "layer_norm": ("input", "normalized_shape", "weight", "bias", "eps"),
    "group_norm": ("input", "num_groups", "weight", "bias", "eps"),
    "instance_norm": ("input", "running_mean", "running_var", "weight", "bias", "use_input_stats"),
    "rms_norm": ("input", "normalized_shape", "weight", "eps"),
    "flatten": ("input", "start_dim", "end_dim"),
    "softmax": ("input", "dim"),
    "log_softmax": ("input", "dim"),
    "add": ("input", "other"),
    "sub": ("input", "other"),
    "mul": ("input", "other"),
    "div": ("input", "other"),
    "truediv": ("input", "other"),
}

# Tensor methods and attributes whose results are not tensors (fx makes nodes of them; we drop them).
NONTENSOR_METHODS = frozenset(
    {"size", "dim", "numel", "nelement", "ndimension", "item", "tolist", "element_size", "is_contiguous"}
)
NONTENSOR_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "layout"})
NONTENSOR_FUNCTIONS = frozenset({"_assert", "_assert_async", "len", "isinstance", "numel"})

# Names of the weight of a custom linear-like module, and of a weight-norm gain beside it: the lists of
# `relulint.weightnorm` (one list, so that every layer RL301 can recognise is captured as a layer).
WEIGHT_NAMES = frozenset(DIRECTION_NAMES)
GAIN_NAMES = frozenset(SCALE_NAMES)

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)

_DUNDER_RENAMES = {
    "radd": "add",
    "rsub": "sub",
    "rmul": "mul",
    "rtruediv": "truediv",
    "rdiv": "div",
    "rfloordiv": "floordiv",
    "rmatmul": "matmul",
    "rpow": "pow",
}


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
    # seeded, and the global torch / numpy / random RNG states restored afterwards
    with seeded_global_rng():
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


def is_affine_leaf(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or custom_linear_weight(module) is not None


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


def has_forward(module: nn.Module) -> bool:
    """Whether the module's class defines a `forward` (containers such as `nn.ModuleList` do not)."""
    forward = getattr(type(module), "forward", None)
    unimplemented = getattr(nn.Module, "forward", None)
    return forward is not None and forward is not unimplemented


def describe_exception(exc: BaseException) -> str:
    """``"TypeError: first line of the message"``."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def is_leaf_module(module: nn.Module) -> bool:
    """Modules that are recorded as one call, not traced into.

    torch's own modules (except the containers `nn.Sequential`, `nn.ModuleList`, ...), every `nn.Linear`
    subclass, parametrized modules (new-style weight norm) and custom linear-like modules
    (`custom_linear_weight`).
    """
    if isinstance(module, CONTAINERS):
        return False
    if is_script_module(module) or isinstance(module, _ScriptCall):
        return True  # compiled: read from its TorchScript graph (`expand_scripts`)
    if isinstance(module, nn.Linear) or parametrize.is_parametrized(module):
        return True
    qual = type(module).__module__
    if qual.startswith(("torch.nn", "torch.ao.nn")):
        return True
    return custom_linear_weight(module) is not None


def custom_linear_weight(module: nn.Module) -> tuple[str, torch.Tensor] | None:
    """The (name, weight) of a user-defined linear-like module, else None.

    Linear-like: a module of the user's own (not torch's) with no submodules, exactly one 2-D parameter
    named like a weight (``weight``, ``weight_v``, ``w``, ``v``, ...; not a gain), and otherwise only
    biases, weight-norm gains (``g``, ``weight_g``, ``scale``, ...) and parameters of at most one dimension.
    """
    if type(module).__module__.startswith("torch.") or next(module.children(), None) is not None:
        return None
    params = list(module.named_parameters(recurse=False))
    weights = [(name, p) for name, p in params if p.dim() == 2 and _is_weight_name(name)]
    if len(weights) != 1:
        return None
    for name, p in params:
        if p is weights[0][1] or p.dim() <= 1:
            continue
        if p.dim() > 2 or not (name in GAIN_NAMES or "bias" in name.lower()):
            return None
    return weights[0]


def _is_weight_name(name: str) -> bool:
    return name not in GAIN_NAMES and ("weight" in name.lower() or name in WEIGHT_NAMES)


# ------------------------------------------------------------------------------------- helpers


class _Locator:
    """Finds the innermost frame of the user's file on the current stack."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.real = os.path.realpath(path) if path else ""
        self._cache: dict[str, bool] = {}

    def matches(self, filename: str) -> bool:
        hit = self._cache.get(filename)
        if hit is None:
            hit = bool(self.real) and os.path.realpath(filename) == self.real
            self._cache[filename] = hit
        return hit

    def here(self, depth: int = 1) -> Location | None:
        frame: types.FrameType | None = sys._getframe(depth)
        while frame is not None:
            if self.matches(frame.f_code.co_filename):
                return Location(self.path, frame.f_lineno)
            frame = frame.f_back
        return None


_NOT_LITERAL = object()


def literal(value: Any) -> Any:
    """`value` as plain data when it is a literal (number, bool, str, None, dtype, tuples of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, (tuple, list, torch.Size)):
        items = [literal(v) for v in value]
        return _NOT_LITERAL if any(v is _NOT_LITERAL for v in items) else tuple(items)
    return _NOT_LITERAL


@dataclass
class _Args:
    """Producers, literal arguments and parameter references of one call."""

    inputs: list[int] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def mapping(self) -> dict[str, Any]:
        out = dict(self.args)
        if self.params:
            out["params"] = dict(self.params)
        return out


# resolve(value) → ("input", node id) | ("param", qualified name) | ("skip", None) | None (not a reference)
Resolver = Callable[[Any], "tuple[str, Any] | None"]


def split_args(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], resolve: Resolver) -> _Args:
    """Sort a call's arguments into graph inputs, literal args and parameter references."""
    out = _Args()
    names = POSITIONAL.get(name.rstrip("_"), ())
    for index, value in enumerate(args):
        key = names[index] if index < len(names) else f"arg{index}"
        _take(out, key, value, resolve)
    for key, value in kwargs.items():
        _take(out, key, value, resolve)
    return out


def _take(out: _Args, key: str, value: Any, resolve: Resolver) -> None:
    refs = _references(value, resolve)
    if refs and all(kind == "literal" for kind, _ in refs) and len(refs) == 1:
        out.args[key] = refs[0][1]  # a scalar tensor constant (fx: `torch.tensor(0.0)` in forward)
        return
    refs = [ref for ref in refs if ref[0] != "literal"]
    if refs:
        params = [ref for kind, ref in refs if kind == "param"]
        out.inputs.extend(ref for kind, ref in refs if kind == "input")
        if len(params) == 1:
            out.params[key] = params[0]
        else:
            out.params.update({f"{key}.{i}": p for i, p in enumerate(params)})
        return
    value = literal(value)
    if value is not _NOT_LITERAL:
        out.args[key] = value


def _references(value: Any, resolve: Resolver) -> list[tuple[str, Any]]:
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _references(item, resolve)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item, resolve)]
    ref = resolve(value)
    if ref is None:
        return []
    return [ref] if ref[0] != "skip" else [("skip", None)]


def short_name(func: Any) -> str:
    """`torch.relu` → ``"relu"``; operator functions keep their `operator` names (``"iadd"``)."""
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # tensor attribute (`x.T`)
        owner = getattr(func, "__self__", None)
        return getattr(owner, "__name__", name)
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        bare = name[2:-2]
        return _DUNDER_RENAMES.get(bare, bare)
    if name.startswith("_") and getattr(torch.nn.functional, name[1:], None) is func:
        return name[1:]  # `F.threshold` is named `_threshold`
    return name


# ------------------------------------------------------------------------------------------- fx


class _Tracer(torch.fx.Tracer):
    """fx tracer with relulint's leaf modules that remembers where in the user's file each node is."""

    def __init__(self, locate: _Locator) -> None:
        super().__init__()
        self.locate = locate

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf_module(m)

    def create_node(self, *args: Any, **kwargs: Any) -> torch.fx.Node:
        node = super().create_node(*args, **kwargs)
        node.meta["relulint_location"] = self.locate.here(2)
        return node


def concrete_args_for(module: nn.Module) -> dict[str, Any]:
    """`forward` parameters whose default is a bool or None, with that default."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is None or isinstance(p.default, bool)
    }


def fx_capture(module: nn.Module, locate: _Locator) -> Capture:
    """Trace `module.forward` with torch.fx; raises whatever the user's forward raises under tracing."""
    concrete = concrete_args_for(module)
    graph = _Tracer(locate).trace(module, concrete_args=concrete or None)
    return Capture(method="fx", nodes=tuple(_FxConverter(concrete, _scalar_constants(module)).convert(graph)))


def _scalar_constants(module: nn.Module) -> dict[str, float]:
    """fx stores a tensor made in forward (``torch.tensor(0.0)``) as an attribute ``_tensor_constant<i>``
    of the traced module (removed again by `restored_attributes`): the one-element ones, by name."""
    out = {}
    for name, value in vars(module).items():
        if name.startswith("_tensor_constant") and isinstance(value, torch.Tensor) and value.numel() == 1:
            out[name] = value.item()
    return out


def _argument_name(target: str) -> str:
    """fx names the placeholder of a concrete argument ``use_relu_1``; its argument is ``use_relu``."""
    return re.sub(r"_\d+$", "", target.lstrip("*"))


class _FxConverter:
    """fx graph → `Node`s (drops concrete placeholders, attribute reads and non-tensor values)."""

    def __init__(self, concrete: Mapping[str, Any], constants: Mapping[str, float] | None = None) -> None:
        self.concrete = set(concrete)
        self.constants = dict(constants or {})
        self.ids: dict[torch.fx.Node, int] = {}
        self.attrs: dict[torch.fx.Node, str] = {}
        self.dropped: set[torch.fx.Node] = set()
        self.nodes: list[Node] = []

    def convert(self, graph: torch.fx.Graph) -> list[Node]:
        for fx_node in graph.nodes:
            self._convert(fx_node)
        return self.nodes

    def _resolve(self, value: Any) -> tuple[str, Any] | None:
        if not isinstance(value, torch.fx.Node):
            return None
        if value in self.attrs:
            name = self.attrs[value]
            return ("literal", self.constants[name]) if name in self.constants else ("param", name)
        if value in self.ids:
            return ("input", self.ids[value])
        return ("skip", None)

    def _convert(self, fx_node: torch.fx.Node) -> None:
        op = fx_node.op
        if op == "get_attr":
            self.attrs[fx_node] = str(fx_node.target)
            return
        if op == "placeholder":
            if _argument_name(str(fx_node.target)) in self.concrete:
                self.dropped.add(fx_node)
                return
            self._add(fx_node, NodeKind.INPUT, str(fx_node.target).lstrip("*"), _Args())
            return
        if self._is_dropped(fx_node):
            self.dropped.add(fx_node)
            return
        if op == "output":
            self._add(
                fx_node, NodeKind.OUTPUT, "output", split_args("output", fx_node.args, {}, self._resolve)
            )
            return
        if op == "call_module":
            kind, target = NodeKind.MODULE, str(fx_node.target)
        elif op == "call_method":
            kind, target = NodeKind.METHOD, str(fx_node.target)
        elif fx_node.target is getattr and len(fx_node.args) == 2 and isinstance(fx_node.args[1], str):
            # `x.T` is `getattr(x, "T")` under fx; the hooks capture sees the tensor attribute "T"
            kind, target = NodeKind.METHOD, fx_node.args[1]
            self._add(fx_node, kind, target, split_args(target, fx_node.args[:1], {}, self._resolve))
            return
        else:
            kind, target = NodeKind.FUNCTION, short_name(fx_node.target)
        self._add(fx_node, kind, target, split_args(target, fx_node.args, fx_node.kwargs, self._resolve))

    def _is_dropped(self, fx_node: torch.fx.Node) -> bool:
        """Nodes of concrete arguments (fx's specialisation asserts) and of non-tensor values."""
        sources = [n for n in fx_node.all_input_nodes if n not in self.attrs]
        from_dropped = bool(sources) and all(n in self.dropped for n in sources)
        if fx_node.op == "call_method":
            return fx_node.target in NONTENSOR_METHODS or from_dropped
        if fx_node.op != "call_function":
            return False
        name = short_name(fx_node.target)
        if name in NONTENSOR_FUNCTIONS or name.startswith("_assert"):
            return True
        if name == "getattr":
            return (len(fx_node.args) > 1 and fx_node.args[1] in NONTENSOR_ATTRS) or from_dropped
        makes_tensors = getattr(fx_node.target, "__module__", None) or ""
        return from_dropped and not makes_tensors.startswith("torch")

    def _add(self, fx_node: torch.fx.Node, kind: NodeKind, target: str, parts: _Args) -> None:
        node_id = len(self.nodes)
        self.ids[fx_node] = node_id
        location = fx_node.meta.get("relulint_location")
        self.nodes.append(Node(node_id, kind, target, tuple(parts.inputs), parts.mapping(), location))


# ---------------------------------------------------------------------------------------- hooks


def effective_leaves(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaf modules (`is_leaf_module`) not inside another leaf, in registration order.

    The root itself is never a leaf: like fx, the hooks capture records what its `forward` does.
    """
    out: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def visit(prefix: str, parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if child is None or id(child) in seen:
                continue
            seen.add(id(child))
            qualname = f"{prefix}{name}"
            if is_leaf_module(child):
                out.append((qualname, child))
            else:
                visit(f"{qualname}.", child)

    visit("", module)
    return out


class _Recorder:
    """Builds `Node`s from a real forward run, linking them by the identity of the tensors."""

    def __init__(self, module: nn.Module, locate: _Locator) -> None:
        self.locate = locate
        self.names: dict[int, str] = {}  # id(tensor) → its first qualified name
        for name, tensor in module.named_parameters(remove_duplicate=False):
            self.names.setdefault(id(tensor), name)
        for name, buffer in module.named_buffers(remove_duplicate=False):
            self.names.setdefault(id(buffer), name)
        self.reset()

    def reset(self) -> None:
        self.nodes: list[Node] = []
        self.producer: dict[int, int] = {}
        self.alive: list[Any] = []  # keeps recorded tensors alive so that their ids stay unique
        self.depth = 0
        # INPUT node id → (argument index, item index, tensor)
        self.arguments: dict[int, tuple[int, int, torch.Tensor]] = {}
        self.fitting = True  # layers check their inputs and raise `Mismatch` (`capture_inputs`)
        self.barriers: set[int] = set()  # nodes of layers that fix their output's width

    def is_param(self, value: Any) -> bool:
        return isinstance(value, torch.Tensor) and id(value) in self.names and id(value) not in self.producer

    def sources(self, tensor: torch.Tensor | None) -> list[tuple[int, int, torch.Tensor]]:
        """The (argument index, item index, example tensor) triples `tensor` was computed from."""
        start = self.producer.get(id(tensor)) if tensor is not None else None
        if start is None:
            return []
        out, frontier, seen = [], [start], {start}
        while frontier:
            node_id = frontier.pop()
            if node_id in self.arguments:
                out.append(self.arguments[node_id])
            if node_id in self.barriers:
                continue
            for source in self.nodes[node_id].inputs:
                if source not in seen:
                    seen.add(source)
                    frontier.append(source)
        return sorted(out, key=lambda triple: (triple[0], triple[1]))

    def resolve(self, value: Any) -> tuple[str, Any] | None:
        if not isinstance(value, torch.Tensor):
            return None
        key = id(value)
        if key in self.producer:
            return ("input", self.producer[key])
        if key in self.names:
            return ("param", self.names[key])
        return ("skip", None)

    def add(self, kind: NodeKind, target: str, parts: _Args, outputs: Any, location: Location | None) -> int:
        node_id = len(self.nodes)
        self.nodes.append(Node(node_id, kind, target, tuple(parts.inputs), parts.mapping(), location))
        for tensor in _tensors(outputs):
            self.producer[id(tensor)] = node_id
            self.alive.append(tensor)
        return node_id

    def record_call(self, func: Any, args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> None:
        if not _tensors(out):
            return
        name = short_name(func)
        qualname = getattr(func, "__qualname__", "") or ""
        is_method = qualname.startswith(("TensorBase.", "Tensor.", "_TensorBase.", "getset_descriptor."))
        kind = NodeKind.METHOD if is_method else NodeKind.FUNCTION
        parts = split_args(name, args, kwargs, self.resolve)
        node_id = self.add(kind, name, parts, out, self.locate.here(3))
        if name in ("linear", "embedding", "embedding_bag"):
            self.barriers.add(node_id)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


class _FunctionRecorder(TorchFunctionMode):
    """Records torch functions and tensor methods called outside leaf modules."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        try:
            out = func(*args, **kwargs)
        except Exception as exc:
            if self.recorder.depth == 0 and self.recorder.fitting:
                name = getattr(func, "__name__", "")
                mismatch = capture_inputs.check_function_input(name, args, kwargs, self.recorder.is_param)
                if mismatch is not None:
                    mismatch.where = f"{name}()"
                    raise mismatch from exc
            raise
        if self.recorder.depth == 0:
            self.recorder.record_call(func, args, kwargs, out)
        return out


def _install_hooks(module: nn.Module, recorder: _Recorder) -> list[Any]:
    handles = []
    for qualname, leaf in effective_leaves(module):
        handles.append(leaf.register_forward_pre_hook(_pre_hook(recorder), prepend=True))
        handles.append(leaf.register_forward_pre_hook(_check_hook(recorder, qualname), prepend=True))
        handles.append(
            leaf.register_forward_hook(_post_hook(recorder, qualname), with_kwargs=True, always_call=True)
        )
    return handles


def _fixes_width(module: nn.Module) -> bool:
    """A layer whose output width does not depend on its input's (the fitting does not look past it)."""
    return isinstance(module, (nn.Linear, nn.Embedding, nn.EmbeddingBag, _ScriptCall)) or (
        custom_linear_weight(module) is not None
    )


def _check_hook(recorder: _Recorder, qualname: str) -> Callable[..., None]:
    """Before a layer runs: does its input fit? (`capture_inputs.check_layer_input`)"""

    def hook(module: nn.Module, args: Any) -> None:
        if recorder.depth != 0 or not recorder.fitting:
            return
        mismatch = capture_inputs.check_layer_input(module, args)
        if mismatch is not None:
            mismatch.where = qualname
            raise mismatch

    return hook


def _pre_hook(recorder: _Recorder) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any) -> None:
        recorder.depth += 1

    return hook


def _post_hook(recorder: _Recorder, qualname: str) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        recorder.depth -= 1
        if recorder.depth == 0 and output is not None:
            parts = split_args("", args, kwargs or {}, recorder.resolve)
            node_id = recorder.add(NodeKind.MODULE, qualname, parts, output, recorder.locate.here(2))
            if _fixes_width(module):
                recorder.barriers.add(node_id)

    return hook


def required_arguments(module: nn.Module) -> list[str]:
    """Names of the positional arguments of `forward` without a default (``*args`` counts as one)."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return ["input"]
    names = []
    for name, p in signature.parameters.items():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            names.append(name)
    if not names and any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values()):
        names.append("input")
    return names


def required_keywords(module: nn.Module) -> list[str]:
    """Names of the keyword-only arguments of `forward` without a default (``forward(self, x, *, t)``)."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    return [n for n, p in signature.parameters.items() if p.kind == p.KEYWORD_ONLY and p.default is p.empty]


def _other_leaf_plans(module: nn.Module) -> list[Item]:
    """What the first conv and the first embedding imply, when another kind of layer is registered first."""
    out: dict[str, Item] = {}
    for _, leaf in effective_leaves(module):
        kind = type(leaf).__name__
        if kind in out or not isinstance(
            leaf, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding, nn.EmbeddingBag)
        ):
            continue
        item = capture_inputs.first_layer_item(leaf)
        if item is not None:
            out[kind] = item
    first = _first_leaf_plan(module)
    return [item for item in out.values() if item != first]


def _first_leaf_plan(module: nn.Module) -> Item | None:
    """What the first layer (in registration order) implies for the input."""
    for _, leaf in effective_leaves(module):
        item = capture_inputs.first_layer_item(leaf)
        if item is not None:
            return item
        if isinstance(leaf, nn.modules.lazy.LazyModuleMixin):
            return None
    return None


# the lazy modules' placeholders: the subclasses of `nn.parameter.UninitializedTensorMixin` (which torch's
# type stubs do not declare)
UNINITIALIZED = (nn.parameter.UninitializedParameter, nn.parameter.UninitializedBuffer)


def _functional_width(module: nn.Module) -> int | None:
    """No layer module: a functional model, weights stored as (out, in) like F.linear."""
    matrices = (p for p in module.parameters() if not isinstance(p, UNINITIALIZED) and p.dim() == 2)
    matrix = next(matrices, None)
    return int(matrix.shape[1]) if matrix is not None else None


def _example_dtype(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point() and not isinstance(tensor, UNINITIALIZED):
            return tensor.dtype, tensor.device
    return torch.get_default_dtype(), torch.device("cpu")


MAX_RUNS = 12  # forward runs of the hooks capture, fitting included


def hooks_capture(
    module: nn.Module,
    locate: _Locator,
    input_shape: Any = None,
    input_dtype: Any = None,
    *,
    in_place: bool = False,
) -> Capture | str:
    """Run `forward` on example inputs and record it; a string says why this failed on every input.

    The example inputs start from `capture_inputs.first_plans` and are fitted to the layers
    (`capture_inputs.fit`). `in_place` runs the model itself (to materialise lazy modules); otherwise
    a deep copy, or the model restored after.
    """
    positional = required_arguments(module)
    names = positional + required_keywords(module)
    hints = argument_hints(module)
    plans = capture_inputs.first_plans(
        names,
        hints,
        _first_leaf_plan(module),
        input_shape,
        input_dtype,
        _functional_width(module),
        _other_leaf_plans(module),
    )
    scratch = None if in_place else _copy_or_none(module)
    if scratch is None and not in_place and capture_inputs.is_lazy(module):
        return "forward was not run: the model has uninitialised lazy modules and cannot be copied"
    with _scratch_model(module, scratch, in_place) as model, _script_wrappers(model):
        dtype, device = _example_dtype(model)
        recorder = _Recorder(model, locate)
        handles = _install_hooks(model, recorder)
        failures: dict[str, list[str]] = {}  # the user's error → the inputs it was raised on
        tried: set[tuple[ArgPlan, ...]] = set()
        try:
            runs = 0
            while plans and runs < MAX_RUNS:
                plan = plans.pop(0)
                if plan in tried:
                    continue
                tried.add(plan)
                runs += 1
                outcome = _run_once(model, recorder, plan, dtype, device, len(positional))
                if isinstance(outcome, Capture):
                    return outcome
                if isinstance(outcome, Mismatch):
                    fitted = capture_inputs.fit(plan, outcome, recorder.sources(outcome.tensor))
                    if fitted is not None and fitted not in tried:
                        plans.insert(0, fitted)
                        continue
                    # run it unchecked: the user's own error, as their code raises it
                    rerun = _run_once(model, recorder, plan, dtype, device, len(positional), fitting=False)
                    if isinstance(rerun, Capture):
                        return rerun
                    outcome = rerun if isinstance(rerun, str) else _unfitted(outcome)
                failures.setdefault(str(outcome), []).append(capture_inputs.describe(plan))
                lists = capture_inputs.as_lists(plan, str(outcome))  # a tensor where a list was expected
                if lists is not None and lists not in tried:
                    plans.insert(0, lists)
        finally:
            for handle in handles:
                handle.remove()
    if not failures:
        return "running forward on an example input failed (no example input to try)"
    tried_text = "; ".join(f"{', '.join(inputs)}: {error}" for error, inputs in failures.items())
    return f"running forward on an example input failed ({tried_text})"


def _unfitted(mismatch: Mismatch) -> str:
    where = getattr(mismatch, "where", "a layer")
    if mismatch.kind == "width" and mismatch.tensor is not None:
        got = tuple(mismatch.tensor.shape)
        return f"the input of {where} has shape {got}, it takes {mismatch.want} features"
    if mismatch.kind == "channels":
        return f"the input of {where} does not have {mismatch.want} channels"
    return f"the input of {where} needs integer ids below {mismatch.want}"


def _run_once(
    model: nn.Module,
    recorder: _Recorder,
    plan: tuple[ArgPlan, ...],
    dtype: torch.dtype,
    device: torch.device,
    positional: int,
    fitting: bool = True,
) -> Capture | Mismatch | str:
    """One forward run on the plan's values (the first `positional` by position, the rest by keyword)."""
    recorder.reset()
    recorder.fitting = fitting
    values, tensors = capture_inputs.build(plan, dtype, device)
    for label, slot in tensors:
        node_id = recorder.add(NodeKind.INPUT, label, _Args(), slot[2], None)
        recorder.arguments[node_id] = slot
    try:
        with torch.no_grad(), _FunctionRecorder(recorder):
            keywords = {
                arg.name: value for arg, value in zip(plan[positional:], values[positional:], strict=True)
            }
            output = model(*values[:positional], **keywords)
    except Mismatch as mismatch:
        return mismatch
    except Exception as exc:  # noqa: BLE001 - the user's forward failed on this input
        return describe_exception(exc)
    parts = split_args("output", (output,), {}, recorder.resolve)
    recorder.add(NodeKind.OUTPUT, "output", parts, None, None)
    reason = f"(example input: {capture_inputs.describe(plan)}, {_how_drawn(plan)})"
    return Capture(method="hooks", nodes=tuple(recorder.nodes), reason=reason)


def _how_drawn(plan: tuple[ArgPlan, ...]) -> str:
    if capture_inputs.all_float(plan):
        return "torch.randn"
    return "torch.randn and torch.randint"


class _ScriptCall(nn.Module):
    """Stands in for a scripted submodule during the hooks capture (hooks cannot be set on one)."""

    def __init__(self, script: nn.Module) -> None:
        super().__init__()
        self.script = script

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.script(*args, **kwargs)


@contextmanager
def _script_wrappers(model: nn.Module) -> Iterator[None]:
    """Wrap every scripted leaf of `model` in `_ScriptCall` (same qualified name), unwrap on exit."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for qualname, leaf in effective_leaves(model):
        if is_script_module(leaf) and qualname:
            parent_name, _, child = qualname.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            wrapper = _ScriptCall(leaf)
            parent._modules[child] = wrapper
            swapped.append((parent, child, leaf))
    try:
        yield
    finally:
        for parent, child, leaf in swapped:
            parent._modules[child] = leaf


@contextmanager
def _scratch_model(
    module: nn.Module, scratch: nn.Module | None, in_place: bool = False
) -> Iterator[nn.Module]:
    """The deep copy of the model to run; without one, the model itself, restored after (or, `in_place`,
    left as the forward made it: lazy modules materialised)."""
    if scratch is not None:
        yield scratch
        return
    if in_place:
        modes = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            yield module
        finally:
            for m, training in modes:
                m.training = training
        return
    with restored_state(module):
        yield module


def _copy_or_none(module: nn.Module) -> nn.Module | None:
    try:
        return copy.deepcopy(module)
    except Exception:  # noqa: BLE001 - e.g. old-style weight_norm modules refuse deepcopy
        return None


@contextmanager
def restored_attributes(module: nn.Module) -> Iterator[None]:
    """Restore every module's attributes (shallowly) on exit.

    fx runs the user's `forward` on the model itself (with proxies), so ``self.calls += 1`` or
    ``self.last = h`` would otherwise change the user's model or leave a proxy on it.
    """
    saved = [(m, dict(m.__dict__)) for m in module.modules()]
    try:
        yield
    finally:
        for m, attributes in saved:
            m.__dict__.clear()
            m.__dict__.update(attributes)


@contextmanager
def restored_state(module: nn.Module) -> Iterator[None]:
    """Restore every module's training flag, parameters, buffers and tensor attributes on exit."""
    modules = list(module.modules())
    modes = [(m, m.training) for m in modules]
    slots = [(m, dict(m._parameters), dict(m._buffers)) for m in modules]
    attrs = [(m, {k: v for k, v in vars(m).items() if isinstance(v, torch.Tensor)}) for m in modules]
    values = [(t, t.detach().clone()) for t in _state_tensors(modules)]
    try:
        yield
    finally:
        for m, params, buffers in slots:
            m._parameters.clear()
            m._parameters.update(params)
            m._buffers.clear()
            m._buffers.update(buffers)
        for m, saved in attrs:
            m.__dict__.update(saved)
        with torch.no_grad():
            for tensor, value in values:
                if tensor.shape == value.shape:
                    tensor.copy_(value)
        for m, training in modes:
            m.training = training


def _state_tensors(modules: list[nn.Module]) -> list[torch.Tensor]:
    seen: set[int] = set()
    out = []
    for m in modules:
        for t in list(m._parameters.values()) + list(m._buffers.values()):
            if t is not None and id(t) not in seen and not isinstance(t, UNINITIALIZED):
                seen.add(id(t))
                out.append(t)
    return out


# --------------------------------------------------------------------------------- registration


def _interleave_parallel_lists(
    leaves: list[tuple[str, nn.Module]],
) -> tuple[list[tuple[str, nn.Module]], bool]:
    """``L1 … Lk A1 … Ak`` → ``L1 A1 … Lk Ak``: a run of k Linears registered right before a run of k
    activations (``self.linears = ModuleList(...)``, ``self.acts = ModuleList(...)``) is read as k layers,
    not as k − 1 bare Linears and one layer. Returns the leaves and whether anything was interleaved."""
    out: list[tuple[str, nn.Module]] = []
    changed, i = False, 0
    while i < len(leaves):
        j = i
        while j < len(leaves) and isinstance(leaves[j][1], nn.Linear):
            j += 1
        k = j - i
        acts = leaves[j : j + k]
        if k >= 2 and len(acts) == k and all(_is_activation(m) for _, m in acts):
            for pair in zip(leaves[i:j], acts, strict=True):
                out += pair
            changed, i = True, j + k
        else:
            out += leaves[i : max(j, i + 1)]
            i = max(j, i + 1)
    return out, changed


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU))


def registration_capture(module: nn.Module, reason: str, gap: str | None = None) -> Capture:
    """The leaf modules in registration order, chained linearly between one input and the output.

    A leaf whose output the source passes to a functional ReLU (`capture_source.functional_relu_leaves`)
    is followed by a ``relu`` FUNCTION node. `gap` says why the graph may be incomplete (`Capture.gaps`).
    """
    nodes = [Node(0, NodeKind.INPUT, "input")]
    leaves, interleaved = _interleave_parallel_lists(effective_leaves(module))
    if interleaved:
        reason += "; parallel lists of Linears and activations were read as alternating layers"
    try:
        relus = functional_relu_leaves(module)
    except Exception:  # noqa: BLE001 - reading the source is best effort
        relus = set()
    added, width = 0, None
    for index, (qualname, leaf) in enumerate(leaves):
        sizes = _affine_sizes(leaf)
        # a Linear that cannot take the previous one's output starts a new branch from the input
        # (DeepONet: the trunk registered after the branch)
        source = 0 if sizes is not None and width is not None and sizes[0] != width else len(nodes) - 1
        width = sizes[1] if sizes is not None else width
        nodes.append(Node(len(nodes), NodeKind.MODULE, qualname, (source,)))
        following = leaves[index + 1][1] if index + 1 < len(leaves) else None
        if qualname in relus and not (following is not None and _is_activation(following)):
            nodes.append(Node(len(nodes), NodeKind.FUNCTION, "relu", (len(nodes) - 1,)))
            added += 1
    nodes.append(Node(len(nodes), NodeKind.OUTPUT, "output", (len(nodes) - 1,)))
    if added:
        reason += f"; {added} functional ReLU{'s' if added > 1 else ''} read from the source"
    return Capture(method="registration", nodes=tuple(nodes), reason=reason, gaps=(gap,) if gap else ())


def _affine_sizes(leaf: nn.Module) -> tuple[int, int] | None:
    """(in, out) of an nn.Linear or custom linear-like layer, else None."""
    if isinstance(leaf, nn.Linear) and isinstance(getattr(leaf, "in_features", None), int):
        return leaf.in_features, leaf.out_features
    custom = custom_linear_weight(leaf)
    if custom is not None:
        return int(custom[1].shape[1]), int(custom[1].shape[0])
    return None


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
