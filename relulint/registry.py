"""Rules: the base class every rule module under `rules/` subclasses, and the registry by code.

A rule is a small class that carries its metadata (code, name, severity, groups), its documentation in
the sections of ruff's rule pages (What it does / Why is this bad? / Example / Use instead / Options /
References) and its example models (`VALID` stay silent, `INVALID` fire at the line marked
`# expect: CODE`). The test-suite turns every example into a test, so adding a rule adds its tests.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import pkgutil
import re
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from relulint.facts import Chain, Finding, Location, ModelFacts, Severity
from relulint.option_types import Kind
from relulint.options import Options

CODE_PATTERN = re.compile(r"^RL\d{3}$")
EXPECT_PATTERN = re.compile(r"#\s*expect:\s*(?P<codes>RL\d{3}(?:\s*,\s*RL\d{3})*)")


@dataclass(frozen=True)
class Case:
    """An example model for a rule's docs and tests.

    `code` is a complete Python file defining `target` (a class or factory). In an INVALID case, every
    line carrying `# expect: RL101` is a line where that finding must point.
    """

    code: str
    target: str = "Net"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # Options field overrides, e.g. {"p": 0.1}
    files: Mapping[str, str] = field(default_factory=dict)  # extra files (a training script, data)
    args: tuple[str, ...] = ()  # extra CLI args (paths relative to the case directory)
    title: str = ""

    @property
    def source(self) -> str:
        return textwrap.dedent(self.code).strip("\n") + "\n"

    def expected(self) -> list[tuple[str, int]]:
        """(code, line) for each `# expect:` mark in the source."""
        marks = []
        for number, line in enumerate(self.source.splitlines(), start=1):
            match = EXPECT_PATTERN.search(line)
            if match:
                for code in match.group("codes").split(","):
                    marks.append((code.strip(), number))
        return marks


@dataclass(frozen=True)
class RuleOption:
    """An option a rule reads, with its default and what it means."""

    name: str
    default: Any
    help: str
    kind: Kind | None = (
        None  # its type and validator (`relulint.option_types`); None: inferred from the default
    )


@dataclass(frozen=True)
class RuleContext:
    """What a rule reads besides the facts: the run's options."""

    options: Options

    def option(self, rule: type[Rule], name: str) -> Any:
        default = next((o.default for o in rule.options if o.name == name), None)
        return self.options.rule_option(rule.code, name, default)


class Rule:
    """Base class of every rule. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    groups: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str]  # one line, used as SARIF shortDescription and in `relulint rules`
    what: ClassVar[str]  # What it does
    why: ClassVar[str]  # Why is this bad? (cite paper and equation)
    example: ClassVar[str] = ""  # defaults to the first INVALID case
    use_instead: ClassVar[str] = ""  # defaults to the first VALID case
    options: ClassVar[tuple[RuleOption, ...]] = ()
    references: ClassVar[tuple[str, ...]] = ()
    default_enabled: ClassVar[bool] = True
    VALID: ClassVar[tuple[Case, ...]] = ()
    INVALID: ClassVar[tuple[Case, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            register(cls)

    def check(self, facts: ModelFacts, ctx: RuleContext) -> Iterable[Finding]:
        raise NotImplementedError

    # helpers for subclasses ------------------------------------------------------------------------

    @classmethod
    def finding(
        cls,
        facts: ModelFacts,
        message: str,
        *,
        chain: Chain | None = None,
        location: Location | None = None,
        severity: Severity | None = None,
        fix: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Finding:
        """A finding of this rule; located at the chain (or `location`, or the model's definition)."""
        where = location or (chain.location if chain is not None else None) or facts.location
        return Finding(
            code=cls.code,
            name=cls.name,
            severity=severity or cls.severity,
            message=message,
            location=where,
            target=facts.target,
            chain=chain.index if chain is not None else None,
            fix=fix,
            details=dict(details or {}),
            fingerprint=fingerprint(cls.code, facts.path, facts.name, chain),
        )

    @classmethod
    def docs(cls) -> dict[str, str]:
        """The rule's documentation, section by section (ruff's layout)."""
        example = (
            textwrap.dedent(cls.example) if cls.example else (cls.INVALID[0].source if cls.INVALID else "")
        )
        use_instead = (
            textwrap.dedent(cls.use_instead)
            if cls.use_instead
            else (cls.VALID[0].source if cls.VALID else "")
        )
        options = "\n".join(f"- `{o.name}` (default `{o.default}`): {o.help}" for o in cls.options)
        return {
            "What it does": textwrap.dedent(cls.what).strip(),
            "Why is this bad?": textwrap.dedent(cls.why).strip(),
            "Example": example.strip(),
            "Use instead": use_instead.strip(),
            "Options": options or "None.",
            "References": "\n".join(f"- {r}" for r in cls.references),
        }

    @classmethod
    def markdown(cls) -> str:
        parts = [f"# {cls.code} {cls.name}", "", cls.summary, ""]
        for title, body in cls.docs().items():
            parts.append(f"## {title}")
            if title in {"Example", "Use instead"} and body:
                body = f"```python\n{body}\n```"
            parts += [body, ""]
        return "\n".join(parts).rstrip() + "\n"


_REGISTRY: dict[str, type[Rule]] = {}


def register(rule: type[Rule]) -> type[Rule]:
    """Add a rule class to the registry under its code (called by `Rule.__init_subclass__`)."""
    if not CODE_PATTERN.match(rule.code):
        raise ValueError(f"rule code {rule.code!r} is not of the form RLnnn")
    existing = _REGISTRY.get(rule.code)
    if existing is not None and existing.__qualname__ != rule.__qualname__:
        raise ValueError(f"rule code {rule.code} registered twice ({existing.__name__}, {rule.__name__})")
    _REGISTRY[rule.code] = rule
    return rule


_DISCOVERED: list[bool] = []  # set once every module under `rules/` has been imported


def _discover() -> None:
    import relulint.rules as package

    _DISCOVERED.append(True)

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def all_rules() -> dict[str, type[Rule]]:
    """Every rule, by code, in code order."""
    if not _DISCOVERED:  # not `not _REGISTRY`: importing one rule module first registers only that rule
        _discover()
    return dict(sorted(_REGISTRY.items()))


def find_rule(code_or_name: str) -> type[Rule] | None:
    key = code_or_name.strip()
    rules = all_rules()
    if key.upper() in rules:
        return rules[key.upper()]
    return next((r for r in rules.values() if r.name == key.lower()), None)


# ---------------------------------------------------------------------------------------- selection

Selection = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # (select, extend_select, ignore)


def _specificity(selector: str) -> int:
    """`RL` (ALL) < `RL1` < `RL10` < `RL101`: a longer prefix is more specific."""
    return len(selector)


def selection_updates(
    select: Iterable[str], extend_select: Iterable[str], ignore: Iterable[str]
) -> dict[str, bool]:
    """What one layer of selectors says about each rule it mentions: code → enabled.

    Selectors apply from the least to the most specific, so the more specific one wins
    (`select = ["RL101"]`, `ignore = ["RL1"]` keeps RL101); at equal specificity `ignore` wins (ruff).
    """
    codes = list(all_rules())
    chosen = [(s.strip().upper(), True) for s in (*select, *extend_select) if s.strip()]
    chosen += [(s.strip().upper(), False) for s in ignore if s.strip()]
    updates: dict[str, bool] = {}
    for level in sorted({_specificity(s) for s, _ in chosen}):
        for enabled in (True, False):
            for selector, on in chosen:
                if on is enabled and _specificity(selector) == level:
                    updates.update({code: on for code in codes if code.startswith(selector)})
    return updates


def resolve_selection(layers: Iterable[Selection]) -> set[str]:
    """The enabled codes after applying each layer (defaults ← config ← command line) in turn.

    ruff's "Rule selection": a layer that sets `select` replaces the whole selection so far (the
    command line's `--select` discards the config's `select`, `extend-select` and `ignore`); a layer
    with only `extend-select` / `ignore` edits it.
    """
    enabled = {code for code, rule in all_rules().items() if rule.default_enabled}
    for select, extend_select, ignore in layers:
        updates = selection_updates(select, extend_select, ignore)
        if select:
            enabled = {code for code, on in updates.items() if on}
        else:
            enabled |= {code for code, on in updates.items() if on}
            enabled -= {code for code, on in updates.items() if not on}
    return enabled


def enabled_rules(options: Options) -> list[type[Rule]]:
    """The rules selected by `select` / `extend-select` / `ignore` (ruff semantics: prefixes match, the
    more specific selector wins)."""
    codes = resolve_selection([(options.select, options.extend_select, options.ignore)])
    return [rule for code, rule in all_rules().items() if code in codes]


# -------------------------------------------------------------------------------------- fingerprints


def fingerprint_root(cwd: str | Path | None = None) -> Path:
    """The directory fingerprints' paths are relative to: the directory of the pyproject.toml holding
    `[tool.relulint]` (found upward from `cwd`, as the config is), else the git root, else `cwd`."""
    from relulint.config import find_pyproject
    from relulint.errors import ConfigError

    start = Path(cwd if cwd is not None else Path.cwd()).resolve()
    try:
        config = find_pyproject(start)
    except ConfigError:  # an unreadable pyproject.toml is reported by the config loader, not here
        config = None
    if config is not None:
        return config.parent
    return next((d for d in (start, *start.parents) if (d / ".git").exists()), start)


_PINNED_ROOT: ContextVar[Callable[[], Path] | None] = ContextVar("relulint_pinned_root", default=None)


@contextmanager
def pinned_root() -> Iterator[None]:
    """Within the block, `project_path` / `fingerprint` without a `root` share one `fingerprint_root()`,
    worked out on first use, instead of walking up to pyproject.toml for every finding. For blocks that
    run no user code and change neither the working directory nor a pyproject.toml / `.git`."""
    token = _PINNED_ROOT.set(functools.cache(fingerprint_root))
    try:
        yield
    finally:
        _PINNED_ROOT.reset(token)


def project_path(path: str, root: Path | None = None) -> str:
    """`path` (relative to the working directory, or absolute) relative to `fingerprint_root()`, posix;
    the path as given (posix) when it lies outside the root or is not a file path (`<module>`)."""
    if not path or path.startswith("<"):
        return path
    if root is None:
        pinned = _PINNED_ROOT.get()
        root = pinned() if pinned is not None else fingerprint_root()
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return Path(path).as_posix()


def fingerprint(
    code: str, path: str, model: str, chain: Chain | None = None, extra: str = "", root: Path | None = None
) -> str:
    """The stable, line-free id of a finding (SARIF partialFingerprints, baseline keys): rule code, the
    model's file relative to the project root (so it does not depend on the working directory), the
    model's name, and for a chain finding the chain's layer names and shape."""
    parts = [
        code,
        project_path(path, root),
        model,
        ",".join(chain.modules) if chain else "",
        chain.shape if chain else "",
    ]
    if extra:
        parts.append(extra)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def run_rules(facts: ModelFacts, options: Options) -> Iterator[Finding]:
    """Every enabled rule's findings on one model, with severity overrides applied."""
    ctx = RuleContext(options)
    with pinned_root():  # one root look-up per model, not per finding; left before yielding to the caller
        found = [finding for rule in enabled_rules(options) for finding in rule().check(facts, ctx)]
    for finding in found:
        override = options.severity_overrides.get(finding.code)
        if override is not None and override != finding.severity:
            from dataclasses import replace

            finding = replace(finding, severity=override)
        yield finding
