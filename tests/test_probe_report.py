"""The probe's notes in its results and reports, and ``--device`` parsing."""

from __future__ import annotations

import json

import pytest
import torch
from probe_helpers import make_chain, negative_bias_chain

from relulint.errors import UsageError
from relulint.options import Options
from relulint.probe import parse_device, probe_chain, resolve_device
from relulint.records.location import Location
from relulint.records.model_facts import ModelFacts, ProbeResult
from relulint.records.report import Report, TargetReport
from relulint.render.probe import BOUND_NOTE_PREFIX, probe_summary_lines, render_probe
from relulint.theory.collapse import p_born_dead_upper


def _report(probe: ProbeResult, compare: ProbeResult | None = None) -> Report:
    chain = make_chain(1, [2] * 3)
    facts = ModelFacts(
        "model.py:Net",
        "Net",
        "model.py",
        Location("model.py", 3),
        "fx",
        None,
        (chain,),
        probes={0: probe},
        compare_probes={0: compare} if compare else {},
    )
    target = TargetReport(target="model.py:Net", name="Net", path="model.py", facts=facts, findings=())
    return Report(targets=(target,), version="test")


def test_notes_are_in_the_json_record_and_the_text_report() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: no fallback note")
    result = probe_chain(None, make_chain(1, [2] * 3), samples=500, seed=0, device="cuda")
    assert "no CUDA device; ran on CPU" in result.notes
    assert any(note.startswith("exact: ") and "D = {-1, +1}" in note for note in result.notes)
    assert result.as_dict()["notes"] == list(result.notes)
    report = _report(result)
    text = render_probe(report, "text", options=Options())
    for note in result.notes:
        assert f"note: {note}" in text
    document = json.loads(render_probe(report, "json", options=Options()))
    assert document["targets"][0]["chains"][0]["probe"]["notes"] == list(result.notes)


def test_assumed_default_note_is_shown() -> None:
    result = probe_chain(None, make_chain(2, [3] * 3, law="custom", bias=True), samples=200, seed=0)
    lines = probe_summary_lines(result)
    assert any(line.startswith("note: ") and "assumed PyTorch's default" in line for line in lines)


def test_summary_lines_estimate_interval_near_constant_and_warning() -> None:
    bound = p_born_dead_upper([2] * 3)
    probe = ProbeResult(
        samples=1000, born_dead=700, ci=(0.671, 0.728), near_constant=25, device="cpu", seconds=0.5,
        method="batched", notes=("D: the 2 data points",),
    )  # fmt: skip
    first, warning, note = probe_summary_lines(probe, bound)
    assert bound < 0.6  # 1 - (3/4)^3
    assert first.startswith("probe: P(born dead) = 70 %")
    assert "[95 % CI 67.1 % – 72.8 %]" in first and "(700/1000; near-constant 2.5 %;" in first
    assert warning.startswith(f"warning: {BOUND_NOTE_PREFIX}") and "does not cover" in warning
    assert note == "note: D: the 2 data points"
    # the probe's own reasons, when it gave them, are the warning (once, not also as a note)
    own = f"{BOUND_NOTE_PREFIX} 0.33 beyond chance (exact binomial test): the theory does not cover this case (x)"
    lines = probe_summary_lines(ProbeResult(**{**probe.__dict__, "notes": (own,)}), bound)
    assert lines[1:] == [f"warning: {own}"]
    # below the bound: no warning
    calm = ProbeResult(**{**probe.__dict__, "born_dead": 100, "ci": (0.08, 0.12), "notes": ()})
    assert len(probe_summary_lines(calm, bound)) == 1


def test_probe_report_warns_once_with_the_probes_reasons() -> None:
    chain = negative_bias_chain()
    result = probe_chain(None, chain, samples=2_000, seed=0)
    facts = ModelFacts(
        "m.py:N",
        "N",
        "m.py",
        Location("m.py", 1),
        "fx",
        None,
        (chain,),
        probes={0: result},
        compare_probes={},
    )
    report = Report(targets=(TargetReport("m.py:N", "N", "m.py", facts, ()),), version="test")
    text = render_probe(report, "text", options=Options())
    assert text.count("warning:") == 1 and "biases" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        ("CPU", "cpu"),
        (" cuda ", "cuda"),
        ("cuda:0", "cuda:0"),
        ("Cuda:12", "cuda:12"),
        (None, "auto"),
    ],
)
def test_parse_device_accepts(text: str | None, expected: str) -> None:
    assert parse_device(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cuda:-1", "cuda0", "mps", "cpu:0"])
def test_parse_device_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_device(text)
    assert "cuda:N" in (info.value.hint or "")


def test_cuda_index_without_gpu_falls_back_with_note() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    device, note = resolve_device("cuda:0")
    assert device.type == "cpu" and note == "no CUDA device; ran on CPU"


def test_one_rare_hit_is_no_contradiction_of_the_bound() -> None:
    """A width-20, 8-layer chain: bound 7.6e-06. One born-dead draw in 10,000 is what the bound allows 7 %
    of the time (1 − (1 − p)^n), so no warning, though the Wilson interval's lower end (1.8e-05) is above
    the bound; five hits would happen with probability < 1e-12 and are a contradiction."""
    bound = p_born_dead_upper([20] * 8)
    one = ProbeResult(
        samples=10_000, born_dead=1, ci=(1.77e-05, 5.7e-04), near_constant=0, device="cpu", seconds=1
    )
    assert one.ci[0] > bound and len(probe_summary_lines(one, bound)) == 1  # no warning
    five = ProbeResult(**{**one.__dict__, "born_dead": 5, "ci": (2.1e-4, 1.2e-3)})
    (_, warning) = probe_summary_lines(five, bound)
    assert warning.startswith(f"warning: {BOUND_NOTE_PREFIX}") and "exact binomial test" in warning
