"""Import the user's file, build the model(s) a `Target` names, and record where every submodule was built.

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

**Construction sites.** While a model is built, ``torch.nn.Module.__init__`` is wrapped (restored in
``finally``) to note, for each module object created, the innermost frame of the user's code on the stack
(a ``sys._getframe`` walk: no source is read), skipping the module's own ``__init__`` chain and stopping at
relulint's frames. After the build, `module_locations` maps qualified names to these sites; a module
with no site (built by ``copy.deepcopy``, or by relulint itself: the root of a class target) inherits its
parent's, and the root falls back to the class definition.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import os
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from relulint.errors import LoadError, UsageError, UserCodeError
from relulint.facts import LoadedModel, Location, Skipped, Target
from relulint.project import project_root
from relulint.sandbox import RELULINT, USER, Origins, display_path, seeded_global_rng, user_code

__all__ = ["from_module", "import_file", "load"]

_IMPORTED: dict[str, _Imported] = {}  # normcase(resolved path) → the import and what it depends on
_IMPORT_RECORDS: dict[str, Any] = {}  # normcase(resolved path) → _ImportRecord

#: top-level modules relulint imports (anywhere in its code; `tests/test_internal_errors.py` keeps the list
#: complete) and those its dependencies import lazily: always found past the user's directories
OWN_IMPORTS = frozenset(
    """
    ast cmath collections concurrent contextlib contextvars copy csv ctypes dataclasses decimal difflib enum
    errno fnmatch fractions functools hashlib heapq importlib inspect io json math numbers operator os pathlib pickle pkgutil
    platform queue random re runpy shlex shutil signal site stat statistics subprocess sys sysconfig tempfile
    textwrap threading time tokenize tomli tomllib traceback types typing urllib warnings weakref zipfile
    numpy torch rich typer markdown_it mdurl pygments shellingham click safetensors lightning pytorch_lightning matplotlib PIL
    """.split()
)
_USER_ENTRIES: set[str] = set()  # the sys.path entries relulint put in front for the user's code


def _nn() -> Any:
    import torch.nn

    return torch.nn


# --------------------------------------------------------------------------------------------- import


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
    """(import root, dotted name parts, project root, whose code is the user's) of a resolved file."""
    root, parts = package_layout(path)
    project = project_root(path.parent)
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


# ---------------------------------------------------------------------------------------- definitions


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


# ------------------------------------------------------------------------------- construction sites


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


# ------------------------------------------------------------------------------------------ resolving


@dataclasses.dataclass
class _Context:
    """What one `load` call knows: the target, its imported module, and who owns which source file."""

    target: Target
    module: types.ModuleType
    source: Path | None  # the module's file
    where: str  # how messages name the file or module
    origins: Origins
    user_files: tuple[str, ...]
    timeout: float | None


def _module_classes(module: types.ModuleType) -> list[type]:
    """nn.Module subclasses defined at the top of ``module`` (not imported ones), in source order."""
    nn = _nn()
    seen: set[int] = set()
    classes: list[type] = []
    for value in list(vars(module).values()):
        if (
            isinstance(value, type)
            and issubclass(value, nn.Module)
            and value.__module__ == module.__name__
            and "<locals>" not in value.__qualname__
            and id(value) not in seen
        ):
            seen.add(id(value))
            classes.append(value)
    filename = getattr(module, "__file__", None)
    lines: Mapping[str, int] = {}
    if filename:
        try:
            lines = _class_lines(filename, os.path.getmtime(filename))
        except OSError:
            lines = {}
    order = {id(c): i for i, c in enumerate(classes)}
    return sorted(classes, key=lambda c: (lines.get(c.__qualname__, 10**9), order[id(c)]))


def _public_names(obj: Any) -> list[str]:
    try:
        names = list(vars(obj))
    except TypeError:
        names = dir(obj)
    return [n for n in names if not n.startswith("_")]


def _missing_name(ctx: _Context, owner: Any, part: str, name: str) -> LoadError:
    close = difflib.get_close_matches(part, _public_names(owner), n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        classes = [c.__qualname__ for c in _module_classes(ctx.module)]
        hint = (
            f"nn.Module classes in {ctx.where}: {', '.join(classes)}"
            if classes
            else f"{ctx.where} defines no nn.Module class: name a class or a function that returns a model"
        )
    return LoadError(f"{ctx.where} has no {part!r}" + (f" (in {name!r})" if part != name else ""), hint=hint)


def _resolve(ctx: _Context, name: str) -> Any:
    obj: Any = ctx.module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:
            raise _missing_name(ctx, obj, part, name) from None
    return obj


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _not_a_model(ctx: _Context, name: str, obj: Any) -> LoadError:
    classes = [c.__qualname__ for c in _module_classes(ctx.module)]
    hint = "name an nn.Module subclass or a function that returns one"
    if classes:
        hint += f" (in {ctx.where}: {', '.join(classes)})"
    if isinstance(obj, types.ModuleType):
        what = "a module"
    elif isinstance(obj, type):
        bases = ", ".join(b.__name__ for b in obj.__bases__)
        what = f"a class but not an nn.Module subclass (bases: {bases})"
    else:
        what = _article(type(obj).__name__)
    return LoadError(f"{name!r} in {ctx.where} is {what}, not an nn.Module class or factory", hint=hint)


# ------------------------------------------------------------------------------------------ arguments


def _example_value(parameter: inspect.Parameter) -> Any:
    annotation = parameter.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    for type_name, value in (("bool", True), ("int", 4), ("float", 0.1), ("str", "relu")):
        if text == type_name:
            return value
    return 4


def _parameters(obj: Any) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None


def _accepts_any(parameters: list[inspect.Parameter]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _keyword_names(parameters: list[inspect.Parameter]) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in kinds]


def _missing(parameters: list[inspect.Parameter], kwargs: Mapping[str, Any]) -> list[inspect.Parameter]:
    required = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [
        p
        for p in parameters
        if p.kind in required
        and p.default is inspect.Parameter.empty
        and (p.name not in kwargs or p.kind is inspect.Parameter.POSITIONAL_ONLY)
    ]


#: annotation names whose values JSON can spell (``--kwargs``)
_JSON_ANNOTATIONS = frozenset(
    "int float str bool None NoneType list dict tuple List Dict Tuple Sequence Mapping Optional Union "
    "Literal typing".split()
)
#: parameter names that hold objects, not numbers or strings (an env, a config, a callable, a module)
_OBJECT_NAMES = frozenset(
    "env envs environment config cfg conf configs args opt opts spec space observation_space action_space "
    "obs_space model module net network backbone encoder decoder policy tokenizer vocab dataset callback fn "
    "func function factory builder layer block activation act".split()
)
_OBJECT_SUFFIXES = (
    "_env", "_config", "_cfg", "_space", "_fn", "_func", "_factory", "_builder", "_callback", "_cls",
    "_class", "_module", "_net", "_layer", "_block", "_encoder", "_decoder", "_model", "_policy",
)  # fmt: skip


def json_expressible(parameter: inspect.Parameter) -> bool:
    """Can ``--kwargs`` give this parameter a value? No for an annotation naming any type JSON cannot
    spell (``gym.Env``, ``Config``, ``Callable``, ``nn.Module``), or, unannotated (or ``Any``), for a name
    that holds an object (``env``, ``config``, ``*_fn``, ``activation``)."""
    annotation = parameter.annotation
    if annotation is not inspect.Parameter.empty:
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        text = re.sub(r"(\"[^\"]*\"|'[^']*')", "", text)  # Literal["relu", "tanh"]
        names = {word.rsplit(".", 1)[-1] for word in re.findall(r"[A-Za-z_][\w.]*", text)}
        if names - _JSON_ANNOTATIONS - {"Any"}:
            return False
        if names and "Any" not in names:
            return True
    name = parameter.name.lower()
    return name not in _OBJECT_NAMES and not name.endswith(_OBJECT_SUFFIXES)


def _factory_example(label: str, where: str, parameters: list[inspect.Parameter]) -> str:
    """A factory function that builds ``label`` (the objects left as ``...``), and how to check it."""
    factory = "make_" + re.sub(r"\W", "_", label.rsplit(".", 1)[-1]).lower()
    arguments = []
    for p in parameters:
        value = json.dumps(_example_value(p)) if json_expressible(p) else "..."
        arguments.append(value if p.kind is inspect.Parameter.POSITIONAL_ONLY else f"{p.name}={value}")
    objects = [p.name for p in parameters if not json_expressible(p)]
    comment = f"  # {', '.join(objects)}: as your training code builds {'them' if len(objects) > 1 else 'it'}"
    return (
        f"\n      def {factory}():\n          return {label}({', '.join(arguments)})"
        + (comment if objects else "")
        + f"\n    relulint check {where}:{factory}"
    )


def _missing_message(label: str, missing: list[inspect.Parameter], where: str) -> tuple[str, str]:
    names = ", ".join(p.name for p in missing)
    positional = [p.name for p in missing if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    objects = [p.name for p in missing if not json_expressible(p)]
    s = "s" if len(missing) > 1 else ""
    message = f"{label}() needs argument{s} {names} to build"
    if positional:
        return (
            f"{label}() needs positional-only argument{'s' if len(positional) > 1 else ''} "
            f"{', '.join(positional)} to build",
            "--kwargs cannot pass positional-only arguments: build the model in a factory function and "
            "check that:" + _factory_example(label, where, missing),
        )
    if objects:
        what = f"{', '.join(objects)} {'are objects' if len(objects) > 1 else 'is an object'}"
        return (
            message,
            f"{what} that --kwargs (JSON: numbers, strings, lists) cannot give: build the model in a "
            "factory function and check that:" + _factory_example(label, where, missing),
        )
    example = json.dumps({p.name: _example_value(p) for p in missing})
    return (
        message,
        f"pass {'them' if len(missing) > 1 else 'it'} as JSON: --kwargs '{example}', or give "
        f"{'them defaults' if len(missing) > 1 else 'it a default'}",
    )


def _check_arguments(label: str, obj: Any, kwargs: Mapping[str, Any], where: str) -> None:
    """`LoadError` for an unexpected keyword or a missing required argument of ``obj(**kwargs)``."""
    parameters = _parameters(obj)
    if parameters is None:
        return
    if not _accepts_any(parameters):
        accepted = _keyword_names(parameters)
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1)
                hint = f"{label} accepts: {', '.join(accepted) or 'no keyword arguments'}"
                if close:
                    hint = f"did you mean {close[0]!r}? " + hint
                raise LoadError(f"{label}() got an unexpected keyword argument {key!r}", hint=hint)
    missing = _missing(parameters, kwargs)
    if missing:
        message, hint = _missing_message(label, missing, where)
        raise LoadError(message, hint=hint)


def _forwards_arguments(parameters: list[inspect.Parameter] | None) -> bool:
    """Does the constructor take ``*args`` / ``**kwargs`` (and so hide what it needs)?"""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return parameters is not None and any(p.kind in variadic for p in parameters)


def _accepted_kwargs(obj: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``kwargs`` that ``obj`` accepts (whole-file mode passes each class what it takes)."""
    parameters = _parameters(obj)
    if parameters is None or _accepts_any(parameters):
        return dict(kwargs)
    accepted = set(_keyword_names(parameters))
    return {k: v for k, v in kwargs.items() if k in accepted}


# --------------------------------------------------------------------------------------------- build


def _rebuilder(
    build: Callable[..., Any], kwargs: Mapping[str, Any], label: str, ctx: _Context
) -> Callable[[], Any]:
    """A zero-argument callable building a fresh model (in the sandbox, without recording)."""
    arguments = dict(kwargs)
    timeout, files = ctx.timeout, ctx.user_files

    argv0 = files[0] if files else ctx.where

    def rebuild() -> Any:
        with script_argv(argv0), user_code(timeout, f"rebuilding {label}", files):
            return build(**arguments)

    return rebuild


def _reported_path(ctx: _Context, location: Location) -> str:
    """The file a model is reported in: where its class or factory is defined (``torchvision.models:resnet18``
    re-exported by a package's ``__init__.py``: the file that defines it), else the target's file."""
    if not location.path.startswith("<"):
        return location.path
    return display_path(ctx.source) if ctx.source else location.path


def _build(ctx: _Context, label: str, build: Callable[..., Any], kwargs: Mapping[str, Any]) -> LoadedModel:
    """Call the class / factory in the sandbox, recording inits and construction sites."""
    location = definition(build, fallback=ctx.where)
    argv0 = ctx.user_files[0] if ctx.user_files else ctx.where
    with script_argv(argv0), user_code(ctx.timeout, f"building {label}", ctx.user_files):
        with _recorded(ctx.origins) as record:
            model = build(**kwargs)
    if not isinstance(model, _nn().Module):
        raise LoadError(
            f"{label}() returned {_article(type(model).__name__)}, not an nn.Module",
            hint=f"a factory target must return the model: def {label}(): return Net()",
        )
    return LoadedModel(
        target=ctx.target,
        name=label,
        module=model,
        path=_reported_path(ctx, location),
        location=location,
        module_locations=record.sites.locations(model, root=location),
        init_events=tuple(record.recorder.events_for(model)),
        rebuild=_rebuilder(build, kwargs, label, ctx),
    )


def _load_named(ctx: _Context, name: str) -> LoadedModel:
    obj = _resolve(ctx, name)
    nn = _nn()
    if isinstance(obj, nn.Module):
        loaded = from_module(obj, name=name)
        loaded = dataclasses.replace(loaded, target=ctx.target, path=_reported_path(ctx, loaded.location))
        record = import_record(ctx.source) if ctx.source else None
        if record is None:
            return loaded
        # built at import time: the user's line that built it, and the inits that ran then
        site = record.sites.root_site(obj)
        root = site or loaded.location
        return dataclasses.replace(
            loaded,
            path=_reported_path(ctx, root),
            location=root,
            module_locations=record.sites.locations(obj, root=root),
            init_events=tuple(record.recorder.events_for(obj)),
        )
    if isinstance(obj, types.ModuleType) or (isinstance(obj, type) and not issubclass(obj, nn.Module)):
        raise _not_a_model(ctx, name, obj)
    if not callable(obj):
        raise _not_a_model(ctx, name, obj)
    owner, _, method = name.rpartition(".")
    if owner and inspect.isfunction(obj) and next(iter(inspect.signature(obj).parameters), None) == "self":
        raise LoadError(
            f"{name} is a method of {owner}, not a model or a function that returns one",
            hint=f"check the class: {ctx.where}:{owner}" if method else None,
        )
    _check_arguments(name, obj, ctx.target.kwargs, ctx.where)
    return _build(ctx, name, obj, ctx.target.kwargs)


def _skip_reason(missing: list[inspect.Parameter]) -> str:
    names = ", ".join(p.name for p in missing)
    objects = [p.name for p in missing if not json_expressible(p)]
    advice = (
        f"{', '.join(objects)}: an object --kwargs cannot give; check a factory function that builds it"
        if objects
        else "pass --kwargs"
    )
    return f"its constructor needs argument{'s' if len(missing) > 1 else ''} {names} ({advice})"


def _load_file(ctx: _Context, strict: bool = False) -> tuple[list[LoadedModel], list[Skipped]]:
    """Every nn.Module subclass defined in the file; those that need arguments are skipped, with why.

    A class whose construction raises (the user's code failing, or hanging past the time limit) is
    skipped too unless `strict`, when the error propagates (exit code 2 on the command line) — except for
    a constructor that forwards ``*args`` / ``**kwargs`` (``class MyConv(nn.Conv2d)``): it cannot say what
    it needs, so building it without arguments failing means it needs some, and it is skipped with its
    error while the file's other models are checked.
    """
    loaded: list[LoadedModel] = []
    skipped: list[Skipped] = []
    for cls in _module_classes(ctx.module):
        label = cls.__qualname__
        kwargs = _accepted_kwargs(cls, ctx.target.kwargs)
        parameters = _parameters(cls)
        missing = _missing(parameters, kwargs) if parameters is not None else []
        if missing:
            skipped.append(Skipped(label, _skip_reason(missing), definition(cls, fallback=ctx.where)))
            continue
        try:
            loaded.append(_build(ctx, label, cls, kwargs))
        except LoadError as error:
            forwards = _forwards_arguments(parameters)
            if strict and not forwards:
                raise
            reason = error.message
            if forwards:
                reason += (
                    " (its constructor forwards *args/**kwargs: pass --kwargs or check a factory function)"
                )
            skipped.append(Skipped(label, reason, definition(cls, fallback=ctx.where)))
    return loaded, skipped


def nothing_built_error(where: str, skipped: list[Skipped]) -> LoadError:
    """The error for a file target that defines nn.Module classes none of which could be built."""
    detail = "\n".join(
        f"  {s.name} ({s.location.path}:{s.location.line}): {s.reason}"
        if s.location is not None
        else f"  {s.name}: {s.reason}"
        for s in skipped
    )
    count = len(skipped)
    first = skipped[0].name if skipped else "Net"
    factory = "make_" + re.sub(r"\W", "_", first.rsplit(".", 1)[-1]).lower()
    return LoadError(
        f"no model in {where} could be built: {count} nn.Module class{'es' if count > 1 else ''} "
        f"skipped, nothing checked",
        hint=f"pass constructor arguments as JSON (--kwargs '{{\"width\": 4}}'), or build the model in a "
        f"factory function and check that:\n      def {factory}():\n          return {first}(...)\n"
        f"    relulint check {where}:{factory}",
        detail=detail,
    )


def _context(target: Target, timeout: float | None) -> _Context:
    """Import the target's file or module and work out which source files are the user's."""
    cwd = Path.cwd()
    if target.path is not None:
        path = Path(target.path).resolve()
        module = import_file(path, timeout, name=target.name)
        origins = _file_layout(path)[3]
        return _Context(
            target=target,
            module=module,
            source=path,
            where=display_path(path),
            origins=origins,
            user_files=(str(path),),
            timeout=timeout,
        )
    if target.module:
        module = _import_dotted(target.module, timeout, cwd)
        filename = getattr(module, "__file__", None)
        source = Path(filename).resolve() if filename else None
        roots: list[Path | None] = [cwd, project_root(source.parent) if source else None]
        files = (str(source),) if source else ()
        return _Context(
            target=target,
            module=module,
            source=source,
            where=target.module,
            origins=Origins(files, [str(r) for r in roots if r is not None]),
            user_files=files,
            timeout=timeout,
        )
    raise UsageError(f"target {target.spec!r} names no file or module", hint="relulint check model.py:Net")


def load(
    target: Target, *, timeout: float = 120.0, strict: bool = False
) -> tuple[list[LoadedModel], list[Skipped]]:
    """Import the target and build its model(s): ``([LoadedModel, ...], [Skipped, ...])``.

    A named target builds one model (or raises `LoadError` / `UserCodeError`); a whole-file target builds
    every nn.Module subclass defined in the file, skipping those that need arguments, and those that fail
    to build unless `strict` (`relulint.check` and the command line pass it: an exception in the user's
    code is an error there, as for a named target). A file that defines none gives two empty lists (the
    caller reports it).
    """
    ctx = _context(target, timeout)
    if target.name is None:
        return _load_file(ctx, strict=strict)
    return [_load_named(ctx, target.name)], []


# -------------------------------------------------------------------------------------- from_module


def _class_location(cls: type, origins: Origins, cache: dict[type, Location | None]) -> Location | None:
    if cls not in cache:
        filename = _source_file(cls)
        cache[cls] = definition(cls) if filename and origins.kind(filename) == USER else None
    return cache[cls]


def _caller_location(origins: Origins) -> Location | None:
    """The innermost user frame on the stack (the line that called `relulint.check`)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if origins.kind(filename) == USER:
            return Location(display_path(filename), frame.f_lineno)
        frame = frame.f_back
    return None


def from_module(module: Any, *, name: str | None = None) -> LoadedModel:
    """A `LoadedModel` for an already built module (the Python API: ``relulint.check(model)``).

    Nothing was recorded while it was built, so each submodule's location is the definition of its class
    when that class is user code, else its parent's (ending at the root's class definition); there are
    no init events and no ``rebuild``.
    """
    cls = type(module)
    origins = Origins()
    cache: dict[type, Location | None] = {}
    # a user class: its definition; a torch class (`nn.Sequential(...)` passed to relulint.check): the
    # user's line that called relulint, so that findings never point into torch's source
    root = _class_location(cls, origins, cache) or _caller_location(origins) or definition(cls)
    locations: dict[str, Location] = {}
    for qualname, sub in module.named_modules(remove_duplicate=False):
        if not qualname:
            locations[qualname] = root
            continue
        own = _class_location(type(sub), origins, cache)
        locations[qualname] = own or locations.get(qualname.rpartition(".")[0], root)
    label = name or cls.__name__
    target = Target(spec=f"{cls.__module__}:{cls.__qualname__}", module=cls.__module__, name=cls.__qualname__)
    return LoadedModel(
        target=target,
        name=label,
        module=module,
        path=root.path,
        location=root,
        module_locations=locations,
    )
