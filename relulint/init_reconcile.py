"""Reconcile the record of an init with the fingerprint of its values (`resolve`, `describe_layer`).

Why it matters: `dying` Thm 3.2 (= `collapse` Thm 8) bounds the born-dead probability for weights drawn from
*symmetric* laws, whatever their scale, while RAI (`dying` §4.1) breaks the symmetry; the length map
(`collapse` Eq. 2–3, `dying` Thm 4.3) needs σ_w² = fan_in · Var(W). Two sources say what an init was: the
recorded call (`relulint.init_recorder`, read here by `info_from_event` with torch's formulas) and the values
(`relulint.init_fingerprint.fingerprint`).

:func:`resolve` / :func:`describe_layer` — reconcile the record with the fingerprint. A record is kept
unless the values contradict it decisively (e.g. ``w.data.abs_()`` after ``kaiming_normal_``: an op that
is not recorded), when the fingerprint wins and the `InitInfo` note says so; where the tensor is too
small to fingerprint, the record wins. A recorded RAI is overridden only by `_rai_contradiction`'s test.
:func:`pool_chain_asymmetry` re-reads the unconfirmed weight laws of a chain's hidden layers together
(`pooled_positive_z`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from relulint.init_fingerprint import (
    MIN_ENTRIES,
    RAI_MIN_ROWS,
    as_float64,
    fans,
    fingerprint,
    rounding_unit,
    sample_rows,
    sample_values,
)
from relulint.records.loaded import InitEvent
from relulint.records.model_facts import InitInfo

__all__ = [
    "describe_layer",
    "info_from_event",
    "pool_chain_asymmetry",
    "pooled_positive_z",
    "unconfirmed",
    "resolve",
]

# relative tolerance for comparing a recorded constant with float32 values (2^-23 ≈ 1.2e-7, with margin)
FLOAT32_REL_TOL = 1e-6
# one-sided z of the pooled mean of [W, b] over a chain's layers (`pool_chain_asymmetry`): a symmetric law
# passes it with probability 1.3e-3, RAI at width 2 over nine layers gives z ≈ 3.3 on average
Z_POOLED_POSITIVE = 3.0
TOO_FEW_TO_FINGERPRINT = "too few entries to fingerprint; trusting the record"
RAI_Z_DECISIVE = 5.0  # |z| beyond which a weight's row sums contradict a recorded RAI (`_rai_contradiction`)

# ---------------------------------------------------------------------------------------- the record


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
    w_fan_in, w_fan_out = fans(shape)
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

    ``rounding`` is the values' dtype rounding unit (`rounding_unit`): exact comparisons allow for it.
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
    x = sample_values(tensor)
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
    reason = _disagreement(recorded, found, shape, rounding_unit(tensor))
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
        return as_float64(sample_rows(t.reshape(t.shape[0], -1)) if t.dim() >= 2 else t)
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
