"""The ``registration`` capture: the leaf modules in registration order, chained linearly.

The last fallback of `relulint.capture` (no `forward`, or forward fails on every example input); the
functional ReLUs are read from the source of `forward` (`capture_source.functional_relu_leaves`).
"""

from __future__ import annotations

from torch import nn

from relulint.capture_leaves import custom_linear_weight, effective_leaves
from relulint.capture_source import functional_relu_leaves
from relulint.records.captured import Capture, Node, NodeKind


def _interleave_parallel_lists(
    leaves: list[tuple[str, nn.Module]],
) -> tuple[list[tuple[str, nn.Module]], bool]:
    """``L1 … Lk A1 … Ak`` → ``L1 A1 … Lk Ak``: a run of k Linears registered right before a run of k
    activations (``self.linears = ModuleList(...)``, ``self.acts = ModuleList(...)``) is read as k layers,
    not as k − 1 bare Linears and one layer. Returns the leaves and whether anything was interleaved."""
    out: list[tuple[str, nn.Module]] = []
    changed, i = False, 0
    while i < len(leaves):
        j = i
        while j < len(leaves) and isinstance(leaves[j][1], nn.Linear):
            j += 1
        k = j - i
        acts = leaves[j : j + k]
        if k >= 2 and len(acts) == k and all(_is_activation(m) for _, m in acts):
            for pair in zip(leaves[i:j], acts, strict=True):
                out += pair
            changed, i = True, j + k
        else:
            out += leaves[i : max(j, i + 1)]
            i = max(j, i + 1)
    return out, changed


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU))


def registration_capture(module: nn.Module, reason: str, gap: str | None = None) -> Capture:
    """The leaf modules in registration order, chained linearly between one input and the output.

    A leaf whose output the source passes to a functional ReLU (`capture_source.functional_relu_leaves`)
    is followed by a ``relu`` FUNCTION node. `gap` says why the graph may be incomplete (`Capture.gaps`).
    """
    nodes = [Node(0, NodeKind.INPUT, "input")]
    leaves, interleaved = _interleave_parallel_lists(effective_leaves(module))
    if interleaved:
        reason += "; parallel lists of Linears and activations were read as alternating layers"
    try:
        relus = functional_relu_leaves(module)
    except Exception:  # noqa: BLE001 - reading the source is best effort
        relus = set()
    added, width = 0, None
    for index, (qualname, leaf) in enumerate(leaves):
        sizes = _affine_sizes(leaf)
        # a Linear that cannot take the previous one's output starts a new branch from the input
        # (DeepONet: the trunk registered after the branch)
        source = 0 if sizes is not None and width is not None and sizes[0] != width else len(nodes) - 1
        width = sizes[1] if sizes is not None else width
        nodes.append(Node(len(nodes), NodeKind.MODULE, qualname, (source,)))
        following = leaves[index + 1][1] if index + 1 < len(leaves) else None
        if qualname in relus and not (following is not None and _is_activation(following)):
            nodes.append(Node(len(nodes), NodeKind.FUNCTION, "relu", (len(nodes) - 1,)))
            added += 1
    nodes.append(Node(len(nodes), NodeKind.OUTPUT, "output", (len(nodes) - 1,)))
    if added:
        reason += f"; {added} functional ReLU{'s' if added > 1 else ''} read from the source"
    return Capture(method="registration", nodes=tuple(nodes), reason=reason, gaps=(gap,) if gap else ())


def _affine_sizes(leaf: nn.Module) -> tuple[int, int] | None:
    """(in, out) of an nn.Linear or custom linear-like layer, else None."""
    if isinstance(leaf, nn.Linear) and isinstance(getattr(leaf, "in_features", None), int):
        return leaf.in_features, leaf.out_features
    custom = custom_linear_weight(leaf)
    if custom is not None:
        return int(custom[1].shape[1]), int(custom[1].shape[0])
    return None
