"""Run options: one immutable record built from defaults, then `[tool.relulint]`, then the command line.

Every stage reads what it needs from `Options`; nothing reads the command line or the config directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relulint.facts import Severity, TrainingFacts

DEFAULT_P = (
    0.01  # keep P(born dead) below 1 %: the threshold `collapse` §4 recommends ("less than 1% or 10%")
)


@dataclass(frozen=True)
class Options:
    """Everything that changes what relulint checks or how it reports."""

    # rules
    p: float = DEFAULT_P
    select: tuple[str, ...] = ()  # codes or prefixes; empty = every rule
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    rule_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # "RL202" → {"factor": 1e3}
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # glob → codes
    fail_on: Severity = Severity.WARNING
    exit_zero: bool = False

    # load / capture
    timeout: float = 120.0
    input_shape: tuple[int, ...] | Mapping[str, tuple[int, ...]] | None = None  # one, or one per argument
    input_dtype: str | Mapping[str, str] | None = None  # "int64", ...; or one per forward argument
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    # training facts (RL401); merged from config, CLI and training scripts
    training: TrainingFacts = field(default_factory=TrainingFacts)
    scripts: tuple[str, ...] = ()  # training scripts to scan for optimizer constructions
    targets_file: str | None = None  # --targets FILE[:key|column]

    # probe
    probe: bool = False
    probe_all: bool = False
    samples: int = 10_000
    points: int = 256
    domain: tuple[float, float] | None = None
    data: str | None = None
    seed: int = 0
    device: str = "auto"
    compare: str | None = None  # "rai"
    max_memory: int = 1 << 30

    # suppression / baseline
    baseline: str | None = None
    show_suppressed: bool = False

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
