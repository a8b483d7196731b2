"""The ``fx`` capture: `torch.fx` symbolic tracing with relulint's leaf modules, and the graph → `Node`s.

Bool / None defaults of `forward` are passed as `concrete_args`; attribute reads and non-tensor values
(``x.size(0)``, ``x.shape``) are dropped (`relulint.capture`'s module docstring gives the conventions).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.fx
from torch import nn

from relulint.capture_calls import (
    NONTENSOR_ATTRS,
    NONTENSOR_FUNCTIONS,
    NONTENSOR_METHODS,
    _Args,
    short_name,
    split_args,
)
from relulint.capture_leaves import _Locator, is_leaf_module
from relulint.records.captured import Capture, Node, NodeKind


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
