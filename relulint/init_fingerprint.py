"""Classify a parameter's values: what they say of its init (`fingerprint`).

Why it matters: `dying` Thm 3.2 (= `collapse` Thm 8) bounds the born-dead probability for weights drawn from
*symmetric* laws, whatever their scale (He, Xavier, LeCun, PyTorch's default, orthogonal, LSUV: `collapse`
§5.1, `dying` §4.3), while RAI (`dying` §4.1) breaks the symmetry; the length map (`collapse` Eq. 2–3,
`dying` Thm 4.3) needs σ_w² = fan_in · Var(W).

:func:`fingerprint` — what the values themselves say: zero, constant (positive bias), orthogonal rows,
the RAI signature (one positive outlier per row over a Gaussian bulk), symmetric or not (mean and sign
tests against their standard errors), the law's shape (uniform vs normal vs truncated: range and
kurtosis) and σ² = fan_in · Var(W), named after the init it matches (He, Xavier, LeCun, PyTorch default).
Statistics run on a bounded sample of whole rows (`SAMPLE_ENTRIES`, `sample_rows`), in float64 whatever the
dtype (bf16 included), so time and memory stay flat in the layer's size; exact classes read every entry.
The record of the init calls is `relulint.init_recorder`; the two are reconciled in `relulint.init_reconcile`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from relulint.records.model_facts import InitInfo

__all__ = [
    "as_float64",
    "fans",
    "fingerprint",
    "rounding_unit",
    "sample_row_index",
    "sample_rows",
    "sample_values",
]

MIN_ENTRIES = 32  # below this, statistics are too weak: trust the record
SHAPE_MIN_ENTRIES = 256  # below this, uniform vs normal is only a guess (not used to overrule a record)
Z_ASYMMETRY = 5.0  # |z| beyond which mean or sign imbalance means "not symmetric about zero"
RAI_MIN_FAN_IN = 16  # the RAI outlier test needs the positive entry to stand out of a Gaussian row
RAI_MIN_ROWS = 8
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


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) as ``torch.nn.init`` computes them (receptive field included)."""
    if len(shape) < 2:
        return (int(shape[0]) if shape else 1), 1
    receptive = math.prod(int(s) for s in shape[2:]) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def _detached(tensor: Any) -> Any:
    """The tensor detached, or None when it has no values (meta device, not a tensor)."""
    try:
        t = tensor.detach()
        return None if t.is_meta else t
    except (RuntimeError, TypeError, AttributeError):
        return None


def as_float64(t: Any) -> Any:
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


def sample_values(tensor: Any) -> Any:
    """A bounded sample of the tensor's values as a float64 numpy array, shaped ``(rows, columns)`` for a
    weight (whole rows, `sample_rows`) and flat otherwise; None when it has no data (meta device)."""
    t = _detached(tensor)
    if t is None:
        return None
    if t.dim() >= 2:
        return as_float64(sample_rows(t.reshape(t.shape[0], -1)))
    flat = t.reshape(-1)
    if flat.numel() > SAMPLE_ENTRIES:
        flat = flat.index_select(0, _sample_index(flat.numel(), SAMPLE_ENTRIES).to(flat.device))
    return as_float64(flat)


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
    return as_float64(matrix.T)


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


def rounding_unit(tensor: Any) -> float:
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

    x = sample_values(tensor)
    if x is None or x.size == 0:
        return InitInfo("unknown", None, note="no values to fingerprint (meta or empty tensor)")
    shape = tuple(int(d) for d in tensor.shape)
    w_fan_in, w_fan_out = fans(shape)
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
        ortho, c = _orthogonal(vectors, max(ORTHOGONAL_TOL, 2 * rounding_unit(tensor)))
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
