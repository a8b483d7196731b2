"""Import the user's file, build the model(s) a `Target` names, and record where every submodule was built.

**Importing** is `relulint.import_user` (pytest's ``prepend`` import mode, a cache checked against the
files' versions, ``sys.argv`` set to the file, relulint's own imports found past the user's directories).

**Building**: a named class or factory is called with the target's keyword arguments (a missing argument
is a `LoadError` with a hint: an example ``--kwargs`` or a factory to write); a whole-file target builds
every nn.Module subclass defined in the file, skipping those that need arguments.

Imports and builds run inside `relulint.sandbox.user_code` (time limit, stdout → stderr, the user's
traceback). Modules stay in ``sys.modules``.

**Construction sites** (`relulint.sites`): while a model is built, ``torch.nn.Module.__init__`` is wrapped
to note, for each module object created, the innermost frame of the user's code on the stack; after the
build, `module_locations` maps qualified names to these sites; a module with no site (built by
``copy.deepcopy``, or by relulint itself: the root of a class target) inherits its parent's, and the root
falls back to the class definition.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import os
import re
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from relulint.errors import LoadError, UsageError
from relulint.import_user import (
    _file_layout,
    _import_dotted,
    _recorded,
    import_file,
    import_record,
    package_layout,
    script_argv,
)
from relulint.project import project_root
from relulint.records.loaded import LoadedModel, Skipped, Target
from relulint.records.location import Location
from relulint.sandbox import USER, Origins, display_path, user_code
from relulint.sites import _class_lines, _nn, _source_file, definition

# import_file and package_layout live in `relulint.import_user`; importers of `relulint.load` keep them
__all__ = ["from_module", "import_file", "load", "package_layout"]


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
    names = _public_names(owner)
    # a name that differs only in case first (`pinn` for `PINN`), then difflib's nearest
    close = [n for n in names if n.lower() == part.lower()]
    close += [n for n in difflib.get_close_matches(part, names, n=3, cutoff=0.6) if n not in close]
    close = close[:3]
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
    """Every nn.Module subclass defined in the file; those that need arguments are skipped, with why. A
    file that defines none has its module-level models checked (`_module_level_models`).

    A class whose construction raises (the user's code failing, or hanging past the time limit) is
    skipped too unless `strict`, when the error propagates (exit code 2 on the command line) — except for
    a constructor that forwards ``*args`` / ``**kwargs`` (``class MyConv(nn.Conv2d)``): it cannot say what
    it needs, so building it without arguments failing means it needs some, and it is skipped with its
    error while the file's other models are checked.
    """
    loaded: list[LoadedModel] = []
    skipped: list[Skipped] = []
    classes = _module_classes(ctx.module)
    if not classes:  # a script-style file (`model = nn.Sequential(...)`): the models it builds at import
        return [_load_named(ctx, name) for name in _module_level_models(ctx)], skipped
    for cls in classes:
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


def _module_level_models(ctx: _Context) -> list[str]:
    """The global names of the nn.Module instances the file itself built at import time (its import record
    saw them built), each model once and none that is part of another (``body`` inside ``model``)."""
    record = import_record(ctx.source) if ctx.source else None
    if record is None or record.sites is None:
        return []
    nn = _nn()
    found: dict[int, tuple[str, Any]] = {}
    for name, value in vars(ctx.module).items():
        if isinstance(value, nn.Module) and not name.startswith("_") and id(value) not in found:
            if record.sites.root_site(value) is not None:
                found[id(value)] = (name, value)
    inside = {id(sub) for _, model in found.values() for sub in list(model.modules())[1:]}
    return [name for key, (name, _) in found.items() if key not in inside]


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
