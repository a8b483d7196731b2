"""Overhead of the training monitor (`relulint.monitor.watch`): goal ≤ 10 % of a training step.

    python benchmarks/bench_monitor.py [--quick] [--device cpu|cuda]

Two nets, each trained with Adam on MSE (forward, backward, step, zero_grad = one training step):

1. ``1 → 2×10 → 1`` (the narrow net of `collapse` Fig. 1), batch 128;
2. a 512-wide MLP ``32 → 512×4 → 1``, batch 256.

Each is timed without and with `watch(model, every=100)`, in back-to-back pairs of blocks (the machine
may be shared); the overhead is the median over pairs of (with − without) / without. Prints the figures
and the ratios; asserts nothing (speed goals are not unit tests).
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

from relulint.monitor import watch  # noqa: E402

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
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    block(model, opt, x, y, steps)  # warm-up
    plain, watched, ratios = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a dying narrow net warns: that is the monitor working
        for _ in range(pairs):
            a = block(model, opt, x, y, steps)
            with watch(model, every=100):
                b = block(model, opt, x, y, steps)
            plain.append(a)
            watched.append(b)
            ratios.append((b - a) / a)
    overhead = statistics.median(ratios)
    verdict = "ok" if overhead <= GOAL else "ABOVE GOAL"
    print(
        f"{name:<28} step {min(plain) * 1e6:8.1f} µs plain, {min(watched) * 1e6:8.1f} µs watched: "
        f"overhead {overhead:+.1%} (median of {pairs} pairs; goal ≤ {GOAL:.0%}) {verdict}"
    )
    return overhead


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    steps, pairs = (200, 5) if args.quick else (1000, 9)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    x = torch.rand(128, 1, device=device) * 3.4 - 1.7
    measure("1 → 2×10 → 1, batch 128", mlp(1, 2, 10).to(device), x, torch.sin(3 * x), steps, pairs)
    x = torch.randn(256, 32, device=device)
    measure("32 → 512×4 → 1, batch 256", mlp(32, 512, 4).to(device), x, x[:, :1] ** 2, steps // 4, pairs)


if __name__ == "__main__":
    main()
