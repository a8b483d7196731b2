"""Extract: the pure feed-forward ReLU chains of a captured forward pass.

A chain is a maximal run ``Linear → [norm | dropout | shape-preserving]* → ReLU → Linear → …`` in the
graph of `relulint.capture`. The linear layer after the last ReLU (the output layer) belongs to the
chain with ``activation=None``; a layer followed by a non-dying activation (Tanh, GELU, sine, ...)
ends the chain with ``end="activation:<name>"``. An ``add`` / ``sub`` or a ``cat`` / ``stack`` splits
a run: when a ReLU output also feeds one, the run ends there and the next linear layer starts a new
chain, so a chain's depth is the longest pure feed-forward run. The end is ``"residual"`` when the add
is a skip connection (two operands from one stream, `relulint.paths.is_skip_join`), ``"add"`` when it is
not (``mu * 0.0 + sigma``). An add whose every operand is a linear layer of one width (``relu(a(x) +
b(y))``: GraphSAGE-style layers, projection shortcuts) is no split but one layer, the first operand
standing for the sum (`Layer.summed_with`, `_summed_layers`). Where the graph branches (several heads on
one trunk), the chain follows the deepest branch.

Chains are for reading; the verdict is decided on paths. Each ReLU layer records in `Layer.routes` the
input→output routes it makes constant when it dies (the dominators of the output, `relulint.routes`), so a
block with a path around it — a residual add, a concat with the input, a pre-norm, a dropout or an
``nn.Identity`` before the branch, swapped variables — has ``routes == ()`` whatever sits on either path,
and a chain whose every ReLU layer can be avoided is `Chain.bypassed`. A dead ReLU's exact zeros also
kill a route where they reach a node on every path of it through views, bias-free Linears or a product
(``relu(f(x)) * sigmoid(g(x))``: the gate is no way around, `relulint.routes`). `relulint.verdict`
groups the layers on every path across chains (a Tanh or a bare Linear between two runs does not stop a
dead layer).

Only chains with at least one ReLU layer are returned, in forward order (`Chain.index`).

Conventions and limits (the spellings themselves: `relulint.node_roles`):

- ReLU spellings: `nn.ReLU`, `nn.ReLU6`, `F.relu(_)`, `F.relu6`, `torch.relu(_)`, `x.relu(_)()`,
  ``clamp`` / ``clip`` / ``clamp_min`` with ``min=0``, ``threshold(x, 0, 0)``, ``Hardtanh(0, m)``,
  ``LeakyReLU(0.0)`` / ``leaky_relu(x, 0.0)``, ``maximum(h, zeros_like(h))`` / ``maximum(h, tensor(0.))``;
  a ReLU on a slice or a view of a layer's output counts for the whole layer.
- A 1×1 `Conv1d` / `Conv2d` / `Conv3d` is a linear layer over the channels (width ``out_channels``);
  every other convolution is out of scope.
- ``Layer.norm`` is a normalization between the linear layer and its ReLU; one after the ReLU (before
  the next linear layer) is passed through and not recorded. ``Layer.norm_features`` is the number of
  features one of its statistics is taken over (a LayerNorm's normalized shape, a GroupNorm's channels
  per group), so that a norm over a single feature is known not to protect.
- A zero-width ``Linear`` (``nn.Linear(2, 0)``) is a usage error.
- Functional layers ``F.linear(x, self.w, self.b)`` are layers named by the weight's qualified
  parameter name (``Layer.module = "w"``); a weight computed from one 2-D parameter through a norm
  (``self.v / self.v.norm(...)``) is that parameter with ``weight_norm="custom"``. ``x @ W + b`` is not
  recognised as a layer.
- Layers inside torch's own composite modules (`nn.TransformerEncoderLayer`, `nn.LSTM`, ...) are not
  seen: those modules are single calls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

import relulint.init_fingerprint
import relulint.init_reconcile
import relulint.routes
from relulint.errors import UsageError
from relulint.node_roles import Role, classify
from relulint.records.captured import Capture, Node, NodeKind
from relulint.records.loaded import LoadedModel
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer


@dataclass(frozen=True)
class Tail:
    """What follows one linear layer: its activation, and where the run goes next (or why it ends)."""

    activation: str | None = None
    norm: str | None = None
    norm_training: bool = True
    dropout: bool = False
    successors: tuple[int, ...] = ()
    end: str = "output"
    norm_after: str | None = None  # a normalization after the ReLU, before the next linear layer
    relu: int | None = None  # the ReLU node (for "on every path": `relulint.routes`)
    norm_features: int | None = None


# ------------------------------------------------------------------------------------- public


def extract_chains(loaded: LoadedModel, capture: Capture) -> tuple[Chain, ...]:
    """The ReLU chains of the captured forward pass, in forward order."""
    graph = _Graph(loaded, capture.nodes, dataflow=capture.method != "registration")
    tails = {node_id: graph.tail(node_id) for node_id in graph.linear_ids}
    reached = {s for tail in tails.values() for s in tail.successors}
    paths = longest_paths(tails)
    chains: list[Chain] = []
    for start in graph.linear_ids:
        if start in reached or start in graph.summed_into:
            continue
        path = paths[start]
        if not any(tails[node_id].activation == "relu" for node_id in path):
            continue  # no ReLU chain: its layers' inits are never read (nor fingerprinted)
        layers = tuple(graph.layer(node_id, tails[node_id]) for node_id in path)
        layers = _pooled_inits(loaded, layers)
        layers = graph.routes.with_routes(layers, start, [tails[node_id].relu for node_id in path])
        end = tails[path[-1]].end
        if end == "residual" and not graph.routes.ends_in_skip(path[-1]):
            end = "add"  # an add that joins no stream with a branch of it (`mu * 0.0 + sigma`)
        hidden = [layer for layer in layers if layer.activation == "relu"]
        chains.append(
            Chain(
                index=len(chains),
                layers=layers,
                input_dim=layers[0].in_features,
                output_dim=layers[-1].out_features,
                end=end,
                location=_chain_location(loaded, layers[0]),
                # every input→output path can avoid every ReLU layer of the chain (a skip goes around it)
                bypassed=all(layer.routes == () for layer in hidden),
            )
        )
    return tuple(chains)


def _pooled_inits(loaded: LoadedModel, layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Re-read the weight laws of the hidden layers after the first together (`pool_chain_asymmetry`).

    Catches hand-written RAI on narrow layers, whose tensors are each too small to fingerprint.
    """
    hidden = [i for i, layer in enumerate(layers) if layer.activation == "relu"][1:]
    if len(hidden) < 2 or not any(relulint.init_reconcile.unconfirmed(layers[i].weight_init) for i in hidden):
        return layers  # every law confirmed by its own values: nothing to re-read (no tensor copies)
    rows: list[torch.Tensor | None] = []
    for i in hidden:
        weight, bias = _layer_tensors(loaded, layers[i].module)
        bias_init = layers[i].bias_init
        bias_law = bias_init.law if bias_init is not None else None
        if bias_law in ("constant", "zeros"):
            bias = None  # a known constant bias (dying Fig. 4) is no sign of an asymmetric weight law
        if weight is None:
            rows.append(None)
        else:
            # bounded: never a copy of a wide layer
            index = relulint.init_fingerprint.sample_row_index(*weight.shape)
            if index is not None:
                index = index.to(weight.device)
                weight, bias = weight[index], (bias[index] if bias is not None else None)
            rows.append(weight if bias is None else torch.cat([weight, bias.reshape(-1, 1)], dim=1))
    infos = relulint.init_reconcile.pool_chain_asymmetry([layers[i].weight_init for i in hidden], rows)
    if infos is None:
        return layers
    out = list(layers)
    for i, info in zip(hidden, infos, strict=True):
        out[i] = replace(out[i], weight_init=info)
    return tuple(out)


def _layer_tensors(loaded: LoadedModel, qualname: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The (weight, bias) values of a Linear submodule, detached; (None, None) for a functional layer."""
    if not qualname:
        return None, None
    try:
        module = loaded.module.get_submodule(qualname)
    except (AttributeError, RuntimeError):  # RuntimeError: a TorchScript module
        return None, None
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None, None
    bias = bias.detach() if isinstance(bias, torch.Tensor) and bias.dim() == 1 else None
    return weight.detach(), bias


# -------------------------------------------------------------------------------------- graph


class _Graph:
    """The captured nodes with their roles and consumers."""

    def __init__(self, loaded: LoadedModel, nodes: tuple[Node, ...], dataflow: bool = True) -> None:
        self.loaded = loaded
        self.nodes = {node.id: node for node in nodes}
        self.consumers: dict[int, list[int]] = defaultdict(list)
        for node in nodes:
            for source in dict.fromkeys(node.inputs):
                self.consumers[source].append(node.id)
        self.roles = {node.id: classify(loaded.module, node, self.nodes) for node in nodes}
        self.linear_ids = [node.id for node in nodes if self.roles[node.id].kind == "linear"]
        for node_id in self.linear_ids:
            _refuse_zero_width(loaded, self.roles[node_id].layer)
        # dataflow=False: the nodes are a guess in registration order, with no skip seen
        self.routes = relulint.routes.Routes(self.nodes, self.roles, self.consumers, dataflow=dataflow)
        # linear layers summed before their activation (`_summed_layers`): the first one stands for the sum
        self.sum_join, self.sum_parts, self.summed_into = _summed_layers(nodes, self.roles, self.consumers)
        # (weight_init, bias_init) per module qualname: a module called several times (or shared by
        # two chains) is fingerprinted once.
        self._inits: dict[str, tuple[InitInfo | None, InitInfo | None]] = {}

    def role(self, node_id: int) -> Role:
        return self.roles[node_id]

    def tail(self, linear_id: int) -> Tail:
        """Follow one linear layer's output to its activation and on to the next linear layers."""
        norm, training, dropout, features = None, True, False, None
        current = self.sum_join.get(linear_id, linear_id)  # a sum of layers goes on after the add
        while True:
            consumers = self.consumers.get(current, [])
            split = _split_end([self.role(c) for c in consumers])
            if split:
                return Tail(None, norm, training, dropout, end=split, norm_features=features)
            step = self._pre_step(consumers)
            if step is None:
                end = _end_of(consumers, self.roles)
                return Tail(None, norm, training, dropout, end=end, norm_features=features)
            role = self.role(step)
            if role.kind == "relu":
                return replace(self._post(step, norm, training, dropout), relu=step, norm_features=features)
            if role.kind == "act":
                end = f"activation:{role.name}"
                return Tail(role.name, norm, training, dropout, end=end, norm_features=features)
            if role.kind == "norm" and norm is None:
                norm, training, features = role.name, role.norm_training, role.norm_features
            elif role.kind == "dropout":
                dropout = True
            current = step

    def _pre_step(self, consumers: list[int]) -> int | None:
        """Before the ReLU, the node the run goes on with (a ReLU first, then pass-through nodes)."""
        order = ("relu", "norm", "dropout", "transparent", "act")
        for kind in order:
            for c in consumers:
                if self.role(c).kind == kind:
                    return c
        return None

    def _post(self, relu_id: int, norm: str | None, training: bool, dropout: bool) -> Tail:
        """After the ReLU: every linear layer reached through pass-through nodes, unless a skip splits."""
        successors: list[int] = []
        ends: list[str] = []
        after: str | None = None
        frontier, seen = [relu_id], {relu_id}
        while frontier:
            current = frontier.pop(0)
            consumers = self.consumers.get(current, [])
            split = _split_end([self.role(c) for c in consumers])
            if split:
                return Tail("relu", norm, training, dropout, end=split)
            for c in consumers:
                role = self.role(c)
                if role.kind == "linear":
                    successors.append(self.summed_into.get(c, c))  # a part of a sum: the layer it is in
                elif role.kind in ("relu", "norm", "dropout", "transparent"):
                    dropout = dropout or role.kind == "dropout"
                    after = after or (role.name if role.kind == "norm" else None)
                    if c not in seen:
                        seen.add(c)
                        frontier.append(c)
                else:
                    ends.append(_end_for(role))
            if not consumers:
                ends.append("output")
        if successors:
            unique = tuple(dict.fromkeys(successors))
            return Tail("relu", norm, training, dropout, successors=unique, end="", norm_after=after)
        return Tail("relu", norm, training, dropout, end=_pick_end(ends), norm_after=after)

    def layer(self, node_id: int, tail: Tail) -> Layer:
        """The linear layer of a node, completed with what follows it."""
        parts = tuple(
            replace(self._affine(part), activation=tail.activation)
            for part in self.sum_parts.get(node_id, ())
        )
        return replace(
            self._affine(node_id),
            summed_with=parts,
            activation=tail.activation,
            norm=tail.norm,
            norm_training=tail.norm_training,
            norm_after=tail.norm_after,
            norm_features=tail.norm_features,
            dropout=tail.dropout,
        )

    def _affine(self, node_id: int) -> Layer:
        """The linear layer of a node on its own: shape, where it was built, its recorded inits."""
        base = self.role(node_id).layer
        assert base is not None
        weight_init = bias_init = None
        describe = getattr(relulint.init_reconcile, "describe_layer", None)
        node = self.nodes[node_id]
        is_module = node.kind is NodeKind.MODULE
        # a TorchScript linear is a function node that names its module (`capture_jit`): its init is known too
        if callable(describe) and base.module and (is_module or node.args.get("module")):
            if base.module not in self._inits:
                self._inits[base.module] = describe(self.loaded, base.module)
            weight_init, bias_init = self._inits[base.module]
        return replace(
            base,
            location=_layer_location(self.loaded, base.module, is_module),
            weight_init=weight_init,
            bias_init=bias_init,
        )


def _summed_layers(
    nodes: tuple[Node, ...], roles: Mapping[int, Role], consumers: Mapping[int, list[int]]
) -> tuple[dict[int, int], dict[int, tuple[int, ...]], dict[int, int]]:
    """Linear layers whose outputs are only added (or subtracted) together: ``relu(a(x) + b(y))``.

    Such a sum is one affine layer of the common width (a GraphSAGE layer, ``fc2(h) + proj(x)`` of a
    projection shortcut, two branches of a block), not a skip: every operand went through its own symmetric
    weights, so each unit's pre-activation is symmetric given the inputs. Only an add whose every operand is
    a linear layer of one width, used nowhere else, counts; ``x + f(x)`` (an operand that is no layer) stays
    a skip. Returns ``(join, parts, into)``: for the first operand in forward order (it stands for the sum)
    the add node and the other operands, and for each other operand the one standing for it.
    """
    join: dict[int, int] = {}
    parts: dict[int, tuple[int, ...]] = {}
    into: dict[int, int] = {}
    for node in nodes:
        if roles[node.id].kind != "residual":
            continue
        operands = sorted(dict.fromkeys(node.inputs))
        layers = [roles[o].layer if o in roles and roles[o].kind == "linear" else None for o in operands]
        if len(operands) < 2 or any(layer is None for layer in layers):
            continue
        if len({layer.out_features for layer in layers if layer is not None}) != 1:
            continue
        if any(list(consumers.get(o, ())) != [node.id] for o in operands):
            continue
        first, *others = operands
        join[first], parts[first] = node.id, tuple(others)
        into.update(dict.fromkeys(others, first))
    return join, parts, into


def _refuse_zero_width(loaded: LoadedModel, layer: Layer | None) -> None:
    """A layer with no units (``nn.Linear(2, 0)``) is a mistake in the model, not a chain: a usage error."""
    if layer is None or (layer.in_features > 0 and layer.out_features > 0):
        return
    name = layer.module or "a functional layer"
    where = loaded.module_locations.get(layer.module)
    at = f" ({where.path}:{where.line})" if where else ""
    raise UsageError(
        f"layer `{name}`{at} is Linear({layer.in_features}, {layer.out_features}): a zero-width layer has no "
        "units to check",
        hint="give every Linear at least one input and one output feature",
    )


def _split_end(roles: list[Role]) -> str | None:
    """A residual add or a concat among a node's consumers ends the run there."""
    for role in roles:
        if role.kind in ("residual", "concat"):
            return role.kind
    return None


def _end_for(role: Role) -> str:
    if role.kind == "act":
        return f"activation:{role.name}"
    if role.kind in ("output", "residual", "concat"):
        return role.kind
    return "other"


def _end_of(consumers: list[int], roles: Mapping[int, Role]) -> str:
    if not consumers:
        return "output"
    return _pick_end([_end_for(roles[c]) for c in consumers])


def _pick_end(ends: list[str]) -> str:
    for preferred in ("residual", "concat"):
        if preferred in ends:
            return preferred
    for end in ends:
        if end.startswith("activation:"):
            return end
    if "output" in ends or not ends:
        return "output"
    return ends[0]


def longest_paths(tails: Mapping[int, Tail]) -> dict[int, tuple[int, ...]]:
    """The deepest run from each linear layer (most ReLU layers, then most layers).

    Successors always come later in the capture (larger ids), so one pass from the end suffices.
    """
    best: dict[int, tuple[tuple[int, int], tuple[int, ...]]] = {}
    for node_id in sorted(tails, reverse=True):
        tail = tails[node_id]
        score = (0, 0)
        rest: tuple[int, ...] = ()
        for successor in tail.successors:
            if successor in best and best[successor][0] > score:
                score, rest = best[successor]
        relus, length = score
        best[node_id] = ((relus + int(tail.activation == "relu"), length + 1), (node_id, *rest))
    return {node_id: path for node_id, (_, path) in best.items()}


def _layer_location(loaded: LoadedModel, name: str, is_module: bool) -> Location | None:
    """Where the layer's module was constructed (for a functional layer: the weight's owner)."""
    if not is_module:
        name = name.rpartition(".")[0]
    return loaded.module_locations.get(name)


def _chain_location(loaded: LoadedModel, layer: Layer) -> Location:
    return layer.location or loaded.location
