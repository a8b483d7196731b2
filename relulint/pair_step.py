"""The pair engine's layer step at two points, fused: lerp, ReLU and the Gram of the result in one pass.

For a bias-free layer with iid Gaussian rows, only the joint law of its pre-activations at the points of D
matters (the Gaussian reduction, see `relulint.probe._gaussian_pre_scalefree`): unit ``j`` sees
``(σ|h_0| ε_0, σ|h_1| (cos θ ε_0 + sin θ ε_1))`` with ``θ`` the angle between the points' inputs (`dying`
Eq. 3.1 asks only which layers are zero, so each point may be divided by any positive number). Inputs that came
out of a ReLU have ``cos θ >= 0``, so one lerp gives the pair up to such factors: ``z_1 = ε_0 + s (ε_1 - ε_0)``
with ``s = sin θ / (cos θ + sin θ) = √(uu vv - w²) / (w + √(uu vv - w²))`` from the inputs' Gram ``(uu, vv,
w)`` (the form that stays accurate for nearly identical inputs, where ``s`` is small).

Two implementations give bit-identical results on the CPU (``tests/test_pair_step.py``, and a self-check
each time the kernel loads): the C kernel of `relulint.native`, one pass over the drawn numbers, and PyTorch
with NumPy, about ten. Both use only correctly rounded IEEE operations in the same order: per sample in
float64 (NumPy's sqrt: PyTorch's float64 sqrt is not correctly rounded), per unit in float32, the Gram in
float64 (a product of two floats is exact there) summed over the units in order. Elsewhere (CUDA, float64
draws) the PyTorch path runs alone, and sums the Gram in one reduction.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np
import torch

from relulint.native import PairKernel, pair_kernel

__all__ = [
    "TINY",
    "Scratch",
    "gram_of",
    "lerp_factor",
    "pair_step",
    "relu_state",
    "self_check",
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
    *,
    keep: bool = True,
    native: bool = True,
) -> None:
    """One bias-free Gaussian-reduced layer at two points whose inputs came out of a ReLU.

    ``gram`` (3, m) float64: the inputs' ``(|h_0|², |h_1|², h_0·h_1)`` per sample. ``eps`` (2, N, m): standard
    normals, overwritten with the layer's ReLU outputs (up to a positive factor per sample and point).
    ``gram_out`` (3, m) float64 receives their Gram, ``cos_out`` (m,) float64 the inputs' ``cos θ`` (1 where a
    point is zero), ``zero_out`` (m,) bool whether the layer is zero at both points. ``keep=False``: the
    caller reads only those, so the C kernel leaves ``eps`` as scratch. ``scratch`` lends the PyTorch path
    float64 temporaries. ``native=False`` skips the C kernel (tests compare the two).
    """
    _check_shapes(gram, eps, gram_out, cos_out, zero_out)
    kernel = pair_kernel() if native else None
    if kernel is not None and eps.dtype == torch.float32 and _on_cpu(eps, gram, gram_out, cos_out, zero_out):
        _step_native(kernel, gram, eps, gram_out, cos_out, zero_out, keep)
        return
    weight = _lerp_weight(gram, cos_out, eps.dtype)
    z0, z1 = eps.unbind(0)
    diff = torch.sub(z1, z0)
    torch.add(z0, diff.mul_(weight), out=z1)
    eps.clamp_min_(0.0)
    gram_of(eps, gram_out, scratch, native=False)
    torch.logical_and(gram_out[0] == 0, gram_out[1] == 0, out=zero_out)


def gram_of(h: torch.Tensor, out: torch.Tensor, scratch: Scratch, *, native: bool = True) -> torch.Tensor:
    """The Gram of states ``h`` (P, N, m), P <= 2, into ``out`` (float64): ``(|h_0|², |h_1|², h_0·h_1)`` (3, m)
    for two points, ``|h_0|²`` (1, m) for one. On the CPU, products in float64 summed over the units in order
    from zero: the C kernel's values (which it computes where it is loaded)."""
    n_points, width, m = h.shape
    rows = 3 if n_points == 2 else 1
    if n_points not in (1, 2) or out.shape != (rows, m) or out.dtype != torch.float64:
        raise ValueError(f"gram_of: states {tuple(h.shape)} into {tuple(out.shape)} {out.dtype}")
    kernel = pair_kernel() if native else None
    if kernel is not None and h.dtype == torch.float32 and _on_cpu(h, out):
        kernel.gram(h.data_ptr(), out.data_ptr(), n_points, width, m)
        return out
    flat = scratch((n_points + rows) * width * m)
    wide = flat[: n_points * width * m].view(n_points, width, m).copy_(h)  # exact: float32 -> float64
    terms = flat[n_points * width * m : (n_points + rows) * width * m].view(rows, width, m)
    torch.mul(wide, wide, out=terms[:n_points])
    if n_points == 2:
        torch.mul(wide[0], wide[1], out=terms[2])
    if h.device.type != "cpu":  # no kernel to agree with: one reduction
        return torch.sum(terms, dim=1, out=out)
    out.zero_()
    for unit in range(width):  # in order, as the kernel (torch.sum's order is its own)
        out.add_(terms[:, unit])
    return out


def relu_state(
    z: torch.Tensor, live_out: torch.Tensor, top_out: torch.Tensor, *, native: bool = True
) -> None:
    """A drawn layer's pre-activations ``z`` (P, N, m), P <= 2, through its ReLU in place, with the numbers the
    probe reads off them in the same pass: ``live_out`` (m,) the units nonzero at some point (as ``z``'s
    dtype, exact), ``top_out`` (P, m) each point's largest unit (the bias-free rescaling)."""
    n_points, width, m = z.shape
    if n_points not in (1, 2) or live_out.shape != (m,) or top_out.shape != (n_points, m):
        raise ValueError(
            f"relu_state: states {tuple(z.shape)}, live {tuple(live_out.shape)}, top {tuple(top_out.shape)}"
        )
    if any(t.dtype != z.dtype for t in (live_out, top_out)):
        raise ValueError("relu_state: live and top in the states' dtype")
    kernel = pair_kernel() if native else None
    if kernel is not None and z.dtype == torch.float32 and _on_cpu(z, live_out, top_out):
        kernel.relu_state(z.data_ptr(), live_out.data_ptr(), top_out.data_ptr(), n_points, width, m)
        return
    h = z.clamp_min_(0.0)
    torch.amax(h, dim=1, out=top_out)
    any_point = h[0] + h[1] if n_points == 2 else h[0].clone()
    torch.sum(any_point.sign_(), dim=0, out=live_out)  # 0/1 values: an exact integer in any order


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
    tensors = (phi, zero, alive, died)
    m = phi.numel()
    if phi.dtype != torch.float64 or any(t.dtype != torch.bool or t.shape != (m,) for t in tensors[1:]):
        raise ValueError("tally_expected: phi (m,) float64, zero, alive and died (m,) bool")
    kernel = pair_kernel() if native else None
    if kernel is not None and _on_cpu(*tensors):
        live = ctypes.c_int64()
        pointers = (t.data_ptr() for t in tensors)
        killed = kernel.tally(*pointers, m, scale, offset, ctypes.byref(live))
        return live.value, int(killed)
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


def self_check(kernel: PairKernel) -> str:
    """Run ``kernel`` and the PyTorch path on fixed inputs (zero points, identical, orthogonal and nearly
    identical pairs, odd lengths); '' if they agree bit for bit, else what differs. `relulint.native` refuses a
    kernel that fails (a compiler that reassociates or keeps excess precision)."""
    gen = torch.Generator().manual_seed(20261201)
    units, m = 5, 37
    h = torch.empty(2, units, m).normal_(generator=gen).clamp_min_(0.0)
    h[0, :, 0] = 0.0
    h[:, :, 1] = 0.0
    h[1, :, 2] = h[0, :, 2]
    h[1, :, 3] = h[0, :, 3] * (1 + 2**-20)
    eps = torch.empty(2, units, m).normal_(generator=gen)
    eps[:, :, 4] = -eps[:, :, 4].abs()  # a zero layer
    buffers: dict[int, torch.Tensor] = {}

    def scratch(n: int) -> torch.Tensor:
        return buffers.setdefault(n, torch.empty(n, dtype=torch.float64))

    z = torch.empty(2, units, m).normal_(generator=gen)
    z[:, :, 5] = -z[:, :, 5].abs()  # a dead sample
    states = []
    for native in (True, False):
        zz, live, top = z.clone(), torch.empty(m), torch.empty(2, m)
        if native:
            kernel.relu_state(zz.data_ptr(), live.data_ptr(), top.data_ptr(), 2, units, m)
        else:
            relu_state(zz, live, top, native=False)
        states.append((zz, live, top))
    for name, a, b in zip(("ReLU states", "live units", "largest units"), *states, strict=True):
        if not torch.equal(a, b):
            return f"the kernel's {name} differ from PyTorch's"
    outputs = []
    for native in (True, False):
        gram = torch.empty(3, m, dtype=torch.float64)
        if native:
            kernel.gram(h.data_ptr(), gram.data_ptr(), 2, units, m)
        else:
            gram_of(h, gram, scratch, native=False)
        e, out = eps.clone(), torch.empty(3, m, dtype=torch.float64)
        cos, zero = torch.empty(m, dtype=torch.float64), torch.empty(m, dtype=torch.bool)
        if native:
            _step_native(kernel, gram, e, out, cos, zero, True)
        else:
            pair_step(gram, e, out, cos, zero, scratch, native=False)
        outputs.append((gram, e, out, cos, zero))
    names = ("gram", "states", "gram of the step", "cos", "zero flags")
    for name, a, b in zip(names, *outputs, strict=True):
        if not torch.equal(a, b):
            return f"the kernel's {name} differ from PyTorch's"
    return ""


def _step_native(
    kernel: PairKernel,
    gram: torch.Tensor,
    eps: torch.Tensor,
    gram_out: torch.Tensor,
    cos_out: torch.Tensor,
    zero_out: torch.Tensor,
    keep: bool,
) -> None:
    _, units, m = eps.shape
    pointers = (t.data_ptr() for t in (gram, eps, gram_out, cos_out, zero_out))
    kernel.step(*pointers, units, m, TINY, int(keep))


def _lerp_weight(gram: torch.Tensor, cos_out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``s = root / (w + root)``, ``root = √(max(uu vv - w², 0))`` (in ``dtype``, the draws') and ``cos θ =
    min(w / √(uu vv), 1)`` into ``cos_out``, with ``w = h_0·h_1 + TINY``; in NumPy on the CPU (correctly
    rounded sqrt, as the C kernel; maximum and minimum keep NaN, as it does)."""
    if gram.device.type != "cpu":
        prod, root, w = _prod_root(gram)
        torch.div(w, prod.sqrt(), out=cos_out).clamp_max_(1.0)
        return (root / (w + root)).to(dtype)
    uu, vv, uv = gram.numpy()
    prod = uu * vv
    gap = prod - uv * uv
    root = np.sqrt(np.maximum(gap, 0.0, out=gap), out=gap)
    w = uv + TINY
    with np.errstate(divide="ignore"):  # w / 0 = inf where a point is zero: cos θ = 1
        np.minimum(w / np.sqrt(prod, out=prod), 1.0, out=cos_out.numpy())
    weight = root / (w + root)
    return torch.from_numpy(weight.astype(np.float32) if dtype == torch.float32 else weight)


def _check_shapes(
    gram: torch.Tensor,
    eps: torch.Tensor,
    gram_out: torch.Tensor,
    cos_out: torch.Tensor,
    zero_out: torch.Tensor,
) -> None:
    """The C kernel reads and writes raw memory: refuse any tensor of the wrong shape, dtype or device."""
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


def _on_cpu(*tensors: torch.Tensor) -> bool:
    """The C kernel takes contiguous CPU tensors (and, where they are states, float32: see callers)."""
    return all(t.device.type == "cpu" and t.is_contiguous() for t in tensors)
