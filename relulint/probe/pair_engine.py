"""The probe's engine for ``|D| <= 2`` points (exact-2-point and 2-point data): hidden states ``(P, N, m)``,
samples last, the Gaussian reduction where it is exact (`relulint.probe.pair_step`)."""

from __future__ import annotations

import math

import numpy as np
import torch

from relulint.probe.pair_step import Scratch, gram_of, lerp_factor, pair_step, relu_state
from relulint.probe.plan import ENTRYWISE, RENORMALIZE_EVERY, LayerPlan, Plan
from relulint.probe.sampling import Draws, WeightSource
from relulint.probe.tally import Run, Tally, count_near


def _points_gram(xs: np.ndarray, device: torch.device) -> torch.Tensor:
    """The Gram of the fixed points (float64), as `relulint.probe.pair_step.gram_of` lays it out: (3, 1) for two
    points, (1, 1) for one."""
    g = xs @ xs.T
    rows = [[g[0, 0]], [g[1, 1]], [g[0, 1]]] if len(xs) == 2 else [[g[0, 0]]]
    return torch.tensor(rows, dtype=torch.float64, device=device)


class Workspace:
    """Flat buffers reused across layers and chunks for the pair engine's big tensors (fresh memory costs a
    page fault per 4 KiB, more than the arithmetic)."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype
        self.buffers: dict[tuple[int, torch.dtype], torch.Tensor] = {}

    def flat(self, index: int, numel: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Buffer ``index`` (of ``dtype``, default the draws') with at least ``numel`` elements."""
        key = (index, dtype or self.dtype)
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < numel:
            buf = self.buffers[key] = torch.empty(numel, device=self.device, dtype=key[1])
        return buf

    def take(self, index: int, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
        """A contiguous ``shape`` view of buffer ``index`` (its first elements)."""
        numel = math.prod(shape)
        return self.flat(index, numel, dtype)[:numel].view(shape)


def _split(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(|h_p|² (P, m), h_0·h_1 (m,) | None)`` from a Gram ``(|h_0|², |h_1|², h_0·h_1)`` (3, m) or ``|h_0|²``
    (1, m) (`relulint.probe.pair_step.gram_of`)."""
    return (gram[:2], gram[2]) if gram.shape[0] == 3 else (gram, None)


# the pair engine's buffers: the draws and states alternate between 0 and 1; float64 Grams alternate
# between 3 and 4 (a layer's input and output), cos θ in 5, the PyTorch path's scratch in 6, the zero flags
# in 7, a drawn layer's live units and largest units in 8 and 9 (distinct indices: with float64 draws the
# dtypes coincide), the units' sum over the points in 10
GRAMS, COS, SCRATCH, ZERO, LIVE, TOP, SPARE = (3, 4), 5, 6, 7, 8, 9, 10


def scratch_of(ws: Workspace) -> Scratch:
    return lambda numel: ws.flat(SCRATCH, numel, torch.float64)


def _state_gram(h: torch.Tensor, ws: Workspace, slot: int) -> torch.Tensor:
    """`gram_of` the states ``h`` (P, N, m) into float64 buffer ``GRAMS[slot]``."""
    n_points, _, rows = h.shape
    out = ws.take(GRAMS[slot], (3 if n_points == 2 else 1, rows), torch.float64)
    return gram_of(h, out, scratch_of(ws))


def _gaussian_pre(
    sq: torch.Tensor, uv: torch.Tensor | None, layer: LayerPlan, eps: torch.Tensor
) -> torch.Tensor:
    """Pre-activations (P, N, m) at ≤ 2 points of ``N`` iid Gaussian units given the Gram of the inputs.

    Unit ``j`` sees ``z_j = (w_j·h_p + b_j)_p ~ N(μ, σ² G + σ_b² 11ᵀ)`` (iid over j; ``σ² = Var(w)``), for any
    sign of ``G``'s entries; drawn as ``μ + L ε`` with the closed-form 2 x 2 Cholesky factor ``L``. ``eps``
    (standard normal) is overwritten.
    """
    assert layer.weight is not None
    var_w = layer.weight.std**2
    var_b, mean_b = 0.0, 0.0
    if layer.bias is not None:
        mean_b = layer.bias.mean
        var_b = layer.bias.std**2 if layer.bias.kind == "normal" else 0.0
    l11 = (sq[0] * var_w + var_b).sqrt()
    if eps.shape[0] == 2:
        assert uv is not None
        c01 = uv * var_w + var_b
        c11 = sq[1] * var_w + var_b
        l21 = torch.where(l11 > 0, c01 / l11.clamp_min(1e-30), torch.zeros_like(l11))
        l22 = (c11 - l21 * l21).clamp_min_(0.0).sqrt_()
        eps[1].mul_(l22.to(eps.dtype)).addcmul_(eps[0], l21.to(eps.dtype))
    eps[0].mul_(l11.to(eps.dtype))
    return eps.add_(mean_b) if mean_b else eps


def _angle(sq: torch.Tensor, uv: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(cos θ, sin θ)`` between the two points' states from their Gram (``cos θ = 1`` where a point is zero,
    a copy of the other; ``sin θ >= 1e-15``: sqrt of exact zeros is slow on x86, and it is below float32's
    ulp). ``(None, None)`` for one point."""
    if uv is None:
        return None, None
    uu, vv = sq.unbind(0)
    cos = (uv * (uu * vv).rsqrt_()).nan_to_num_(nan=1.0).clamp_(-1.0, 1.0)  # 0 · ∞ where a point is zero
    sin = (1.0 - cos.square()).clamp_min_(1e-30).sqrt_()
    return cos, sin


def _gaussian_pre_scalefree(
    eps: torch.Tensor, cos: torch.Tensor | None, sin: torch.Tensor | None, *, lerp: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`_gaussian_pre` for a bias-free layer, up to a positive factor per sample and point (exact here).

    Bias-free layers are positively homogeneous, so each point's pre-activations may be divided by any
    positive number. Given the angle ``θ`` between the points' inputs (`_angle`; any sign of ``cos θ``: raw
    inputs may point in opposite directions) the pair is ``(σ|h_0| ε_0, σ|h_1| (cos θ ε_0 + sin θ ε_1))``. The
    probe keeps ``z_0 = ε_0`` and, with ``lerp`` (needs ``cos θ + sin θ > 0``: always so after a ReLU), one
    lerp ``z_1 = t ε_0 + (1 - t) ε_1``, ``t = cos θ / (cos θ + sin θ)`` (factor ``σ|h_1| (cos θ + sin θ)``);
    otherwise ``z_1 = cos θ ε_0 + sin θ ε_1`` (factor ``σ|h_1|``). A point whose layer is zero stays zero
    whatever follows; it gets ``cos θ = 1`` (a copy of the other point, factor 0), which changes neither
    which layers are zero nor which units are. ``eps`` is overwritten.

    Returns ``(z, g)``: ``g`` (m,) is point 1's factor beyond ``σ|h_1|`` (None: 1).
    """
    if cos is None or sin is None:
        return eps, None
    z0, z1 = eps.unbind(0)
    if lerp:
        total = cos + sin
        z1.lerp_(z0, (cos / total).to(eps.dtype))
        return eps, total
    z1.mul_(sin.to(eps.dtype)).addcmul_(z0, cos.to(eps.dtype))
    return eps, None


def _pair_affine(
    w: torch.Tensor, b: torch.Tensor | None, h: torch.Tensor | None, xs: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``W h_p + b`` for every point into ``out`` (P, N, m), from ``W (m, N, K)`` and ``h (P, K, m)`` (None:
    the fixed points ``xs``)."""
    m, n_out, k = w.shape
    z = out[: xs.shape[0] * n_out * m].view(xs.shape[0], n_out, m)
    if h is None:
        z.copy_(torch.matmul(xs, w.reshape(m * n_out, k).T).view(-1, m, n_out).transpose(1, 2))
    else:
        z.copy_(torch.bmm(w, h.permute(2, 1, 0)).permute(2, 1, 0))
    return z.add_(b.T) if b is not None else z


def _points_affine_samples_last(
    w: torch.Tensor, b: torch.Tensor | None, xs: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``W x_p + b`` into ``out`` (P, N, m) from ``W (N, K, m)``, ``b (N, m)`` (samples last) and points ``xs``."""
    n_out, k, m = w.shape
    z = out[: xs.shape[0] * n_out * m].view(xs.shape[0], n_out, m)
    if k == 1:  # one multiply by a number per point (a broadcast multiply is several times slower)
        for point, x in zip(z, xs.view(-1).tolist(), strict=True):
            torch.mul(w.view(n_out, m), x, out=point)
    else:
        torch.matmul(xs, w.permute(1, 0, 2).reshape(k, n_out * m), out=z.view(-1, n_out * m))
    return z.add_(b) if b is not None else z


def run_pair(
    plan: Plan,
    run: Run,
    draws: Draws | None,
    source: WeightSource,
    dtype: torch.dtype,
    workspace: Workspace | None = None,
) -> Tally:
    """The engine for ``|D| <= 2`` (exact-2-point and 2-point data): hidden states ``(P, N, m)``.

    Samples last, so per-sample coefficients broadcast along contiguous memory and sums over the units are
    plain adds of rows; the big tensors live in reused buffers. Bias-free chains are carried up to a positive
    factor per sample and point (Gaussian reduction: see `_gaussian_pre_scalefree`; drawn layers: divided by
    the largest unit every few layers and before a reduced layer); ``log_scale`` (P, m) accumulates the log
    of those factors when the near-constant count needs them.
    """
    device = run.ids.device
    xs = torch.as_tensor(plan.points, dtype=dtype, device=device)
    n_points = xs.shape[0]
    log_scale = (
        torch.zeros((n_points, run.rows), dtype=torch.float64, device=device)
        if plan.bias_free and not plan.skip_near
        else None
    )
    ws = workspace or Workspace(device, dtype)  # buffers: see GRAMS
    widths = [p.out_features for p in plan.hidden]
    slot = gslot = 0
    h: torch.Tensor | None = None
    # the Gram of the current state (float64, `_split`), where a reduced layer needs it
    gram: torch.Tensor | None = None
    last = len(plan.hidden) - 1
    for index, layer in enumerate(plan.hidden):
        phi: torch.Tensor | None = None  # asin(cos θ) between the points' inputs (float64), reduced layers
        width = layer.out_features
        next_reduced = index < last and plan.hidden[index + 1].reduced
        fused = False
        if layer.reduced:
            assert draws is not None and layer.weight is not None
            sq, uv = _split(gram if gram is not None else _points_gram(plan.points, device))
            # the previous state is not read (only its Gram): draw over it, keep the working set small
            slot = 0
            eps = draws.normal((n_points, width), run.present, out=ws.flat(slot, n_points * width * run.rows))
            if plan.bias_free and log_scale is not None:
                log_scale.add_(sq.log().mul_(0.5).add_(math.log(layer.weight.std)))
            if plan.bias_free and gram is not None and uv is not None:
                # after a ReLU, at two points: lerp, ReLU and the Gram in one pass (`relulint.probe.pair_step`)
                if log_scale is not None:
                    log_scale[1].add_(lerp_factor(gram).log_())
                gslot ^= 1
                out_gram = ws.take(GRAMS[gslot], (3, run.rows), torch.float64)
                cos = ws.take(COS, (run.rows,), torch.float64)
                zero = ws.take(ZERO, (run.rows,), torch.bool)
                pair_step(gram, eps, out_gram, cos, zero, scratch_of(ws))
                h, gram, phi, fused = eps, out_gram, cos.asin_(), True
            elif plan.bias_free:  # the raw points (any sign of cos θ), or one point
                cos_in, sin_in = _angle(sq, uv)
                phi = torch.asin(cos_in) if cos_in is not None else None
                lerp = cos_in is None or sin_in is None or bool((cos_in + sin_in > 0).all())
                z, extra = _gaussian_pre_scalefree(eps, cos_in, sin_in, lerp=lerp)
                if log_scale is not None and extra is not None:
                    log_scale[1].add_(extra.log())
            else:
                z = _gaussian_pre(sq, uv, layer, eps)
        else:
            slot ^= 1  # reads the state in the other buffer
            out = ws.flat(slot, n_points * layer.out_features * run.rows)
            if (
                h is None
                and draws is not None
                and layer.weight is not None
                and layer.weight.kind in ENTRYWISE
            ):
                w, b = draws.layer_samples_last(layer, run.present)
                z = _points_affine_samples_last(w, b, xs, out)
            else:
                w, b = source(index, run)
                z = _pair_affine(w, b, h, xs, out)
        top: torch.Tensor | None = None  # each point's largest unit (P, m), drawn layers
        if fused or (layer.reduced and plan.bias_free and next_reduced):
            # Rao-Blackwell: the Gram is at hand (or the next layer needs it); a layer is zero iff Σ h² = 0 at
            # both points, and given its inputs a unit is dead with probability 1/4 + asin(cos θ) / 2π (1/2
            # for one point): count that expectation instead of the units (same mean, no pass over them)
            if not fused:
                h = z.clamp_min_(0.0)
                gslot ^= 1
                gram = _state_gram(h, ws, gslot)
                zero = (gram[0] == 0) & (gram[1] == 0) if n_points == 2 else gram[0] == 0
            remaining = run.record_expected(index, phi, zero, width)
        else:
            gram = None
            # ReLU, live units per sample and the largest unit per point, in one pass
            live, top = ws.take(LIVE, (run.rows,)), ws.take(TOP, (n_points, run.rows))
            relu_state(z, live, top, ws.flat(SPARE, width * run.rows))
            h = z
            remaining = run.record(index, live, width)
        if remaining == 0:
            run.finish_dead(index + 1, widths)
            return run.tally
        if (
            plan.bias_free
            and not layer.reduced
            and (next_reduced or index % RENORMALIZE_EVERY == RENORMALIZE_EVERY - 1)
        ):
            assert top is not None and h is not None  # a drawn layer
            top.clamp_min_(1e-30)
            h.div_(top.unsqueeze(1))
            if log_scale is not None:
                log_scale.add_(top.to(torch.float64).log_())
        assert h is not None
        keep = run.compact()
        if keep is not None:
            if not (fused and next_reduced):  # else h is not read again: the next layer reads only the Gram
                slot ^= 1
                h = torch.index_select(h, 2, keep, out=ws.take(slot, (*h.shape[:2], keep.numel())))
            log_scale = log_scale.index_select(1, keep) if log_scale is not None else None
            if gram is not None:
                gram = gram.index_select(1, keep)
        if next_reduced and gram is None:
            gslot ^= 1
            gram = _state_gram(h, ws, gslot)
    assert h is not None
    if plan.skip_near:
        return run.tally
    if plan.output is not None:
        w, b = source(len(plan.hidden), run)
        signal = torch.bmm(w, h.permute(2, 1, 0))  # (m, d_out, P)
    else:
        signal, b = h.permute(2, 1, 0), None
    scale = log_scale.T if log_scale is not None else None
    run.tally.near_constant = count_near(plan, signal, b, scale, run.alive)
    return run.tally
