"""Parse what the user asked to lint into a `Target` (no user code runs here).

Three forms:

* ``path/to/file.py:Name`` — a class or factory in a file (``Outer.Inner`` reaches a nested attribute);
* ``pkg.module:Name`` — the same in an importable module (the working directory is put on ``sys.path``);
* ``path/to/file.py`` — every ``nn.Module`` subclass defined in the file (``name`` is None).

Also the two small option parsers the command line and the config share: `parse_kwargs` (a JSON object,
never ``eval``) and `parse_shape` (``"8,16"`` → ``(8, 16)``).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relulint.errors import LoadError, UsageError
from relulint.records.loaded import Target

__all__ = [
    "parse_input_dtypes",
    "parse_input_shapes",
    "parse_kwargs",
    "parse_shape",
    "parse_target",
    "split_target",
]

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_EXAMPLE = "relulint check model.py:Net (or pkg.module:Net, or model.py for every module in it)"


def split_target(spec: str, cwd: Path | None = None) -> tuple[str, str | None]:
    """``"dir/model.py:Net"`` → ``("dir/model.py", "Net")``; ``"model.py"`` → ``("model.py", None)``.

    A ``:`` in a directory name is allowed: a spec that is an existing file is a whole-file target
    (``"dir:x/model.py"``), and one with several ``:`` is split at the last when the part before it is an
    existing file or a ``.py`` path (``"dir:x/model.py:Net"``). Files are looked up relative to ``cwd``
    (default: the working directory). Raises `UsageError` for an empty part or an ambiguous ``:``.
    """
    text = spec.strip()
    if not text:
        raise UsageError("empty target", hint=_EXAMPLE)
    base = Path(cwd) if cwd is not None else Path.cwd()
    if ":" in text and _existing_file(text, base):
        return text, None
    location, sep, name = text.rpartition(":") if ":" in text else (text, "", "")
    if "::" in text and _existing_file(text.replace("::", ":", 1).rpartition(":")[0], base):
        single = text.replace("::", ":", 1)
        raise UsageError(f"target {spec!r} has '::' (pytest's separator)", hint=f"relulint check {single}")
    if text.count(":") > 1 and not (_existing_file(location, base) or location.endswith(".py")):
        raise UsageError(
            f"target {spec!r} has more than one ':'",
            hint=_EXAMPLE + "; a ':' in a directory name works when the file exists (dir:x/model.py:Net)",
        )
    if not location:
        raise UsageError(f"target {spec!r} names no file or module before ':'", hint=_EXAMPLE)
    if sep and not name.strip():
        raise UsageError(
            f"target {spec!r} has an empty name after ':'",
            hint=f"name the class or factory: {location}:Net, or drop ':' to check every module in the file",
        )
    return location.strip(), (name.strip() if sep else None)


def _existing_file(location: str, base: Path) -> bool:
    path = Path(os.path.expanduser(location))
    try:
        return (path if path.is_absolute() else base / path).is_file()
    except OSError:  # a name too long, say
        return False


def _check_name(spec: str, name: str) -> None:
    if not _DOTTED.fullmatch(name):
        hint = "name a class or factory function (e.g. Net or make_net)"
        if "(" in name:
            hint += "; pass constructor arguments with --kwargs '{\"width\": 4}'"
        raise UsageError(f"{name!r} in target {spec!r} is not a Python name", hint=hint)


def parse_target(
    spec: str,
    *,
    kwargs: Mapping[str, Any] | None = None,
    input_shape: Any = None,
    cwd: Path | None = None,
    input_dtype: Any = None,
) -> Target:
    """The `Target` that ``spec`` names; files are resolved against ``cwd`` (default: the working directory).

    Raises `UsageError` for bad syntax (``a:b:c``, an empty name, ``file.txt``, bad kwargs or shape) and
    `LoadError` for a file that does not exist or a module that cannot be found. Nothing is imported: a
    dotted module is only looked up (its top-level package is found without executing it).
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    location, name = split_target(spec, base)
    if name is not None:
        _check_name(spec, name)
    arguments = _check_kwargs(kwargs)
    shape = check_input_shape(input_shape)
    dtype = check_input_dtype(input_dtype)
    if _is_file_like(location, base):
        path = _resolve_file(location, base, spec)
        return Target(spec=spec, path=path, name=name, kwargs=arguments, input_shape=shape, input_dtype=dtype)
    if name is None:
        raise UsageError(
            f"target {spec!r} names a module but no class",
            hint=f"name the model: {location}:Net, or pass the file to check every module in it",
        )
    _find_module(location, base)
    return Target(
        spec=spec, module=location, name=name, kwargs=arguments, input_shape=shape, input_dtype=dtype
    )


# ---------------------------------------------------------------------------------------------- files

_FILE_SUFFIXES = frozenset(
    "txt json yaml yml toml cfg ini md rst ipynb pyi pyc pt pth ckpt onnx csv sh".split()
)


def _is_file_like(location: str, base: Path) -> bool:
    """A path (``.py``, a separator, an existing file, a known file suffix) rather than a dotted module."""
    if location.endswith(".py") or "/" in location or "\\" in location or not _DOTTED.fullmatch(location):
        return True
    if "." in location and location.rsplit(".", 1)[-1].lower() in _FILE_SUFFIXES:
        return True
    return (base / location).is_file()


def _resolve_file(location: str, base: Path, spec: str) -> Path:
    """The resolved ``.py`` file, or a `UsageError` / `LoadError` saying what is wrong with it."""
    path = Path(os.path.expanduser(location))
    if not path.is_absolute():
        path = base / path
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.py"))[:5]
        hint = f"name a file in it, e.g. {location.rstrip('/')}/{inside[0]}:Net" if inside else _EXAMPLE
        raise UsageError(f"{location!r} is a directory, not a Python file", hint=hint)
    if path.suffix != ".py":
        hint = "export the notebook to a .py file first (jupyter nbconvert --to script)"
        raise UsageError(
            f"{location!r} in target {spec!r} is not a Python file",
            hint=hint if path.suffix == ".ipynb" else _EXAMPLE,
        )
    if not path.is_file():
        raise LoadError(f"file not found: {location}", hint=_missing_file_hint(path, base))
    return path.resolve()


def _missing_file_hint(path: Path, base: Path) -> str:
    """'did you mean …' from the nearest existing directory, else 'check the path'."""
    parent = path.parent
    missing = path.name
    while not parent.is_dir() and parent != parent.parent:
        missing = parent.name
        parent = parent.parent
    try:
        entries = [e.name for e in os.scandir(parent) if not e.name.startswith(".")]
    except OSError:
        entries = []
    if missing == path.name:  # compare the stems of the .py files: "mdel" ~ "model", not "nope" ~ "loop"
        stems = {e[:-3]: e for e in entries if e.endswith(".py")}
        close = [
            stems[c] for c in difflib.get_close_matches(Path(missing).stem, list(stems), n=1, cutoff=0.7)
        ]
    else:
        close = difflib.get_close_matches(missing, entries, n=1, cutoff=0.7)
    if close:
        suggestion = parent / close[0]
        try:
            shown = suggestion.relative_to(base).as_posix()
        except ValueError:
            shown = suggestion.as_posix()
        return f"did you mean {shown}?"
    return f"check the path (relative to {base.as_posix()})"


# -------------------------------------------------------------------------------------------- modules


def _find_module(dotted: str, base: Path) -> None:
    """Raise `LoadError` when the top-level package of ``dotted`` cannot be found (nothing is executed)."""
    top = dotted.split(".")[0]
    if top in sys.modules:
        return
    extra = [str(base)] + ([str(base / "src")] if (base / "src").is_dir() else [])
    added = [p for p in extra if p not in sys.path]
    sys.path[:0] = added
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        found = None
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)
    if found is None:
        raise LoadError(
            f"cannot import {dotted!r}: no module named {top!r}",
            hint=f"run relulint from the directory that contains {top}/ (or {top}.py), "
            "install your package (pip install -e .), or pass the file: path/to/module.py:Name",
        )


# ------------------------------------------------------------------------------------ kwargs and shape


def _check_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise UsageError(
            f"kwargs must be a mapping of parameter names to values, got {type(kwargs).__name__}",
            hint="--kwargs '{\"width\": 4}'",
        )
    for key in kwargs:
        if not isinstance(key, str) or not key.isidentifier():
            raise UsageError(f"kwargs: {key!r} is not a parameter name", hint="--kwargs '{\"width\": 4}'")
    return dict(kwargs)


def parse_kwargs(text: str) -> dict[str, Any]:
    """``'{"width": 4}'`` → ``{"width": 4}``: a JSON object (never evaluated as Python).

    Raises `UsageError` for invalid JSON (with its line and column) or JSON that is not an object.
    """
    hint = '--kwargs \'{"width": 4, "act": "relu"}\' (a JSON object: keys in double quotes)'
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}" if "\n" in text else f"column {error.colno}"
        raise UsageError(
            f"--kwargs is not valid JSON: {error.msg} at {where} of {text!r}", hint=hint
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"--kwargs must be a JSON object, got {type(value).__name__}: {text!r}", hint=hint)
    return _check_kwargs(value)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"8,16"`` → ``(8, 16)``; brackets and spaces are allowed (``"(8, 16)"``). Positive integers only."""
    hint = "--input-shape 8,16 (batch, features)"
    body = text.strip().strip("()[]").strip()
    parts = [p.strip() for p in body.split(",")] if body else []
    if parts and parts[-1] == "":
        parts.pop()  # "8," → (8,)
    if not parts:
        raise UsageError(f"--input-shape {text!r} is empty", hint=hint)
    values: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\+?\d+", part) or int(part) <= 0:
            raise UsageError(f"--input-shape {text!r}: {part!r} is not a positive integer", hint=hint)
        values.append(int(part))
    return tuple(values)


# ------------------------------------------------------------------------ per-argument shapes and dtypes

# `Target.input_shape`: one shape for every argument of forward, or one per argument name
InputShape = tuple[int, ...] | Mapping[str, tuple[int, ...]]
# `Target.input_dtype`: one dtype name for every argument, or one per argument name
InputDtype = str | Mapping[str, str]


def _checked(kind: Any, flag: str, value: Any) -> Any:
    """`value` read by the option kind that the command line, the config and the API share."""
    from relulint.option_types import InvalidValue

    try:
        return kind.check(value)
    except InvalidValue as error:
        below = "".join(f".{key}" for key in error.path)
        problem = error.problem()
        separator = ": " if error.detail is not None else " "
        raise UsageError(f"{flag}{below}{separator}{problem}", hint=error.hint or f"{flag} ...") from None


def parse_input_shapes(texts: list[str]) -> InputShape:
    """``["8,16"]`` → ``(8, 16)`` (every argument); ``["x=8,1", "t=8,1"]`` → ``{"x": (8, 1), "t": (8, 1)}``."""
    from relulint.option_inputs import InputShapes

    return _checked(InputShapes(), "--input-shape", list(texts))


def parse_input_dtypes(texts: list[str]) -> InputDtype:
    """``["long"]`` → ``"int64"``; ``["tokens=long"]`` → ``{"tokens": "int64"}``."""
    from relulint.option_inputs import InputDtypes

    return _checked(InputDtypes(), "--input-dtype", list(texts))


def check_input_shape(shape: Any) -> InputShape | None:
    """A shape given through the Python API or the config: ``(8, 16)``, ``"8,16"``, ``{"x": (8, 1)}``."""
    from relulint.option_inputs import InputShapes

    return None if shape is None else _checked(InputShapes(), "input shape", shape)


def check_input_dtype(dtype: Any) -> InputDtype | None:
    """A dtype given through the Python API or the config: a name, a torch dtype, or a mapping of them."""
    from relulint.option_inputs import InputDtypes

    if dtype is None:
        return None
    return _checked(InputDtypes(), "input dtype", dtype if isinstance(dtype, (str, Mapping)) else str(dtype))
