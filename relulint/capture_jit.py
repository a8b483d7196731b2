"""TorchScript modules (`torch.jit.script` / `torch.jit.trace`): their graph as capture `Node`s.

A scripted module is compiled: torch.fx cannot trace into it (it sees one opaque ``forward`` call) and
module hooks cannot be registered on it. Its `inlined_graph` is read instead: ``aten::linear(x, W, b)``
becomes a ``linear`` FUNCTION node whose ``args["params"]`` name the qualified parameters
(``{"weight": "enc.body.0.weight", "bias": "enc.body.0.bias"}``: a functional layer for
`relulint.extract`) and ``args["module"]`` the scripted Linear that owns them (``"enc.body.0"``), ``aten::addmm(b, x, W.t())`` the same, ``aten::relu`` a ``relu`` node, and every
other ``aten::`` operation a FUNCTION node of its name. Of an ``if`` (``prim::If``) the first branch is
read; a loop over a `ModuleList` is unrolled by TorchScript, other loops (``prim::Loop``) are counted,
not read (the capture reports them as a gap); values that are not tensors (sizes, constants) are literal
arguments or dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import torch

from relulint.records.captured import Node, NodeKind
from relulint.records.location import Location


def is_script_module(module: Any) -> TypeGuard[torch.jit.ScriptModule]:
    return isinstance(module, torch.jit.ScriptModule)


@dataclass(frozen=True)
class _Ref:
    """A TorchScript value: a node's output ("node", id), a parameter ("param", qualified name), a
    submodule or attribute path ("path", dotted), a transposed parameter ("transposed", name)."""

    kind: str
    value: Any


_POSITIONAL_ATEN = {
    "linear": ("input", "weight", "bias"),
    "addmm": ("bias", "input", "weight", "beta", "alpha"),
}


class _ScriptReader:
    def __init__(self, script: torch.jit.ScriptModule, prefix: str, first_id: int, location: Location | None):
        self.prefix = prefix
        self.params = {name for name, _ in script.named_parameters()} | {
            name for name, _ in script.named_buffers()
        }
        self.nodes: list[Node] = []
        self.first_id = first_id
        self.location = location
        self.values: dict[str, Any] = {}
        self.loops = 0  # ``prim::Loop`` bodies not read (data-dependent loops)

    def qualified(self, path: str) -> str:
        return f"{self.prefix}{path}"

    def read(self, graph: torch._C.Graph, inputs: Sequence[int]) -> list[int]:
        graph_inputs = list(graph.inputs())
        self.values[graph_inputs[0].debugName()] = _Ref("path", "")
        for value, source in zip(graph_inputs[1:], inputs, strict=False):
            self.values[value.debugName()] = _Ref("node", source)
        self.block(graph.nodes())
        out = [self.values.get(v.debugName()) for v in graph.return_node().inputs()]
        return [ref.value for ref in _flatten(out) if isinstance(ref, _Ref) and ref.kind == "node"]

    def block(self, nodes: Any) -> None:
        for node in nodes:
            self.node(node)

    def node(self, node: torch._C.Node) -> None:
        kind = node.kind()
        outputs = list(node.outputs())
        inputs = [self.values.get(v.debugName()) for v in node.inputs()]
        if kind == "prim::GetAttr":
            owner = inputs[0]
            if isinstance(owner, _Ref) and owner.kind == "path":
                path = f"{owner.value}.{node.s('name')}" if owner.value else node.s("name")
                ref = _Ref("param", self.qualified(path)) if path in self.params else _Ref("path", path)
                self.values[outputs[0].debugName()] = ref
            return
        if kind == "prim::Constant":
            try:
                self.values[outputs[0].debugName()] = outputs[0].toIValue()
            except Exception:  # noqa: BLE001 - functions and other constants that have no Python value
                self.values[outputs[0].debugName()] = None
            return
        if kind in ("prim::ListConstruct", "prim::TupleConstruct"):
            self.values[outputs[0].debugName()] = list(inputs)
            return
        if kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            items = inputs[0] if isinstance(inputs[0], list) else [inputs[0]] * len(outputs)
            for value, item in zip(outputs, items, strict=False):
                self.values[value.debugName()] = item
            return
        if kind == "prim::If":
            blocks = list(node.blocks())
            if blocks:
                self.block(blocks[0].nodes())
                returned = [self.values.get(v.debugName()) for v in blocks[0].returnNode().inputs()]
                for value, returned_value in zip(outputs, returned, strict=False):
                    self.values[value.debugName()] = returned_value
            return
        if kind == "prim::Loop":
            self.loops += 1
            return
        if not kind.startswith("aten::"):
            return
        name = kind.split("::", 1)[1]
        if (
            name in ("t", "transpose", "numpy_T")
            and isinstance(inputs[0], _Ref)
            and inputs[0].kind == "param"
        ):
            self.values[outputs[0].debugName()] = _Ref("transposed", inputs[0].value)
            return
        if not any(str(v.type()).startswith("Tensor") or v.type().kind() == "TensorType" for v in outputs):
            return  # sizes, ints, bools: not part of the graph
        if (
            name == "addmm"
            and len(inputs) >= 3
            and isinstance(inputs[2], _Ref)
            and inputs[2].kind == "transposed"
        ):
            name, inputs = "linear", [inputs[1], _Ref("param", inputs[2].value), inputs[0]]
        self.add(name, inputs, outputs)

    def add(self, name: str, inputs: list[Any], outputs: list[Any]) -> None:
        sources: list[int] = []
        args: dict[str, Any] = {}
        params: dict[str, str] = {}
        names = _POSITIONAL_ATEN.get(name.rstrip("_")) or _positional(name)
        for index, ref in enumerate(inputs):
            key = names[index] if index < len(names) else f"arg{index}"
            refs = [r for r in _flatten([ref]) if isinstance(r, _Ref)]
            if refs:
                for r in refs:
                    if r.kind == "node":
                        sources.append(r.value)
                    elif r.kind in ("param", "transposed"):
                        params[key] = r.value
                continue
            literal = _literal(ref)
            if literal is not _SKIP and index > 0:
                args[key] = literal
        if params:
            args["params"] = params
        weight = params.get("weight", "")
        if name == "linear" and weight.endswith(".weight"):
            args["module"] = weight[: -len(".weight")]  # the scripted nn.Linear that owns the weight
        node_id = self.first_id + len(self.nodes)
        self.nodes.append(Node(node_id, NodeKind.FUNCTION, name, tuple(sources), args, self.location))
        for value in outputs:
            self.values[value.debugName()] = _Ref("node", node_id)


_SKIP = object()


def _positional(name: str) -> tuple[str, ...]:
    from relulint.capture_calls import POSITIONAL

    return POSITIONAL.get(name.rstrip("_"), ())


def _literal(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(v, (bool, int, float)) for v in value):
        return tuple(value)
    return _SKIP


def _flatten(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(_flatten(value))
        else:
            out.append(value)
    return out


def script_nodes(
    script: torch.jit.ScriptModule,
    prefix: str,
    inputs: Sequence[int],
    first_id: int,
    location: Location | None = None,
) -> tuple[list[Node], list[int], int]:
    """The nodes of a scripted module's forward (ids from `first_id`), the ids of its outputs, and the
    number of loops (``prim::Loop``) whose body was not read.

    `inputs` are the node ids of its arguments; parameters are named ``prefix + path``.
    """
    reader = _ScriptReader(script, prefix, first_id, location)
    outputs = reader.read(script.inlined_graph, inputs)
    return reader.nodes, outputs, reader.loops


def script_argument_names(script: torch.jit.ScriptModule) -> list[str]:
    """The names of `forward`'s arguments (after ``self``), as TorchScript spells them."""
    names = []
    for value in list(script.inlined_graph.inputs())[1:]:
        names.append(value.debugName().split(".")[0])
    return names
