"""Example inputs for the hooks capture: built from `forward`'s signature, then fitted to the layers.

A plan holds one `ArgPlan` per required argument of `forward`: a tensor, a list of tensors (annotated
``list[Tensor]``, or used as a sequence in the source), or a dict of tensors (its keys read from the
source), with a shape and a dtype. The first plan gives every argument the shape of the model's first
layer (``(8, in_features)``; ``(8, C, 32, 32)`` for a first `Conv2d`; integer ids for a first
`nn.Embedding`). Then the plan is *fitted*: while `forward` runs, every layer checks its input before it
computes (`Mismatch`); the tensor that does not fit is traced back through the recorded graph to the
arguments it came from, and those are changed (a width, the length of a list, integer ids for an
embedding, the spatial size of an image before a flatten), and `forward` runs again. So ``branch_in`` and
``trunk_in`` of a DeepONet each get the width of the first layer that consumes them. Shapes and dtypes the
user gave (``--input-shape x=8,1``, ``--input-dtype long``) are never changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from relulint.capture_source import ArgumentHint

BATCH = 8
SEQUENCE = 16  # length of integer token inputs
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}


@dataclass(frozen=True)
class Item:
    """One example tensor: its shape and dtype (None: the model's floating dtype); integer ids are drawn
    from ``[0, high)``."""

    shape: tuple[int, ...] = (BATCH, 1)
    dtype: torch.dtype | None = None
    high: int = 2

    @property
    def integer(self) -> bool:
        return self.dtype is not None and not self.dtype.is_floating_point

    def describe(self) -> str:
        return f"{self.shape} {str(self.dtype)[6:]}" if self.integer else str(self.shape)


@dataclass(frozen=True)
class ArgPlan:
    """The example value of one argument of `forward`: a tensor (one item), a list or a dict of items."""

    name: str
    kind: str = "tensor"  # "tensor", "list" or "dict"
    items: tuple[Item, ...] = (Item(),)
    keys: tuple[str, ...] = ()  # dict keys, one per item
    fixed: bool = False  # shape given by the user: never changed
    fixed_dtype: bool = False  # dtype given by the user: never changed

    @property
    def shape(self) -> tuple[int, ...]:
        return self.items[0].shape

    def with_item(self, element: int, **changes: Any) -> ArgPlan:
        items = list(self.items)
        items[element] = replace(items[element], **changes)
        return replace(self, items=tuple(items))

    def describe(self) -> str:
        if self.kind == "list":
            texts = [item.describe() for item in self.items]
            each = f"{len(texts)} × {texts[0]}" if len(set(texts)) == 1 else ", ".join(texts)
            return f"{self.name}: list of {each}"
        if self.kind == "dict":
            pairs = ", ".join(f"{k}: {i.describe()}" for k, i in zip(self.keys, self.items, strict=False))
            return f"{self.name}: dict {{{pairs}}}"
        return f"{self.name}: {self.items[0].describe()}"


Plan = tuple[ArgPlan, ...]
Slot = tuple[int, int, torch.Tensor]  # (argument index, item index, example tensor)


class Mismatch(BaseException):  # not an Exception: a `try: … except Exception` in forward must not eat it
    """A layer's input does not fit it: raised inside `forward` so that the plan can be fitted.

    ``kind``: "width" (the last dimension must be ``want``), "channels" (dimension 1 must be ``want``, with
    ``ndim`` dimensions), "ids" (integer ids below ``want``: from an argument, or else the sequence is
    too long for a table of ``want`` rows, as positions from ``arange(T)``).
    """

    def __init__(self, tensor: torch.Tensor | None, kind: str, want: int, ndim: int = 0) -> None:
        super().__init__(f"{kind} {want}")
        self.tensor = tensor
        self.kind = kind
        self.want = want
        self.ndim = ndim
        self.where = ""  # the layer (qualified name) or function that raised it


def dtype_of(name: str) -> torch.dtype:
    return DTYPES[name]


# ------------------------------------------------------------------------------------ the first plans


def first_plans(
    names: Sequence[str],
    hints: Mapping[str, ArgumentHint],
    first: Item | None,
    user_shape: Any,
    user_dtype: Any,
    fallback_width: int | None,
    others: Sequence[Item] = (),
) -> list[Plan]:
    """The plans to start from, best first (each is then fitted). `first` is what the first layer implies,
    `others` what the first layer of each other kind implies (a conv's image, an embedding's ids)."""
    base = first if first is not None else Item((BATCH, fallback_width or 1))
    plans: list[Plan] = []

    def plan(kinds: Mapping[str, str], item: Item) -> Plan:
        out = []
        for name in names:
            hint = hints.get(name, ArgumentHint())
            kind = kinds.get(name, hint.kind)
            if kind == "dict" and not hint.keys:
                kind = "tensor"
            count = {"tensor": 1, "list": max(1, hint.count), "dict": len(hint.keys)}[kind]
            keys = tuple(hint.keys) if kind == "dict" else ()
            arg = ArgPlan(name=name, kind=kind, items=(item,) * count, keys=keys)
            out.append(_apply_user(arg, user_shape, user_dtype))
        return tuple(out)

    plans.append(plan({}, base))
    for alternative in others:  # a CNN whose head is registered first: try the conv's image too
        plans.append(plan({}, alternative))
    sequences = {n: "list" for n in names if hints.get(n, ArgumentHint()).sequence_use}
    if sequences:
        plans.append(plan(sequences, base))
    plans.append(plan({}, Item((BATCH, 1))))
    return list(dict.fromkeys(plans))


SEQUENCE_ERRORS = ("tuple of tensors", "list of tensors", "not iterable", "unpack", "sequence of tensors")


def as_lists(plan: Plan, error: str) -> Plan | None:
    """When forward failed the way a tensor passed for a list fails (``torch.stack(xs)``: "must be tuple
    of Tensors, not Tensor"), the plan with every tensor argument a list of two tensors; else None."""
    if not any(words in error.lower() for words in SEQUENCE_ERRORS):
        return None
    changed = tuple(
        replace(arg, kind="list", items=arg.items * 2) if arg.kind == "tensor" and not arg.fixed else arg
        for arg in plan
    )
    return changed if changed != plan else None


def _apply_user(arg: ArgPlan, user_shape: Any, user_dtype: Any) -> ArgPlan:
    shape = user_shape.get(arg.name) if isinstance(user_shape, Mapping) else user_shape
    dtype = user_dtype.get(arg.name) if isinstance(user_dtype, Mapping) else user_dtype
    if shape is not None:
        arg = replace(arg, items=tuple(replace(i, shape=tuple(shape)) for i in arg.items), fixed=True)
    if dtype is not None:
        arg = replace(
            arg, items=tuple(replace(i, dtype=dtype_of(dtype)) for i in arg.items), fixed_dtype=True
        )
    return arg


def first_layer_item(leaf: nn.Module) -> Item | None:
    """The input the first layer implies: ``(8, in)``, an image for a conv, integer ids for an embedding."""
    from relulint.capture_leaves import custom_linear_weight

    weight = getattr(leaf, "weight", None)
    if isinstance(weight, nn.parameter.UninitializedParameter) or isinstance(
        leaf, nn.modules.lazy.LazyModuleMixin
    ):
        return None
    if isinstance(leaf, nn.Linear):
        return Item((BATCH, leaf.in_features))
    if isinstance(leaf, torch.jit.ScriptModule):  # its first matrix, stored (out, in) like nn.Linear
        matrix = next((p for p in leaf.parameters() if p.dim() == 2), None)
        return Item((BATCH, int(matrix.shape[1]))) if matrix is not None else None
    if isinstance(leaf, (nn.Embedding, nn.EmbeddingBag)):
        return Item((BATCH, SEQUENCE), torch.int64, leaf.num_embeddings)
    custom = custom_linear_weight(leaf)
    if custom is not None:
        return Item((BATCH, int(getattr(leaf, "in_features", custom[1].shape[1]))))
    spatial = {nn.Conv1d: (64,), nn.Conv2d: (32, 32), nn.Conv3d: (16, 16, 16)}
    for cls, size in spatial.items():
        if type(leaf) is cls:
            return Item((BATCH, leaf.in_channels, *size))
    return None


# ------------------------------------------------------------------------------------------ values


def build(
    plan: Plan, float_dtype: torch.dtype, device: torch.device
) -> tuple[list[Any], list[tuple[str, Slot]]]:
    """The argument values, and every tensor in them as (label, (argument index, item index, tensor))."""
    values: list[Any] = []
    tensors: list[tuple[str, Slot]] = []

    def make(label: str, index: int, element: int, item: Item) -> torch.Tensor:
        dtype = item.dtype or float_dtype
        if dtype.is_floating_point:
            tensor = torch.randn(item.shape, dtype=dtype, device=device)
        elif dtype is torch.bool:
            tensor = torch.rand(item.shape, device=device) > 0.5
        else:
            tensor = torch.randint(0, max(1, item.high), item.shape, dtype=dtype, device=device)
        tensors.append((label, (index, element, tensor)))
        return tensor

    for index, arg in enumerate(plan):
        if arg.kind == "list":
            values.append([make(f"{arg.name}[{j}]", index, j, item) for j, item in enumerate(arg.items)])
        elif arg.kind == "dict":
            values.append(
                {key: make(f"{arg.name}[{key}]", index, j, arg.items[j]) for j, key in enumerate(arg.keys)}
            )
        else:
            values.append(make(arg.name, index, 0, arg.items[0]))
    return values, tensors


def describe(plan: Plan) -> str:
    """``shape (8, 5)``; ``2 inputs of shape (8, 1)``; ``x: (8, 3), t: list of 2 × (8, 1)``."""
    simple = all(a.kind == "tensor" and not a.items[0].integer for a in plan)
    if simple and len({a.shape for a in plan}) == 1:
        shape = plan[0].shape
        return f"shape {shape}" if len(plan) == 1 else f"{len(plan)} inputs of shape {shape}"
    return ", ".join(a.describe() for a in plan)


def all_float(plan: Plan) -> bool:
    return not any(item.integer for arg in plan for item in arg.items)


# ------------------------------------------------------------------------------------------ fitting


def fit(plan: Plan, mismatch: Mismatch, sources: Sequence[Slot]) -> Plan | None:
    """The plan changed so that the input `mismatch` names fits; None when no argument can be changed.

    `sources` are the example tensors the mismatching tensor was computed from (not through a layer).
    """
    args = list(plan)
    if mismatch.kind == "ids":
        return _fit_ids(args, mismatch, sources)
    slots = list(dict.fromkeys((i, j) for i, j, _ in sources if not plan[i].fixed))
    if not slots:
        return None
    if mismatch.kind == "channels":
        spatial = {3: (64,), 4: (32, 32), 5: (16, 16, 16)}.get(mismatch.ndim, ())
        for i, j in slots:
            shape = args[i].items[j].shape
            if len(shape) != mismatch.ndim:
                shape = (shape[0], mismatch.want, *spatial)
            elif shape[1] != mismatch.want:
                shape = (shape[0], mismatch.want, *shape[2:])
            else:
                shape = (*shape[:-1], mismatch.want)
            args[i] = args[i].with_item(j, shape=shape)
        return tuple(args)
    got = mismatch.tensor
    if got is None or got.dim() == 0:
        return None
    have, want = int(got.shape[-1]), mismatch.want
    dims = [len(args[i].items[j].shape) for i, j in slots]
    if len(slots) == 1 and dims[0] >= 3 and dims[0] > got.dim():
        return _fit_image(args, slots[0], have, want)
    by_list: dict[int, list[int]] = {}
    for i, j in slots:
        if args[i].kind == "list":
            by_list.setdefault(i, []).append(j)
    spread = [i for i, elements in by_list.items() if len(elements) > 1 or len(slots) > 1]
    if spread:  # torch.cat([*xs, t]): one feature per item, the list as long as the features left
        i = spread[-1]
        others = [(a, b) for a, b in slots if a != i]
        count = want - len(others)
        if count < 1:
            return None
        for a, b in others:
            args[a] = args[a].with_item(b, shape=(*args[a].items[b].shape[:-1], 1))
        base = args[i].items[by_list[i][0]]
        args[i] = replace(args[i], items=(replace(base, shape=(*base.shape[:-1], 1)),) * count)
        return tuple(args)
    if len(slots) == 1:
        i, j = slots[0]
        shape = args[i].items[j].shape
        width = shape[-1] + (want - have)
        args[i] = args[i].with_item(j, shape=(*shape[:-1], width if width > 0 else want))
        return tuple(args)
    widths = [want // len(slots)] * len(slots)
    if want % len(slots):
        widths = [1] * (len(slots) - 1) + [want - (len(slots) - 1)]
    if min(widths) < 1:
        return None
    for (i, j), width in zip(slots, widths, strict=True):
        args[i] = args[i].with_item(j, shape=(*args[i].items[j].shape[:-1], width))
    return tuple(args)


def _fit_image(args: list[ArgPlan], slot: tuple[int, int], have: int, want: int) -> Plan | None:
    """An image flattened into a Linear: scale its spatial size so that the flattened width fits."""
    i, j = slot
    shape = args[i].items[j].shape
    scale = (want / have) ** (1 / len(shape[2:]))
    sizes = [size * scale for size in shape[2:]]
    if not all(abs(s - round(s)) < 1e-6 and round(s) >= 1 for s in sizes):
        return None
    args[i] = args[i].with_item(j, shape=(*shape[:2], *(round(s) for s in sizes)))
    return tuple(args)


def _fit_ids(args: list[ArgPlan], mismatch: Mismatch, sources: Sequence[Slot]) -> Plan | None:
    """Integer ids below `want` for the items the tensor came from; with none (positions from
    ``arange(T)``), shorter integer sequences."""
    changed = False
    slots = list(dict.fromkeys((i, j) for i, j, _ in sources))
    if not slots:
        for i, arg in enumerate(args):
            for j, item in enumerate(arg.items):
                if item.integer and not arg.fixed and len(item.shape) >= 2 and item.shape[1] > mismatch.want:
                    shape = (item.shape[0], max(1, mismatch.want), *item.shape[2:])
                    args[i] = args[i].with_item(j, shape=shape)
                    changed = True
        return tuple(args) if changed else None
    for i, j in slots:
        item = args[i].items[j]
        if item.integer:
            if item.high > mismatch.want:
                args[i] = args[i].with_item(j, high=mismatch.want)
                changed = True
        elif not args[i].fixed_dtype:
            args[i] = args[i].with_item(j, dtype=torch.int64, high=mismatch.want)
            changed = True
    return tuple(args) if changed else None


# ----------------------------------------------------------------------------------------- checking


def check_layer_input(leaf: nn.Module, args: Sequence[Any]) -> Mismatch | None:
    """Does the first argument fit `leaf` (a Linear, an embedding, a conv, a norm)? None when it does."""
    from relulint.capture_leaves import custom_linear_weight

    if not args or not isinstance(args[0], torch.Tensor):
        return None
    x = args[0]
    if isinstance(leaf, nn.modules.lazy.LazyModuleMixin) and leaf.has_uninitialized_params():
        return None
    if isinstance(leaf, (nn.Embedding, nn.EmbeddingBag)):
        if x.is_floating_point() or (x.numel() and int(x.max()) >= leaf.num_embeddings):
            return Mismatch(x, "ids", leaf.num_embeddings)
        return None
    stated = getattr(leaf, "in_features", None)
    if isinstance(leaf, nn.Linear) and isinstance(stated, int):
        in_features = leaf.in_features
    elif custom_linear_weight(leaf) is not None and isinstance(stated, int):
        in_features = stated  # a custom layer may store its weight (in, out): only a stated width
    elif isinstance(leaf, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        ndim = (
            {nn.Conv1d: 3, nn.Conv2d: 4, nn.Conv3d: 5}[type(leaf)]
            if type(leaf) in (nn.Conv1d, nn.Conv2d, nn.Conv3d)
            else 0
        )
        if ndim and (x.dim() not in (ndim - 1, ndim) or x.shape[-ndim + 1] != leaf.in_channels):
            return Mismatch(x, "channels", leaf.in_channels, ndim)
        return None
    elif isinstance(leaf, nn.LayerNorm) and len(leaf.normalized_shape) == 1:
        in_features = leaf.normalized_shape[0]
    elif isinstance(leaf, nn.BatchNorm1d) and x.dim() == 2:
        in_features = leaf.num_features
    else:
        return None
    if x.dim() >= 1 and x.shape[-1] != in_features:
        return Mismatch(x, "width", in_features)
    return None


_MATMULS = {"linear": ("weight", 1), "matmul": ("other", 0), "mm": ("other", 0), "__matmul__": ("other", 0)}


def check_function_input(
    name: str, args: Sequence[Any], kwargs: Mapping[str, Any], is_param: Any
) -> Mismatch | None:
    """A failing ``F.linear(x, W)`` / ``x @ W`` / ``F.embedding(x, W)`` / ``W[x]`` on a parameter `W`."""
    if len(args) < 2 or not isinstance(args[0], torch.Tensor):
        return None
    x, other = args[0], args[1]
    if not isinstance(other, torch.Tensor):
        return None
    if name in ("linear", "matmul", "mm", "__matmul__") and is_param(other) and other.dim() == 2:
        want = int(other.shape[1] if name == "linear" else other.shape[0])
        if x.dim() >= 1 and x.shape[-1] != want:
            return Mismatch(x, "width", want)
    if name == "embedding" and is_param(other) and x.is_floating_point():
        return Mismatch(x, "ids", int(other.shape[0]))
    if name == "__getitem__" and is_param(x) and other.is_floating_point():
        return Mismatch(other, "ids", int(x.shape[0]))
    return None


def is_lazy(module: nn.Module) -> bool:
    return any(
        isinstance(m, nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params()
        for m in module.modules()
    )
