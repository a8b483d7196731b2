"""The probe's input set D from a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from relulint.errors import DataError


def load_probe_data(path: str | Path) -> np.ndarray:
    """The probe's input set D from ``.npy``, ``.pt``/``.pth`` or ``.csv``: a 2-D float array (points × d_in).

    A 1-D array is one input per row (d_in = 1); trailing dimensions are flattened (``(n, 28, 28)`` →
    ``(n, 784)``). A ``.pt`` file holds a tensor, an array, or a dict with one tensor (or the key ``x``,
    ``inputs`` or ``data``). A ``.csv`` may have one header line. Raises `DataError` (one line + hint).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"probe data file not found: {p}", hint="--data takes a .npy, .pt or .csv file of inputs"
        )
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            raw: Any = np.load(p, allow_pickle=False)
        elif suffix in (".pt", ".pth"):
            raw = _load_pt(p)
        elif suffix == ".csv":
            raw = _load_csv(p)
        else:
            raise DataError(
                f"unknown probe data format {suffix or p.name!r}", hint="use a .npy, .pt or .csv file"
            )
    except DataError:
        raise
    except Exception as error:  # numpy / torch parse errors of any kind
        raise DataError(
            f"cannot read probe data {p}: {error}", hint="save the inputs as one numeric array"
        ) from None
    return _as_points(raw, p)


def _load_pt(path: Path) -> Any:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        for key in ("x", "inputs", "data", "X"):
            if key in obj:
                return obj[key]
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor | np.ndarray)]
        if len(tensors) != 1:
            raise DataError(
                f"{path} holds a dict of {len(tensors)} arrays; which one is the input?",
                hint="save one tensor, or a dict with the key 'x'",
            )
        return tensors[0]
    if isinstance(obj, list | tuple) and obj and isinstance(obj[0], torch.Tensor):
        return obj[0]  # (inputs, targets)
    return obj


def _load_csv(path: Path) -> np.ndarray:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if lines:
        try:
            [float(v) for v in lines[0].split(",")]
        except ValueError:
            lines = lines[1:]  # a header
    if not lines:
        raise DataError(f"probe data {path} has no rows", hint="one input per line, comma-separated")
    return np.array([[float(v) for v in line.split(",")] for line in lines], dtype=np.float64)


def _as_points(raw: Any, path: Path) -> np.ndarray:
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"probe data {path} is not numeric", hint="save the inputs as one float array"
        ) from None
    if arr.ndim == 0 or arr.size == 0:
        raise DataError(f"probe data {path} is empty or a scalar", hint="one input per row")
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)
    if not np.isfinite(arr).all():
        raise DataError(f"probe data {path} contains NaN or infinite values", hint="drop or fill them first")
    return arr
