"""Suppression comments, per-file ignores, and RL900 unused-suppression.

    nn.Linear(1, 3)  # relulint: ignore[RL101]        suppress RL101 on this line
    nn.Linear(1, 3)  # relulint: ignore[RL1, RL202]   codes or prefixes
    nn.Linear(1, 3)  # relulint: ignore                every code (except RL900)

A comment suppresses the findings that point at its line. `per-file-ignores` (glob → codes) drops the
findings of matching files. A comment that suppressed nothing, in a file of a linted model, is reported
as RL900 unused-suppression (like ruff's RUF100): only codes of rules enabled in this run count (a
comment for a rule switched off by `--select` is left alone), comments inside an `nn.Module` class of
that file that was not linted this run are left alone, and an RL900 is itself suppressed only by an
explicit `ignore[RL900]` on its line (a bare `ignore` that suppresses nothing is reported).

Use `suppress_report(report, options)` for a whole report (models sharing a file share its comments),
or `apply_suppressions(findings, ...)` for one list of findings.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import io
import os
import re
import tokenize
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from relulint.options import Options
from relulint.records.location import Location
from relulint.records.report import Finding, Report, Severity, TargetReport

UNUSED_CODE = "RL900"
UNUSED_NAME = "unused-suppression"
DIRECTIVE = re.compile(r"#\s*relulint\s*:\s*ignore\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)

ReadLine = Callable[[str, int], "str | None"]


@dataclass(frozen=True)
class Directive:
    """One `# relulint: ignore[...]` comment. `codes` is empty for a bare ignore (every code)."""

    path: str
    line: int
    col: int
    codes: tuple[str, ...]
    text: str

    @property
    def bare(self) -> bool:
        return not self.codes

    def covers(self, code: str) -> bool:
        """Does this directive suppress a finding of `code`? (A bare one covers all but RL900.)"""
        if self.bare:
            return code != UNUSED_CODE
        return any(code.startswith(prefix) for prefix in self.codes)


# ------------------------------------------------------------------------------------------ parsing


def parse_directive(comment: str, path: str = "", line: int = 0, col: int = 1) -> Directive | None:
    """The directive in a comment (or a source line), or None."""
    match = DIRECTIVE.search(comment)
    if match is None:
        return None
    raw = match.group("codes")
    codes = tuple(c.strip().upper() for c in raw.split(",") if c.strip()) if raw is not None else ()
    return Directive(path=path, line=line, col=col + match.start(), codes=codes, text=match.group(0))


def scan_source(text: str, path: str = "") -> list[Directive]:
    """Every directive in a file's comments (tokenize, so strings that look like comments don't count)."""
    if DIRECTIVE.search(text) is None:  # a comment is part of the text: no match in it, none in a comment
        return []
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                directive = parse_directive(token.string, path, token.start[0], token.start[1] + 1)
                if directive is not None:
                    found.append(directive)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        found = [d for n, line in enumerate(text.splitlines(), 1) if (d := _line_directive(line, path, n))]
    return found


def _line_directive(line: str, path: str, number: int) -> Directive | None:
    hash_at = line.find("#")
    if hash_at < 0:
        return None
    return parse_directive(line[hash_at:], path, number, hash_at + 1)


# ------------------------------------------------------------------------------------- file access


class SourceCache:
    """Reads the user's files once (relative paths against `cwd`); missing files read as empty."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self._texts: dict[str, str] = {}

    def key(self, path: str) -> str:
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.cwd / candidate
        return os.path.normcase(os.path.normpath(str(candidate)))

    def text(self, path: str) -> str:
        key = self.key(path)
        if key not in self._texts:
            try:
                self._texts[key] = Path(key).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._texts[key] = ""
        return self._texts[key]

    def line(self, path: str, number: int) -> str | None:
        lines = self.text(path).splitlines()
        return lines[number - 1] if 1 <= number <= len(lines) else None


# ------------------------------------------------------------------------------------- per-file ignores


def glob_matches(pattern: str, path: str, cwd: Path | None = None) -> bool:
    """ruff-like glob test: a pattern without `/` matches the file name or the whole relative path; an
    absolute pattern (a config glob anchored at its directory) matches the absolute path; `**/` may
    match no directory at all."""
    relative = Path(path).as_posix()
    absolute = (
        (Path(cwd or Path.cwd()) / path).resolve().as_posix() if not Path(path).is_absolute() else relative
    )
    patterns = {pattern}
    if "**/" in pattern:
        patterns.add(pattern.replace("**/", ""))
    for pat in patterns:
        if "/" not in pat and fnmatch.fnmatch(Path(path).name, pat):
            return True
        if fnmatch.fnmatch(relative, pat) or fnmatch.fnmatch(relative.removeprefix("./"), pat):
            return True
        if pat.startswith("/") and fnmatch.fnmatch(absolute, pat):
            return True
    return False


def per_file_ignored(
    finding: Finding, per_file_ignores: Mapping[str, Iterable[str]], cwd: Path | None = None
) -> bool:
    for pattern, codes in per_file_ignores.items():
        if any(finding.code.startswith(c) for c in codes) and glob_matches(pattern, finding.path, cwd):
            return True
    return False


# ------------------------------------------------------------------------------------------ applying


def apply_suppressions(
    findings: Iterable[Finding],
    read_line: ReadLine | None = None,
    *,
    options: Options | None = None,
    paths: Iterable[str] = (),
    cwd: Path | None = None,
    linted: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """Split findings into (kept, suppressed, unused), `unused` being new RL900 findings.

    `read_line(path, line)` returns a source line (default: read the file from disk, relative to `cwd`).
    `paths` are the linted files scanned for unused directives (none: no RL900). `linted` maps a path to
    the names of the models linted in it; directives inside other `nn.Module` classes of that file are
    not reported. Per-file ignores come from `options.per_file_ignores`.
    """
    opts = options or Options()
    cache = SourceCache(cwd)
    line_of = read_line or cache.line
    kept: list[Finding] = []
    suppressed: list[Finding] = []
    used: dict[tuple[str, int], set[str]] = {}
    for finding in findings:
        if per_file_ignored(finding, opts.per_file_ignores, cache.cwd):
            suppressed.append(finding)
            continue
        directive = _directive_at(finding, line_of)
        if directive is not None and directive.covers(finding.code):
            suppressed.append(finding)
            used.setdefault((cache.key(finding.path), finding.line), set()).add(finding.code)
        else:
            kept.append(finding)
    unused = unused_suppressions(paths, used, opts, cache, linted=linted)
    still_unused = []
    for finding in unused:
        if per_file_ignored(finding, opts.per_file_ignores, cache.cwd):
            suppressed.append(finding)
        else:
            still_unused.append(finding)
    return kept, suppressed, still_unused


def _directive_at(finding: Finding, read_line: ReadLine) -> Directive | None:
    text = read_line(finding.path, finding.line)
    if not text:
        return None
    return _line_directive(text, finding.path, finding.line)


def unused_suppressions(
    paths: Iterable[str],
    used: Mapping[tuple[str, int], set[str]],
    options: Options,
    cache: SourceCache,
    *,
    linted: Mapping[str, Iterable[str]] | None = None,
) -> list[Finding]:
    """RL900 for each directive in `paths` (or each of its codes) that suppressed nothing."""
    enabled = _enabled_codes(options)
    if UNUSED_CODE not in enabled:
        return []
    severity, name = _unused_rule(options)
    out: list[Finding] = []
    seen: set[str] = set()
    for path in paths:
        key = cache.key(path)
        if key in seen:
            continue
        seen.add(key)
        text = cache.text(path)
        directives = scan_source(text, path)
        if not directives:
            continue
        skip = _foreign_module_lines(text, set((linted or {}).get(path, ()))) if linted is not None else set()
        counts: dict[str, int] = {}
        for directive in directives:
            if directive.line in skip:
                continue
            problem = _unused_problem(directive, used.get((key, directive.line), set()), enabled)
            if problem is None:
                continue
            if UNUSED_CODE in directive.codes:  # an explicit ignore[RL900] silences its own line
                continue
            occurrence = counts[directive.text] = counts.get(directive.text, 0) + 1
            out.append(_unused_finding(directive, problem, severity, name, occurrence))
    return out


def _unused_problem(directive: Directive, used: set[str], enabled: set[str]) -> str | None:
    """Why a directive is unused (None when it is in use, or names only rules switched off)."""
    if directive.bare:
        return None if used else "no finding on this line"
    unused = []
    for code in directive.codes:
        if any(u.startswith(code) for u in used):
            continue
        if code == UNUSED_CODE:
            continue
        known = [c for c in _all_codes() if c.startswith(code)]
        if known and not any(c in enabled for c in known):
            continue  # the rule is not selected in this run: the comment may serve another configuration
        unused.append(code if known else f"{code} (unknown rule)")
    if not unused:
        return None
    return f"no {', '.join(unused)} finding on this line"


def _unused_finding(
    directive: Directive, problem: str, severity: Severity, name: str, occurrence: int
) -> Finding:
    from relulint.fingerprints import fingerprint

    finding = Finding(
        code=UNUSED_CODE,
        name=name,
        severity=severity,
        message=f"unused suppression `{directive.text}`: {problem}",
        location=Location(directive.path, directive.line, directive.col),
        fix="remove the comment (or the codes it lists that no longer fire)",
        details={"directive": directive.text, "codes": list(directive.codes)},
        # the directive's text and its occurrence in the file, not its line: stable when lines move
        anchor=f"{directive.text}|{occurrence}",
    )
    # built while the report is (`suppress_report`); fingerprinted here too for callers of
    # `apply_suppressions`, by the one function `relulint.fingerprints.fingerprint_report` uses
    return dataclasses.replace(finding, fingerprint=fingerprint(finding))


def _all_codes() -> list[str]:
    from relulint.registry import all_rules

    return list(all_rules())


def _enabled_codes(options: Options) -> set[str]:
    from relulint.registry import enabled_rules

    return {rule.code for rule in enabled_rules(options)}


def _unused_rule(options: Options) -> tuple[Severity, str]:
    from relulint.registry import all_rules

    rule = all_rules().get(UNUSED_CODE)
    severity = rule.severity if rule is not None else Severity.WARNING
    name = rule.name if rule is not None else UNUSED_NAME
    return options.severity_overrides.get(UNUSED_CODE, severity), name


def _foreign_module_lines(text: str, linted_names: set[str]) -> set[int]:
    """Lines inside top-level `nn.Module` classes of the file that were not linted in this run."""
    from relulint.precommit import module_classes

    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    classes = module_classes(tree)
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in classes and node.name not in linted_names:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines.update(range(start, (node.end_lineno or node.lineno) + 1))
    return lines


# -------------------------------------------------------------------------------------------- report


def suppress_report(report: Report, options: Options | None = None, cwd: Path | None = None) -> Report:
    """The report with suppressions and per-file ignores applied and RL900 findings added.

    Every model's findings are matched against the comments together, so two models in one file share
    its comments; RL900 findings are attached to the first model checked from their file.
    """
    all_findings = [f for t in report.targets for f in t.findings]
    paths = list(dict.fromkeys(t.path for t in report.targets))
    linted: dict[str, set[str]] = {}
    for target in report.targets:
        linted.setdefault(target.path, set()).add(target.name)
    kept, _suppressed, unused = apply_suppressions(
        all_findings, options=options, paths=paths, cwd=cwd, linted=linted
    )
    kept_ids = {id(f) for f in kept}
    cache = SourceCache(cwd)
    owner: dict[str, TargetReport] = {}
    for target in report.targets:
        owner.setdefault(cache.key(target.path), target)
    extra: dict[int, list[Finding]] = {}
    for finding in unused:
        owning = owner.get(cache.key(finding.path))
        if owning is not None:
            extra.setdefault(id(owning), []).append(dataclasses.replace(finding, target=owning.target))
    targets = []
    for target in report.targets:
        findings = [f for f in target.findings if id(f) in kept_ids] + extra.get(id(target), [])
        findings.sort(key=lambda f: (f.path, f.line, f.code, f.chain if f.chain is not None else -1))
        targets.append(dataclasses.replace(target, findings=tuple(findings)))
    return dataclasses.replace(report, targets=tuple(targets))
