"""Extract: the pure feed-forward ReLU chains of a captured forward pass.

A chain is a maximal run ``Linear → [norm | dropout | shape-preserving]* → ReLU → Linear → …`` in the
graph of `relulint.capture`. The linear layer after the last ReLU (the output layer) belongs to the
chain with ``activation=None``; a layer followed by a non-dying activation (Tanh, GELU, sine, ...)
ends the chain with ``end="activation:<name>"``. A residual ``add`` or a ``cat`` / ``stack`` splits
a run: when a ReLU output also feeds a skip connection, the run ends there (``end="residual"``) and
the next linear layer starts a new chain, so a chain's depth is the longest pure feed-forward run.
Where the graph branches (several heads on one trunk), the chain follows the deepest branch.

Only chains with at least one ReLU layer are returned, in forward order (`Chain.index`).

Conventions and limits:

- ReLU spellings: `nn.ReLU`, `nn.ReLU6`, `F.relu(_)`, `F.relu6`, `torch.relu(_)`, `x.relu(_)()`,
  ``clamp`` / ``clip`` / ``clamp_min`` with ``min=0``, ``threshold(x, 0, 0)``, ``Hardtanh(0, m)``.
- ``Layer.norm`` is a normalization between the linear layer and its ReLU; one after the ReLU (before
  the next linear layer) is passed through and not recorded.
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
from typing import Any

import torch
from torch import nn

import relulint.inits
from relulint.capture import custom_linear_weight
from relulint.facts import Capture, Chain, InitInfo, Layer, LoadedModel, Location, Node, NodeKind

# ------------------------------------------------------------------------------------ vocabulary

RELU_NAMES = frozenset({"relu", "relu6"})
CLAMP_NAMES = frozenset({"clamp", "clip", "clamp_min"})
ACTIVATION_NAMES = frozenset(
    {
        "leaky_relu",
        "prelu",
        "rrelu",
        "elu",
        "celu",
        "selu",
        "gelu",
        "silu",
        "mish",
        "softplus",
        "tanh",
        "sigmoid",
        "hardtanh",
        "hardswish",
        "hardsigmoid",
        "logsigmoid",
        "softsign",
        "tanhshrink",
        "softshrink",
        "hardshrink",
        "glu",
        "softmax",
        "log_softmax",
        "softmin",
        "sin",
        "cos",
    }
)
ACTIVATION_MODULES: dict[type, str] = {
    nn.LeakyReLU: "leaky_relu",
    nn.PReLU: "prelu",
    nn.RReLU: "rrelu",
    nn.ELU: "elu",
    nn.CELU: "celu",
    nn.SELU: "selu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Mish: "mish",
    nn.Softplus: "softplus",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.Hardtanh: "hardtanh",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.LogSigmoid: "logsigmoid",
    nn.Softsign: "softsign",
    nn.Tanhshrink: "tanhshrink",
    nn.Softshrink: "softshrink",
    nn.Hardshrink: "hardshrink",
    nn.GLU: "glu",
    nn.Softmax: "softmax",
    nn.LogSoftmax: "log_softmax",
    nn.Softmin: "softmin",
}
NORM_FUNCTIONS = {
    "batch_norm": "batchnorm",
    "layer_norm": "layernorm",
    "group_norm": "groupnorm",
    "instance_norm": "instancenorm",
    "rms_norm": "rmsnorm",
}
DROPOUT_NAMES = frozenset(
    {
        "dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "alpha_dropout",
        "feature_alpha_dropout",
        "feature_dropout",
    }
)
TRANSPARENT_NAMES = frozenset(
    {
        "flatten",
        "unflatten",
        "view",
        "reshape",
        "view_as",
        "reshape_as",
        "contiguous",
        "float",
        "double",
        "half",
        "bfloat16",
        "to",
        "type",
        "type_as",
        "clone",
        "detach",
        "data",
        "squeeze",
        "unsqueeze",
        "permute",
        "transpose",
        "t",
        "T",
        "mT",
        "movedim",
        "requires_grad",
        "cpu",
        "cuda",
        "neg",
        "pos",
        "identity",
    }
)
ARITHMETIC_NAMES = frozenset({"add", "sub", "mul", "div", "truediv"})
MERGE_NAMES = frozenset({"add", "sub"})
CONCAT_NAMES = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "column_stack"})
WEIGHT_NORM_OPS = frozenset(
    {"norm", "linalg_vector_norm", "vector_norm", "_weight_norm", "normalize", "rsqrt"}
)
_INPLACE_OPERATORS = {"iadd": "add", "isub": "sub", "imul": "mul", "itruediv": "truediv", "idiv": "div"}


@dataclass(frozen=True)
class Role:
    """What one node means for a chain."""

    kind: str  # linear, relu, act, norm, dropout, transparent, residual, concat, input, output, other
    name: str = ""
    layer: Layer | None = None  # for "linear": the layer, without what follows it
    norm_training: bool = True


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


# ------------------------------------------------------------------------------------- public


def extract_chains(loaded: LoadedModel, capture: Capture) -> tuple[Chain, ...]:
    """The ReLU chains of the captured forward pass, in forward order."""
    graph = _Graph(loaded, capture.nodes)
    tails = {node_id: graph.tail(node_id) for node_id in graph.linear_ids}
    reached = {s for tail in tails.values() for s in tail.successors}
    paths = longest_paths(tails)
    chains: list[Chain] = []
    for start in graph.linear_ids:
        if start in reached:
            continue
        path = paths[start]
        if not any(tails[node_id].activation == "relu" for node_id in path):
            continue  # no ReLU chain: its layers' inits are never read (nor fingerprinted)
        layers = tuple(graph.layer(node_id, tails[node_id]) for node_id in path)
        layers = _pooled_inits(loaded, layers)
        end = tails[path[-1]].end
        chains.append(
            Chain(
                index=len(chains),
                layers=layers,
                input_dim=layers[0].in_features,
                output_dim=layers[-1].out_features,
                end=end,
                location=_chain_location(loaded, layers[0]),
                bypassed=end in ("residual", "concat") and graph.skips_around(start, path[-1]),
            )
        )
    return tuple(chains)


def _pooled_inits(loaded: LoadedModel, layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Re-read the weight laws of the hidden layers after the first together (`inits.pool_chain_asymmetry`).

    Catches hand-written RAI on narrow layers, whose tensors are each too small to fingerprint.
    """
    hidden = [i for i, layer in enumerate(layers) if layer.activation == "relu"][1:]
    if len(hidden) < 2 or not any(relulint.inits.unconfirmed(layers[i].weight_init) for i in hidden):
        return layers  # every law confirmed by its own values: nothing to re-read (no tensor copies)
    rows = []
    for i in hidden:
        weight, bias = _layer_tensors(loaded, layers[i].module)
        bias_law = layers[i].bias_init.law if layers[i].bias_init is not None else None
        if bias_law in ("constant", "zeros"):
            bias = None  # a known constant bias (dying Fig. 4) is no sign of an asymmetric weight law
        if weight is None:
            rows.append(None)
        else:
            index = relulint.inits.sample_row_index(*weight.shape)  # bounded: never a copy of a wide layer
            if index is not None:
                index = index.to(weight.device)
                weight, bias = weight[index], (bias[index] if bias is not None else None)
            rows.append(weight if bias is None else torch.cat([weight, bias.reshape(-1, 1)], dim=1))
    infos = relulint.inits.pool_chain_asymmetry([layers[i].weight_init for i in hidden], rows)
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
    except AttributeError:
        return None, None
    weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None, None
    bias = bias.detach() if isinstance(bias, torch.Tensor) and bias.dim() == 1 else None
    return weight.detach(), bias


def normalise_name(name: str) -> str:
    """``relu_`` → ``relu``, ``iadd`` → ``add``: one name per operation, in-place or not."""
    name = _INPLACE_OPERATORS.get(name, name)
    if name.endswith("_") and not name.startswith("_"):
        name = name.rstrip("_")
    return name


# -------------------------------------------------------------------------------------- graph


class _Graph:
    """The captured nodes with their roles and consumers."""

    def __init__(self, loaded: LoadedModel, nodes: tuple[Node, ...]) -> None:
        self.loaded = loaded
        self.nodes = {node.id: node for node in nodes}
        self.consumers: dict[int, list[int]] = defaultdict(list)
        for node in nodes:
            for source in dict.fromkeys(node.inputs):
                self.consumers[source].append(node.id)
        self.roles = {node.id: classify(loaded.module, node, self.nodes) for node in nodes}
        self.linear_ids = [node.id for node in nodes if self.roles[node.id].kind == "linear"]
        # (weight_init, bias_init) per module qualname: a module called several times (or shared by
        # two chains) is fingerprinted once.
        self._inits: dict[str, tuple[InitInfo | None, InitInfo | None]] = {}

    def role(self, node_id: int) -> Role:
        return self.roles[node_id]

    def skips_around(self, start: int, last: int) -> bool:
        """Does a path from the chain's input reach the add / concat it ends in without entering the chain?

        ``x + f(x)``: yes (the chain is a residual branch). ``h = f(x); h + g(h)``: no (``f`` feeds both
        operands, and its death makes both constant).
        """
        joins: set[int] = set()
        frontier, seen = [last], {last}
        while frontier:
            for consumer in self.consumers.get(frontier.pop(), []):
                kind = self.role(consumer).kind
                if kind in ("residual", "concat"):
                    joins.add(consumer)
                elif kind != "linear" and consumer not in seen:
                    seen.add(consumer)
                    frontier.append(consumer)
        if not joins:
            return False
        frontier = list(dict.fromkeys(self.nodes[start].inputs))
        seen = set(frontier) | {start}
        while frontier:
            for consumer in self.consumers.get(frontier.pop(), []):
                if consumer in joins:
                    return True
                if consumer not in seen:
                    seen.add(consumer)
                    frontier.append(consumer)
        return False

    def tail(self, linear_id: int) -> Tail:
        """Follow one linear layer's output to its activation and on to the next linear layers."""
        norm, training, dropout = None, True, False
        current = linear_id
        while True:
            consumers = self.consumers.get(current, [])
            split = _split_end([self.role(c) for c in consumers])
            if split:
                return Tail(None, norm, training, dropout, end=split)
            step = self._pre_step(consumers)
            if step is None:
                return Tail(None, norm, training, dropout, end=_end_of(consumers, self.roles))
            role = self.role(step)
            if role.kind == "relu":
                return self._post(step, norm, training, dropout)
            if role.kind == "act":
                return Tail(role.name, norm, training, dropout, end=f"activation:{role.name}")
            if role.kind == "norm" and norm is None:
                norm, training = role.name, role.norm_training
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
                    successors.append(c)
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
        base = self.role(node_id).layer
        assert base is not None
        weight_init = bias_init = None
        describe = getattr(relulint.inits, "describe_layer", None)
        is_module = self.nodes[node_id].kind is NodeKind.MODULE
        if callable(describe) and is_module:
            if base.module not in self._inits:
                self._inits[base.module] = describe(self.loaded, base.module)
            weight_init, bias_init = self._inits[base.module]
        return replace(
            base,
            location=_layer_location(self.loaded, base.module, is_module),
            activation=tail.activation,
            norm=tail.norm,
            norm_training=tail.norm_training,
            norm_after=tail.norm_after,
            dropout=tail.dropout,
            weight_init=weight_init,
            bias_init=bias_init,
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
        score, rest = (0, 0), ()
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


# --------------------------------------------------------------------------------- classification


def classify(root: nn.Module, node: Node, nodes: Mapping[int, Node]) -> Role:
    """The role of one node in a chain."""
    if node.kind is NodeKind.INPUT:
        return Role("input")
    if node.kind is NodeKind.OUTPUT:
        return Role("output")
    if node.kind is NodeKind.MODULE:
        try:
            module = root.get_submodule(node.target) if node.target else root
        except AttributeError:
            return Role("other")
        return classify_module(module, node.target)
    return classify_operation(root, node, nodes)


def classify_module(module: nn.Module, qualname: str) -> Role:
    """The role of a leaf-module call."""
    layer = module_layer(module, qualname)
    if layer is not None:
        return Role("linear", layer=layer)
    if isinstance(module, (nn.ReLU, nn.ReLU6)):
        return Role("relu", "relu")
    if isinstance(module, nn.Hardtanh) and module.min_val == 0 and module.max_val > 0:
        return Role("relu", "relu")
    if isinstance(module, nn.Threshold) and module.threshold == 0 and module.value == 0:
        return Role("relu", "relu")
    for cls, name in ACTIVATION_MODULES.items():
        if isinstance(module, cls):
            return Role("act", name)
    norm = module_norm(module)
    if norm is not None:
        return norm
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return Role("dropout", "dropout")
    if isinstance(module, (nn.Identity, nn.Flatten, nn.Unflatten)):
        return Role("transparent")
    return Role("other", type(module).__name__)


def module_norm(module: nn.Module) -> Role | None:
    """Normalization layers; BatchNorm uses batch statistics in training mode or without running stats."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        training = module.training or not module.track_running_stats
        return Role("norm", "batchnorm", norm_training=training)
    if isinstance(module, nn.LayerNorm):
        return Role("norm", "layernorm")
    if isinstance(module, nn.GroupNorm):
        return Role("norm", "groupnorm")
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return Role("norm", "instancenorm")
    rms = getattr(nn, "RMSNorm", None)
    if rms is not None and isinstance(module, rms):
        return Role("norm", "rmsnorm")
    return None


def module_layer(module: nn.Module, qualname: str) -> Layer | None:
    """A `Layer` (activation left open) for nn.Linear and custom linear-like modules, else None.

    An `nn.Linear` subclass may own its weight differently — a custom weight norm that registers
    ``weight_g`` / ``weight_v`` and does ``del self.weight`` — so ``weight`` is read with `getattr`; the
    sizes then come from ``in_features`` / ``out_features`` or the layer's (direction) weight.
    """
    if isinstance(module, nn.Linear):
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.parameter.UninitializedParameter):
            return None
        sizes = _linear_sizes(module, weight)
        if sizes is None:
            return None
        return Layer(
            module=qualname,
            in_features=sizes[0],
            out_features=sizes[1],
            bias=getattr(module, "bias", None) is not None,
            activation=None,
            weight_norm=weight_norm_kind(module),
        )
    custom = custom_linear_weight(module)
    if custom is None:
        return None
    _, weight = custom
    out_features = int(getattr(module, "out_features", weight.shape[0]))
    in_features = int(getattr(module, "in_features", weight.shape[1]))
    return Layer(
        module=qualname,
        in_features=in_features,
        out_features=out_features,
        bias=_has_bias(module),
        activation=None,
        weight_norm=weight_norm_kind(module),
    )


def _linear_sizes(module: nn.Linear, weight: object) -> tuple[int, int] | None:
    """(in_features, out_features) of an nn.Linear (subclass): its attributes, else its 2-D weight."""
    in_features, out_features = getattr(module, "in_features", None), getattr(module, "out_features", None)
    if isinstance(in_features, int) and isinstance(out_features, int):
        return in_features, out_features
    if not (isinstance(weight, torch.Tensor) and weight.dim() == 2):
        custom = custom_linear_weight(module)
        weight = custom[1] if custom is not None else None
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return int(weight.shape[1]), int(weight.shape[0])
    return None


def _has_bias(module: nn.Module) -> bool:
    """A custom layer's bias: a `bias` attribute, or a 1-D parameter named ``b`` / ``*bias*``."""
    if isinstance(getattr(module, "bias", None), torch.Tensor):
        return True
    return any(
        p.dim() == 1 and (name == "b" or "bias" in name.lower())
        for name, p in module.named_parameters(recurse=False)
    )


def weight_norm_kind(module: nn.Module) -> str | None:
    """``"parametrize"`` (new API), ``"weight_norm"`` (old API), ``"custom"`` or None (`relulint.weightnorm`)."""
    from relulint.weightnorm import weight_norm_kind as kind

    return kind(module)


def classify_operation(root: nn.Module, node: Node, nodes: Mapping[int, Node]) -> Role:
    """The role of a function or tensor-method call."""
    name = normalise_name(node.target)
    distinct = len(set(node.inputs))
    if name in RELU_NAMES:
        return Role("relu", "relu")
    if name in CLAMP_NAMES:
        return _clamp_role(node.args)
    if name == "threshold" and node.args.get("threshold") == 0 and node.args.get("value") == 0:
        return Role("relu", "relu")
    if name == "hardtanh" and node.args.get("min_val", -1.0) == 0:
        return Role("relu", "relu")
    if name in ACTIVATION_NAMES:
        return Role("act", name)
    if name in NORM_FUNCTIONS:
        training = bool(node.args.get("training", name != "batch_norm"))
        return Role("norm", NORM_FUNCTIONS[name], norm_training=training)
    if name in DROPOUT_NAMES:
        return Role("dropout", "dropout")
    if name == "linear":
        layer = functional_layer(root, node, nodes)
        return Role("linear", layer=layer) if layer is not None else Role("other", name)
    if name in CONCAT_NAMES:
        return Role("concat", name) if distinct > 1 else Role("transparent")
    if name in MERGE_NAMES and distinct > 1:
        return Role("residual", name)
    if name in ARITHMETIC_NAMES and distinct <= 1:
        return Role("transparent")
    if name in TRANSPARENT_NAMES:
        return Role("transparent")
    return Role("other", name)


def _clamp_role(args: Mapping[str, Any]) -> Role:
    low, high = args.get("min"), args.get("max")
    if low == 0 and (high is None or (isinstance(high, (int, float)) and high > 0)):
        return Role("relu", "relu")
    return Role("act", "clamp")


def functional_layer(root: nn.Module, node: Node, nodes: Mapping[int, Node]) -> Layer | None:
    """`F.linear(x, self.w, self.b)`: a layer named by its weight parameter, when that can be found.

    A weight computed from one 2-D parameter (``self.v / self.v.norm(...)``) counts as that parameter,
    marked ``weight_norm="custom"`` when a norm is part of the computation.
    """
    params = node.args.get("params", {})
    bias = "bias" in params or len(node.inputs) > 2
    weight_name, weight_norm = params.get("weight"), None
    if weight_name is None and len(node.inputs) >= 2:
        weight_name, weight_norm = _computed_weight(root, nodes, node.inputs[1])
    weight = _parameter(root, weight_name) if weight_name else None
    if weight is None or weight.dim() != 2:
        return None
    return Layer(
        module=weight_name,
        in_features=int(weight.shape[1]),
        out_features=int(weight.shape[0]),
        bias=bias,
        activation=None,
        weight_norm=weight_norm,
    )


def _computed_weight(root: nn.Module, nodes: Mapping[int, Node], start: int) -> tuple[str | None, str | None]:
    """The single 2-D parameter a computed weight is made from, and "custom" when it is normalised."""
    matrices: set[str] = set()
    normalised = False
    frontier, seen = [start], {start}
    while frontier and len(seen) < 64:
        node = nodes.get(frontier.pop())
        if node is None or node.kind in (NodeKind.INPUT, NodeKind.MODULE):
            return None, None  # the weight depends on the data: not a linear layer
        normalised = normalised or normalise_name(node.target) in WEIGHT_NORM_OPS
        for name in node.args.get("params", {}).values():
            param = _parameter(root, name)
            if param is not None and param.dim() == 2:
                matrices.add(name)
        for source in node.inputs:
            if source not in seen:
                seen.add(source)
                frontier.append(source)
    if len(matrices) != 1:
        return None, None
    return matrices.pop(), "custom" if normalised else None


def _parameter(root: nn.Module, name: str) -> torch.Tensor | None:
    try:
        return root.get_parameter(name)
    except AttributeError:
        try:
            value = root.get_buffer(name)
        except AttributeError:
            return None
        return value if isinstance(value, torch.Tensor) else None
