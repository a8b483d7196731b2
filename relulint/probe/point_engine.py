"""The probe's general engine (any number of points, normalization layers): hidden states ``(m, N, P)``,
one batched matmul per layer, samples already dead dropped."""

from __future__ import annotations

import math

import torch

from relulint.probe.pair_engine import Workspace
from relulint.probe.plan import RENORMALIZE_EVERY, Plan
from relulint.probe.sampling import Draws, WeightSource
from relulint.probe.tally import Run, Tally, count_near


def _normalize(
    z: torch.Tensor, norm: str | None, log_scale: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Training-mode BatchNorm over D (per unit) or LayerNorm (per point) at init (γ = 1, β = 0).

    ``z`` (m, N, P). With ``log_scale`` (m,) the true pre-activations are ``exp(log_scale) z`` (the bias-free
    rescaling); the norm's ``eps`` is not scale-free, so it is applied to the true values, in float64, and
    the result comes back divided by its largest entry with the new ``log_scale``.
    """
    if norm not in ("batchnorm", "layernorm"):
        return z, log_scale
    dim = 2 if norm == "batchnorm" else 1
    if log_scale is None:
        mean = z.mean(dim=dim, keepdim=True)
        var = z.var(dim=dim, keepdim=True, unbiased=False)
        return (z - mean) / torch.sqrt(var + 1e-5), None
    z64 = z.to(torch.float64)
    centred = z64 - z64.mean(dim=dim, keepdim=True)
    var = centred.square().mean(dim=dim, keepdim=True)
    # (z - mean) / sqrt(var + 1e-5 e^{-2s}) = e^{-a/2} (z - mean) / sqrt(var e^{-a} + e^{t - a}), t = log 1e-5 - 2s
    t = (math.log(1e-5) - 2.0 * log_scale).view(-1, 1, 1)
    a = torch.maximum(t, var.amax(dim=(1, 2), keepdim=True).log())
    out = centred / (var * (-a).exp() + (t - a).exp()).sqrt()
    top = out.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-300)
    new_scale = (top.log() - 0.5 * a).view(-1)
    return (out / top).to(z.dtype), new_scale


def run_points(
    plan: Plan,
    run: Run,
    draws: Draws | None,
    source: WeightSource,
    dtype: torch.dtype,
    workspace: Workspace | None = None,
) -> Tally:
    """The general engine: hidden states ``(m, N, P)``, one batched matmul per layer, dead samples dropped."""
    device = run.ids.device
    xt = torch.as_tensor(plan.points, dtype=dtype, device=device).T.contiguous()  # (d_in, P)
    # bias-free: h is the true hidden state divided by exp(log_scale) per sample (exact by homogeneity)
    log_scale = torch.zeros(run.rows, dtype=torch.float64, device=device) if plan.bias_free else None
    widths = [p.out_features for p in plan.hidden]
    h: torch.Tensor | None = None
    for index, layer in enumerate(plan.hidden):
        w, b = source(index, run)
        if h is None:
            z = torch.matmul(w, xt)
            if b is not None:
                z.add_(b.unsqueeze(2))
        elif b is not None:
            z = torch.baddbmm(b.unsqueeze(2), w, h)
        else:
            z = torch.bmm(w, h)
        z, log_scale = _normalize(z, layer.norm, log_scale)
        h = z.clamp_min_(0.0)
        live = h.amax(dim=2).sign_().sum(1)
        remaining = run.record(index, live, layer.out_features)
        if remaining == 0:
            run.finish_dead(index + 1, widths)
            return run.tally
        if log_scale is not None and index % RENORMALIZE_EVERY == RENORMALIZE_EVERY - 1:
            top = h.amax(dim=(1, 2)).clamp_min_(1e-30)
            h = h.div_(top[:, None, None])
            log_scale.add_(top.to(torch.float64).log_())
        keep = run.compact()
        if keep is not None:
            h = h.index_select(0, keep)
            log_scale = log_scale.index_select(0, keep) if log_scale is not None else None
    assert h is not None
    if plan.skip_near:
        return run.tally
    if plan.output is not None:
        w, b = source(len(plan.hidden), run)
        signal = torch.bmm(w, h)
    else:
        signal, b = h, None
    scale = log_scale.unsqueeze(1) if log_scale is not None else None
    run.tally.near_constant = count_near(plan, signal, b, scale, run.alive)
    return run.tally
