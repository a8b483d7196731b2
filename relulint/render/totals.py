"""The totals a report closes with, computed from the `Report` (`relulint.records.report`).

`report_counts`: findings by severity, models, skipped targets and fixed baseline entries (the json
report's `summary` object); `summary_line`: the closing line that says them (the text and github
formats). Per-rule counts (`--statistics`) are `relulint.render.statistics`.
"""

from __future__ import annotations

from relulint.records.report import Report, Severity


def report_counts(report: Report) -> dict[str, int]:
    """Counts for the closing line and the json `summary`: findings by severity, models, skipped, fixed."""
    findings = report.findings
    return {
        "findings": len(findings),
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "info": sum(f.severity is Severity.INFO for f in findings),
        "models": len(report.targets),
        "skipped": len(report.skipped),
        "fixed": len(report.fixed),
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary_line(report: Report) -> str:
    """`N findings (x errors, y warnings, z info) in M models`."""
    c = report_counts(report)
    return (
        f"{_plural(c['findings'], 'finding')} ({_plural(c['errors'], 'error')}, "
        f"{_plural(c['warnings'], 'warning')}, {c['info']} info) in {_plural(c['models'], 'model')}"
    )
