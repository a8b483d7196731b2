"""Paths: which nodes of a captured forward pass every input→output path crosses.

A ReLU layer that outputs zero for every input makes everything computed from it constant, whatever
the activations after it (`collapse` Lemma 1). The network's output loses an input only when *every*
path from that input to the output crosses the dead layer; a skip connection (`x + f(x)`, a concat
with `x`, a pre-norm block, swapped variables) is a path that avoids it. So the layers that can kill the
network are the dominators of the output in the graph that starts at the input, and this module finds
them: for every *route* — one forward input and one returned tensor — the set of nodes that lie on every
path of it.

Nodes are `relulint.records.captured.Node`s; a node's ``inputs`` are its edges. Sources are the ``INPUT`` nodes
(values from parameters and constants are not inputs: ``mu * 0.0 + sigma`` joins no stream); sinks are
the tensors the ``OUTPUT`` node returns (each element of a returned tuple is its own sink, so a policy
head and a value head are two routes). Pure graph code: no torch.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence

from relulint.records.captured import Node, NodeKind


def topological_order(nodes: Mapping[int, Node]) -> list[int]:
    """The node ids with every node after its inputs (Kahn; ties in id order). Edges to unknown ids are
    ignored; nodes on a cycle (none in a captured forward pass) are left out."""
    indegree = {node_id: 0 for node_id in nodes}
    consumers: dict[int, list[int]] = defaultdict(list)
    for node in nodes.values():
        for source in dict.fromkeys(node.inputs):
            if source in nodes and source != node.id:
                indegree[node.id] += 1
                consumers[source].append(node.id)
    ready = deque(sorted(node_id for node_id, count in indegree.items() if count == 0))
    order: list[int] = []
    while ready:
        current = ready.popleft()
        order.append(current)
        for consumer in consumers[current]:
            indegree[consumer] -= 1
            if indegree[consumer] == 0:
                ready.append(consumer)
    return order


#: joins whose operands end up side by side in the result: a returned ``torch.cat([rgb, alpha], -1)`` is
#: two heads written as one tensor, like a returned tuple
JOINS = frozenset({"cat", "concat", "concatenate", "hstack", "column_stack", "stack"})


def sinks(nodes: Mapping[int, Node]) -> list[int]:
    """The returned tensors: the distinct inputs of the ``OUTPUT`` nodes, in order. A concatenation that is
    returned stands for its operands (each one its own sink): every column it returns comes from one of
    them, so a head that is constant for every input is a constant part of the output even when another
    head varies (NeRF's density beside its colour). A concat that returns a forward input beside a head
    (`cat([x, f(x)])`) stays one sink: the input is a path around the head, as in any skip connection."""
    out: dict[int, None] = {}
    for node in nodes.values():
        if node.kind is NodeKind.OUTPUT:
            for source in node.inputs:
                for sink in _parts(nodes, source):
                    out[sink] = None
    return list(out)


def _parts(nodes: Mapping[int, Node], source: int) -> list[int]:
    node = nodes.get(source)
    if node is None:
        return []
    operands = [nodes[i] for i in dict.fromkeys(node.inputs) if i in nodes]
    heads = len(operands) > 1 and not any(o.kind is NodeKind.INPUT for o in operands)
    if node.kind is NodeKind.FUNCTION and node.target in JOINS and heads:
        return [part for operand in operands for part in _parts(nodes, operand.id)]
    return [source]  # one tensor, or a concat with a forward input (`cat([x, f(x)])`: a skip around f)


def reachable(
    nodes: Mapping[int, Node], starts: Iterable[int], avoid: frozenset[int] = frozenset()
) -> set[int]:
    """Every node reached from `starts` along edges (starts included), never entering `avoid`."""
    consumers: dict[int, list[int]] = defaultdict(list)
    for node in nodes.values():
        for source in dict.fromkeys(node.inputs):
            consumers[source].append(node.id)
    seen = {s for s in starts if s in nodes and s not in avoid}
    frontier = list(seen)
    while frontier:
        for consumer in consumers[frontier.pop()]:
            if consumer not in seen and consumer not in avoid:
                seen.add(consumer)
                frontier.append(consumer)
    return seen


def ancestors(nodes: Mapping[int, Node], targets: Iterable[int]) -> set[int]:
    """Every node from which one of `targets` is reached (targets included)."""
    seen = {t for t in targets if t in nodes}
    frontier = list(seen)
    while frontier:
        for source in nodes[frontier.pop()].inputs:
            if source in nodes and source not in seen:
                seen.add(source)
                frontier.append(source)
    return seen


def dominators(nodes: Mapping[int, Node], root: int) -> dict[int, int]:
    """The immediate dominator of every node reached from `root` (``root`` maps to itself).

    Node ``d`` dominates ``v`` when every path from `root` to ``v`` crosses ``d``. On a DAG taken in
    topological order the immediate dominator of ``v`` is the nearest common dominator of its
    predecessors (Cooper, Harvey & Kennedy, "A simple, fast dominance algorithm", 2001, in one pass).
    """
    inside = reachable(nodes, [root])
    idom: dict[int, int] = {root: root}
    depth: dict[int, int] = {root: 0}
    for node_id in topological_order({i: nodes[i] for i in inside}):
        if node_id == root:
            continue
        preds = [s for s in dict.fromkeys(nodes[node_id].inputs) if s in idom]
        if not preds:
            continue  # only from outside the root's reach (cannot happen for a reached node)
        common = preds[0]
        for other in preds[1:]:
            common = _common_dominator(common, other, idom, depth)
        idom[node_id] = common
        depth[node_id] = depth[common] + 1
    return idom


def _common_dominator(a: int, b: int, idom: Mapping[int, int], depth: Mapping[int, int]) -> int:
    while a != b:
        if depth[a] >= depth[b]:
            a = idom[a]
        else:
            b = idom[b]
    return a


def route_dominators(nodes: Mapping[int, Node]) -> dict[str, frozenset[int]]:
    """For every route (``"x→output"``: an input that reaches a returned tensor), the nodes that every
    path of the route crosses, both ends included. Routes are named by the input's argument name and
    ``output`` (one returned tensor) or ``output[k]`` (the k-th of several)."""
    outputs = sinks(nodes)
    routes: dict[str, frozenset[int]] = {}
    for node in nodes.values():
        if node.kind is not NodeKind.INPUT:
            continue
        idom = dominators(nodes, node.id)
        for k, sink in enumerate(outputs):
            if sink not in idom:
                continue  # this input does not reach this output
            on_every_path = {sink}
            current = sink
            while idom[current] != current:
                current = idom[current]
                on_every_path.add(current)
            label = "output" if len(outputs) == 1 else f"output[{k}]"
            routes[f"{node.target or 'input'}→{label}"] = frozenset(on_every_path)
    return routes


def zeros_from(
    nodes: Mapping[int, Node],
    start: int,
    rules: Mapping[int, str],
    consumers: Mapping[int, Sequence[int]] | None = None,
    rank: Mapping[int, int] | None = None,
) -> set[int]:
    """The nodes that output exact zeros for every input when `start` does (a dead ReLU layer).

    `rules` says how a node passes zeros on: ``"all"`` — zero when every tensor operand is (a view, a ReLU, a
    dropout, a bias-free Linear, ``tanh``, a sum of zeros), ``"any"`` — zero when one operand is (a
    product, ``relu(f(x)) * g(x)``); a node without a rule never outputs a forced zero (a Linear with a
    bias, a sigmoid, a concat). `start` is included. Only the zero region is visited, in topological
    order (`rank`: a node's place in `topological_order`; `consumers`: who reads each node — both computed
    here when not given).
    """
    if consumers is None:
        table: dict[int, list[int]] = defaultdict(list)
        for node in nodes.values():
            for source in dict.fromkeys(node.inputs):
                table[source].append(node.id)
        consumers = table
    if rank is None:
        rank = {node_id: i for i, node_id in enumerate(topological_order(nodes))}
    zeros = {start}
    heap = [(rank.get(c, 0), c) for c in consumers.get(start, ()) if c in rules]
    heapq.heapify(heap)
    seen = {c for _, c in heap}
    while heap:
        _, node_id = heapq.heappop(heap)
        operands = [s for s in dict.fromkeys(nodes[node_id].inputs) if s in nodes]
        hit = [s in zeros for s in operands]
        rule = rules[node_id]
        if not ((rule == "any" and any(hit)) or (rule == "all" and hit and all(hit))):
            continue
        zeros.add(node_id)
        for consumer in consumers.get(node_id, ()):
            if consumer in rules and consumer not in seen:
                seen.add(consumer)
                heapq.heappush(heap, (rank.get(consumer, 0), consumer))
    return zeros


def input_sources(nodes: Mapping[int, Node]) -> dict[int, frozenset[int]]:
    """For every node, the ``INPUT`` nodes it is computed from (one pass in topological order)."""
    sources: dict[int, frozenset[int]] = {}
    for node_id in topological_order(nodes):
        node = nodes[node_id]
        if node.kind is NodeKind.INPUT:
            sources[node_id] = frozenset({node_id})
        else:
            sources[node_id] = frozenset().union(*(sources.get(s, frozenset()) for s in node.inputs))
    return sources


def is_skip_join(
    nodes: Mapping[int, Node], join: int, sources: Mapping[int, frozenset[int]] | None = None
) -> bool:
    """Is the add / concat `join` a skip connection: do two of its operands come from one stream (a forward
    input in common), so that one is a path around what the other went through (``x + f(x)``,
    ``shortcut(x) + f(pre(x))``, ``cat([x, f(x)])``)?

    Operands with no input in common (``mu * 0.0 + sigma`` with ``sigma`` from a parameter, the sum of
    branches of two different inputs) make an add that is not a skip. `sources` is `input_sources(nodes)`,
    computed here when not given.
    """
    if sources is None:
        sources = input_sources(nodes)
    seen: set[int] = set()
    for operand in dict.fromkeys(nodes[join].inputs):
        mine = sources.get(operand, frozenset())
        if mine & seen:
            return True
        seen |= mine
    return False
