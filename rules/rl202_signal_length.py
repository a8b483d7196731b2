"""RL202 signal-length-decay: the init's variance shrinks (or blows up) the signal along a ReLU chain.

Theory: the length map of `collapse` Eq. 2–3 (= `dying` Thm 4.3 with symmetric weights),
E[q^l] = σ_w²/2 · E[q^{l−1}] + σ_b², with E[q^1] = σ_w² q^0 + σ_b²; He init (σ_w² = 2) keeps E[q] constant.
PyTorch's default `nn.Linear` init has σ_w² = 1/3, a factor 1/6 per layer. RAI layers follow their own
map (`rai_length_bounds`, `dying` Thm 4.3 / Eq. 4.2): every entry of [W, b] has the second moment
(μ₂ + σ_w²)/(fan_in + 1), the bias column included, so E[q] tends to a positive fixed point instead of
vanishing. The map runs over the hidden (ReLU) layers only: the output layer is not part of the signal
path that can die, and a deliberately small head (DDPG's ±3e-3, a gain-0.01 policy head, a zero init) is
good practice, not decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from relulint.chain_facts import init_label
from relulint.formatting import percent
from relulint.option_types import Number
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.dying import rai_entry_second_moment, rai_sigma_w


def weight_second_moment(layer: Layer) -> float | None:
    """fan_in · E[w²] of a layer's weights (σ_w² of `collapse` Eq. 2–3 when the law is centred)."""
    info = layer.weight_init
    if info is None or info.sigma2 is None or info.law == "unknown":
        return None  # no record and too few entries: a sample variance of 4 numbers is no measurement
    mean = info.mean or 0.0
    return info.sigma2 + layer.in_features * mean * mean


def bias_second_moment(layer: Layer) -> float:
    """E[b²] of a layer's biases (σ_b² of `collapse` Eq. 2–3; a constant c gives c²); 0 without a bias."""
    info = layer.bias_init
    if not layer.bias or info is None:
        return 0.0
    mean = info.mean or 0.0
    return (info.sigma2 or 0.0) + mean * mean


def rai_info(layer: Layer) -> InitInfo | None:
    """The layer's RAI record (`relulint.init.rai_` records law "rai" on the weight and the bias), if any.

    The bias record is consulted too: a fingerprint may re-label the weights "custom" (an asymmetric law)
    while the recorded RAI bias still says what drew the row.
    """
    for info in (layer.weight_init, layer.bias_init):
        if info is not None and info.law == "rai":
            return info
    return None


def layer_factor(layer: Layer, first: bool) -> float | None:
    """The layer's factor on E[q]: σ_w² for the chain's first layer (its input is not rectified), σ_w²/2 after
    a ReLU (`collapse` Eq. 3); for RAI layers the upper factor of `rai_length_bounds` (fan_in · m₂). None
    for a sum of layers (`Layer.summed_with`): its parts read inputs of different lengths, so no claim."""
    if layer.summed_with:
        return None
    if rai_info(layer) is not None and not first:
        return rai_length_bounds(layer, previous_rai=True)[1]
    s2 = weight_second_moment(layer)
    if s2 is None:
        return None
    return s2 if first else s2 / 2.0


def rai_length_bounds(layer: Layer, previous_rai: bool) -> tuple[float, float, float]:
    """RAI's length map for one layer after a ReLU: ``(a_low, a_high, s)`` with
    ``a_low·E[q] + s ≤ E[q'] ≤ a_high·E[q] + s`` (`dying` Thm 4.3, Eq. 4.2; §4.1 / Appendix G's sampler).

    RAI draws one entry per row of ``V = [W, b]`` (``C = fan_in + 1`` columns, ``fan_in`` without a bias)
    from the law P (moments μ₁, μ₂) and the others from N(0, σ_w²/fan_in), at a uniform column; so every
    entry has the second moment ``m₂ = μ₂/C + (C − 1)/C · σ_w²/fan_in`` (= (μ₂ + σ_w²)/(fan_in + 1) with a
    bias, the σ_b² of Cor. 4.4) and two entries of a row are uncorrelated (one of them is a centred
    Gaussian). Hence, exactly, ``E[q'] = m₂ (E|relu(h)|² + 1_bias)`` for the previous pre-activations h.
    ``E[relu(h_j)²]`` is ``E[h_j²]/2`` when h is symmetric (the previous layer is not RAI: RAI's first
    layer is He) and between ``E[h_j²]/2`` and ``E[h_j²]`` after a RAI layer (its row is a centred Gaussian
    plus a nonnegative term; Thm 4.3's A_low uses the 1/2): ``a_low = m₂ fan_in / 2`` and ``a_high`` is
    the same or ``m₂ fan_in``. The paper's own upper factor A_upp/2 = N/(N + 1) (Cor. 4.4) is looser.
    """
    info = rai_info(layer)
    assert info is not None
    sigma_w = float(info.args.get("sigma_w", rai_sigma_w()))
    mu2 = float(info.args.get("mu2", 0.5))
    n = layer.in_features
    m2 = rai_entry_second_moment(n, sigma_w, mu2, bias=layer.bias)
    a_low = m2 * n / 2.0
    a_high = m2 * n if previous_rai else a_low
    return a_low, a_high, (m2 if layer.bias else 0.0)


#: a shrinking signal counts when the input's share of the output's E[q] falls below this (biases dominate)
MAX_BIAS_SHARE = 0.01


def unnormalized_runs(chain: Chain) -> list[list[int]]:
    """Indices of the chain's layers in runs between normalizations.

    A norm (BatchNorm, LayerNorm, GroupNorm) between a Linear and its ReLU, or after the ReLU, sets the
    scale of what the next layer sees whatever came before, so the length map (`collapse` Eq. 2–3)
    restarts after it: the signal can only shrink or grow within a run of unnormalized layers.
    """
    runs: list[list[int]] = []
    current: list[int] = []
    for i, layer in enumerate(chain.layers):
        if layer.norm is not None:
            if current:
                runs.append(current)
            current = []
            continue
        current.append(i)
        if layer.norm_after is not None:  # Linear → ReLU → LayerNorm: the next layer starts afresh
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def hidden_runs(chain: Chain) -> list[list[int]]:
    """`unnormalized_runs` over the hidden (ReLU) layers only: the output layer is not on the signal path
    that can die, and a small head (DDPG's ±3e-3, SB3's gain 0.01, a zero init) is by design."""
    runs = [[i for i in run if chain.layers[i].activation == "relu"] for run in unnormalized_runs(chain)]
    return [run for run in runs if run]


def rai_q_range(chain: Chain, run: list[int], factors: list[float | None]) -> tuple[float, float]:
    """E[q] at the end of a run with RAI layers, from q⁰ = 1: the lower and upper ends of the map
    (`rai_length_bounds` for RAI layers after the first, `collapse` Eq. 2–3 for the others)."""
    low = high = 1.0
    for i in run:
        layer = chain.layers[i]
        if i > 0 and rai_info(layer) is not None:
            previous_rai = rai_info(chain.layers[i - 1]) is not None and i - 1 > 0
            a_low, a_high, s = rai_length_bounds(layer, previous_rai)
        else:
            a_low = a_high = float(factors[i])  # type: ignore[arg-type]
            s = bias_second_moment(layer)
        low, high = a_low * low + s, a_high * high + s
    return low, high


def show_factor(f: float) -> str:
    if f <= 0:
        return "×0"
    if f < 1:
        return f"×1/{1 / f:.3g}"
    return f"×{f:.3g}"


class SignalLengthDecay(Rule):
    code = "RL202"
    name = "signal-length-decay"
    severity = Severity.WARNING
    groups = ("initialization",)
    summary = "The init's weight variance shrinks (or blows up) the signal along a ReLU chain by more than `factor`."
    what = """
        Follows the expected squared length of the signal through each ReLU chain with the length map of
        `collapse` Eq. 2–3, E[q^l] = σ_w²/2 · E[q^{l−1}] + σ_b², using every layer's σ_w² = fan_in · Var(W)
        as relulint recorded or fingerprinted it. It fires when the input's contribution changes by more
        than `factor` (default 10³) between the chain's input and its output: when it grows, always; when
        it shrinks, if the chain has no biases (the whole signal vanishes) or if the biases then dominate
        the output's E[q] (the input accounts for less than 1 % of it: the network is nearly constant).
        A signal that shrinks while still carrying the input (wide layers with PyTorch's small default
        biases) is a global scale that adaptive optimizers undo, and is not reported. A normalization
        before or after a ReLU restarts the map.

        The map runs over the hidden (ReLU) layers only, from the chain's input to its last ReLU layer:
        the output layer after the last ReLU is not counted. A deliberately small output layer — DDPG's
        final layer drawn from ±3e-3, a policy head with orthogonal gain 0.01, a zero-initialized head —
        is good practice for actors and critics, not a decaying signal.

        Layers initialized by RAI (`relulint.init.apply_rai`, recorded as law "rai") follow RAI's own
        map (`dying` Thm 4.3, Eq. 4.2): every entry of [W, b], bias column included, has the second
        moment (μ₂ + σ_w²)/(fan_in + 1), so E[q] tends to a positive fixed point instead of vanishing;
        relulint bounds E[q] between the rectified-half and the unrectified ends of that map and reports
        only when the whole range is beyond `factor`. The message gives the
        per-layer factor, the total, how much of the output's E[q] still comes from the input rather
        than from the biases, and the init that keeps E[q] constant (He: σ_w² = 2).
    """
    why = """
        With PyTorch's default `nn.Linear` init (`kaiming_uniform_(a=√5)`, σ_w² = 1/3) the signal shrinks
        by 1/6 per ReLU layer (`collapse` Eq. 3): after a few layers the output is set by the biases and
        hardly depends on the input, so the network is nearly constant at initialization even when it is
        not born dead, and gradients vanish the same way. A variance above 2 blows the signal up instead.
        He initialization, σ_w² = 2, is the fixed point that keeps E[q] constant (`collapse` Eq. 3);
        RAI keeps it bounded with A_upp/2 = N/(N + 1) (`dying` Thm 4.3, Cor. 4.4, Eq. 4.2).
    """
    options = (
        RuleOption(
            "factor",
            1e3,
            "largest acceptable change of the signal length across a chain (either way)",
            kind=Number(low=1.0, low_open=True),  # the band [1/factor, factor] must hold 1: factor > 1
        ),
    )
    references = (
        "Lu, Su, Karniadakis. Collapse of deep and narrow neural nets (`collapse`): Eq. 2–3.",
        "Lu, Shin, Su, Karniadakis. Dying ReLU and initialization (`dying`): Thm 4.3, Cor. 4.4, Eq. 4.2.",
        "He, Zhang, Ren, Sun. Delving deep into rectifiers (2015): σ_w² = 2 for ReLU.",
    )
    INVALID = (
        Case(
            title="PyTorch's default init on a 6-layer MLP: the signal shrinks ×1/6 per layer",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 64, depth: int = 6):
                        super().__init__()
                        self.first = nn.Linear(8, width)  # expect: RL202
                        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
                        self.out = nn.Linear(width, 1)

                    def forward(self, x):
                        x = torch.relu(self.first(x))
                        for layer in self.hidden:
                            x = torch.relu(layer(x))
                        return self.out(x)
            """,
        ),
        Case(
            title="A normal init with a fixed std of 1 blows the signal up",
            code="""
                from torch import nn


                def Net():
                    layers = []
                    for i in range(4):
                        layer = nn.Linear(16 if i == 0 else 128, 128)  # expect: RL202
                        nn.init.normal_(layer.weight, std=1.0)
                        layers += [layer, nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(128, 1))
            """,
        ),
    )
    VALID = (
        Case(
            title="He init keeps E[q] constant",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self, width: int = 64, depth: int = 6):
                        super().__init__()
                        self.first = nn.Linear(8, width)
                        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
                        self.out = nn.Linear(width, 1)
                        for layer in [self.first, *self.hidden, self.out]:
                            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                            nn.init.zeros_(layer.bias)

                    def forward(self, x):
                        x = torch.relu(self.first(x))
                        for layer in self.hidden:
                            x = torch.relu(layer(x))
                        return self.out(x)
            """,
        ),
        Case(
            title="BatchNorm before each ReLU resets the length map: the default init does not decay",
            code="""
                from torch import nn


                def Net(width: int = 64, depth: int = 12):
                    layers = []
                    for i in range(depth):
                        layers += [nn.Linear(8 if i == 0 else width, width), nn.BatchNorm1d(width), nn.ReLU()]
                    return nn.Sequential(*layers, nn.Linear(width, 1))
            """,
        ),
        Case(
            title="A shallow MLP with the default init stays within the factor",
            code="""
                from torch import nn


                def Net():
                    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
            """,
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        limit = float(ctx.option(type(self), "factor"))
        for chain in facts.chains:
            if not chain.hidden or chain.bypassed:
                continue  # a residual branch: the skip carries the input, the network is not constant
            factors = [layer_factor(layer, first=i == 0) for i, layer in enumerate(chain.layers)]
            runs = hidden_runs(chain)
            if not runs or any(factors[i] is None for run in runs for i in run):
                continue  # an init relulint could not measure: no claim
            found = []
            for run in runs:
                known = [float(factors[i]) for i in run]  # type: ignore[arg-type]
                details = self.details(
                    chain, known, math.prod(known), limit, layers=[chain.layers[i] for i in run]
                )
                details["normalized"] = len(run) < chain.depth
                if any(rai_info(chain.layers[i]) is not None for i in run if i > 0):
                    low, high = rai_q_range(chain, run, factors)
                    details.update(rai=True, q_out_range=[low, high])
                    if high < 1.0 / limit or low > limit:  # even the map's most favourable end is beyond
                        found.append((abs(math.log(max(high if high < 1 else low, 1e-300))), details))
                    continue
                total, share = details["total"], details["input_share"]
                if 1.0 / limit <= total <= limit:
                    continue
                biased = details["q_out"] > total  # some bias adds to E[q] along the run
                if total < 1.0 / limit and biased and share is not None and share >= MAX_BIAS_SHARE:
                    # the signal is small but still the input's: no constant network (wide layers with
                    # PyTorch's small default biases); adaptive optimizers undo a global scale
                    continue
                found.append((abs(math.log(max(total, 1e-300))), details))
            if not found:
                continue
            details = max(found, key=lambda item: item[0])[1]
            yield self.finding(
                facts,
                self.message(chain, details),
                chain=chain,
                fix="nn.init.kaiming_normal_(w, nonlinearity='relu') (σ_w² = 2) for every Linear of the chain, "
                "or relulint.init.apply_rai(model) for deep, narrow chains",
                details=details,
            )

    @staticmethod
    def details(
        chain: Chain, factors: list[float], total: float, limit: float, layers: list[Layer] | None = None
    ) -> dict:
        """Per-layer factors, total, and the share of the output's E[q] that still comes from the input."""
        layers = list(chain.layers) if layers is None else layers
        q = 1.0  # q^0 = |x|²/d_in = 1 (standardized inputs)
        for layer, factor in zip(layers, factors, strict=True):
            q = factor * q + bias_second_moment(layer)
        inits = [layer.weight_init for layer in layers if layer.weight_init is not None]
        return {
            "factors": factors,
            "total": total,
            "factor": limit,
            "input_share": total / q if q > 0 else None,
            "q_out": q,
            "init": list(dict.fromkeys(init_label(info) for info in inits)),
            "sigma_w2": [weight_second_moment(layer) for layer in chain.layers],
        }

    @staticmethod
    def message(chain: Chain, d: dict) -> str:
        after = d["factors"][1:] or d["factors"]
        if max(after) - min(after) <= 1e-9 * max(after):
            per_layer = f"{show_factor(after[0])} per ReLU layer"
        else:
            per_layer = f"{show_factor(min(after))} to {show_factor(max(after))} per ReLU layer"
        if d.get("rai"):
            low, high = d["q_out_range"]
            direction = "shrinks" if high < 1 else "grows"
            return (
                f"ReLU chain {chain.shape} ({', '.join(d['init'])}): under RAI's length map (dying Thm 4.3, "
                f"Eq 4.2) the signal length E[q] {direction} to between {show_factor(low)} and {show_factor(high)} "
                f"of the input's across its {len(d['factors'])} ReLU layers (limit ×{d['factor']:g}): the law P "
                "or σ_w of this RAI does not keep E[q] bounded (Eq 4.2 makes A_upp/2 = N/(N + 1))."
            )
        direction = "shrinks" if d["total"] < 1 else "grows"
        text = (
            f"ReLU chain {chain.shape} ({', '.join(d['init'])}): the signal length E[q] {direction} {per_layer} "
            f"(collapse Eq 2–3, σ_w²/2 per layer), {show_factor(d['total'])} across "
            + (
                f"{len(d['factors'])} ReLU layers between normalizations"
                if d.get("normalized")
                else f"its {len(d['factors'])} ReLU layers"
            )
            + f" (limit ×{d['factor']:g})."
        )
        share = d["input_share"]
        if d["total"] < 1 and share is not None and share < 0.5:
            text += (
                f" The biases dominate: the input accounts for {percent(share)} of E[q] at the last ReLU layer, so the "
                "network is nearly constant at initialization even when it is not born dead."
            )
        text += " He init (σ_w² = 2, nn.init.kaiming_normal_(w, nonlinearity='relu')) keeps E[q] constant."
        return text
