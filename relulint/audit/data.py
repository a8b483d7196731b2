"""The audit's inputs and targets: a data file, or points drawn from the domain as the probe draws them.

Inputs: `x.npy`, `x.npz`, `x.pt`, `x.csv` (the probe's inputs, `relulint.datafiles.load_probe_data`), or
`x.npz:key`, `x.pt:key`, `x.csv:col1,col2` (a member, a dict key or list index, named columns), all read
by `relulint.datafiles`. Targets: the same forms (`y.csv:y`); one row per input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from relulint.datafiles import SUFFIXES, load_probe_data, row_chunks, split_spec
from relulint.errors import DataError


def read_array(spec: str, base: Path, what: str = "data") -> np.ndarray:
    """A 2-D float64 array (rows × columns) from a file spec, through the one data-file reader
    (`relulint.datafiles`); `DataError` with a hint otherwise."""
    path, key = split_spec(spec, base)
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(
            f"{what} file {spec}: unsupported format", hint="use .npy, .npz:key, .pt[:key], .csv[:cols]"
        )
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}", hint=f"check the path given to --{what}")
    if key is None:
        return load_probe_data(path)
    try:
        blocks = list(row_chunks(path, key, spec, what=f"{what} file", header=True))
    except ValueError as error:
        raise DataError(f"cannot read {what} file {spec}: {error}", hint="save one numeric array") from None
    arr = np.concatenate(blocks) if blocks else np.zeros((0, 1))
    if arr.size == 0:
        raise DataError(f"{what} file {spec} is empty", hint="one row per input")
    if not np.isfinite(arr).all():
        raise DataError(f"{what} file {spec} contains NaN or infinite values", hint="drop or fill them first")
    return arr


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
