"""Finding fingerprints: the stable, line-free id of a finding, assigned once when the report is built.

Rules do not fingerprint their findings: `relulint.api.check` calls `fingerprint_report` after the
suppressions (which add RL900) and before the baseline, and every consumer reads the one value it stores in
`Finding.fingerprint`: SARIF's ``partialFingerprints``, the json report, and the baseline's keys (which
are `fingerprint` itself, recomputed for reports built by hand).

A fingerprint is the first 16 hex digits of SHA-256 over ``code|path|model|layers|shape[|anchor]``:

* ``path`` — the model's file relative to the project root (`relulint.project.fingerprint_root`), so it
  does not depend on the working directory;
* ``model`` — the class or factory name (not the way the target was spelled: ``model.py`` and
  ``model.py:Net`` give the same id);
* ``layers``, ``shape`` — for a finding about a chain, its layers' qualified names and its shape
  (``1 → 3×12 → 1``); empty otherwise;
* ``anchor`` — for a finding about a place in a file rather than about a model (`Finding.anchor`: RL900,
  an unused ``# relulint: ignore`` comment, anchored by its text and its occurrence in the file), the
  ``model`` part is empty and the anchor is appended.

Never a line number: a fingerprint survives edits around the code it points at.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from relulint.project import fingerprint_root, project_path
from relulint.records.model_facts import Chain
from relulint.records.report import Finding, Report, TargetReport

__all__ = ["chain_of", "fingerprint", "fingerprint_report", "stable_id"]


def stable_id(
    code: str, path: str, model: str, chain: Chain | None = None, anchor: str = "", root: Path | None = None
) -> str:
    """SHA-256 (16 hex digits) of the parts listed in the module docstring; `path` is made relative to
    `root` (default: `fingerprint_root()`)."""
    parts = [
        code,
        project_path(path, root),
        model,
        ",".join(chain.modules) if chain else "",
        chain.shape if chain else "",
    ]
    if anchor:
        parts.append(anchor)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def chain_of(target: TargetReport | None, index: int | None) -> Chain | None:
    """The chain a finding names, looked up in its model's facts (None for a model-level finding)."""
    if index is None or target is None or target.facts is None:
        return None
    return next((c for c in target.facts.chains if c.index == index), None)


def fingerprint(finding: Finding, target: TargetReport | None = None, root: Path | None = None) -> str:
    """The fingerprint of `finding` of `target`'s model. An anchored finding (`Finding.anchor`) needs no
    target: it is identified by its file and anchor alone."""
    if finding.anchor:
        return stable_id(finding.code, finding.path, "", anchor=finding.anchor, root=root)
    if target is None:
        raise ValueError(f"the fingerprint of a {finding.code} finding needs the model it is about")
    return stable_id(finding.code, target.path, target.name, chain_of(target, finding.chain), root=root)


def fingerprint_report(report: Report, *, only_missing: bool = False, root: Path | None = None) -> Report:
    """The report with `Finding.fingerprint` filled on every finding (`only_missing`: only where empty, for
    a report built by hand). The project root is looked up once for the whole report."""
    root = root if root is not None else fingerprint_root()
    targets = []
    for target in report.targets:
        findings = tuple(
            f
            if only_missing and f.fingerprint
            else dataclasses.replace(f, fingerprint=fingerprint(f, target, root))
            for f in target.findings
        )
        targets.append(dataclasses.replace(target, findings=findings))
    return dataclasses.replace(report, targets=tuple(targets))
