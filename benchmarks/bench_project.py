"""`relulint check DIR` on a project of 200 small model files against importing them in a plain loop
(goal: ≤ 2× the plain loop).

    python benchmarks/bench_project.py [--files 200] [--repeats 5]

A temporary project holds `--files` model files in nested packages (one small `nn.Module` each: three
Linear layers and two ReLUs, built without arguments) plus as many helper files without a model (which the
static filter must leave unimported), and a `.venv/` full of model files (which discovery must skip).
Measured in fresh processes, interleaved round by round so that a change of the machine's load hits every
command alike, medians over ``--repeats`` rounds, after one untimed warm-up of each:

* **plain loop**: `python -c` importing torch, then each model file with `importlib` (no relulint);
* **plain loop + build**: the same, also building each model once (what relulint must do at least);
* **relulint check DIR**: `python -m relulint check DIR --format json --exit-zero` (discovery, import,
  build, capture, rules, report).

Prints the medians and the ratio relulint / plain loop against the goal, and checks that relulint reported
every model and imported no helper file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RATIO = 2.0

MODEL = """
import torch
from torch import nn


class Model{index}(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 16)
        self.b = nn.Linear(16, 16)
        self.c = nn.Linear(16, 1)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))
"""

HELPER = """
from pathlib import Path

Path(__file__).with_suffix(".imported").write_text("imported")  # the static filter must not import this


def helper_{index}(x):
    return 2 * x
"""

PLAIN = """
import importlib.util, sys
import torch

build = sys.argv[1] == "build"
for name in sys.argv[2:]:
    spec = importlib.util.spec_from_file_location(name.replace("/", "_")[:-3], name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if build:
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, torch.nn.Module) and value.__module__ == module.__name__:
                value()
"""


def make_project(root: Path, files: int) -> list[str]:
    """`files` model files in 10 nested packages, as many helpers, and a virtualenv to skip."""
    models = []
    for index in range(files):
        package = root / "src" / f"group{index % 10}" / "models"
        package.mkdir(parents=True, exist_ok=True)
        for directory in (package.parent, package):
            (directory / "__init__.py").touch()
        path = package / f"model_{index}.py"
        path.write_text(MODEL.format(index=index), encoding="utf-8")
        (package.parent / f"helper_{index}.py").write_text(HELPER.format(index=index), encoding="utf-8")
        models.append(path.relative_to(root).as_posix())
    venv = root / ".venv" / "lib" / "site-packages"
    venv.mkdir(parents=True)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    for index in range(20):
        (venv / f"vendored_{index}.py").write_text(MODEL.format(index=index), encoding="utf-8")
    return models


def timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relulint-bench-project-") as directory:
        root = Path(directory)
        models = make_project(root, args.files)
        relulint = [sys.executable, "-m", "relulint", "check", ".", "--exit-zero"]
        commands = {
            "plain loop": [sys.executable, "-c", PLAIN, "import", *models],
            "plain loop + build": [sys.executable, "-c", PLAIN, "build", *models],
            "relulint check DIR": [*relulint, "-f", "json"],
            "relulint, text": relulint,
            "relulint, concise": [*relulint, "-f", "concise"],
        }
        for command in commands.values():  # warm-up: bytecode caches, the file system's caches
            timed(command, root)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                seconds, run = timed(command, root)
                if run.returncode != 0:
                    print(f"{name} failed ({run.returncode}):\n{run.stderr[-2000:]}", file=sys.stderr)
                    return 1
                times[name].append(seconds)
                if name == "relulint check DIR":
                    document = json.loads(run.stdout)
                    checked = len(document["targets"])
                    assert checked == args.files, f"relulint checked {checked} models, expected {args.files}"
        assert not list(root.rglob("*.imported")), "the static filter imported a file without a model"
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(
            f"{name:>20}: {value:6.2f} s (median of {args.repeats}; {min(times[name]):.2f}–{max(times[name]):.2f})"
        )
    plain = medians["plain loop"]
    ratio = medians["relulint check DIR"] / plain
    verdict = "meets" if ratio <= GOAL_RATIO else "misses"
    print(f"relulint (json) / plain loop: {ratio:.2f}× ({verdict} the goal ≤ {GOAL_RATIO:g}×)")
    print(
        f"relulint (json) / plain loop + build: {medians['relulint check DIR'] / medians['plain loop + build']:.2f}×"
    )
    for fmt in ("text", "concise"):
        print(f"relulint ({fmt}) / plain loop: {medians[f'relulint, {fmt}'] / plain:.2f}×")
    beyond = (medians["relulint check DIR"] - plain) / args.files * 1000
    print(f"per model file: {beyond:.1f} ms beyond the plain import")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
