"""Renderers on hand-built reports: text (plain, fixed width, no markup injection), concise, json,
statistics, and the shared chain summary. The builders here are reused by the other render tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from relulint.options import Options
from relulint.records.loaded import Skipped
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts, ProbeResult
from relulint.records.report import Finding, Report, Severity, TargetReport
from relulint.render import FORMATS, render
from relulint.render.concise import concise_line
from relulint.render.json import json_document, jsonable
from relulint.render.statistics import statistics
from relulint.render.totals import summary_line
from relulint.theory.collapse import max_safe_depth, min_safe_width, p_born_dead_upper
from relulint.verdict import (
    VERDICT_AT_RISK,
    VERDICT_LIKELY_DEAD,
    VERDICT_NO_RELU,
    VERDICT_OK,
    VERDICT_PROTECTED,
    chain_summary,
)

# ------------------------------------------------------------------------------------------ builders


def make_chain(
    widths: list[int], *, input_dim: int = 1, path: str = "model.py", line: int = 8, index: int = 0, norm=None
) -> Chain:
    """A chain Linear(input_dim, w0) → ReLU → … → Linear(w_last, 1) with PyTorch-default inits."""
    layers = []
    fan_in = input_dim
    for number, width in enumerate(widths):
        layers.append(
            Layer(
                module=f"layers.{number}",
                in_features=fan_in,
                out_features=width,
                bias=True,
                activation="relu",
                norm=norm,
                location=Location(path, line),
                weight_init=InitInfo(law="pytorch-default", symmetric=True, sigma2=1 / 3),
                bias_init=InitInfo(law="pytorch-default", symmetric=True, sigma2=1 / (3 * fan_in)),
            )
        )
        fan_in = width
    layers.append(Layer(module="out", in_features=fan_in, out_features=1, bias=True, activation=None))
    return Chain(
        index=index,
        layers=tuple(layers),
        input_dim=input_dim,
        output_dim=1,
        end="output",
        location=Location(path, line),
    )


def make_finding(
    code: str = "RL101",
    *,
    severity: Severity = Severity.ERROR,
    message: str = "ReLU chain 1 → 3×12 → 1 is born dead with probability up to 80 %.",
    path: str = "model.py",
    line: int = 8,
    target: str = "model.py:Net",
    chain: int | None = 0,
    name: str | None = None,
    fix: str | None = "widen to 11",
    details: dict | None = None,
) -> Finding:
    names = {"RL101": "born-dead-relu-chain", "RL900": "unused-suppression", "RL901": "capture-degraded"}
    key = f"{code}|{target}|{chain}"
    return Finding(
        code=code,
        name=name or names.get(code, "some-rule"),
        severity=severity,
        message=message,
        location=Location(path, line),
        target=target,
        chain=chain,
        fix=fix,
        details=details if details is not None else {"probability": 0.8},
        fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16],
    )


def make_target(
    chains: list[Chain] | None = None,
    findings: list[Finding] | None = None,
    *,
    name: str = "Net",
    path: str = "model.py",
    target: str = "model.py:Net",
    probes: dict | None = None,
) -> TargetReport:
    facts = ModelFacts(
        target=target,
        name=name,
        path=path,
        location=Location(path, 5),
        capture_method="fx",
        capture_reason=None,
        chains=tuple(chains if chains is not None else [make_chain([3] * 12)]),
        probes=probes or {},
    )
    return TargetReport(
        target=target, name=name, path=path, facts=facts, findings=tuple(findings or []), seconds=0.01
    )


def make_report(*targets: TargetReport, skipped=(), fixed=()) -> Report:
    if not targets:
        targets = (make_target(findings=[make_finding()]),)
    return Report(targets=tuple(targets), skipped=tuple(skipped), fixed=tuple(fixed), version="0.1.0")


def mixed_report() -> Report:
    """Two models, errors/warnings/info, a skipped module and a fixed baseline entry."""
    bad = make_target(
        [make_chain([3] * 12), make_chain([64, 64], index=1, line=20)],
        [
            make_finding(),
            make_finding("RL901", severity=Severity.INFO, message="fx failed: [bold]x[/bold]", chain=None),
        ],
    )
    other = make_target(
        [make_chain([5] * 10, input_dim=2, path="pkg/nets.py", line=3)],
        [make_finding(severity=Severity.WARNING, path="pkg/nets.py", line=3, target="pkg/nets.py:Other")],
        name="Other",
        path="pkg/nets.py",
        target="pkg/nets.py:Other",
    )
    skipped = [Skipped("NeedsArgs", "constructor needs 'width'", Location("model.py", 30))]
    return make_report(bad, other, skipped=skipped, fixed=["RL101 old.py:Gone 1 → 2×9 → 1"])


# ------------------------------------------------------------------------------------------ summary


def test_chain_summary_matches_theory() -> None:
    chain = make_chain([3] * 12)
    s = chain_summary(chain, 0.01)
    assert s["hidden_widths"] == [3] * 12 and s["depth"] == 12 and s["line"] == 8
    assert s["p_upper"] == pytest.approx(1 - (7 / 8) ** 12)
    assert s["p_upper"] == p_born_dead_upper(chain.hidden_widths)
    assert s["safe_depth"] == max_safe_depth(3, 0.01)
    assert s["min_width"] == min_safe_width(12, 0.01)
    assert s["verdict"] == VERDICT_LIKELY_DEAD
    assert s["p_lower"] is None  # PyTorch's default biases: dying Thm 3.3 assumes zero biases (issue 12)


def test_chain_summary_lower_bound_only_for_uniform_width_and_scalar_input() -> None:
    assert chain_summary(make_chain([3] * 12, input_dim=2), 0.01)["p_lower"] is None
    assert chain_summary(make_chain([3, 4, 3]), 0.01)["p_lower"] is None


@pytest.mark.parametrize(
    ("widths", "norm", "verdict"),
    [
        ([64, 64], None, VERDICT_OK),
        ([5] * 10, None, VERDICT_AT_RISK),
        ([2] * 10, None, VERDICT_LIKELY_DEAD),
        ([2] * 10, "layernorm", VERDICT_PROTECTED),
        ([], None, VERDICT_NO_RELU),
    ],
)
def test_verdicts(widths, norm, verdict) -> None:
    assert chain_summary(make_chain(widths, norm=norm), 0.01)["verdict"] == verdict


def test_probe_estimate_drives_the_verdict() -> None:
    chain = make_chain([5] * 10)
    probe = ProbeResult(
        samples=1000, born_dead=1, ci=(0.0, 0.005), near_constant=0, device="cpu", seconds=0.1
    )
    s = chain_summary(chain, 0.01, probe)
    assert s["p_probe"] == pytest.approx(0.001) and s["verdict"] == VERDICT_OK


def test_summary_line_counts() -> None:
    assert summary_line(mixed_report()) == "3 findings (1 error, 1 warning, 1 info) in 2 models"
    assert summary_line(make_report(make_target())) == "0 findings (0 errors, 0 warnings, 0 info) in 1 model"


# ------------------------------------------------------------------------------------------ text


def test_text_plain_has_panels_tables_and_summary() -> None:
    out = render(mixed_report(), "text", options=Options(), color=False)
    assert "\x1b[" not in out
    assert "model.py:Net" in out and "pkg/nets.py:Other" in out
    assert "3×12" in out and "likely dead" in out and "ok" in out
    assert "RL101" in out and "model.py:8" in out and "pkg/nets.py:3" in out
    assert "NeedsArgs" in out and "constructor needs 'width'" in out
    assert "RL101 old.py:Gone" in out
    assert out.rstrip().endswith("3 findings (1 error, 1 warning, 1 info) in 2 models")
    assert max(len(line) for line in out.splitlines()) <= 100


def test_text_does_not_interpret_markup_from_messages() -> None:
    out = render(mixed_report(), "text", color=False)
    assert "[bold]x[/bold]" in out


def test_text_colour_only_when_asked() -> None:
    coloured = render(mixed_report(), "text", color=True)
    assert "\x1b[" in coloured


def test_text_width_does_not_follow_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    out = render(mixed_report(), "text", color=False)
    monkeypatch.setenv("COLUMNS", "250")
    assert render(mixed_report(), "text", color=False) == out


def test_text_model_without_chains() -> None:
    out = render(make_report(make_target([], [])), "text", color=False)
    assert "no ReLU chain found" in out and "no findings" in out


def test_model_without_facts_renders_everywhere() -> None:
    report = Report(targets=(TargetReport("m.py:X", "X", "m.py", None, ()),), version="0.1.0")
    assert "no ReLU chain found" in render(report, "text", color=False)
    target = json.loads(render(report, "json"))["targets"][0]
    assert target["chains"] == [] and target["capture"] is None and target["line"] is None


def test_text_statistics_appended() -> None:
    out = render(mixed_report(), "text", color=False, statistics=True)
    assert "born-dead-relu-chain" in out and "capture-degraded" in out


def test_color_none_respects_no_color(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render(mixed_report(), "text", color=None)


# ------------------------------------------------------------------------------------------ concise


def test_concise_one_line_per_finding() -> None:
    report = mixed_report()
    lines = render(report, "concise").splitlines()
    assert len(lines) == len(report.findings)
    assert lines[0] == "model.py:8:1: RL101 ReLU chain 1 → 3×12 → 1 is born dead with probability up to 80 %."


def test_concise_collapses_newlines() -> None:
    finding = make_finding(message="first\n  second")
    assert concise_line(finding) == "model.py:8:1: RL101 first second"


def test_concise_empty_and_statistics() -> None:
    assert render(make_report(make_target()), "concise") == ""
    stats = render(mixed_report(), "concise", statistics=True).splitlines()
    assert stats[0].split("\t")[:3] == ["2", "RL101", "born-dead-relu-chain"]


# ------------------------------------------------------------------------------------------ json


def test_json_document_fields() -> None:
    out = render(mixed_report(), "json", options=Options())
    document = json.loads(out)
    assert document["version"] == 1 and document["relulint"] == "0.1.0"
    first = document["targets"][0]
    assert {"target", "name", "path", "line", "capture", "chains", "findings"} <= set(first)
    chain = first["chains"][0]
    for key in ("hidden_widths", "depth", "p_upper", "p_lower", "safe_depth", "line", "verdict", "layers"):
        assert key in chain
    assert chain["layers"][0]["init"]["weight"]["law"] == "pytorch-default"
    assert chain["layers"][0]["init"]["bias"]["symmetric"] is True
    assert chain["layers"][-1]["init"]["weight"] is None
    assert "probe" not in chain
    finding = first["findings"][0]
    for key in ("code", "name", "severity", "message", "path", "line", "details", "fingerprint"):
        assert key in finding
    assert finding["severity"] == "error"
    assert document["skipped"] == [
        {"name": "NeedsArgs", "reason": "constructor needs 'width'", "path": "model.py", "line": 30}
    ]
    assert document["fixed"] == ["RL101 old.py:Gone 1 → 2×9 → 1"]
    assert document["summary"] == {
        "findings": 3,
        "errors": 1,
        "warnings": 1,
        "info": 1,
        "models": 2,
        "skipped": 1,
        "fixed": 1,
    }
    assert "statistics" not in document


def test_json_probe_and_statistics() -> None:
    probe = ProbeResult(samples=100, born_dead=80, ci=(0.7, 0.9), near_constant=3, device="cpu", seconds=0.5)
    report = make_report(make_target(findings=[make_finding()], probes={0: probe}))
    document = json.loads(render(report, "json", statistics=True))
    chain = document["targets"][0]["chains"][0]
    assert {"samples", "born_dead", "ci", "near_constant", "device", "seconds"} <= set(chain["probe"])
    assert chain["probe"]["ci"] == [0.7, 0.9] and chain["p_probe"] == pytest.approx(0.8)
    assert document["statistics"] == [
        {"code": "RL101", "name": "born-dead-relu-chain", "count": 1, "severity": "error"}
    ]


def test_json_is_strict_even_with_nan_details() -> None:
    finding = make_finding(
        details={"nan": float("nan"), "inf": float("inf"), "tuple": (1, 2), "path": Path("a")}
    )
    out = render(make_report(make_target(findings=[finding])), "json")
    details = json.loads(out)["targets"][0]["findings"][0]["details"]
    assert details == {"nan": None, "inf": None, "tuple": [1, 2], "path": "a"}
    assert "NaN" not in out and "Infinity" not in out


def test_jsonable_severity_becomes_label() -> None:
    assert jsonable({"s": Severity.WARNING, "b": True, "n": 3}) == {"s": "warning", "b": True, "n": 3}


def test_json_document_is_plain_data() -> None:
    document = json_document(mixed_report())
    assert json.loads(json.dumps(document, allow_nan=False)) == document


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        "",
        None,
        0,
        {"a": [], "b": {}, "c": [[]], "d": [{}], "e": {"f": {"g": [1, [2, [3]]]}}},
        {"unicode": 'ρ → ∞ “quoted” \\ " \n\t\u0000', "emoji": "🙂", "ключ": "значение"},
        [True, False, None, -0.0, 0.1, 1e16, 1e-7, 123456789012345678901234567890, -5, 2.5e300],
        (1, (2, 3), [4]),
        {"severity": Severity.WARNING.label, "nested": [{"x": 1.0}, {"y": [0.5, None]}]},
    ],
)
def test_indented_json_writes_what_json_dumps_writes(value) -> None:
    from relulint.render.json import indented_json

    assert indented_json(value) == json.dumps(value, indent=2, allow_nan=False)


def test_indented_json_of_a_report_and_of_what_it_leaves_to_json_dumps() -> None:
    from relulint.render.json import indented_json

    document = json_document(mixed_report(), statistics=True)
    assert indented_json(document) == json.dumps(document, indent=2, allow_nan=False)
    # a key that is not a string, a value jsonable never makes: json.dumps's own text and errors
    assert indented_json({1: "a", None: [2], 2.5: {}}) == json.dumps({1: "a", None: [2], 2.5: {}}, indent=2)
    for bad in ({"x": float("nan")}, [float("inf")], {"p": Path("a")}):
        with pytest.raises((ValueError, TypeError)) as ours:
            indented_json(bad)
        with pytest.raises(type(ours.value)) as theirs:
            json.dumps(bad, indent=2, allow_nan=False)
        assert str(ours.value) == str(theirs.value)


def test_statistics_rows() -> None:
    rows = statistics(mixed_report())
    assert [(r["code"], r["count"]) for r in rows] == [("RL101", 2), ("RL901", 1)]
    assert rows[0]["severity"] == "error"


# ------------------------------------------------------------------------------------------ dispatch


def test_every_format_renders_and_unknown_fails() -> None:
    from relulint.errors import UsageError

    for fmt in FORMATS:
        assert isinstance(render(mixed_report(), fmt, color=False), str)
    with pytest.raises(UsageError):
        render(mixed_report(), "xml")
