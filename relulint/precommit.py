"""Which targets a pre-commit run must lint, read statically (no torch, no import of the user's code).

pre-commit passes the changed files. relulint lints the configured targets whose file changed plus the
`nn.Module` subclasses defined in the changed files; when no file is relevant the command exits 0
before importing torch (about 1.2 s and 220 MB). This module therefore imports nothing heavy: `ast`
finds classes whose bases end in `Module` (`nn.Module`, `torch.nn.Module`, `Module`, `LightningModule`,
...) or derive from such a class defined earlier in the same file.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MODULE_HINT = re.compile(r"\bModule\b")


def _base_name(node: ast.expr) -> str | None:
    """`nn.Module` → "Module", `Base` → "Base", `Generic[T]` → "Generic"; None for anything else."""
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


# torch's containers and layers users subclass: `class MLP(nn.Sequential)`, `class Block(nn.ModuleList)`
MODULE_BASE_SUFFIXES = ("Module", "Sequential", "ModuleList", "ModuleDict", "Linear")


def _local_imports(tree: ast.Module, directory: Path | None) -> set[str]:
    """Names a file imports from its own project: relative imports, or `from models import Base` where
    `models` is a file or package beside it or in the working directory (never torch, numpy or any other
    installed package: `class Data(Dataset)` in a training script is no model). A class deriving from one
    may well be an `nn.Module`."""
    names: set[str] = set()
    places = [p for p in (directory, Path.cwd()) if p is not None]
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        root = (node.module or "").split(".")[0]
        local = node.level > 0 or any(
            (place / root).is_dir() or (place / f"{root}.py").is_file() for place in places if root
        )
        if local:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _torch_aliases(tree: ast.Module) -> set[str]:
    """Names under which a file imports torch's module classes: `from torch.nn import Module as Base`."""
    return {
        alias.asname
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch"
        for alias in node.names
        if alias.asname and alias.name.endswith(MODULE_BASE_SUFFIXES)
    }


def module_classes(
    tree: ast.Module, directory: Path | None = None, known: frozenset[str] = frozenset()
) -> set[str]:
    """Names of the top-level classes of a parsed file that are (or may be) `nn.Module` subclasses.

    Static, without importing: a base named like torch's modules (`nn.Module`, `nn.Sequential`,
    `nn.ModuleList`, …, also under an alias: `from torch.nn import Module as Base`), a class of the same
    file already found, or a name imported from the user's own
    code (relative or project imports), whose class only an import could tell; with `known`, also a base
    named like an `nn.Module` subclass found elsewhere in the project (`relulint.discover`).
    """
    found: set[str] = set()
    local = _local_imports(tree, directory) | _torch_aliases(tree)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for base in node.bases:
            name = _base_name(base)
            if name is not None and (
                name.endswith(MODULE_BASE_SUFFIXES) or name in found or name in local or name in known
            ):
                found.add(node.name)
                break
    return found


MAX_SCRIPT_BYTES = 4 << 20  # a file without the `.py` suffix larger than this is not read as Python


def _binary_or_large(path: Path) -> bool:
    """A file without the `.py` suffix that is not worth parsing: too large, or binary (a NUL byte)."""
    try:
        if path.stat().st_size > MAX_SCRIPT_BYTES:
            return True
        with path.open("rb") as handle:
            return b"\0" in handle.read(8192)
    except OSError:
        return True


def python_shebang(path: Path) -> bool:
    """Does the file start with a `#!` line naming python (how pre-commit's identify tags a script)?"""
    try:
        with Path(path).open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def module_classes_in(path: Path) -> set[str] | None:
    """The `nn.Module` classes defined in a file; None when it cannot be parsed (or, for a file without
    the `.py` suffix, is binary or larger than `MAX_SCRIPT_BYTES`)."""
    path = Path(path)
    if path.suffix != ".py" and _binary_or_large(path):
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    # the working directory is part of the key: `_local_imports` looks for project modules there too
    classes = _module_classes_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(Path.cwd()))
    return None if classes is None else set(classes)


@functools.lru_cache(maxsize=256)
def _module_classes_cached(resolved: str, mtime_ns: int, size: int, cwd: str) -> frozenset[str] | None:
    """One read and parse per file version: a run asks several times of each changed file (relevant
    target? training script? python script?)."""
    path = Path(resolved)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        return frozenset(module_classes(ast.parse(text, filename=resolved), path.parent))
    except (OSError, SyntaxError, ValueError):
        return None


def python_source(path: Path) -> bool:
    """Is this existing file Python: a `.py` file, or a script whose first line is a python shebang
    (`bin/deploy` starting `#!/usr/bin/env python`, which pre-commit's identify tags `python`)?"""
    path = Path(path)
    return path.is_file() and (path.suffix == ".py" or python_shebang(path))


def python_script(path: Path) -> bool:
    """Is this file without the `.py` suffix a Python script that parses (`bin/deploy`)? Such a file is
    scanned for optimizer constructions like a `.py` training script."""
    return python_source(path) and module_classes_in(Path(path)) is not None


def defines_modules(path: Path) -> bool:
    """Does this Python file define an `nn.Module` subclass? A `.py` file that does not parse counts when
    it mentions `Module`, so the loader reports its syntax error; a script with a python shebang and no
    `.py` suffix (`bin/deploy`) counts only when it parses; other files never count."""
    path = Path(path)
    if not python_source(path):
        return False
    classes = module_classes_in(path)
    if classes is None:
        if path.suffix != ".py":
            return False
        try:
            return bool(MODULE_HINT.search(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            return False
    return bool(classes)


# ------------------------------------------------------------------------------------------ targets


def target_spec(item: Any) -> str:
    """The target string of a configured target (a string, or a table with `target`)."""
    if isinstance(item, Mapping):
        return str(item.get("target", ""))
    return str(getattr(item, "spec", item))


def split_spec(spec: str) -> tuple[str, str | None]:
    """`"dir/model.py:Net"` → ("dir/model.py", "Net"); `"pkg.mod:Net"` → ("pkg.mod", "Net")."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and not (len(spec) > 2 and spec[1] == ":" and spec.count(":") == 1):
        return head, tail or None
    return spec, None


def module_file(dotted: str, roots: Iterable[Path]) -> Path | None:
    """The file of a dotted module, found on disk without executing any package's `__init__`."""
    parts = dotted.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0], [str(r) for r in roots])
    if spec is None:
        return None
    for part in parts[1:]:
        locations = list(spec.submodule_search_locations or [])
        if not locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(f"{spec.name}.{part}", locations)
        if spec is None:
            return None
    return Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else None


def target_file(spec: str, cwd: Path) -> Path | None:
    """The source file a target names (resolved), or None when it cannot be told statically."""
    location, _name = split_spec(spec)
    path = Path(location)
    path = path if path.is_absolute() else cwd / path
    if location.endswith(".py") or ("/" in location or "\\" in location) or path.is_file():
        return path.resolve()  # `.py` files, and scripts without the suffix (`bin/deploy:Net`)
    if re.fullmatch(r"[A-Za-z_][\w.]*", location):
        found = module_file(location, [cwd, cwd / "src"])
        return found.resolve() if found is not None else None
    return None


def _key(path: Path) -> str:
    return os.path.normcase(str(path.resolve()))


def relevant_targets(
    filenames: Iterable[str | Path], configured_targets: Iterable[Any], *, cwd: Path | None = None
) -> list[Any]:
    """What to lint for these changed files (pre-commit's arguments).

    1. every configured target (string or table, returned unchanged) whose file is among `filenames`;
    2. every changed Python file (`.py`, or a script with a python shebang such as `bin/deploy`) that
       defines `nn.Module` subclasses: the file itself (`"path.py"`, every module in it) or, when
       configured targets already cover some of its classes, one `"path.py:Class"` target per remaining
       class, so a configured target keeps its kwargs and is not linted twice.
    An empty list means nothing is relevant: the caller exits 0 without importing torch.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    changed: dict[str, str] = {}
    for name in filenames:
        path = Path(name)
        absolute = path if path.is_absolute() else base / path
        if python_source(absolute):  # `.py` files and python-shebang scripts (read, never imported)
            changed.setdefault(_key(absolute), str(name))
    chosen: list[Any] = []
    covered: dict[str, set[str | None]] = {}
    for item in configured_targets:
        spec = target_spec(item)
        file = target_file(spec, base)
        if file is None or _key(file) not in changed:
            continue
        chosen.append(item)
        covered.setdefault(_key(file), set()).add(split_spec(spec)[1])
    for key, name in changed.items():
        names = covered.get(key)
        if names is not None and None in names:
            continue  # a configured whole-file target already lints every module of the file
        classes = module_classes_in(Path(key))
        if classes is None:
            if defines_modules(Path(key)):  # a `.py` file with a syntax error: the loader reports it
                chosen.append(name)
            continue
        if not classes:
            continue
        if names is None:
            chosen.append(name)
        else:
            chosen += [f"{name}:{cls}" for cls in sorted(classes - names)]
    return chosen
