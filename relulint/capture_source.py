"""Reading the model's source (never running it): what the capture cannot learn from a forward pass.

- `functional_relu_leaves`: the leaf modules whose output goes through a functional ReLU (``F.relu``,
  ``torch.relu``, ``x.relu()``, ``relu_``, ``clamp(min=0)``, ``clamp_min(0)``) in `forward` or the methods
  it calls. The registration-order capture uses it when `forward` cannot run, so that a Linear followed by
  ``F.relu`` is still a ReLU layer.
- `argument_hints`: how `forward` uses each argument (a list / tuple of tensors, a dict with string keys),
  from annotations and subscripts; the example inputs of the hooks capture are built from it.
- `uses_python_random`: whether a `forward` of the model reads Python's (or numpy's) global `random`,
  so that its depth may change from call to call.

Every function returns an empty answer when the source cannot be read (a class defined in a notebook
cell, a C extension): the caller then says the verdict is incomplete.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.nn import functional as F

RELU_FUNCTIONS = frozenset({"relu", "relu_"})
RANDOM_NAMES = frozenset(
    {"random", "randint", "randrange", "choice", "choices", "uniform", "shuffle", "sample", "getrandbits"}
)
_SEQUENCE_ANNOTATIONS = ("list", "tuple", "sequence", "iterable")
_MAPPING_ANNOTATIONS = ("dict", "mapping")


@dataclass
class ArgumentHint:
    """How `forward` uses one argument: ``kind`` is "tensor", "list" or "dict" (``keys`` read by name)."""

    kind: str = "tensor"
    keys: list[str] = field(default_factory=list)
    sequence_use: bool = False  # starred, iterated, len()-ed or indexed by an integer in the source
    count: int = 1  # items read from it (``a, b = inputs``; ``inputs[1]``)


# ------------------------------------------------------------------------------------------ sources


def _function_tree(function: Any) -> ast.FunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None  # type: ignore[return-value]


def _user_class(module: nn.Module) -> bool:
    return not type(module).__module__.startswith(("torch.", "torch_"))


def entry_functions(module: nn.Module) -> list[ast.FunctionDef]:
    """`forward` and the methods of the class it calls (``self.encode(x)``), or, without a `forward`,
    every method the class defines (``__call__``, ``predict``): the code that uses the submodules."""
    cls = type(module)
    names: list[str] = []
    if "forward" in _class_methods(cls):
        names.append("forward")
    else:
        names.extend(n for n in _class_methods(cls) if n != "__init__")
    trees: list[ast.FunctionDef] = []
    seen: set[str] = set()
    while names:
        name = names.pop(0)
        if name in seen:
            continue
        seen.add(name)
        tree = _function_tree(_class_methods(cls)[name])
        if tree is None:
            continue
        trees.append(tree)
        for call in _calls(tree):
            path = _self_path(call.func)
            if path and len(path) == 1 and path[0] in _class_methods(cls) and path[0] not in seen:
                names.append(path[0])
    return trees


def _class_methods(cls: type) -> dict[str, Any]:
    """Methods defined by the user's classes in the MRO (torch's own classes excluded)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith(("torch", "builtins")) or klass is object:
            continue
        for name, value in vars(klass).items():
            if isinstance(value, types.FunctionType):
                out[name] = value
    return out


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _self_path(node: ast.AST) -> list[str] | None:
    """``self.a.b`` → ``["a", "b"]``; ``self.layers[2]`` → ``["layers", "2"]``; else None."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if not isinstance(node.slice.value, int):
                return None
            parts.append(str(node.slice.value))
            node = node.value
        elif isinstance(node, ast.Name) and node.id == "self":
            return list(reversed(parts))
        else:
            return None


# ------------------------------------------------------------------------------- functional ReLUs


def functional_relu_leaves(module: nn.Module) -> set[str]:
    """Qualified names of the leaf modules whose output a functional ReLU takes (see the module doc)."""
    from relulint.capture_leaves import is_leaf_module

    out: set[str] = set()

    def visit(prefix: str, sub: nn.Module) -> None:
        if _user_class(sub):
            for tree in entry_functions(sub):
                for path in _ReluReader(sub).read(tree):
                    out.update(f"{prefix}{leaf}" for leaf in _last_leaves(sub, path))
        for name, child in sub.named_children():
            if child is not None and not is_leaf_module(child):
                visit(f"{prefix}{name}.", child)

    visit("", module)
    return out


def _last_leaves(root: nn.Module, path: str) -> list[str]:
    """The leaf a call of submodule `path` ends with (its last leaf, for a container or a block)."""
    from relulint.capture_leaves import effective_leaves, is_leaf_module

    try:
        sub = root.get_submodule(path)
    except AttributeError:
        return []
    if is_leaf_module(sub):
        return [path]
    leaves = effective_leaves(sub)
    return [f"{path}.{leaves[-1][0]}"] if leaves else []


class _ReluReader:
    """One function body: which submodule calls feed a functional ReLU."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.bound: dict[str, list[str]] = {}  # variable → submodule paths whose output it holds
        self.loop_modules: dict[str, list[str]] = {}  # loop variable → the submodules it runs over
        self.found: list[str] = []

    def read(self, tree: ast.FunctionDef) -> list[str]:
        self._block(tree.body)
        return self.found

    def _block(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self._statement(statement)

    def _statement(self, statement: ast.stmt) -> None:
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            self._loop_target(statement.target, statement.iter)
            self._block(statement.body)
            self._block(statement.body)  # a second pass: `h` assigned at the end feeds the ReLU at the start
            self._block(statement.orelse)
            return
        for child in ast.iter_child_nodes(statement):
            if isinstance(child, ast.expr):
                self._expression(child)
        if isinstance(statement, (ast.If, ast.While, ast.With, ast.Try)):
            for name in ("body", "orelse", "finalbody"):
                self._block(getattr(statement, name, []) or [])
            for handler in getattr(statement, "handlers", []) or []:
                self._block(handler.body)
        if isinstance(statement, ast.Assign):
            modules = self._producers(statement.value)
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    self.bound[target.id] = modules
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            self.bound[statement.target.id] = self._producers(statement.value) if statement.value else []

    def _loop_target(self, target: ast.expr, iterable: ast.expr) -> None:
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
            if iterable.func.id == "enumerate" and iterable.args and isinstance(target, ast.Tuple):
                if len(target.elts) == 2:
                    self._loop_target(target.elts[1], iterable.args[0])
                return
            if iterable.func.id == "zip" and isinstance(target, ast.Tuple):
                for element, source in zip(target.elts, iterable.args, strict=False):
                    self._loop_target(element, source)
                return
        if isinstance(target, ast.Name):
            self.loop_modules[target.id] = self._iterated(iterable)

    def _iterated(self, iterable: ast.expr) -> list[str]:
        """``self.layers`` / ``self.layers[:-1]`` → the qualified names of the items iterated."""
        window = None
        if isinstance(iterable, ast.Subscript) and isinstance(iterable.slice, ast.Slice):
            window = iterable.slice
            iterable = iterable.value
        path = _self_path(iterable)
        if path is None:
            return []
        try:
            container = self.module.get_submodule(".".join(path))
        except AttributeError:
            return []
        names = [f"{'.'.join(path)}.{name}" for name, _ in container.named_children()]
        if window is not None:
            bounds = []
            for part in (window.lower, window.upper):
                value = _int_constant(part)
                bounds.append(value)
            names = names[bounds[0] : bounds[1]]
        return names

    def _expression(self, expression: ast.expr) -> None:
        for call in _calls(expression):
            operand = self._relu_operand(call)
            if operand is not None:
                self.found.extend(self._producers(operand))

    def _relu_operand(self, call: ast.Call) -> ast.expr | None:
        """The tensor a ReLU-spelled call applies to, else None."""
        func = call.func
        name = (
            func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        )
        if name is None:
            return None
        method_on_tensor = isinstance(func, ast.Attribute) and not _is_namespace(func.value)
        if name in RELU_FUNCTIONS:
            if method_on_tensor and isinstance(func, ast.Attribute) and not call.args:
                return func.value  # x.relu()
            return call.args[0] if call.args else None
        if name in ("clamp", "clip", "clamp_min", "clamp_min_", "clamp_"):
            low = _keyword(call, "min")
            positional = call.args[0 if method_on_tensor else 1 :]
            if low is None and positional:
                low = positional[0]
            if _int_constant(low) == 0 or _float_zero(low):
                if method_on_tensor and isinstance(func, ast.Attribute):
                    return func.value
                return call.args[0] if call.args else None
            return None
        path = _self_path(func)
        if path is not None and self._is_relu_attribute(path):
            return call.args[0] if call.args else None  # self.act = F.relu; self.act(h)
        return None

    def _is_relu_attribute(self, path: list[str]) -> bool:
        owner: Any = self.module
        for part in path:
            owner = getattr(owner, part, None)
        return owner in (F.relu, F.relu_, getattr(__import__("torch"), "relu", None))

    def _producers(self, expression: ast.expr | None) -> list[str]:
        """Submodules whose output `expression` is (through views, slices and dropouts)."""
        if expression is None:
            return []
        if isinstance(expression, ast.Name):
            return list(self.bound.get(expression.id, []))
        if isinstance(expression, ast.Subscript):
            return self._producers(expression.value)
        if isinstance(expression, ast.Call):
            func = expression.func
            path = _self_path(func)
            if path is not None and not self._is_relu_attribute(path):
                target = ".".join(path)
                try:
                    sub = self.module.get_submodule(target)
                except AttributeError:
                    sub = None
                if isinstance(sub, nn.modules.dropout._DropoutNd) and expression.args:
                    return self._producers(expression.args[0])
                return [target] if isinstance(sub, nn.Module) else []
            if isinstance(func, ast.Name) and func.id in self.loop_modules:
                return list(self.loop_modules[func.id])
            if isinstance(func, ast.Attribute) and func.attr in ("view", "reshape", "flatten", "contiguous"):
                return self._producers(func.value)
            if isinstance(func, ast.Attribute) and func.attr == "dropout" and expression.args:
                return self._producers(expression.args[0])
        return []


def _is_namespace(node: ast.expr) -> bool:
    """``F``, ``torch``, ``nn.functional``, ``torch.nn.functional``: a module, not a tensor."""
    if isinstance(node, ast.Name):
        return node.id in ("F", "torch", "functional", "nnf", "tf")
    if isinstance(node, ast.Attribute):
        return node.attr in ("functional", "nn", "torch")
    return False


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _int_constant(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_constant(node.operand)
        return -inner if inner is not None else None
    return None


def _float_zero(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value == 0.0


# ---------------------------------------------------------------------------------------- arguments


def argument_hints(module: nn.Module) -> dict[str, ArgumentHint]:
    """Per argument of `forward`: a list / dict from its annotation, else from how the source uses it."""
    hints: dict[str, ArgumentHint] = {}
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return hints
    for name, parameter in signature.parameters.items():
        hints[name] = ArgumentHint(kind=_annotation_kind(parameter.annotation))
    forward = _class_methods(type(module)).get("forward")
    tree = _function_tree(forward) if forward is not None else None
    if tree is None:
        return hints
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in hints:
            hint = hints[node.value.id]
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                if key.value not in hint.keys:
                    hint.keys.append(key.value)
            elif (index := _int_constant(key)) is not None:
                hint.sequence_use = True
                hint.count = max(hint.count, index + 1 if index >= 0 else -index)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in hints:
            target = node.targets[0]
            if len(node.targets) == 1 and isinstance(target, (ast.Tuple, ast.List)):
                hints[node.value.id].sequence_use = True  # x_func, x_loc = inputs
                hints[node.value.id].count = len(target.elts)
        elif isinstance(node, ast.Starred) and isinstance(node.value, ast.Name) and node.value.id in hints:
            hints[node.value.id].sequence_use = True
        elif isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, ast.Name):
            if node.iter.id in hints:
                hints[node.iter.id].sequence_use = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in hints and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    if first.value not in hints[owner.id].keys:
                        hints[owner.id].keys.append(first.value)
    for hint in hints.values():
        if hint.kind == "tensor" and hint.keys:
            hint.kind = "dict"
    return hints


def _annotation_kind(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty or annotation is None:
        return "tensor"
    text = (
        annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "") or str(annotation)
    )
    origin = getattr(annotation, "__origin__", None)
    if origin is not None:
        text = getattr(origin, "__name__", str(origin))
    head = text.strip().split("[")[0].split(".")[-1].lower()
    if head in _SEQUENCE_ANNOTATIONS:
        return "list"
    if head in _MAPPING_ANNOTATIONS:
        return "dict"
    return "tensor"


# ------------------------------------------------------------------------------------------- random


def uses_python_random(module: nn.Module) -> bool:
    """Does a `forward` of the model (the root's or a user submodule's) name Python's or numpy's random?"""
    seen: set[type] = set()
    for sub in module.modules():
        cls = type(sub)
        if cls in seen or not _user_class(sub):
            continue
        seen.add(cls)
        for function in _class_methods(cls).values():
            if function.__name__ == "__init__":
                continue
            if _code_names(function.__code__) & RANDOM_NAMES:
                return True
    return False


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names
