"""Run options: one immutable record built from defaults, then `[tool.relulint]`, then the command line.

Every stage reads what it needs from `Options`; nothing reads the command line or the config directly.
Each field is declared once, here, with its kind, default, help, flag and config key
(`relulint.option_specs.option`); the config reader, the command line, `relulint config` and the README's
options table are built from these declarations. Every value is validated when an `Options` is made, so
`relulint.check(t, p=2)` and `Options(p=2)` fail as `--p 2` and `p = 2` in `[tool.relulint]` do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relulint.option_inputs import InputDtypes, InputShapes
from relulint.option_rules import PerFileIgnores, RuleOptions, Selectors, SeverityTable
from relulint.option_specs import AUDIT, CHECK_AND_AUDIT, CHECK_AND_PROBE, CHECK_PROBE_AUDIT, option
from relulint.option_types import (
    Boolean,
    Choice,
    Device,
    Globs,
    Integer,
    Interval,
    Kwargs,
    Number,
    Probability,
    SeverityLevel,
    Size,
    Text,
    Texts,
    Training,
)
from relulint.records.model_facts import TrainingFacts
from relulint.records.report import Severity

DEFAULT_P = (
    0.01  # keep P(born dead) below 1 %: the threshold `collapse` §4 recommends ("less than 1% or 10%")
)


@dataclass(frozen=True)
class Options:
    """Everything that changes what relulint checks or how it reports."""

    # rules
    p: float = option(
        DEFAULT_P,
        Probability(),
        "Largest acceptable born-dead probability (`collapse` §4: below 1 % or 10 %).",
        flag="--p",
        key="p",
    )
    select: tuple[str, ...] = option(
        (),
        Selectors(),
        "Rule codes or prefixes to check (comma list); empty: every default rule.",
        flag="--select",
        key="select",
        commands=CHECK_AND_AUDIT,
        example=["RL1", "RL201"],
    )
    ignore: tuple[str, ...] = option(
        (),
        Selectors(),
        "Rule codes or prefixes to skip.",
        flag="--ignore",
        key="ignore",
        example=["RL102"],
        commands=CHECK_AND_AUDIT,
    )
    extend_select: tuple[str, ...] = option(
        (),
        Selectors(),
        "Rule codes or prefixes to add to the selection.",
        flag="--extend-select",
        key="extend-select",
        commands=CHECK_AND_AUDIT,
        example=["RL9"],
    )
    rule_options: Mapping[str, Mapping[str, Any]] = option(
        None,
        RuleOptions(),
        "Each rule's options, [tool.relulint.rules.CODE] (relulint rule CODE lists them).",
        key="rules",
        example={"RL202": {"factor": 1e4}},
        factory=dict,
    )
    severity_overrides: Mapping[str, Severity] = option(
        None,
        SeverityTable(),
        "A severity per rule (code or name): info, warning or error.",
        key="severity",
        example={"RL202": "error"},
        factory=dict,
    )
    per_file_ignores: Mapping[str, tuple[str, ...]] = option(
        None,
        PerFileIgnores(),
        "Rules ignored in files matching each glob (relative to the config's directory).",
        key="per-file-ignores",
        example={"tests/*.py": ["RL101"]},
        factory=dict,
    )
    fail_on: Severity = option(
        Severity.WARNING,
        SeverityLevel(),
        "Exit 1 on findings at or above this severity: info, warning or error.",
        flag="--fail-on",
        key="fail-on",
        commands=CHECK_AND_AUDIT,
    )
    exit_zero: bool = option(
        False,
        Boolean(),
        "Exit 0 even with findings (never hides exit 2).",
        flag="--exit-zero",
        commands=CHECK_AND_AUDIT,
    )

    # discovery: `relulint check DIR` (relulint.discover)
    include: tuple[str, ...] = option(
        ("*.py",),
        Globs(),
        "Files `relulint check DIR` reads (globs, ruff's semantics; relative to the config's directory).",
        key="include",
        example=["*.py"],
    )
    exclude: tuple[str, ...] = option(
        (),
        Globs(),
        "Files and directories `relulint check DIR` skips (globs), besides hidden ones, virtualenvs, "
        "site-packages, build/ and dist/.",
        flag="--exclude",
        key="exclude",
        example=["legacy", "*_old.py"],
    )

    # load / capture
    timeout: float = option(
        120.0,
        Number(low=0.0, low_open=True, description="a positive number"),
        "Seconds allowed for each model's whole check: import, build, trace, analysis and probe.",
        flag="--timeout",
        key="timeout",
        commands=CHECK_PROBE_AUDIT,
    )
    input_shape: tuple[int, ...] | Mapping[str, tuple[int, ...]] | None = option(
        None,
        InputShapes(),
        "Example input shape when forward cannot be traced: 8,16, or one per forward argument: x=8,1.",
        flag="--input-shape",
        key="input-shape",
        commands=CHECK_PROBE_AUDIT,
        example=[8, 16],
    )
    input_dtype: str | Mapping[str, str] | None = option(
        None,
        InputDtypes(),
        "Example input dtype: long (token ids for nn.Embedding), or per forward argument: ids=long.",
        flag="--input-dtype",
        key="input-dtype",
        commands=CHECK_PROBE_AUDIT,
        example="long",
    )
    kwargs: Mapping[str, Any] = option(
        None,
        Kwargs(),
        "Keyword arguments for the model's constructor (JSON on the command line).",
        flag="--kwargs",
        key="kwargs",
        commands=CHECK_PROBE_AUDIT,
        example={"width": 4},
        factory=dict,
    )

    # training facts (RL401); merged from config, CLI and training scripts
    training: TrainingFacts = option(
        None,
        Training(),
        "The training set-up RL401 reads; in pyproject.toml the [tool.relulint.training] keys (training.*).",
        factory=TrainingFacts,
    )
    scripts: tuple[str, ...] = option(
        (),
        Texts(path=True),
        "Training scripts scanned for torch.optim constructions (RL401).",
        key="scripts",
        example=["train.py"],
    )
    targets_file: str | None = option(
        None,
        Text(path=True),
        "Targets file: its std for RL401, its mean/median for audit: y.npy, y.npz:key, y.pt, y.csv:column.",
        flag="--targets",
        key="targets-file",
        example="data/y.npy",
        commands=CHECK_AND_AUDIT,
    )

    # probe
    probe: bool = option(
        False, Boolean(), "Monte-Carlo estimate for every chain at risk.", flag="--probe", key="probe"
    )
    probe_all: bool = option(
        False, Boolean(), "Monte-Carlo estimate for every chain.", flag="--probe-all", key="probe-all"
    )
    samples: int = option(
        10_000,
        Integer(low=1),
        "Probe samples (networks drawn).",
        flag="--samples",
        key="samples",
        commands=CHECK_AND_PROBE,
    )
    points: int = option(
        256,
        Integer(low=1),
        "Probe input points per network.",
        flag="--points",
        key="points",
        commands=CHECK_PROBE_AUDIT,
    )
    domain: tuple[float, float] | None = option(
        None,
        Interval(),
        "Probe input domain LOW,HIGH.",
        flag="--domain",
        key="domain",
        commands=CHECK_PROBE_AUDIT,
        example=[-1.0, 1.0],
    )
    data: str | None = option(
        None,
        Text(path=True),
        "Probe (and audit) inputs D (.npy, .pt, .csv) instead of the domain.",
        flag="--data",
        key="data",
        commands=CHECK_PROBE_AUDIT,
        example="data/x.npy",
    )
    seed: int = option(
        0,
        Integer(low=0, high=2**63 - 1),
        "Probe seed.",
        flag="--seed",
        key="seed",
        commands=CHECK_PROBE_AUDIT,
    )
    device: str = option(
        "auto",
        Device(),
        "Probe device: auto, cpu, cuda or cuda:N.",
        flag="--device",
        key="device",
        commands=CHECK_AND_PROBE,
    )
    compare: str | None = option(
        None,
        Choice(("rai",)),
        "Also probe this init: rai.",
        flag="--compare",
        key="compare",
        commands=CHECK_AND_PROBE,
        example="rai",
    )
    max_memory: int = option(
        1 << 30,
        Size(),
        "Probe memory bound (bytes, or 512MiB, 1GiB).",
        flag="--max-memory",
        key="max-memory",
        commands=CHECK_AND_PROBE,
    )

    # suppression / baseline
    baseline: str | None = option(
        None,
        Text(path=True),
        "Report only findings not in this baseline file.",
        flag="--baseline",
        key="baseline",
        example="relulint-baseline.json",
    )
    # audit (`relulint audit`: a trained checkpoint)
    weights: str | None = option(
        None,
        Text(path=True),
        "Trained weights to audit: a torch.save'd state_dict or checkpoint dict, or .safetensors.",
        flag="--weights",
        commands=AUDIT,
        example="checkpoints/last.pt",
    )
    loss: str | None = option(
        None,
        Choice(("mse", "mae")),
        "The training loss: mse (a collapsed net ends at the targets' mean) or mae (median).",
        flag="--loss",
        key="loss",
        commands=AUDIT,
        example="mse",
    )
    dead_fraction: float = option(
        0.5,
        Probability(),
        "RL502: warn when at least this fraction of a hidden layer's units is dead on every input.",
        flag="--dead-fraction",
        key="dead-fraction",
        commands=AUDIT,
    )
    show_suppressed: bool = option(False, Boolean(), "Keep suppressed findings in the report (Python API).")

    def __post_init__(self) -> None:
        """Check every value that is not the default (the same check as the command line and config)."""
        from relulint.option_specs import validate_fields

        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in validate_fields(values):
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def rule_option(self, code: str, name: str, default: Any) -> Any:
        """A rule's option: `rule_options[code][name]`, else a global option of that name, else `default`."""
        per_rule = self.rule_options.get(code, {})
        if name in per_rule:
            return per_rule[name]
        if name in {f.name for f in dataclasses.fields(self)}:
            return getattr(self, name)
        return default
