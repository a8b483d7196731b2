"""`--format sarif`: a SARIF 2.1.0 log for GitHub code scanning (`github/codeql-action/upload-sarif`).

One run. `tool.driver.rules` lists every registered rule (id, name, short and full description, help as
text and markdown, default level) in code order, so `ruleIndex` is stable across runs. Each finding is a
result with `ruleId`, `ruleIndex`, `level`, `message.text`, one physical location whose
`artifactLocation.uri` is relative to the working directory (the repository root in CI) under
`uriBaseId` `%SRCROOT%`, `region.startLine` ≥ 1, and `partialFingerprints["relulint/v1"]` =
`Finding.fingerprint` (which does not depend on line numbers). Skipped modules are reported as
`toolExecutionNotifications`. Valid against the official schema (tests/test_sarif.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from relulint.options import Options
from relulint.records.location import Location
from relulint.records.report import Finding, Report, Severity
from relulint.render.json import jsonable

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "relulint/v1"
SRCROOT = "%SRCROOT%"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
INFORMATION_URI = "https://github.com/relulint/relulint"


def artifact_location(path: str, root: Path | None = None) -> dict[str, Any]:
    """`artifactLocation` for a path: relative to `root` (default: cwd) under %SRCROOT%, else a file URI."""
    root = (root or Path.cwd()).resolve()
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(root)
        except ValueError:
            return {"uri": candidate.resolve().as_uri()}
    relative = PurePosixPath(*Path(os.path.normpath(candidate)).parts).as_posix()
    return {"uri": quote(relative, safe="/"), "uriBaseId": SRCROOT}


def physical_location(location: Location, root: Path | None = None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(1, location.line)}
    if location.col and location.col >= 1:
        region["startColumn"] = location.col
    return {
        "physicalLocation": {"artifactLocation": artifact_location(location.path, root), "region": region}
    }


def rule_descriptor(rule: Any, options: Options) -> dict[str, Any]:
    """`reportingDescriptor` of a registered rule class."""
    docs = rule.docs()
    help_text = "\n\n".join(f"{title}\n{body}" for title, body in docs.items() if body)
    severity = options.severity_overrides.get(rule.code, rule.severity)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": docs["What it does"] or rule.summary},
        "help": {"text": help_text, "markdown": rule.markdown()},
        "defaultConfiguration": {"level": LEVELS[severity], "enabled": bool(rule.default_enabled)},
        "properties": {"tags": list(rule.groups), "precision": "high"},
    }


def unknown_descriptor(finding: Finding) -> dict[str, Any]:
    """Descriptor for a finding whose code is not in the registry (should not happen; keeps SARIF valid)."""
    text = f"{finding.code} {finding.name}"
    return {
        "id": finding.code,
        "name": finding.name,
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text},
        "defaultConfiguration": {"level": LEVELS[finding.severity]},
    }


def result(finding: Finding, rule_index: int, root: Path | None = None) -> dict[str, Any]:
    text = finding.message if not finding.fix else f"{finding.message}\nFix: {finding.fix}"
    return {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [physical_location(finding.location, root)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": jsonable(
            {"target": finding.target, "chain": finding.chain, "details": dict(finding.details)}
        ),
    }


def notification(skipped: Any, root: Path | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {
        "level": "warning",
        "message": {"text": f"skipped {skipped.name}: {skipped.reason}"},
    }
    if skipped.location is not None:
        note["locations"] = [physical_location(skipped.location, root)]
    return note


def failure_notification(failure: Any) -> dict[str, Any]:
    """A target whose import or build failed (`relulint check DIR` went on with the others)."""
    return {"level": "error", "message": {"text": f"{failure.path}: {failure.message}"}}


def sarif_document(
    report: Report, *, options: Options | None = None, root: Path | None = None
) -> dict[str, Any]:
    """The SARIF log as Python data."""
    from relulint.fingerprints import fingerprint_report
    from relulint.registry import all_rules

    if any(not f.fingerprint for f in report.findings):  # a report built by hand, not by `relulint.check`
        report = fingerprint_report(report, only_missing=True)
    opts = options or Options()
    rules = [rule_descriptor(rule, opts) for rule in all_rules().values()]
    index = {descriptor["id"]: i for i, descriptor in enumerate(rules)}
    for finding in report.findings:
        if finding.code not in index:
            index[finding.code] = len(rules)
            rules.append(unknown_descriptor(finding))
    driver = {
        "name": "relulint",
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    if report.version:
        driver["version"] = report.version
        driver["semanticVersion"] = report.version
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "invocations": [
            {
                "executionSuccessful": not report.failures,
                "toolExecutionNotifications": [notification(s, root) for s in report.skipped]
                + [failure_notification(f) for f in report.failures],
            }
        ],
        "results": [result(f, index[f.code], root) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    if report.fixed:
        run["properties"] = {"fixedBaselineEntries": list(report.fixed)}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: Report, *, options: Options | None = None, root: Path | None = None) -> str:
    return json.dumps(sarif_document(report, options=options, root=root), indent=2, allow_nan=False) + "\n"
