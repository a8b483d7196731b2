"""`ModelFacts`, everything the rules read about one model, and the records it is made of.

    Capture ──extract──► Chain (Layer, InitInfo) ┐
            ──graph────► ModelGraph (GraphNode)  ├──► ModelFacts ──rules──► Finding
    TrainingFacts (relulint.training), ProbeResult (relulint.probe) ┘

`Chain`, `Layer` and `InitInfo` come from `relulint.extract` (inits from `relulint.init_fingerprint` and
`relulint.init_reconcile`), `ModelGraph` / `GraphNode` / `GRAPH_ROLES` from `relulint.graph`,
`TrainingFacts` from `relulint.training` and the options, `ProbeResult` from `relulint.probe`;
`relulint.api` assembles `ModelFacts`. Read by the rules (`rules/`), `relulint.chain_facts`,
`relulint.verdict` and the renderers. Plain data, no torch object.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relulint.records.loaded import InitEvent
from relulint.records.location import Location


@dataclass(frozen=True)
class InitInfo:
    """What relulint knows of how one parameter was initialized (`relulint.init_reconcile`).

    `law` is the resolved initializer family: "pytorch-default", "kaiming-normal", "kaiming-uniform",
    "xavier-normal", "xavier-uniform", "lecun", "normal", "uniform", "trunc-normal", "orthogonal",
    "constant", "zeros", "rai", "custom", "unknown". `symmetric` says whether the law is symmetric about
    zero (the hypothesis of `collapse` Thm 8). `sigma2` is fan_in · Var(W) for weights (σ_w²) and Var(b)
    for biases (σ_b²); `mean` the mean of the entries.
    """

    law: str
    symmetric: bool | None
    sigma2: float | None = None
    mean: float | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "fingerprint"  # "recorded", "fingerprint" or "reconciled"
    note: str | None = None  # e.g. why the fingerprint overrode the record
    location: Location | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"law": self.law, "symmetric": self.symmetric, "origin": self.origin}
        if self.sigma2 is not None:
            out["sigma2"] = self.sigma2
        if self.mean is not None:
            out["mean"] = self.mean
        if self.args:
            out["args"] = dict(self.args)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Layer:
    """One affine layer of a chain and what follows it up to its activation."""

    module: str  # qualified name of the Linear ("" for a functional layer)
    in_features: int
    out_features: int
    bias: bool
    activation: str | None  # "relu" for a hidden layer; None for the linear output layer; or the ending act
    norm: str | None = None  # "batchnorm", "layernorm", "groupnorm", "instancenorm" before the ReLU
    norm_training: bool = True  # BatchNorm uses batch statistics (training mode)
    norm_after: str | None = None  # a normalization after the ReLU, before the next layer (resets the scale)
    weight_norm: str | None = None  # "weight_norm" (old API), "parametrize" (new API), "custom"
    dropout: bool = False
    location: Location | None = None
    weight_init: InitInfo | None = None
    bias_init: InitInfo | None = None
    # features one statistic of `norm` is taken over (LayerNorm: its normalized shape, GroupNorm: channels
    # per group); None when unknown or over the batch (BatchNorm). A norm over a single feature outputs its
    # bias β for every input: it protects nothing (`relulint.chain_facts.degenerate_norm`).
    norm_features: int | None = None
    # the input→output routes ("x→output") every path of which crosses this layer's ReLU, so that its death
    # for every input leaves that output constant in that input (`collapse` Lemma 1; `relulint.paths`).
    # () when a path avoids it (a skip connection); None when not analysed: the chain is judged alone.
    routes: tuple[str, ...] | None = None
    # the other affine layers whose outputs are added to this one's before the activation (``relu(a(x) +
    # b(y))``: a GraphSAGE layer, a projection shortcut, two branches of one block): with them it is one
    # layer of width `out_features` whose pre-activation is the sum. Each unit's pre-activation is still
    # symmetric given the inputs, which is all `collapse` Thm 8's per-layer 2^-N needs; the rules that read
    # weight laws take every part into account or make no claim. () for a plain layer.
    summed_with: tuple[Layer, ...] = ()


@dataclass(frozen=True)
class Chain:
    """A pure feed-forward run Linear → (norm / dropout) → ReLU → … (`collapse` Fig. 1).

    `layers` lists every affine layer; the hidden ones (followed by a ReLU) come first. `depth` counts
    ReLU layers (the convention of `collapse` Thm 8 / Eq. 5).
    """

    index: int
    layers: tuple[Layer, ...]
    input_dim: int
    output_dim: int
    end: str  # "output", "residual", "add", "concat", "activation:<name>", "other"
    location: Location | None = None
    # every input→output path can avoid every ReLU layer of the chain (a skip connection goes around it,
    # whatever sits on either path: every hidden layer has `routes == ()`): if it dies the network still
    # carries the input, so it is not born dead (`collapse` Lemma 1 needs a zero layer on every path)
    bypassed: bool = False

    @property
    def hidden(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.activation == "relu")

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return tuple(layer.out_features for layer in self.hidden)

    @property
    def depth(self) -> int:
        return len(self.hidden)

    @property
    def relu_on_last(self) -> bool:
        return bool(self.layers) and self.layers[-1].activation == "relu"

    @property
    def has_bias(self) -> bool:
        return any(layer.bias for layer in self.hidden)

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(layer.module for layer in self.layers)

    @property
    def shape(self) -> str:
        """`1 → 10×10 → 1`-style summary; stable, so baselines can fingerprint it."""
        widths = self.hidden_widths
        if widths and len(set(widths)) == 1:
            hidden = f"{widths[0]}×{len(widths)}"
        else:
            hidden = "-".join(str(w) for w in widths) or "·"
        return f"{self.input_dim} → {hidden} → {self.output_dim}"


@dataclass(frozen=True)
class TrainingFacts:
    """What relulint knows about how the model is trained (`momentum`; all optional)."""

    target_std: float | None = None
    target_source: str | None = None  # where target_std came from (a file, config, the command line)
    optimizer: str | None = None  # "sgd", "adam", "adamw", "rmsprop", ...
    lr: float | None = None
    momentum: float | None = None  # SGD momentum / RMSprop momentum
    betas: tuple[float, float] | None = None  # Adam(W)
    dampening: float | None = None
    nesterov: bool | None = None
    location: Location | None = None  # where the optimizer is constructed, when found in a script
    notes: tuple[str, ...] = ()
    # where each optimizer value came from, as (field, source) pairs: "cli", "config", "script" (a literal
    # at `location`), "default" (PyTorch's default for an argument the script call does not write),
    # "unknown" (written at `location`, not a literal) or "unknown-starred" (may be set through
    # *args / **kwargs).  A set field with no entry counts as "config" (explicit).  relulint.training.
    sources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """The Monte-Carlo estimate of a chain's born-dead probability (`dying` Eq. 3.1)."""

    samples: int
    born_dead: int
    ci: tuple[float, float]
    near_constant: int
    device: str
    seconds: float
    method: str = ""  # "batched", "reinstantiate", "exact-2-point", ...
    dead_unit_fraction: tuple[float, ...] = ()
    init: str = "recorded"  # "recorded" or "rai" (with --compare rai)
    notes: tuple[str, ...] = ()
    samples_requested: int = (
        0  # --samples; more than `samples` where --timeout stopped the probe (0: the same)
    )

    @property
    def estimate(self) -> float:
        return self.born_dead / self.samples if self.samples else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "samples_requested": self.samples_requested or self.samples,
            "born_dead": self.born_dead,
            "estimate": self.estimate,
            "ci": list(self.ci),
            "near_constant": self.near_constant,
            "device": self.device,
            "seconds": self.seconds,
            "method": self.method,
            "dead_unit_fraction": list(self.dead_unit_fraction),
            "init": self.init,
            "notes": list(self.notes),
        }


GRAPH_ROLES = (
    "input",  # a forward argument
    "output",  # what forward returns
    "linear",  # nn.Linear, a custom linear-like module, a 1×1 convolution, F.linear
    "relu",  # every spelling of max(x, 0) (`relulint.extract`'s list: nn.ReLU, F.relu, clamp(min=0), ...)
    "activation",  # any other activation; `GraphNode.name` says which ("sigmoid", "tanh", "gelu", ...)
    "norm",  # batchnorm, layernorm, groupnorm, instancenorm, rmsnorm (`GraphNode.name`)
    "dropout",
    "transparent",  # views, reshapes, dtype casts, nn.Identity, a slice, x * 2: the values pass through
    "residual",  # an add / sub of two different tensors
    "concat",  # cat / stack of two or more tensors
    "other",  # anything else (a container module called as one, an embedding, a matmul, ...)
)


@dataclass(frozen=True)
class GraphNode:
    """One operation of the captured forward pass as the rules see it (`ModelGraph`): plain data.

    `role` is one of `GRAPH_ROLES`, decided by the same vocabulary that finds the ReLU chains
    (`relulint.node_roles.classify`); `name` refines it ("sigmoid" for an activation, "layernorm" for a norm,
    "add" for a residual, the class or function name for "other"). `module` / `module_type` name the
    submodule a module call runs (qualified name, class name); `args` holds its literal arguments only
    (numbers, strings, booleans, None and tuples of them), never a tensor.
    """

    id: int
    kind: str  # "input", "module", "function", "method", "output" (`NodeKind`)
    target: str  # the module's qualified name, or the function / method name ("relu", "add", "cat", ...)
    role: str
    name: str = ""
    inputs: tuple[int, ...] = ()  # ids of the nodes whose outputs this node consumes, in argument order
    module: str | None = None
    module_type: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    location: Location | None = None  # the line in the user's code, when known


@dataclass(frozen=True)
class ModelGraph:
    """The captured forward pass (`Capture`) as `GraphNode`s in forward order, for rules about something
    other than ReLU chains (`ModelFacts.graph`). Built by `relulint.graph.model_graph`."""

    method: str = ""  # the capture method: "fx", "hooks", "torchscript" or "registration"
    nodes: tuple[GraphNode, ...] = ()

    @functools.cached_property
    def _by_id(self) -> dict[int, GraphNode]:
        return {node.id: node for node in self.nodes}

    @functools.cached_property
    def _consumers(self) -> dict[int, tuple[GraphNode, ...]]:
        users: dict[int, list[GraphNode]] = {}
        for node in self.nodes:
            for source in dict.fromkeys(node.inputs):
                users.setdefault(source, []).append(node)
        return {source: tuple(found) for source, found in users.items()}

    def node(self, node_id: int) -> GraphNode:
        return self._by_id[node_id]

    def inputs(self, node: GraphNode) -> tuple[GraphNode, ...]:
        """The nodes `node` reads, in argument order (each once)."""
        return tuple(self._by_id[i] for i in dict.fromkeys(node.inputs) if i in self._by_id)

    def consumers(self, node: GraphNode) -> tuple[GraphNode, ...]:
        """The nodes that read `node`'s output, in forward order."""
        return self._consumers.get(node.id, ())

    def with_role(self, role: str, name: str | None = None) -> tuple[GraphNode, ...]:
        """Every node of `role` (and `name`, when given), in forward order."""
        return tuple(n for n in self.nodes if n.role == role and (name is None or n.name == name))


@dataclass(frozen=True)
class ModelFacts:
    """Everything the rules read about one model: its chains, their inits, the captured graph (`graph`)
    and the training set-up."""

    target: str
    name: str
    path: str
    location: Location
    capture_method: str
    capture_reason: str | None
    chains: tuple[Chain, ...]
    training: TrainingFacts = field(default_factory=TrainingFacts)
    probes: Mapping[int, ProbeResult] = field(default_factory=dict)  # chain index → probe
    compare_probes: Mapping[int, ProbeResult] = field(default_factory=dict)  # chain index → RAI probe
    init_events: tuple[InitEvent, ...] = ()
    capture_notes: tuple[str, ...] = ()  # `Capture.notes`
    capture_gaps: tuple[str, ...] = ()  # `Capture.gaps`: the verdict may be incomplete (RL902)
    graph: ModelGraph = field(default_factory=ModelGraph)  # every node of the forward pass, as plain data
    audit: Any = None  # `relulint.audit.records.AuditFacts` after `relulint audit` (RL501-RL503); else None
