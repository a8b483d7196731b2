"""Big models: only the layers of ReLU chains are fingerprinted, on a bounded sample of whole rows (memory
that does not grow with the layer, statistics whose power the sample keeps), and ``--timeout`` bounds a
model's whole check, analysis included. Speed itself is measured in ``benchmarks/bench_big_model.py``."""

from __future__ import annotations

import json
import math
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import relulint.init_reconcile
from relulint.cli import app
from relulint.errors import LoadError
from relulint.init_fingerprint import MIN_SAMPLE_ROWS, SAMPLE_ENTRIES, fingerprint

runner = CliRunner()

# A pre-LN transformer (GELU MLPs, a tied vocabulary head) with a small ReLU MLP head on the pooled state:
# the way a classifier on top of a GPT-style encoder is written.
TRANSFORMER = """
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.ln = nn.LayerNorm(d)
            self.fc = nn.Linear(d, 4 * d)
            self.act = nn.GELU()
            self.proj = nn.Linear(4 * d, d)

        def forward(self, x):
            return x + self.proj(self.act(self.fc(self.ln(x))))


    class Classifier(nn.Module):
        def __init__(self, vocab=3000, d=64, blocks=2):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.blocks = nn.ModuleList(Block(d) for _ in range(blocks))
            self.lm_head = nn.Linear(d, vocab, bias=False)
            self.lm_head.weight = self.embed.weight
            self.head = nn.Sequential(nn.Linear(d, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.embed(tokens)
            for block in self.blocks:
                x = block(x)
            return self.head(x.mean(dim=1)) + self.lm_head(x).mean()
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_only_the_layers_of_relu_chains_are_fingerprinted(tmp_path, monkeypatch) -> None:
    seen: list[tuple[int, ...]] = []
    original = relulint.init_reconcile.fingerprint

    def spy(tensor, *args, **kwargs):
        seen.append(tuple(tensor.shape))
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(relulint.init_reconcile, "fingerprint", spy)
    path = write(tmp_path, "classifier.py", TRANSFORMER)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", f"{path.name}:Classifier", "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    (chain,) = json.loads(result.stdout)["targets"][0]["chains"]
    assert chain["hidden_widths"] == [3, 3]
    # the ReLU head's three Linears (weight and bias), nothing of the blocks or the 3000 × 64 head
    assert sorted(seen) == sorted([(3, 64), (3,), (3, 3), (3,), (2, 3), (2,)])


def numpy_peak(function) -> int:
    """Peak bytes numpy allocated while ``function`` ran (numpy reports its buffers to tracemalloc; torch's
    tensors are not counted, so this measures what the fingerprint itself allocates)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("shape", [(3000, 3000), (12000, 500), (40, 60000)])
def test_fingerprint_memory_is_bounded_by_the_sample(shape) -> None:
    """Before: a float64 copy of every entry (72 MB for 3000 × 3000) and an n × n Gram (72 MB more).
    Now: at most SAMPLE_ENTRIES entries, or MIN_SAMPLE_ROWS whole rows where rows are longer, in float64,
    a few copies of that at once."""
    weight = torch.empty(shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=torch.Generator().manual_seed(0))
    info = fingerprint(weight)
    assert info.law == "pytorch-default", info
    sample = max(SAMPLE_ENTRIES, MIN_SAMPLE_ROWS * shape[1])
    assert info.args["entries"] <= sample and info.args["sampled_from"] == shape[0] * shape[1]
    peak = numpy_peak(lambda: fingerprint(weight))
    assert peak <= 8 * 8 * sample, (peak, sample)
    assert peak < 8 * shape[0] * shape[1]  # below one float64 copy of the layer (before: several)


@pytest.mark.parametrize("shape", [(512, 1500), (1500, 512)])
def test_orthogonality_is_decided_on_sampled_rows_or_columns(shape) -> None:
    """Every subset of the rows (columns) of an orthogonal init is orthonormal, so the sample passes; the
    R × R Gram of R random rows of length L is ~sqrt((R + 1) / L) ≫ 1e-3 from c·I, so a Gaussian fails."""
    g = torch.Generator().manual_seed(1)
    q = torch.empty(shape)
    nn.init.orthogonal_(q, gain=2.0, generator=g)
    info = fingerprint(q)
    assert info.args["entries"] < shape[0] * shape[1]  # a sample, not the whole matrix
    assert info.law == "orthogonal" and info.args["gain"] == pytest.approx(2.0, rel=1e-4)
    assert info.args["sampled_from"] == shape[0] * shape[1]
    gaussian = torch.randn(shape, generator=g) / math.sqrt(shape[1])
    assert fingerprint(gaussian).law != "orthogonal"


def test_exact_classes_still_read_every_entry() -> None:
    """A sample cannot prove "zeros" or "constant": one entry the sample misses breaks them."""
    w = torch.zeros(2000, 2000)
    assert fingerprint(w).law == "zeros"
    w[1234, 567] = 1e-3
    assert fingerprint(w).law not in ("zeros", "constant")
    c = torch.full((3000, 100), 0.5)
    assert fingerprint(c, "bias").law == "constant"
    c[2999, 99] = 0.25
    assert fingerprint(c, "bias").law != "constant"


def test_sampling_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    w = torch.randn(4000, 512, generator=torch.Generator().manual_seed(2))
    state = torch.random.get_rng_state()
    first, second = fingerprint(w), fingerprint(w)
    assert torch.equal(state, torch.random.get_rng_state())
    assert first == second and first.args["sampled_from"] == 4000 * 512


# ------------------------------------------------------------------------------------------ timeout

SLOW = """
    import time

    import torch
    from torch import nn


    class SlowBuildSlowTrace(nn.Module):
        # each stage alone stays under --timeout 1; together they take at least 1.4 s
        def __init__(self):
            super().__init__()
            time.sleep(0.7)
            self.body = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))

        def forward(self, x):
            time.sleep(0.7)
            return self.body(x)


    class Quick(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))

        def forward(self, x):
            return self.body(x)
"""


def test_timeout_bounds_the_build_and_the_trace_together(tmp_path, monkeypatch) -> None:
    """Per stage (before), 0.7 s + 0.7 s passed `--timeout 1`; per model, the run cannot, whatever the
    machine's speed (the sleeps never take less), and it ends as a timeout with exit code 2."""
    write(tmp_path, "slow.py", SLOW)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "slow.py:SlowBuildSlowTrace", "--timeout", "1", "--format", "json"])
    assert result.exit_code == 2, result.output
    assert "timed out after 1 s" in result.stderr and "hint:" in result.stderr
    assert result.stdout == ""


def slow_until_interrupted(*args, **kwargs):
    """An analysis stage that never ends by itself (bounded at 60 s so a broken limit fails, not hangs)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.02)
    raise AssertionError("the analysis was not interrupted by --timeout")


def test_timeout_interrupts_relulints_own_analysis(tmp_path, monkeypatch) -> None:
    import relulint.extract

    write(tmp_path, "quick.py", SLOW)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(relulint.extract, "extract_chains", slow_until_interrupted)
    # the limit leaves the import, build and trace of this tiny model (milliseconds) a wide margin
    result = runner.invoke(app, ["check", "quick.py:Quick", "--timeout", "2", "--format", "json"])
    assert result.exit_code == 2, result.output
    assert "timed out after 2 s while checking Quick" in result.stderr
    assert "--timeout bounds each model's whole check" in result.stderr


def test_timeout_in_the_python_api_is_a_load_error_and_restores_the_timer(tmp_path, monkeypatch) -> None:
    import signal

    import relulint.extract
    from relulint.api import check

    write(tmp_path, "quick.py", SLOW)
    monkeypatch.setattr(relulint.extract, "extract_chains", slow_until_interrupted)
    with pytest.raises(LoadError, match="timed out after 2 s while checking Quick"):
        check(f"{tmp_path / 'quick.py'}:Quick", timeout=2)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_inner_stage_limit_is_capped_by_the_enclosing_one() -> None:
    """`sandbox.user_code(100)` inside a 0.3 s model limit ends when the model's time is up. Uncapped, the
    stage would run its 60 s loop to the end and fail as the user's error, not as a timeout."""
    from relulint.api import model_time_limit
    from relulint.sandbox import user_code

    with pytest.raises(LoadError, match=r"timed out after (100 s while building|0.3 s while checking) Net"):
        with model_time_limit(0.3, "Net"):
            with user_code(100, "building Net"):
                slow_until_interrupted()
