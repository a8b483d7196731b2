"""The one output sink of the command line.

Reports go to stdout (or `-o FILE`) in the chosen format and nothing else goes there; notes, warnings
and errors go to stderr. Machine formats (json, sarif, github, concise) are written as plain text,
never through rich markup. Colour only for a terminal, and never with `NO_COLOR` set.

**The report on stdout is the report.** The user's code runs in relulint's process and can write to
stdout at any moment: an ``atexit`` handler after the report, a daemon thread before and after it, a
``fork()`` at import that makes a second process run the rest of relulint. So the command line (its
`main`) calls `enable_stdout_guard`, and the first command body `claim_stdout`: file descriptor 1 is
pointed at stderr for the rest of the process (``sys.stdout`` too), and the report is written to a
duplicate of the original stdout taken then, by the process that took it only (a forked child never
writes a report). In-process callers (typer's test runner, the Python API) never move file descriptors:
the report goes to ``sys.stdout`` as it is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from relulint.errors import DataError, RelulintError
from relulint.options import Options
from relulint.records.report import Report


def color_wanted(stream: Any) -> bool:
    """Colour for an interactive terminal unless `NO_COLOR` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclasses.dataclass(frozen=True)
class _ReportStream:
    """The duplicate of the original stdout (``fd``) and the process that may write to it (``pid``)."""

    fd: int
    pid: int
    encoding: str
    errors: str


_GUARD_WANTED = False
_REPORT_STREAM: _ReportStream | None = None


def enable_stdout_guard() -> None:
    """Let the next `claim_stdout` move file descriptors (the console script's `main` only)."""
    global _GUARD_WANTED
    _GUARD_WANTED = True


def claim_stdout() -> None:
    """Keep the original stdout for the report and send everything else written to stdout to stderr.

    Does nothing unless `enable_stdout_guard` was called, when called again, or where fd 1 or 2 is not
    open (then the report goes to ``sys.stdout``, as in-process). Never undone: the user's ``atexit``
    handlers and daemon threads run until the process ends.
    """
    global _REPORT_STREAM
    if not _GUARD_WANTED or _REPORT_STREAM is not None:
        return
    original = sys.stdout
    for stream in (original, sys.__stdout__, sys.stderr):
        try:
            stream.flush()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            pass
    try:
        os.fstat(2)
        saved = os.dup(1)  # not inheritable (PEP 446): subprocesses never see the report stream
    except OSError:
        return
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return
    _REPORT_STREAM = _ReportStream(
        fd=saved,
        pid=os.getpid(),
        encoding=getattr(original, "encoding", None) or "utf-8",
        errors=getattr(original, "errors", None) or "strict",
    )
    sys.stdout = sys.stderr


def report_owner() -> int | None:
    """The process id that writes the report, when `claim_stdout` took stdout (else None)."""
    return _REPORT_STREAM.pid if _REPORT_STREAM is not None else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_stdout(text: str) -> None:
    """Write the report to the original stdout: the claimed duplicate, or ``sys.stdout`` in-process."""
    stream = _REPORT_STREAM
    try:
        if stream is None:
            if sys.stdout is None:  # started with fd 1 closed
                raise OSError(9, "stdout is closed")
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        if os.getpid() != stream.pid:
            return  # a process forked by the user's code: only the process that started writes the report
        if os.name == "nt":  # pragma: no cover - text mode newlines
            text = text.replace("\n", "\r\n")
        _write_all(stream.fd, text.encode(stream.encoding, stream.errors))
    except OSError as error:
        reason = error.strerror or str(error)
        raise DataError(
            f"cannot write the report to stdout: {reason}",
            hint="check where stdout goes (a full disk, a closed pipe), or write the report to a file: -o FILE",
        ) from None


def report_is_terminal() -> bool:
    """Does the report go to a terminal (colour)?"""
    stream = _REPORT_STREAM
    if stream is not None:
        try:
            return os.isatty(stream.fd)
        except OSError:
            return False
    isatty = getattr(sys.stdout, "isatty", None)
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

    @staticmethod
    def internal_error(error: BaseException, *, debug: bool = False) -> None:
        """An exception relulint did not foresee: one line (the traceback with ``--debug``)."""
        import traceback

        lines: list[str] = []
        if debug:
            lines += traceback.format_exception(type(error), error, error.__traceback__)
        try:
            text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        except Exception:  # a broken __str__
            text = ""
        what = f"{type(error).__name__}: {text}" if text else type(error).__name__
        advice = "a bug in relulint; please report it" if debug else "a bug; --debug shows the traceback"
        lines.append(f"relulint: internal error: {what} ({advice})\n")
        try:
            sys.stderr.write("".join(lines))
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):  # stderr itself is gone: the exit code still says it
            pass

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
        _write_stdout(text)

    def color(self) -> bool:
        return self.output is None and not os.environ.get("NO_COLOR") and report_is_terminal()

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
