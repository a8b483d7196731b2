"""The ``hooks`` capture: run `forward` on example inputs and record it (forward hooks on the leaf modules,
a `TorchFunctionMode` for functions and tensor methods), the graph built by tensor identity.

The example inputs come from `relulint.capture_inputs` and are fitted to the layers; the user's model,
its training flags, parameters and buffers are left as they were (a deep copy is run, or a snapshot is
restored after: `restored_state`, `restored_attributes`).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from relulint import capture_inputs
from relulint.capture_calls import _Args, describe_exception, short_name, split_args
from relulint.capture_inputs import ArgPlan, Item, Mismatch
from relulint.capture_jit import is_script_module
from relulint.capture_leaves import _Locator, _ScriptCall, custom_linear_weight, effective_leaves
from relulint.capture_source import argument_hints
from relulint.records.captured import Capture, Node, NodeKind
from relulint.records.location import Location

BATCH = 8  # rows of the example input of the hooks capture


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
