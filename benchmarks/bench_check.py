"""How long `relulint check` takes on a 50-layer MLP beyond a bare `import torch` (goal ≤ 0.5 s).

    python benchmarks/bench_check.py [--repeats 9]

Everything is measured in this one run, in fresh processes interleaved round by round (so a change in the
machine's load hits every command alike), medians over ``--repeats`` rounds:

* **wall clock**: `python -c "import torch"` against `python -m relulint check bench_mlp.py:MLP50` (the
  default text report and `--format json`), and the difference.
* **after import torch**: the same commands, each child writing the moment its `import torch` returned; the
  parent notes when the process ended. Relulint's time minus the bare import's is relulint's own cost,
  the teardown of what it added included, without the variance of interpreter start-up and of torch's own
  import (on a shared 2-core machine that import alone varies by ±0.3 s, more than the quantity measured).
* an in-process breakdown of the pipeline stages (load, capture + extract + rules, render).

The children run in Python's default configuration (bytecode caching on) after one untimed warm-up run of
each command.
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

GOAL_SECONDS = 0.5

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

# `python -c STAMPED [relulint arguments]`: import torch, write when that import returned, then (with
# arguments) run `python -m relulint` exactly as the console does.
STAMPED = """
import sys, time
import torch
sys.stderr.write(f"@@torch-imported {time.time()!r}\\n")
sys.stderr.flush()
if len(sys.argv) > 1:
    import runpy
    sys.argv = ["relulint", *sys.argv[1:]]
    runpy.run_module("relulint", run_name="__main__", alter_sys=True)
"""

CHECK = ["check", "bench_mlp.py:MLP50"]
EXPECTED_EXIT = 1  # the 50-layer chain has findings (RL202 at least)


# Python's default configuration for the children: bytecode caching on, as for any user (this sandbox sets
# PYTHONDONTWRITEBYTECODE, under which an editable install recompiles relulint in every process)
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run_once(command: list[str], cwd: Path, expect: int) -> tuple[float, float | None]:
    """(wall seconds, seconds from the child's return from `import torch` to its exit or None)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=CHILD_ENV, check=False, capture_output=True, text=True)
    ended_wall, ended = time.time(), time.perf_counter()
    if done.returncode != expect:
        sys.exit(f"{' '.join(command)} exited {done.returncode}, expected {expect}:\n{done.stderr}")
    stamps = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("@@torch-imported ")]
    after_torch = ended_wall - float(stamps[0]) if stamps else None
    return ended - started, after_torch


def measure(commands: dict[str, tuple[list[str], int]], cwd: Path, repeats: int) -> dict[str, list[float]]:
    """Every command once per round, rounds repeated; the list of figures per command."""
    out: dict[str, list[float]] = {name: [] for name in commands}
    for command, expect in commands.values():  # warm-up, untimed: writes the bytecode caches
        run_once(command, cwd, expect)
    for _ in range(repeats):
        for name, (command, expect) in commands.items():
            wall, after_torch = run_once(command, cwd, expect)
            out[name].append(after_torch if after_torch is not None else wall)
    return out


def stages(cwd: Path) -> dict[str, float]:
    """Cold, in this process (after `import torch`): the time of each pipeline stage."""
    import contextlib
    import io

    import torch  # noqa: F401  (imported before timing the stages)

    from relulint.api import lint_model, load_target
    from relulint.options import Options
    from relulint.records.report import Report
    from relulint.render import render

    options = Options()
    out: dict[str, float] = {}
    started = time.perf_counter()
    loaded, _ = load_target(str(cwd / "bench_mlp.py:MLP50"), options, cwd)
    out["load (import + build)"] = time.perf_counter() - started
    started = time.perf_counter()
    target = lint_model(loaded[0], options, options.training)
    out["capture + extract + rules"] = time.perf_counter() - started
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        render(Report(targets=(target,)), "text", options=options)
    out["render (text)"] = time.perf_counter() - started
    out["recording while building (over a plain build)"] = recording_overhead(cwd / "bench_mlp.py")
    return out


def recording_overhead(source: Path, rounds: int = 5) -> float:
    """Best-of-``rounds`` time of building the 50-layer MLP under relulint's recorders (inits, construction
    sites, seeded RNGs) minus the best plain build."""
    from relulint.import_user import _recorded
    from relulint.sandbox import Origins

    namespace: dict[str, object] = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    build = namespace["MLP50"]

    def best(recorded: bool) -> float:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            if recorded:
                with _recorded(Origins([source])):
                    build()
            else:
                build()
            times.append(time.perf_counter() - started)
        return min(times)

    best(False)
    return best(True) - best(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "bench_mlp.py").write_text(MODEL)
        wall = measure(
            {
                "bare": ([py, "-c", "import torch"], 0),
                "text": ([py, "-m", "relulint", *CHECK], EXPECTED_EXIT),
                "json": ([py, "-m", "relulint", *CHECK, "--format", "json"], EXPECTED_EXIT),
            },
            cwd,
            args.repeats,
        )
        stamped = measure(
            {
                "bare": ([py, "-c", STAMPED], 0),
                "text": ([py, "-c", STAMPED, *CHECK], EXPECTED_EXIT),
                "json": ([py, "-c", STAMPED, *CHECK, "--format", "json"], EXPECTED_EXIT),
            },
            cwd,
            args.repeats,
        )
        med = {name: statistics.median(values) for name, values in wall.items()}
        after = {name: statistics.median(values) for name, values in stamped.items()}
        spread = {name: (min(values), max(values)) for name, values in wall.items()}
        print(f"`relulint check` on a 50-layer MLP, medians of {args.repeats} interleaved rounds")
        low, high = spread["bare"]
        print(f"python -c 'import torch'      wall {med['bare']:6.3f} s  (range {low:.3f}-{high:.3f} s)")
        for name in ("text", "json"):
            print(
                f"relulint check ({name:4})        wall {med[name]:6.3f} s  beyond import torch "
                f"{med[name] - med['bare']:6.3f} s"
            )
        print(
            "after `import torch` returned (child's own stamp to process exit, the bare import's subtracted):"
        )
        for name in ("text", "json"):
            beyond = after[name] - after["bare"]
            verdict = "met" if beyond <= GOAL_SECONDS else "NOT met"
            print(
                f"  relulint check ({name:4})  {after[name]:6.3f} s - {after['bare']:.3f} s = {beyond:6.3f} s"
                f"   goal ≤ {GOAL_SECONDS:.3f} s: {verdict}"
            )
        print(f"  ratio of the wall times, text / import torch: {med['text'] / med['bare']:.2f}")
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            print(
                "note: the children ran with Python's default bytecode caching (PYTHONDONTWRITEBYTECODE, set"
            )
            print("      here, was left out of their environment) after one untimed warm-up run each")
        print("in-process stages, cold (after import torch):")
        for name, seconds in stages(cwd).items():
            print(f"  {name:<46} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
