"""`[tool.relulint]` in pyproject.toml: find it, read it (tomllib), validate every key, map to `Options`.

    [tool.relulint]
    targets = ["models/pinn.py:PINN", { target = "pkg.nets:MLP", kwargs = { width = 8 }, input-shape = [4, 2] }]
    select = ["RL1", "RL2"]            # codes or prefixes (ruff semantics); extend-select, ignore likewise
    fail-on = "warning"                # info | warning | error
    p = 0.01                           # largest acceptable born-dead probability
    per-file-ignores = { "tests/*.py" = ["RL101"] }
    severity = { RL202 = "error" }
    baseline = "relulint-baseline.json"

    [tool.relulint.rules.RL202]
    factor = 1e4

    [tool.relulint.training]           # handed to relulint.training.training_from_config
    target-std = 0.05

The nearest pyproject.toml upward from the working directory that has a `[tool.relulint]` table is used
(as ruff does); paths in it (file targets, `baseline`, `data`, `scripts`, `per-file-ignores` globs) are
relative to its directory. Keys are kebab-case; the result maps them to `Options`' snake_case fields. The
command line overrides everything here. An unknown key or a wrong type is a `ConfigError` (exit code 2)
whose one-line message names the key, e.g.
`pyproject.toml: [tool.relulint] unknown key 'selct' (did you mean 'select'?)`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulint.errors import ConfigError
from relulint.facts import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

SELECTOR = re.compile(r"^RL\d{0,3}$")
DEVICES = ("auto", "cpu", "cuda")
TARGET_KEYS = ("target", "kwargs", "input-shape", "input-dtype")


@dataclass(frozen=True)
class ConfigResult:
    """What the configuration says: `Options` field overrides, the configured targets, where it lives.

    `targets` holds strings (`"model.py:Net"`) and tables (`{"target": ..., "kwargs": {...},
    "input-shape": [..]}`), file targets already rewritten relative to the working directory.
    """

    options: dict[str, Any] = field(default_factory=dict)
    targets: tuple[str | dict[str, Any], ...] = ()
    base_dir: Path | None = None
    path: Path | None = None


# ------------------------------------------------------------------------------------------ finding


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start` that has a `[tool.relulint]` table."""
    directory = Path(start).resolve()
    if directory.is_file():
        directory = directory.parent
    for candidate_dir in (directory, *directory.parents):
        candidate = candidate_dir / "pyproject.toml"
        if candidate.is_file() and _has_relulint_table(candidate):
            return candidate
    return None


def _has_relulint_table(path: Path) -> bool:
    """Cheap test before parsing: does the file mention `tool.relulint` at all? Then parse to be sure."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "relulint" not in text:
        return False
    return "relulint" in _read_toml(path).get("tool", {})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{_display(path)}: invalid TOML: {error}", hint="fix the syntax of pyproject.toml"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{_display(path)}: cannot read: {error}") from None


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:  # another drive on Windows
        return str(path)


# ------------------------------------------------------------------------------------- rule selectors

SELECTOR_HINT = "codes or prefixes: RL101, RL1, RL or ALL (relulint rules lists the codes)"
Fail = Callable[[str, str], Exception]


def parse_selectors(values: list[str], key: str, fail: Fail) -> tuple[str, ...]:
    """Rule selectors (`select`, `ignore`, `extend-select`, `--select`, ...): upper-cased, `ALL` → `RL`.

    Shared by `[tool.relulint]` and the command line. A value that is not `RL` + up to three digits, or
    a full code that no rule has, raises `fail(message, hint)` naming `key` (`'select'`, `--select`)
    and the value.
    """
    codes = ["RL" if c == "ALL" else c for c in (v.strip().upper() for v in values)]
    for code in codes:
        if not SELECTOR.match(code):
            raise fail(f"{key}: {code!r} is not a rule code or prefix (RL101, RL1, RL)", SELECTOR_HINT)
        if len(code) == 5:
            known_rule_code(code, key, fail)
    return tuple(codes)


def known_rule_code(code: str, key: str, fail: Fail) -> str:
    """The registered code for a code or rule name; `fail(message, hint)` naming `key` otherwise."""
    from relulint.registry import all_rules, find_rule

    rule = find_rule(code)
    if rule is None:
        known = tuple(all_rules())
        close = difflib.get_close_matches(code.upper(), known, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        raise fail(f"{key}: unknown rule {code!r}{suggestion}", f"rules are: {', '.join(known)}")
    return rule.code


# ------------------------------------------------------------------------------------------ loading


def load_config(start: Path) -> ConfigResult:
    """Read and validate `[tool.relulint]` of the nearest pyproject.toml; empty result when there is none."""
    start = Path(start).resolve()
    path = find_pyproject(start)
    if path is None:
        return ConfigResult()
    table = _read_toml(path).get("tool", {}).get("relulint", {})
    reader = _Reader(path=path, base_dir=path.parent, cwd=start if start.is_dir() else start.parent)
    options, targets = reader.read(table)
    return ConfigResult(options=options, targets=tuple(targets), base_dir=path.parent, path=path)


@dataclass
class _Reader:
    """Validates one `[tool.relulint]` table; every error names the file, the table and the key."""

    path: Path
    base_dir: Path
    cwd: Path

    # errors ------------------------------------------------------------------------------------------

    def fail(self, message: str, hint: str | None = None, table: str = "tool.relulint") -> ConfigError:
        return ConfigError(f"{_display(self.path)}: [{table}] {message}", hint=hint)

    def unknown(self, key: str, known: tuple[str, ...], table: str = "tool.relulint") -> ConfigError:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if not close and key.replace("_", "-") in known:
            close = [key.replace("_", "-")]
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        return self.fail(
            f"unknown key '{key}'{suggestion}", hint=f"keys are: {', '.join(known)}", table=table
        )

    def wrong(self, key: str, expected: str, value: Any, table: str = "tool.relulint") -> ConfigError:
        return self.fail(f"'{key}' must be {expected}, got {value!r}", table=table)

    # the table ---------------------------------------------------------------------------------------

    def read(self, table: Mapping[str, Any]) -> tuple[dict[str, Any], list[str | dict[str, Any]]]:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{_display(self.path)}: 'tool.relulint' must be a table")
        handlers = self.handlers()
        options: dict[str, Any] = {}
        targets: list[str | dict[str, Any]] = []
        for key, value in table.items():
            if key == "targets":
                targets = self.targets(value)
                continue
            handler = handlers.get(key)
            if handler is None:
                raise self.unknown(key, tuple(sorted([*handlers, "targets"])))
            options.update(handler(key, value))
        return options, targets

    def handlers(self) -> dict[str, Callable[[str, Any], dict[str, Any]]]:
        return {
            "select": lambda k, v: {"select": self.selectors(k, v)},
            "ignore": lambda k, v: {"ignore": self.selectors(k, v)},
            "extend-select": lambda k, v: {"extend_select": self.selectors(k, v)},
            "fail-on": lambda k, v: {"fail_on": self.severity(k, v)},
            "p": lambda k, v: {"p": self.probability(k, v)},
            "timeout": lambda k, v: {"timeout": self.positive(k, v)},
            "input-shape": lambda k, v: {"input_shape": self.input_shape(k, v)},
            "input-dtype": lambda k, v: {"input_dtype": self.input_dtype(k, v)},
            "kwargs": lambda k, v: {"kwargs": self.kwargs(k, v)},
            "per-file-ignores": lambda k, v: {"per_file_ignores": self.per_file_ignores(k, v)},
            "severity": lambda k, v: {"severity_overrides": self.severity_overrides(k, v)},
            "rules": lambda k, v: {"rule_options": self.rule_options(k, v)},
            "training": lambda k, v: self.training(k, v),
            "baseline": lambda k, v: {"baseline": self.relative_path(k, v)},
            "scripts": lambda k, v: {"scripts": tuple(self.relative_path(k, s) for s in self.strings(k, v))},
            "targets-file": lambda k, v: {"targets_file": self.string(k, v)},
            "probe": lambda k, v: {"probe": self.boolean(k, v)},
            "probe-all": lambda k, v: {"probe_all": self.boolean(k, v)},
            "samples": lambda k, v: {"samples": self.count(k, v)},
            "points": lambda k, v: {"points": self.count(k, v)},
            "seed": lambda k, v: {"seed": self.integer(k, v)},
            "device": lambda k, v: {"device": self.choice(k, v, DEVICES)},
            "domain": lambda k, v: {"domain": self.domain(k, v)},
            "data": lambda k, v: {"data": self.relative_path(k, v)},
            "compare": lambda k, v: {"compare": self.choice(k, v, ("rai",))},
            "max-memory": lambda k, v: {"max_memory": self.memory(k, v)},
        }

    # scalar types ------------------------------------------------------------------------------------

    def string(self, key: str, value: Any, table: str = "tool.relulint") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.wrong(key, "a non-empty string", value, table)
        return value.strip()

    def strings(self, key: str, value: Any, table: str = "tool.relulint") -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.wrong(key, "a list of strings", value, table)
        return [v.strip() for v in value]

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.wrong(key, "true or false", value)
        return value

    def integer(self, key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong(key, "an integer", value)
        return value

    def count(self, key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.wrong(key, "an integer >= 1", value)
        return value

    def number(self, key: str, value: Any, table: str = "tool.relulint") -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.wrong(key, "a number", value, table)
        return float(value)

    def positive(self, key: str, value: Any) -> float:
        if self.number(key, value) <= 0:
            raise self.wrong(key, "a positive number", value)
        return float(value)

    def probability(self, key: str, value: Any, table: str = "tool.relulint") -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
            raise self.wrong(key, "a probability between 0 and 1", value, table)
        return float(value)

    def choice(self, key: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.wrong(key, "one of " + ", ".join(repr(c) for c in choices), value)
        return value

    def severity(self, key: str, value: Any, table: str = "tool.relulint") -> Severity:
        try:
            if not isinstance(value, str):
                raise ValueError
            return Severity.parse(value)
        except ValueError:
            raise self.wrong(key, "one of 'info', 'warning', 'error'", value, table) from None

    def shape(self, key: str, value: Any, table: str = "tool.relulint") -> tuple[int, ...]:
        ok = (
            isinstance(value, list)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
        if not ok or any(v < 1 for v in value):
            raise self.wrong(key, "a list of positive integers, e.g. [8, 2]", value, table)
        return tuple(value)

    def input_shape(self, key: str, value: Any, table: str = "tool.relulint") -> Any:
        """``[8, 2]`` (every forward argument) or ``{ x = [8, 1], t = [8, 1] }`` (one per argument)."""
        if isinstance(value, Mapping) and value and all(str(k).isidentifier() for k in value):
            return {str(k): self.shape(f"{key}.{k}", v, table) for k, v in value.items()}
        if isinstance(value, Mapping):
            raise self.wrong(key, "a list of positive integers or a table { x = [8, 1] }", value, table)
        return self.shape(key, value, table)

    def input_dtype(self, key: str, value: Any, table: str = "tool.relulint") -> Any:
        """``"long"`` (every forward argument) or ``{ tokens = "long" }``."""
        from relulint.errors import UsageError
        from relulint.target import check_input_dtype

        try:
            return check_input_dtype(value if isinstance(value, Mapping) else self.string(key, value, table))
        except UsageError as error:
            raise self.wrong(
                key, 'a dtype name such as "long" or a table { ids = "long" }', value, table
            ) from error

    def kwargs(self, key: str, value: Any, table: str = "tool.relulint") -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.wrong(key, "a table of constructor arguments", value, table)
        return dict(value)

    def domain(self, key: str, value: Any) -> tuple[float, float]:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not value[0] < value[1]
        ):
            raise self.wrong(key, "[LOW, HIGH] with LOW < HIGH", value)
        return float(value[0]), float(value[1])

    def memory(self, key: str, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        match = (
            re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", str(value), re.I)
            if isinstance(value, str)
            else None
        )
        if not match:
            raise self.wrong(key, "bytes or a size like '1GiB'", value)
        scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
        return int(float(match.group(1)) * scale)

    def relative_path(self, key: str, value: Any) -> str:
        """A path from the config, made relative to the working directory (absolute if that fails)."""
        text = self.string(key, value)
        return _rebase(text, self.base_dir, self.cwd)

    # rule selection ----------------------------------------------------------------------------------

    def selectors(self, key: str, value: Any, table: str = "tool.relulint") -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        return parse_selectors(
            self.strings(key, value, table), f"'{key}'", lambda m, h: self.fail(m, hint=h, table=table)
        )

    def rule_code(self, key: str, code: str, table: str = "tool.relulint") -> str:
        """The registered code for a code or rule name; an error naming `key` otherwise."""
        return known_rule_code(code, f"'{key}'", lambda m, h: self.fail(m, hint=h, table=table))

    def per_file_ignores(self, key: str, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, Mapping):
            raise self.wrong(key, 'a table of glob = ["codes"]', value)
        out: dict[str, tuple[str, ...]] = {}
        for glob, codes in value.items():
            out[_rebase_glob(glob, self.base_dir, self.cwd)] = self.selectors(
                glob, codes, f"tool.relulint.{key}"
            )
        return out

    def severity_overrides(self, key: str, value: Any) -> dict[str, Severity]:
        if not isinstance(value, Mapping):
            raise self.wrong(key, 'a table of CODE = "info" | "warning" | "error"', value)
        table = f"tool.relulint.{key}"
        return {
            self.rule_code(code, code, table): self.severity(code, level, table)
            for code, level in value.items()
        }

    def rule_options(self, key: str, value: Any) -> dict[str, dict[str, Any]]:
        """`[tool.relulint.rules.CODE]` tables, checked against each rule's declared `RuleOption`s."""
        from relulint.registry import find_rule

        if not isinstance(value, Mapping):
            raise self.wrong(key, "a table of [tool.relulint.rules.CODE] tables", value)
        out: dict[str, dict[str, Any]] = {}
        for code, settings in value.items():
            table = f"tool.relulint.rules.{code}"
            rule = find_rule(self.rule_code(code, code, f"tool.relulint.{key}"))
            assert rule is not None
            if not isinstance(settings, Mapping):
                raise self.wrong(code, "a table of the rule's options", settings, f"tool.relulint.{key}")
            declared = {option.name: option for option in rule.options}
            out[rule.code] = {}
            for name, setting in settings.items():
                option = declared.get(name.replace("-", "_")) or declared.get(name)
                if option is None:
                    if not declared:
                        raise self.fail(f"unknown key '{name}' ({rule.code} has no options)", table=table)
                    raise self.unknown(name, tuple(declared), table=table)
                out[rule.code][option.name] = self.option_value(name, setting, option.default, table)
        return out

    def option_value(self, name: str, value: Any, default: Any, table: str) -> Any:
        """A rule option's value, typed like its default (ints are accepted for float options)."""
        if name == "p":
            return self.probability(name, value, table)
        if default is None:
            return value
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise self.wrong(name, "true or false", value, table)
        elif isinstance(default, float):
            return self.number(name, value, table)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.wrong(name, "an integer", value, table)
        elif isinstance(default, str):
            return self.string(name, value, table)
        elif isinstance(default, (list, tuple)):
            if not isinstance(value, list):
                raise self.wrong(name, "a list", value, table)
            return tuple(value)
        return value

    # targets and training ----------------------------------------------------------------------------

    def targets(self, value: Any) -> list[str | dict[str, Any]]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.wrong("targets", "a list of targets (strings or tables)", value)
        return [self.target(item, number) for number, item in enumerate(value)]

    def target(self, item: Any, number: int) -> str | dict[str, Any]:
        if isinstance(item, str):
            return self.target_spec(self.string("targets", item))
        if not isinstance(item, Mapping):
            raise self.wrong(f"targets[{number}]", "a string or a table with 'target'", item)
        table = f"tool.relulint.targets[{number}]"
        for key in item:
            if key not in TARGET_KEYS:
                raise self.unknown(key, TARGET_KEYS, table=table)
        if "target" not in item:
            raise self.fail("missing key 'target'", hint='{ target = "model.py:Net" }', table=table)
        out: dict[str, Any] = {"target": self.target_spec(self.string("target", item["target"], table))}
        if "kwargs" in item:
            out["kwargs"] = self.kwargs("kwargs", item["kwargs"], table)
        if "input-shape" in item:
            shape = self.input_shape("input-shape", item["input-shape"], table)
            out["input-shape"] = shape if isinstance(shape, dict) else list(shape)
        if "input-dtype" in item:
            out["input-dtype"] = self.input_dtype("input-dtype", item["input-dtype"], table)
        return out

    def target_spec(self, spec: str) -> str:
        """A file target (`dir/model.py[:Name]`) rebased to the working directory; module targets as given."""
        path, name = spec, None
        head, sep, tail = spec.rpartition(":")
        if sep and head and not _is_drive(spec):
            path, name = head, tail
        if not path.endswith(".py") and not (self.base_dir / path).is_file():  # a script `bin/deploy`
            return spec
        rebased = _rebase(path, self.base_dir, self.cwd)
        return rebased if name is None else f"{rebased}:{name}"

    def training(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.wrong(key, "a table ([tool.relulint.training])", value)
        from relulint.training import training_from_config

        try:
            facts, targets_file = training_from_config(dict(value), self.base_dir)
        except ConfigError as error:  # name the file, as every other config error does
            prefix = f"{_display(self.path)}: "
            message = error.message if error.message.startswith(prefix) else prefix + error.message
            raise ConfigError(message, hint=error.hint) from None
        out: dict[str, Any] = {"training": facts}
        if targets_file is not None:
            out["targets_file"] = str(targets_file)
        return out


def _is_drive(spec: str) -> bool:
    """`C:\\models\\net.py` — a Windows drive letter, not a `:Name` suffix."""
    return len(spec) > 2 and spec[1] == ":" and spec[0].isalpha() and spec.count(":") == 1


def _rebase(path: str, base_dir: Path, cwd: Path) -> str:
    """`path` (relative to `base_dir`) as a path relative to `cwd`, posix-style when it stays relative."""
    candidate = Path(path)
    if candidate.is_absolute() or base_dir.resolve() == cwd.resolve():
        return path
    absolute = (base_dir / candidate).resolve()
    try:
        return Path(os.path.relpath(absolute, cwd)).as_posix()
    except ValueError:
        return str(absolute)


def _rebase_glob(glob: str, base_dir: Path, cwd: Path) -> str:
    """A per-file-ignores glob: relative to the config's directory; anchored there when cwd differs."""
    if "/" not in glob or base_dir.resolve() == cwd.resolve() or Path(glob).is_absolute():
        return glob
    return (base_dir.resolve() / glob).as_posix()
