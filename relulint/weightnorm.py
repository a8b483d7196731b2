"""Weight normalization in every form users write it (for RL301, `collapse` §5.2).

Weight normalization re-parametrizes a weight as ``w = g · v/‖v‖`` (Salimans & Kingma).  `collapse` §5.2
finds that it does not keep deep, narrow ReLU nets from collapsing (batch norm and SELU do): it rescales each
row, and the sign pattern of ``w x + b`` — what kills a ReLU layer — is that of ``v x + b/g‖v‖…``, drawn from
the same symmetric law.  Forms detected:

* ``torch.nn.utils.weight_norm`` (old API): parameters ``weight_g`` / ``weight_v`` and a ``WeightNorm``
  forward pre-hook → ``"weight_norm"``;
* ``torch.nn.utils.parametrizations.weight_norm`` (parametrize API): ``parametrizations.weight.original0/1``
  with a ``_WeightNorm`` parametrization → ``"parametrize"``;
* custom weight-normalized layers → ``"custom"``, on evidence of a normalization, never on a scale alone:

  - the weight-norm naming convention itself: a gain ``weight_g`` beside a direction ``weight_v``, or ``g``
    beside ``v`` (:data:`WN_PAIRS`) — also on an ``nn.Linear`` subclass that deleted its ``weight``;
  - a forward whose graph divides a parameter by its norm (``v / v.norm(...)``, ``torch.norm``,
    ``torch.linalg.vector_norm``, ``F.normalize(v)``, ``v * torch.rsqrt((v ** 2).sum(...))``,
    ``v * (g / v.norm(...))``, ``torch._weight_norm(v, g)``) — :func:`graph_divides_by_norm`;
  - a class named ``*WeightNorm*`` / ``*weight_norm*``.

  A weight beside a per-output ``scale`` / ``gain`` with no norm in the graph (``F.linear(x, w) * scale``)
  is a learned rescaling, not weight normalization.

:data:`DIRECTION_NAMES` / :data:`SCALE_NAMES` are also the names `relulint.capture_leaves` uses to
recognise a custom linear layer's weight and gain (one list for both).

This module imports torch lazily (inside the functions).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

__all__ = [
    "DIRECTION_NAMES",
    "SCALE_NAMES",
    "WN_PAIRS",
    "graph_divides_by_norm",
    "normalized_parameters",
    "weight_norm_kind",
    "weight_norm_modules",
]

# Names of a linear layer's gain (a weight-norm scale) and of its weight / direction.
# `relulint.capture_leaves` reads the same tuples to recognise custom linear layers: a weight is a 2-D parameter named like one of
# DIRECTION_NAMES (or containing "weight"), a gain one of SCALE_NAMES.
SCALE_NAMES = ("g", "weight_g", "gain", "scale", "weight_scale", "magnitude")
DIRECTION_NAMES = ("v", "V", "weight_v", "weight", "direction", "weight_direction", "w", "W", "kernel")
# (gain, direction) pairs whose names alone say "weight normalization" (Salimans & Kingma's g and v)
WN_PAIRS = (("weight_g", "weight_v"), ("g", "v"))

_NORM_FUNCTIONS = {"norm", "vector_norm"}  # Tensor.norm, torch.norm, torch.linalg.vector_norm / norm
_ROOT_FUNCTIONS = {"sqrt", "rsqrt"}
_SUM_FUNCTIONS = {"sum"}
_SQUARE_FUNCTIONS = {"pow", "square", "mul", "abs"}
# ops that carry "this is (a function of) the norm" through: eps, clamping, reshaping, detaching, casting
_PASS_THROUGH = {
    "add",
    "clamp",
    "clamp_min",
    "clip",
    "unsqueeze",
    "view",
    "reshape",
    "expand",
    "expand_as",
    "detach",
    "to",
    "float",
    "getitem",
    "contiguous",
    "max",
    "maximum",
    "mul",  # g · ‖v‖ or eps-scaled norms: still a norm (the inverse flag says which way it goes)
}


def weight_norm_kind(module: Any) -> str | None:
    """How `module`'s own weight is weight-normalized: "weight_norm", "parametrize", "custom" or None.

    Looks at the module itself (its direct parameters, hooks and parametrizations), not its children.
    """
    if _parametrized_weight_norm(module):
        return "parametrize"
    torch_class = type(module).__module__.startswith("torch.")
    if _weight_norm_hook(module) or (torch_class and _named_scale_and_direction(module, WN_PAIRS)):
        return "weight_norm"
    if torch_class:
        return None  # torch's own layers are weight-normalized only through the two APIs above
    class_name = type(module).__name__.lower()
    if (
        _named_scale_and_direction(module, WN_PAIRS)
        or "weightnorm" in class_name
        or "weight_norm" in class_name
    ):
        return "custom"
    if _own_graph_divides_by_norm(module):
        return "custom"  # any names: the forward divides a parameter by its norm
    return None


def weight_norm_modules(model: Any) -> dict[str, str]:
    """Every submodule (qualified name, "" = root) whose weight is weight-normalized, and how."""
    found: dict[str, str] = {}
    for name, module in model.named_modules():
        if name.endswith(".parametrizations") or ".parametrizations." in f"{name}.":
            continue
        kind = weight_norm_kind(module)
        if kind is not None:
            found[name] = kind
    return found


def _parametrized_weight_norm(module: Any) -> bool:
    from torch.nn.utils import parametrize

    if not parametrize.is_parametrized(module):
        return False
    for tensor_name, plist in module.parametrizations.items():
        if tensor_name == "weight" and any("WeightNorm" in type(p).__name__ for p in plist):
            return True
    return False


def _weight_norm_hook(module: Any) -> bool:
    """`torch.nn.utils.weight_norm` installed its `WeightNorm` forward pre-hook (old API)."""
    from torch.nn.utils.weight_norm import WeightNorm

    return any(isinstance(hook, WeightNorm) for hook in module._forward_pre_hooks.values())


def _named_scale_and_direction(module: Any, pairs: Iterable[tuple[str, str]] = WN_PAIRS) -> bool:
    """A gain named like weight norm's beside a 2-D direction of matching rows: ``weight_g`` / ``weight_v``
    or ``g`` / ``v`` (`pairs`).  Names that do not say "normalized" (``weight`` + ``scale``, ``direction`` +
    ``gain``) are not evidence on their own: :func:`weight_norm_kind` then needs the norm in the graph."""
    params = dict(module.named_parameters(recurse=False))
    for scale_name, direction_name in pairs:
        scale, direction = params.get(scale_name), params.get(direction_name)
        if scale is None or direction is None or direction.dim() != 2:
            continue
        if scale.numel() in (1, direction.shape[0]):
            return True
    return False


def _own_graph_divides_by_norm(module: Any) -> bool:
    own = {name for name, _ in module.named_parameters(recurse=False)}
    if not own:
        return False
    return any("." not in name for name in normalized_parameters(module))


def graph_divides_by_norm(capture: Any) -> set[str]:
    """Qualified names of the modules whose forward divides one of their parameters by its norm.

    `capture` is a `torch.fx.GraphModule`, or an `nn.Module` (traced here with `torch.fx.symbolic_trace`;
    an untraceable module gives the empty set).  relulint's `Capture` record has no `get_attr` nodes, so
    the extractor should pass the fx graph it traced.  The root module is "".
    """
    return {name.rpartition(".")[0] for name in normalized_parameters(capture)}


def normalized_parameters(capture: Any) -> set[str]:
    """Qualified names of the parameters that the graph divides by their own norm (see the module doc)."""
    graph_module = _graph_module(capture)
    if graph_module is None:
        return set()
    sources: dict[Any, frozenset[str]] = {}
    for node in graph_module.graph.nodes:  # topological order: inputs come first
        if node.op == "get_attr":
            sources[node] = frozenset({str(node.target)})
        else:
            sources[node] = frozenset().union(*(sources[p] for p in _inputs(node)))
    norms = {node: _norm_of(node, sources) for node in graph_module.graph.nodes}
    found: set[str] = set()
    for node in graph_module.graph.nodes:
        found |= _normalized_by(node, sources, norms)
    return found


def _graph_module(capture: Any) -> Any:
    import torch.fx as fx

    if isinstance(capture, fx.GraphModule):
        return capture
    try:
        return fx.symbolic_trace(capture)
    except Exception:  # noqa: BLE001 - control flow, data-dependent shapes, ...: no graph, no detection
        return None


def _name(node: Any) -> str:
    """A call's short name: "truediv", "norm", "vector_norm", "sum", ... ("" for other nodes)."""
    if node.op in ("call_method",):
        return str(node.target)
    if node.op == "call_function":
        target = node.target
        if target in (operator.truediv, operator.floordiv):
            return "truediv"
        name = getattr(target, "__name__", str(target)).lstrip("_")
        return name.removeprefix("linalg_")
    return ""


def _inputs(node: Any) -> Iterable[Any]:
    return node.all_input_nodes


def _norm_of(node: Any, sources: dict) -> frozenset[str]:
    """The parameters whose norm this node computes (a norm call, or sqrt/rsqrt of a sum of squares)."""
    name = _name(node)
    if name in _NORM_FUNCTIONS:
        return sources[node.all_input_nodes[0]] if node.all_input_nodes else frozenset()
    if name in _ROOT_FUNCTIONS and node.all_input_nodes:
        inner = node.all_input_nodes[0]
        if _name(inner) in _SUM_FUNCTIONS and inner.all_input_nodes:
            square = inner.all_input_nodes[0]
            if _name(square) in _SQUARE_FUNCTIONS:
                return sources[square]
    return frozenset()


def _norm_through(node: Any, sources: dict, norms: dict, depth: int = 0) -> tuple[frozenset[str], bool]:
    """(parameters whose norm `node` carries, whether it is an inverse norm like rsqrt or g / ‖v‖)."""
    found = norms.get(node, frozenset())
    if found:
        return found, _name(node) == "rsqrt"
    if depth > 6:
        return frozenset(), False
    parents = list(_inputs(node))
    if _name(node) in ("truediv", "div") and len(parents) == 2:  # x / ‖v‖: an inverse norm (g / ‖v‖)
        carried, inverse = _norm_through(parents[1], sources, norms, depth + 1)
        if carried:
            return carried, not inverse
    if _name(node) not in _PASS_THROUGH:
        return frozenset(), False
    for parent in _inputs(node):
        carried, inverse = _norm_through(parent, sources, norms, depth + 1)
        if carried:
            return carried, inverse
    return frozenset(), False


def _normalized_by(node: Any, sources: dict, norms: dict) -> set[str]:
    """Parameters that `node` divides by their own norm (div by a norm, mul by rsqrt, F.normalize)."""
    name = _name(node)
    parents = list(_inputs(node))
    if name in ("normalize", "weight_norm") and parents:  # F.normalize(v), torch._weight_norm(v, g, dim)
        return set(sources[parents[0]])
    if name in ("truediv", "div") and len(parents) == 2:
        numerator, denominator = parents
        carried, inverse = _norm_through(denominator, sources, norms)
        return set(carried & sources[numerator]) if carried and not inverse else set()
    if name == "mul" and len(parents) == 2:
        for a, b in (parents, parents[::-1]):
            carried, inverse = _norm_through(b, sources, norms)
            if carried and inverse:
                return set(carried & sources[a])
    return set()
