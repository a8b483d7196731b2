"""The probe's time limit (``--timeout``), its progress and its dtype: a fake clock makes the stops
deterministic (no wall-clock assertion); a stopped probe reports the samples it reached."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from probe_helpers import MLP, loaded_model, make_chain, recorded_chain
from torch import nn

from relulint.errors import UsageError
from relulint.probe import probe_chain, status_progress
from relulint.render.probe import probe_summary_lines


def ticking(step: float = 1.0):  # type: ignore[no-untyped-def]
    """A clock that advances ``step`` seconds each time it is read."""
    counter = itertools.count()
    return lambda: next(counter) * step


def outcome(result):  # type: ignore[no-untyped-def]
    return (result.samples, result.born_dead, result.near_constant, result.dead_unit_fraction)


class CustomMLP(MLP):
    """An init only the model's own code knows (the probe rebuilds the model per sample)."""

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__(1, (3,) * 5, 1, bias=True)
        with torch.no_grad():
            for layer in self.body:
                layer.weight.copy_(torch.randn(layer.weight.shape).sign() * torch.rand(layer.weight.shape))
                layer.bias.uniform_(-0.1, 0.1)
        self.to(dtype)


def custom_chain():  # type: ignore[no-untyped-def]
    return make_chain(1, [3] * 5, law="custom", bias=True, bias_law="custom")


def test_the_rebuild_path_stops_at_the_time_limit_and_says_how_far_it_got() -> None:
    loaded = loaded_model(CustomMLP)
    stopped = probe_chain(loaded, custom_chain(), samples=400, seed=3, timeout=60.5, clock=ticking())
    # one read to start, one per model built: the 60th build reads 60.0 < 60.5, the 61st 61.0
    assert stopped.method == "reinstantiate"
    assert stopped.samples == 61 and stopped.samples_requested == 400
    assert any(note.startswith("stopped at the time limit") and "61 of 400" in note for note in stopped.notes)
    record = stopped.as_dict()
    assert record["samples"] == 61 and record["samples_requested"] == 400
    assert "of 400 requested" in probe_summary_lines(stopped)[0]
    # the samples reached are the first ones of the full run: the same counts as asking for 61
    full = probe_chain(loaded, custom_chain(), samples=61, seed=3)
    assert outcome(stopped) == outcome(full)
    assert full.samples_requested == 61 and "requested" not in probe_summary_lines(full)[0]


def test_the_batched_path_stops_between_chunks() -> None:
    chain = make_chain(1, [2] * 6)
    options = dict(seed=4, device="cpu", block=1_000, chunk=1_000, workers=1)
    stopped = probe_chain(None, chain, samples=5_000, timeout=1.5, clock=ticking(), **options)
    assert stopped.samples == 2_000 and stopped.samples_requested == 5_000
    assert outcome(stopped) == outcome(probe_chain(None, chain, samples=2_000, **options))
    unhurried = probe_chain(None, chain, samples=5_000, timeout=1e9, clock=ticking(), **options)
    assert unhurried.samples == 5_000 and not any("time limit" in n for n in unhurried.notes)


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan])
def test_a_time_limit_must_be_positive(timeout: float) -> None:
    with pytest.raises(UsageError):
        probe_chain(None, make_chain(1, [2] * 3), samples=10, timeout=timeout)


def test_status_progress_writes_samples_and_an_eta() -> None:
    lines: list[str] = []
    update = status_progress(lines.append, "probing chain 0", clock=ticking(1.0))
    update(10, 40)  # read at t = 1 s after a start at 0: 10 samples in 1 s, 30 to go
    update(40, 40)
    assert lines == ["probing chain 0: 10/40 samples, ETA 3 s", "probing chain 0: 40/40 samples"]


def test_progress_callback_sees_every_rebuilt_model() -> None:
    seen: list[tuple[int, int]] = []
    probe_chain(loaded_model(CustomMLP), custom_chain(), samples=7, progress=lambda d, t: seen.append((d, t)))
    assert [d for d, _ in seen[:7]] == list(range(1, 8)) and all(t == 7 for _, t in seen)


# --------------------------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_model_is_probed_in_float32(dtype: torch.dtype) -> None:
    """A 6-layer bf16 / fp16 chain: the rebuilt parameters are read as float32 (exact), the probe runs, and
    its estimate agrees with the float32 model built from the same draws (rounded to ``dtype``)."""
    n = 1_500
    half = probe_chain(loaded_model(lambda: CustomMLP(dtype)), custom_chain(), samples=n, seed=5)
    full = probe_chain(loaded_model(CustomMLP), custom_chain(), samples=n, seed=5)
    assert half.samples == n and half.method == "reinstantiate"
    p = (half.estimate + full.estimate) / 2
    assert abs(half.estimate - full.estimate) <= 4 * math.sqrt(max(p * (1 - p), 1 / n) * 2 / n)


def test_a_bf16_rai_model_is_sampled_by_its_recorded_laws() -> None:
    """The recorded laws do not depend on the parameters' dtype: the batched sampler draws in float32."""
    from probe_helpers import RaiMLP

    def factory() -> nn.Module:
        return RaiMLP(1, [2] * 6, dtype=torch.bfloat16)

    result = probe_chain(loaded_model(factory), recorded_chain(factory), samples=2_000, seed=0, device="cpu")
    assert result.method.startswith("batched") and result.samples == 2_000


def test_the_probe_refuses_to_compute_in_half_precision() -> None:
    with pytest.raises(UsageError, match="float32 or float64"):
        probe_chain(None, make_chain(1, [2] * 3), samples=10, dtype=torch.bfloat16)


CUSTOM_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        dims = [1, 3, 3, 3, 1]
        self.body = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        with torch.no_grad():
            for layer in self.body:
                layer.weight.copy_(torch.rand(layer.weight.shape) * 2 - 1.2)

    def forward(self, x):
        for layer in self.body[:-1]:
            x = torch.relu(layer(x))
        return self.body[-1](x)
"""


def test_check_reports_the_probes_progress_on_its_status_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`relulint.check(progress=...)` (the CLI's status line) hears the rebuild path's samples and ETA."""
    import relulint

    (tmp_path / "custom.py").write_text(CUSTOM_MODEL)
    lines: list[str] = []
    report = relulint.check("custom.py:Net", cwd=tmp_path, probe_all=True, samples=40, progress=lines.append)
    probe = report.targets[0].facts.probes[0]  # type: ignore[union-attr]
    assert probe.method == "reinstantiate" and probe.samples == probe.samples_requested == 40
    assert any(line.startswith("probing chain 0: ") and "/40 samples" in line for line in lines)
    assert lines[-1] == "probing chain 0: 40/40 samples"
