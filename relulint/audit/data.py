"""The audit's inputs and targets: a data file, or points drawn from the domain as the probe draws them.

Inputs: `x.npy`, `x.pt`, `x.csv` through the probe's reader (`relulint.probe.load_probe_data`), and
`x.npz:key`, `x.pt:key`, `x.csv:col1,col2` (a member, a dict key, named columns) through
`read_array`. Targets: the same forms (`y.csv:y`); one row per input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relulint.errors import DataError

SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".csv")


def split_key(spec: str, base: Path) -> tuple[Path, str | None]:
    """`y.npz:key` → (path, "key"); a path that exists as written stays whole."""
    whole = base / spec
    if whole.exists():
        return whole, None
    head, sep, tail = spec.rpartition(":")
    if sep and head and Path(head).suffix.lower() in SUFFIXES:
        return base / head, tail
    return whole, None


def read_array(spec: str, base: Path, what: str = "data") -> np.ndarray:
    """A 2-D float64 array (rows × columns) from a file spec; `DataError` with a hint otherwise."""
    path, key = split_key(spec, base)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"{what} file {spec}: unsupported format", hint="use .npy, .npz:key, .pt[:key], .csv[:cols]"
        )
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}", hint=f"check the path given to --{what}")
    if key is None and suffix != ".npz":
        from relulint.probe import load_probe_data

        return load_probe_data(path)
    try:
        raw = _keyed(path, suffix, key)
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - numpy / torch parse errors
        raise DataError(f"cannot read {what} file {spec}: {error}", hint="save one numeric array") from None
    arr = np.asarray(raw, dtype=np.float64)
    if arr.ndim == 0 or arr.size == 0:
        raise DataError(f"{what} file {spec} is empty or a scalar", hint="one row per input")
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)
    if not np.isfinite(arr).all():
        raise DataError(f"{what} file {spec} contains NaN or infinite values", hint="drop or fill them first")
    return arr


def _keyed(path: Path, suffix: str, key: str | None) -> np.ndarray:
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if key is None:
                if len(names) != 1:
                    raise DataError(
                        f"{path} holds {len(names)} arrays; name one", hint=f"{path.name}:{names[0]}"
                    )
                key = names[0]
            if key not in names:
                raise DataError(f"{path}: no array {key!r}", hint=f"arrays: {', '.join(names)}")
            return archive[key]
    if suffix in (".pt", ".pth"):
        import torch

        loaded = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(loaded, dict):
            if key not in loaded:
                raise DataError(f"{path}: no key {key!r}", hint=f"keys: {', '.join(map(str, loaded))}")
            value = loaded[key]
        elif isinstance(loaded, (list, tuple)) and key is not None and key.lstrip("-").isdigit():
            value = loaded[int(key)]
        else:
            raise DataError(
                f"{path}: cannot select {key!r} from a {type(loaded).__name__}", hint="save a dict"
            )
        return value.detach().to(torch.float64).numpy() if isinstance(value, torch.Tensor) else value
    return _csv_columns(path, key or "")


def _csv_columns(path: Path, key: str) -> np.ndarray:
    """The named (or 0-based numbered) columns of a CSV file with a header row."""
    import csv

    with path.open(newline="", encoding="utf-8") as stream:
        rows = [row for row in csv.reader(stream) if row]
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows", hint="a header row, then one row per input")
    header = [h.strip() for h in rows[0]]
    columns = []
    for name in (part.strip() for part in key.split(",")):
        if name in header:
            columns.append(header.index(name))
        elif name.isdigit() and int(name) < len(header):
            columns.append(int(name))
        else:
            raise DataError(f"{path}: no column {name!r}", hint=f"columns: {', '.join(header)}")
    return np.array([[float(row[c]) for c in columns] for row in rows[1:]], dtype=np.float64)


def domain_points(
    d_in: int, points: int, domain: tuple[float, float] | None, seed: int
) -> tuple[np.ndarray, str]:
    """`points` inputs uniform on the domain (default [-√3, √3]^d_in, `dying` §5), drawn as the probe
    draws its D (`numpy.random.default_rng([seed, 2])`), and how to describe them."""
    from relulint.probe.plan import DEFAULT_HALF_WIDTH

    lo, hi = domain if domain is not None else (-DEFAULT_HALF_WIDTH, DEFAULT_HALF_WIDTH)
    rng = np.random.default_rng([seed, 2])
    xs = rng.uniform(lo, hi, size=(max(1, points), d_in))
    return xs, f"domain: {len(xs)} points uniform on [{lo:.4g}, {hi:.4g}]^{d_in} (no --data)"
