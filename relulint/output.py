"""The one output sink of the command line.

Reports go to stdout (or `-o FILE`) in the chosen format and nothing else goes there; notes, warnings
and errors go to stderr. Machine formats (json, sarif, github, concise) are written as plain text,
never through rich markup. Colour only for a terminal, and never with `NO_COLOR` set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from relulint.errors import DataError, RelulintError
from relulint.facts import Report
from relulint.options import Options


def color_wanted(stream: Any) -> bool:
    """Colour for an interactive terminal unless `NO_COLOR` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Sink:
    """Writes one report in one format to stdout or a file; messages to stderr."""

    def __init__(self, fmt: str = "text", output: Path | None = None) -> None:
        self.fmt = fmt
        self.output = output

    @property
    def interactive(self) -> bool:
        return self.fmt == "text" and self.output is None and color_wanted(sys.stderr)

    # messages ----------------------------------------------------------------------------------------

    @staticmethod
    def note(message: str) -> None:
        sys.stderr.write(f"relulint: {message}\n")

    @staticmethod
    def warn(message: str) -> None:
        sys.stderr.write(f"relulint: warning: {message}\n")

    @staticmethod
    def error(error: RelulintError) -> None:
        lines = [f"relulint: error: {error.message}"]
        if error.detail:
            lines.append(error.detail.rstrip("\n"))
        if error.hint:
            lines.append(f"  hint: {error.hint}")
        sys.stderr.write("\n".join(lines) + "\n")

    # documents ---------------------------------------------------------------------------------------

    def write(self, text: str) -> None:
        if text and not text.endswith("\n"):  # an empty report (concise, no findings) stays empty
            text += "\n"
        if self.output is not None:
            try:
                self.output.parent.mkdir(parents=True, exist_ok=True)
                self.output.write_text(text, encoding="utf-8")
            except OSError as error:
                raise DataError(
                    f"cannot write {self.output}: {error.strerror}", hint="check -o/--output"
                ) from None
            return
        sys.stdout.write(text)
        sys.stdout.flush()

    def color(self) -> bool:
        return self.output is None and color_wanted(sys.stdout)

    def emit_report(self, report: Report, *, options: Options, statistics: bool = False) -> None:
        from relulint.render import render

        self.write(render(report, self.fmt, options=options, color=self.color(), statistics=statistics))
        if self.fmt == "concise":  # its stdout is findings only: fixed baseline entries are notes
            from relulint.render.concise import fixed_notes

            for note in fixed_notes(report):
                self.note(note)

    def emit_probe(self, report: Report, *, options: Options) -> None:
        from relulint.render.probe import render_probe

        self.write(render_probe(report, self.fmt, options=options, color=self.color()))

    def emit_rules(self) -> None:
        from relulint.registry import all_rules

        rules = all_rules().values()
        if self.fmt == "json":
            rows = [
                {
                    "code": r.code,
                    "name": r.name,
                    "severity": r.severity.label,
                    "groups": list(r.groups),
                    "summary": r.summary,
                    "options": {o.name: o.default for o in r.options},
                    "default_enabled": r.default_enabled,
                }
                for r in rules
            ]
            self.write(json.dumps({"version": 1, "rules": rows}, indent=2))
            return
        from rich.table import Table

        table = Table(title=None, show_lines=False, box=None, pad_edge=False)
        for column in ("code", "name", "severity", "summary"):
            table.add_column(column, overflow="fold")
        for r in rules:
            table.add_row(r.code, r.name, r.severity.label, r.summary)
        self.write(_render_rich(table, color=self.color()))

    def emit_rule_doc(self, rule: Any) -> None:
        text = rule.markdown()
        if self.color():
            from rich.markdown import Markdown

            self.write(_render_rich(Markdown(text), color=True))
        else:
            self.write(text)


def _render_rich(renderable: Any, *, color: bool, width: int | None = None) -> str:
    """Render a rich object to a string: ANSI colour for a terminal, plain text otherwise."""
    from rich.console import Console

    terminal_width = width or (Console().width if color else 100)
    console = Console(
        width=terminal_width, color_system="auto" if color else None, force_terminal=color, no_color=not color
    )
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()
