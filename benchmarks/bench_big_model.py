"""relulint's cost on big models beyond `import torch` + building the model (goal ≤ 0.5× the build time).

    python benchmarks/bench_big_model.py [--repeats 3] [--models gpt2,mlp4096]

Two models of our own, written as the libraries write them:

* **GPT2Small** — GPT-2-small-sized (124 M parameters): 12 pre-LN blocks, d = 768, 12 heads, a GELU
  MLP of width 3072, vocabulary 50257, the output head tied to the token embedding. No ReLU chain: all
  relulint should spend is reading the graph.
* **ReluMLP4096** — 5 hidden ReLU layers of width 4096 (84 M parameters): every layer is fingerprinted.

For each model, in fresh processes interleaved round by round (medians over ``--repeats`` rounds), each
child writing the moment its `import torch` returned: the **build** child imports the model file and
builds the model; the **check** child runs `relulint check file.py:Model --format json` (which imports the
file and builds the model itself). relulint's own cost is check − build, both counted from `import torch`
returning to the process's exit, in wall-clock and in CPU seconds (all threads: on a shared machine the
CPU figure is the steadier one); the ratio is that cost over the build time. An in-process breakdown of
the stages (load = import + build under relulint's recorders, capture + extract + rules) follows, with the
peak resident memory of the check child against the model's own size.
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

GOAL_RATIO = 0.5

MODELS = """
import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.size()
        q, k, v = self.c_attn(x).split(d, dim=2)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))


class MLP(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Small(nn.Module):
    def __init__(self, vocab: int = 50257, context: int = 1024, d: int = 768, layers: int = 12, heads: int = 12):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(0, idx.size(1), dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class ReluMLP4096(nn.Module):
    def __init__(self, d_in: int = 256, width: int = 4096, depth: int = 5, d_out: int = 10):
        super().__init__()
        layers = [nn.Linear(d_in, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(width, d_out))

    def forward(self, x):
        return self.net(x)
"""

CASES = {  # name → (class, the exit code `relulint check` should give)
    "gpt2": ("GPT2Small", 0),
    "mlp4096": ("ReluMLP4096", None),  # findings or not, whatever the verdict: only the time is measured
}

# `python -c STAMPED MODE NAME`: import torch, stamp, then build the model (MODE=build) or run relulint on
# it as the console does (MODE=check); the child prints its peak resident memory at exit.
STAMPED = """
import resource, sys, time
import torch
sys.stderr.write(f"@@torch-imported {time.time()!r}\\n@@cpu-torch {time.process_time()!r}\\n")
sys.stderr.flush()
mode, name = sys.argv[1], sys.argv[2]
def peak():
    # VmHWM: this process's own peak (ru_maxrss would keep the parent's across fork + exec)
    try:
        with open("/proc/self/status") as status:
            kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"@@peak-kib {kib}\\n")
    sys.stderr.write(f"@@cpu-exit {time.process_time()!r}\\n")
if mode == "build":
    sys.path.insert(0, ".")
    import big_models
    getattr(big_models, name)()
    peak()
else:
    import atexit, runpy
    atexit.register(peak)
    sys.argv = ["relulint", "check", f"big_models.py:{name}", "--format", "json", "--timeout", "600"]
    runpy.run_module("relulint", run_name="__main__", alter_sys=True)
"""

CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run_once(mode: str, name: str, expect: int | None, cwd: Path) -> tuple[float, float, float]:
    """(wall seconds from the child's return from `import torch` to its exit, CPU seconds (all threads)
    over the same span, its peak RSS in MiB)."""
    done = subprocess.run(
        [sys.executable, "-c", STAMPED, mode, name], cwd=cwd, env=CHILD_ENV, capture_output=True, text=True
    )
    ended = time.time()
    if (mode == "build" and done.returncode != 0) or (
        mode == "check" and expect is not None and done.returncode != expect
    ):
        sys.exit(f"{mode} {name} exited {done.returncode}:\n{done.stderr[-3000:]}")
    stamps = {}
    for line in done.stderr.splitlines():
        if line.startswith("@@"):
            key, value = line[2:].split()
            stamps[key] = float(value)
    cpu = stamps["cpu-exit"] - stamps["cpu-torch"]
    return ended - stamps["torch-imported"], cpu, stamps.get("peak-kib", 0.0) / 1024


def stages(name: str, cwd: Path) -> dict[str, float]:
    """In this process, after `import torch`: the time of each pipeline stage on the model."""
    import torch  # noqa: F401  (imported before timing the stages)

    from relulint.api import lint_model, load_target
    from relulint.options import Options

    options = Options()
    out: dict[str, float] = {}
    started = time.perf_counter()
    loaded, _ = load_target(str(cwd / f"big_models.py:{name}"), options, cwd)
    out["load (import + build, recorded)"] = time.perf_counter() - started
    started = time.perf_counter()
    lint_model(loaded[0], options, options.training)
    out["capture + extract + rules"] = time.perf_counter() - started
    params = sum(p.numel() * p.element_size() for p in loaded[0].module.parameters())
    out["model size (MiB)"] = params / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    args = parser.parse_args()
    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "big_models.py").write_text(MODELS)
        for key in chosen:
            name, expect = CASES[key]
            run_once("build", name, expect, cwd)  # warm-up, untimed: bytecode caches
            run_once("check", name, expect, cwd)
            runs: dict[str, list[tuple[float, float, float]]] = {"build": [], "check": []}
            for _ in range(args.repeats):
                for mode, figures in runs.items():
                    figures.append(run_once(mode, name, expect, cwd))
            print(f"{name}: medians of {args.repeats} interleaved rounds, `import torch` returning to exit")
            for what, column in (("wall", 0), ("CPU", 1)):
                b = statistics.median(r[column] for r in runs["build"])
                c = statistics.median(r[column] for r in runs["check"])
                cost = c - b
                verdict = "met" if cost <= GOAL_RATIO * b else "NOT met"
                print(
                    f"  {what:4} build {b:6.2f} s, relulint check {c:6.2f} s: relulint's own cost"
                    f" {cost:6.2f} s = {cost / b:5.2f}x the build (goal ≤ {GOAL_RATIO}x: {verdict})"
                )
            build_peak = statistics.median(r[2] for r in runs["build"])
            check_peak = statistics.median(r[2] for r in runs["check"])
            print(f"  peak RSS: build {build_peak:.0f} MiB, check {check_peak:.0f} MiB")
            for stage, value in stages(name, cwd).items():
                unit = "" if "MiB" in stage else " s"
                print(f"  in process: {stage:34} {value:7.2f}{unit}")


if __name__ == "__main__":
    main()
