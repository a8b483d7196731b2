"""Baselines: accept today's findings, report only new ones, and say which accepted ones are fixed.

    relulint check --write-baseline relulint-baseline.json   # accept every current finding
    relulint check --baseline relulint-baseline.json         # report only findings not in it

A finding is keyed by its fingerprint (`relulint.fingerprints`), made of what does not move when code is
edited around it: the rule code, the model's file (relative to the project root: the directory of the
pyproject.toml holding `[tool.relulint]`, else the git root, else the working directory, so the key does
not depend on where relulint runs) and name, and for a chain finding the chain's layer names and shape
(`1 → 3×12 → 1`) — never a line number, and not the way the target was spelled (`model.py` and
`model.py:Net` give the same key). An unused-suppression finding (RL900) is keyed by its comment's text
and occurrence in the file; the key relulint 0.1 wrote for it (`legacy_key`) still matches.
Entries carry a count, so two identical findings need two entries. Entries for models that were not
linted in this run (pre-commit lints only changed files) are neither matched nor reported as fixed.

File format (version 1; sorted, without timestamps, so it diffs well)::

    {"version": 1, "relulint": "0.1.0",
     "entries": [{"key": "9c1…", "code": "RL101", "name": "born-dead-relu-chain", "path": "model.py",
                  "model": "Net", "shape": "1 → 3×12 → 1", "message": "…", "count": 1}]}
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relulint.errors import DataError
from relulint.fingerprints import chain_of, fingerprint, stable_id
from relulint.project import fingerprint_root, project_path
from relulint.records.report import Finding, Report, TargetReport

BASELINE_VERSION = 1


@dataclass(frozen=True)
class BaselineEntry:
    """One accepted finding (or `count` identical ones)."""

    key: str
    code: str
    name: str
    path: str
    model: str
    shape: str = ""
    message: str = ""
    count: int = 1

    def describe(self) -> str:
        """`RL101 model.py:Net 1 → 3×12 → 1` — how a fixed entry is listed in reports."""
        shape = f" {self.shape}" if self.shape else ""
        return f"{self.code} {self.path}:{self.model}{shape}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Baseline:
    entries: tuple[BaselineEntry, ...] = ()
    version: int = BASELINE_VERSION
    path: str | None = None


# --------------------------------------------------------------------------------------------- keys


def finding_key(finding: Finding, target: TargetReport, root: Path | None = None) -> str:
    """The line-free key of a finding of `target`'s model: its fingerprint (`relulint.fingerprints`, the
    value `Finding.fingerprint` holds and SARIF's partialFingerprints carry), recomputed so that a report
    built by hand keys the same way. Paths are relative to the project root
    (`relulint.project.fingerprint_root`), so a baseline matches from any working directory."""
    return fingerprint(finding, target, root)


def legacy_key(finding: Finding, target: TargetReport, root: Path | None = None) -> str | None:
    """The key relulint 0.1 wrote for an anchored finding (RL900), which matched by the comment's text and
    the model the finding was attached to: still accepted, so that older baselines keep matching. None for
    every other finding (its key never changed)."""
    if not finding.anchor:
        return None
    directive = str(finding.details.get("directive", ""))
    return stable_id(finding.code, target.path, target.name, anchor=directive, root=root)


def entry_for(finding: Finding, target: TargetReport, root: Path | None = None) -> BaselineEntry:
    root = root if root is not None else fingerprint_root()
    chain = chain_of(target, finding.chain)
    return BaselineEntry(
        key=finding_key(finding, target, root),
        code=finding.code,
        name=finding.name,
        path=project_path(target.path, root),
        model=target.name,
        shape=chain.shape if chain else "",
        message=finding.message,
    )


def keyed_findings(report: Report, root: Path | None = None) -> list[tuple[str, Finding, TargetReport]]:
    root = root if root is not None else fingerprint_root()
    return [(finding_key(f, t, root), f, t) for t in report.targets for f in t.findings]


# ------------------------------------------------------------------------------------------- files


def baseline_from_report(report: Report) -> Baseline:
    """Every finding of the report as a baseline (identical findings merged with a count)."""
    merged: dict[str, BaselineEntry] = {}
    root = fingerprint_root()
    for target in report.targets:
        for finding in target.findings:
            entry = entry_for(finding, target, root)
            if entry.key in merged:
                entry = dataclasses.replace(merged[entry.key], count=merged[entry.key].count + 1)
            merged[entry.key] = entry
    entries = sorted(merged.values(), key=lambda e: (e.path, e.model, e.code, e.shape, e.key))
    return Baseline(entries=tuple(entries))


def baseline_document(baseline: Baseline, version: str = "") -> dict[str, Any]:
    return {
        "version": BASELINE_VERSION,
        "relulint": version,
        "entries": [entry.as_dict() for entry in baseline.entries],
    }


def write_baseline(report: Report, path: str | Path) -> int:
    """Write the report's findings as a baseline file; returns how many findings it accepts."""
    baseline = baseline_from_report(report)
    text = json.dumps(baseline_document(baseline, report.version), indent=2, ensure_ascii=False) + "\n"
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise DataError(
            f"cannot write baseline {path}: {error.strerror}", hint="check --write-baseline"
        ) from None
    return sum(entry.count for entry in baseline.entries)


def read_baseline(path: str | Path) -> Baseline:
    """Read a baseline file; a missing or malformed file is a `DataError` (exit code 2)."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"baseline {path} not found", hint=f"create it: relulint check --write-baseline {path}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(
            f"cannot read baseline {path}: {error}", hint="write a fresh one with --write-baseline"
        ) from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        version = document.get("version") if isinstance(document, dict) else None
        raise DataError(
            f"baseline {path}: unsupported version {version!r} (expected {BASELINE_VERSION})",
            hint="write a fresh one with --write-baseline",
        )
    try:
        entries = tuple(_entry(item) for item in document.get("entries", []))
    except (TypeError, KeyError, ValueError) as error:
        raise DataError(
            f"baseline {path}: malformed entry ({error})", hint="write a fresh one with --write-baseline"
        ) from None
    return Baseline(entries=entries, path=str(path))


def _entry(item: Any) -> BaselineEntry:
    if not isinstance(item, dict):
        raise TypeError("an entry is not an object")
    fields = {f.name for f in dataclasses.fields(BaselineEntry)}
    entry = BaselineEntry(**{k: v for k, v in item.items() if k in fields})
    if not isinstance(entry.key, str) or not isinstance(entry.count, int) or entry.count < 1:
        raise ValueError(f"bad key or count in {item!r}")
    return entry


# ------------------------------------------------------------------------------------------ filtering


def filter_baseline(
    keyed: Iterable[tuple[str, Finding]],
    baseline: Baseline,
    linted: set[tuple[str, str]] | None = None,
    codes: set[str] | None = None,
    legacy: dict[int, str] | None = None,
) -> tuple[list[Finding], list[BaselineEntry]]:
    """(new findings, fixed entries): each entry absorbs up to `count` findings with its key.

    `linted` = the (path, model) pairs checked in this run and `codes` the rules that ran; entries of
    other models or of rules not selected are not "fixed" (None: every entry counts). `legacy` maps
    `id(finding)` to the key an older relulint wrote for it (`legacy_key`), tried when the key finds none.
    """
    budget: Counter[str] = Counter()
    for entry in baseline.entries:
        budget[entry.key] += entry.count
    new: list[Finding] = []
    for key, finding in keyed:
        old = (legacy or {}).get(id(finding))
        if budget[key] > 0:
            budget[key] -= 1
        elif old is not None and budget[old] > 0:
            budget[old] -= 1
        else:
            new.append(finding)
    fixed = []
    for entry in baseline.entries:
        if budget[entry.key] <= 0:
            continue
        if linted is not None and (entry.path, entry.model) not in linted:
            continue
        if codes is not None and entry.code not in codes:
            continue
        fixed.append(entry)
        budget[entry.key] = 0
    return new, fixed


def filter_report(report: Report, baseline: Baseline | str | Path, codes: set[str] | None = None) -> Report:
    """The report without the findings the baseline accepts; `Report.fixed` lists the fixed entries
    (only of the rules in `codes`, the ones that ran, when given)."""
    if not isinstance(baseline, Baseline):
        baseline = read_baseline(baseline)
    root = fingerprint_root()
    linted = {(project_path(t.path, root), t.name) for t in report.targets}
    keyed = keyed_findings(report, root)
    legacy = {id(f): old for _, f, t in keyed if (old := legacy_key(f, t, root)) is not None}
    new, fixed = filter_baseline(((k, f) for k, f, _ in keyed), baseline, linted, codes, legacy)
    keep = {id(f) for f in new}
    targets = tuple(
        dataclasses.replace(t, findings=tuple(f for f in t.findings if id(f) in keep)) for t in report.targets
    )
    return dataclasses.replace(
        report, targets=targets, fixed=report.fixed + tuple(e.describe() for e in fixed)
    )
