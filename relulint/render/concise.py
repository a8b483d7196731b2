"""`--format concise`: one finding a line, `path:line:col: CODE message` (the format editors and grep read)."""

from __future__ import annotations

from relulint.facts import Finding, Report


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
