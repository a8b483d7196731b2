"""The captured forward pass as plain records for the rules: `Capture` → `ModelGraph` (`ModelFacts.graph`).

Each `Node` of the capture becomes a `GraphNode` with its role (`relulint.records.model_facts.GRAPH_ROLES`), classified
by the same vocabulary that finds the ReLU chains (`relulint.node_roles.classify`: every spelling of ReLU,
activations, norms, 1×1 convolutions, ...), the qualified name and class of the submodule a module call
runs, and its literal arguments. Nothing of torch survives in the records, so a rule reads the graph the
way it reads the chains, and the facts stay plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relulint.records.captured import Capture, Node, NodeKind
from relulint.records.loaded import LoadedModel
from relulint.records.model_facts import GraphNode, ModelGraph

__all__ = ["model_graph"]

# `relulint.node_roles.Role.kind` → the public role; the others keep their name
_ROLES = {"act": "activation"}


def model_graph(loaded: LoadedModel, capture: Capture) -> ModelGraph:
    """The `ModelGraph` of `loaded`'s captured forward pass."""
    from relulint.node_roles import classify

    by_id = {node.id: node for node in capture.nodes}
    nodes = []
    for node in capture.nodes:
        role = classify(loaded.module, node, by_id)
        module, module_type = _module_of(loaded.module, node)
        nodes.append(
            GraphNode(
                id=node.id,
                kind=node.kind.value,
                target=node.target,
                role=_ROLES.get(role.kind, role.kind),
                name=role.name,
                inputs=tuple(node.inputs),
                module=module,
                module_type=module_type,
                args=literal_args(node.args),
                location=node.location,
            )
        )
    return ModelGraph(method=capture.method, nodes=tuple(nodes))


def _module_of(root: Any, node: Node) -> tuple[str | None, str | None]:
    """(qualified name, class name) of the submodule a module call runs; (None, None) for other nodes."""
    if node.kind is not NodeKind.MODULE:
        return None, None
    try:
        module = root.get_submodule(node.target) if node.target else root
    except AttributeError:
        return node.target, None
    return node.target, type(module).__name__


def literal_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that are plain literals (numbers, strings, booleans, None, tuples of them)."""
    return {key: value for key, value in args.items() if _is_literal(value)}


def _is_literal(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_is_literal(item) for item in value)
    return False
