"""How long `relulint check` takes on a 50-layer MLP beyond a bare `import torch` (goal ≤ 0.5 s).

    python benchmarks/bench_check.py [--repeats 5]

Measured in one run: the median wall time of `python -c "import torch"` and of
`python -m relulint check bench_mlp.py:MLP50 --format json` in fresh processes, their difference, and an
in-process breakdown by pipeline stage.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = """
from torch import nn


class MLP50(nn.Module):
    def __init__(self, width: int = 64, depth: int = 50):
        super().__init__()
        layers = [nn.Linear(16, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x):
        return self.body(x)
"""


def walls(commands: dict[str, tuple[list[str], int]], cwd: Path, repeats: int) -> dict[str, float]:
    """Median wall time of each command in fresh processes, the commands interleaved round by round so that
    a change in the machine's load hits them alike; exits when one returns another code than expected."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, (command, expect) in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, cwd=cwd, check=False, capture_output=True, text=True)
            times[name].append(time.perf_counter() - started)
            if done.returncode != expect:
                sys.exit(f"{' '.join(command)} exited {done.returncode}, expected {expect}:\n{done.stderr}")
    return {name: statistics.median(values) for name, values in times.items()}


IN_PROCESS = """
import contextlib, io, sys, time
import torch
started = time.perf_counter()
sys.argv = ["relulint", "check", "bench_mlp.py:MLP50", "--format", "json"]
from relulint.cli import app
try:
    with contextlib.redirect_stdout(io.StringIO()):
        app()
except SystemExit:
    pass
print(time.perf_counter() - started)
"""


def in_process_cli(cwd: Path, repeats: int) -> float:
    """Median time of the whole `relulint check` (CLI parsing included) after `import torch`, in one
    process each: what the subprocess figure holds besides interpreter start and teardown."""
    runs = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", IN_PROCESS], cwd=cwd, capture_output=True, text=True)
        runs.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def stages(cwd: Path) -> dict[str, float]:
    import torch  # noqa: F401  (imported before timing the stages)

    from relulint.api import lint_model, load_target
    from relulint.options import Options

    options = Options()
    out: dict[str, float] = {}
    started = time.perf_counter()
    loaded, _ = load_target(str(cwd / "bench_mlp.py:MLP50"), options, cwd)
    out["load (import + build)"] = time.perf_counter() - started
    started = time.perf_counter()
    lint_model(loaded[0], options, options.training)
    out["capture + extract + rules"] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "bench_mlp.py").write_text(MODEL)
        py = sys.executable
        check = [py, "-m", "relulint", "check", "bench_mlp.py:MLP50", "--format", "json"]
        measured = walls(
            {
                "bare": ([py, "-c", "import torch"], 0),
                "framework": ([py, "-c", "import torch, typer.main, typer._adapters"], 0),
                "full": (check, 1),  # the 50-layer chain has findings (RL202 at least)
            },
            cwd,
            args.repeats,
        )
        bare, framework, full = measured["bare"], measured["framework"], measured["full"]
        print(f"python -c 'import torch'            {bare:7.3f} s (median of {args.repeats})")
        print(f"  + typer (its pydantic adapters)   {framework - bare:7.3f} s")
        print(f"relulint check (50-layer MLP, json) {full:7.3f} s")
        print(f"beyond import torch                 {full - bare:7.3f} s   (goal ≤ 0.500 s)")
        print(f"beyond import torch and typer       {full - framework:7.3f} s")
        print(f"ratio full / import torch           {full / bare:7.2f}")
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            print("note: PYTHONDONTWRITEBYTECODE is set, so an editable install recompiles relulint each run")
        cli = in_process_cli(cwd, args.repeats)
        print(f"  in-process relulint check (CLI)           {cli:.3f} s   (after import torch; the rest is")
        print("  interpreter start-up and the teardown of the extra modules, typer's pydantic among them)")
        for name, seconds in stages(cwd).items():
            print(f"  in-process {name:<28} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
