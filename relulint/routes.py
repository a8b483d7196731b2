"""Routes: which input→output routes each ReLU layer of a captured graph can kill, and which adds are skips.

`relulint.extract` finds the chains; this module places their ReLU layers on the graph
(`relulint.paths` does the graph work). A ReLU layer dead for every input kills a route — one forward
input, one returned tensor — when its exact zeros reach a node that every path of the route crosses
(`collapse` Lemma 1): the ReLU itself when it dominates the output, or a node its zeros flow into
unchanged (a view, a bias-free Linear, a product: ``relu(f(x)) * sigmoid(g(x))``). A layer that kills no
route has a path around it — a residual add, a concat with the input, whatever sits on either path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Protocol

import relulint.paths
from relulint.records.captured import Node, NodeKind
from relulint.records.model_facts import Layer

#: activations with f(0) = 0: a dead layer's zeros pass through them (`relulint.paths.zeros_from`)
ZERO_AT_ZERO = frozenset(
    {"tanh", "sin", "gelu", "silu", "leaky_relu", "prelu", "elu", "celu", "selu", "mish", "softsign"}
)
#: products: one zero operand makes the result zero
PRODUCT_NAMES = frozenset({"mul", "matmul", "mm", "bmm", "outer"})


class NodeRole(Protocol):
    """What `relulint.node_roles.Role` tells this module about a node."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def layer(self) -> Layer | None: ...


class Routes:
    """The route analysis of one captured graph (each part computed once, when first needed).

    `dataflow` is False for a graph that is a guess in registration order (no data flow, so no skip
    seen): every chain is then judged alone (`Layer.routes` stays None).
    """

    def __init__(
        self,
        nodes: Mapping[int, Node],
        roles: Mapping[int, NodeRole],
        consumers: Mapping[int, Sequence[int]],
        *,
        dataflow: bool = True,
    ) -> None:
        self.nodes = nodes
        self.roles = roles
        self.consumers = consumers
        self.dataflow = dataflow

    @cached_property
    def route_sets(self) -> dict[str, frozenset[int]]:
        """For every input→output route, the nodes on every path of it (`relulint.paths.route_dominators`)."""
        return relulint.paths.route_dominators(self.nodes)

    @cached_property
    def sources(self) -> dict[int, frozenset[int]]:
        """The forward inputs each node is computed from (`relulint.paths.input_sources`)."""
        return relulint.paths.input_sources(self.nodes)

    @cached_property
    def from_inputs(self) -> set[int]:
        inputs = [node_id for node_id, node in self.nodes.items() if node.kind is NodeKind.INPUT]
        return relulint.paths.reachable(self.nodes, inputs)

    @cached_property
    def to_outputs(self) -> set[int]:
        return relulint.paths.ancestors(self.nodes, relulint.paths.sinks(self.nodes))

    @cached_property
    def rank(self) -> dict[int, int]:
        """Each node's place in a topological order of the graph."""
        return {node_id: i for i, node_id in enumerate(relulint.paths.topological_order(self.nodes))}

    def with_routes(
        self, layers: tuple[Layer, ...], start: int, relus: list[int | None]
    ) -> tuple[Layer, ...]:
        """A chain's layers with `Layer.routes`: the routes each ReLU (node id in `relus`, None for a
        layer without one) makes constant when it dies; `start` is the chain's first Linear.

        Where the captured graph cannot answer (the registration-order fallback, which sees no data flow
        and so no skip; no input or no output in the graph; the chain not reached from an input; a ReLU
        whose value reaches no output: a capture that lost an edge), every layer keeps ``routes=None`` and
        the chain is judged alone, as if it were the whole network.
        """
        complete = (
            self.dataflow
            and bool(self.route_sets)
            and start in self.from_inputs
            and all(relu is None or relu in self.to_outputs for relu in relus)
        )
        if not complete:
            return layers
        return tuple(
            replace(layer, routes=self.killed_by(relu)) if relu is not None else layer
            for layer, relu in zip(layers, relus, strict=True)
        )

    def killed_by(self, relu: int) -> tuple[str, ...]:
        """The routes a dead ReLU makes constant: its exact zeros (passed on by views, bias-free Linears, a
        product with them: `relulint.paths.zeros_from`) reach a node that every path of the route crosses."""
        zeros = relulint.paths.zeros_from(self.nodes, relu, self.zero_rules, self.consumers, self.rank)
        return tuple(r for r, on_path in self.route_sets.items() if zeros & on_path)

    @cached_property
    def zero_rules(self) -> dict[int, str]:
        """How each node passes on exact zeros (`relulint.paths.zeros_from`): ``"all"`` or ``"any"``."""
        from relulint.node_roles import normalise_name

        rules: dict[int, str] = {}
        for node_id, node in self.nodes.items():
            role = self.roles[node_id]
            name = normalise_name(node.target) if node.kind is not NodeKind.MODULE else role.name
            distinct = len(set(node.inputs))
            if role.kind == "linear":
                if role.layer is not None and not role.layer.bias:
                    rules[node_id] = "all"  # W·0 = 0
            elif role.kind in ("relu", "dropout") or (role.kind == "act" and role.name in ZERO_AT_ZERO):
                rules[node_id] = "all"
            elif name in PRODUCT_NAMES:
                rules[node_id] = "any" if distinct > 1 else "all"  # 0 · g(x); 0 @ W
            elif name in ("mul", "div", "truediv", "sum", "mean") or (
                role.kind == "residual" and distinct > 1
            ):
                rules[node_id] = "all"  # 0·c, 0/c, a sum of zeros, 0 + 0
            elif role.kind == "transparent" and name not in ("add", "sub"):
                rules[node_id] = "all"  # views, copies, casts, an Identity (not x + 1)
        return rules

    def ends_in_skip(self, last: int) -> bool:
        """Is the add the chain ending at node `last` runs into a skip connection (operands from one stream:
        ``x + f(x)``)? ``mu * 0.0 + sigma`` with ``sigma`` from a parameter, or the sum of branches of
        different inputs, is not."""
        frontier, seen = [last], {last}
        while frontier:
            for consumer in self.consumers.get(frontier.pop(), []):
                kind = self.roles[consumer].kind
                if kind == "residual" and relulint.paths.is_skip_join(self.nodes, consumer, self.sources):
                    return True
                if kind not in ("linear", "residual", "concat") and consumer not in seen:
                    seen.add(consumer)
                    frontier.append(consumer)
        return False
