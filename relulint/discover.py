"""Which files `relulint check DIR` imports: the Python files under the directories, filtered statically.

    relulint check .            # every model file of the project
    relulint check src/ models/

1. **Listing.** Inside a git work tree the files git knows of (`git ls-files --cached --others
   --exclude-standard`: tracked files, and untracked ones that `.gitignore` does not ignore); elsewhere a
   walk of the directory. Either way hidden directories (`.venv`, `.git`, `.tox`, ...), virtual
   environments (a directory holding `pyvenv.cfg` or `conda-meta/`), `site-packages`, `build/`, `dist/`,
   `node_modules`, `__pycache__` and `__pypackages__` are skipped.
2. **include / exclude** (`[tool.relulint] include`, `exclude`; `--exclude`): glob patterns with ruff's
   semantics (`relulint.suppress.glob_matches`): a pattern without `/` matches a file or directory name
   anywhere (`legacy`, `*_old.py`), one with `/` a path relative to the config's directory (the working
   directory for `--exclude`). A file must match an `include` pattern (default `*.py`) and neither it
   nor a directory above it an `exclude` pattern. Unlike ruff's `exclude`, relulint's own skips above
   always apply.
3. **Static filter** (`ast`, nothing imported): a file is imported only when it defines an `nn.Module`
   subclass as the pre-commit hook reads it (`relulint.precommit.module_classes`: torch's bases, also
   under an alias, classes of the same file, names imported from the project), or a subclass of a module
   class defined in another file of the project (`class Head(Block)` where `Block(nn.Module)` lives in
   `layers.py`, however it is imported), or when it holds a configured target (`[tool.relulint]
   targets`), which keeps its kwargs and input shape. Configured targets under the paths are checked even
   when a pattern excludes their file.

`relulint.cli` then checks every target with `relulint.check(..., keep_going=True)`: one file whose import
fails is one error line in the report (exit 2), and the others are still checked.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relulint.precommit import (
    defines_modules,
    module_classes,
    module_classes_in,
    relevant_targets,
    target_file,
    target_spec,
)
from relulint.suppress import glob_matches

#: directory names never entered (besides hidden ones and virtual environments)
SKIPPED_NAMES = frozenset(
    {"site-packages", "build", "dist", "node_modules", "__pycache__", "__pypackages__", "venv"}
)
DEFAULT_INCLUDE = ("*.py",)


@dataclass(frozen=True)
class Discovery:
    """What `discover` found: the targets to check and how it got there (for notes and tests)."""

    targets: list[Any]  # file paths (`"pkg/models.py"`) and configured targets (strings or tables)
    files: list[str]  # the Python files listed under the paths, after include / exclude
    imported: list[str] = field(default_factory=list)  # the files among them that will be imported
    listing: str = "walk"  # "git" or "walk"


# ---------------------------------------------------------------------------------------------- listing


def virtualenv(directory: Path) -> bool:
    """Is this directory a virtual environment (venv, virtualenv, uv) or a conda environment?"""
    return (directory / "pyvenv.cfg").is_file() or (directory / "conda-meta").is_dir()


def skipped_directory(directory: Path) -> bool:
    """A directory `relulint check DIR` never enters: hidden, a virtualenv, site-packages, build, dist..."""
    name = directory.name
    return (
        (name.startswith(".") and name not in (".", "..")) or name in SKIPPED_NAMES or virtualenv(directory)
    )


def git_files(root: Path) -> list[Path] | None:
    """The files under `root` that git knows of (tracked, or untracked and not ignored); None outside a
    git work tree or without git."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if listed.returncode != 0:
        return None
    names = sorted({name for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if name})
    return [root / name for name in names]


def walk_files(root: Path) -> Iterator[Path]:
    """Every file under `root`, never entering a skipped directory (`skipped_directory`)."""
    for directory, subdirectories, filenames in os.walk(root):
        here = Path(directory)
        subdirectories[:] = sorted(d for d in subdirectories if not skipped_directory(here / d))
        for filename in sorted(filenames):
            yield here / filename


def _under_skipped(path: Path, root: Path, cache: dict[Path, bool]) -> bool:
    """Is a directory between `root` (exclusive) and the file `path` one `relulint check DIR` skips?"""
    for directory in path.relative_to(root).parents:
        if directory == Path("."):
            continue
        absolute = root / directory
        if absolute not in cache:
            cache[absolute] = skipped_directory(absolute)
        if cache[absolute]:
            return True
    return False


def list_files(root: Path) -> tuple[list[Path], str]:
    """The files under `root` (git's list inside a work tree, else a walk), skipped directories left out."""
    listed = git_files(root)
    if listed is None:
        return list(walk_files(root)), "walk"
    cache: dict[Path, bool] = {}
    return [p for p in listed if p.is_file() and not _under_skipped(p, root, cache)], "git"


# ------------------------------------------------------------------------------------ include / exclude


def _relative(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` when below it (posix), else absolute."""
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.as_posix()


def matches(patterns: Iterable[str], path: Path, cwd: Path) -> bool:
    """Does the file or directory `path` match one of the glob patterns (ruff's semantics)?"""
    relative: str | None = None
    for pattern in patterns:
        pattern = pattern.rstrip("/") or pattern
        if "/" not in pattern and fnmatch.fnmatchcase(path.name, pattern):
            return True  # a name pattern (`*.py`, `legacy`): the common case, without resolving paths
        relative = relative or _relative(path, cwd)
        if "/" in pattern and glob_matches(pattern, relative, cwd):
            return True
    return False


def excluded(path: Path, root: Path, exclude: Sequence[str], cwd: Path) -> bool:
    """Does an `exclude` pattern match the file or a directory between `root` and it?"""
    if not exclude:
        return False
    parts = path.relative_to(root).parts
    return any(matches(exclude, root.joinpath(*parts[: i + 1]), cwd) for i in range(len(parts)))


def python_files(
    roots: Sequence[Path], cwd: Path, include: Sequence[str] = DEFAULT_INCLUDE, exclude: Sequence[str] = ()
) -> tuple[list[Path], str]:
    """The files under the directories that match `include` and not `exclude`, each once, in order."""
    found: dict[str, Path] = {}
    how = "walk"
    for root in roots:
        root = root.resolve()
        files, how = list_files(root)
        for path in files:
            key = os.path.normcase(str(path))
            if key in found or not matches(include, path, cwd) or excluded(path, root, exclude, cwd):
                continue
            found[key] = path
    return list(found.values()), how


# ------------------------------------------------------------------------------------------ the filter


@functools.lru_cache(maxsize=4096)
def _parsed(resolved: str, mtime_ns: int, size: int) -> ast.Module | None:
    try:
        return ast.parse(Path(resolved).read_text(encoding="utf-8", errors="replace"), filename=resolved)
    except (OSError, SyntaxError, ValueError):
        return None


def _tree(path: Path) -> ast.Module | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _parsed(str(path), stat.st_mtime_ns, stat.st_size)


def _mentions_a_class(path: Path) -> bool:
    try:
        return b"class " in path.read_bytes()
    except OSError:
        return False


def model_files(files: Sequence[Path]) -> list[Path]:
    """The files that define an `nn.Module` subclass, read statically.

    First as the pre-commit hook reads each file alone (`relulint.precommit.module_classes_in`); then,
    until nothing changes, the files whose classes derive from a class found so far anywhere in the
    project (a subclass of `layers.Block` in another file, whatever the import looks like).
    """
    found: dict[Path, set[str]] = {}
    rest: list[Path] = []
    for path in files:
        classes = module_classes_in(path)
        if classes:
            found[path] = classes
        elif classes is not None:
            rest.append(path)
        elif defines_modules(path):
            found[path] = set()  # a syntax error in a file that mentions Module: the loader reports it
    changed = True
    while changed and rest:
        known = frozenset(name for classes in found.values() for name in classes)
        changed = False
        for path in list(rest):
            if not _mentions_a_class(path):
                rest.remove(path)
                continue
            tree = _tree(path)
            classes = module_classes(tree, path.parent, known) if tree is not None else set()
            if classes:
                found[path] = classes
                rest.remove(path)
                changed = True
    return [path for path in files if path in found]


# ---------------------------------------------------------------------------------------------- targets


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def discover(
    directories: Sequence[str | Path],
    configured: Sequence[Any] = (),
    *,
    cwd: Path | None = None,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = (),
) -> Discovery:
    """The targets of `relulint check DIR ...`: the model files under the directories (see the module
    docstring), and the configured targets whose file is there (they keep their kwargs; a file covered by
    a configured whole-file target is not checked twice)."""
    base = (cwd or Path.cwd()).resolve()
    roots = [(Path(d) if Path(d).is_absolute() else base / d).resolve() for d in directories]
    files, how = python_files(roots, base, include or DEFAULT_INCLUDE, exclude)
    models = model_files(files)
    names = [_relative(path, base) for path in models]
    configured_files = []
    for item in configured:
        path = target_file(target_spec(item), base)
        if path is not None and _under(path, roots) and path.is_file():
            configured_files.append(_relative(path, base))
    if not configured_files:  # nothing to merge: every model file is a whole-file target
        return Discovery(
            targets=names, files=[_relative(p, base) for p in files], imported=names, listing=how
        )
    chosen = relevant_targets([*names, *configured_files], configured, cwd=base)
    # files that only the project-wide pass found (their base class lives in another file)
    covered = {target_spec(t).rsplit(":", 1)[0] if ":" in target_spec(t) else target_spec(t) for t in chosen}
    chosen += [name for name in names if name not in covered]
    files_of = [target_file(target_spec(t), base) for t in chosen]
    imported = sorted({_relative(f, base) for f in files_of if f is not None})
    return Discovery(
        targets=chosen, files=[_relative(p, base) for p in files], imported=imported, listing=how
    )
