"""The pair engine's layer step at two points: lerp, ReLU and the Gram of the result, in few passes.

For a bias-free layer with iid Gaussian rows, only the joint law of its pre-activations at the points of D
matters (the Gaussian reduction, see `relulint.probe`'s engine): unit ``j`` sees ``(σ|h_0| ε_0, σ|h_1| (cos θ
ε_0 + sin θ ε_1))`` with ``θ`` the angle between the points' inputs (`dying` Eq. 3.1 asks only which layers are
zero, so each point may be divided by any positive number). Inputs that came out of a ReLU have ``cos θ >=
0``, so one lerp gives the pair up to such factors: ``z_1 = ε_0 + s (ε_1 - ε_0)`` with ``s = sin θ / (cos θ +
sin θ) = √(uu vv - w²) / (w + √(uu vv - w²))`` from the inputs' Gram ``(uu, vv, w)`` (the form that stays
accurate for nearly identical inputs, where ``s`` is small).

Plain PyTorch (and NumPy for the per-sample square roots), with correctly rounded IEEE operations in a fixed
order, so the step's numbers depend on its inputs only, never on which of PyTorch's CPU kernels (with or
without fused multiply-adds) runs it (the draws themselves do: PyTorch's ``normal_`` gives other numbers on
CPUs without AVX2): per sample in float64 (NumPy's
sqrt: PyTorch's float64 sqrt is not correctly rounded), per unit in float32 (three in-place passes for the
lerp, one for the ReLU), the Gram in float64 (a product of two floats is exact there, so one fused
multiply-add per unit rounds exactly as a product then a sum) summed over the units in order. On CUDA the
Gram is one reduction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = [
    "TINY",
    "Scratch",
    "gram_of",
    "lerp_factor",
    "pair_step",
    "relu_state",
    "tally_expected",
]

# added to w = h_0·h_1 >= 0: where a point's state is zero (uu vv = w = 0) the lerp moves nothing (point 1
# becomes a copy of point 0, which changes neither which layers are zero nor which units are) and cos θ = 1
TINY = 1e-300

Scratch = Callable[[int], torch.Tensor]  # numel -> a flat float64 buffer of at least that many, on the device


def pair_step(
    gram: torch.Tensor,
    eps: torch.Tensor,
    gram_out: torch.Tensor,
    cos_out: torch.Tensor,
    zero_out: torch.Tensor,
    scratch: Scratch,
) -> None:
    """One bias-free Gaussian-reduced layer at two points whose inputs came out of a ReLU.

    ``gram`` (3, m) float64: the inputs' ``(|h_0|², |h_1|², h_0·h_1)`` per sample. ``eps`` (2, N, m): standard
    normals, overwritten with the layer's ReLU outputs (up to a positive factor per sample and point).
    ``gram_out`` (3, m) float64 receives their Gram, ``cos_out`` (m,) float64 the inputs' ``cos θ`` (1 where a
    point is zero), ``zero_out`` (m,) bool whether the layer is zero at both points. ``scratch`` lends
    float64 temporaries.
    """
    _check_shapes(gram, eps, gram_out, cos_out, zero_out)
    m = eps.shape[-1]
    weight = _lerp_weight(gram, cos_out, eps.dtype, scratch)
    z0, z1 = eps.unbind(0)
    z1.sub_(z0).mul_(weight).add_(z0)  # z0 + s (z1 - z0): three roundings, in this order
    gram_of(eps.clamp_min_(0.0), gram_out, scratch)
    # both squares are >= 0: the layer is zero at both points iff their sum is
    torch.eq(torch.add(gram_out[0], gram_out[1], out=scratch(m)[:m]), 0.0, out=zero_out)


def in_order(t: torch.Tensor) -> bool:
    """Whether the step on ``t``'s device takes the CPU form: the documented operations one at a time, in
    order (else the GPU form: fewer, larger operations, PyTorch's own reduction order and square roots). One
    predicate, so the tests can run the GPU form on a CPU."""
    return t.device.type == "cpu"


def gram_of(h: torch.Tensor, out: torch.Tensor, scratch: Scratch) -> torch.Tensor:
    """The Gram of states ``h`` (P, N, m), P <= 2, into ``out`` (float64): ``(|h_0|², |h_1|², h_0·h_1)`` (3, m)
    for two points, ``|h_0|²`` (1, m) for one. On the CPU, products in float64 (exact: a product of two
    floats) summed over the units in order from zero, one unit at a time (its float64 copy stays in
    cache); elsewhere one reduction."""
    n_points, width, m = h.shape
    rows = 3 if n_points == 2 else 1
    if n_points not in (1, 2) or out.shape != (rows, m) or out.dtype != torch.float64:
        raise ValueError(f"gram_of: states {tuple(h.shape)} into {tuple(out.shape)} {out.dtype}")
    if not in_order(h):
        wide = scratch(n_points * width * m)[: n_points * width * m].view(n_points, width, m).copy_(h)
        return _gram_wide(wide, out, scratch, ordered=False)
    return _gram_wide(h, out, scratch, ordered=True)


def _gram_wide(states: torch.Tensor, out: torch.Tensor, scratch: Scratch, *, ordered: bool) -> torch.Tensor:
    """`gram_of` of states (P, N, m). ``ordered``: per unit, its float64 copy (exact) and one multiply-add of
    float64 values that are floats, so each product is exact and ``addcmul`` rounds once, fused or not (bit
    for bit the sum of exact products in unit order); else (CUDA; ``states`` float64) the products and one
    reduction, in PyTorch's order. Each operation is issued from Python, so the loop takes its views once:
    three operations per unit, no indexing (with two chunks at once, every operation is a hand-over of the
    interpreter lock)."""
    n_points, width, m = states.shape
    if not ordered:
        rows = out.shape[0]
        terms = scratch((n_points + rows) * width * m)[n_points * width * m :][: rows * width * m]
        terms = terms.view(rows, width, m)
        torch.mul(states, states, out=terms[:n_points])
        if n_points == 2:
            torch.mul(states[0], states[1], out=terms[2])
        return torch.sum(terms, dim=1, out=out)
    squares = out[:n_points]
    column = scratch(n_points * m)[: n_points * m].view(n_points, m)
    units = states.unbind(1)  # in order; the first unit's products start the sums (0 + p = p exactly)
    column.copy_(units[0])
    torch.mul(column, column, out=squares)
    if n_points == 2:
        cross, (left, right) = out[2], column.unbind(0)
        torch.mul(left, right, out=cross)
        for unit in units[1:]:
            column.copy_(unit)
            squares.addcmul_(column, column)
            cross.addcmul_(left, right)
    else:
        for unit in units[1:]:
            column.copy_(unit)
            squares.addcmul_(column, column)
    return out


def relu_state(
    z: torch.Tensor, live_out: torch.Tensor, top_out: torch.Tensor, spare: torch.Tensor | None = None
) -> None:
    """A drawn layer's pre-activations ``z`` (P, N, m), P <= 2, through its ReLU in place, with the numbers the
    probe reads off them in the same pass: ``live_out`` (m,) the units nonzero at some point (as ``z``'s
    dtype, exact), ``top_out`` (P, m) each point's largest unit (the bias-free rescaling). ``spare``: a
    buffer of at least ``N m`` elements of ``z``'s dtype to count in (else a fresh one)."""
    n_points, width, m = z.shape
    if n_points not in (1, 2) or live_out.shape != (m,) or top_out.shape != (n_points, m):
        raise ValueError(
            f"relu_state: states {tuple(z.shape)}, live {tuple(live_out.shape)}, top {tuple(top_out.shape)}"
        )
    if any(t.dtype != z.dtype for t in (live_out, top_out)):
        raise ValueError("relu_state: live and top in the states' dtype")
    h = z.clamp_min_(0.0)
    torch.amax(h, dim=1, out=top_out)
    if spare is None:
        spare = torch.empty(width * m, dtype=z.dtype, device=z.device)
    any_point = spare[: width * m].view(width, m)
    torch.add(h[0], h[1], out=any_point) if n_points == 2 else any_point.copy_(h[0])
    torch.sum(any_point.sign_(), dim=0, out=live_out)  # 0/1 values: an exact integer in any order


def tally_expected(
    phi: torch.Tensor,
    zero: torch.Tensor,
    alive: torch.Tensor,
    died: torch.Tensor,
    scale: float,
    offset: float,
) -> tuple[int, int]:
    """A Rao-Blackwellised layer's bookkeeping: ``(live, killed)``.

    ``live`` sums ``round(phi * scale + offset)`` (the live units per row in fixed point, half to even) over the
    ``alive`` rows, exactly (integers); ``died`` (bool, (m,)) receives ``zero & alive``, ``killed`` counts them,
    and they leave ``alive`` (in place). ``phi`` (float64) is overwritten.
    """
    tensors = (phi, zero, alive, died)
    m = phi.numel()
    if phi.dtype != torch.float64 or any(t.dtype != torch.bool or t.shape != (m,) for t in tensors[1:]):
        raise ValueError("tally_expected: phi (m,) float64, zero, alive and died (m,) bool")
    rows = phi.mul_(scale).add_(offset).round_().mul_(alive).to(torch.int64)
    torch.logical_and(zero, alive, out=died)
    alive.logical_and_(died.logical_not())
    live, killed = torch.stack([rows.sum(), died.sum()]).tolist()
    return int(live), int(killed)


def lerp_factor(gram: torch.Tensor) -> torch.Tensor:
    """Point 1's factor beyond ``σ|h_1|`` after `pair_step` (float64, (m,)): ``cos θ + sin θ = (w + √(uu vv -
    w²)) / √(uu vv)`` (1 where a point is zero). The near-constant count puts the true scales back with it."""
    prod, root, w = _prod_root(gram)
    return (w + root).div_(prod.sqrt_().clamp_min_(TINY))


def _prod_root(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(uu vv, √(max(uu vv - uv², 0)), uv + TINY)`` of a Gram, in PyTorch (new tensors)."""
    uu, vv, uv = gram.unbind(0)
    prod = uu * vv
    return prod, (prod - uv * uv).clamp_min_(0.0).sqrt_(), uv + TINY


def _lerp_weight(
    gram: torch.Tensor, cos_out: torch.Tensor, dtype: torch.dtype, scratch: Scratch
) -> torch.Tensor:
    """``s = root / (w + root)``, ``root = √(max(uu vv - w², 0))`` (in ``dtype``, the draws') and ``cos θ =
    min(w / √(uu vv), 1)`` into ``cos_out``, with ``w = h_0·h_1 + TINY``; in NumPy on the CPU (correctly
    rounded sqrt; maximum and minimum keep NaN), each operation into a buffer lent by ``scratch`` (past
    the ``2 m`` that `gram_of` uses) and the quotient rounded once to ``dtype`` as it is stored."""
    if not in_order(gram):
        prod, root, w = _prod_root(gram)
        torch.div(w, prod.sqrt(), out=cos_out).clamp_max_(1.0)
        return (root / (w + root)).to(dtype)
    m = gram.shape[1]
    temporaries = scratch(5 * m)[2 * m : 5 * m].numpy().reshape(3, m)
    weight = np.empty(m, dtype=np.float32 if dtype == torch.float32 else np.float64)
    _lerp_weight_numpy(gram.numpy(), cos_out.numpy(), temporaries, weight)
    return torch.from_numpy(weight)


def _lerp_weight_numpy(
    gram: np.ndarray, cos: np.ndarray, temporaries: np.ndarray, weight: np.ndarray
) -> None:
    """`_lerp_weight` on the CPU: ``cos θ`` into ``cos``, ``s`` into ``weight`` (rounded once as it is
    stored), the float64 work in ``temporaries`` (3, m)."""
    uu, vv, uv = gram
    prod, gap, w = temporaries
    np.multiply(uu, vv, out=prod)
    np.subtract(prod, np.multiply(uv, uv, out=gap), out=gap)
    root = np.sqrt(np.maximum(gap, 0.0, out=gap), out=gap)
    np.add(uv, TINY, out=w)
    with np.errstate(divide="ignore"):  # w / 0 = inf where a point is zero: cos θ = 1
        np.minimum(np.divide(w, np.sqrt(prod, out=prod), out=prod), 1.0, out=cos)
    np.divide(root, np.add(w, root, out=w), out=weight, casting="same_kind")


def _check_shapes(
    gram: torch.Tensor,
    eps: torch.Tensor,
    gram_out: torch.Tensor,
    cos_out: torch.Tensor,
    zero_out: torch.Tensor,
) -> None:
    """Refuse any tensor of the wrong shape, dtype or device (one clear error, not a broadcast)."""
    m = eps.shape[-1]
    fine = (
        eps.dim() == 3
        and eps.shape[0] == 2
        and gram.shape == gram_out.shape == (3, m)
        and cos_out.shape == zero_out.shape == (m,)
        and gram.dtype == gram_out.dtype == cos_out.dtype == torch.float64
        and zero_out.dtype == torch.bool
        and len({t.device for t in (gram, eps, gram_out, cos_out, zero_out)}) == 1
    )
    if not fine:
        raise ValueError(
            f"pair_step: draws {tuple(eps.shape)}, Grams {tuple(gram.shape)} -> {tuple(gram_out.shape)},"
            f" cos {tuple(cos_out.shape)}, zero {tuple(zero_out.shape)}"
        )
