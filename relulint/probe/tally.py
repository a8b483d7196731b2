"""The probe's counts (`dying` Eq. 3.1, `collapse` Lemma 1): born-dead samples, near-constant ones, dead
units per layer, per chunk of samples, and the Wilson interval of the estimate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from relulint.probe.laws import DrawCounter
from relulint.probe.pair_step import tally_expected
from relulint.probe.plan import Plan

NEAR_CONSTANT_RTOL = 1e-6  # relative output spread below which a live sample counts as near-constant


COMPACT_BELOW = 0.75  # drop dead samples from the chunk once fewer than this fraction is alive


FIXED = 1 << 16  # dead-unit tallies: integer multiples of 1 / FIXED units (exact sums in any order)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (95 % for ``z = 1.96``); ``(0, 1)`` if n = 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return (max(0.0, center - half), min(1.0, center + half))


@dataclass
class Tally:
    """Counts from a run of samples (summed over chunks)."""

    samples: int = 0
    born_dead: int = 0
    near_constant: int = 0
    dead_units: list[int] = field(default_factory=list)  # per layer: Σ dead units, × FIXED (exact sums)
    drawn: DrawCounter = field(default_factory=DrawCounter)
    workers: int = 1  # chunks that ran at once (threads): the benchmark's floor draws on as many streams

    def add(self, other: Tally) -> None:
        self.workers = max(self.workers, other.workers)
        self.samples += other.samples
        self.born_dead += other.born_dead
        self.near_constant += other.near_constant
        if not self.dead_units:
            self.dead_units = [0] * len(other.dead_units)
        self.dead_units = [a + b for a, b in zip(self.dead_units, other.dead_units, strict=True)]
        self.drawn.merge(other.drawn)


class Run:
    """Bookkeeping of one chunk: alive rows, born-dead count, dead units per layer (`collapse` Lemma 1).

    The chunk is ``len(sizes)`` blocks of samples, rows in block order. Dead rows stay until their *block*
    drops them (fewer than ``COMPACT_BELOW`` of its present rows alive), so each block's draws (one call per
    layer for its present rows) are the same whether it runs alone or beside other blocks.
    """

    def __init__(self, sizes: Sequence[int], layers: int, device: torch.device) -> None:
        self.n = sum(sizes)
        self.present = list(sizes)  # rows of each block in the current tensors
        self.alive_count = list(sizes)  # alive samples of each block
        self.rows = self.alive_rows = self.n
        self.ids = torch.arange(self.n, device=device)  # chunk-local sample of each row
        self.alive = torch.ones(self.n, dtype=torch.bool, device=device)
        self.block_of_row = (
            torch.repeat_interleave(
                torch.arange(len(sizes), device=device), torch.tensor(list(sizes), device=device)
            )
            if len(sizes) > 1
            else None
        )
        self.tally = Tally(samples=self.n, dead_units=[0] * layers)

    def record(self, index: int, live_units: torch.Tensor, width: int) -> int:
        """After hidden layer ``index``: count its dead units and the samples it kills; returns alive rows.

        Samples that died before this layer count as all of its units dead (they carry no signal).
        """
        partial = self.alive_rows < self.rows
        exact32 = width * self.rows < 1 << 24  # integer-valued: a float32 sum is exact below 2^24
        if not partial and self.block_of_row is None:  # the common case, in as few small ops as possible
            total = live_units.sum() if exact32 else live_units.sum(dtype=torch.float64)
            live_sum, nonzero = torch.stack([total, torch.count_nonzero(live_units).to(total.dtype)]).tolist()
            return self._killed(index, round(live_sum) * FIXED, self.rows - int(nonzero), width, live_units)
        dead = live_units == 0
        died = dead & self.alive if partial else dead
        live = live_units * self.alive if partial else live_units
        live = (live.sum() if exact32 else live.sum(dtype=torch.float64)).round().to(torch.int64)
        return self._account(index, live * FIXED, died, width)

    def record_expected(self, index: int, phi: torch.Tensor | None, zero: torch.Tensor, width: int) -> int:
        """:meth:`record` for a Gaussian-reduced bias-free layer, given ``phi = asin(cos θ)`` (float64; None for
        one point; one element when every row has the same inputs) for the angle ``θ`` between the points'
        inputs and ``zero`` (m,) bool: the layer is zero at every point.

        Given its inputs, a unit is dead at both points with probability ``1/4 + asin(cos θ) / 2π`` (1/2 for
        one point); the live units are counted as ``width`` times the complement of that (Rao-Blackwell: the
        same mean as the count, less variance, no pass over the units), per row in fixed point (integers,
        summed exactly in float64 below 2^53) so that the sums are exact whatever the chunking.
        """
        if phi is None or phi.numel() == 1:  # one point, or the first layer: one angle for every row
            p_live = 0.5 if phi is None else 0.75 - float(phi) / (2 * math.pi)
            died = zero & self.alive if self.alive_rows < self.rows else zero
            return self._account(index, round(width * p_live * FIXED) * self.alive_rows, died, width)
        died = torch.empty_like(zero)
        scale, offset = -width * FIXED / (2 * math.pi), 0.75 * width * FIXED
        live, killed = tally_expected(phi, zero, self.alive, died, scale, offset)
        return self._book(index, live, died, killed, width)

    def _killed(self, index: int, live_fixed: int, killed: int, width: int, live: torch.Tensor) -> int:
        """The all-alive single-block case: ``killed`` rows died, the alive ones are where ``live != 0``."""
        self.tally.dead_units[index] += self.n * width * FIXED - live_fixed
        if killed:
            self.tally.born_dead += killed
            self.alive = live != 0
            self.alive_rows -= killed
            self.alive_count = [self.alive_count[0] - killed]
        return self.alive_rows

    def _account(self, index: int, live: int | torch.Tensor, died: torch.Tensor, width: int) -> int:
        """Add a layer's live units (fixed point, summed over the alive rows: an int, or an integer-valued
        tensor) and the rows it kills (``died``, bool per row)."""
        if isinstance(live, int):
            live_fixed, killed = live, int(died.sum())
        else:
            live_fixed, killed = torch.stack([live.to(torch.int64), died.sum()]).tolist()
        if killed:
            self.alive &= ~died
        return self._book(index, int(live_fixed), died, int(killed), width)

    def _book(self, index: int, live_fixed: int, died: torch.Tensor, killed: int, width: int) -> int:
        """Book a layer's live units (fixed point) and the ``killed`` rows (``died``, already out of
        ``alive``); returns the alive rows."""
        self.tally.dead_units[index] += self.n * width * FIXED - live_fixed
        if killed:
            if self.block_of_row is None:
                per_block = [killed]
            else:
                stats = torch.zeros(len(self.present), dtype=torch.int64, device=died.device)
                per_block = stats.index_add_(0, self.block_of_row, died.to(torch.int64)).tolist()
            self.tally.born_dead += killed
            self.alive_rows -= killed
            self.alive_count = [a - d for a, d in zip(self.alive_count, per_block, strict=True)]
        return self.alive_rows

    def finish_dead(self, start: int, widths: Sequence[int]) -> None:
        for index in range(start, len(self.tally.dead_units)):
            self.tally.dead_units[index] += self.n * widths[index] * FIXED

    def compact(self) -> torch.Tensor | None:
        """Drop the dead rows of the blocks that are mostly dead; the kept row indices (None: nothing to do)."""
        flags = [a < COMPACT_BELOW * p for a, p in zip(self.alive_count, self.present, strict=True)]
        if not any(flags):
            return None
        if self.block_of_row is None:
            keep = self.alive.nonzero().squeeze(1)
        else:
            dropping = torch.tensor(flags, device=self.alive.device).index_select(0, self.block_of_row)
            keep = (self.alive | ~dropping).nonzero().squeeze(1)
            self.block_of_row = self.block_of_row.index_select(0, keep)
        self.present = [a if f else p for a, p, f in zip(self.alive_count, self.present, flags, strict=True)]
        self.ids = self.ids.index_select(0, keep)
        self.alive = self.alive.index_select(0, keep)
        self.rows = keep.numel()
        return keep


def _near_constant(values: torch.Tensor, alive: torch.Tensor) -> int:
    """Samples whose outputs ``values`` (m, d_out, E) vary by less than 1e-6 of their size over D."""
    spread = (values.amax(dim=2) - values.amin(dim=2)).amax(dim=1)
    scale = values.abs().amax(dim=(1, 2))
    near = alive & (scale > 0) & (spread <= NEAR_CONSTANT_RTOL * scale)
    return int(near.sum())


def count_near(
    plan: Plan,
    signal: torch.Tensor,
    bias: torch.Tensor | None,
    log_scale: torch.Tensor | None,
    alive: torch.Tensor,
) -> int:
    """Near-constant samples from the output layer's ``signal = W h`` (m, d_out, P) and ``bias`` (m, d_out).

    ``log_scale`` (m, P) or (m, 1), float64: the hidden state ``h`` at point p is the true one divided by
    ``exp(log_scale[:, p])`` (the bias-free rescaling); the outputs are put back on one scale per sample, in
    float64, *with* the bias: ``o_p = exp(s_p) W h_p + b``, all divided by ``exp(max_p s_p)``.
    """
    if log_scale is not None:
        shift = log_scale.amax(dim=1, keepdim=True)
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        signal = signal.to(torch.float64) * (log_scale - shift).exp().unsqueeze(1)
        if (
            bias is not None
        ):  # beyond e^700 the bias swamps any signal: the sample is near-constant either way
            bias = bias.to(torch.float64) * (-shift).clamp_max_(700.0).exp()
    if plan.extremes is None:
        values = signal + bias.unsqueeze(2) if bias is not None else signal
        return _near_constant(values, alive)
    # exact-2-point: out(x) = b + |x| W h(sign x) (positively homogeneous), at the extremes of D
    column = {math.copysign(1.0, float(v)): i for i, v in enumerate(plan.points[:, 0])}
    base = bias if bias is not None else torch.zeros_like(signal[..., 0])
    columns = [
        base if x == 0.0 else base + abs(x) * signal[..., column[math.copysign(1.0, x)]]
        for x in plan.extremes
    ]
    return _near_constant(torch.stack(columns, dim=2), alive)
