"""The records of the capture stage: the model's forward pass as a graph of `Node`s.

    LoadedModel ──capture──► Capture (Node…, NodeKind)

Made by `relulint.capture` (torch.fx, forward hooks, TorchScript or the registration order, one
`relulint.capture_*` module per method) and normalised over the methods; read by `relulint.extract`
(the ReLU chains) and `relulint.graph` (`ModelGraph`, the graph as the rules see it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relulint.records.location import Location


class NodeKind(str, enum.Enum):
    INPUT = "input"  # a forward argument
    MODULE = "module"  # a submodule call; `target` is its qualified name
    FUNCTION = "function"  # torch / F / operator function; `target` is the function's short name
    METHOD = "method"  # tensor method; `target` is the method name
    OUTPUT = "output"


@dataclass(frozen=True)
class Node:
    """One operation of the captured forward pass, normalised over the capture methods."""

    id: int
    kind: NodeKind
    target: str  # qualified module name, or function / method name ("relu", "clamp", "add", "cat", ...)
    inputs: tuple[int, ...] = ()  # ids of nodes whose outputs this node consumes
    args: Mapping[str, Any] = field(default_factory=dict)  # literal (non-tensor) arguments, e.g. {"min": 0}
    location: Location | None = None  # the line in the user's forward, when known


@dataclass(frozen=True)
class Capture:
    """The model's forward pass as a graph of `Node`s, and how it was obtained."""

    method: str  # "fx", "hooks", "torchscript" or "registration"
    nodes: tuple[Node, ...]
    reason: str | None = None  # why a fallback was used (None for fx)
    notes: tuple[str, ...] = ()  # what else the capture saw, e.g. a depth that changes from call to call
    gaps: tuple[str, ...] = ()  # why the graph may be incomplete (RL902), each naming the flag that helps

    @property
    def degraded(self) -> bool:
        return self.method != "fx"
