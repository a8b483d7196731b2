"""Import the user's file or module for `relulint.load`, and record what its import built and initialised.

**Importing** follows pytest's default ``prepend`` import mode:

* a file's *import root* is the directory above its top package (found by walking up through directories
  holding an ``__init__.py``), or its own directory when it is not in a package; that root and the
  project root (the nearest parent with ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``:
  `relulint.project.project_root`) are inserted at the front of ``sys.path`` when missing, and **stay
  there** (like pytest: code that imports lazily, e.g. inside ``forward``, keeps working);
* the file is imported under its dotted name (``pkg/sub/mod.py`` → ``pkg.sub.mod``), so relative and
  sibling imports work; a file outside a package is imported under its basename (``model``);
* when ``sys.modules`` already holds a *different* module under that name (two ``model.py`` files in one
  process, or a file named like an installed module), the file is imported under a unique name
  ``<name>_<hash of its path>`` instead; relative imports of such a packaged file then fail (documented
  limitation);
* a file is imported once while it is unchanged: the cache is keyed on its resolved path and checked
  against the modification time and size of the file and of every module of the user's that its import
  brought in (a sibling ``layers.py``); when one changed, those modules are dropped from ``sys.modules`` and
  the file is imported afresh (``relulint.check`` in a notebook sees the edit);
* ``pkg.module:Name`` is imported with ``importlib.import_module``, the working directory (and ``src/``
  when the package lives there) on ``sys.path``;
* ``sys.argv`` is ``[the file]`` while the user's code runs (a script's ``argparse`` at import must not
  read relulint's own arguments), restored afterwards;
* the modules relulint imports itself (`OWN_IMPORTS`) are found past the directories it added
  (`_OwnImportsFinder`): a ``statistics.py`` or ``rich.py`` beside the user's model must not stand in for
  the module relulint means.

Imports and builds run inside `relulint.sandbox.user_code` (time limit, stdout → stderr, the user's
traceback). Modules stay in ``sys.modules``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relulint.errors import LoadError, UserCodeError
from relulint.project import project_root
from relulint.runcache import cached
from relulint.sandbox import USER, Origins, display_path, seeded_global_rng, user_code
from relulint.sites import ConstructionSites

_IMPORTED: dict[str, _Imported] = {}  # normcase(resolved path) → the import and what it depends on
_IMPORT_RECORDS: dict[str, Any] = {}  # normcase(resolved path) → _ImportRecord

#: top-level modules relulint imports (anywhere in its code; `tests/test_internal_errors.py` keeps the list
#: complete) and those its dependencies import lazily: always found past the user's directories
OWN_IMPORTS = frozenset(
    """
    ast cmath collections concurrent contextlib contextvars copy csv ctypes dataclasses decimal difflib enum
    errno fnmatch fractions functools gc hashlib heapq importlib inspect io json math numbers operator os pathlib pickle pkgutil
    platform queue random re runpy shlex shutil signal site stat statistics subprocess sys sysconfig tempfile
    textwrap threading time tokenize tomli tomllib traceback types typing urllib warnings weakref zipfile
    numpy torch rich typer markdown_it mdurl pygments shellingham click safetensors lightning pytorch_lightning matplotlib PIL
    """.split()
)
_USER_ENTRIES: set[str] = set()  # the sys.path entries relulint put in front for the user's code


def package_layout(path: Path) -> tuple[Path, list[str]]:
    """(import root, dotted name parts) of a file: ``/r/pkg/sub/mod.py`` → ``(/r, ["pkg", "sub", "mod"])``."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.name.isidentifier():
        parts.insert(0, directory.name)
        directory = directory.parent
    return directory, parts


class _OwnImportsFinder:
    """A ``sys.meta_path`` finder for `OWN_IMPORTS`: finds them on ``sys.path`` without the entries relulint
    added for the user's code.

    Those entries stay on ``sys.path`` (see the module docstring), and relulint imports lazily (``from
    statistics import NormalDist``, ``from rich.table import Table``): a ``statistics.py`` or ``rich.py``
    beside the user's model must not stand in for the module relulint means. Only top-level names are
    looked up (a package's submodules are found through the package); a name found nowhere else is left to
    the usual finders. The user's code importing one of these names gets the installed module too.
    """

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is not None or fullname not in OWN_IMPORTS or not _USER_ENTRIES:
            return None
        entries = [entry for entry in sys.path if entry not in _USER_ENTRIES]
        return importlib.machinery.PathFinder.find_spec(fullname, entries)


def _install_own_imports_finder() -> None:
    """Put `_OwnImportsFinder` just before the path finder in ``sys.meta_path`` (once)."""
    if _OwnImportsFinder in sys.meta_path:
        return
    finders = list(sys.meta_path)
    at = finders.index(importlib.machinery.PathFinder) if importlib.machinery.PathFinder in finders else 0
    sys.meta_path.insert(at, _OwnImportsFinder)


def _prepend_sys_path(*directories: Path | None) -> None:
    """Insert each directory at the front of ``sys.path`` unless it is already there (first one first);
    relulint's own imports are still found past them (`_OwnImportsFinder`)."""
    _install_own_imports_finder()
    for directory in reversed([d for d in directories if d is not None]):
        entry = str(directory)
        if entry not in sys.path:
            _USER_ENTRIES.add(entry)
            sys.path.insert(0, entry)


def _same_file(module: types.ModuleType, path: Path) -> bool:
    filename = getattr(module, "__file__", None)
    if not filename:
        return False
    try:
        return os.path.samefile(filename, path)
    except OSError:
        return False


def _package_conflict(parts: list[str], root: Path) -> bool:
    """Is a parent package of ``parts`` already imported from somewhere other than under ``root``?"""
    for i in range(1, len(parts)):
        package = sys.modules.get(".".join(parts[:i]))
        if package is None:
            continue
        expected = os.path.normcase(str(root.joinpath(*parts[:i])))
        found = {os.path.normcase(os.path.abspath(p)) for p in getattr(package, "__path__", ()) or ()}
        if expected not in found:
            return True
    return False


def _exec_file(name: str, path: Path) -> types.ModuleType:
    """Import exactly ``path`` as ``sys.modules[name]`` (removed again when executing it fails)."""
    loader = None
    if path.suffix not in importlib.machinery.all_suffixes():  # `bin/deploy`: a script without `.py`
        loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always have a loader
        raise LoadError(f"cannot import {display_path(path)}", hint="is it a Python source file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    return module


def _unique_name(name: str, path: Path) -> str:
    digest = hashlib.sha1(os.path.normcase(str(path)).encode()).hexdigest()[:8]
    return f"{name.replace('.', '_')}_{digest}"


def _import_as(parts: list[str], root: Path, path: Path) -> types.ModuleType:
    """Import ``path`` under its dotted name, or under a unique one when that name is taken."""
    name = ".".join(parts)
    existing = sys.modules.get(name)
    if existing is not None and _same_file(existing, path):
        return existing
    if existing is None:
        if len(parts) == 1:
            return _exec_file(name, path)
        if not _package_conflict(parts, root):
            module = importlib.import_module(name)
            if _same_file(module, path):
                return module
    return _exec_file(_unique_name(name, path), path)


def _file_layout(path: Path) -> tuple[Path, list[str], Path | None, Origins]:
    """(import root, dotted name parts, project root, whose code is the user's) of a resolved file.

    Memoized for the run (`relulint.runcache`): per file (its import, then its target's context ask),
    and the project root per directory (every file of a package asks)."""
    return cached("file layout", str(path), lambda: _find_file_layout(path))


def _find_file_layout(path: Path) -> tuple[Path, list[str], Path | None, Origins]:
    root, parts = package_layout(path)
    directory = path.parent
    project = cached("project_root", str(directory), lambda: project_root(directory))
    origins = Origins([path], [str(r) for r in (root, project) if r is not None])
    return root, parts, project, origins


def _version(filename: str) -> tuple[int, int] | None:
    """(modification time in ns, size) of a file; None when it is gone."""
    try:
        stat = os.stat(filename)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@dataclasses.dataclass
class _Imported:
    """A file's import: its module, and the versions of the user's files that import read."""

    module: types.ModuleType
    versions: dict[str, tuple[int, int] | None]  # filename → (mtime_ns, size) when it was imported
    modules: dict[str, types.ModuleType]  # the user's modules the import added to sys.modules, by name

    def current(self) -> bool:
        return all(_version(filename) == version for filename, version in self.versions.items())

    def forget(self) -> None:
        """Drop the modules this import added from ``sys.modules`` (those not replaced since)."""
        for name, module in self.modules.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _added_user_modules(before: set[str], origins: Origins) -> dict[str, types.ModuleType]:
    """Modules added to ``sys.modules`` since ``before`` whose file is the user's code."""
    added: dict[str, types.ModuleType] = {}
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        filename = getattr(module, "__file__", None) if module is not None else None
        if filename and origins.kind(os.path.abspath(filename)) == USER:
            added[name] = module  # type: ignore[assignment]
    return added


@contextlib.contextmanager
def script_argv(argv0: str) -> Iterator[None]:
    """``sys.argv == [argv0]`` while the block runs (the user's code sees no relulint arguments)."""
    saved = sys.argv
    sys.argv = [argv0]
    try:
        yield
    finally:
        sys.argv = saved


def import_file(path: Path, timeout: float | None = 120.0, *, name: str | None = None) -> types.ModuleType:
    """Import a user's file, again only when it or a file of the user's it imported changed (see the module
    docstring for the naming and ``sys.path``). ``name``, the target's class or factory, completes hints."""
    path = Path(path).resolve()
    key = os.path.normcase(str(path))
    cached = _IMPORTED.get(key)
    if cached is not None:
        if cached.current():
            return cached.module
        cached.forget()
        del _IMPORTED[key]
    root, parts, project, origins = _file_layout(path)
    _prepend_sys_path(root, project)
    before = set(sys.modules)
    try:
        with script_argv(str(path)), user_code(timeout, f"importing {display_path(path)}", [str(path)]):
            with _recorded(origins) as record:
                module = _import_as(parts, root, path)
    except UserCodeError as error:
        _hint_local_package(error, path, project, name or "Name")
        raise
    modules = _added_user_modules(before, origins)
    files = {os.path.abspath(str(m.__file__)) for m in modules.values()} | {str(path)}
    _IMPORTED[key] = _Imported(module, {f: _version(f) for f in sorted(files)}, modules)
    _IMPORT_RECORDS[key] = record
    return module


def _local_package_dir(name: str, path: Path, stop: Path | None) -> Path | None:
    """The directory holding a package or module ``name`` of the user's own: beside ``path``, in a parent
    directory (up to ``stop``, the project root, or four levels), or in the working directory."""
    places = [path.parent, *path.parent.parents][:5]
    if stop is not None and stop in places:
        places = places[: places.index(stop) + 1]
    places.append(Path.cwd())
    for place in places:
        if (place / name).is_dir() or (place / f"{name}.py").is_file():
            return place
    return None


def _hint_local_package(error: UserCodeError, path: Path, project: Path | None, name: str) -> None:
    """A missing import that is a directory of the user's own (a repo's ``models/``): say how to reach it
    (run from the repo root with the ``pkg.module:Name`` form), not "install it"."""
    cause = error.__cause__
    if not isinstance(cause, ModuleNotFoundError) or not cause.name or "." in cause.name:
        return  # a missing submodule of a package that imported: not a sys.path matter
    top = cause.name
    place = _local_package_dir(top, path, project)
    if place is None:
        return
    kind = "directory" if (place / top).is_dir() else "file"
    shown = display_path(place / top) + ("/" if kind == "directory" else ".py")
    try:
        parts = path.with_suffix("").relative_to(place).parts
    except ValueError:
        parts = ()
    if parts and all(part.isidentifier() for part in parts):
        how = f"cd {display_path(place)} && relulint check {'.'.join(parts)}:{name}"
    else:
        how = f"run relulint from {display_path(place)} with the pkg.module:Name form"
    error.hint = (
        f"{top!r} is your own code ({shown}), not a package to install; {display_path(place)} is not on "
        f"sys.path when {display_path(path)} is imported: {how}, or mark {display_path(place)} as the "
        "project root with a pyproject.toml (relulint puts the project root on sys.path)"
    )


@dataclasses.dataclass
class _ImportRecord:
    """What happened while user code ran (a file's import, a model's build): where its modules were
    built and which inits ran.

    A model built at module level (``model = nn.Sequential(...)``) is only known through it, and so is an
    init function imported by name (``from torch.nn.init import kaiming_normal_``): the recorder's wrapper is
    what the file binds, and it records whenever a recorder is active later.
    """

    sites: Any = None
    recorder: Any = None


@contextlib.contextmanager
def _recorded(origins: Origins) -> Iterator[_ImportRecord]:
    """Run user code seeded (`sandbox.seeded_global_rng`), noting construction sites and init calls."""
    from relulint.init_recorder import InitRecorder

    record = _ImportRecord()
    with seeded_global_rng(), ConstructionSites(origins) as sites, InitRecorder() as recorder:
        record.sites, record.recorder = sites, recorder
        yield record


def import_record(path: Path) -> _ImportRecord | None:
    """The `_ImportRecord` of a file `import_file` imported (None for a file it did not import)."""
    return _IMPORT_RECORDS.get(os.path.normcase(str(Path(path).resolve())))


def _import_dotted(dotted: str, timeout: float | None, cwd: Path) -> types.ModuleType:
    """``importlib.import_module(dotted)`` with the working directory (and ``src/``) on ``sys.path``."""
    top = dotted.split(".")[0]
    src = cwd / "src"
    in_src = (src / top).is_dir() or (src / f"{top}.py").is_file()
    _prepend_sys_path(cwd, src if in_src else None)
    with script_argv(dotted), user_code(timeout, f"importing {dotted}"):
        try:
            fresh = dotted not in sys.modules
            with _recorded(Origins([], [str(cwd), str(src)])) as record:
                module = importlib.import_module(dotted)
            filename = getattr(module, "__file__", None)
            if fresh and filename:
                _IMPORT_RECORDS.setdefault(os.path.normcase(str(Path(filename).resolve())), record)
            return module
        except ModuleNotFoundError as error:
            if error.name and (dotted == error.name or dotted.startswith(error.name + ".")):
                raise LoadError(
                    f"cannot import {dotted!r}: no module named {error.name!r}",
                    hint=f"run relulint from the directory that contains {top}/, install your package "
                    "(pip install -e .), or pass the file: path/to/module.py:Name",
                ) from None
            raise
