"""The records of an audit: plain, frozen data that the rules read and the renderers write.

    checkpoint → weights loaded → activity over the data (per chain, per hidden layer) → output over the
    data → degenerate units on the weights → `AuditFacts` (on `ModelFacts.audit`) → RL501-RL503

Layer indices are 0-based positions among a chain's hidden (ReLU) layers, as `dead_layer` in the json.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerActivity:
    """One hidden ReLU layer over the audit's inputs.

    A unit is *dead* when its ReLU output is exactly zero on every input, *near dead* when it is not
    exactly zero somewhere but never exceeds `near_zero` (relative to the layer's largest output).
    `active_fraction[i]` is the fraction of inputs on which unit i is active (output > 0).
    """

    index: int  # 0-based among the chain's hidden layers
    module: str  # the Linear feeding the ReLU
    width: int
    dead_units: tuple[int, ...]  # exactly zero on every input
    near_dead_units: tuple[int, ...]  # not exactly zero, but ≤ near_zero × the layer's largest output
    active_fraction: tuple[float, ...]
    measured: bool = True  # False: relulint could not observe this layer (a reason in `note`)
    note: str | None = None

    @property
    def dead_fraction(self) -> float:
        return len(self.dead_units) / self.width if self.width else 0.0

    @property
    def all_dead(self) -> bool:
        """Zero on every input (`collapse` Lemma 1's layer)."""
        return self.measured and self.width > 0 and len(self.dead_units) == self.width

    @property
    def all_near_dead(self) -> bool:
        """Every unit dead or near dead, but not all exactly dead."""
        return (
            self.measured
            and not self.all_dead
            and self.width > 0
            and len(self.dead_units) + len(self.near_dead_units) == self.width
        )


@dataclass(frozen=True)
class ChainActivity:
    """The hidden layers of one ReLU chain over the inputs, and the first all-zero one."""

    index: int
    shape: str
    layers: tuple[LayerActivity, ...]
    bypassed: bool = False  # a skip connection goes around every ReLU layer (`Chain.bypassed`)

    @property
    def dead_layer(self) -> int | None:
        """0-based index of the first hidden layer zero on every input (`collapse` Lemma 1), or None."""
        return next((layer.index for layer in self.layers if layer.all_dead), None)

    @property
    def near_dead_layer(self) -> int | None:
        return next((layer.index for layer in self.layers if layer.all_near_dead), None)


@dataclass(frozen=True)
class Region:
    """Inputs on which the output is one constant (`collapse` Cor 6): their count, box and the constant."""

    count: int
    value: tuple[float, ...]
    low: tuple[float, ...]  # per input dimension: the smallest coordinate in the region
    high: tuple[float, ...]
    target_mean: tuple[float, ...] | None = None
    target_median: tuple[float, ...] | None = None


@dataclass(frozen=True)
class OutputFacts:
    """The network's output over the inputs, and how it compares with the targets (`collapse` Thm 4)."""

    std: float  # the largest per-output standard deviation over the inputs
    spread: float  # the largest per-output max − min
    constant: bool  # exactly the same output on every input
    near_constant: bool  # not exactly, but std ≤ NEAR_CONSTANT × scale
    value: tuple[float, ...]  # the mean output (the constant, when constant)
    target_mean: tuple[float, ...] | None = None
    target_median: tuple[float, ...] | None = None
    target_std: tuple[float, ...] | None = None
    matches: str | None = None  # "mean", "median" or None
    distance_mean: float | None = None  # |value − mean| / σ_y (largest over outputs)
    distance_median: float | None = None
    r2: float | None = None
    regions: tuple[Region, ...] = ()  # partial collapse (`collapse` Cor 6)
    tolerance: float | None = None  # the |value − statistic| / σ_y under which `matches` is set


@dataclass(frozen=True)
class Degeneracy:
    """A degenerate parametrization of one hidden layer (`degenerate` §2, Examples 2.2-2.5).

    `kind`: "zero-in" (incoming weights and bias zero), "zero-out" (outgoing weights zero), "redundant"
    (incoming rows positively parallel: they merge into one unit), "opposite" (anti-parallel rows with
    opposite outgoing weights: together a linear function), "unbalanced" (‖incoming‖ / ‖outgoing‖ far
    from 1; `scale` is the factor that balances it).
    """

    chain: int
    layer: int  # 0-based among the chain's hidden layers
    module: str
    kind: str
    units: tuple[int, ...]
    value: float | None = None  # cos for a pair, ‖in‖/‖out‖ for an unbalanced unit
    scale: float | None = None  # balancing factor s: incoming × s, outgoing ÷ s


@dataclass(frozen=True)
class AuditFacts:
    """Everything an audit found about one trained model (read by RL501-RL503)."""

    weights: str  # the checkpoint file (or "" when the model was audited as built)
    weights_key: str | None  # the key of the checkpoint dict holding the state dict, None: the file is one
    inputs: int
    data_source: str  # "data: x.npy" or "domain: 256 points uniform on [-1.732, 1.732]^1"
    chains: tuple[ChainActivity, ...]
    output: OutputFacts | None
    degenerate: tuple[Degeneracy, ...] = ()
    loss: str | None = None  # "mse", "mae" or None
    exact_two_layer: tuple[int, ...] = ()  # chains with one hidden layer: the `degenerate` checks are exact
    causes: tuple[str, ...] = ()  # architecture rules that predict the collapse ("RL101", ...)
