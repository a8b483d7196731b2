"""Node roles: what each node of a captured forward pass means for a ReLU chain (`classify`).

The vocabulary that finds the chains (`relulint.extract`) and names the graph's nodes (`relulint.graph`):
every spelling of a linear layer, of ReLU, of another activation, of a normalization, of dropout, of an
operation that keeps the features in place, and of a merge (``add`` / ``sub``) or a concat. A node's `Role`
is one of linear, relu, act, norm, dropout, transparent, residual, concat, input, output, other.

- ReLU spellings: `nn.ReLU`, `nn.ReLU6`, `F.relu(_)`, `F.relu6`, `torch.relu(_)`, `x.relu(_)()`,
  ``clamp`` / ``clip`` / ``clamp_min`` with ``min=0``, ``threshold(x, 0, 0)``, ``Hardtanh(0, m)``,
  ``LeakyReLU(0.0)`` / ``leaky_relu(x, 0.0)``, ``maximum(h, zeros_like(h))`` / ``maximum(h, tensor(0.))``.
- A 1×1 `Conv1d` / `Conv2d` / `Conv3d` is a linear layer over the channels (width ``out_channels``).
- Functional layers ``F.linear(x, self.w, self.b)`` are layers named by the weight's qualified parameter
  name; a weight computed from one 2-D parameter through a norm is that parameter with
  ``weight_norm="custom"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from relulint.capture_leaves import custom_linear_weight
from relulint.records.captured import Node, NodeKind
from relulint.records.model_facts import Layer

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


def normalise_name(name: str) -> str:
    """``relu_`` → ``relu``, ``iadd`` → ``add``: one name per operation, in-place or not."""
    name = _INPLACE_OPERATORS.get(name, name)
    if name.endswith("_") and not name.startswith("_"):
        name = name.rstrip("_")
    return name


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
