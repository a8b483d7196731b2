"""RL401 small-target-variance-with-momentum: small targets plus an oscillating momentum optimizer kill ReLUs.

Theory: `momentum` (Arnekvist, Carvalho, Kragic, Stork) Eq. 1 (target normalization, scale γ), Eq. 6-7 (the
momentum update), Eq. 19-20 (gradient descent on the affine model as a linear system with matrix A; complex
eigenvalues ⇒ oscillation, β ≳ 0.7 at η = 0.1), Eq. 15/23 (the dead cone), §5-6 (small γ with momentum ⇒
more dead ReLUs; deeper nets worse).  The per-optimizer matrices are derived in `relulint.theory.momentum`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from relulint.facts import Finding, ModelFacts, Severity, TrainingFacts
from relulint.registry import Case, Rule, RuleContext, RuleOption
from relulint.theory.momentum import MomentumSystem, optimizer_system

DEFAULT_MAX_TARGET_STD = 0.1

FORMS = {
    "ema": "momentum Eq 20 (m ← βm + (1−β)g)",
    "sgd": "PyTorch SGD: buf ← μ·buf + (1−dampening)·g",
    "nesterov": "PyTorch SGD, Nesterov: step g + μ·buf",
    "adam": "Adam β1 as the EMA of Eq 6, effective step lr/γ",
    "rmsprop": "RMSprop momentum on the normalized gradient, effective step lr/γ",
}


def system_for(training: TrainingFacts) -> tuple[MomentumSystem | None, str | None]:
    """The momentum system of the user's optimizer, and the optimizer name as read (None when unknown)."""
    if training.lr is None or training.target_std is None:
        return None, training.optimizer
    optimizer = training.optimizer
    if optimizer is None:
        if training.momentum is None:
            return None, None
        optimizer = "sgd"  # --lr/--momentum without --optimizer: SGD's momentum
    try:
        system = optimizer_system(
            optimizer,
            training.lr,
            momentum=training.momentum,
            betas=training.betas,
            dampening=training.dampening,
            nesterov=training.nesterov,
            target_std=training.target_std,
        )
    except ValueError:
        return None, optimizer
    return system, optimizer


def optimizer_text(system: MomentumSystem, training: TrainingFacts) -> str:
    """`SGD(lr=0.1, momentum=0.9)`-style summary of what the analysis used."""
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}.get(
        system.optimizer, system.optimizer
    )
    parts = [f"lr={training.lr:g}"]
    if system.form in ("adam",):
        parts.append(f"β1={system.beta:g}")
    else:
        parts.append(f"momentum={system.beta:g}")
    if training.dampening:
        parts.append(f"dampening={training.dampening:g}")
    if training.nesterov:
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
          trace 1 + μ − h, determinant μ with h = lr(1−d), complex iff (1−√h)² < μ < (1+√h)². With the
          default dampening 0 it oscillates from μ = (1−√lr)² (0.47 at lr = 0.1); dampening = μ is the
          paper's form;
        - Nesterov (step g + μ·buf): A = [[μ, 1], [−lr·μ², 1 − lr(1+μ)]], determinant μ(1−lr);
        - Adam/AdamW/NAdam/RAdam: β1 is the paper's EMA, but the step is lr·m̂/√v̂: it does not scale with
          the gradient. On the paper's model the gradient is the error, so once the fit works at the
          targets' scale √v ≈ γ and A is Eq. 20 with the effective step η = lr/γ — small targets make
          Adam's steps large relative to γ; complex for (1−√β1)/(1+√β1) < η < (1+√β1)/(1−√β1);
        - RMSprop with momentum: PyTorch's heavy ball on g/√v, i.e. the SGD matrix with step lr/γ.
        Curvature 1 is the paper's model (unit-variance inputs); weight decay and AdamW's decoupled decay
        are ignored. The rule needs γ and lr; an unknown value (not a literal in the script) keeps it silent.
    """
    why = """
        With targets scaled to variance γ² ≪ 1 (`momentum` Eq. 1), the optimum of a ReLU unit (w, b) = (Γ, Δ)
        moves next to the dead cone b/‖w‖ < −Φ⁻¹(ε) (Eq. 15, 23), where the ReLU outputs zero for almost all
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
        system, _ = system_for(training)
        if system is None or system.beta <= 0 or not (system.oscillates or system.ripples):
            return
        yield self.finding(
            facts,
            self.message(system, training, threshold, relu_layers),
            location=training.location,
            fix=self.fix_text(system),
            details=self.details(system, training, threshold),
        )

    @staticmethod
    def message(system: MomentumSystem, training: TrainingFacts, threshold: float, relu_layers: int) -> str:
        gamma = training.target_std or 0.0
        source = f" ({training.target_source})" if training.target_source else ""
        kind = "complex" if system.oscillates else "negative real"
        behaviour = "oscillates" if system.oscillates else "flips sign every step (ripples)"
        limit = "β1" if system.form == "adam" else "momentum"
        text = (
            f"Targets have standard deviation γ = {gamma:.3g}{source}, below {threshold:g}, and "
            f"{optimizer_text(system, training)} {behaviour}: A ({FORMS[system.form]}; momentum Eq 20) has "
            f"{kind} eigenvalues {system.describe_eigenvalues()}"
        )
        if system.oscillates:
            text += f"; {limit} > {system.critical:.3g} oscillates at this step"
        if system.note:
            text += f" ({system.note})"
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
    def details(system: MomentumSystem, training: TrainingFacts, threshold: float) -> dict[str, Any]:
        z1, z2 = system.eigenvalues
        return {
            "target_std": training.target_std,
            "target_source": training.target_source,
            "max_target_std": threshold,
            "optimizer": system.optimizer,
            "form": system.form,
            "lr": training.lr,
            "beta": system.beta,
            "effective_step": system.step,
            "eigenvalues": [[z1.real, z1.imag], [z2.real, z2.imag]],
            "spectral_radius": system.spectral_radius,
            "complex": system.oscillates,
            "ripples": system.ripples,
            "critical_momentum": system.critical,
            "matrix": [list(row) for row in system.matrix],
            "notes": list(training.notes),
        }
