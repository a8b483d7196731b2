"""The pair engine's layer step at two points, fused: lerp, ReLU and the Gram of the result in one pass.

For a bias-free layer with iid Gaussian rows, only the joint law of its pre-activations at the points of D
matters (the Gaussian reduction, see `relulint.probe._gaussian_pre_scalefree`): unit ``j`` sees
``(σ|h_0| ε_0, σ|h_1| (cos θ ε_0 + sin θ ε_1))`` with ``θ`` the angle between the points' inputs (`dying`
Eq. 3.1 asks only which layers are zero, so each point may be divided by any positive number). Inputs that came
out of a ReLU have ``cos θ >= 0``, so one lerp ``z_1 = ε_1 + t (ε_0 - ε_1)``, ``t = cos θ / (cos θ + sin θ)
= w / (w + √(uu vv - w²))`` from the inputs' Gram ``(uu, vv, w)``, gives the pair up to such factors.

Two implementations give bit-identical results on the CPU (``tests/test_pair_step.py``): the C kernel of
`relulint.native`, one pass over the drawn numbers, and PyTorch with NumPy, seven passes. Both use only
correctly rounded IEEE operations in the same order: per sample in float64 (NumPy's sqrt; PyTorch's float64
sqrt is not correctly rounded), per unit in float32, the Gram summed over the units in order in float64.
"""

from __future__ import annotations

import ctypes

import numpy as np
import torch

from relulint.native import pair_kernel

__all__ = ["TINY", "gram_of", "lerp_factor", "pair_step", "scratch_numel", "tally_expected"]

# added to w = h_0·h_1 >= 0: where a point's state is zero (uu vv = w = 0) the lerp weight is 1 (a copy of
# the other point, which changes neither which layers are zero nor which units are) and cos θ = 1
TINY = 1e-300


def pair_step(
    gram: torch.Tensor,
    eps: torch.Tensor,
    gram_out: torch.Tensor,
    cos_out: torch.Tensor,
    zero_out: torch.Tensor,
    products: torch.Tensor,
    *,
    keep: bool = True,
    native: bool = True,
) -> None:
    """One bias-free Gaussian-reduced layer at two points whose inputs came out of a ReLU.

    ``gram`` (3, m) float64: the inputs' ``(|h_0|², |h_1|², h_0·h_1)`` per sample. ``eps`` (2, N, m): standard
    normals, overwritten with the layer's ReLU outputs (up to a positive factor per sample and point).
    ``gram_out`` (3, m) float64 receives their Gram, ``cos_out`` (m,) float64 the inputs' ``cos θ`` (1 where a
    point is zero), ``zero_out`` (m,) bool whether the layer is zero at both points. ``keep=False``: the
    caller reads only the Gram, so ``eps`` may be left as scratch (the C kernel skips the stores). ``products`` (at least 3·N·m of ``eps``'s dtype) is scratch for the PyTorch path.
    ``native=False`` skips the C kernel (tests compare the two).
    """
    kernel = pair_kernel() if native else None
    if (
        kernel is not None
        and _kernel_fits(eps, gram, gram_out, cos_out)
        and zero_out.dtype == torch.bool
        and zero_out.is_contiguous()
    ):
        _, units, m = eps.shape
        pointers = (t.data_ptr() for t in (gram, eps, gram_out, cos_out, zero_out))
        kernel.step(*pointers, units, m, TINY, int(keep))
        return
    weight = _lerp_weight(gram, cos_out, eps.dtype)
    z0, z1 = eps.unbind(0)
    diff = torch.sub(z0, z1, out=products.view(-1)[: z0.numel()].view(z0.shape))
    z1.add_(diff.mul_(weight))
    eps.clamp_min_(0.0)
    gram_of(eps, gram_out, products, native=False)
    torch.logical_and(gram_out[0] == 0, gram_out[1] == 0, out=zero_out)


def gram_of(
    h: torch.Tensor, out: torch.Tensor, products: torch.Tensor, *, native: bool = True
) -> torch.Tensor:
    """The Gram of states ``h`` (P, N, m), P <= 2, into ``out`` (float64): ``(|h_0|², |h_1|², h_0·h_1)`` (3, m)
    for two points, ``|h_0|²`` (1, m) for one. Products in ``h``'s dtype, summed over the units in order in
    that dtype from zero, stored as float64: the same values as the C kernel's (used where it is loaded and
    the tensors fit). ``products``: scratch of `scratch_numel` elements of ``h``'s dtype."""
    n_points, width, m = h.shape
    kernel = pair_kernel() if native else None
    if kernel is not None and _kernel_fits(h, out):
        kernel.gram(h.data_ptr(), out.data_ptr(), n_points, width, m)
        return out
    rows = 3 if n_points == 2 else 1
    flat = products.view(-1)
    terms = flat[: rows * width * m].view(rows, width, m)
    sums = flat[rows * width * m : rows * (width + 1) * m].view(rows, m).zero_()
    torch.mul(h, h, out=terms[:n_points])
    if n_points == 2:
        torch.mul(h[0], h[1], out=terms[2])
    for unit in range(width):
        sums.add_(terms[:, unit])
    return out.copy_(sums)


def scratch_numel(width: int, m: int) -> int:
    """Elements of the ``products`` scratch `pair_step` and `gram_of` need for ``width`` units, ``m`` samples."""
    return 3 * (width + 1) * m


def tally_expected(
    phi: torch.Tensor,
    zero: torch.Tensor,
    alive: torch.Tensor,
    died: torch.Tensor,
    scale: float,
    offset: float,
    *,
    native: bool = True,
) -> tuple[int, int]:
    """A Rao-Blackwellised layer's bookkeeping: ``(live, killed)``.

    ``live`` sums ``round(phi * scale + offset)`` (the live units per row in fixed point, half to even) over the
    ``alive`` rows, exactly (integers); ``died`` (bool, (m,)) receives ``zero & alive``, ``killed`` counts them,
    and they leave ``alive`` (in place). ``phi`` (float64) is overwritten.
    """
    kernel = pair_kernel() if native else None
    tensors = (phi, zero, alive, died)
    if kernel is not None and all(t.device.type == "cpu" and t.is_contiguous() for t in tensors):
        if phi.dtype == torch.float64 and all(t.dtype == torch.bool for t in tensors[1:]):
            live = ctypes.c_int64()
            pointers = (t.data_ptr() for t in tensors)
            killed = kernel.tally(*pointers, phi.numel(), scale, offset, ctypes.byref(live))
            return live.value, int(killed)
    rows = phi.mul_(scale).add_(offset).round_().mul_(alive).to(torch.int64)
    torch.logical_and(zero, alive, out=died)
    alive.logical_and_(died.logical_not())
    live, killed = torch.stack([rows.sum(), died.sum()]).tolist()
    return int(live), int(killed)


def lerp_factor(gram: torch.Tensor) -> torch.Tensor:
    """Point 1's factor beyond ``σ|h_1|`` after `pair_step` (float64, (m,)): ``cos θ + sin θ = (w + √(uu vv -
    w²)) / √(uu vv)`` (1 where a point is zero). The near-constant count puts the true scales back with it."""
    uu, vv, w = gram.unbind(0)
    prod = uu * vv
    root = (prod - w * w).clamp_min_(0.0).sqrt_()
    return (w + TINY + root).div_(prod.sqrt_().clamp_min_(TINY))


def _lerp_weight(gram: torch.Tensor, cos_out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t = w / (w + √(max(uu vv - w², 0)))`` (in ``dtype``, the draws') and ``cos θ = min(w / √(uu vv), 1)``
    into ``cos_out``, with ``w = h_0·h_1 + TINY``; in NumPy on the CPU (correctly rounded sqrt, as the C
    kernel)."""
    if gram.device.type != "cpu":
        uu, vv, uv = gram.unbind(0)
        prod = uu * vv
        root = (prod - uv * uv).clamp_min_(0.0).sqrt_()
        w = uv + TINY
        torch.div(w, prod.sqrt(), out=cos_out).clamp_max_(1.0)
        return (w / (w + root)).to(dtype)
    uu, vv, uv = gram.numpy()
    prod = uu * vv
    gap = prod - uv * uv
    root = np.sqrt(np.maximum(gap, 0.0, out=gap), out=gap)
    w = uv + TINY
    with np.errstate(divide="ignore"):  # w / 0 = inf where a point is zero: cos θ = 1
        np.minimum(w / np.sqrt(prod, out=prod), 1.0, out=cos_out.numpy())
    weight = w / (w + root)
    return torch.from_numpy(weight.astype(np.float32) if dtype == torch.float32 else weight)


def _kernel_fits(states: torch.Tensor, *grams: torch.Tensor) -> bool:
    """The C kernel takes contiguous CPU tensors: float32 states, float64 Grams and cos θ."""
    return (
        states.dtype == torch.float32
        and all(t.dtype == torch.float64 for t in grams)
        and all(t.device.type == "cpu" and t.is_contiguous() for t in (states, *grams))
    )
