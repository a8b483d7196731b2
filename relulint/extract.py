"""Extract: the pure feed-forward ReLU chains of a captured forward pass.

A chain is a maximal run ``Linear → [norm | dropout | shape-preserving]* → ReLU → Linear → …`` in the
graph of `relulint.capture`. The linear layer after the last ReLU (the output layer) belongs to the
chain with ``activation=None``; a layer followed by a non-dying activation (Tanh, GELU, sine, ...)
ends the chain with ``end="activation:<name>"``. An ``add`` / ``sub`` or a ``cat`` / ``stack`` splits
a run: when a ReLU output also feeds one, the run ends there and the next linear layer starts a new
chain, so a chain's depth is the longest pure feed-forward run. The end is ``"residual"`` when the add
is a skip connection (two operands from one stream, `relulint.paths.is_skip_join`), ``"add"`` when it is
not (``mu * 0.0 + sigma``). Where the graph branches (several heads on one trunk), the chain follows the
deepest branch.

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

Conventions and limits:

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

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

import relulint.inits
import relulint.routes
from relulint.capture_leaves import custom_linear_weight
from relulint.errors import UsageError
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
    norm_features: int | None = None  # for "norm": features per statistic (None: the batch, or unknown)


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
        if start in reached:
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
    """Re-read the weight laws of the hidden layers after the first together (`inits.pool_chain_asymmetry`).

    Catches hand-written RAI on narrow layers, whose tensors are each too small to fingerprint.
    """
    hidden = [i for i, layer in enumerate(layers) if layer.activation == "relu"][1:]
    if len(hidden) < 2 or not any(relulint.inits.unconfirmed(layers[i].weight_init) for i in hidden):
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
    except (AttributeError, RuntimeError):  # RuntimeError: a TorchScript module
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
        # (weight_init, bias_init) per module qualname: a module called several times (or shared by
        # two chains) is fingerprinted once.
        self._inits: dict[str, tuple[InitInfo | None, InitInfo | None]] = {}

    def role(self, node_id: int) -> Role:
        return self.roles[node_id]

    def tail(self, linear_id: int) -> Tail:
        """Follow one linear layer's output to its activation and on to the next linear layers."""
        norm, training, dropout, features = None, True, False, None
        current = linear_id
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
            activation=tail.activation,
            norm=tail.norm,
            norm_training=tail.norm_training,
            norm_after=tail.norm_after,
            norm_features=tail.norm_features,
            dropout=tail.dropout,
            weight_init=weight_init,
            bias_init=bias_init,
        )


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
    if isinstance(module, nn.LeakyReLU) and module.negative_slope == 0:
        return Role("relu", "relu")  # LeakyReLU(0.0) is max(x, 0)
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
        return Role("norm", "layernorm", norm_features=math.prod(module.normalized_shape))
    if isinstance(module, nn.GroupNorm):
        per_group = module.num_channels // module.num_groups if module.num_groups else None
        return Role("norm", "groupnorm", norm_features=per_group)
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
    pointwise = pointwise_conv_layer(module, qualname)
    if pointwise is not None:
        return pointwise
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


def pointwise_conv_layer(module: nn.Module, qualname: str) -> Layer | None:
    """A 1×1 `Conv1d` / `Conv2d` / `Conv3d` (no groups, no padding): a Linear over the channels, applied at
    every position (the lifting / projection MLPs of neural operators). Width = ``out_channels``. Any other
    convolution mixes positions and is not a layer of a chain."""
    convolutions = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    if not isinstance(module, convolutions) or type(module) not in convolutions:  # exactly, no subclass
        return None
    if any(k != 1 for k in module.kernel_size) or module.groups != 1:
        return None
    if isinstance(module.padding, str) or any(p != 0 for p in module.padding):
        if module.padding != "valid" and module.padding != "same":
            return None
    return Layer(
        module=qualname,
        in_features=module.in_channels,
        out_features=module.out_channels,
        bias=module.bias is not None,
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
    if name == "leaky_relu" and node.args.get("negative_slope", 0.01) == 0:
        return Role("relu", "relu")
    if name in MAXIMUM_NAMES and _is_max_with_zero(node, nodes, root):
        return Role("relu", "relu")  # torch.maximum(h, torch.zeros_like(h))
    if name == "getitem":
        return Role("transparent", "slice")  # F.relu(h[:, :k]): a ReLU on a slice (width: the layer's)
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
        features = _normalized_size(node.args) if name == "layer_norm" else None
        return Role("norm", NORM_FUNCTIONS[name], norm_training=training, norm_features=features)
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


def _normalized_size(args: Mapping[str, Any]) -> int | None:
    """The number of features `F.layer_norm(x, normalized_shape)` normalises over, when it is a literal."""
    shape = args.get("normalized_shape", args.get("arg1"))
    if isinstance(shape, int):
        return shape
    if isinstance(shape, (list, tuple)) and all(isinstance(n, int) for n in shape):
        return math.prod(shape)
    return None


MAXIMUM_NAMES = frozenset({"maximum", "max", "fmax"})
ZERO_MAKERS = frozenset({"zeros_like", "zeros", "new_zeros"})


def _is_max_with_zero(node: Node, nodes: Mapping[int, Node], root: nn.Module | None = None) -> bool:
    """``maximum(h, z)`` where ``z`` is zero: made by ``zeros_like`` / ``zeros`` / ``new_zeros``, a scalar
    0 tensor (``torch.tensor(0.0)``), a buffer or parameter of the model that holds zeros
    (``self.register_buffer("zero", torch.zeros(()))``), or the literal 0."""
    others = [nodes[i] for i in dict.fromkeys(node.inputs) if i in nodes]
    params = node.args.get("params")
    if len(others) == 1 and root is not None and isinstance(params, Mapping) and len(params) == 1:
        return _holds_zeros(root, next(iter(params.values())))
    literals = [v for k, v in node.args.items() if k not in ("params", "input")]
    if len(others) == 2:
        makers = [n for n in others if normalise_name(n.target) in ZERO_MAKERS]
        constants = [
            n
            for n in others
            if n.target in ("tensor", "scalar_tensor", "as_tensor") and n.args.get("arg0") == 0
        ]
        return len(makers) + len(constants) == 1
    # torch.max(h, 0) is a reduction over dim 0: a literal zero counts for maximum / fmax only
    return node.target != "max" and len(others) == 1 and len(literals) == 1 and literals[0] == 0


def _holds_zeros(root: nn.Module, qualname: Any) -> bool:
    """Whether the model's buffer or parameter `qualname` is a tensor of zeros."""
    try:
        value = root.get_buffer(str(qualname))
    except AttributeError:
        try:
            value = root.get_parameter(str(qualname))
        except AttributeError:
            return False
    return isinstance(value, torch.Tensor) and value.numel() > 0 and not bool(value.detach().any())


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
        module=node.args.get("module", weight_name),  # a TorchScript linear names its scripted nn.Linear
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
    except RuntimeError:  # a TorchScript module: "get_parameter is not supported on ScriptModules"
        return dict(root.named_parameters()).get(name)
    except AttributeError:
        try:
            value = root.get_buffer(name)
        except AttributeError:
            return None
        return value if isinstance(value, torch.Tensor) else None
