"""The trained network's output over the inputs, compared with the targets (`collapse` Thm 4, Cor 6).

`collapse` Thm 4: a network with a hidden layer zero on every input is a constant function, and gradient
training ends at the constant that minimizes the loss over the targets: their mean under the L2 loss
(MSE), their median under the L1 loss (MAE). `matches` says which of the two the constant is, when it is
within `MATCH_TOLERANCE` standard deviations of the targets of one of them.

Cor 6 (partial collapse): the output may be constant on regions K_i of the inputs only (equal to the
mean of the targets over K_i under L2). `regions` lists the sets of at least `MIN_REGION` of the inputs
that share one output value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relulint.audit.activity import NEAR_ZERO
from relulint.audit.records import OutputFacts, Region

#: a constant output within this many target standard deviations of the targets' mean (or median)
#: "matches" it. Gradient training of the constant (Thm 4) converges geometrically to the statistic, so a
#: finished run sits far closer; mean and median of a skewed target differ by a sizeable fraction of σ
#: (Exp(1): 0.31 σ), which this tolerance keeps apart.
MATCH_TOLERANCE = 0.05
MIN_REGION = 0.05  # a region holds at least this fraction of the inputs (and at least 3)


def _stat(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def output_facts(
    outputs: np.ndarray, inputs: np.ndarray, targets: np.ndarray | None, loss: str | None
) -> OutputFacts:
    """Spread, constancy, the match with the targets' mean / median, R², and regions of constancy."""
    std = outputs.std(axis=0)
    spread = outputs.max(axis=0) - outputs.min(axis=0)
    value = outputs.mean(axis=0)
    scale = max(1.0, float(np.abs(outputs).max()))
    constant = bool((spread == 0).all())
    near = not constant and bool((std <= NEAR_ZERO * scale).all())
    facts: dict[str, Any] = dict(
        std=float(std.max()),
        spread=float(spread.max()),
        constant=constant,
        near_constant=near,
        value=_stat(value),
        tolerance=MATCH_TOLERANCE,
    )
    if targets is not None:
        mean, median, sigma = targets.mean(axis=0), np.median(targets, axis=0), targets.std(axis=0)
        unit = np.where(sigma > 0, sigma, 1.0)
        d_mean = float((np.abs(value - mean) / unit).max())
        d_median = float((np.abs(value - median) / unit).max())
        total = float(((targets - mean) ** 2).sum())
        residual = float(((targets - outputs) ** 2).sum())
        facts.update(
            target_mean=_stat(mean),
            target_median=_stat(median),
            target_std=_stat(sigma),
            distance_mean=d_mean,
            distance_median=d_median,
            r2=1.0 - residual / total if total > 0 else None,
        )
        if constant or near:
            facts["matches"] = matched(d_mean, d_median, loss)
    if not (constant or near):
        facts["regions"] = regions(outputs, inputs, targets, scale)
    return OutputFacts(**facts)


def matched(d_mean: float, d_median: float, loss: str | None) -> str | None:
    """ "mean" or "median" (the nearer one within the tolerance); when both are within it (a symmetric
    target), the one the loss converges to (mse → mean, mae → median), else the nearer one."""
    within = {"mean": d_mean <= MATCH_TOLERANCE, "median": d_median <= MATCH_TOLERANCE}
    if within["mean"] and within["median"] and loss in ("mse", "mae"):
        return "mean" if loss == "mse" else "median"
    candidates = [name for name, ok in within.items() if ok]
    if not candidates:
        return None
    return min(candidates, key=lambda name: d_mean if name == "mean" else d_median)


def regions(
    outputs: np.ndarray, inputs: np.ndarray, targets: np.ndarray | None, scale: float
) -> tuple[Region, ...]:
    """Sets of inputs (≥ max(3, MIN_REGION·n)) sharing one output value up to NEAR_ZERO·scale."""
    n = outputs.shape[0]
    keys = np.round(outputs / (NEAR_ZERO * scale))
    _unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    found = []
    for group in np.flatnonzero(counts >= max(3, MIN_REGION * n)):
        members = inverse == group
        xs = inputs[members]
        region = Region(
            count=int(members.sum()),
            value=_stat(outputs[members].mean(axis=0)),
            low=_stat(xs.min(axis=0)),
            high=_stat(xs.max(axis=0)),
        )
        if targets is not None:
            ys = targets[members]
            region = Region(
                region.count,
                region.value,
                region.low,
                region.high,
                _stat(ys.mean(axis=0)),
                _stat(np.median(ys, axis=0)),
            )
        found.append(region)
    return tuple(sorted(found, key=lambda r: -r.count))
