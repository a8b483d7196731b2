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
(as ruff does; `relulint.project.find_pyproject` finds it); paths in it (file targets, `baseline`, `data`, `scripts`, `per-file-ignores` globs) are
relative to its directory. Keys are kebab-case; the result maps them to `Options`' snake_case fields. The
command line overrides everything here. An unknown key or a wrong type is a `ConfigError` (exit code 2)
whose one-line message names the key, e.g.
`pyproject.toml: [tool.relulint] unknown key 'selct' (did you mean 'select'?)`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulint.errors import ConfigError
from relulint.option_specs import TABLE, TARGETS, Source, config_specs, display_path, validate
from relulint.option_types import InvalidValue, rule_option_kind, unknown_key
from relulint.project import find_pyproject, read_toml

__all__ = ["ConfigResult", "find_pyproject", "load_config"]


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


_display = display_path


# ------------------------------------------------------------------------------------------ loading


def load_config(start: Path) -> ConfigResult:
    """Read and validate `[tool.relulint]` of the nearest pyproject.toml; empty result when there is none."""
    start = Path(start).resolve()
    path = find_pyproject(start)
    if path is None:
        return ConfigResult()
    table = read_toml(path).get("tool", {}).get("relulint", {})
    reader = _Reader(path=path, base_dir=path.parent, cwd=start if start.is_dir() else start.parent)
    options, targets = reader.read(table)
    return ConfigResult(options=options, targets=tuple(targets), base_dir=path.parent, path=path)


@dataclass
class _Reader:
    """Validates one `[tool.relulint]` table by the option specs; every error names the file and the key."""

    path: Path
    base_dir: Path
    cwd: Path

    @property
    def source(self) -> Source:
        return Source("config", self.path)

    def fail(self, message: str, hint: str | None = None, table: str = TABLE) -> ConfigError:
        return ConfigError(f"{_display(self.path)}: [{table}] {message}", hint=hint)

    def read(self, table: Mapping[str, Any]) -> tuple[dict[str, Any], list[str | dict[str, Any]]]:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{_display(self.path)}: 'tool.relulint' must be a table")
        specs = config_specs(TABLE)
        options: dict[str, Any] = {}
        targets: list[str | dict[str, Any]] = []
        for key, value in table.items():
            if key == "training":
                options.update(self.training(key, value))
                continue
            spec = specs.get(key)
            if spec is None:
                unknown = unknown_key(key, tuple(sorted([*specs, "training"])))
                raise self.fail(unknown.problem(), hint=unknown.hint)
            checked = validate(spec, value, self.source)
            if spec is TARGETS:
                targets = [self.target(item) for item in checked]
            else:
                options[spec.name] = self.rebased(spec.name, checked)
        return options, targets

    def rebased(self, name: str, value: Any) -> Any:
        """Paths in the config are relative to its directory: made relative to the working directory."""
        if name in ("baseline", "data"):
            return _rebase(value, self.base_dir, self.cwd)
        if name == "scripts":
            return tuple(_rebase(script, self.base_dir, self.cwd) for script in value)
        if name in ("include", "exclude"):
            return tuple(_rebase_glob(glob, self.base_dir, self.cwd) for glob in value)
        if name == "per_file_ignores":
            return {_rebase_glob(glob, self.base_dir, self.cwd): codes for glob, codes in value.items()}
        return value

    def option_value(self, name: str, value: Any, default: Any, table: str) -> Any:
        """A rule option's value, checked by the kind its default implies (ints are accepted for floats)."""
        kind = rule_option_kind(name, default)
        try:
            return kind.check(value)
        except InvalidValue as error:
            raise self.fail(f"'{name}' {error.problem()}", hint=error.hint, table=table) from None

    # targets and training ----------------------------------------------------------------------------

    def target(self, item: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(item, str):
            return self.target_spec(item)
        return {**item, "target": self.target_spec(item["target"])}

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
            raise self.fail(f"'{key}' must be a table ([tool.relulint.training]), got {value!r}")
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
