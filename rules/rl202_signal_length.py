"""RL202 signal-length-decay: the init's variance shrinks (or blows up) the signal along a ReLU chain.

Theory: the length map of `collapse` Eq. 2–3 (= `dying` Thm 4.3 with symmetric weights),
E[q^l] = σ_w²/2 · E[q^{l−1}] + σ_b², with E[q^1] = σ_w² q^0 + σ_b²; He init (σ_w² = 2) keeps E[q] constant.
PyTorch's default `nn.Linear` init has σ_w² = 1/3, a factor 1/6 per layer. Under RAI the factor is at most
A_upp/2 = N/(N + 1) (`dying` Cor. 4.4 with σ_w from Eq. 4.2).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from relulint.facts import Chain, Finding, Layer, ModelFacts, Severity
from relulint.formatting import percent
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.summary import init_label
from relulint.theory.dying import rai_length_map_coefficients


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


def layer_factor(layer: Layer, first: bool) -> float | None:
    """The layer's factor on E[q]: σ_w² for the chain's first layer (its input is not rectified), σ_w²/2 after
    a ReLU (`collapse` Eq. 3); for RAI layers the upper factor A_upp/2 of `dying` Cor. 4.4."""
    info = layer.weight_init
    if info is not None and info.law == "rai" and not first:
        sigma_w = float(info.args.get("sigma_w", 0.6007))
        mu1, mu2 = float(info.args.get("mu1", 2 / 3)), float(info.args.get("mu2", 0.5))
        _, upper, _ = rai_length_map_coefficients(layer.in_features, sigma_w, mu1, mu2)
        return upper
    s2 = weight_second_moment(layer)
    if s2 is None:
        return None
    return s2 if first else s2 / 2.0


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
        before or after a ReLU restarts the map. The message gives the
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
            "factor", 1e3, "largest acceptable change of the signal length across a chain (either way)"
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
            runs = unnormalized_runs(chain)
            if not runs or any(factors[i] is None for run in runs for i in run):
                continue  # an init relulint could not measure: no claim
            per_run = [[float(factors[i]) for i in r] for r in runs]  # type: ignore[arg-type]
            totals = [math.prod(f) for f in per_run]
            worst = max(range(len(runs)), key=lambda k: abs(math.log(max(totals[k], 1e-300))))
            run, known, total = runs[worst], per_run[worst], totals[worst]
            if 1.0 / limit <= total <= limit:
                continue
            details = self.details(chain, known, total, limit, layers=[chain.layers[i] for i in run])
            details["normalized"] = len(run) < len(chain.layers)
            share = details["input_share"]
            biased = details["q_out"] > total  # some bias adds to E[q] along the run
            if total < 1.0 / limit and biased and share is not None and share >= MAX_BIAS_SHARE:
                # the signal is small but still the input's: no constant network (wide layers with
                # PyTorch's small default biases); adaptive optimizers undo a global scale
                continue
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
        direction = "shrinks" if d["total"] < 1 else "grows"
        text = (
            f"ReLU chain {chain.shape} ({', '.join(d['init'])}): the signal length E[q] {direction} {per_layer} "
            f"(collapse Eq 2–3, σ_w²/2 per layer), {show_factor(d['total'])} across "
            + (
                f"{len(d['factors'])} layers between normalizations"
                if d.get("normalized")
                else f"its {len(d['factors'])} layers"
            )
            + f" (limit ×{d['factor']:g})."
        )
        share = d["input_share"]
        if d["total"] < 1 and share is not None and share < 0.5:
            text += (
                f" The biases dominate: the input accounts for {percent(share)} of E[q] at the chain's output, so the "
                "network is nearly constant at initialization even when it is not born dead."
            )
        text += " He init (σ_w² = 2, nn.init.kaiming_normal_(w, nonlinearity='relu')) keeps E[q] constant."
        return text
