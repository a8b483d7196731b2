"""RL401 small-target-variance-with-momentum: on hand-built facts, and from every source of training facts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from relulint.rules.rl401_small_target_momentum import SmallTargetVarianceWithMomentum

from relulint.options import Options
from relulint.records.location import Location
from relulint.records.model_facts import Chain, Layer, ModelFacts, TrainingFacts
from relulint.records.report import Severity
from relulint.registry import RuleContext
from relulint.training import (
    gather_training_facts,
    merge_cli_training,
    training_from_config,
    validate_cli_training,
)

RULE = SmallTargetVarianceWithMomentum
MODEL_AT = Location("model.py", 4)


def chain(depth: int = 3, width: int = 16) -> Chain:
    layers = [Layer(f"l{i}", 4 if i == 0 else width, width, True, "relu") for i in range(depth)]
    layers.append(Layer("out", width, 1, True, None))
    return Chain(0, tuple(layers), 4, 1, "output", Location("model.py", 7))


def facts(training: TrainingFacts, chains: tuple[Chain, ...] | None = None) -> ModelFacts:
    return ModelFacts(
        target="model.py:Net",
        name="Net",
        path="model.py",
        location=MODEL_AT,
        capture_method="fx",
        capture_reason=None,
        chains=(chain(),) if chains is None else chains,
        training=training,
    )


def run(training: TrainingFacts, options: Options | None = None, **kwargs):
    return list(RULE().check(facts(training, **kwargs), RuleContext(options or Options())))


SGD_SMALL = TrainingFacts(
    target_std=0.01, target_source="--target-std", optimizer="sgd", lr=0.1, momentum=0.9
)


# --------------------------------------------------------------------------------------- the rule


def test_fires_on_small_targets_with_oscillating_sgd() -> None:
    (finding,) = run(SGD_SMALL)
    assert finding.code == "RL401" and finding.severity is Severity.WARNING
    assert finding.location == MODEL_AT  # no script: points at the model
    message = finding.message
    for part in ("γ = 0.01", "SGD(lr=0.1, momentum=0.9)", "complex eigenvalues", "0.9 ± 0.", "Eq 20"):
        assert part in message, message
    assert "Eq 1" in finding.fix and "momentum below 0.468" in finding.fix
    assert finding.details["complex"] and finding.details["critical_momentum"] == pytest.approx(
        0.4675, abs=1e-4
    )
    ours = sorted((complex(*z) for z in finding.details["eigenvalues"]), key=lambda z: z.imag)
    theirs = sorted(np.linalg.eigvals(np.array([[0.9, 1.0], [-0.09, 0.9]])), key=lambda z: z.imag)
    assert np.allclose(ours, theirs)  # PyTorch SGD, d = 0: A = [[μ, 1], [−lr·μ, 1 − lr]]


@pytest.mark.parametrize(
    "training",
    [
        TrainingFacts(target_std=1.0, optimizer="sgd", lr=0.1, momentum=0.9),  # normalized targets
        TrainingFacts(target_std=0.01, optimizer="sgd", lr=0.1, momentum=0.3),  # below μ_c = 0.468
        TrainingFacts(target_std=0.01, optimizer="sgd", lr=0.1, momentum=0.0),  # no momentum
        TrainingFacts(target_std=None, optimizer="sgd", lr=0.1, momentum=0.9),  # γ unknown
        TrainingFacts(target_std=0.01, optimizer="adagrad", lr=0.1),  # no momentum to analyse
        TrainingFacts(target_std=0.01, optimizer="adam", lr=1e-5, betas=(0.9, 0.999)),  # η = 1e-3: calm
    ],
)
def test_silent(training: TrainingFacts) -> None:
    assert run(training) == []


def test_silent_without_relu_chains() -> None:
    assert run(SGD_SMALL, chains=()) == []


def test_threshold_is_an_option() -> None:
    training = TrainingFacts(target_std=0.3, optimizer="sgd", lr=0.1, momentum=0.9)
    assert run(training) == []
    options = Options(rule_options={"RL401": {"max-target-std": 0.5}})
    assert len(run(training, options)) == 1


def test_adam_small_targets_make_its_steps_large() -> None:
    """Adam(lr=1e-3, β1=0.9): η = lr/γ; γ = 0.01 → η = 0.1 > critical → oscillates; γ = 1 → calm."""
    adam = TrainingFacts(target_std=0.01, optimizer="adam", lr=1e-3, betas=(0.9, 0.999))
    (finding,) = run(adam)
    assert "Adam(lr=0.001, β1=0.9)" in finding.message and "lr/γ" in finding.message
    assert finding.details["effective_step"] == pytest.approx(0.1, rel=1e-6)
    assert "β1 below 0.669" in finding.fix
    assert run(TrainingFacts(target_std=1.0, optimizer="adam", lr=1e-3, betas=(0.9, 0.999))) == []


def test_adam_ripples_when_targets_are_tiny() -> None:
    adam = TrainingFacts(target_std=1e-6, optimizer="adamw", lr=1e-3, betas=(0.9, 0.999))
    (finding,) = run(adam)
    assert finding.details["ripples"] and "negative real" in finding.message


def test_nesterov_and_rmsprop() -> None:
    nesterov = TrainingFacts(target_std=0.01, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True)
    (finding,) = run(nesterov)
    assert "nesterov=True" in finding.message and finding.details["form"] == "nesterov"
    rms = TrainingFacts(target_std=0.01, optimizer="rmsprop", lr=1e-3, momentum=0.9)
    (finding,) = run(rms)
    assert finding.details["form"] == "rmsprop"


# -------------------------------------------------------------------------- every source of facts


def test_from_config(tmp_path: Path) -> None:
    training, targets = training_from_config(
        {"target-std": 0.01, "optimizer": "SGD", "lr": 0.1, "momentum": 0.9}, tmp_path
    )
    assert targets is None
    (finding,) = run(training)
    assert "[tool.relulint.training]" in finding.message


def test_from_config_targets_file(tmp_path: Path) -> None:
    np.save(tmp_path / "y.npy", np.random.default_rng(1).normal(0, 0.02, 500))
    training, targets = training_from_config(
        {"targets": "y.npy", "optimizer": "sgd", "lr": 0.1, "momentum": 0.9}, tmp_path
    )
    gathered = gather_training_facts(Options(training=training, targets_file=targets), tmp_path)
    (finding,) = run(gathered)
    assert finding.details["target_std"] == pytest.approx(0.02, rel=0.1)


def test_from_cli_values() -> None:
    """The CLI merges --target-std/--optimizer/--lr/--momentum into Options.training."""
    cli = TrainingFacts(target_std=0.01, target_source="--target-std", lr=0.1, momentum=0.9)  # no --optimizer
    (finding,) = run(cli)
    assert "--target-std" in finding.message and finding.details["optimizer"] == "sgd"


def test_from_a_training_script_points_at_the_optimizer(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        textwrap.dedent(
            """\
            import torch
            from torch import optim

            model = build()
            opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            """
        )
    )
    options = Options(
        training=TrainingFacts(target_std=0.01, target_source="--target-std"), scripts=("train.py",)
    )
    (finding,) = run(gather_training_facts(options, tmp_path))
    assert (finding.location.path, finding.location.line) == ("train.py", 5)


def _targets(kind: str, tmp_path: Path, y: np.ndarray) -> str:
    if kind == "npy":
        np.save(tmp_path / "y.npy", y)
        return "y.npy"
    if kind == "npz":
        np.savez_compressed(tmp_path / "y.npz", y=y, x=np.ones(3))
        return "y.npz:y"
    if kind == "pt":
        torch.save({"y": torch.from_numpy(y)}, tmp_path / "y.pt")
        return "y.pt:y"
    (tmp_path / "y.csv").write_text("x,y\n" + "".join(f"1,{float(v)!r}\n" for v in y))
    return "y.csv:y"


@pytest.mark.parametrize("kind", ["npy", "npz", "pt", "csv"])
def test_from_each_targets_file_format(tmp_path: Path, kind: str) -> None:
    y = np.random.default_rng(2).normal(5.0, 0.003, 1000)
    spec = _targets(kind, tmp_path, y)
    options = Options(training=TrainingFacts(optimizer="sgd", lr=0.1, momentum=0.9), targets_file=spec)
    (finding,) = run(gather_training_facts(options, tmp_path))
    assert finding.details["target_std"] == pytest.approx(y.std(), rel=1e-9)
    assert spec in finding.message
    wide = np.random.default_rng(2).normal(5.0, 1.0, 1000)
    spec = _targets(kind, tmp_path, wide)
    assert run(gather_training_facts(options.replace(targets_file=spec), tmp_path)) == []


def test_end_to_end_with_a_separate_training_script(tmp_path: Path, monkeypatch) -> None:
    """`relulint check model.py:Net train.py --targets y.csv:y`: the finding points into train.py."""
    pytest.importorskip("relulint.load")
    import relulint

    (tmp_path / "model.py").write_text(
        "from torch import nn\n\n\ndef Net():\n    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))\n"
    )
    (tmp_path / "train.py").write_text("import torch\nopt = torch.optim.SGD(params, lr=0.1, momentum=0.95)\n")
    (tmp_path / "y.csv").write_text("y\n0.001\n0.003\n-0.002\n")
    monkeypatch.chdir(tmp_path)
    report = relulint.check(
        "model.py:Net", options=Options(scripts=("train.py",), targets_file="y.csv:y"), cwd=tmp_path
    )
    found = [(f.path, f.line) for f in report.findings if f.code == "RL401"]
    assert found == [("train.py", 2)]


# ------------------------------------------------------------------ unknown values: info, never a guess


def _script(tmp_path: Path, line: str, header: str = "import torch\n") -> TrainingFacts:
    (tmp_path / "train.py").write_text(header + line + "\n")
    options = Options(
        training=TrainingFacts(target_std=0.01, target_source="--target-std"), scripts=("train.py",)
    )
    return gather_training_facts(options, tmp_path)


def test_non_literal_lr_is_an_info_finding_at_the_optimizer(tmp_path: Path) -> None:
    training = _script(tmp_path, "opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)")
    (finding,) = run(training)
    assert finding.severity is Severity.INFO and finding.code == "RL401"
    assert (finding.location.path, finding.location.line) == ("train.py", 2)
    message = finding.message
    for part in ("γ = 0.01", "< 0.1", "lr at train.py:2 is not a literal", "cannot tell", "pass --lr"):
        assert part in message, message
    assert finding.details["unknown"] == ["lr"]
    # given on the command line, the value is known and the rule decides
    known = merge_cli_training(training, validate_cli_training({"lr": 0.1}))
    (finding,) = run(known)
    assert finding.severity is Severity.WARNING and "SGD(lr=0.1, momentum=0.9)" in finding.message


def test_non_literal_betas_is_not_guessed_as_0_9(tmp_path: Path) -> None:
    """betas = (0.5, 0.999); Adam(..., betas=betas): with β1 = 0.5 Adam is calm at η = 0.1 (β_c = 0.669);
    the old fallback to PyTorch's 0.9 raised a warning on a guess."""
    training = _script(
        tmp_path,
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=betas)",
        "import torch\nbetas = (0.5, 0.999)\n",
    )
    (finding,) = run(training)
    assert finding.severity is Severity.INFO
    assert "β1 (betas) at train.py:3 is not a literal" in finding.message
    assert "--momentum" in finding.message
    # the true β1 given on the command line: calm, no finding at all
    assert run(merge_cli_training(training, validate_cli_training({"momentum": 0.5}))) == []
    (finding,) = run(merge_cli_training(training, validate_cli_training({"momentum": 0.9})))
    assert finding.severity is Severity.WARNING and "β1=0.9" in finding.message


@pytest.mark.parametrize(
    ("line", "unknown"),
    [
        ("opt = torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=args.nesterov)", ["nesterov"]),
        ("opt = torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=d)", ["dampening"]),
        ("opt = torch.optim.SGD(p, lr=0.1, **kw)", ["momentum", "dampening", "nesterov"]),
        ("opt = torch.optim.RMSprop(p, lr=1e-3, momentum=cfg.m)", ["momentum"]),
    ],
)
def test_every_needed_unknown_is_reported(tmp_path: Path, line: str, unknown: list[str]) -> None:
    (finding,) = run(_script(tmp_path, line))
    assert finding.severity is Severity.INFO and finding.details["unknown"] == unknown
    if "**kw" in line:
        assert "may be set through *args / **kwargs" in finding.message


def test_unknowns_that_do_not_matter_stay_silent(tmp_path: Path) -> None:
    assert run(_script(tmp_path, "opt = torch.optim.SGD(p, lr=args.lr, momentum=0.0)")) == []  # no momentum
    assert run(_script(tmp_path, "opt = torch.optim.Adagrad(p, lr=args.lr)")) == []  # nothing to analyse
    big = _script(tmp_path, "opt = torch.optim.SGD(p, lr=args.lr, momentum=0.9)")
    assert run(TrainingFacts(**{**big.__dict__, "target_std": 1.0})) == []  # normalized targets


def test_missing_lr_and_missing_optimizer_are_info_findings() -> None:
    (finding,) = run(TrainingFacts(target_std=0.01, optimizer="sgd", lr=None, momentum=0.9))
    assert finding.severity is Severity.INFO and "lr is not given" in finding.message
    assert finding.location == MODEL_AT
    (finding,) = run(TrainingFacts(target_std=0.01, target_source="--target-std"))
    assert finding.severity is Severity.INFO and "no optimizer is known" in finding.message
    assert run(TrainingFacts(target_std=1.0)) == []


def test_defaults_for_values_nobody_gave_are_said_to_be_assumed() -> None:
    """`--optimizer adam --lr 1e-3`: PyTorch's β1 = 0.9 is what the constructor uses; the message says so."""
    (finding,) = run(TrainingFacts(target_std=0.01, optimizer="adam", lr=1e-3))
    assert finding.severity is Severity.WARNING
    assert "assumed: β1=0.9 (PyTorch's default; not given)" in finding.message
    assert finding.details["assumed"]


def test_cli_momentum_beats_configured_adam_betas(tmp_path: Path) -> None:
    config, _ = training_from_config(
        {"target-std": 0.01, "optimizer": "Adam", "lr": 1e-3, "betas": [0.9, 0.999]}, tmp_path
    )
    assert len(run(config)) == 1  # β1 = 0.9 oscillates at η = 0.1
    calm = merge_cli_training(config, validate_cli_training({"momentum": 0.5}))
    assert run(calm) == []  # --momentum 0.5 is β1: below β_c = 0.669
    # the rule resolves it too when the CLI merged the dict field by field
    naive = TrainingFacts(**{**config.__dict__, **validate_cli_training({"momentum": 0.5})})
    assert run(naive) == []
