"""What `relulint config` prints, from the option specs: the list of options, one option in full, the
README's options table, and the JSON Schema of `[tool.relulint]` (draft 2020-12) for editors."""

from __future__ import annotations

import json
from typing import Any

from relulint.errors import UsageError
from relulint.option_specs import (
    TABLE,
    TRAINING_TABLE,
    OptionSpec,
    all_specs,
    config_specs,
)
from relulint.records.report import Severity

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def config_name(spec: OptionSpec) -> str | None:
    """The option's key as written under `[tool.relulint]`: `p`, `training.lr`; None when not in the file."""
    if spec.key is None:
        return None
    return spec.key if spec.table == TABLE else f"{spec.table.removeprefix(TABLE + '.')}.{spec.key}"


def api_name(spec: OptionSpec) -> str | None:
    """How the Python API sets it: `relulint.check(p=...)`; None when it does not."""
    if spec.api:
        return f"relulint.check({spec.name}=...)"
    if spec.table == TRAINING_TABLE and spec.name != "targets":
        return f"relulint.check(training=TrainingFacts({spec.name}=...))"
    return None


def shown_default(spec: OptionSpec) -> str:
    if spec.name == "training":
        return "{}"
    return spec.kind.show(spec.default)


def where(spec: OptionSpec) -> list[str]:
    """Where the option can be set: the flag (and the commands taking it), the config key, the API."""
    places = []
    if spec.flag:
        commands = "" if spec.commands == ("check",) else f" ({', '.join(spec.commands)})"
        places.append(spec.flag + commands)
    if spec.key == "rules":
        places.append(f"[{spec.table}.rules.CODE]")
    elif spec.key is not None:
        places.append(f"[{spec.table}] {spec.key}")
    api = api_name(spec)
    if api is not None:
        places.append(api)
    return places


def find_spec(name: str) -> OptionSpec:
    """An option by config key (`fail-on`, `training.lr`), flag (`--fail-on`) or field name (`fail_on`)."""
    wanted = name.strip()
    for spec in all_specs():
        names = {spec.name, spec.flag, spec.key, config_name(spec), (spec.flag or "").lstrip("-")}
        if wanted in names:
            return spec
    titles = ", ".join(config_name(s) or s.title for s in all_specs())
    raise UsageError(f"no option {name!r}", hint=f"options are: {titles}")


# --------------------------------------------------------------------------------------------- text


def listing() -> str:
    """`relulint config`: every option with its type, default, where it is set and one line of help."""
    lines = [
        "relulint's options: the command line overrides [tool.relulint] in pyproject.toml, which overrides "
        "the defaults.",
        "",
    ]
    for spec in all_specs():
        lines.append(
            f"{config_name(spec) or spec.title}  ({spec.kind.type_name}, default {shown_default(spec)})"
        )
        lines.append(f"    {spec.help}")
        lines.append(f"    set by: {' · '.join(where(spec))}")
    lines += ["", "relulint config KEY shows one option; relulint config --schema prints the JSON Schema."]
    return "\n".join(lines) + "\n"


def describe(spec: OptionSpec) -> str:
    """`relulint config KEY`: one option in full, with an example for the command line and the config."""
    lines = [
        config_name(spec) or spec.title,
        f"  {spec.help}",
        f"  type: {spec.kind.type_name}",
        f"  default: {shown_default(spec)}",
    ]
    lines.append(f"  set by: {' · '.join(where(spec))}")
    sample = spec.sample
    if sample is not None:
        if spec.flag and not spec.kind.is_flag:
            lines.append(f"  example: relulint check {spec.flag} {spec.kind.cli_text(sample)}")
        if spec.key:
            lines.append(f"  example: [{spec.table}] {spec.key} = {spec.kind.toml_text(sample)}")
    return "\n".join(lines) + "\n"


def records() -> list[dict[str, Any]]:
    """`relulint config --format json`: one record per option."""
    return [
        {
            "name": spec.name,
            "type": spec.kind.type_name,
            "default": to_toml_value(spec.default),
            "flag": spec.flag,
            "commands": list(spec.commands) if spec.flag else [],
            "config": config_name(spec),
            "table": spec.table if spec.key else None,
            "api": api_name(spec),
            "help": spec.help,
        }
        for spec in all_specs()
    ]


def markdown() -> str:
    """The README's options table (`relulint config --format markdown`)."""
    rows = [
        "| `pyproject.toml` key | Flag | Type | Default | Description |",
        "|---|---|---|---|---|",
    ]
    for spec in all_specs():
        key = config_name(spec)
        cells = [
            f"`{key}`" if key else "—",
            f"`{spec.flag}`" if spec.flag else "—",
            spec.kind.type_name.replace("|", "\\|"),
            f"`{shown_default(spec)}`",
            spec.help.replace("|", "\\|") + ("" if spec.api else " (not a `relulint.check` keyword)"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------------------- schema


def to_toml_value(value: Any) -> Any:
    """A default as the config would write it (JSON-compatible); None when it has no TOML form."""
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, (tuple, list)):
        return [to_toml_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_toml_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return None


def _property(spec: OptionSpec) -> dict[str, Any]:
    out = {**spec.kind.schema(), "description": spec.help}
    default = to_toml_value(spec.default)
    if default is not None and default != [] and default != {}:
        out["default"] = default
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the `[tool.relulint]` table."""
    training = {
        "type": "object",
        "description": "The training set-up RL401 reads (the command line's --target-std, --optimizer, ...).",
        "properties": {key: _property(spec) for key, spec in config_specs(TRAINING_TABLE).items()},
        "additionalProperties": False,
        "not": {"required": ["target-std", "targets"]},
    }
    properties = {key: _property(spec) for key, spec in config_specs(TABLE).items()}
    properties["training"] = training
    return {
        "$schema": SCHEMA_DRAFT,
        "title": "[tool.relulint]",
        "description": "relulint's configuration in pyproject.toml (generated by `relulint config --schema`).",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
