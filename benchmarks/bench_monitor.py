"""Overhead of the training monitor (`relulint.monitor.watch`): goal ≤ 10 % of a training step.

    python benchmarks/bench_monitor.py [--quick] [--device cpu|cuda]

Two nets, each trained with Adam on MSE (forward, backward, step, zero_grad = one training step):

1. ``1 → 2×10 → 1`` (the narrow net of `collapse` Fig. 1), batch 128;
2. a 512-wide MLP ``32 → 512×4 → 1``, batch 256.

Each is timed without and with the monitor of `watch(model, every=100)` in short blocks, plain / watched / plain, many
times over (the machine may be shared): the overhead is the fastest watched block over the fastest plain
one, the median of the per-triple ratios printed beside it. One CPU thread by default (steadier on a
shared machine; `--threads N`). Prints the figures and the ratios; asserts nothing (speed goals are not
unit tests). Finding the layers (relulint's capture and extraction, once per `watch`) is timed apart:
it is paid once, not per step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relulint.monitor import Monitor  # noqa: E402

GOAL = 0.10


def mlp(d_in: int, width: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(d_in, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def block(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int
) -> float:
    """Seconds per training step over `steps` steps."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync()
    return (time.perf_counter() - start) / steps


def measure(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, pairs: int) -> float:
    """Blocks of `steps` steps, plain / watched / plain, `pairs` times. The overhead is the ratio of the
    fastest watched block to the fastest plain one (on a shared machine the minimum is the figure least
    disturbed by other work); the median of the per-triple ratios is printed beside it."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    sites = Monitor(model, warn=False).close_and_sites()  # finding the layers (capture, extract): once
    setup = time.perf_counter() - started
    block(model, opt, x, y, steps)  # warm-up
    plain, watched, ratios = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a dying narrow net warns: that is the monitor working
        for _ in range(pairs):
            a = block(model, opt, x, y, steps)
            with Monitor(model, every=100, sites=sites):  # as watch(model), the layers already found
                b = block(model, opt, x, y, steps)
            c = block(model, opt, x, y, steps)
            plain += [a, c]
            watched.append(b)
            ratios.append(b / ((a + c) / 2) - 1)
    overhead = min(watched) / min(plain) - 1
    verdict = "ok" if overhead <= GOAL else "ABOVE GOAL"
    print(
        f"{name:<28} step {min(plain) * 1e6:8.1f} µs plain, {min(watched) * 1e6:8.1f} µs watched: "
        f"overhead {overhead:+.1%} (fastest blocks; median of {pairs} triples {statistics.median(ratios):+.1%}; "
        f"goal ≤ {GOAL:.0%}) {verdict}; finding the layers once: {setup * 1e3:.0f} ms"
    )
    return overhead


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (1: steadier on a shared machine)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    steps, pairs = (30, 10) if args.quick else (50, 40)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    x = torch.rand(128, 1, device=device) * 3.4 - 1.7
    measure("1 → 2×10 → 1, batch 128", mlp(1, 2, 10).to(device), x, torch.sin(3 * x), steps, pairs)
    x = torch.randn(256, 32, device=device)
    measure(
        "32 → 512×4 → 1, batch 256", mlp(32, 512, 4).to(device), x, x[:, :1] ** 2, max(2, steps // 10), pairs
    )


if __name__ == "__main__":
    main()
