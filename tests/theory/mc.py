"""Monte-Carlo of real bias-free ReLU networks, vectorised over samples with numpy (batched matmul).

Used by the theory tests to check the closed forms against actual networks.  Everything takes a
``numpy.random.Generator`` so that tests are reproducible.  Depth counts ReLU layers throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["born_dead_din1", "output_zero_fixed_input", "sample_weights", "tolerance"]


def sample_weights(rng: np.random.Generator, shape: tuple[int, ...], law: str = "normal") -> np.ndarray:
    """Weights from a symmetric law around 0: ``normal``, ``uniform`` (on [-1, 1]) or ``laplace``."""
    if law == "normal":
        return rng.standard_normal(shape)
    if law == "uniform":
        return rng.uniform(-1.0, 1.0, shape)
    if law == "laplace":
        return rng.laplace(0.0, 1.0, shape)
    raise ValueError(f"unknown law {law!r}")


def output_zero_fixed_input(
    widths: Sequence[int],
    n: int,
    rng: np.random.Generator,
    *,
    x: Sequence[float] = (0.3, -1.2, 0.7),
    law: str = "normal",
    chunk: int = 50_000,
) -> float:
    """Fraction of ``n`` bias-free nets (every layer followed by a ReLU) whose output at ``x`` is exactly 0.

    ``collapse`` Thm 8's event.  ``widths`` are the ReLU layers' widths; ``d_in = len(x)``.
    """
    x0 = np.asarray(x, dtype=float)
    zeros = 0
    done = 0
    while done < n:
        m = min(chunk, n - done)
        h = np.broadcast_to(x0, (m, x0.size))
        for width in widths:
            w = sample_weights(rng, (m, width, h.shape[1]), law)
            h = np.maximum(np.einsum("bij,bj->bi", w, h), 0.0)
        zeros += int(np.count_nonzero(~h.any(axis=1)))
        done += m
    return zeros / n


def born_dead_din1(
    width: int,
    relu_layers: int,
    n: int,
    rng: np.random.Generator,
    *,
    law: str = "normal",
    chunk: int = 250_000,
) -> np.ndarray:
    """Born-dead frequencies of bias-free ``d_in = 1`` nets of one width, for every depth ``1..relu_layers``.

    By positive homogeneity the net is constant on any interval around 0 iff it is constant on
    ``D = {-1, +1}``, iff some ReLU layer is zero at both points (``collapse`` Lemma 1); a zero layer stays
    zero, so "dead after layer l" is cumulative.  Returns an array ``p_hat[l - 1]`` for ``l = 1..relu_layers``.
    """
    dead = np.zeros(relu_layers, dtype=np.int64)
    done = 0
    while done < n:
        m = min(chunk, n - done)
        w1 = sample_weights(rng, (m, width), law)
        u = np.maximum(w1, 0.0)  # h_1(+1)
        v = np.maximum(-w1, 0.0)  # h_1(-1)
        for layer in range(relu_layers):
            if layer > 0:
                w = sample_weights(rng, (m, width, width), law)
                u = np.maximum(np.einsum("bij,bj->bi", w, u), 0.0)
                v = np.maximum(np.einsum("bij,bj->bi", w, v), 0.0)
            dead[layer] += int(np.count_nonzero(~(u.any(axis=1) | v.any(axis=1))))
        done += m
    return dead / n


def tolerance(p: float, n: int, k: float = 4.0, eps: float = 1e-9) -> float:
    """``k`` standard errors of a frequency of ``n`` Bernoulli(p) trials, plus ``eps``."""
    return k * float(np.sqrt(max(p * (1.0 - p), 0.0) / n)) + eps
