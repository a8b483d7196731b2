"""Know how every parameter was initialized: record the init calls, fingerprint the values, reconcile.

Why it matters: `dying` Thm 3.2 (= `collapse` Thm 8) bounds the born-dead probability for weights drawn from
*symmetric* laws, whatever their scale (He, Xavier, LeCun, PyTorch's default, orthogonal, LSUV: `collapse`
§5.1, `dying` §4.3), while RAI (`dying` §4.1) breaks the symmetry; the length map (`collapse` Eq. 2–3,
`dying` Thm 4.3) needs σ_w² = fan_in · Var(W). Three parts:

* :class:`InitRecorder` — while a model is built, wraps the ``torch.nn.init`` functions and the in-place
  tensor methods (``uniform_``, ``normal_``, ``fill_``, ``zero_``, ``copy_``, …) and records the outermost
  call on each tensor, with its arguments, its *source* (``nn.init``, ``tensor-method``,
  ``reset_parameters`` inside a torch layer's ``reset_parameters``, ``apply`` inside ``Module.apply``,
  ``relulint.init``) and the innermost user line. Each call is tied to the parameter it touched (the
  parameter itself, or a view or ``.data`` of it found by storage at the time of the call), and
  :meth:`InitRecorder.events_for` finds a parameter's events by the parameter object or by its module and
  name, so ``.double()``, ``.half()`` and ``.to(device)`` after the init keep the record (`_Registry`);
  every event is kept, the last one wins when resolving.
* :func:`fingerprint` — what the values themselves say: zero, constant (positive bias), orthogonal rows,
  the RAI signature (one positive outlier per row over a Gaussian bulk), symmetric or not (mean and sign
  tests against their standard errors), the law's shape (uniform vs normal vs truncated: range and
  kurtosis) and σ² = fan_in · Var(W), named after the init it matches (He, Xavier, LeCun, PyTorch default).
  Statistics run on a bounded sample of whole rows (`SAMPLE_ENTRIES`), in float64 whatever the dtype
  (bf16 included), so time and memory stay flat in the layer's size; exact classes read every entry.
* :func:`resolve` / :func:`describe_layer` — reconcile the record with the fingerprint. A record is kept
  unless the values contradict it decisively (e.g. ``w.data.abs_()`` after ``kaiming_normal_``: an op that
  is not recorded), when the fingerprint wins and the `InitInfo` note says so; where the tensor is too
  small to fingerprint, the record wins. A recorded RAI is overridden only by `_rai_contradiction`'s test.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from relulint.facts import InitEvent, InitInfo, Location

__all__ = [
    "NN_INIT_FUNCTIONS",
    "TENSOR_METHODS",
    "InitRecorder",
    "describe_layer",
    "fingerprint",
    "info_from_event",
    "pool_chain_asymmetry",
    "pooled_positive_z",
    "sample_row_index",
    "sample_rows",
    "unconfirmed",
    "recording",
    "resolve",
]

# relative tolerance for comparing a recorded constant with float32 values (2^-23 ≈ 1.2e-7, with margin)
FLOAT32_REL_TOL = 1e-6

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

MIN_ENTRIES = 32  # below this, statistics are too weak: trust the record
SHAPE_MIN_ENTRIES = 256  # below this, uniform vs normal is only a guess (not used to overrule a record)
Z_ASYMMETRY = 5.0  # |z| beyond which mean or sign imbalance means "not symmetric about zero"
# one-sided z of the pooled mean of [W, b] over a chain's layers (`pool_chain_asymmetry`): a symmetric law
# passes it with probability 1.3e-3, RAI at width 2 over nine layers gives z ≈ 3.3 on average
Z_POOLED_POSITIVE = 3.0
TOO_FEW_TO_FINGERPRINT = "too few entries to fingerprint; trusting the record"
RAI_MIN_FAN_IN = 16  # the RAI outlier test needs the positive entry to stand out of a Gaussian row
RAI_MIN_ROWS = 8
RAI_Z_DECISIVE = 5.0  # |z| beyond which a weight's row sums contradict a recorded RAI (`_rai_contradiction`)
ORTHOGONAL_TOL = 1e-3  # relative Frobenius error of W Wᵀ − c·I
# The fingerprint's statistics run on a bounded sample of whole rows (`sample_rows`), so its time and
# memory do not grow with the layer: at 2¹⁶ entries the standard errors are small against every
# threshold — mean and sign z (|z| > 5) detect |mean| / std > 5 / 256 ≈ 0.02; the kurtosis SE
# sqrt(24 / n) = 0.019 and the uniform range slack 3·sqrt(0.8 / n) = 0.01 keep the shape calls
# confident; the variance ratio's SE sqrt(2 / n) = 0.0055 is far below its 0.25 tolerance — and at least
# `MIN_SAMPLE_ROWS` rows keep the per-row RAI signature (`RAI_MIN_ROWS`) and the orthogonality test
# (`_orthogonal`) meaningful for very wide rows.
SAMPLE_ENTRIES = 1 << 16
MIN_SAMPLE_ROWS = 8  # = RAI_MIN_ROWS
SAMPLE_SEED = 0x5EED

# ------------------------------------------------------------------------------------------ recording


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
            return original(*args, **kwargs)
        _LOCAL.depth += 1
        try:
            result = original(*args, **kwargs)
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
            setattr(nn_init, name, _nn_init_wrapper(name, original))
    for name in TENSOR_METHODS:
        had_own = name in torch.Tensor.__dict__
        original = getattr(torch.Tensor, name)
        _PATCHES.append((torch.Tensor, name, original if had_own else None))
        setattr(torch.Tensor, name, _method_wrapper(name, original))
    _PATCHES.append((torch.nn.Module, "_apply", torch.nn.Module._apply))
    torch.nn.Module._apply = _apply_wrapper(torch.nn.Module._apply)  # type: ignore[method-assign]
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


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) as ``torch.nn.init`` computes them (receptive field included)."""
    if len(shape) < 2:
        return (int(shape[0]) if shape else 1), 1
    receptive = math.prod(int(s) for s in shape[2:]) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def _gain(nonlinearity: str, param: Any) -> float:
    try:
        from torch.nn.init import calculate_gain

        gain: Any = calculate_gain  # its first parameter is typed as a Literal of the names it knows
        return float(gain(nonlinearity, param))
    except (ValueError, TypeError):
        return 1.0


def _truncated_normal_var(mean: float, std: float, a: float, b: float) -> tuple[float, float]:
    """(mean, variance) of N(mean, std²) truncated to [a, b]."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    z = max(cdf(beta) - cdf(alpha), 1e-300)
    m = mean + std * (phi(alpha) - phi(beta)) / z
    var = std * std * (1 + (alpha * phi(alpha) - beta * phi(beta)) / z - ((phi(alpha) - phi(beta)) / z) ** 2)
    return m, var


def _rai_entry_moments(args: Mapping[str, Any], fan_in: int, bias_column: bool) -> tuple[float, float]:
    """(mean, variance) of one RAI weight entry: Beta with prob 1/cols, N(0, σ_w²/fan_in) otherwise."""
    sigma_w = float(args.get("sigma_w", 0.6007))
    mu1, mu2 = float(args.get("mu1", 2 / 3)), float(args.get("mu2", 0.5))
    cols = fan_in + (1 if bias_column else 0)
    mean = mu1 / cols
    second = mu2 / cols + (1 - 1 / cols) * sigma_w**2 / fan_in
    return mean, second - mean * mean


def info_from_event(
    event: InitEvent,
    shape: Sequence[int],
    kind: str = "weight",
    *,
    fan_in: int | None = None,
    bias_column: bool = True,
) -> InitInfo:
    """What the recorded call implies: law, symmetry, σ² (fan_in · Var for weights, Var for biases), mean.

    Formulas are torch's (`torch.nn.init`): kaiming ``std = gain / sqrt(fan_mode)`` (uniform bound √3·std),
    xavier ``std = gain·sqrt(2 / (fan_in + fan_out))``, orthogonal rows of norm ``gain``; PyTorch's default
    ``nn.Linear`` weight is ``kaiming_uniform_(a=√5)`` inside ``reset_parameters`` (σ_w² = 1/3), its bias
    ``U(±1/sqrt(fan_in))``. RAI (`dying` §4.1): an entry is the positive draw with probability 1 / cols,
    cols = fan_in + 1 for a layer with a bias (``bias_column``), fan_in without.
    """
    a = event.args
    w_fan_in, w_fan_out = _fans(shape)
    scale = w_fan_in if kind == "weight" else 1  # σ² = fan_in · Var for weights
    law, symmetric, mean, var = "custom", None, None, None
    k = event.kind
    torch_default = event.source == "reset_parameters"
    if k in ("kaiming_uniform", "kaiming_normal"):
        fan = w_fan_in if a.get("mode", "fan_in") == "fan_in" else w_fan_out
        gain = _gain(a.get("nonlinearity", "leaky_relu"), a.get("a", 0))
        var, mean, symmetric = gain * gain / fan, 0.0, True
        law = "kaiming-" + k.split("_")[1]
        if torch_default and k == "kaiming_uniform" and abs(float(a.get("a", 0)) - math.sqrt(5)) < 1e-6:
            law = "pytorch-default"
    elif k in ("xavier_uniform", "xavier_normal"):
        gain = float(a.get("gain", 1.0))
        var, mean, symmetric = gain * gain * 2.0 / (w_fan_in + w_fan_out), 0.0, True
        law = "xavier-" + k.split("_")[1]
    elif k == "uniform":
        lo = float(a.get("a", a.get("from", 0.0)) or 0.0)
        hi = float(a.get("b", a.get("to", 1.0)) if a.get("b", a.get("to", 1.0)) is not None else 1.0)
        mean, var = (lo + hi) / 2, (hi - lo) ** 2 / 12
        symmetric = math.isclose(lo, -hi, rel_tol=1e-9, abs_tol=1e-12)
        law = "pytorch-default" if torch_default and symmetric else "uniform"
    elif k in ("normal", "trunc_normal"):
        mu, std = float(a.get("mean", 0.0)), float(a.get("std", 1.0))
        if k == "trunc_normal" and std > 0:
            lo, hi = float(a.get("a", -2.0)), float(a.get("b", 2.0))
            mean, var = _truncated_normal_var(mu, std, lo, hi)
            symmetric = mu == 0 and math.isclose(lo, -hi)
            law = "trunc-normal"
        else:
            mean, var, symmetric, law = mu, std * std, mu == 0, "normal"
    elif k == "orthogonal":
        gain = float(a.get("gain", 1.0))
        rows, cols = w_fan_out, w_fan_in
        var = gain * gain / (cols if rows <= cols else rows)
        mean, symmetric, law = 0.0, True, "orthogonal"
    elif k == "sparse":
        std = float(a.get("std", 0.01))
        var = (1 - float(a.get("sparsity", 0.0))) * std * std
        mean, symmetric, law = 0.0, True, "sparse"
    elif k in ("constant", "ones", "zeros"):
        value = {"ones": 1.0, "zeros": 0.0}.get(k, a.get("val", a.get("value")))
        value = float(value) if isinstance(value, (int, float)) else None
        mean, var = value, 0.0
        law = "zeros" if value == 0 else "constant"
        symmetric = value == 0 if value is not None else None
    elif k in ("eye", "dirac"):
        law, symmetric = "identity", False
    elif k == "rai":
        entry_fan_in = w_fan_in if kind == "weight" else (fan_in or 1)
        mean, var = _rai_entry_moments(a, entry_fan_in, bias_column=bias_column)
        law, symmetric = "rai", False
    elif k in ("exponential", "bernoulli", "geometric", "log_normal", "random"):
        law, symmetric = "custom", False  # laws on [0, ∞): not symmetric about zero
    if kind == "bias" and law == "pytorch-default" and fan_in:
        var = 1.0 / (3.0 * fan_in)
    sigma2 = var * scale if var is not None else None
    args = {"init": f"{_call_name(event)}", "source": event.source, **dict(a)}
    return InitInfo(law, symmetric, sigma2, mean, args, origin="recorded", location=event.location)


def _call_name(event: InitEvent) -> str:
    """How the user wrote the call: ``nn.init.kaiming_normal_``, ``.fill_()``, ``relulint.init.rai_``."""
    if event.source == "tensor-method":
        method = {"constant": "fill", "zeros": "zero"}.get(event.kind, event.kind)
        return f".{method}_()"
    if event.source == "relulint.init":
        return "relulint.init.rai_" + ("" if event.kind == "rai" else f" (first layer: {event.kind})")
    if event.source == "reset_parameters":
        return f"reset_parameters → nn.init.{event.kind}_"
    return f"nn.init.{event.kind}_"


# ------------------------------------------------------------------------------------ the fingerprint


def _detached(tensor: Any) -> Any:
    """The tensor detached, or None when it has no values (meta device, not a tensor)."""
    try:
        t = tensor.detach()
        return None if t.is_meta else t
    except (RuntimeError, TypeError, AttributeError):
        return None


def _float64(t: Any) -> Any:
    """A (small, sampled) tensor as a float64 numpy array: bf16 / fp16 / any device upcast here."""
    import numpy as np

    return t.to("cpu").to(dtype=_torch().float64).numpy().astype(np.float64, copy=False)


def _torch() -> Any:
    import torch

    return torch


def _sample_index(n: int, k: int) -> Any:
    """At most ``k`` distinct indices of ``range(n)``, sorted (all of them when n ≤ k).

    Drawn from a private generator with a fixed seed (never the global RNG), so a fingerprint is the same
    on every run. Under the fingerprint's hypotheses the entries are i.i.d., so any index set the values do
    not choose is an i.i.d. sample of the law; a random one keeps structured (non-i.i.d.) inits from
    aliasing with it.
    """
    torch = _torch()
    if n <= k:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(SAMPLE_SEED)
    return torch.unique(torch.randint(0, n, (k,), generator=generator))


def sample_row_index(rows: int, cols: int) -> Any:
    """The rows `sample_rows` keeps of a ``rows × cols`` matrix (a sorted index tensor), None for all."""
    want = max(MIN_SAMPLE_ROWS, SAMPLE_ENTRIES // max(int(cols), 1))
    return None if int(rows) <= want else _sample_index(int(rows), want)


def sample_rows(matrix: Any) -> Any:
    """A bounded sample of whole rows of a 2-D tensor: at most ``SAMPLE_ENTRIES`` entries, at least
    ``MIN_SAMPLE_ROWS`` rows (all rows when there are fewer), as a tensor in the matrix's dtype."""
    index = sample_row_index(matrix.shape[0], matrix.shape[1])
    return matrix if index is None else matrix.index_select(0, index.to(matrix.device))


def _values(tensor: Any) -> Any:
    """A bounded sample of the tensor's values as a float64 numpy array, shaped ``(rows, columns)`` for a
    weight (whole rows, `sample_rows`) and flat otherwise; None when it has no data (meta device)."""
    t = _detached(tensor)
    if t is None:
        return None
    if t.dim() >= 2:
        return _float64(sample_rows(t.reshape(t.shape[0], -1)))
    flat = t.reshape(-1)
    if flat.numel() > SAMPLE_ENTRIES:
        flat = flat.index_select(0, _sample_index(flat.numel(), SAMPLE_ENTRIES).to(flat.device))
    return _float64(flat)


def _exact_class(tensor: Any, sample: Any) -> tuple[bool, float | None, bool]:
    """(all zero, the value when every entry is the same, finite) of the tensor.

    Exact classes cannot be read off a sample alone (one non-zero entry breaks "zeros"), but a sample
    with two different values proves the tensor is neither zero nor constant: only a constant sample
    costs a pass over all entries (a reduction in the tensor's own dtype, linear, no copy). Finiteness
    is that of the sample (the statistics are computed on it).
    """
    import numpy as np

    low_value, high_value = float(np.min(sample)), float(np.max(sample))
    if not (math.isfinite(low_value) and math.isfinite(high_value)):
        return False, None, False
    if low_value != high_value:
        return False, None, True
    t = _detached(tensor)
    low, high = _torch().aminmax(t.reshape(-1))  # NaN propagates, ±inf are extremes
    low_value, high_value = float(low), float(high)
    if not (math.isfinite(low_value) and math.isfinite(high_value)):
        return False, None, False
    if low_value == high_value:
        return low_value == 0.0, low_value, True
    return False, None, True


def _orthogonal_columns(tensor: Any) -> Any:
    """A bounded sample of whole *columns* of a tall weight (more rows than columns), as float64 rows."""
    t = _detached(tensor)
    matrix = t.reshape(t.shape[0], -1)
    rows, cols = int(matrix.shape[0]), int(matrix.shape[1])
    want = max(MIN_SAMPLE_ROWS, SAMPLE_ENTRIES // max(rows, 1))
    if cols > want:  # gather along the contiguous dimension, then transpose the small result
        matrix = matrix.index_select(1, _sample_index(cols, want).to(matrix.device))
    return _float64(matrix.T)


def _symmetry(x: Any) -> tuple[bool, str]:
    """Is the law symmetric about zero? Mean and sign tests, each against its standard error (|z| ≤ 5)."""
    import numpy as np

    n = x.size
    std = float(x.std(ddof=1))
    z_mean = float(x.mean()) / (std / math.sqrt(n)) if std > 0 else 0.0
    nonzero = int(np.count_nonzero(x))
    positive = int(np.count_nonzero(x > 0))
    z_sign = (positive - nonzero / 2) / math.sqrt(nonzero / 4) if nonzero else 0.0
    symmetric = abs(z_mean) <= Z_ASYMMETRY and abs(z_sign) <= Z_ASYMMETRY
    why = f"mean z = {z_mean:+.1f}, {positive}/{nonzero} entries positive (sign z = {z_sign:+.1f})"
    return symmetric, why


def _rounding(tensor: Any) -> float:
    """The relative rounding unit of the tensor's dtype (bf16 7.8e-3, fp16 9.8e-4, float32 1.2e-7).

    Exact comparisons allow for it: a constant stored in bf16 is off by up to half of it, and the Gram of
    an orthogonal matrix rounded to it is ≈ 0.3 of it from c·I (measured for n = 4 … 2048).
    """
    try:
        return float(_torch().finfo(tensor.dtype).eps)
    except (TypeError, AttributeError):
        return 0.0


def _orthogonal(vectors: Any, tol: float = ORTHOGONAL_TOL) -> tuple[bool, float]:
    """Sampled rows (of a wide or square weight) or columns (of a tall one) orthonormal up to a scale c.

    An orthogonal init makes *every* set of rows (columns) orthonormal up to c, so a sample of R of them
    passes whenever the whole matrix does. The other way round, R i.i.d. random vectors of length L have
    a Gram whose relative Frobenius distance to c·I is about sqrt((R + 1) / L) (off-diagonal entries and
    norm fluctuations of relative size 1/sqrt(L)), far above ``ORTHOGONAL_TOL`` (1e-3) for any L below
    10⁶·R: the R × R Gram of the sample decides as the full one would, in O(R² L) time and 8R² bytes
    instead of O(n³) and 8n².
    """
    import numpy as np

    m = vectors
    if m.shape[0] < 2:
        return False, 0.0
    gram = m @ m.T
    c = float(np.trace(gram)) / gram.shape[0]
    if c <= 0:
        return False, 0.0
    error = float(np.linalg.norm(gram - c * np.eye(gram.shape[0]))) / (c * math.sqrt(gram.shape[0]))
    return error < tol, c


def _median(x: Any) -> float:
    """The median of all entries (as ``np.median``, without its NaN check, which imports numpy.ma)."""
    import numpy as np

    flat = x.ravel()
    if np.isnan(flat).any():
        return math.nan  # as np.median
    k = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, k)[k])
    low, high = np.partition(flat, (k - 1, k))[k - 1 : k + 1]
    return (float(low) + float(high)) / 2


def _rai_signature(w: Any) -> dict[str, float] | None:
    """`dying` §4.1's signature: most rows hold one large positive entry over an N(0, s²) bulk.

    Per row, the largest entry is an outlier when it exceeds the 0.1 % quantile of the maximum of fan_in
    Gaussians of the bulk's (robust, MAD) scale; RAI puts one in a fraction ``fan_in / (fan_in + 1) ·
    P(X > t·s)`` of the rows (≈ 0.6 for Beta(2, 1) at fan_in = 16, → fan_in / (fan_in + 1) as it grows), a
    symmetric law as often at the minimum as at the maximum.
    """
    from statistics import NormalDist

    import numpy as np

    rows, fan_in = w.shape
    if fan_in < RAI_MIN_FAN_IN or rows < RAI_MIN_ROWS:
        return None
    ordered = np.sort(w, axis=1)
    top, bottom = ordered[:, -1], ordered[:, 0]
    rest = ordered[:, :-1]  # each row without its largest entry (RAI's positive draw)
    s = _median(np.abs(w - _median(w))) * 1.4826  # robust: at most 1 / (fan_in + 1) outliers
    if s <= 0:
        return None
    t = NormalDist().inv_cdf(0.999 ** (1.0 / fan_in)) * s
    high = top > t
    frac_high, frac_low = float(high.mean()), float((bottom < -t).mean())
    if frac_high - frac_low < 0.3 or int(high.sum()) < 3:
        return None
    if abs(float(np.mean(np.sign(rest)))) * math.sqrt(rest.size) > Z_ASYMMETRY:
        return None  # the bulk is not centred at zero (sign test): not N(0, s²)
    positive = top[high]
    return {
        "rows_with_positive_entry": frac_high,
        "positive_mean": float(positive.mean()),
        "positive_max": float(positive.max()),
        "sigma_w": float(np.sqrt(np.mean(rest**2))) * math.sqrt(fan_in),
    }


def _shape_law(x: Any) -> tuple[str, bool]:
    """(shape, confident): "uniform", "trunc-normal", "normal" or "custom" from range and kurtosis.

    The half-range ``(max − min) / 2 / std`` is ≈ √3 for a uniform law and grows like sqrt(2 ln n) for a
    normal one; the kurtosis is 1.8 (uniform), 3 (normal), ≈ 2.4 (normal truncated at ±2σ). Below
    ``SHAPE_MIN_ENTRIES`` entries the guess (nearest kurtosis) is returned as not confident.
    """
    centred = x - x.mean()
    std = float(centred.std())
    if std == 0:
        return "custom", False
    n = x.size
    ratio = float(x.max() - x.min()) / 2 / std  # half-range / std: √3 for a uniform law
    kurtosis = float((centred**4).mean()) / std**4
    if n < SHAPE_MIN_ENTRIES:
        guesses = {"uniform": 1.8, "normal": 3.0}
        return min(guesses, key=lambda k: abs(kurtosis - guesses[k])), False
    slack = 1 + 3 * math.sqrt(0.8 / n)  # ≈ 6 SE of the sample std of a uniform law
    if ratio <= math.sqrt(3) * slack:
        return "uniform", True
    se = math.sqrt(24.0 / n)
    if kurtosis < 3 - 5 * se and ratio < 2.9:
        return "trunc-normal", True
    if abs(kurtosis - 3) <= max(0.3, 5 * se):
        return "normal", True
    return "custom", True


def _name_weight_law(shape_law: str, sigma2: float, fan_in: int, fan_out: int, n: int) -> str:
    """Name the symmetric weight law after the init whose σ_w² it matches (He 2, LeCun 1, Xavier, default 1/3)."""
    tol = max(0.1, 5 * math.sqrt(2.0 / max(n - 1, 1)))
    refs = {
        "kaiming": 2.0,
        "xavier": 2.0 * fan_in / (fan_in + fan_out),
        "lecun": 1.0,
    }
    if shape_law == "uniform":
        refs["pytorch-default"] = 1.0 / 3.0
    best = min(refs, key=lambda key: abs(math.log(sigma2 / refs[key])) if sigma2 > 0 else math.inf)
    if sigma2 > 0 and abs(sigma2 / refs[best] - 1) <= tol:
        if best in ("kaiming", "xavier"):
            return f"{best}-{'uniform' if shape_law == 'uniform' else 'normal'}"
        return best
    return shape_law


def fingerprint(tensor: Any, kind: str = "weight", *, fan_in: int | None = None) -> InitInfo:
    """Classify a parameter's values (`InitInfo` with origin "fingerprint").

    ``kind`` is "weight" (σ² = fan_in · Var(W), fan_in = product of the dimensions after the first) or
    "bias" (σ² = Var(b); pass the layer's ``fan_in`` to recognise PyTorch's default ``U(±1/sqrt(fan_in))``).
    Exact classes work at any size (zero, constant, orthogonal, identity); the statistical ones need
    ``MIN_ENTRIES`` entries, below which the law is "unknown" with the note "too few entries to fingerprint".
    """
    import numpy as np

    x = _values(tensor)
    if x is None or x.size == 0:
        return InitInfo("unknown", None, note="no values to fingerprint (meta or empty tensor)")
    shape = tuple(int(d) for d in tensor.shape)
    w_fan_in, w_fan_out = _fans(shape)
    scale = w_fan_in if kind == "weight" else 1
    total = math.prod(shape)
    all_zero, constant, finite = _exact_class(tensor, x)
    if not finite:
        return InitInfo("unknown", None, note="non-finite values (NaN or inf): nothing to fingerprint")
    flat = x.ravel()
    n = flat.size
    mean = float(flat.mean())
    var = float(flat.var(ddof=1)) if n > 1 else None
    sigma2 = scale * var if var is not None else None
    args: dict[str, Any] = {"entries": n}
    if n < total:
        args["sampled_from"] = total  # the statistics below are over a sample of `entries` (their SE too)
    if all_zero:
        return InitInfo("zeros", True, 0.0, 0.0, {"entries": total})
    if total >= 2 and constant is not None:
        note = None
        if kind == "bias" and constant > 0:
            note = "positive constant bias: lowers the born-dead risk (dying Fig. 4) but does not remove it"
        return InitInfo("constant", False, 0.0, constant, {"entries": total, "value": constant}, note=note)
    if kind == "weight" and len(shape) >= 2 and min(shape[0], w_fan_in) >= 2:
        vectors = x if shape[0] <= w_fan_in else _orthogonal_columns(tensor)
        ortho, c = _orthogonal(vectors, max(ORTHOGONAL_TOL, 2 * _rounding(tensor)))
        if ortho:
            if np.all(vectors >= 0):
                return InitInfo("identity", False, sigma2, mean, {**args, "scale": math.sqrt(c)})
            gain = math.sqrt(c)
            return InitInfo("orthogonal", True, sigma2, mean, {**args, "gain": gain})
    if n < MIN_ENTRIES:
        return InitInfo("unknown", None, sigma2, mean, args, note=f"too few entries to fingerprint ({n})")
    assert var is not None and sigma2 is not None  # n ≥ MIN_ENTRIES > 1
    if kind == "weight" and x.ndim >= 2:
        rai = _rai_signature(x)
        if rai is not None:
            return InitInfo("rai", False, sigma2, mean, {**args, **rai})
    symmetric, why = _symmetry(flat)
    if not symmetric:
        note = f"not symmetric about zero: {why}"
        if float(flat.min()) >= 0:
            note += "; all entries ≥ 0"
        return InitInfo("custom", False, sigma2, mean, args, note=note)
    zeros = float(np.mean(flat == 0))
    if zeros > 0.1:
        return InitInfo("sparse", True, sigma2, mean, {**args, "sparsity": zeros})
    shape_law, confident = _shape_law(flat)
    args["shape_confident"] = confident
    if kind == "weight":
        law = _name_weight_law(shape_law, sigma2, w_fan_in, w_fan_out, n)
    else:
        law = shape_law
        if (
            shape_law == "uniform"
            and fan_in
            and abs(var * 3 * fan_in - 1) <= max(0.1, 5 * math.sqrt(0.8 / n))
        ):
            law = "pytorch-default"
    return InitInfo(law, True, sigma2, mean, {**args, "shape": shape_law}, note=None)


# ------------------------------------------------------------------------------------ reconciliation

_FAMILY = {
    "pytorch-default": "uniform",
    "kaiming-uniform": "uniform",
    "xavier-uniform": "uniform",
    "uniform": "uniform",
    "kaiming-normal": "normal",
    "xavier-normal": "normal",
    "normal": "normal",
    "trunc-normal": "normal",
    "lecun": None,
}
_EXACT = {"zeros", "constant"}


def _disagreement(
    recorded: InitInfo, found: InitInfo, shape: Sequence[int], rounding: float = 0.0
) -> str | None:
    """Why the fingerprint contradicts the record (None when they agree or the fingerprint cannot tell).

    ``rounding`` is the values' dtype rounding unit (`_rounding`): exact comparisons allow for it.
    """
    if found.law == "unknown":
        if recorded.law in _EXACT and found.sigma2:
            return "the values are not constant"
        return None
    if (recorded.law in _EXACT) != (found.law in _EXACT):
        return f"the values are {'constant' if found.law in _EXACT else 'not constant'}"
    if recorded.law in _EXACT:
        if (
            recorded.mean is not None
            and found.mean is not None
            and not math.isclose(
                recorded.mean, found.mean, rel_tol=max(FLOAT32_REL_TOL, rounding), abs_tol=1e-30
            )
        ):
            return f"the constant is {found.mean:g}, not {recorded.mean:g}"
        return None
    if recorded.symmetric and found.symmetric is False:
        # only this direction: failing to detect an asymmetry (few rows, RAI's rare outliers) proves nothing
        return found.note or "the values are not symmetric about zero"
    if recorded.law == "orthogonal" and found.law != "orthogonal" and len(shape) >= 2 and min(shape[:2]) >= 2:
        return "the rows are not orthogonal"
    if recorded.law == "orthogonal" and found.law == "orthogonal":
        # LSUV and hand-written rescaling (`w.data.mul_(c)` after `orthogonal_`) keep the rows orthogonal
        # but change the gain, hence σ_w² of the length map (`collapse` Eq 2-3): compare the gains.
        recorded_gain = float(recorded.args.get("gain", 1.0))
        found_gain = float(found.args.get("gain", recorded_gain))
        if not math.isclose(recorded_gain, found_gain, rel_tol=max(1e-3, 2 * rounding)):
            return f"the gain is {found_gain:.4g}, not {recorded_gain:.4g}"
        return None
    if recorded.law in ("rai", "identity") or found.law in (
        "orthogonal",
        "identity",
        "sparse",
        "rai",
        "custom",
    ):
        return None
    fam_r, fam_f = _FAMILY.get(recorded.law), _FAMILY.get(str(found.args.get("shape", found.law)))
    if fam_r and fam_f and fam_r != fam_f and found.args.get("shape_confident"):
        return f"the values look {fam_f}, not {fam_r}"
    entries = int(found.args.get("entries", 0))
    if recorded.sigma2 and found.sigma2 is not None and entries >= MIN_ENTRIES:
        ratio = found.sigma2 / recorded.sigma2
        if abs(ratio - 1) > max(0.25, 6 * math.sqrt(2.0 / entries)):
            return f"their variance is {ratio:.3g}× the recorded one"
    return None


def _rai_contradiction(tensor: Any, args: Mapping[str, Any], bias_column: bool) -> str | None:
    """Do a weight's values decisively contradict a recorded RAI (`dying` §4.1)? A two-sided z test on
    the mean of its row sums, None when they agree or there are too few rows to tell.

    Row r of ``V = [W, b]`` holds RAI's positive draw ``B ~ P`` (moments ``mu1``, ``mu2``) at a uniform
    column, N(0, s²) with s² = σ_w² / fan_in elsewhere (`dying` Appendix G). The weight's row sums S_r are
    i.i.d. with p = fan_in / cols (cols = fan_in + 1 with a bias column), by the law of total variance:

        E[S] = p·mu1,   Var[S] = p·(mu2 − mu1²) + (fan_in − p)·s² + p·(1 − p)·mu1².

    RAI's own values are overridden with probability P(|Z| > 5) ≈ 6e-7 (S is a sum of Gaussians and one
    bounded draw, nearly normal). Symmetric values (E[S] = 0) sit p·mu1·sqrt(R) / sd(S) standard errors
    away: for Beta(2, 1) and σ_w = 0.6007, sd(S) ≈ 0.65 and z ≈ 1.03·sqrt(R), so from R = 64 rows (z ≈ 8.2)
    they are overridden with probability 0.9993, from R = 128 with certainty to 1e-12.
    """
    x = _values(tensor)
    if x is None or x.ndim != 2 or x.shape[0] < RAI_MIN_ROWS:
        return None
    rows, fan_in = x.shape
    sigma_w = float(args.get("sigma_w", 0.6007))
    mu1, mu2 = float(args.get("mu1", 2 / 3)), float(args.get("mu2", 0.5))
    p = fan_in / (fan_in + 1) if bias_column else 1.0
    s2 = sigma_w**2 / fan_in
    expected = p * mu1
    variance = p * (mu2 - mu1 * mu1) + (fan_in - p) * s2 + p * (1 - p) * mu1 * mu1
    if variance <= 0:
        return None
    sums = x.sum(axis=1)
    z = (float(sums.mean()) - expected) / math.sqrt(variance / rows)
    if abs(z) <= RAI_Z_DECISIVE:
        return None
    return f"its rows sum to {float(sums.mean()):.3g} on average, RAI's {expected:.3g} (z = {z:+.1f}, {rows} rows)"


def resolve(
    events: Sequence[InitEvent],
    tensor: Any,
    kind: str = "weight",
    *,
    fan_in: int | None = None,
    bias_column: bool = True,
) -> InitInfo | None:
    """One parameter's `InitInfo`: the last recorded init, checked against the fingerprint of its values.

    * no record → the fingerprint (origin "fingerprint");
    * a record the values confirm → the record (origin "recorded"), with the measured σ² when the record
      implies none;
    * a record of an unknown law (``copy_``, ``random_``…) or a partial re-init → the fingerprint, noting the
      record (origin "reconciled");
    * a record the values contradict → the fingerprint, noting why (origin "reconciled"): `_disagreement`,
      and for a recorded RAI weight (whose positive entries the symmetric tests would misread) only the
      row-sum test of `_rai_contradiction`, so ``relulint.init.apply_rai`` stays "rai" (with its args
      ``dist``, ``sigma_w``, ``mu1``, ``mu2``) for the probe's batched sampler;
    * too few entries to fingerprint → the record, noting that.
    """
    if tensor is None:
        return None
    found = fingerprint(tensor, kind, fan_in=fan_in)
    full = [e for e in events if not e.args.get("partial")]
    if not full:
        if events:
            return replace(
                found, origin="reconciled", note=_join("only part of it was re-initialized", found.note)
            )
        return found
    last = full[-1]
    later_partial = events.index(last) < len(events) - 1
    shape = tuple(tensor.shape)
    recorded = info_from_event(last, shape, kind, fan_in=fan_in, bias_column=bias_column)
    where = f" at {last.location}" if last.location else ""
    described = f"{recorded.args.get('init')}{where}"
    if later_partial:
        note = f"recorded {described}, then partly overwritten; law from the values"
        return replace(found, origin="reconciled", note=_join(note, found.note), location=last.location)
    if recorded.law == "custom" and recorded.symmetric is None:
        if found.law == "unknown":
            return replace(recorded, note=found.note)
        note = f"recorded {described}; law from the values"
        return replace(found, origin="reconciled", note=note, location=last.location)
    reason = _disagreement(recorded, found, shape, _rounding(tensor))
    if reason is None and recorded.law == "rai" and kind == "weight":
        reason = _rai_contradiction(tensor, recorded.args, bias_column)
    if reason is not None:
        note = f"recorded {described}, but {reason}: trusting the values (changed by an unrecorded op?)"
        return replace(found, origin="reconciled", note=note, location=last.location)
    if found.law == "unknown":
        return replace(
            recorded,
            sigma2=recorded.sigma2 if recorded.sigma2 is not None else found.sigma2,
            note=TOO_FEW_TO_FINGERPRINT,
        )
    return replace(
        recorded,
        sigma2=recorded.sigma2 if recorded.sigma2 is not None else found.sigma2,
        mean=recorded.mean if recorded.mean is not None else found.mean,
        note=recorded.note or (found.note if recorded.law != found.law else None),
    )


def pooled_positive_z(rows: Sequence[Any]) -> tuple[float, int]:
    """One-sided z of the mean of the entries of several ``[W, b]`` matrices, and how many entries.

    RAI (`dying` §4.1) draws one entry of each row of ``[W, b]`` from a positive law and the rest from
    N(0, σ²), so the entries have mean E[P] / (fan_in + 1) > 0, while every symmetric law has mean 0. One
    narrow layer has too few entries to tell (width 2: three per row), but a chain has many layers drawn
    the same way: pooled, the mean test has power where the per-tensor fingerprint has none.
    """
    import numpy as np

    values = np.concatenate([_matrix_values(r).ravel() for r in rows]) if rows else np.zeros(0)
    n = int(values.size)
    if n < 8:
        return 0.0, n
    std = float(values.std(ddof=1))
    return (float(values.mean()) / (std / math.sqrt(n)) if std > 0 else 0.0), n


def _matrix_values(rows: Any) -> Any:
    """A ``[W, b]`` matrix (tensor of any float dtype, bf16 included, or array) as float64 numpy: a
    bounded sample of its rows (`sample_rows`)."""
    import numpy as np

    if hasattr(rows, "detach"):
        t = rows.detach()
        return _float64(sample_rows(t.reshape(t.shape[0], -1)) if t.dim() >= 2 else t)
    return np.asarray(rows, dtype=np.float64)


def unconfirmed(info: InitInfo | None) -> bool:
    """A weight law the values have not confirmed: no record, a reconciled one, or a record trusted only
    because its tensor is too small to fingerprint (what `pool_chain_asymmetry` re-reads).

    A recorded RAI is never re-read: the pooled test only detects a positive mean of ``[W, b]``, which is
    what RAI predicts (`dying` §4.1), so it could confirm the record but never contradict it.
    """
    if info is not None and info.origin == "recorded" and info.law == "rai":
        return False
    return info is None or info.origin != "recorded" or info.note == TOO_FEW_TO_FINGERPRINT


def pool_chain_asymmetry(
    infos: Sequence[InitInfo | None], rows: Sequence[Any]
) -> tuple[InitInfo | None, ...] | None:
    """The weight inits of a chain's hidden layers after the first, re-read together (see `pooled_positive_z`).

    Only layers whose law the values have not confirmed are re-read: no record, a reconciled one, or a
    record trusted because its tensor is too small (e.g. ``w.data[:] = v`` after ``reset_parameters``, an
    assignment no hook sees). When their pooled ``[W, b]`` entries have a clearly positive mean, each
    becomes an asymmetric "custom" law with a note. Returns the new infos, or None when nothing changes.
    """
    open_ = [i for i, info in enumerate(infos) if unconfirmed(info)]
    if not open_:
        return None
    z, n = pooled_positive_z([rows[i] for i in open_ if rows[i] is not None])
    if z < Z_POOLED_POSITIVE:
        return None
    note = (
        f"pooled over {len(open_)} layers, the entries of [W, b] have a positive mean (z = {z:.1f}, "
        f"{n} entries): an asymmetric init such as RAI (dying §4.1)"
    )
    out = list(infos)
    for i in open_:
        info = infos[i]
        sigma2 = info.sigma2 if info is not None else None
        out[i] = InitInfo(
            "custom", False, sigma2, info.mean if info else None, origin="fingerprint", note=note
        )
    return tuple(out)


def _join(*notes: str | None) -> str | None:
    text = "; ".join(n for n in notes if n)
    return text or None


def _submodule(root: Any, qualname: str) -> Any:
    """``root.get_submodule(qualname)``, also for a TorchScript module (which does not support it), else None."""
    if not qualname:
        return root
    try:
        return root.get_submodule(qualname)
    except AttributeError:
        return None
    except RuntimeError:  # a ScriptModule: walk its attributes
        module = root
        for part in qualname.split("."):
            module = getattr(module, part, None)
            if module is None:
                return None
        return module


def describe_layer(loaded: Any, qualname: str) -> tuple[InitInfo | None, InitInfo | None]:
    """(weight, bias) `InitInfo` of the Linear ``qualname`` of a `LoadedModel` (record ∘ fingerprint).

    The record is ``loaded.init_events`` for ``{qualname}.weight`` / ``{qualname}.bias``; the values are the
    module's current ``weight`` / ``bias`` (for a weight-normalized layer, the effective weight, which has no
    record of its own: its law comes from the values). Returns (None, None) for a name that is not a
    submodule, and None for a missing bias.
    """
    module = _submodule(loaded.module, qualname)
    if module is None:
        return None, None
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    fan_in = (
        int(weight.shape[1])
        if weight is not None and hasattr(weight, "shape") and len(weight.shape) == 2
        else None
    )
    events = tuple(getattr(loaded, "init_events", ()) or ())
    prefix = f"{qualname}." if qualname else ""
    infos: list[InitInfo | None] = []
    for attr, tensor in (("weight", weight), ("bias", bias)):
        if tensor is None or not hasattr(tensor, "shape"):
            infos.append(None)
            continue
        mine = [e for e in events if e.param == f"{prefix}{attr}"]
        infos.append(resolve(mine, tensor, attr, fan_in=fan_in, bias_column=bias is not None))
    return infos[0], infos[1]
