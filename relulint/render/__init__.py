"""Report renderers: one function per format, all reading the same `Report` and `chain_summary`.

    render(report, fmt, options=..., color=..., statistics=...) -> str

Formats (`FORMATS`): `text` (rich panels; plain without colour when not a terminal or with `NO_COLOR`),
`concise` (`path:line:col: CODE message`), `json` (versioned; docs/json-format.md), `sarif` (2.1.0) and
`github` (workflow commands). Machine formats are built as plain strings, never through rich markup.

`statistics=True` (`--statistics`, counts per rule): text appends a table of counts to the report,
concise prints only the counts (as ruff does), json adds a `statistics` list to the document; sarif and
github are unchanged (their consumers would not read it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from relulint.errors import UsageError
from relulint.options import Options
from relulint.records.report import Report

FORMATS: tuple[str, ...] = ("text", "concise", "json", "sarif", "github")


def render(
    report: Report,
    fmt: str,
    *,
    options: Options | None = None,
    color: bool | None = None,
    statistics: bool = False,
) -> str:
    """The report as one string in format `fmt` (ends with a newline unless empty).

    `color=None` means "decide from stdout and `NO_COLOR`" (text only); the other formats never colour.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"--format one of: {', '.join(FORMATS)}")
    return _renderer(fmt)(report, options or Options(), color, statistics)


def _renderer(fmt: str) -> Callable[[Report, Options, bool | None, bool], str]:
    """The renderer of one format, importing only its module (the machine formats never load rich)."""
    module = importlib.import_module(f"relulint.render.{fmt}")
    call = _CALLS[fmt]
    return lambda r, o, c, s: call(module, r, o, c, s)


# how each format's module is called: (module, report, options, color, statistics) -> str
_CALLS: dict[str, Callable[[Any, Report, Options, bool | None, bool], str]] = {
    "text": lambda m, r, o, c, s: m.render_text(r, options=o, color=c, statistics=s),
    "concise": lambda m, r, o, c, s: m.render_concise(r, statistics=s),
    "json": lambda m, r, o, c, s: m.render_json(r, options=o, statistics=s),
    "sarif": lambda m, r, o, c, s: m.render_sarif(r, options=o),
    "github": lambda m, r, o, c, s: m.render_github(r),
}
