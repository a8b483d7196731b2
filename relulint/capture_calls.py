"""One recorded call as `Node` fields: its short name, its graph inputs, literal arguments and parameters.

Shared by the fx and hooks captures (`relulint.capture_fx`, `relulint.capture_hooks`); the conventions
are those of `relulint.capture`'s module docstring (``args``, ``args["params"]``, operator names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

# Positional parameter names of the operations whose literal arguments matter (index 0 = input / self).
POSITIONAL: dict[str, tuple[str, ...]] = {
    "clamp": ("input", "min", "max"),
    "clip": ("input", "min", "max"),
    "clamp_min": ("input", "min"),
    "cat": ("tensors", "dim"),
    "concat": ("tensors", "dim"),
    "concatenate": ("tensors", "dim"),
    "stack": ("tensors", "dim"),
    "relu": ("input", "inplace"),
    "relu6": ("input", "inplace"),
    "threshold": ("input", "threshold", "value", "inplace"),
    "hardtanh": ("input", "min_val", "max_val", "inplace"),
    "leaky_relu": ("input", "negative_slope", "inplace"),
    "elu": ("input", "alpha", "inplace"),
    "celu": ("input", "alpha", "inplace"),
    "softplus": ("input", "beta", "threshold"),
    "dropout": ("input", "p", "training", "inplace"),
    "alpha_dropout": ("input", "p", "training", "inplace"),
    "feature_alpha_dropout": ("input", "p", "training", "inplace"),
    "dropout1d": ("input", "p", "training", "inplace"),
    "dropout2d": ("input", "p", "training", "inplace"),
    "dropout3d": ("input", "p", "training", "inplace"),
    "linear": ("input", "weight", "bias"),
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    "layer_norm": ("input", "normalized_shape", "weight", "bias", "eps"),
    "group_norm": ("input", "num_groups", "weight", "bias", "eps"),
    "instance_norm": ("input", "running_mean", "running_var", "weight", "bias", "use_input_stats"),
    "rms_norm": ("input", "normalized_shape", "weight", "eps"),
    "flatten": ("input", "start_dim", "end_dim"),
    "softmax": ("input", "dim"),
    "log_softmax": ("input", "dim"),
    "add": ("input", "other"),
    "sub": ("input", "other"),
    "mul": ("input", "other"),
    "div": ("input", "other"),
    "truediv": ("input", "other"),
}


# Tensor methods and attributes whose results are not tensors (fx makes nodes of them; we drop them).
NONTENSOR_METHODS = frozenset(
    {"size", "dim", "numel", "nelement", "ndimension", "item", "tolist", "element_size", "is_contiguous"}
)


NONTENSOR_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "layout"})


NONTENSOR_FUNCTIONS = frozenset({"_assert", "_assert_async", "len", "isinstance", "numel"})


_DUNDER_RENAMES = {
    "radd": "add",
    "rsub": "sub",
    "rmul": "mul",
    "rtruediv": "truediv",
    "rdiv": "div",
    "rfloordiv": "floordiv",
    "rmatmul": "matmul",
    "rpow": "pow",
}


def describe_exception(exc: BaseException) -> str:
    """``"TypeError: first line of the message"``."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


_NOT_LITERAL = object()


def literal(value: Any) -> Any:
    """`value` as plain data when it is a literal (number, bool, str, None, dtype, tuples of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, (tuple, list, torch.Size)):
        items = [literal(v) for v in value]
        return _NOT_LITERAL if any(v is _NOT_LITERAL for v in items) else tuple(items)
    return _NOT_LITERAL


@dataclass
class _Args:
    """Producers, literal arguments and parameter references of one call."""

    inputs: list[int] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def mapping(self) -> dict[str, Any]:
        out = dict(self.args)
        if self.params:
            out["params"] = dict(self.params)
        return out


# resolve(value) → ("input", node id) | ("param", qualified name) | ("skip", None) | None (not a reference)
Resolver = Callable[[Any], "tuple[str, Any] | None"]


def split_args(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], resolve: Resolver) -> _Args:
    """Sort a call's arguments into graph inputs, literal args and parameter references."""
    out = _Args()
    names = POSITIONAL.get(name.rstrip("_"), ())
    for index, value in enumerate(args):
        key = names[index] if index < len(names) else f"arg{index}"
        _take(out, key, value, resolve)
    for key, value in kwargs.items():
        _take(out, key, value, resolve)
    return out


def _take(out: _Args, key: str, value: Any, resolve: Resolver) -> None:
    refs = _references(value, resolve)
    if refs and all(kind == "literal" for kind, _ in refs) and len(refs) == 1:
        out.args[key] = refs[0][1]  # a scalar tensor constant (fx: `torch.tensor(0.0)` in forward)
        return
    refs = [ref for ref in refs if ref[0] != "literal"]
    if refs:
        params = [ref for kind, ref in refs if kind == "param"]
        out.inputs.extend(ref for kind, ref in refs if kind == "input")
        if len(params) == 1:
            out.params[key] = params[0]
        else:
            out.params.update({f"{key}.{i}": p for i, p in enumerate(params)})
        return
    value = literal(value)
    if value is not _NOT_LITERAL:
        out.args[key] = value


def _references(value: Any, resolve: Resolver) -> list[tuple[str, Any]]:
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _references(item, resolve)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item, resolve)]
    ref = resolve(value)
    if ref is None:
        return []
    return [ref] if ref[0] != "skip" else [("skip", None)]


def short_name(func: Any) -> str:
    """`torch.relu` → ``"relu"``; operator functions keep their `operator` names (``"iadd"``)."""
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # tensor attribute (`x.T`)
        owner = getattr(func, "__self__", None)
        return getattr(owner, "__name__", name)
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        bare = name[2:-2]
        return _DUNDER_RENAMES.get(bare, bare)
    if name.startswith("_") and getattr(torch.nn.functional, name[1:], None) is func:
        return name[1:]  # `F.threshold` is named `_threshold`
    return name
