"""`--format github`: GitHub Actions workflow commands, one annotation per finding.

    ::error file=model.py,line=8,col=1,title=RL101 born-dead-relu-chain::ReLU chain 1 → 3×12 → 1 ...

Severity → command: error → `::error`, warning → `::warning`, info → `::notice`. Escaping follows the
runner (actions/toolkit `command.ts`): in the message `%` → `%25`, CR → `%0D`, LF → `%0A`; in property
values also `:` → `%3A` and `,` → `%2C`. GitHub shows at most 10 errors and 10 warnings per step, so a
plain summary line closes the output.
"""

from __future__ import annotations

from relulint.records.location import Location
from relulint.records.report import Finding, Report, Severity
from relulint.render.totals import summary_line

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message (after `::`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (`file=`, `title=`, ...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, properties: dict[str, str | int]) -> str:
    """`::command k=v,k=v::message` with every part escaped."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    head = f"::{command} {props}" if props else f"::{command}"
    return f"{head}::{escape_data(message)}"


def _location_properties(location: Location | None) -> dict[str, str | int]:
    if location is None:
        return {}
    props: dict[str, str | int] = {"file": location.path.replace("\\", "/"), "line": max(1, location.line)}
    if location.col:
        props["col"] = location.col
    return props


def annotation(finding: Finding) -> str:
    """The workflow command of one finding (its fix, when known, on a second line)."""
    message = finding.message if not finding.fix else f"{finding.message}\nfix: {finding.fix}"
    props = {**_location_properties(finding.location), "title": f"{finding.code} {finding.name}"}
    return workflow_command(COMMANDS[finding.severity], message, props)


def render_github(report: Report) -> str:
    """Annotations for every finding, a notice per skipped module, then a plain summary line."""
    lines = [annotation(f) for f in report.findings]
    for skipped in report.skipped:
        props = {**_location_properties(skipped.location), "title": f"relulint skipped {skipped.name}"}
        lines.append(workflow_command("notice", skipped.reason, props))
    for failure in report.failures:
        props = {"file": failure.path, "title": "relulint could not check this file"}
        lines.append(workflow_command("error", failure.message, props))
    if report.fixed:
        lines.append(
            workflow_command(
                "notice", f"{len(report.fixed)} baseline entries are fixed", {"title": "relulint"}
            )
        )
    lines.append(f"relulint: {summary_line(report)}")
    return "\n".join(lines) + "\n"
