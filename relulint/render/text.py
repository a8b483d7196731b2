"""`--format text`: the human report, drawn with rich.

One panel per model: a table of its ReLU chains (shape, ReLU depth, born-dead probability with the
lower bound and probe when known, the deepest safe chain at this width, the narrowest safe width at this
depth, verdict) and its findings (severity, code, name, path:line, then the message and the fix). Then the skipped modules,
the fixed baseline entries, and the closing line `N findings (x errors, y warnings, z info) in M models`.

Colour only for a terminal without `NO_COLOR`; otherwise plain text at a fixed width of 100 columns so
that CI logs do not depend on the runner's terminal. Everything from the user's code is added as
`rich.text.Text` (never parsed as markup), so `ignore[RL101]` in a message stays as it is.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich import box
from rich.console import Console, Group, JustifyMethod
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from relulint.chain_facts import init_notes, init_runs
from relulint.formatting import percent
from relulint.options import Options
from relulint.records.report import Finding, Report, Severity, TargetReport
from relulint.render.probe import probe_summary_lines
from relulint.render.totals import summary_line
from relulint.theory.collapse import DEPTH_CAP
from relulint.verdict import (
    VERDICT_AT_RISK,
    VERDICT_LIKELY_DEAD,
    VERDICT_OK,
    VERDICT_PROTECTED,
    chain_summary,
)

PLAIN_WIDTH = 100
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
VERDICT_STYLE = {
    VERDICT_LIKELY_DEAD: "bold red",
    VERDICT_AT_RISK: "yellow",
    VERDICT_OK: "green",
    VERDICT_PROTECTED: "green",
}


def wants_color(stream: Any = None) -> bool:
    """Colour for an interactive terminal unless `NO_COLOR` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream or sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def depth_text(depth: int | None) -> str:
    if depth is None:
        return "–"
    if depth >= DEPTH_CAP:
        return "unlimited"
    return str(depth) if depth < 10**6 else f"{depth:.1e}"


def probability_cell(summary: dict[str, Any]) -> Text:
    """`≤ 79.8 %` (Thm 8), `≥ 61 %` (Thm 3.3) and `probe 70 %` on separate lines when known; `—` for a
    chain that cannot kill the network (a norm before every ReLU, a skip around it)."""
    protected = summary["verdict"] == VERDICT_PROTECTED
    bound = summary["p_upper_unprotected"]
    lines = ["—" if protected else "100 %" if bound >= 1.0 else f"≤ {percent(bound)}"]
    if summary["p_upper_unprotected"] != summary["p_upper"]:
        without = "without the skip" if summary.get("skip") else "unprotected"
        lines.append(f"(≤ {percent(summary['p_upper'])} {without})")
    if summary["p_lower"] is not None:
        lines.append(f"≥ {percent(summary['p_lower'])}")
    if summary["p_probe"] is not None:
        lines.append(f"probe {percent(summary['p_probe'])}")
    return Text("\n".join(lines))


def chain_summaries(target: TargetReport, p: float) -> list[dict[str, Any]]:
    """`verdict.chain_summary` of each chain of the target (with its probe), in chain order."""
    facts = target.facts
    assert facts is not None
    return [chain_summary(chain, p, facts.probes.get(chain.index)) for chain in facts.chains]


def chain_table(summaries: list[dict[str, Any]]) -> Table:
    """The chain table, from `chain_summaries`."""
    table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("shape (widths)", overflow="fold")
    table.add_column("ReLU depth", justify="right")
    table.add_column("P born dead", justify="right")
    table.add_column("safe depth\nat width", justify="right")
    table.add_column("min width\nfor depth", justify="right")
    table.add_column("verdict")
    for s in summaries:
        where = f"\nline {s['line']}" if s["line"] else ""
        table.add_row(
            str(s["index"]),
            Text(f"{s['shape']}{where}"),
            str(s["depth"]),
            probability_cell(s),
            depth_text(s["safe_depth"]),
            depth_text(s["min_width"]),
            Text(s["verdict"], style=VERDICT_STYLE.get(s["verdict"], "")),
        )
    return table


def chain_lines(target: TargetReport, summaries: list[dict[str, Any]]) -> list[Text]:
    """Under the chain table, per chain: its initializers (runs of equal layers merged, `chain_facts.init_runs`)
    and why relulint trusted the values over a record, the normalization and skip notes, the probes
    (`summaries`: `chain_summaries`)."""
    facts = target.facts
    assert facts is not None
    lines: list[Text] = []
    for chain, s in zip(facts.chains, summaries, strict=True):
        spans = [
            f"{'layer ' + str(a) if a == b else f'layers {a}–{b}'} {text}" for a, b, text in init_runs(chain)
        ]
        lines.append(Text(f"init #{chain.index}: " + "; ".join(spans)))
        lines += [Text(f"  note: {why}", style="dim") for why in init_notes(chain)]
        for label, note in (("norm", s["normalization"]), ("skip", s["skip"])):
            if note:
                lines.append(Text(f"{label} #{chain.index}: {note}"))
        bound = s["p_upper_unprotected"]
        for label, results, limit in (("probe", facts.probes, bound), ("rai", facts.compare_probes, None)):
            result = results.get(chain.index)
            if result is not None:
                probe_lines = probe_summary_lines(result, limit, label=f"{label} #{chain.index}", chain=chain)
                lines += [Text(line if i == 0 else f"  {line}") for i, line in enumerate(probe_lines)]
    return lines


def path_lines(target: TargetReport, p: float) -> list[Text]:
    """Under the chains: each set of ReLU layers on every input→output path that spans several chains, with
    its own bound (what RL101 decides on; `relulint.verdict.kill_sets`). One chain's set is its table row."""
    from relulint.verdict import kill_sets, loose_bound, single_chain, verdict_for

    facts = target.facts
    assert facts is not None
    lines: list[Text] = []
    for kill_set in kill_sets(facts.chains):
        if single_chain(kill_set, facts.chains) is not None:
            continue
        chains = " + ".join(f"#{i}" for i in kill_set.chains)
        widths = kill_set.widths
        shape = f"{widths[0]}×{len(widths)}" if len(set(widths)) == 1 else "-".join(map(str, widths))
        bound = kill_set.bound
        chosen = kill_set.member_chains(facts.chains)
        verdict = verdict_for(bound, p, loose=loose_bound(chosen, "bound"))
        line = Text(
            f"path {chains}: {len(widths)} ReLU layers ({shape}) on every input→output path: "
            f"≤ {percent(bound)} (collapse Thm 8 over them all) "
        )
        line.append(verdict, style=VERDICT_STYLE.get(verdict, ""))
        lines.append(line)
    return lines


def findings_block(findings: tuple[Finding, ...]) -> Group:
    """Each finding as a block: `severity CODE name  path:line`, then the message and the fix, indented.

    A block rather than a table column gives the message the panel's whole width, so long messages
    (every number with its theorem) stay readable in a 100-column CI log.
    """
    blocks: list[Any] = []
    for finding in findings:
        head = Text()
        head.append(finding.severity.label, style=SEVERITY_STYLE[finding.severity])
        head.append(" ")
        head.append(finding.code, style="bold")
        head.append(f" {finding.name}  ")
        head.append(f"{finding.location.path}:{finding.location.line}", style="bold")
        body = Text(finding.message)
        if finding.fix:
            body.append(f"\nfix: {finding.fix}", style="dim")
        blocks += [head, Padding(body, (0, 0, 0, 2))]
    return Group(*blocks)


def model_panel(target: TargetReport, p: float, width: int | None = None) -> Panel:
    """One model's panel; `width` is the console's, so that a long title is never cropped."""
    parts: list[Any] = []
    facts = target.facts
    if facts is not None and facts.capture_method != "fx":
        reason = f" ({facts.capture_reason})" if facts.capture_reason else ""
        parts.append(Text(f"capture: {facts.capture_method}{reason}", style="dim"))
    if facts is not None and facts.audit is not None:  # `relulint audit`: the trained model's section
        from relulint.render.audit import audit_lines

        parts += [Text(line) for line in audit_lines(facts.audit)]
    elif facts is None or not facts.chains:
        parts.append(Text("no ReLU chain found"))
    else:
        summaries = chain_summaries(target, p)
        parts.append(chain_table(summaries))
        parts += chain_lines(target, summaries)
        parts += path_lines(target, p)
    parts.append(Text(""))
    if target.findings:
        parts.append(findings_block(target.findings))
    else:
        parts.append(Text("no findings", style="green"))
    title = Text(f"{target.path}:{target.name}", style="bold")
    if width is not None and title.cell_len > width - 6:
        # rich crops a title wider than the panel's top edge: print it whole, folded, as the first line
        title.overflow = "fold"
        return Panel(Group(title, *parts), box=box.ROUNDED, expand=True)
    return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED, expand=True)


def closing_lines(report: Report) -> list[Any]:
    lines: list[Any] = []
    if report.skipped:
        lines.append(Text(f"skipped {len(report.skipped)} module(s):", style="bold"))
        for skipped in report.skipped:
            where = f" ({skipped.location.path}:{skipped.location.line})" if skipped.location else ""
            lines.append(Text(f"  {skipped.name}{where}: {skipped.reason}"))
    if report.failures:
        lines.append(Text(f"failed {len(report.failures)} target(s):", style="bold red"))
        lines += [Padding(Text(f"error: {f.path}: {f.message}"), (0, 0, 0, 2)) for f in report.failures]
    if report.fixed:
        lines.append(
            Text(f"{len(report.fixed)} baseline entries are fixed (no longer found):", style="green")
        )
        lines += [Text(f"  {entry}") for entry in report.fixed]
    style = _summary_style(report)
    lines.append(Text(summary_line(report), style=style))
    return lines


def _summary_style(report: Report) -> str:
    worst = report.worst()
    return SEVERITY_STYLE[worst] if worst is not None else "bold green"


def statistics_table(report: Report) -> Table:
    from relulint.render.statistics import statistics

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=None)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("count", "right"),
        ("code", "left"),
        ("name", "left"),
        ("severity", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for row in statistics(report):
        table.add_row(str(row["count"]), row["code"], row["name"], row["severity"])
    return table


def render_text(
    report: Report, *, options: Options | None = None, color: bool | None = None, statistics: bool = False
) -> str:
    """The whole report as a string (ANSI colours only when `color`)."""
    p = (options or Options()).p
    color = wants_color() if color is None else color
    width = console_width(color)
    renderables: list[Any] = [model_panel(t, p, width) for t in report.targets]
    if statistics and report.findings:
        renderables.append(statistics_table(report))
    renderables += closing_lines(report)
    return to_string(renderables, color=color)


def console_width(color: bool) -> int:
    """The terminal's width in colour, a fixed 100 columns in plain text."""
    return Console().width if color else PLAIN_WIDTH


def to_string(renderables: list[Any], *, color: bool) -> str:
    """Render with rich into a string: the terminal's width in colour, a fixed 100 columns in plain."""
    width = console_width(color)
    console = Console(
        width=width,
        color_system="auto" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
        legacy_windows=False,
    )
    with console.capture() as captured:
        for renderable in renderables:
            console.print(renderable)
    text = captured.get()
    if not color:
        text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    return text
