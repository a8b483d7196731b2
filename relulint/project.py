"""Which pyproject.toml, which project root: the one place relulint walks up the directory tree.

Three questions, each answered by walking upward from a directory (`nearest`):

* `find_pyproject` — the configuration: the nearest ``pyproject.toml`` with a ``[tool.relulint]`` table
  (as ruff finds its own); `relulint.config` reads it, and paths in it are relative to its directory;
* `project_root` — where the user's code lives: the nearest directory holding a project marker
  (``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``); `relulint.import_user` puts it on
  ``sys.path``;
* `fingerprint_root` — what findings' paths are relative to (fingerprints, baselines): the directory of
  the configuration, else the git root, else the working directory; `project_path` makes a path relative
  to it.

This module imports nothing of relulint's at import time (errors are raised as `ConfigError`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

__all__ = [
    "PROJECT_MARKERS",
    "find_pyproject",
    "fingerprint_root",
    "nearest",
    "project_path",
    "project_root",
    "read_toml",
]

PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def nearest(start: str | Path, test: Callable[[Path], bool]) -> Path | None:
    """The first directory at or above `start` (a file's own directory for a file) that passes `test`."""
    directory = Path(start)
    if directory.is_file():
        directory = directory.parent
    return next((d for d in (directory, *directory.parents) if test(d)), None)


# ------------------------------------------------------------------------------------- configuration


def find_pyproject(start: str | Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start` that has a `[tool.relulint]` table.

    A file that mentions relulint but cannot be read as TOML is a `ConfigError` (never skipped silently).
    """
    found = nearest(Path(start).resolve(), lambda d: _has_relulint_table(d / "pyproject.toml"))
    return found / "pyproject.toml" if found is not None else None


# "relulint" as UTF-8 (and ASCII, Latin-1, ...), and as UTF-16: a file that mentions it but cannot be read
# as UTF-8 is relulint's configuration, broken, never a file to skip silently
_MENTIONS = (b"relulint", "relulint".encode("utf-16-le"), "relulint".encode("utf-16-be"))


def _has_relulint_table(path: Path) -> bool:
    """Cheap test before parsing: does the file mention `tool.relulint` at all? Then parse to be sure.

    A file that mentions relulint but is not valid UTF-8 (TOML files must be) is a `ConfigError`.
    """
    if not path.is_file():
        return False
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if not any(mention in data for mention in _MENTIONS):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        from relulint.errors import ConfigError

        raise ConfigError(
            f"{_display(path)}: not valid UTF-8 ({error.reason} at byte {error.start})",
            hint="save pyproject.toml as UTF-8 (TOML files must be UTF-8)",
        ) from None
    return "relulint" in read_toml(path).get("tool", {})


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file; a syntax error or an unreadable file is a `ConfigError` naming the file."""
    from relulint.errors import ConfigError

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


# ------------------------------------------------------------------------------------------ the code


def project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a project marker (pyproject.toml, .git, …)."""
    return nearest(start, lambda d: any((d / marker).exists() for marker in PROJECT_MARKERS))


# ------------------------------------------------------------------------------------ finding paths


def fingerprint_root(cwd: str | Path | None = None) -> Path:
    """The directory fingerprints' paths are relative to: the directory of the pyproject.toml holding
    `[tool.relulint]` (found upward from `cwd`, as the config is), else the git root, else `cwd`."""
    from relulint.errors import ConfigError

    start = Path(cwd if cwd is not None else Path.cwd()).resolve()
    try:
        config = find_pyproject(start)
    except ConfigError:  # an unreadable pyproject.toml is reported by the config loader, not here
        config = None
    if config is not None:
        return config.parent
    return nearest(start, lambda d: (d / ".git").exists()) or start


def project_path(path: str, root: Path | None = None) -> str:
    """`path` (relative to the working directory, or absolute) relative to `root` (default:
    `fingerprint_root()`), posix; the path as given (posix) when it lies outside the root or is not a file
    path (`<module>`)."""
    if not path or path.startswith("<"):
        return path
    root = root if root is not None else fingerprint_root()
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return Path(path).as_posix()
