"""Where the user's code defines a class or function (`definition`) and builds each module
(`ConstructionSites`), for `relulint.load` and `relulint.import_user`.

**Construction sites.** While a model is built, ``torch.nn.Module.__init__`` is wrapped (restored in
``finally``) to note, for each module object created, the innermost frame of the user's code on the stack
(a ``sys._getframe`` walk: no source is read), skipping the module's own ``__init__`` chain and stopping at
relulint's frames. After the build, `module_locations` maps qualified names to these sites; a module
with no site (built by ``copy.deepcopy``, or by relulint itself: the root of a class target) inherits its
parent's, and the root falls back to the class definition.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import sys
import types
from pathlib import Path
from typing import Any

from relulint.records.location import Location
from relulint.sandbox import RELULINT, USER, Origins, display_path


def _nn() -> Any:
    import torch.nn

    return torch.nn


@functools.lru_cache(maxsize=64)
def _class_lines(filename: str, mtime: float) -> dict[str, int]:
    """Top-level ``class`` statement lines of a file (one parse per file)."""
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8", errors="replace"), filename=filename)
    except (OSError, SyntaxError, ValueError):
        return {}
    return {node.name: node.lineno for node in tree.body if isinstance(node, ast.ClassDef)}


def _source_file(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):
        return None


def _definition_line(obj: Any, filename: str) -> int:
    """The ``class`` / ``def`` line of ``obj`` (past its decorators), 1 when it cannot be found."""
    if isinstance(obj, type) and obj.__qualname__ == obj.__name__:
        try:
            found = _class_lines(filename, os.path.getmtime(filename)).get(obj.__name__)
        except OSError:
            found = None
        if found:
            return found
    try:
        lines, start = inspect.getsourcelines(obj)
    except (TypeError, OSError, IndexError):
        code = getattr(obj, "__code__", None)
        return int(getattr(code, "co_firstlineno", 1) or 1)
    for offset, text in enumerate(lines):
        if text.lstrip().startswith(("class ", "def ", "async def ")):
            return max(start, 1) + offset
    return max(start, 1)


def definition(obj: Any, fallback: str | None = None) -> Location:
    """Where a class or function is defined (path relative to the working directory when under it)."""
    if not isinstance(obj, (type, types.FunctionType)) and not inspect.isroutine(obj):
        obj = type(obj)  # a callable instance, a partial: its class
    filename = _source_file(obj)
    if filename is None:
        return Location(fallback or f"<{getattr(obj, '__module__', 'unknown')}>", 1)
    return Location(display_path(filename), _definition_line(obj, filename))


class ConstructionSites:
    """Wraps ``torch.nn.Module.__init__`` while active to note where each module object is built.

    with ConstructionSites(origins) as sites:
        model = build()
    locations = sites.locations(model, root=class_location)
    """

    def __init__(self, origins: Origins) -> None:
        self.origins = origins
        self._sites: dict[int, tuple[Any, str, int]] = {}  # id → (module kept alive, filename, line)
        self._original: Any = None
        self._shown: dict[str, str] = {}

    def __enter__(self) -> ConstructionSites:
        module_class = _nn().Module
        self._original = original = module_class.__dict__["__init__"]
        sites, find = self._sites, self._find

        @functools.wraps(original)
        def __init__(module: Any, *args: Any, **kwargs: Any) -> None:
            if id(module) not in sites:
                site = find(sys._getframe(1), module)
                if site is not None:
                    sites[id(module)] = (module, site[0], site[1])
            original(module, *args, **kwargs)

        module_class.__init__ = __init__
        return self

    def __exit__(self, *exc: object) -> None:
        _nn().Module.__init__ = self._original

    def _find(self, frame: Any, module: Any) -> tuple[str, int] | None:
        """The innermost user frame that is not the module's own ``__init__``; None past relulint's frames."""
        kind = self.origins.kind
        while frame is not None:
            code = frame.f_code
            origin = kind(code.co_filename)
            if origin == USER:
                own_init = (
                    code.co_name == "__init__"
                    and code.co_argcount > 0
                    and frame.f_locals.get(code.co_varnames[0]) is module
                )
                if not own_init:
                    return code.co_filename, frame.f_lineno
            elif origin == RELULINT:
                return None
            frame = frame.f_back
        return None

    def _location(self, filename: str, line: int) -> Location:
        shown = self._shown.get(filename)
        if shown is None:
            shown = self._shown[filename] = display_path(filename)
        return Location(shown, line)

    def root_site(self, model: Any) -> Location | None:
        """Where ``model`` itself was constructed, when that was noted."""
        site = self._sites.get(id(model))
        return self._location(site[1], site[2]) if site is not None and site[0] is model else None

    def locations(self, model: Any, root: Location) -> dict[str, Location]:
        """Qualified name → construction site for every submodule of ``model`` ("" = the root)."""
        found: dict[str, Location] = {}
        for qualname, sub in model.named_modules(remove_duplicate=False):
            site = self._sites.get(id(sub))
            if site is not None and site[0] is sub:
                found[qualname] = self._location(site[1], site[2])
            elif qualname:
                found[qualname] = found.get(qualname.rpartition(".")[0], root)
            else:
                found[qualname] = root
        return found
