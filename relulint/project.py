"""Which project a run belongs to: the directory findings' paths are relative to.

* `fingerprint_root` — the directory of the pyproject.toml holding `[tool.relulint]` (the one the config
  is read from), else the git root, else the working directory;
* `project_path` — a path relative to that root, posix-style: what fingerprints and baselines store.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fingerprint_root", "project_path"]


def fingerprint_root(cwd: str | Path | None = None) -> Path:
    """The directory fingerprints' paths are relative to: the directory of the pyproject.toml holding
    `[tool.relulint]` (found upward from `cwd`, as the config is), else the git root, else `cwd`."""
    from relulint.config import find_pyproject
    from relulint.errors import ConfigError

    start = Path(cwd if cwd is not None else Path.cwd()).resolve()
    try:
        config = find_pyproject(start)
    except ConfigError:  # an unreadable pyproject.toml is reported by the config loader, not here
        config = None
    if config is not None:
        return config.parent
    return next((d for d in (start, *start.parents) if (d / ".git").exists()), start)


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
