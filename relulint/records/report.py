"""The records of the rules and the report: `Severity`, `Finding`, `TargetReport` and `Report`.

    ModelFacts ──rules──► Finding… ──► TargetReport per model ──► Report per run ──► render

Rules (`rules/`, through `relulint.registry`) make `Finding`s; `relulint.api` gathers them into one
`TargetReport` per model and one `Report` per run (with the load stage's `Skipped` and `Failure`);
`relulint.suppress`, `relulint.fingerprints` and `relulint.baseline` return new reports from it, and the
renderers (`relulint.render`) and `relulint.output` write it. `Severity` is also what `--fail-on` and the
rule options compare against.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relulint.records.loaded import Failure, Skipped
from relulint.records.location import Location
from relulint.records.model_facts import ModelFacts


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that `--fail-on` compares with `>=`."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


@dataclass(frozen=True)
class Finding:
    """One diagnostic: a rule fired on a model (or a chain of it) at a line the user owns."""

    code: str
    name: str
    severity: Severity
    message: str
    location: Location
    target: str = ""
    chain: int | None = None
    fix: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    # stable id for baselines and SARIF, no line numbers in it: filled once when the report is built
    # (`relulint.fingerprints`), never by a rule
    fingerprint: str = ""
    # what identifies a finding about a place in a file rather than about a model (RL900: an unused
    # comment, by its text and its occurrence in the file); "" for a finding about a model or a chain
    anchor: str = ""

    @property
    def path(self) -> str:
        return self.location.path

    @property
    def line(self) -> int:
        return self.location.line


@dataclass(frozen=True)
class TargetReport:
    """The result for one built model (or the error / skip that prevented it)."""

    target: str
    name: str
    path: str
    facts: ModelFacts | None
    findings: tuple[Finding, ...]
    seconds: float = 0.0


@dataclass(frozen=True)
class Report:
    """Everything one `relulint check` run found; renderers turn it into text, json, sarif, ..."""

    targets: tuple[TargetReport, ...]
    skipped: tuple[Skipped, ...] = ()
    fixed: tuple[str, ...] = ()  # baseline entries no longer found
    version: str = ""
    failures: tuple[Failure, ...] = ()  # targets whose import or build failed (directory mode)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for t in self.targets for f in t.findings)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def failed(self, fail_on: Severity) -> bool:
        return any(f.severity >= fail_on for f in self.findings)
