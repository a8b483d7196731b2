"""Option kinds about rules: selectors (`select`, `ignore`, `--select RL1,RL201`), the per-rule tables
(`severity`, `per-file-ignores`) and each rule's own options (`[tool.relulint.rules.CODE]`).

Codes are checked against the registry: an unknown code, or a prefix no rule has, is an error naming it
with the known codes as hint. See `relulint.option_types` for what a kind is.
"""

from __future__ import annotations

import re
from typing import Any

from relulint.option_types import (
    InvalidValue,
    Kind,
    SeverityLevel,
    any_case,
    as_table,
    is_list,
    rule_option_kind,
    unknown_key,
)
from relulint.records.report import Severity

# ------------------------------------------------------------------------------------- rule selectors

SELECTOR = re.compile(r"^RL\d{0,3}$")
SELECTOR_HINT = "codes or prefixes: RL101, RL1, RL or ALL (relulint rules lists the codes)"


def rule_codes() -> tuple[str, ...]:
    from relulint.registry import all_rules

    return tuple(all_rules())


def known_rule_code(code: str) -> str:
    """The registered code for a code or rule name (`born-dead-relu-chain` → `RL101`)."""
    from relulint.registry import find_rule

    rule = find_rule(code)
    if rule is None:
        import difflib

        known = rule_codes()
        close = difflib.get_close_matches(code.upper(), known, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        raise InvalidValue(detail=f"unknown rule {code!r}{suggestion}", hint=f"rules are: {', '.join(known)}")
    return rule.code


def selector(code: str) -> str:
    """One selector, upper-cased, `ALL` → `RL`: a code of a rule or a prefix of at least one."""
    code = code.strip().upper()
    code = "RL" if code == "ALL" else code
    if not SELECTOR.match(code):
        raise InvalidValue(
            detail=f"{code!r} is not a rule code or prefix (RL101, RL1, RL)", hint=SELECTOR_HINT
        )
    if len(code) == 5:
        return known_rule_code(code)
    if not any(known.startswith(code) for known in rule_codes()):
        raise InvalidValue(detail=f"{code!r} matches no rule", hint=f"rules are: {', '.join(rule_codes())}")
    return code


class Selectors(Kind):
    """Rule codes or prefixes (ruff semantics): a list, or one string holding one code or a comma list.

    A string is never read letter by letter: `ignore="RL102"` is the one code RL102.
    """

    type_name = "list[code]"
    metavar = "CODES"
    multiple = True

    def check(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not is_list(value) or not all(isinstance(v, str) and v.strip() for v in value):
            raise InvalidValue("a list of strings", value)
        codes = [part for v in value for part in v.split(",") if part.strip()]
        return tuple(selector(code) for code in codes)

    def from_cli(self, text: Any) -> Any:
        return list(text) if isinstance(text, (list, tuple)) else text

    def schema(self) -> dict[str, Any]:
        one = f"({any_case('ALL')}|{any_case('RL')}[0-9]{{0,3}})"
        listed = {"type": "string", "pattern": f"^\\s*{one}(\\s*,\\s*{one})*\\s*,?\\s*$"}
        return {"anyOf": [listed, {"type": "array", "items": listed}]}

    def cli_text(self, value: Any) -> str:
        return ",".join(value) if is_list(value) else str(value)


class SeverityTable(Kind):
    """`{ RL202 = "error", born-dead-relu-chain = "info" }`: a severity per rule (code or name)."""

    type_name = "table[code, level]"

    def check(self, value: Any) -> dict[str, Severity]:
        out: dict[str, Severity] = {}
        for code, level in as_table(value, 'a table of CODE = "info" | "warning" | "error"').items():
            try:
                out[known_rule_code(str(code))] = SeverityLevel().check(level)
            except InvalidValue as error:
                raise error.below(str(code)) from None
        return out

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": SeverityLevel().schema()}


class PerFileIgnores(Kind):
    """`{ "tests/*.py" = ["RL101"] }`: rule selectors ignored in files matching each glob."""

    type_name = "table[glob, list[code]]"

    def check(self, value: Any) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for glob, codes in as_table(value, 'a table of glob = ["codes"]').items():
            try:
                out[str(glob)] = Selectors().check(codes)
            except InvalidValue as error:
                raise error.below(str(glob)) from None
        return out

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": Selectors().schema()}


class RuleOptions(Kind):
    """`[tool.relulint.rules.CODE]` tables: each rule's declared options (`Rule.options`), each checked
    by its kind (`RuleOption.kind`, else inferred from its default)."""

    type_name = "table[code, table]"

    def check(self, value: Any) -> dict[str, dict[str, Any]]:
        from relulint.registry import find_rule

        out: dict[str, dict[str, Any]] = {}
        for code, settings in as_table(value, "a table of [tool.relulint.rules.CODE] tables").items():
            try:
                rule = find_rule(known_rule_code(str(code)))
                assert rule is not None
                table = as_table(settings, "a table of the rule's options")
            except InvalidValue as error:
                raise error.below(str(code)) from None
            out[rule.code] = {}
            declared = {option.name: option for option in rule.options}
            for name, setting in table.items():
                option = declared.get(str(name).replace("-", "_")) or declared.get(str(name))
                if option is None:
                    if not declared:
                        raise InvalidValue(
                            detail=f"unknown key '{name}' ({rule.code} has no options)",
                            path=(str(code),),
                            keyless=True,
                        )
                    raise unknown_key(str(name), tuple(declared)).below(str(code))
                kind = rule_option_kind(option.name, option.default, getattr(option, "kind", None))
                try:
                    out[rule.code][option.name] = kind.check(setting)
                except InvalidValue as error:
                    raise error.below(str(name)).below(str(code)) from None
        return out

    def schema(self) -> dict[str, Any]:
        from relulint.registry import all_rules

        properties: dict[str, Any] = {}
        for rule in all_rules().values():
            options = {
                o.name: {
                    **rule_option_kind(o.name, o.default, getattr(o, "kind", None)).schema(),
                    "description": o.help,
                }
                for o in rule.options
            }
            table = {"type": "object", "properties": options, "additionalProperties": False}
            properties[rule.code] = properties[rule.name] = table
        return {"type": "object", "properties": properties, "additionalProperties": False}
