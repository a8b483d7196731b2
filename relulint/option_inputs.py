"""The kinds of the example inputs' options: their shapes and dtypes (`InputShapes`, `InputDtypes`).

relulint calls the model's ``forward`` on example inputs it makes itself (`relulint.capture_inputs`); these
kinds validate what the user says of them, in one of the forms of `relulint.option_types` (the command
line, `[tool.relulint]`, the Python API): one shape or dtype for every forward argument (`8,2`, `long`) or
one per argument (`x=8,1`, `{ tokens = "long" }`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from relulint.option_types import InvalidValue, Kind, _items, _toml_key, is_integer, is_list


class Shape(Kind):
    """An example input shape: positive integers (`[8, 2]`; `8,2` on the command line)."""

    type_name = "list[int]"
    metavar = "SHAPE"

    def check(self, value: Any) -> tuple[int, ...]:
        if not is_list(value) or not value or not all(is_integer(v) and v > 0 for v in value):
            raise InvalidValue("a list of positive integers, e.g. [8, 2]", value)
        return tuple(int(v) for v in value)

    def from_cli(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        parts = _items(text)
        if parts and all(re.fullmatch(r"\+?\d+", p) for p in parts):
            return [int(p) for p in parts]
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}}

    def cli_text(self, value: Any) -> str:
        return ",".join(str(v) for v in value)


#: accepted spellings of the example inputs' dtype → torch dtype names (the capture makes torch dtypes)
DTYPES = {
    "float": "float32",
    "float32": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "long": "int64",
    "int64": "int64",
    "int": "int32",
    "int32": "int32",
    "bool": "bool",
}


def named_values(texts: list[str], read: Any, hint: str) -> Any:
    """``["8,1"]`` → one value for every forward argument; ``["x=8,1", "t=8,1"]`` → ``{"x": …, "t": …}``.

    `read` turns one text into its value (raising `InvalidValue`); a named value's problem is reported
    below its name. Either one unnamed value, or every value named, each name once.
    """
    items: list[tuple[str | None, Any]] = []
    for text in texts:
        name, sep, body = text.partition("=")
        label = name.strip() if sep else None
        if label is not None and not label.isidentifier():
            raise InvalidValue(detail=f"{label!r} is not the name of a forward argument", hint=hint)
        try:
            items.append((label, read(body if sep else text)))
        except InvalidValue as error:
            raise (error.below(label) if label else error) from None
    names = [label for label, _ in items if label is not None]
    if not names:
        if len(items) > 1:
            raise InvalidValue(detail=f"given {len(items)} times without argument names", hint=hint)
        return items[0][1]
    if len(names) != len(items):
        raise InvalidValue(detail="name every value when one is named", hint=hint)
    if len(set(names)) != len(names):
        raise InvalidValue(detail="an argument is named twice", hint=hint)
    return {label: value for label, value in items if label is not None}


class InputShapes(Kind):
    """Example input shapes: one for every forward argument (`[8, 2]`; `8,2` on the command line) or one per
    argument (`{ x = [8, 1], t = [8, 1] }`; `--input-shape x=8,1 --input-shape t=8,1`)."""

    type_name = "list[int] | table"
    metavar = "SHAPE"
    multiple = True

    def check(self, value: Any) -> Any:
        if isinstance(value, str) or (is_list(value) and value and all(isinstance(v, str) for v in value)):
            return self._texts([value] if isinstance(value, str) else list(value))
        if isinstance(value, Mapping):
            if not value:
                raise InvalidValue("a shape, or a table of shapes by forward argument", value)
            shapes: dict[str, tuple[int, ...]] = {}
            for name, shape in value.items():
                if not isinstance(name, str) or not name.isidentifier():
                    raise InvalidValue(detail=f"{name!r} is not the name of a forward argument")
                try:
                    shapes[name] = Shape().check(shape)
                except InvalidValue as error:
                    raise error.below(name) from None
            return shapes
        return Shape().check(value)

    @staticmethod
    def _texts(texts: list[str]) -> Any:
        """The command line's text: `8,16` (every argument), or `x=8,1` once per forward argument."""
        hint = "--input-shape 8,16, or one per forward argument: --input-shape x=8,1 --input-shape t=8,1"
        return named_values(texts, lambda text: Shape().check(Shape().from_cli(text)), hint)

    def schema(self) -> dict[str, Any]:
        shape = Shape().schema()
        per_argument = {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": shape,
        }
        return {"anyOf": [shape, per_argument]}

    def show(self, value: Any) -> str:
        if isinstance(value, Mapping):
            return " ".join(f"{k}={self.cli_text(v)}" for k, v in value.items())
        return super().show(value)

    def cli_text(self, value: Any) -> str:
        if isinstance(value, Mapping):
            return " --input-shape ".join(f"{k}={','.join(str(n) for n in v)}" for k, v in value.items())
        return ",".join(str(v) for v in value)

    def toml_text(self, value: Any) -> str:
        if isinstance(value, Mapping):
            return "{ " + ", ".join(f"{_toml_key(k)} = {self.toml_text(v)}" for k, v in value.items()) + " }"
        return "[" + ", ".join(str(v) for v in value) + "]"


class InputDtypes(Kind):
    """The example inputs' dtype: one name for every argument (`"long"` for token ids) or one per argument
    (`{ tokens = "long" }`; `--input-dtype tokens=long`)."""

    type_name = "str | table"
    metavar = "DTYPE"
    multiple = True

    def check(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._one(value)
        if is_list(value) and value and all(isinstance(v, str) for v in value):
            return self._texts(list(value))
        if isinstance(value, Mapping) and value:
            out: dict[str, str] = {}
            for name, dtype in value.items():
                if not isinstance(name, str) or not name.isidentifier():
                    raise InvalidValue(detail=f"{name!r} is not the name of a forward argument")
                try:
                    out[name] = self._one(dtype)
                except InvalidValue as error:
                    raise error.below(name) from None
            return out
        raise InvalidValue('a dtype name such as "long", or a table { ids = "long" }', value)

    @staticmethod
    def _one(value: Any) -> str:
        key = str(value).strip().lower().removeprefix("torch.")
        if key not in DTYPES:
            raise InvalidValue(f"a dtype name ({', '.join(DTYPES)})", value)
        return DTYPES[key]

    def _texts(self, texts: list[str]) -> Any:
        """The command line's text: `long` (every argument), or `ids=long` once per forward argument."""
        return named_values(
            texts, self._one, "--input-dtype long, or per forward argument: --input-dtype ids=long"
        )

    def schema(self) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
            ]
        }

    def show(self, value: Any) -> str:
        if isinstance(value, Mapping):
            return " ".join(f"{k}={v}" for k, v in value.items())
        return super().show(value)

    def cli_text(self, value: Any) -> str:
        if isinstance(value, Mapping):
            return " --input-dtype ".join(f"{k}={v}" for k, v in value.items())
        return str(value)
