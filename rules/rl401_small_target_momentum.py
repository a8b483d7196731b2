"""RL401 small-target-variance-with-momentum: small targets plus an oscillating momentum optimizer kill ReLUs.

Theory: `momentum` (Arnekvist, Carvalho, Kragic, Stork) Eq. 1 (target normalization, scale γ), Eq. 6-7 (the
momentum update), Eq. 19-20 (gradient descent on the affine model as a linear system with matrix A; complex
eigenvalues ⇒ oscillation, β ≳ 0.7 at η = 0.1), Eq. 15/23 (the dead cone), §5-6 (small γ with momentum ⇒
more dead ReLUs; deeper nets worse).  The per-optimizer matrices are derived in `relulint.theory.momentum`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from relulint.option_types import Number
from relulint.records.model_facts import ModelFacts, TrainingFacts
from relulint.records.report import Finding, Severity
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.momentum import OPTIMIZER_FORMS, MomentumSystem, optimizer_system
from relulint.training import OPTIMIZER_SIGNATURES, resolve_beta1, source_of

DEFAULT_MAX_TARGET_STD = 0.1

FORMS = {
    "ema": "momentum Eq 20 (m ← βm + (1−β)g)",
    "sgd": "PyTorch SGD: buf ← μ·buf + (1−dampening)·g",
    "nesterov": "PyTorch SGD, Nesterov: step g + μ·buf",
    "adam": "Adam β1 as the EMA of Eq 6, effective step lr/γ",
    "rmsprop": "RMSprop momentum on the normalized gradient, effective step lr/γ",
}


# the values each form of A needs (TrainingFacts fields); Adam's β1 is betas[0]
NEEDED = {
    "sgd": ("lr", "momentum", "dampening", "nesterov"),
    "adam": ("lr", "betas"),
    "rmsprop": ("lr", "momentum"),
}
# how the user can supply a value relulint could not read
SUPPLY = {
    "optimizer": "--optimizer, --lr and --momentum (or the training script)",
    "lr": "--lr",
    "momentum": "--momentum",
    "betas": "--momentum (Adam's β1)",
    "dampening": "dampening in [tool.relulint.training]",
    "nesterov": "nesterov in [tool.relulint.training]",
}


@dataclass(frozen=True)
class Analysis:
    """What RL401 can say about the user's optimizer: a system, or the values it lacks (never a guess)."""

    system: MomentumSystem | None
    optimizer: str | None  # as read (lower case); None when no optimizer is known
    values: dict[str, Any] = field(default_factory=dict)  # the values the system was built from
    unknown: tuple[tuple[str, str], ...] = ()  # (field, why): "unknown", "unknown-starred", "not given"
    assumed: tuple[str, ...] = ()  # defaults applied to values nobody gave


def analyse(training: TrainingFacts) -> Analysis:
    """The momentum system of the user's optimizer, or the needed values that are unknown.

    Only the values a form of A needs count (`NEEDED`).  A value written in a training script that is not
    a literal is *unknown*, and so is an `lr` nobody gave: the result then has no system and lists them.
    A value nobody wrote for an optimizer that is known (`--optimizer adam` without `--momentum`) is
    PyTorch's constructor default — exactly what PyTorch does — and is listed in `assumed`.  A known
    momentum of 0 needs nothing else: there is no momentum to oscillate.
    """
    training = resolve_beta1(training)
    assumed: list[str] = []
    optimizer = training.optimizer
    if optimizer is None:
        if training.momentum is None:
            return Analysis(None, None, unknown=(("optimizer", "not known"),))
        optimizer = "sgd"
        assumed.append("no optimizer given: read as SGD")
    form = OPTIMIZER_FORMS.get(optimizer)
    if form is None:
        return Analysis(None, optimizer)  # no momentum to analyse (Adagrad, LBFGS, ...)
    defaults = OPTIMIZER_SIGNATURES.get(optimizer, ({}, {}))[1]
    values: dict[str, Any] = {}
    unknown: list[tuple[str, str]] = []
    for key in NEEDED[form]:
        value = getattr(training, key)
        source = source_of(training, key)
        if source in ("unknown", "unknown-starred"):
            unknown.append((key, source))
        elif value is None and (key == "lr" or key not in defaults):
            unknown.append((key, "not given"))
        elif value is None:
            values[key] = defaults[key]
            shown = f"β1={defaults[key][0]:g}" if key == "betas" else f"{key}={defaults[key]!r}"
            assumed.append(f"{shown} (PyTorch's default; not given)")
        else:
            values[key] = value
    beta = values["betas"][0] if "betas" in values else values.get("momentum")
    if beta is not None and beta == 0:
        return Analysis(None, optimizer, values)  # no momentum: nothing can oscillate
    if unknown:
        return Analysis(None, optimizer, values, tuple(unknown), tuple(assumed))
    try:
        system = optimizer_system(
            optimizer,
            values["lr"],
            momentum=values.get("momentum"),
            betas=values.get("betas"),
            dampening=values.get("dampening", 0.0),
            nesterov=values.get("nesterov", False),
            target_std=training.target_std,
        )
    except ValueError:
        system = None
    return Analysis(system, optimizer, values, (), tuple(assumed))


NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "NAdam",
    "radam": "RAdam",
    "rmsprop": "RMSprop",
}


def unknown_text(analysis: Analysis, training: TrainingFacts) -> str:
    """ "lr at train.py:6 is not a literal", "momentum and nesterov are not given", ... in one clause."""
    where = f" at {training.location.path}:{training.location.line}" if training.location else ""
    groups: dict[str, list[str]] = {}
    for key, why in analysis.unknown:
        groups.setdefault(why, []).append("β1 (betas)" if key == "betas" else key)
    parts = []
    for why, keys in groups.items():
        names = keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} and {keys[-1]}"
        verb = "is" if len(keys) == 1 else "are"
        if why == "unknown":
            parts.append(f"{names}{where} {verb} not a literal")
        elif why == "unknown-starred":
            parts.append(f"{names}{where} may be set through *args / **kwargs")
        elif why == "not known":
            parts.append("no optimizer is known (no --optimizer, config or training script)")
        else:
            parts.append(f"{names} {verb} not given")
    return "; ".join(parts)


def optimizer_text(system: MomentumSystem, values: dict[str, Any]) -> str:
    """`SGD(lr=0.1, momentum=0.9)`-style summary of what the analysis used."""
    name = NAMES.get(system.optimizer, system.optimizer)
    parts = [f"lr={values['lr']:g}"]
    if system.form in ("adam",):
        parts.append(f"β1={system.beta:g}")
    else:
        parts.append(f"momentum={system.beta:g}")
    if values.get("dampening"):
        parts.append(f"dampening={values['dampening']:g}")
    if values.get("nesterov"):
        parts.append("nesterov=True")
    return f"{name}({', '.join(parts)})"


class SmallTargetVarianceWithMomentum(Rule):
    code = "RL401"
    name = "small-target-variance-with-momentum"
    severity = Severity.WARNING
    groups = ("training",)
    summary = (
        "Targets with a small standard deviation and a momentum optimizer that oscillates drive ReLUs dead."
    )
    what = """
        Reads the training set-up — `[tool.relulint.training]`, `--target-std` / `--targets FILE` /
        `--optimizer` / `--lr` / `--momentum`, and the `torch.optim` constructors in training scripts passed
        on the command line — and fires when the targets' standard deviation γ is below `max-target-std`
        (default 0.1) and the optimizer's momentum makes gradient descent oscillate on the paper's affine
        model: its 2×2 matrix A has complex eigenvalues (`momentum` Eq. 19-20), or a negative one
        ("ripples", §4). The finding points at the optimizer construction when it came from a script, and
        gives γ, the optimizer with its β and lr, the eigenvalues and the fix.

        A is derived for the optimizer actually run (`relulint.theory.momentum`):
        - the paper's update m ← βm + (1−β)g, θ ← θ − ηm (Eq. 6-7) gives A = [[β, 1−β], [−ηβ, 1−η(1−β)]]
          (Eq. 20), complex iff β > ((1−η)/(1+η))² — 0.669 at η = 0.1, the paper's "β ≈ 0.7";
        - PyTorch SGD, buf ← μ·buf + (1−d)·g, θ ← θ − lr·buf, gives A = [[μ, 1−d], [−lr·μ, 1−lr(1−d)]]:
          trace 1 + μ − h, determinant μ with h = lr(1−d), complex iff (√h−1)² < μ < (√h+1)² — for
          every h, steps h ≥ 1 included (RMSprop's lr/γ often is: at h = 1 any μ > 0 oscillates, for
          h ≥ 4 none in [0, 1) does). With the default dampening 0 it oscillates from μ = (1−√lr)²
          (0.47 at lr = 0.1); dampening = μ is the paper's form;
        - Nesterov (step g + μ·buf): A = [[μ, 1], [−lr·μ², 1 − lr(1+μ)]], determinant μ(1−lr);
        - Adam/AdamW/NAdam/RAdam: β1 is the paper's EMA, but the step is lr·m̂/√v̂: it does not scale with
          the gradient. Adam is not linear — v moves with the error — so the analysis *linearizes Adam
          with v held fixed*: then A is exactly Eq. 20 with the effective step η = lr/√v, and near the
          optimum, where the fit works at the targets' scale, √v ≈ γ (the gradient is the error), so
          η ≈ lr/γ — small targets make Adam's steps large relative to γ; complex for
          (1−√β1)/(1+√β1) < η < (1+√β1)/(1−√β1). The test suite runs the real, unmodified torch Adam
          (default betas) on the paper's affine model started at the targets' scale: where the analysis
          says "oscillates" (lr = 1e-3, γ = 0.01) the error changes sign again and again. A calm verdict
          is weaker: as the error decays √v decays with it, η grows into the band and real Adam ends up
          oscillating at a small amplitude as well — the verdict describes the phase in which the fit is
          at the targets' scale;
        - RMSprop with momentum: PyTorch's heavy ball on g/√v, i.e. the SGD matrix with step lr/γ (the same
          frozen-v linearization).
        Curvature 1 is the paper's model (unit-variance inputs); weight decay and AdamW's decoupled decay
        are ignored.

        Nothing is guessed. Precedence is command line > `[tool.relulint.training]` > training script, per
        value; for Adam, `--momentum` is β1 and beats a configured or scripted `betas`. A value the
        analysis needs that is written in the script but is not a literal (`lr=args.lr`,
        `betas=betas`, `**kwargs`), an `lr` nobody gave, or no optimizer at all, makes the rule report
        an *info* finding instead — "γ = 0.01 < 0.1 but lr at train.py:6 is not a literal: relulint cannot tell whether
        momentum oscillates; pass --lr" — when the targets are small. A value nobody wrote for a known
        optimizer (`--optimizer adam` without `--momentum`) is PyTorch's constructor default, as in
        PyTorch, and the message says it was assumed.
    """
    why = """
        With targets scaled to variance γ² ≪ 1 (`momentum` Eq. 1), the optimum of a ReLU unit (w, b) = (Γ, Δ)
        moves next to the dead cone Φ(b/‖w‖) < ε, i.e. b/‖w‖ < Φ⁻¹(ε) (Eq. 15, 23; the paper prints −Φ⁻¹(ε), a
        sign slip), where the ReLU outputs zero for almost all
        inputs and its gradient vanishes. Momentum that makes gradient descent oscillate — complex eigenvalues
        of A in Eq. 20 — swings the parameters across the optimum and into that cone, where they stay (§5,
        Fig. 5: at η = 0.1 the results are as without momentum for β ≤ 0.7 and worse above). Deeper networks
        lose more ReLUs, and faster, even residual ones with batch norm (§6, Fig. 6). For SGD the eigenvalues
        do not depend on γ, so no learning rate makes small targets behave like γ = 1 (§4); normalizing the
        targets does (Eq. 1).

        The default `max-target-std` = 0.1: the paper's Fig. 1 shows the fit degrading as γ falls below 1 and
        dead ReLUs increasing with momentum as γ decreases; its mechanism experiments use γ = 10⁻³ (§5,
        Fig. 3-5) and 10⁻⁴ (§6). The paper gives no sharp threshold; 0.1 — one decade below unit variance —
        flags every set-up in the regime it studies while staying quiet for targets that are normalized up
        to a factor of ten. Raise it to be stricter.
    """
    options = (
        RuleOption(
            "max-target-std",
            DEFAULT_MAX_TARGET_STD,
            "targets with a smaller standard deviation are 'small' (momentum Fig. 1, §5-6: γ = 1e-3, 1e-4)",
            kind=Number(low=0.0, low_open=True),  # a standard deviation: ≤ 0 would silence the rule
        ),
    )
    references = (
        "Arnekvist, Carvalho, Kragic, Stork. The effect of target normalization and momentum on dying ReLU "
        "(`momentum`): Eq. 1, 6-7, 15, 19-20, 23; §4-6, Fig. 1-6.",
        "Goh. Why momentum really works. Distill (2017) — the linear-system view used by `momentum` §4.",
    )
    INVALID = (
        Case(
            title="Targets of std 0.01 with SGD(lr=0.1, momentum=0.9), given as options (--target-std ...)",
            code="""
                from torch import nn


                class Net(nn.Module):  # expect: RL401
                    def __init__(self):
                        super().__init__()
                        self.body = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
                        self.head = nn.Linear(64, 1)

                    def forward(self, x):
                        return self.head(self.body(x))
            """,
            options={
                "training": TrainingFacts(
                    target_std=0.01, target_source="--target-std", optimizer="sgd", lr=0.1, momentum=0.9
                )
            },
        ),
        Case(
            title="The optimizer found in a training script (here: the model file itself), targets from a CSV",
            code="""
                import torch
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.body = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
                        self.head = nn.Linear(64, 1)

                    def forward(self, x):
                        return self.head(self.body(x))


                def make_optimizer(model):
                    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))  # expect: RL401
            """,
            files={"y.csv": "y\n0.001\n0.002\n-0.001\n0.0005\n-0.002\n"},
            options={"targets_file": "y.csv:y"},
            args=("model.py",),
        ),
        Case(
            title="An lr that is not a literal: an info finding asking for --lr, never a guess",
            code="""
                import torch
                from torch import nn


                def Net():
                    return nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))


                def make_optimizer(model, config):
                    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)  # expect: RL401
            """,
            files={"y.csv": "y\n0.001\n0.002\n-0.001\n0.0005\n-0.002\n"},
            options={"targets_file": "y.csv:y"},
            args=("model.py",),
        ),
    )
    VALID = (
        Case(
            title="z-normalized targets (momentum Eq. 1)",
            code="""
                from torch import nn


                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.body = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
                        self.head = nn.Linear(64, 1)

                    def forward(self, x):
                        return self.head(self.body(x))
            """,
            options={"training": TrainingFacts(target_std=1.0, optimizer="sgd", lr=0.1, momentum=0.9)},
        ),
        Case(
            title="Small targets but momentum below the oscillation threshold (lr = 0.1: μ < 0.47)",
            code="""
                from torch import nn


                def Net():
                    return nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))
            """,
            options={"training": TrainingFacts(target_std=0.01, optimizer="sgd", lr=0.1, momentum=0.3)},
        ),
    )

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterator[Finding]:
        training = facts.training
        threshold = float(ctx.option(type(self), "max-target-std"))
        relu_layers = max((chain.depth for chain in facts.chains), default=0)
        if training.target_std is None or training.target_std >= threshold or relu_layers == 0:
            return
        analysis = analyse(training)
        if analysis.unknown:
            yield self.finding(
                facts,
                self.unknown_message(analysis, training, threshold),
                location=training.location,
                severity=Severity.INFO,
                fix=self.unknown_fix(analysis),
                details=self.unknown_details(analysis, training, threshold),
            )
            return
        system = analysis.system
        if system is None or system.beta <= 0 or not (system.oscillates or system.ripples):
            return
        yield self.finding(
            facts,
            self.message(system, analysis, training, threshold, relu_layers),
            location=training.location,
            fix=self.fix_text(system),
            details=self.details(system, analysis, training, threshold),
        )

    @staticmethod
    def gamma_text(training: TrainingFacts) -> str:
        source = f" ({training.target_source})" if training.target_source else ""
        return f"γ = {training.target_std or 0.0:.3g}{source}"

    @classmethod
    def unknown_message(cls, analysis: Analysis, training: TrainingFacts, threshold: float) -> str:
        supply = ", ".join(dict.fromkeys(SUPPLY[key] for key, _ in analysis.unknown))
        if analysis.optimizer:
            name = f"{NAMES.get(analysis.optimizer, analysis.optimizer)}'s momentum"
        else:
            name = "the optimizer's momentum"
        return (
            f"Targets have standard deviation {cls.gamma_text(training)} < {threshold:g}, but "
            f"{unknown_text(analysis, training)}: relulint cannot tell whether {name} oscillates "
            f"(momentum Eq 20); pass {supply}."
        )

    @staticmethod
    def unknown_fix(analysis: Analysis) -> str:
        supply = ", ".join(dict.fromkeys(SUPPLY[key] for key, _ in analysis.unknown))
        return (
            f"give the missing value ({supply}) so the oscillation condition can be checked; or z-normalize "
            "the targets, y = (y* − μ̂)/σ̂ (momentum Eq 1), which removes the risk whatever the optimizer"
        )

    @staticmethod
    def unknown_details(analysis: Analysis, training: TrainingFacts, threshold: float) -> dict[str, Any]:
        return {
            "target_std": training.target_std,
            "target_source": training.target_source,
            "max_target_std": threshold,
            "optimizer": analysis.optimizer,
            "unknown": [key for key, _ in analysis.unknown],
            "unknown_reasons": [why for _, why in analysis.unknown],
            "unknown_text": unknown_text(analysis, training),
            "known": {k: list(v) if isinstance(v, tuple) else v for k, v in analysis.values.items()},
            "assumed": list(analysis.assumed),
            "notes": list(training.notes),
        }

    @classmethod
    def message(
        cls,
        system: MomentumSystem,
        analysis: Analysis,
        training: TrainingFacts,
        threshold: float,
        relu_layers: int,
    ) -> str:
        kind = "complex" if system.oscillates else "negative real"
        behaviour = "oscillates" if system.oscillates else "flips sign every step (ripples)"
        limit = "β1" if system.form == "adam" else "momentum"
        text = (
            f"Targets have standard deviation {cls.gamma_text(training)}, below {threshold:g}, and "
            f"{optimizer_text(system, analysis.values)} {behaviour}: A ({FORMS[system.form]}; momentum Eq 20) "
            f"has {kind} eigenvalues {system.describe_eigenvalues()}"
        )
        if system.oscillates:
            text += f"; {limit} > {system.critical:.3g} oscillates at this step"
        if system.note:
            text += f" ({system.note})"
        if analysis.assumed:
            text += f" [assumed: {'; '.join(analysis.assumed)}]"
        text += (
            f". Small targets put the optimum next to the dead cone and the oscillation carries ReLUs into it "
            f"(momentum §5); deeper nets lose more (§6; this model has {relu_layers} ReLU layers)."
        )
        return text

    @staticmethod
    def fix_text(system: MomentumSystem) -> str:
        limit = "β1" if system.form == "adam" else "momentum"
        fixes = ["z-normalize the targets, y = (y* − μ̂)/σ̂ (momentum Eq 1, γ = 1), and undo it on predictions"]
        if system.oscillates:
            fixes.append(f"or lower {limit} below {system.critical:.3g}")
        return "; ".join(fixes)

    @staticmethod
    def details(
        system: MomentumSystem, analysis: Analysis, training: TrainingFacts, threshold: float
    ) -> dict[str, Any]:
        z1, z2 = system.eigenvalues
        return {
            "target_std": training.target_std,
            "target_source": training.target_source,
            "max_target_std": threshold,
            "optimizer": system.optimizer,
            "form": system.form,
            "lr": analysis.values.get("lr"),
            "beta": system.beta,
            "effective_step": system.step,
            "eigenvalues": [[z1.real, z1.imag], [z2.real, z2.imag]],
            "spectral_radius": system.spectral_radius,
            "complex": system.oscillates,
            "ripples": system.ripples,
            "critical_momentum": system.critical,
            "matrix": [list(row) for row in system.matrix],
            "assumed": list(analysis.assumed),
            "notes": list(training.notes),
        }
