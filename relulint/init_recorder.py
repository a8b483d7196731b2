"""Record how every parameter was initialized while a model is built (`InitRecorder`).

Why it matters: `dying` Thm 3.2 (= `collapse` Thm 8) bounds the born-dead probability for weights drawn from
*symmetric* laws, whatever their scale, while RAI (`dying` §4.1) breaks the symmetry: relulint needs each
parameter's init. This module holds the first of three parts (the others: `relulint.init_fingerprint`, what
the values say, and `relulint.init_reconcile`, the two reconciled):

:class:`InitRecorder` — while a model is built, wraps the ``torch.nn.init`` functions and the in-place
tensor methods (``uniform_``, ``normal_``, ``fill_``, ``zero_``, ``copy_``, …) and records the outermost
call on each tensor, with its arguments, its *source* (``nn.init``, ``tensor-method``,
``reset_parameters`` inside a torch layer's ``reset_parameters``, ``apply`` inside ``Module.apply``,
``relulint.init``) and the innermost user line. Each call is tied to the parameter it touched (the
parameter itself, or a view or ``.data`` of it found by storage at the time of the call), and
:meth:`InitRecorder.events_for` finds a parameter's events by the parameter object or by its module and
name, so ``.double()``, ``.half()`` and ``.to(device)`` after the init keep the record (`_Registry`);
every event is kept, the last one wins when resolving (`relulint.init_reconcile.resolve`).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from relulint.records.loaded import InitEvent
from relulint.records.location import Location
from relulint.runcache import cached

__all__ = [
    "NN_INIT_FUNCTIONS",
    "TENSOR_METHODS",
    "InitRecorder",
    "recording",
]

NN_INIT_FUNCTIONS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)
# in-place tensor methods that (re)initialize values → their positional argument names and defaults
TENSOR_METHODS: Mapping[str, tuple[tuple[str, Any], ...]] = {
    "uniform_": (("from", 0.0), ("to", 1.0)),
    "normal_": (("mean", 0.0), ("std", 1.0)),
    "fill_": (("value", None),),
    "zero_": (),
    "copy_": (("src", None),),
    "exponential_": (("lambd", 1.0),),
    "bernoulli_": (("p", 0.5),),
    "cauchy_": (("median", 0.0), ("sigma", 1.0)),
    "geometric_": (("p", None),),
    "log_normal_": (("mean", 1.0), ("std", 2.0)),
    "random_": (("from", None), ("to", None)),
}


@dataclass(frozen=True)
class _Raw:
    """One recorded call before it is mapped to parameter names."""

    seq: int
    storage: int
    start: int  # byte range inside the storage
    end: int
    kind: str
    args: Mapping[str, Any]
    source: str
    location: Location | None
    keys: tuple[int, ...] = ()  # the registered parameters it touched when it ran (`_Registry`)


class _State(threading.local):
    depth: int = 0
    applying: bool = False  # inside the outermost `Module._apply`


class _Registry:
    """Which parameter each recorded init touched, by parameter object and by (module, name).

    A tensor's storage changes under ``.double()``, ``.half()``, ``.to(device)`` (``Module._apply`` gives
    each parameter new data), so events are tied to parameters, not to storage: every parameter
    registered on a module while recording (torch's global parameter-registration hook) gets a key; an
    init call on the parameter itself, or on a view or ``.data`` of it (found by its storage at the
    time of the call), is linked to that key. Where a conversion makes new parameter objects
    (``to_empty`` from the meta device, torch's overwrite / swap conversion modes), `converted` hands each
    its predecessor's key. `InitRecorder.events_for` then finds a parameter's events by the parameter
    object, else by its module and attribute name, and falls back to storage only for parameters
    registered before recording began. A parameter assigned anew (``m.weight = nn.Parameter(...)``) is a
    new parameter: the old one's events stay with the old one.
    """

    def __init__(self) -> None:
        self.params: dict[int, tuple[weakref.ref[Any], int]] = {}  # id(param) → (param, key)
        self.refs: dict[int, weakref.ref[Any]] = {}  # key → param
        self.owners: dict[int, tuple[weakref.ref[Any], dict[str, int]]] = {}  # id(module) → names → key
        self.by_storage: dict[int, list[int]] = {}  # storage pointer → keys (as registered or refreshed)
        self.links: dict[int, list[tuple[int, bool]]] = {}  # key → [(event seq, partial)]
        self.linked: dict[int, set[int]] = {}  # key → the event seqs in `links`
        self.raws: dict[int, list[_Raw]] = {}  # storage pointer → events on it (late registration)
        self.next_key = 0

    def key_of(self, param: Any) -> int | None:
        entry = self.params.get(id(param))
        return entry[1] if entry is not None and entry[0]() is param else None

    def key_of_owner(self, module: Any, name: str) -> int | None:
        entry = self.owners.get(id(module))
        return entry[1].get(name) if entry is not None and entry[0]() is module else None

    def register(self, module: Any, name: str, param: Any) -> None:
        """torch's parameter-registration hook: key ``param``, link earlier inits of its storage."""
        key = self.key_of(param)
        if key is None:
            key = self.next_key
            self.next_key += 1
            self.params[id(param)] = (weakref.ref(param), key)
            self.refs[key] = weakref.ref(param)
        entry = self.owners.get(id(module))
        if entry is None or entry[0]() is not module:
            entry = (weakref.ref(module), {})
            self.owners[id(module)] = entry
        entry[1][name] = key
        where = _storage_range(param)
        if where is None:
            return
        self._index(key, where[0])
        for raw in self.raws.get(where[0], ()):
            # an init of the tensor before it became a parameter (`Parameter(w)` after `normal_(w)`), or of
            # a live parameter whose storage this one shares; not one of a dead parameter (reused memory)
            shared = not raw.keys or any(self._holds(k, where[0]) for k in raw.keys)
            if shared and key not in raw.keys and _overlap(raw, where[1], where[2]):
                self._link(key, raw, where[1], where[2])

    def _holds(self, key: int, storage: int) -> bool:
        ref = self.refs.get(key)
        param = ref() if ref is not None else None
        where = _storage_range(param) if param is not None else None
        return where is not None and where[0] == storage

    def _index(self, key: int, storage: int) -> None:
        keys = self.by_storage.setdefault(storage, [])
        if key not in keys:  # a tied parameter is registered once per module that holds it
            keys.append(key)

    def _link(self, key: int, raw: _Raw, start: int, end: int) -> None:
        seen = self.linked.setdefault(key, set())
        if raw.seq not in seen:  # once per event (a tied parameter is registered once per holder)
            seen.add(raw.seq)
            self.links.setdefault(key, []).append((raw.seq, raw.start > start or raw.end < end))

    def touched(self, tensor: Any, where: tuple[int, int, int]) -> list[tuple[int, int, int]]:
        """(key, start, end) of the registered parameters ``tensor`` is, or is a view of, right now."""
        key = self.key_of(tensor)
        if key is not None:
            return [(key, where[1], where[2])]
        return self._on_storage(where)

    def converted(self, root: Any) -> None:
        """After ``root._apply`` (``.double()``, ``.to(device)``, ``.to_empty()``…): each parameter keeps its
        key, also where torch replaced the parameter object (``to_empty`` from the meta device, the
        overwrite / swap conversion modes), and is indexed at its new storage."""
        for module in root.modules():
            for name, param in module._parameters.items():
                if param is None:
                    continue
                key = self.key_of(param)
                if key is None:
                    key = self.key_of_owner(module, name)
                    if key is None:
                        continue  # registered before recording began: matched by storage
                    self.params[id(param)] = (weakref.ref(param), key)
                    self.refs[key] = weakref.ref(param)
                where = _storage_range(param)
                if where is not None:
                    self._index(key, where[0])

    def _on_storage(self, where: tuple[int, int, int]) -> list[tuple[int, int, int]]:
        found = []
        for key in self.by_storage.get(where[0], ()):
            ref = self.refs.get(key)
            param = ref() if ref is not None else None
            now = _storage_range(param) if param is not None else None
            if (
                now is not None
                and now[0] == where[0]
                and (where[1] < now[2] and now[1] < where[2] or now[1] == now[2] == where[1])
            ):
                found.append((key, now[1], now[2]))
        return found

    def add(self, raw: _Raw, spans: Sequence[tuple[int, int, int]]) -> None:
        for key, start, end in spans:
            self._link(key, raw, start, end)
        self.raws.setdefault(raw.storage, []).append(raw)


def _overlap(raw: _Raw, start: int, end: int) -> bool:
    return raw.start < end and start < raw.end or (start == end == raw.start)


_LOCAL = _State()
_ACTIVE: list[InitRecorder] = []
_PATCHES: list[tuple[Any, str, Any]] = []  # (owner, attribute, original) while patched
_HOOKS: list[Any] = []  # torch hook handles while patched
_REGISTRY: list[_Registry] = []  # the registry shared by the active recorders
_LOCK = threading.Lock()
_SEQ = [0]


def _dir_of(module_file: str | None) -> str:
    return os.path.dirname(os.path.abspath(module_file)) + os.sep if module_file else "\0"


def _torch_dir() -> str:
    import torch

    return _dir_of(torch.__file__)


_RELULINT_DIR = _dir_of(__file__)
_TORCH_DIR: list[str] = []


def _context(frame: Any, default: str) -> tuple[str, Location | None]:
    """(source, innermost user location) from the call stack (a `sys._getframe` walk; cheap)."""
    torch_dir = _TORCH_DIR[0]  # set by `_patch`, which runs before any recorder is active
    location: Location | None = None
    source: str | None = None
    while frame is not None and (location is None or source is None):
        code = frame.f_code
        filename = code.co_filename
        if filename.startswith(torch_dir):
            if source is None and code.co_name.endswith("reset_parameters"):
                source = "reset_parameters"
            elif source is None and code.co_name == "apply" and filename.endswith("module.py"):
                source = "apply"
        elif (
            location is None and not filename.startswith(_RELULINT_DIR) and not filename.startswith("<frozen")
        ):
            location = Location(_display_path(filename), frame.f_lineno)
        frame = frame.f_back
    return source or default, location


def _display_path(filename: str) -> str:
    """``filename`` relative to the working directory when under it (memoized for the run: every init
    call of a build asks for the same few files)."""
    return cached("init display path", (filename, os.getcwd()), lambda: _relative_path(filename))


def _relative_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def _storage_range(tensor: Any) -> tuple[int, int, int] | None:
    """(storage data_ptr, first byte, end byte) of a tensor's elements; None for meta / storage-less tensors."""
    try:
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
    except Exception:  # noqa: BLE001 (meta, lazy `UninitializedParameter` (ValueError), subclasses)
        return None
    if not ptr:
        return None
    size = tensor.element_size()
    start = tensor.storage_offset() * size
    if tensor.numel() == 0:
        return ptr, start, start
    if tensor.is_contiguous():
        return ptr, start, start + tensor.numel() * size
    span = sum((n - 1) * abs(s) for n, s in zip(tensor.shape, tensor.stride(), strict=False)) + 1
    return ptr, start, start + span * size


def _plain(value: Any) -> Any:
    """A json-friendly version of an init argument."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    if hasattr(value, "numel") and hasattr(value, "shape"):
        if value.numel() == 1:
            return float(value.item())
        return f"tensor{tuple(value.shape)}"
    return repr(value)


def _emit(
    kind: str, tensors: Iterable[Any], args: Mapping[str, Any], default_source: str, frame: Any
) -> None:
    if not _ACTIVE or not _REGISTRY:
        return
    registry = _REGISTRY[0]
    source, location = _context(frame, default_source)
    plain = {k: _plain(v) for k, v in args.items()}
    for tensor in tensors:
        where = _storage_range(tensor)
        if where is None:
            continue
        spans = registry.touched(tensor, where)
        _SEQ[0] += 1
        keys = tuple(key for key, _, _ in spans)
        raw = _Raw(_SEQ[0], *where, kind=kind, args=plain, source=source, location=location, keys=keys)
        registry.add(raw, spans)
        for recorder in _ACTIVE:
            recorder._raw.append(raw)


@contextmanager
def recording(kind: str, tensors: Sequence[Any], args: Mapping[str, Any], *, source: str) -> Iterator[None]:
    """Record one init done by library code (e.g. `relulint.init.rai_`) and hide the calls made inside it."""
    outer = _LOCAL.depth == 0
    _LOCAL.depth += 1
    try:
        yield
    finally:
        _LOCAL.depth -= 1
    if outer and _ACTIVE:
        _emit(kind, tensors, args, source, sys._getframe(2))


def _nn_init_wrapper(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    import inspect

    signature = inspect.signature(original)
    kind = name.rstrip("_")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _LOCAL.depth or not _ACTIVE:
            return _init_call(original, args, kwargs)
        _LOCAL.depth += 1
        try:
            result = _init_call(original, args, kwargs)
        finally:
            _LOCAL.depth -= 1
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
        except TypeError:
            return result
        tensor = values.pop("tensor", None)
        values.pop("generator", None)
        _emit(kind, [tensor], values, "nn.init", sys._getframe(1))
        return result

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    wrapper.__name__ = name
    wrapper.__doc__ = original.__doc__
    return wrapper


def _init_call(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``original(*args, **kwargs)``; on a zero-element tensor without torch's "Initializing zero-element
    tensors is a no-op" warning. This wrapper is one frame more than torch expects, so the warning would
    point at relulint's file; and relulint reports a zero-width layer itself, as a usage error naming the
    layer (`relulint.extract`)."""
    numel = getattr(args[0] if args else kwargs.get("tensor"), "numel", None)
    if numel is None or numel() != 0:
        return original(*args, **kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
        return original(*args, **kwargs)


def _method_wrapper(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    spec = TENSOR_METHODS[name]
    kind = {"fill": "constant", "zero": "zeros"}.get(name.rstrip("_"), name.rstrip("_"))

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _LOCAL.depth or not _ACTIVE:
            return original(self, *args, **kwargs)
        _LOCAL.depth += 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _LOCAL.depth -= 1
        values = {key: default for key, default in spec}
        values.update(zip((key for key, _ in spec), args, strict=False))
        values.update((k, v) for k, v in kwargs.items() if k != "generator")
        if name == "copy_":
            src = values.pop("src", None)
            values = {"src_shape": list(src.shape)} if hasattr(src, "shape") else {}
            values.pop("non_blocking", None)
        _emit(kind, [self], values, "tensor-method", sys._getframe(1))
        return result

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    wrapper.__name__ = name
    return wrapper


def _apply_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Module._apply`` (``.double()``, ``.half()``, ``.to(...)``): parameters may get new storage."""

    def _apply(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _LOCAL.applying or not _REGISTRY:  # the children's calls inside the outermost one
            return original(self, *args, **kwargs)
        _LOCAL.applying = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _LOCAL.applying = False
            if _REGISTRY:
                try:
                    _REGISTRY[0].converted(self)
                except Exception:  # noqa: BLE001 (never fail the user's conversion)
                    pass

    _apply.__wrapped__ = original  # type: ignore[attr-defined]
    return _apply


def _on_register(module: Any, name: str, param: Any) -> None:
    """torch's global parameter-registration hook while recording; never fails the user's build."""
    if param is not None and _REGISTRY:
        try:
            _REGISTRY[0].register(module, name, param)
        except Exception:  # noqa: BLE001 (an odd parameter type: left to the storage fallback)
            pass


#: (where, name) → (the original, its wrapper): a wrapper is made once per original function and reused by
#: every later `_patch` (making one costs an ``inspect.signature``; a model's import and build patch twice)
_WRAPPERS: dict[tuple[str, str], tuple[Any, Callable[..., Any]]] = {}


def _wrapper_of(
    where: str, name: str, original: Any, make: Callable[[str, Any], Callable[..., Any]]
) -> Callable[..., Any]:
    """The wrapper of ``original`` (``where`` and ``name`` say which function it is), made by ``make``
    the first time; a new original (replaced since by someone else) gets a new wrapper."""
    cached = _WRAPPERS.get((where, name))
    if cached is not None and cached[0] is original:
        return cached[1]
    wrapper = make(name, original)
    _WRAPPERS[(where, name)] = (original, wrapper)
    return wrapper


def _patch() -> None:
    import torch
    import torch.nn.init as nn_init
    from torch.nn.modules.module import register_module_parameter_registration_hook

    if not _TORCH_DIR:
        _TORCH_DIR.append(_torch_dir())
    _REGISTRY.append(_Registry())
    for name in NN_INIT_FUNCTIONS:
        original = getattr(nn_init, name, None)
        if original is not None:
            _PATCHES.append((nn_init, name, original))
            setattr(nn_init, name, _wrapper_of("nn.init", name, original, _nn_init_wrapper))
    for name in TENSOR_METHODS:
        had_own = name in torch.Tensor.__dict__
        original = getattr(torch.Tensor, name)
        _PATCHES.append((torch.Tensor, name, original if had_own else None))
        setattr(torch.Tensor, name, _wrapper_of("Tensor", name, original, _method_wrapper))
    apply = torch.nn.Module._apply
    _PATCHES.append((torch.nn.Module, "_apply", apply))
    wrapper = _wrapper_of("Module", "_apply", apply, lambda _, original: _apply_wrapper(original))
    torch.nn.Module._apply = wrapper  # type: ignore[method-assign]
    _HOOKS.append(register_module_parameter_registration_hook(_on_register))


def _unpatch() -> None:
    while _HOOKS:
        _HOOKS.pop().remove()
    while _PATCHES:
        owner, name, original = _PATCHES.pop()
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _REGISTRY.clear()


class InitRecorder:
    """Records every initialization applied while a model is built (a context manager).

        with InitRecorder() as rec:
            model = build()
        events = rec.events_for(model)

    Recording is global while active (the patched functions see every thread); nested recorders each get
    every event. Everything is restored in ``__exit__``, also when the build raises.
    """

    def __init__(self) -> None:
        self._raw: list[_Raw] = []
        self._registry: _Registry | None = None

    def __enter__(self) -> InitRecorder:
        with _LOCK:
            if not _ACTIVE:
                _patch()
            _ACTIVE.append(self)
            self._registry = _REGISTRY[0]
        return self

    def __exit__(self, *exc: Any) -> None:
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
            if not _ACTIVE:
                _unpatch()

    def events_for(self, module: Any) -> tuple[InitEvent, ...]:
        """Every recorded init of ``module``'s parameters, as `InitEvent`s in call order.

        A parameter's events are those linked to it (`_Registry`): found by the parameter object, else by
        its module and attribute name, so they survive ``.double()`` / ``.half()`` / ``.to(device)``. An
        event that covered only part of the parameter carries ``args["partial"] = True``. Tied parameters
        get each event under every name. A parameter registered before recording began is matched by
        storage (byte ranges overlapping).
        """
        mine = {raw.seq: raw for raw in self._raw}
        registry = self._registry
        events: list[tuple[int, InitEvent]] = []
        for prefix, owner in module.named_modules(remove_duplicate=False):
            for local, param in getattr(owner, "_parameters", {}).items():
                if param is None:
                    continue
                name = f"{prefix}.{local}" if prefix else local
                key = None
                if registry is not None:
                    key = registry.key_of(param)
                    key = key if key is not None else registry.key_of_owner(owner, local)
                if key is not None and registry is not None:
                    linked = [
                        (mine[seq], partial) for seq, partial in registry.links.get(key, ()) if seq in mine
                    ]
                else:
                    linked = self._by_storage(param)
                for raw, partial in linked:
                    args = {**raw.args, "partial": True} if partial else dict(raw.args)
                    events.append((raw.seq, InitEvent(name, raw.kind, args, raw.source, raw.location)))
        events.sort(key=lambda item: item[0])
        return tuple(event for _, event in events)

    def _by_storage(self, param: Any) -> list[tuple[_Raw, bool]]:
        where = _storage_range(param)
        if where is None:
            return []
        ptr, start, end = where
        return [
            (raw, raw.start > start or raw.end < end)
            for raw in self._raw
            if raw.storage == ptr and _overlap(raw, start, end)
        ]


# ---------------------------------------------------------------------------------------- the record
