"""The kinds of option value: each one validates a value, reads it from the command line and describes it.

One kind serves the command line, `[tool.relulint]` and the Python API: `check(value)` accepts the value
in the form TOML or Python gives it (`[8, 2]` or `(8, 2)`, `"error"` or `Severity.ERROR`, `"RL102"` or
`["RL102"]`) and returns the canonical value that `Options` holds, or raises `InvalidValue` saying what was
expected. Where the value came from (a flag, a key, a keyword) is added by the caller
(`relulint.option_specs`), so the three entry points print the same problem with their own name.

`from_cli(text)` turns a flag's text into the value `check` reads (`"8,16"` → `[8, 16]`, `"nan"` → nan);
text it cannot read is passed on as it is, and `check` rejects it. `schema()` is the kind's JSON Schema
(draft 2020-12) for `[tool.relulint]`; `show(value)` renders a value for help texts and docs.
The kinds that know the rules (selectors, per-rule tables) are in `relulint.option_rules`; those of the example
inputs (shapes, dtypes) in `relulint.option_inputs`.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

from relulint.records.model_facts import TrainingFacts
from relulint.records.report import Severity


class InvalidValue(Exception):
    """A value an option does not accept.

    `expected` reads "must be {expected}, got {value}"; `detail` is any other one-line problem. `path`
    holds the keys below the option (`("RL202", "factor")` inside `rules`); `keyless`: the problem is about
    the table at `path` itself (an unknown key in it), not about a value.
    """

    def __init__(
        self,
        expected: str | None = None,
        value: Any = None,
        *,
        detail: str | None = None,
        hint: str | None = None,
        path: tuple[str, ...] = (),
        keyless: bool = False,
    ) -> None:
        super().__init__(detail or f"must be {expected}, got {show(value)}")
        self.expected = expected
        self.value = value
        self.detail = detail
        self.hint = hint
        self.path = path
        self.keyless = keyless

    def problem(self) -> str:
        """The problem without a name: "must be a number > 0, got -1" or the detail."""
        return self.detail if self.detail is not None else f"must be {self.expected}, got {show(self.value)}"

    def below(self, key: str) -> InvalidValue:
        """The same problem, one table further out (`key` is the entry it sits in)."""
        self.path = (key, *self.path)
        return self


def show(value: Any) -> str:
    """A value as a user wrote it: `2` for 2.0, `nan`, `'tpu'`, `[8, 'x']`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, Severity):
        return repr(value.label)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number_text(text: str) -> Any:
    """`"3"` → 3, `"0.5"` → 0.5, `"nan"` → nan; other text unchanged (the kind then rejects it)."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return text


def _items(text: str) -> list[str]:
    """`"8,16"`, `"(8, 16)"`, `"[8,16]"` → `["8", "16"]`."""
    body = text.strip().strip("()[]").strip()
    parts = [p.strip() for p in body.split(",")] if body else []
    return parts[:-1] if parts and parts[-1] == "" else parts


def any_case(word: str) -> str:
    """A regular expression matching `word` in any case, for JSON Schema (ECMA regexes have no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


class Kind:
    """A kind of option value (see the module docstring)."""

    type_name = "value"  # in `relulint config` and the README
    metavar = "VALUE"  # on the command line
    is_flag = False  # a boolean flag (`--probe`): no value on the command line
    multiple = False  # a repeatable flag (`--select A --select B`)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def check(self, value: Any) -> Any:
        return value

    def from_cli(self, text: Any) -> Any:
        return text

    def schema(self) -> dict[str, Any]:
        return {}

    def show(self, value: Any) -> str:
        if value is None:
            return "none"
        if isinstance(value, str):
            return value
        if isinstance(value, tuple) and not value:
            return "[]"
        if isinstance(value, Mapping) and not value:
            return "{}"
        return show(value)

    def cli_text(self, value: Any) -> str:
        """`value` written as the flag's text (for hints)."""
        return self.show(value)

    def toml_text(self, value: Any) -> str:
        """`value` written in TOML (for hints and docs)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, (tuple, list)):
            return "[" + ", ".join(self.toml_text(v) for v in value) + "]"
        if isinstance(value, Mapping):
            return "{ " + ", ".join(f"{_toml_key(k)} = {self.toml_text(v)}" for k, v in value.items()) + " }"
        if isinstance(value, Severity):
            return json.dumps(value.label)
        return show(value)


def _toml_key(key: Any) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text)


class Number(Kind):
    """A finite real number within bounds (`low_open`: `> low` rather than `>= low`)."""

    type_name = "float"
    metavar = "FLOAT"

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        high_open: bool = False,
        description: str | None = None,  # replaces the generated "a number > 0"
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.description = description

    def expected(self) -> str:
        if self.description:
            return self.description
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {show(float(self.low))}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {show(float(self.high))}")
        return "a number" + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value: Any) -> float:
        if not is_number(value) or not math.isfinite(float(value)):
            raise InvalidValue(self.expected(), value)
        number = float(value)
        low, high = self.low, self.high
        if low is not None and (number <= low if self.low_open else number < low):
            raise InvalidValue(self.expected(), value)
        if high is not None and (number >= high if self.high_open else number > high):
            raise InvalidValue(self.expected(), value)
        return number

    def from_cli(self, text: Any) -> Any:
        return _number_text(text) if isinstance(text, str) else text

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.low is not None:
            out["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out

    def show(self, value: Any) -> str:
        return "none" if value is None else f"{value:g}"


def Probability() -> Number:  # noqa: N802 - reads as a kind
    """A probability strictly between 0 and 1 (`p`: 0 would flag everything, 1 nothing)."""
    return Number(
        low=0.0,
        high=1.0,
        low_open=True,
        high_open=True,
        description="a probability between 0 and 1 (exclusive)",
    )


class Integer(Kind):
    """An integer within bounds."""

    type_name = "int"
    metavar = "INT"

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def expected(self) -> str:
        bounds = [f">= {self.low}"] if self.low is not None else []
        bounds += [f"<= {self.high}"] if self.high is not None else []
        return "an integer" + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value: Any) -> int:
        if not is_integer(value):
            raise InvalidValue(self.expected(), value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise InvalidValue(self.expected(), value)
        return int(value)

    def from_cli(self, text: Any) -> Any:
        return _number_text(text) if isinstance(text, str) else text

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.low is not None:
            out["minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        return out


class Boolean(Kind):
    type_name = "bool"
    metavar = ""
    is_flag = True

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidValue("true or false", value)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def show(self, value: Any) -> str:
        return "none" if value is None else "true" if value else "false"


class Choice(Kind):
    """One of a few words (any case; held in lower case)."""

    type_name = "str"
    metavar = "NAME"

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def expected(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in self.choices:
            raise InvalidValue(self.expected(), value)
        return value.strip().lower()

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}


DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class Device(Kind):
    """The probe's device: `auto`, `cpu`, `cuda` or `cuda:N` (any case). Never touches CUDA."""

    type_name = "str"
    metavar = "DEVICE"

    def check(self, value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        if text is None or not DEVICE_PATTERN.fullmatch(text):
            raise InvalidValue("one of 'auto', 'cpu', 'cuda' or 'cuda:N' (e.g. 'cuda:0')", value)
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^(auto|cpu|cuda(:[0-9]+)?)$"}


class SeverityLevel(Kind):
    type_name = "str"
    metavar = "LEVEL"

    def check(self, value: Any) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            if not isinstance(value, str):
                raise ValueError
            return Severity.parse(value)
        except ValueError:
            raise InvalidValue("one of 'info', 'warning', 'error'", value) from None

    def schema(self) -> dict[str, Any]:
        return {"enum": [s.label for s in Severity]}

    def show(self, value: Any) -> str:
        return value.label if isinstance(value, Severity) else super().show(value)


class Text(Kind):
    """A non-empty string (a path when `path`)."""

    def __init__(self, path: bool = False) -> None:
        self.path = path
        self.type_name = "path" if path else "str"
        self.metavar = "PATH" if path else "TEXT"

    def check(self, value: Any) -> str:
        if hasattr(value, "__fspath__"):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue("a non-empty string", value)
        return value.strip()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


class Texts(Kind):
    """A list of non-empty strings (paths when `path`)."""

    def __init__(self, path: bool = False) -> None:
        self.path = path
        self.type_name = "list[path]" if path else "list[str]"

    def check(self, value: Any) -> tuple[str, ...]:
        items = [str(v) if hasattr(v, "__fspath__") else v for v in value] if is_list(value) else None
        if items is None or not all(isinstance(v, str) and v.strip() for v in items):
            raise InvalidValue("a list of strings", value)
        return tuple(v.strip() for v in items)

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "minLength": 1}}


class Globs(Texts):
    """Glob patterns (ruff's semantics: `legacy`, `*_old.py`, `src/**/gen_*.py`): a list, one string, or a
    comma list; on the command line a repeatable flag (`--exclude a --exclude b`, or `--exclude a,b`)."""

    metavar = "GLOB"
    multiple = True

    def __init__(self) -> None:
        super().__init__()
        self.type_name = "list[glob]"

    def check(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not is_list(value) or not all(isinstance(v, str) and v.strip() for v in value):
            raise InvalidValue("a list of glob patterns, e.g. ['legacy', '*_old.py']", value)
        return tuple(part.strip() for v in value for part in v.split(",") if part.strip())

    def from_cli(self, text: Any) -> Any:
        return list(text) if isinstance(text, (list, tuple)) else text

    def cli_text(self, value: Any) -> str:
        return ",".join(value) if is_list(value) else str(value)

    def schema(self) -> dict[str, Any]:
        one = {"type": "string", "minLength": 1}
        return {"anyOf": [one, {"type": "array", "items": one}]}


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


# ------------------------------------------------------------------------------------------- sizes


class Interval(Kind):
    """`[LOW, HIGH]`: two finite numbers, LOW < HIGH (`LOW,HIGH` on the command line)."""

    type_name = "[float, float]"
    metavar = "LOW,HIGH"

    def check(self, value: Any) -> tuple[float, float]:
        ok = is_list(value) and len(value) == 2 and all(is_number(v) and math.isfinite(v) for v in value)
        if not ok or not value[0] < value[1]:
            raise InvalidValue("[LOW, HIGH], two finite numbers with LOW < HIGH", value)
        return float(value[0]), float(value[1])

    def from_cli(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        parts = [_number_text(p) for p in _items(text)]
        return parts if len(parts) == 2 and all(is_number(p) for p in parts) else text

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "prefixItems": [{"type": "number"}] * 2, "minItems": 2, "maxItems": 2}

    def show(self, value: Any) -> str:
        return "[-√3, √3] (the papers' domain)" if value is None else f"[{value[0]:g}, {value[1]:g}]"

    def cli_text(self, value: Any) -> str:
        return f"{value[0]:g},{value[1]:g}"


SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", re.I)
SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class Size(Kind):
    """A number of bytes: an integer, or text like `512MiB`, `1GiB`, `64k`."""

    type_name = "size"
    metavar = "SIZE"

    def check(self, value: Any) -> int:
        if is_integer(value) and value > 0:
            return int(value)
        match = SIZE.fullmatch(value) if isinstance(value, str) else None
        size = int(float(match.group(1)) * SCALE[match.group(2).lower()]) if match else 0
        if size < 1:
            raise InvalidValue("a positive number of bytes or a size like '1GiB'", value)
        return size

    def from_cli(self, text: Any) -> Any:
        return int(text) if isinstance(text, str) and re.fullmatch(r"\s*[+-]?\d+\s*", text) else text

    def schema(self) -> dict[str, Any]:
        size = r"^\s*[0-9]+(\.[0-9]+)?\s*[kKmMgG]?([iI]?[bB])?\s*$"
        return {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": size}]}

    def show(self, value: Any) -> str:
        for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if is_integer(value) and value % scale == 0:
                return f"{value // scale}{unit}"
        return super().show(value)

    def toml_text(self, value: Any) -> str:
        return json.dumps(self.show(value))


# ------------------------------------------------------------------------------------------- tables


class Kwargs(Kind):
    """Keyword arguments for the model's constructor: a table with identifier keys (JSON on the CLI)."""

    type_name = "table"
    metavar = "JSON"

    def check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise InvalidValue("a table of constructor arguments", value)
        for key in value:
            if not isinstance(key, str) or not key.isidentifier():
                raise InvalidValue(detail=f"{key!r} is not a parameter name", hint='{"width": 4}')
        return dict(value)

    def from_cli(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidValue(
                detail=f"not valid JSON: {error.msg} at column {error.colno} of {text!r}",
                hint="""--kwargs '{"width": 4, "act": "relu"}' (a JSON object: keys in double quotes)""",
            ) from None

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}

    def cli_text(self, value: Any) -> str:
        return f"'{json.dumps(value)}'"  # quoted for the shell


def as_table(value: Any, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(expected, value)
    return value


def unknown_key(key: str, known: Sequence[str]) -> InvalidValue:
    import difflib

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close and key.replace("_", "-") in known:
        close = [key.replace("_", "-")]
    suggestion = f" (did you mean '{close[0]}'?)" if close else ""
    return InvalidValue(
        detail=f"unknown key '{key}'{suggestion}", hint=f"keys are: {', '.join(known)}", keyless=True
    )


def rule_option_kind(name: str, default: Any, declared: Kind | None = None) -> Kind:
    """The kind of a rule's option: the one it declares, else `p` is a probability, else like its default."""
    if declared is not None:
        return declared
    if name == "p":
        return Probability()
    if isinstance(default, bool):
        return Boolean()
    if isinstance(default, float):
        return Number()
    if isinstance(default, int):
        return Integer()
    if isinstance(default, str):
        return Text()
    if isinstance(default, (list, tuple)):
        return _AnyList()
    return Kind()


class _AnyList(Kind):
    type_name = "list"

    def check(self, value: Any) -> tuple[Any, ...]:
        if not is_list(value):
            raise InvalidValue("a list", value)
        return tuple(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "array"}


class Training(Kind):
    """The training set-up (`TrainingFacts`); in `[tool.relulint.training]` its keys are options of
    their own (`relulint.option_specs.TRAINING`)."""

    type_name = "table"

    def check(self, value: Any) -> TrainingFacts:
        if not isinstance(value, TrainingFacts):
            raise InvalidValue("a relulint.records.model_facts.TrainingFacts", value)
        return value


class Optimizer(Kind):
    """A `torch.optim` class name — `SGD`, `adam`, `torch.optim.AdamW` (any case) — as its lower-case key."""

    type_name = "str"
    metavar = "NAME"

    def check(self, value: Any) -> str:
        from relulint.training import _CLASS_NAMES, OPTIMIZER_SIGNATURES

        if not isinstance(value, str):
            raise InvalidValue('an optimizer name such as "SGD" or "Adam"', value)
        name = value.strip().rsplit(".", 1)[-1].lower()
        if name not in OPTIMIZER_SIGNATURES:
            known = ", ".join(sorted(_CLASS_NAMES))
            raise InvalidValue(detail=f"unknown optimizer {value!r}", hint=f"one of: {known}")
        return name

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


class Betas(Kind):
    """Adam's `[β1, β2]`, each in [0, 1)."""

    type_name = "[float, float]"

    def check(self, value: Any) -> tuple[float, float]:
        ok = is_list(value) and len(value) == 2
        ok = ok and all(is_number(v) and 0 <= v < 1 for v in value)
        if not ok:
            raise InvalidValue("two numbers in [0, 1), e.g. [0.9, 0.999]", value)
        return float(value[0]), float(value[1])

    def schema(self) -> dict[str, Any]:
        item = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
        return {"type": "array", "prefixItems": [item, item], "minItems": 2, "maxItems": 2}


class Targets(Kind):
    """`targets`: strings (`"model.py:Net"`) or tables `{ target, kwargs, input-shape, input-dtype }`."""

    type_name = "list[target]"
    KEYS: tuple[str, ...] = ("target", "kwargs", "input-shape", "input-dtype")

    def check(self, value: Any) -> list[str | dict[str, Any]]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise InvalidValue("a list of targets (strings or tables)", value)
        return [self.one(item, number) for number, item in enumerate(value)]

    def one(self, item: Any, number: int) -> str | dict[str, Any]:
        from relulint.option_inputs import InputDtypes, InputShapes  # they build on this module's kinds

        where = f"[{number}]"
        if isinstance(item, str):
            try:
                return Text().check(item)
            except InvalidValue as error:
                raise error.below(where) from None
        if not isinstance(item, Mapping):
            raise InvalidValue("a string or a table with 'target'", item, path=(where,))
        for key in item:
            if key not in self.KEYS:
                raise unknown_key(str(key), self.KEYS).below(where)
        if "target" not in item:
            raise InvalidValue(
                detail="missing key 'target'", hint='{ target = "model.py:Net" }', path=(where,), keyless=True
            )
        out: dict[str, Any] = {}
        kinds: tuple[tuple[str, Kind], ...] = (
            ("target", Text()),
            ("kwargs", Kwargs()),
            ("input-shape", InputShapes()),
            ("input-dtype", InputDtypes()),
        )
        for key, kind in kinds:
            if key in item:
                try:
                    checked = kind.check(item[key])
                except InvalidValue as error:
                    raise error.below(key).below(where) from None
                out[key] = list(checked) if key == "input-shape" and isinstance(checked, tuple) else checked
        return out

    def schema(self) -> dict[str, Any]:
        from relulint.option_inputs import InputDtypes, InputShapes  # they build on this module's kinds

        table = {
            "type": "object",
            "properties": {
                "target": Text().schema(),
                "kwargs": Kwargs().schema(),
                "input-shape": InputShapes().schema(),
                "input-dtype": InputDtypes().schema(),
            },
            "required": ["target"],
            "additionalProperties": False,
        }
        item = {"anyOf": [{"type": "string", "minLength": 1}, table]}
        return {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": item}]}
