"""Numeric arrays from data files, for the probe's inputs (``--data``) and the training targets (``--targets``).

One reader, built on numpy, for ``.npy``, ``.npz[:key]``, ``.pt``/``.pth[:key]`` and ``.csv[:column]``:
:func:`row_chunks` yields a file's array as float64 blocks of whole rows (``rows x columns``; a 1-D array is
one column, trailing dimensions are flattened), never the whole file at once where the format allows it:

* ``.npy``: ``np.load(mmap_mode="r")``: memory-mapped, each block reads only its own rows;
* ``.npz``: the member is decompressed as it is read (zip stream, numpy's own ``.npy`` header reader); a
  Fortran-order member of more than one column is read whole (its bytes run column after column);
* ``.pt``: ``torch.load(weights_only=True, mmap=True)`` (a tensor saved by ``torch.save`` is memory-mapped;
  the container must unpickle);
* ``.csv``: streamed row by row (a header row names the columns).

:class:`ChunkedMoments` folds the blocks into per-column means and variances (Chan, Golub and LeVeque's
pairwise update), :func:`array_moments` is that over a file (the targets' γ, `momentum` Eq. 1), and
:func:`load_probe_data` reads the probe's (small) input set whole. Every failure is a `DataError` with a
one-line message and a hint.
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from relulint.errors import DataError

__all__ = [
    "CHUNK",
    "SUFFIXES",
    "ChunkedMoments",
    "array_moments",
    "load_probe_data",
    "row_chunks",
    "split_spec",
]

CHUNK = 1 << 20  # values per block
SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".csv")
PROBE_KEYS = ("x", "inputs", "data", "X")  # a .pt dict's entry the probe takes for its inputs
_PT_HINT = "save one tensor with torch.save(tensor) or torch.save({'y': tensor}) and pass FILE.pt[:key]"


class ChunkedMoments:
    """Per-column count, mean and sum of squared deviations, merged block by block (Chan et al.: the means
    and sums of squares of two blocks combine exactly, so the result does not depend on the block size
    beyond rounding)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: Any = None
        self.m2: Any = None

    def update(self, block: np.ndarray) -> None:
        """Add a block (rows, columns) of float64 values; ``ValueError`` for a non-finite value."""
        rows = block.shape[0]
        if rows == 0:
            return
        if not np.isfinite(block).all():
            raise ValueError("non-finite value (nan or inf)")
        mean = block.mean(axis=0)
        m2 = ((block - mean) ** 2).sum(axis=0)
        if self.n == 0:
            self.n, self.mean, self.m2 = rows, mean, m2
            return
        total = self.n + rows
        delta = mean - self.mean
        self.mean = self.mean + delta * (rows / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.n * rows / total)
        self.n = total

    def stds(self) -> list[float]:
        """Population standard deviation of each column (ddof = 0, as σ̂ in `momentum` Eq. 1)."""
        if self.n == 0:
            return []
        return [math.sqrt(max(float(v), 0.0) / self.n) for v in self.m2]


def split_spec(spec: str, base_dir: Path) -> tuple[Path, str | None]:
    """``y.npz:key`` → (path, "key"); a drive letter or an existing file name containing ':' stays whole."""
    whole = base_dir / spec
    if whole.exists():
        return whole, None
    head, sep, tail = spec.rpartition(":")
    if sep and head and Path(head).suffix.lower() in SUFFIXES:
        return base_dir / head, tail
    return whole, None


def array_moments(
    path: Path, key: str | None, spec: str, *, what: str = "targets file", chunk: int = CHUNK
) -> ChunkedMoments:
    """The per-column moments of the array in ``path`` (``key``: the ``.npz`` member, ``.pt`` entry or
    ``.csv`` column), read in blocks of about ``chunk`` values. Raises `DataError` for a missing file, an
    unknown format or bad contents, ``ValueError`` for a non-finite value."""
    moments = ChunkedMoments()
    for block in row_chunks(path, key, spec, what=what, chunk=chunk):
        moments.update(block)
    return moments


def row_chunks(
    path: Path,
    key: str | None,
    spec: str,
    *,
    what: str = "targets file",
    chunk: int = CHUNK,
    pick: Callable[[Any, str], Any] | None = None,
    header: bool | None = True,
) -> Iterator[np.ndarray]:
    """The array of ``path`` as float64 blocks of whole rows (about ``chunk`` values each).

    ``what`` names the file in messages (``"targets file"``, ``"probe data"``). ``pick(loaded, spec)`` chooses
    the tensor of a ``.pt`` file when no ``key`` is given (default: its only entry). ``header`` (``.csv``):
    True, the first row names the columns; None, it does when it is not all numbers. A ``.csv`` without a
    ``key`` gives all its columns only where ``header`` is not True (else it must have one column).
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{what} {spec}: unsupported format {suffix or '(none)'}",
            hint="use .npy, .npz[:key], .pt[:key] or .csv[:column]",
        )
    if not path.is_file():
        raise DataError(f"{what} {path} not found", hint=f"check the path of the {what}")
    try:
        if suffix == ".npy":
            if key:
                raise DataError(
                    f"{what} {spec}: a .npy file holds one array, no key", hint=f"use {path.name}"
                )
            yield from _blocks(_npy(path, spec, what), chunk)
        elif suffix == ".npz":
            yield from _npz(path, key, spec, what, chunk)
        elif suffix in (".pt", ".pth"):
            yield from _blocks(_pt(path, key, spec, what, pick), chunk)
        else:
            yield from _csv(path, key, spec, what, chunk, header)
    except (DataError, ValueError):
        raise
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"cannot read {what} {spec}: {_first_line(exc)}", hint="is the file complete?"
        ) from None


def load_probe_data(path: str | Path) -> np.ndarray:
    """The probe's input set D from ``.npy``, ``.npz``, ``.pt``/``.pth`` or ``.csv``: a 2-D float array
    (points × d_in).

    A 1-D array is one input per row (d_in = 1); trailing dimensions are flattened (``(n, 28, 28)`` →
    ``(n, 784)``). A ``.npz`` holds one array; a ``.pt`` file a tensor, an array, a dict with one tensor (or
    the key ``x``, ``inputs`` or ``data``), or ``(inputs, targets)``. A ``.csv`` may have one header line.
    Raises `DataError` (one line + hint).
    """
    p = Path(path)
    try:
        blocks = list(row_chunks(p, None, str(p), what="probe data", pick=_probe_pick, header=None))
    except ValueError as error:
        raise DataError(f"probe data {p}: {error}", hint="save the inputs as one numeric array") from None
    arr = np.concatenate(blocks) if blocks else np.zeros((0, 1))
    if arr.size == 0:
        raise DataError(f"probe data {p} is empty", hint="one input per row")
    if not np.isfinite(arr).all():
        raise DataError(f"probe data {p} contains NaN or infinite values", hint="drop or fill them first")
    return arr


# ----------------------------------------------------------------------------------------------- formats


def _blocks(array: Any, chunk: int) -> Iterator[np.ndarray]:
    """Blocks of whole rows of ``array`` (numpy, memory-mapped or not, or a tensor) as float64 (rows, cols)."""
    rows = int(array.shape[0]) if array.ndim else 1
    flat = array.reshape(rows, -1) if array.ndim != 1 else array.reshape(rows, 1)
    step = max(1, chunk // max(1, int(flat.shape[1])))
    for start in range(0, rows, step):
        block = flat[start : start + step]
        yield np.asarray(_numpy(block), dtype=np.float64)


def _numpy(block: Any) -> Any:
    """A tensor block as numpy (float64: bf16 and the like have no numpy dtype), an array as it is."""
    if hasattr(block, "detach"):
        import torch

        return block.detach().to(device="cpu", dtype=torch.float64).numpy()
    return block


def _numeric(dtype: np.dtype, spec: str, what: str) -> None:
    if dtype.hasobject or dtype.kind not in "biuf":
        raise DataError(f"{what} {spec}: dtype {dtype} is not numeric", hint="save the values as floats")


def _npy(path: Path, spec: str, what: str) -> np.ndarray:
    """``np.load(mmap_mode="r")``, after numpy's own check of the header (a clear error for other files)."""
    with path.open("rb") as stream:
        try:
            version = np.lib.format.read_magic(stream)
            _header(stream, version)
        except ValueError:
            raise DataError(
                f"cannot read {what} {spec}: not a .npy file", hint="save it with np.save"
            ) from None
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # the data are shorter than the header says
        raise DataError(f"{what} {spec} is truncated ({exc})", hint="re-save the array") from None
    _numeric(array.dtype, spec, what)
    return array


def _header(stream: IO[bytes], version: tuple[int, int]) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    if version == (1, 0):
        return fmt.read_array_header_1_0(stream)
    return fmt.read_array_header_2_0(stream)


def _npz(path: Path, key: str | None, spec: str, what: str, chunk: int) -> Iterator[np.ndarray]:
    """A ``.npz`` member, decompressed as it is read: numpy's header reader, then blocks of whole rows."""
    with zipfile.ZipFile(path) as archive:
        names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
        if key is None:
            if len(names) != 1:
                raise DataError(
                    f"{what} {path.name} holds {len(names)} arrays; name one",
                    hint=f"{path.name}:KEY (arrays: {', '.join(names) or 'none'})",
                )
            key = names[0]
        if key not in names:
            raise DataError(
                f"{what} {path.name} has no array {key!r}",
                hint=f"choose one of: {', '.join(names) or '(none)'}",
            )
        with archive.open(f"{key}.npy") as stream:
            shape, fortran, dtype = _header(stream, np.lib.format.read_magic(stream))
            _numeric(dtype, spec, what)
            rows = shape[0] if shape else 1
            columns = math.prod(shape[1:]) if len(shape) > 1 else 1
            if fortran and columns > 1:  # column after column: read it whole, then in rows
                count = rows * columns
                data = _read_exactly(stream, count * dtype.itemsize, spec, what)
                array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F")
                yield from _blocks(array, chunk)
                return
            step = max(1, chunk // columns)
            for start in range(0, rows, step):
                take = min(step, rows - start)
                data = _read_exactly(stream, take * columns * dtype.itemsize, spec, what)
                yield np.frombuffer(data, dtype=dtype).astype(np.float64).reshape(take, columns)


def _read_exactly(stream: IO[bytes], size: int, spec: str, what: str) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise DataError(f"{what} {spec} is truncated", hint="re-save the array")
    return data


def _pt(path: Path, key: str | None, spec: str, what: str, pick: Callable[[Any, str], Any] | None) -> Any:
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # not a zip-format checkpoint (legacy torch.save): cannot memory-map
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
            raise DataError(f"cannot load {what} {spec}: {_first_line(exc)}", hint=_PT_HINT) from None
    except Exception as exc:  # noqa: BLE001 - pickle errors, UnpicklingError for non-weights content
        raise DataError(f"cannot load {what} {spec}: {_first_line(exc)}", hint=_PT_HINT) from None
    chosen = _select(loaded, key, spec, what) if key is not None or pick is None else pick(loaded, spec)
    if isinstance(chosen, np.ndarray):
        _numeric(chosen.dtype, spec, what)
        return chosen
    if not isinstance(chosen, torch.Tensor):
        raise DataError(f"{what} {spec} holds a {type(chosen).__name__}, not a tensor", hint=_PT_HINT)
    if chosen.is_complex() or chosen.dtype == torch.bool:
        raise DataError(f"{what} {spec}: dtype {chosen.dtype} is not a real number type", hint=_PT_HINT)
    return chosen


def _select(loaded: Any, key: str | None, spec: str, what: str) -> Any:
    """A ``.pt`` file's tensor: the file's object (or its only entry), or ``loaded[key]``."""
    if key is None:
        if isinstance(loaded, Mapping) and len(loaded) == 1:
            return next(iter(loaded.values()))
        if isinstance(loaded, Mapping):
            raise DataError(
                f"{what} {spec} holds a dict; name the tensor", hint=f"keys: {', '.join(map(str, loaded))}"
            )
        return loaded
    if isinstance(loaded, Mapping):
        if key not in loaded:
            raise DataError(f"{what} {spec}: no key {key!r}", hint=f"keys: {', '.join(map(str, loaded))}")
        return loaded[key]
    if (
        isinstance(loaded, list | tuple)
        and key.lstrip("-").isdigit()
        and -len(loaded) <= int(key) < len(loaded)
    ):
        return loaded[int(key)]
    raise DataError(f"{what} {spec}: cannot select {key!r} from a {type(loaded).__name__}", hint=_PT_HINT)


def _probe_pick(loaded: Any, spec: str) -> Any:
    """The probe's inputs in a ``.pt`` file: a dict's ``x``/``inputs``/``data`` entry or its only array, the
    first of ``(inputs, targets)``, or the object itself."""
    if isinstance(loaded, Mapping):
        for key in PROBE_KEYS:
            if key in loaded:
                return loaded[key]
        arrays = [v for v in loaded.values() if hasattr(v, "shape")]
        if len(arrays) != 1:
            raise DataError(
                f"{spec} holds a dict of {len(arrays)} arrays; which one is the input?",
                hint="save one tensor, or a dict with the key 'x'",
            )
        return arrays[0]
    if isinstance(loaded, list | tuple) and loaded and hasattr(loaded[0], "shape"):
        return loaded[0]
    return loaded


def _csv(
    path: Path, key: str | None, spec: str, what: str, chunk: int, header: bool | None
) -> Iterator[np.ndarray]:
    """Blocks of a CSV file's numbers, row by row (blank rows skipped): one column (``key``: a name or a
    0-based index) or all of them."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        rows = (row for row in reader if any(cell.strip() for cell in row))
        first = next(rows, None)
        if first is None:
            raise DataError(f"{what} {spec} is empty", hint="one value per row, comma-separated")
        names = [cell.strip() for cell in first]
        has_header = header is True or (header is None and not _all_numbers(names))
        columns = _csv_columns(names, has_header, key, path, what, every=header is not True)
        width = len(columns)
        buffer: list[list[float]] = []
        if not has_header:
            buffer.append([_csv_number(first, c, names, False, reader.line_num, path, what) for c in columns])
        for row in rows:
            buffer.append(
                [_csv_number(row, c, names, has_header, reader.line_num, path, what) for c in columns]
            )
            if len(buffer) * width >= chunk:
                yield np.asarray(buffer, dtype=np.float64)
                buffer.clear()
        if buffer:
            yield np.asarray(buffer, dtype=np.float64)


def _all_numbers(cells: Sequence[str]) -> bool:
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return True


def _csv_columns(
    names: list[str], has_header: bool, key: str | None, path: Path, what: str, *, every: bool
) -> list[int]:
    """The columns read: ``key`` (a header name or a 0-based index, or several of them separated by commas);
    without one, all of them (``every``) or the only one."""
    if key is None:
        if every or len(names) == 1:
            return list(range(len(names)))
        raise DataError(
            f"{what} {path.name} has {len(names)} columns; name one",
            hint=f"{path.name}:COLUMN (columns: {', '.join(names)})",
        )
    parts = [key] if has_header and key in names else [part.strip() for part in key.split(",")]
    columns = []
    for part in parts:
        if has_header and part in names:
            columns.append(names.index(part))
        elif part.isdigit() and int(part) < len(names):
            columns.append(int(part))
        else:
            raise DataError(f"{what} {path.name} has no column {part!r}", hint=f"columns: {', '.join(names)}")
    return columns


def _csv_number(
    row: list[str], column: int, names: list[str], has_header: bool, line: int, path: Path, what: str
) -> float:
    cell = row[column].strip() if column < len(row) else ""
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        name = f"column {names[column]!r}" if has_header and column < len(names) else f"column {column}"
        raise DataError(
            f"{what} {path.name}: row {line}, {name}: {cell!r} is not a finite number",
            hint="the values must be numeric; clean the file or choose another column",
        )
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
