"""`--statistics`: how many findings each rule produced (code, name, severity, count)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from relulint.records.report import Report


def statistics(report: Report) -> list[dict[str, Any]]:
    """One row per rule code that fired, most frequent first (ties by code)."""
    counts: Counter[str] = Counter(f.code for f in report.findings)
    names = {f.code: f.name for f in report.findings}
    rows = [
        {"code": code, "name": names[code], "count": count, "severity": _worst_label(report, code)}
        for code, count in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row["count"], row["code"]))


def _worst_label(report: Report, code: str) -> str:
    return max(f.severity for f in report.findings if f.code == code).label


def render_statistics_text(report: Report) -> str:
    """Aligned lines `COUNT  CODE  name  (severity)`, like `ruff --statistics`."""
    rows = statistics(report)
    if not rows:
        return "no findings\n"
    width = max(len(str(row["count"])) for row in rows)
    lines = [f"{row['count']:>{width}}\t{row['code']}\t{row['name']}\t({row['severity']})" for row in rows]
    return "\n".join(lines) + "\n"
