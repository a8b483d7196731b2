"""`--format concise`: one finding a line, `path:line:col: CODE message` (the format editors and grep read).

Baseline entries that no longer match a finding go to stderr as notes (`fixed_notes`), one a line, so
that stdout holds only findings.
"""

from __future__ import annotations

from relulint.records.report import Finding, Report


def one_line(text: str) -> str:
    """Collapse newlines (and the spaces around them) so that a finding stays on one line."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def concise_line(finding: Finding) -> str:
    loc = finding.location
    return f"{loc.path}:{loc.line}:{loc.col}: {finding.code} {one_line(finding.message)}"


def render_concise(report: Report, *, statistics: bool = False) -> str:
    """Every finding on its own line, in report order; with `statistics`, only the counts per rule."""
    if statistics:
        from relulint.render.statistics import render_statistics_text

        return render_statistics_text(report)
    lines = [concise_line(f) for f in report.findings]
    return "\n".join(lines) + "\n" if lines else ""


def fixed_notes(report: Report) -> list[str]:
    """One note per fixed baseline entry: `fixed: RL101 model.py:Net 1 → 3×12 → 1 (baseline entry no longer
    found)`; the command line writes them to stderr."""
    return [f"fixed: {one_line(entry)} (baseline entry no longer found)" for entry in report.fixed]
