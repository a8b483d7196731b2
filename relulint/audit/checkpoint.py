"""Read a checkpoint's weights without running anything in it, and put them into the built model.

`torch.load(..., weights_only=True)` always: the unpickler then rebuilds tensors, numbers, strings and
containers only, and refuses any other global, so no code in the file runs (a checkpoint that needs one
is a `DataError`, exit 2). `.safetensors` files are read by the `safetensors` package when installed.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relulint.errors import DataError

#: the keys under which training loops store the model's state dict, tried in this order
STATE_KEYS = ("model_state_dict", "state_dict", "model", "model_state", "net", "network", "module", "weights")
#: prefixes that wrappers add to every key (DataParallel, Lightning's `self.model`, torch.compile)
PREFIXES = ("module.", "model.", "_orig_mod.", "net.")
SHOWN = 3  # names shown in an error


@dataclass(frozen=True)
class Weights:
    """A state dict and where it was found in the file."""

    state: dict[str, Any]
    key: str | None  # the checkpoint dict's key holding it; None: the file is the state dict
    prefix: str | None = None  # a wrapper prefix removed from every key


def read_checkpoint(path: str | Path, display: str | None = None) -> Any:
    """The file's object, read without unpickling arbitrary objects (`DataError` if it needs to);
    `display` names the file in errors (as the user wrote it)."""
    file = Path(path)
    shown = display or str(file)
    if not file.is_file():
        raise DataError(f"weights file not found: {shown}", hint="--weights takes a torch.save'd state_dict")
    if file.suffix.lower() == ".safetensors":
        return _read_safetensors(file)
    import torch

    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Unsupported global" not in text and "Unsupported class" not in text:
            # not a refusal of an object: a damaged or foreign file ("Unsupported operand", a bad load key)
            reason = next((line.strip() for line in text.splitlines() if "Unsupported" in line), "")
            raise DataError(
                f"cannot read weights {shown}: not a torch.save file{f' ({reason})' if reason else ''}",
                hint="is it a file written by torch.save?",
            ) from None
        what = _refused_global(text)
        raise DataError(
            f"refusing to load {shown}: it needs arbitrary unpickling{what}, and relulint loads weights only "
            "(torch.load weights_only=True); nothing in it was run",
            hint="save the weights alone: torch.save(model.state_dict(), 'weights.pt')",
        ) from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"cannot read weights {shown}: {first}", hint="is it a file written by torch.save?"
        ) from None


def _refused_global(message: str) -> str:
    """` (it holds pkg.Name)` from torch's weights-only error text, when it names the global."""
    import re

    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    return f" (it holds {match.group(1)})" if match else ""


def _read_safetensors(file: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise DataError(
            f"{file} is a .safetensors file and the safetensors package is not installed",
            hint="pip install safetensors",
        ) from None
    try:
        return dict(load_file(str(file), device="cpu"))
    except Exception as error:  # noqa: BLE001
        raise DataError(f"cannot read weights {file}: {error}", hint="is the file complete?") from None


def _is_state_dict(value: Any) -> bool:
    import torch

    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) for k in value)
        and all(isinstance(v, torch.Tensor) for v in value.values())
    )


def find_state_dict(obj: Any, expected: Mapping[str, Any]) -> Weights:
    """The state dict in a checkpoint: the object itself, or the first of `STATE_KEYS` holding one (an
    `nn.Module` saved whole cannot come here: weights-only loading refuses it)."""
    if _is_state_dict(obj):
        return _strip_prefix(dict(obj), None, expected)
    if isinstance(obj, Mapping):
        for key in STATE_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return _strip_prefix(dict(obj[key]), key, expected)
        nested = [k for k, v in obj.items() if _is_state_dict(v)]
        if len(nested) == 1:
            return _strip_prefix(dict(obj[nested[0]]), str(nested[0]), expected)
        keys = ", ".join(map(str, list(obj)[:8]))
        raise DataError(
            f"no state dict found in the checkpoint (its keys: {keys})",
            hint=f"store it under one of {', '.join(STATE_KEYS[:3])}, or save model.state_dict() alone",
        )
    raise DataError(
        f"the checkpoint holds a {type(obj).__name__}, not a state dict",
        hint="save model.state_dict() with torch.save",
    )


def _strip_prefix(state: dict[str, Any], key: str | None, expected: Mapping[str, Any]) -> Weights:
    """Remove a wrapper prefix (`module.`, `model.`) when the keys match the model only without it."""
    if set(state) & set(expected):
        return Weights(state, key)
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix) :]: v for k, v in state.items()}
            if set(stripped) & set(expected):
                return Weights(stripped, key, prefix)
    return Weights(state, key)


def check_compatible(state: Mapping[str, Any], expected: Mapping[str, Any], source: str) -> None:
    """Missing, unexpected or mis-shaped keys: a `DataError` naming the first few."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} ≠ {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected {_first(unexpected)}")
    if shapes:
        problems.append(f"mis-shaped {_first(shapes)}")
    if problems:
        raise DataError(
            f"the weights in {source} do not fit the model: {'; '.join(problems)}",
            hint="build the model with the arguments it was trained with (--kwargs '{...}')",
        )


def _first(names: list[str]) -> str:
    more = f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def load_weights(module: Any, path: str | Path, display: str | None = None) -> Weights:
    """Read `path` safely and load its state dict into `module` (strict); returns where it was found."""
    expected = module.state_dict()
    weights = find_state_dict(read_checkpoint(path, display), expected)
    where = f"{display or path}" + (f" [{weights.key!r}]" if weights.key else "")
    check_compatible(weights.state, expected, where)
    import torch

    with torch.no_grad():
        module.load_state_dict(weights.state, strict=True)
    return weights
