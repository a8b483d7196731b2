"""Which modules the capture records as one call (leaf modules), and where the user's code is on the stack.

Shared by every capture method (`relulint.capture`, `relulint.capture_fx`, `relulint.capture_hooks`,
`relulint.capture_registration`): a leaf is one of torch's own modules (not a container), an `nn.Linear`,
a parametrized module or a custom linear-like module (`custom_linear_weight`); `_Locator` finds the
innermost line of the user's file on the call stack.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from relulint.capture_jit import is_script_module
from relulint.records.location import Location
from relulint.runcache import realpath
from relulint.weightnorm import DIRECTION_NAMES, SCALE_NAMES

# Names of the weight of a custom linear-like module, and of a weight-norm gain beside it: the lists of
# `relulint.weightnorm` (one list, so that every layer RL301 can recognise is captured as a layer).
WEIGHT_NAMES = frozenset(DIRECTION_NAMES)


GAIN_NAMES = frozenset(SCALE_NAMES)


CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def is_affine_leaf(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or custom_linear_weight(module) is not None


def has_forward(module: nn.Module) -> bool:
    """Whether the module's class defines a `forward` (containers such as `nn.ModuleList` do not)."""
    forward = getattr(type(module), "forward", None)
    unimplemented = getattr(nn.Module, "forward", None)
    return forward is not None and forward is not unimplemented


def is_leaf_module(module: nn.Module) -> bool:
    """Modules that are recorded as one call, not traced into.

    torch's own modules (except the containers `nn.Sequential`, `nn.ModuleList`, ...), every `nn.Linear`
    subclass, parametrized modules (new-style weight norm) and custom linear-like modules
    (`custom_linear_weight`).
    """
    if isinstance(module, CONTAINERS):
        return False
    if is_script_module(module) or isinstance(module, _ScriptCall):
        return True  # compiled: read from its TorchScript graph (`expand_scripts`)
    if isinstance(module, nn.Linear) or parametrize.is_parametrized(module):
        return True
    qual = type(module).__module__
    if qual.startswith(("torch.nn", "torch.ao.nn")):
        return True
    return custom_linear_weight(module) is not None


def custom_linear_weight(module: nn.Module) -> tuple[str, torch.Tensor] | None:
    """The (name, weight) of a user-defined linear-like module, else None.

    Linear-like: a module of the user's own (not torch's) with no submodules, exactly one 2-D parameter
    named like a weight (``weight``, ``weight_v``, ``w``, ``v``, ...; not a gain), and otherwise only
    biases, weight-norm gains (``g``, ``weight_g``, ``scale``, ...) and parameters of at most one dimension.
    """
    if type(module).__module__.startswith("torch.") or next(module.children(), None) is not None:
        return None
    params = list(module.named_parameters(recurse=False))
    weights = [(name, p) for name, p in params if p.dim() == 2 and _is_weight_name(name)]
    if len(weights) != 1:
        return None
    for name, p in params:
        if p is weights[0][1] or p.dim() <= 1:
            continue
        if p.dim() > 2 or not (name in GAIN_NAMES or "bias" in name.lower()):
            return None
    return weights[0]


def _is_weight_name(name: str) -> bool:
    return name not in GAIN_NAMES and ("weight" in name.lower() or name in WEIGHT_NAMES)


class _Locator:
    """Finds the innermost frame of the user's file on the current stack."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.real = os.path.realpath(path) if path else ""
        self._cache: dict[str, bool] = {}

    def matches(self, filename: str) -> bool:
        hit = self._cache.get(filename)
        if hit is None:
            hit = bool(self.real) and realpath(filename) == self.real
            self._cache[filename] = hit
        return hit

    def here(self, depth: int = 1) -> Location | None:
        frame: types.FrameType | None = sys._getframe(depth)
        while frame is not None:
            if self.matches(frame.f_code.co_filename):
                return Location(self.path, frame.f_lineno)
            frame = frame.f_back
        return None


def effective_leaves(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaf modules (`is_leaf_module`) not inside another leaf, in registration order.

    The root itself is never a leaf: like fx, the hooks capture records what its `forward` does.
    """
    out: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()

    def visit(prefix: str, parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if child is None or id(child) in seen:
                continue
            seen.add(id(child))
            qualname = f"{prefix}{name}"
            if is_leaf_module(child):
                out.append((qualname, child))
            else:
                visit(f"{qualname}.", child)

    visit("", module)
    return out


class _ScriptCall(nn.Module):
    """Stands in for a scripted submodule during the hooks capture (hooks cannot be set on one)."""

    def __init__(self, script: nn.Module) -> None:
        super().__init__()
        self.script = script

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.script(*args, **kwargs)
