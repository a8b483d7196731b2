"""Every option, declared once: name, kind (type and validator), default, help, flag, config key.

`Options`' fields are declared with :func:`option`, which stores the rest of the spec on the field; the
training set-up (`[tool.relulint.training]` and its flags) and the configured `targets` are declared
below. From this one table come `Options`' defaults, the `[tool.relulint]` reader (`relulint.config`),
the validation of `relulint.check(...)` keywords, the command line's flags and help (`relulint.cli`),
`relulint config`, its JSON Schema and the README's options table (`relulint.option_docs`).

A value is checked by its kind (`relulint.option_types`) wherever it comes from; only the name in the
error differs: `--p` on the command line, `pyproject.toml: [tool.relulint] 'p'` in the config, `p` for
the Python API. The problem itself reads the same everywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from relulint.errors import ConfigError, RelulintError, UsageError
from relulint.option_types import (
    Betas,
    Boolean,
    InvalidValue,
    Kind,
    Number,
    Optimizer,
    Targets,
    Text,
)

CHECK = ("check",)
CHECK_AND_PROBE = ("check", "probe")
AUDIT = ("audit",)
CHECK_AND_AUDIT = ("check", "audit")
CHECK_PROBE_AUDIT = ("check", "probe", "audit")
TABLE = "tool.relulint"
TRAINING_TABLE = "tool.relulint.training"


@dataclass(frozen=True)
class OptionSpec:
    """One option: what it is called where, what it takes, what it defaults to, what it means."""

    name: str  # the `Options` field (or `TrainingFacts` field, or `targets`)
    kind: Kind
    default: Any
    help: str  # one line
    flag: str | None = None  # on the command line; None: not a flag
    key: str | None = None  # in `table`; None: not in the config
    table: str = TABLE
    commands: tuple[str, ...] = CHECK  # the subcommands that take the flag
    example: Any = None  # a good value, for hints (else the default)
    api: bool = True  # a keyword of `relulint.check` / field of `Options`

    @property
    def title(self) -> str:
        """How `relulint config` and the docs name it: the config key, else the flag, else the field."""
        return self.key or (self.flag or "").lstrip("-") or self.name

    @property
    def sample(self) -> Any:
        if self.example is not None:
            return self.example
        return None if self.default in (None, (), {}) else self.default


def option(
    default: Any,
    kind: Kind,
    help: str,
    *,
    flag: str | None = None,
    key: str | None = None,
    commands: tuple[str, ...] = CHECK,
    example: Any = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field of `Options` carrying its spec (the field's name completes it)."""
    meta = {"spec": dict(kind=kind, help=help, flag=flag, key=key, commands=commands, example=example)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _field_default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


@functools.cache
def option_specs() -> tuple[OptionSpec, ...]:
    """The specs of `Options`' fields, in declaration order."""
    from relulint.options import Options

    return tuple(
        OptionSpec(name=f.name, default=_field_default(f), **f.metadata["spec"])
        for f in dataclasses.fields(Options)
        if "spec" in f.metadata
    )


# the configured targets: only in `[tool.relulint]` (the command line takes them as arguments)
TARGETS = OptionSpec(
    name="targets",
    kind=Targets(),
    default=(),
    help="Models to check when none is named: 'file.py:Name', 'pkg.module:Name' or { target, kwargs, input-shape }.",
    key="targets",
    example=["models/pinn.py:PINN"],
    api=False,
)

# `[tool.relulint.training]` and the flags that set the same facts (`relulint.training`, RL401)
TRAINING = (
    OptionSpec(
        name="target_std",
        kind=Number(low=0.0),
        default=None,
        help="Standard deviation of the training targets (RL401).",
        flag="--target-std",
        key="target-std",
        table=TRAINING_TABLE,
        example=0.05,
        api=False,
    ),
    OptionSpec(
        name="targets",
        kind=Text(path=True),
        default=None,
        help="Targets file whose standard deviation is read: y.npy, y.npz:key, y.pt, y.csv:column.",
        key="targets",
        table=TRAINING_TABLE,
        example="data/y.npy",
        api=False,
    ),
    OptionSpec(
        name="optimizer",
        kind=Optimizer(),
        default=None,
        help="The torch.optim class: sgd, adam, adamw, rmsprop, ... (any case).",
        flag="--optimizer",
        key="optimizer",
        table=TRAINING_TABLE,
        example="sgd",
        api=False,
    ),
    OptionSpec(
        name="lr",
        kind=Number(low=0.0, low_open=True),
        default=None,
        help="Learning rate.",
        flag="--lr",
        key="lr",
        table=TRAINING_TABLE,
        example=0.01,
        api=False,
    ),
    OptionSpec(
        name="momentum",
        kind=Number(low=0.0, high=1.0, high_open=True),
        default=None,
        help="Momentum (SGD, RMSprop) or Adam's beta1.",
        flag="--momentum",
        key="momentum",
        table=TRAINING_TABLE,
        example=0.9,
        api=False,
    ),
    OptionSpec(
        name="betas",
        kind=Betas(),
        default=None,
        help="Adam's [beta1, beta2].",
        key="betas",
        table=TRAINING_TABLE,
        example=[0.9, 0.999],
        api=False,
    ),
    OptionSpec(
        name="dampening",
        kind=Number(low=0.0, high=1.0),
        default=None,
        help="SGD's dampening.",
        key="dampening",
        table=TRAINING_TABLE,
        example=0.0,
        api=False,
    ),
    OptionSpec(
        name="nesterov",
        kind=Boolean(),
        default=None,
        help="SGD's Nesterov momentum.",
        key="nesterov",
        table=TRAINING_TABLE,
        example=False,
        api=False,
    ),
)


def all_specs() -> tuple[OptionSpec, ...]:
    """Every option: `Options`' fields, the configured targets, the training keys."""
    return (*option_specs(), TARGETS, *TRAINING)


def config_specs(table: str = TABLE) -> dict[str, OptionSpec]:
    """The keys of a config table (`tool.relulint` or `tool.relulint.training`) → their specs."""
    return {s.key: s for s in all_specs() if s.key is not None and s.table == table}


def cli_specs(command: str) -> tuple[OptionSpec, ...]:
    """The options a subcommand takes as flags, in declaration order."""
    return tuple(s for s in all_specs() if s.flag is not None and command in s.commands)


# -------------------------------------------------------------------------------------------- errors


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd())
    except ValueError:  # another drive on Windows
        return str(path)


@dataclass(frozen=True)
class Source:
    """Where a value was written, which decides how its error names it and which error it is."""

    where: Literal["cli", "config", "api"]
    path: Path | None = None  # the config file (None: the caller adds it)

    def message(self, spec: OptionSpec, error: InvalidValue) -> str:
        problem = error.problem()
        name: str | None
        if self.where == "cli":
            name = spec.flag or spec.name
            return f"{name}: {problem}" if error.detail is not None else f"{name} {problem}"
        if self.where == "api":
            name = spec.name + "".join(f"[{p!r}]" for p in error.path)
            return f"{name}: {problem}" if error.detail is not None else f"{name} {problem}"
        keys = (spec.key or spec.name, *error.path)
        if error.keyless:
            table, name = spec.table + _join(keys), None
        else:
            table, name = spec.table + _join(keys[:-1]), f"'{keys[-1]}'"
        prefix = f"{display_path(self.path)}: " if self.path is not None else ""
        if name is None:
            return f"{prefix}[{table}] {problem}"
        joined = f"{name}: {problem}" if error.detail is not None else f"{name} {problem}"
        return f"{prefix}[{table}] {joined}"

    def hint(self, spec: OptionSpec, error: InvalidValue) -> str:
        if error.hint:
            return error.hint
        sample = spec.sample
        if self.where == "cli" and spec.flag:
            return (
                f"{spec.flag} {spec.kind.cli_text(sample)}" if sample is not None else f"{spec.flag} --help"
            )
        if self.where == "config":
            if sample is None:
                return f"fix '{spec.key}' in pyproject.toml (relulint config {spec.key})"
            return f"{spec.key} = {spec.kind.toml_text(sample)}"
        return f"{spec.name}={sample!r}" if sample is not None else "relulint config lists every option"

    def error(self, spec: OptionSpec, error: InvalidValue) -> RelulintError:
        kind = ConfigError if self.where == "config" else UsageError
        return kind(self.message(spec, error), hint=self.hint(spec, error))


def _join(keys: tuple[str, ...]) -> str:
    return "".join(k if k.startswith("[") else f".{k}" for k in keys)


API = Source("api")
CLI = Source("cli")


def validate(spec: OptionSpec, value: Any, source: Source = API) -> Any:
    """`value` checked by the option's kind; the source's error (`UsageError` / `ConfigError`) if not."""
    try:
        return spec.kind.check(value)
    except InvalidValue as error:
        raise source.error(spec, error) from None


def from_cli(spec: OptionSpec, text: Any) -> Any:
    """A flag's text read and checked: the same check as the config and the API, named by the flag."""
    try:
        return spec.kind.check(spec.kind.from_cli(text))
    except InvalidValue as error:
        raise CLI.error(spec, error) from None


def validate_fields(values: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, checked value) for each `Options` field in `values` that differs from its default."""
    for spec in option_specs():
        if spec.name in values:
            value = values[spec.name]
            if value is spec.default or (type(value) is type(spec.default) and value == spec.default):
                continue
            if value is None and spec.default is None:
                continue
            yield spec.name, validate(spec, value, API)
