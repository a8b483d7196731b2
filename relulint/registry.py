"""Rules: the base class every rule module under `rules/` subclasses, and the registry by code.

A rule is a small class that carries its metadata (code, name, severity, groups), its documentation in
the sections of ruff's rule pages (What it does / Why is this bad? / Example / Use instead / Options /
References) and its example models (`VALID` stay silent, `INVALID` fire at the line marked
`# expect: CODE`). The test-suite turns every example into a test, so adding a rule adds its tests.

A rule reads one `ModelFacts`: the ReLU chains (`facts.chains`), the whole captured graph as plain records
(`facts.graph`), the training set-up and the probes; it never computes a fingerprint (the report does,
`relulint.fingerprints`). Rules are the modules of `rules/` (shipped as `relulint.rules`) and those that
installed packages declare under the `relulint.rules` entry-point group (`ENTRY_POINT_GROUP`).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from relulint.option_types import Kind
from relulint.options import Options
from relulint.records.location import Location
from relulint.records.model_facts import Chain, ModelFacts
from relulint.records.report import Finding, Severity

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

#: the entry-point group of rule plugins: a package that declares
#: ``[project.entry-points."relulint.rules"] my-rule = "my_package.my_rule"`` has that module imported
#: (and so its `Rule` subclasses registered) with the built-in rules (CONTRIBUTING.md, "Rules of your own")
ENTRY_POINT_GROUP = "relulint.rules"


def _discover() -> None:
    import relulint.rules as package

    _DISCOVERED.append(True)

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    _load_plugins()


def _load_plugins() -> None:
    """Import every module (or class) registered under `ENTRY_POINT_GROUP`; one that fails is a
    `ConfigError` (exit code 2) naming it."""
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            entry.load()
        except Exception as error:
            from relulint.errors import ConfigError

            raise ConfigError(
                f"rule plugin {entry.name!r} ({entry.value}) failed to load: {type(error).__name__}: {error}",
                hint=f"fix or uninstall the package that declares it (entry points '{ENTRY_POINT_GROUP}')",
            ) from None


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


def run_rules(facts: ModelFacts, options: Options) -> Iterator[Finding]:
    """Every enabled rule's findings on one model, with severity overrides applied."""
    ctx = RuleContext(options)
    found = [finding for rule in enabled_rules(options) for finding in rule().check(facts, ctx)]
    for finding in found:
        override = options.severity_overrides.get(finding.code)
        if override is not None and override != finding.severity:
            from dataclasses import replace

            finding = replace(finding, severity=override)
        yield finding
