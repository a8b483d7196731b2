"""Speed of the Monte-Carlo probe (`relulint.probe`): the figures and ratios of the probe issue, one run.

    python benchmarks/bench_probe.py [--quick]

1. 10⁶ samples of a ``1 → 10×10 → 1`` bias-free He-normal chain: time, ratio to a per-sample loop in the
   papers' style (numpy, one net at a time, timed on 2,000 samples, extrapolated), ratio to the *floor* =
   replaying exactly the probe's draw calls (same kinds, sizes and counts, float32) on as many threads, each
   with its own generator, as the probe ran chunks at once. Plain PyTorch, no compiler (goal: ≤ 2.5× the
   floor on 2 CPU cores).
2. ``2 → 4×20 → 1`` with biases, PyTorch default init, 256 points: samples/s beside a plain implementation
   (one batched matmul per layer over all samples × points, no early exit).
3. How the cost grows with samples, points, width and depth.
4. relulint's own RAI (`relulint.init.rai_`, as the recorder records it): 100,000 samples of a 30-layer
   width-2 chain by the batched RAI sampler, beside the rebuild-per-sample rate it replaces.
5. CUDA, where a GPU is present: inits (samples) per second of the ``1 → 10×10 → 1`` chain (goal ≥ 10⁸/s);
   without one the line says so.

Timings are the best of a few repeats (the machine may be shared); the floor ratio is the median of
back-to-back pairs (`paired`); ratios use figures from this run only.
"""

from __future__ import annotations

import math
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from probe_helpers import RaiMLP, loaded_model, make_chain, recorded_chain  # noqa: E402

from relulint.probe import probe_chain  # noqa: E402
from relulint.probe.tally import Tally  # noqa: E402


def best(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def papers_loop(n: int, width: int = 10, depth: int = 10, seed: int = 0) -> float:
    """Seconds per sample of a per-sample loop in the papers' style (numpy, as `dying` Appendix G):
    draw He-normal weights for one net, evaluate it on D = {-1, +1}, check every hidden layer for zero."""
    rng = np.random.default_rng(seed)
    x = np.array([[-1.0], [1.0]])
    dead = 0
    start = time.perf_counter()
    for _ in range(n):
        h, fan_in, zero = x, 1, False
        for _layer in range(depth):
            w = rng.standard_normal((width, fan_in)) * math.sqrt(2.0 / fan_in)
            h = np.maximum(h @ w.T, 0.0)
            fan_in = width
            zero = zero or not h.any()
        w = rng.standard_normal((1, width)) * math.sqrt(2.0 / width)
        _out = h @ w.T
        dead += zero
    return (time.perf_counter() - start) / n


def floor_seconds(calls: Counter[tuple[str, int]], streams: int = 1, seed: int = 0) -> float:
    """Replay exactly the probe's draw calls (same kind, size and count, float32): the RNG floor.

    The calls are dealt round-robin to ``streams`` threads, each with its own CPU generator and one
    preallocated buffer (torch draws a generator's numbers on one thread: the probe runs as many chunks at
    once, ``tally.workers``, so its floor draws on as many streams). The probe's ``tally.drawn.calls`` lists
    the calls.
    """
    every = [(kind, size) for (kind, size), count in sorted(calls.items()) for _ in range(count)]
    shares = [every[i::streams] for i in range(streams)]

    def replay(share: list[tuple[str, int]], stream: int) -> None:
        gen = torch.Generator().manual_seed(seed + stream)
        buf = torch.empty(max((size for _, size in share), default=1))
        for kind, size in share:
            target = buf[:size]
            (target.normal_ if kind == "normal" else target.uniform_)(generator=gen)

    threads = [threading.Thread(target=replay, args=(share, i)) for i, share in enumerate(shares)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def paired(
    first: Callable[[], object], second: Callable[[], object], pairs: int = 7
) -> tuple[float, float, float]:
    """``(best first, best second, median of first/second)`` over ``pairs`` back-to-back timings.

    This machine's speed drifts by tens of percent within a minute (a shared host); each ratio compares two
    timings taken moments apart, and the median of those is steadier than a ratio of two minima that may
    come from different moments.
    """
    a, b = [], []
    for _ in range(pairs):
        a.append(best(first, repeats=1))
        b.append(best(second, repeats=1))
    return min(a), min(b), statistics.median(x / y for x, y in zip(a, b, strict=True))


def plain_20x4(samples: int, points: int = 256, chunk: int = 1024, seed: int = 0) -> float:
    """The plain implementation: sample every layer, one batched matmul per layer, no early exit."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.empty(points, 2).uniform_(-math.sqrt(3), math.sqrt(3), generator=gen)
    dims = [2, *[4] * 20, 1]
    dead = 0
    start = time.perf_counter()
    with torch.no_grad():
        for done in range(0, samples, chunk):
            b = min(chunk, samples - done)
            h = x.expand(b, points, 2)
            any_zero = torch.zeros(b, dtype=torch.bool)
            for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
                bound = 1.0 / math.sqrt(fan_in)
                w = torch.empty(b, fan_out, fan_in).uniform_(-bound, bound, generator=gen)
                bias = torch.empty(b, 1, fan_out).uniform_(-bound, bound, generator=gen)
                h = torch.baddbmm(bias, h, w.transpose(1, 2))
                if i < len(dims) - 2:
                    h = h.relu()
                    any_zero |= (h == 0).flatten(1).all(1)
            dead += int(any_zero.sum())
    return time.perf_counter() - start


def main(quick: bool = False) -> None:
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    n1 = 200_000 if quick else 1_000_000

    # ---- 1. 1 → 10×10 → 1, bias-free He normal
    chain = make_chain(1, [10] * 10, law="he-normal")
    tally = Tally()
    result = probe_chain(None, chain, samples=n1, seed=0, device="cpu", progress=False, tally=tally)
    streams = tally.workers
    t_probe, t_floor, ratio = paired(
        lambda: probe_chain(None, chain, samples=n1, seed=0, device="cpu", progress=False),
        lambda: floor_seconds(tally.drawn.calls, streams),
    )
    t_floor_one = best(lambda: floor_seconds(tally.drawn.calls, 1))
    sizes = ", ".join(f"{count}×{size:,} {kind}" for (kind, size), count in sorted(tally.drawn.calls.items()))
    t_loop = best(lambda: papers_loop(2000), repeats=2) / 2000 * n1
    per = sum(tally.drawn.values()) / n1
    print(f"\n1. {n1:,} samples of 1 → 10×10 → 1, bias-free He normal ({result.method})")
    print(f"   P(born dead) = {result.estimate:.5f}  CI [{result.ci[0]:.5f}, {result.ci[1]:.5f}]")
    print(
        f"   probe          {t_probe:8.3f} s  ({t_probe / n1 * 1e6:.3f} µs/sample, {streams} chunk(s) at once)"
    )
    print(f"   papers' loop   {t_loop:8.3f} s  ({t_loop / n1 * 1e6:.1f} µs/sample, 2,000 timed)")
    print(f"   RNG floor      {t_floor:8.3f} s  ({per:.1f} random numbers/sample: {dict(tally.drawn)},")
    print(f"                  on {streams} stream(s) as the probe; the probe's own draw calls, replayed:")
    print(f"                  {sizes})")
    print(f"   (one stream    {t_floor_one:8.3f} s: the same calls on a single generator)")
    print(f"   speed-up vs loop {t_loop / t_probe:6.1f}×   (goal ≥ 10×)")
    print(
        f"   probe / floor    {ratio:6.2f}×   (goal ≤ 2.5×; floor on {streams} stream(s); median of 7 back-to-back"
        f" pairs, {t_probe / t_floor:.2f}× from the best times)"
    )
    print(f"   (probe / one-stream floor {t_probe / t_floor_one:.2f}×)")
    print(
        f"   numbers drawn: {per:.0f}/sample vs {10 + 9 * 100 + 10} weights (Gaussian reduction: 2N per layer)"
    )

    # ---- 2. 2 → 4×20 → 1 with biases, PyTorch default, 256 points
    n2 = 20_000 if quick else 50_000
    chain2 = make_chain(2, [4] * 20, law="default", bias=True)
    r2 = probe_chain(None, chain2, samples=n2, seed=0, device="cpu", progress=False)
    t2 = best(lambda: probe_chain(None, chain2, samples=n2, seed=0, device="cpu", progress=False))
    tp = best(lambda: plain_20x4(n2 // 2), repeats=2) * 2
    print(f"\n2. 2 → 4×20 → 1 with biases, PyTorch default init, 256 points, {n2:,} samples ({r2.method})")
    print(f"   P(born dead) = {r2.estimate:.4f}; near-constant {r2.near_constant / r2.samples:.4f}")
    print(f"   probe  {n2 / t2:10,.0f} samples/s")
    print(f"   plain  {n2 / tp:10,.0f} samples/s")
    print(f"   ratio  {tp / t2:10.2f}×   (goal ≥ 2.5×)")

    # ---- 3. cost growth (general path: d_in = 2, biases, PyTorch default)
    print("\n3. cost growth, general path (2 → N×L → 1, biases, PyTorch default): µs per sample")
    base = {"samples": 10_000, "points": 256, "width": 4, "depth": 20}
    rows = [
        ("samples", [5_000, 20_000, 80_000]),
        ("points", [64, 256, 1024]),
        ("width", [4, 16, 64]),
        ("depth", [10, 20, 40]),
    ]
    if quick:
        rows = [(name, values[:2]) for name, values in rows]
    for name, values in rows:
        cells = []
        for value in values:
            cfg = {**base, name: value}
            c = make_chain(2, [cfg["width"]] * cfg["depth"], law="default", bias=True)
            t = best(
                lambda c=c, cfg=cfg: probe_chain(
                    None, c, samples=cfg["samples"], points=cfg["points"], device="cpu", progress=False
                ),
                repeats=2,
            )
            cells.append(f"{name}={value}: {t / cfg['samples'] * 1e6:8.2f}")
        print("   " + "   ".join(cells))

    # ---- 4. relulint's own RAI, recorded
    n4 = 20_000 if quick else 100_000

    def rai30() -> torch.nn.Module:
        return RaiMLP(1, [2] * 30, 1)

    chain4 = recorded_chain(rai30)
    start = time.perf_counter()
    r4 = probe_chain(loaded_model(rai30), chain4, samples=n4, seed=0, device="cpu", progress=False)
    t4 = time.perf_counter() - start
    n_slow = 200
    start = time.perf_counter()
    probe_chain(
        loaded_model(rai30), chain4, samples=n_slow, device="cpu", progress=False, path="reinstantiate"
    )
    t_slow = (time.perf_counter() - start) / n_slow * n4
    print(f"\n4. relulint.init.rai_ as recorded, 1 → 2×30 → 1 with biases, {n4:,} samples ({r4.method})")
    print(f"   P(born dead) = {r4.estimate:.4f}  CI [{r4.ci[0]:.4f}, {r4.ci[1]:.4f}]")
    print(f"   batched RAI sampler {t4:8.2f} s   (goal: well under a minute)")
    print(f"   rebuild per sample  {t_slow:8.1f} s   (extrapolated from {n_slow} rebuilds)")

    # ---- 5. CUDA
    print("\n5. CUDA, 1 → 10×10 → 1, bias-free He normal")
    if not torch.cuda.is_available():
        print("   no CUDA device here: not measured (goal ≥ 1e8 inits/s where a GPU is present)")
        return
    n5 = 10_000_000 if quick else 100_000_000
    probe_chain(None, chain, samples=1_000_000, seed=1, device="cuda", progress=False)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    r5 = probe_chain(None, chain, samples=n5, seed=0, device="cuda", progress=False)
    torch.cuda.synchronize()
    t5 = time.perf_counter() - start
    print(f"   {torch.cuda.get_device_name()}: {n5:,} samples in {t5:.2f} s, P = {r5.estimate:.5f}")
    print(f"   {n5 / t5:12.3e} inits/s   (goal ≥ 1e8)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
