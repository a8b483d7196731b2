"""Look-ups memoized for the length of one run (`run_scope`), never longer; and the console script's
garbage-collector freeze (`freeze_imports`).

A run (`relulint.check`, an audit, ``relulint check DIR``) asks the same questions of the file system
many times: each of a project's files is imported from its package root and project root
(`relulint.project.project_root`, a walk up the tree testing four markers in every directory), and each
trace asks where every frame's file really lives (``os.path.realpath``). Within a run the answers are
taken as fixed; between runs they are not (a notebook adds a ``pyproject.toml`` or moves a file between
two ``relulint.check`` calls), so every cache lives in the outermost `run_scope` and is dropped when it
ends, also on an error. Outside a run nothing is cached: `memo` answers None and callers look up afresh.

**The freeze.** Importing torch leaves about 170 thousand long-lived objects (modules, functions,
classes) that every full collection of the cyclic garbage collector walks, and the interpreter's
shutdown runs such collections: on a check of 200 small files, about 0.3 s of the exit.
The console script (`relulint.cli.main` calls `enable_freeze`) moves every object alive just before the
first target is imported into the collector's permanent generation (``gc.freeze()``), once per process,
where collections skip them. Nothing the user's code makes is frozen (it is collected as usual); what
is frozen is what the imports hold, alive until the process ends anyway (plus any garbage not yet
collected at that moment: a few dozen objects, then never freed). In-process use (``relulint.check``
in a notebook, the tests) never freezes.

This module imports nothing of relulint's.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["cached", "enable_freeze", "freeze_imports", "memo", "realpath", "run_scope"]

T = TypeVar("T")

_SCOPE: list[dict[str, dict[Hashable, Any]]] = []  # the caches of the run in progress (one at most)
_FREEZE = {"wanted": False, "done": False}


@contextmanager
def run_scope() -> Iterator[None]:
    """Memoize look-ups (`memo`) while the block runs; a nested scope shares the outer one's caches."""
    if _SCOPE:
        yield
        return
    _SCOPE.append({})
    try:
        yield
    finally:
        _SCOPE.clear()


def memo(name: str) -> dict[Hashable, Any] | None:
    """The cache called ``name`` of the run in progress (created empty on first use); None outside a run."""
    return _SCOPE[0].setdefault(name, {}) if _SCOPE else None


def cached(name: str, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``key`` in the cache ``name`` during a run; every time outside one."""
    cache = memo(name)
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def realpath(filename: str) -> str:
    """``os.path.realpath(filename)``, memoized for the run."""
    return cached("realpath", filename, lambda: os.path.realpath(filename))


def enable_freeze() -> None:
    """Let `freeze_imports` freeze (the console script's `main` only: its process ends after one run)."""
    _FREEZE["wanted"] = True


def freeze_imports() -> None:
    """Import torch and ``gc.freeze()`` every object alive now, once per process, when `enable_freeze` was
    called; call it before the user's code first runs (see the module docstring)."""
    if not _FREEZE["wanted"] or _FREEZE["done"]:
        return
    _FREEZE["done"] = True
    import torch  # noqa: F401 (the run imports it with the first target: its objects are the bulk)

    gc.freeze()
