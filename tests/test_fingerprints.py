"""Fingerprints are assigned once, when the report is built (`relulint.fingerprints`), and keep the values
relulint wrote before they moved there: `tests/fixtures/fingerprints` holds a baseline and the SARIF
fingerprints of its project, written by the code that fingerprinted inside each rule."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from test_render import make_chain, make_finding, make_report, make_target
from typer.testing import CliRunner

import relulint
from relulint.baseline import baseline_from_report, finding_key, legacy_key
from relulint.cli import app
from relulint.fingerprints import fingerprint, fingerprint_report
from relulint.options import Options
from relulint.registry import run_rules

FIXTURE = Path(__file__).parent / "fixtures" / "fingerprints"
TARGETS = ["models/pinn.py", "models/deepsdf_decoder.py", "models/suppressed.py"]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    shutil.copytree(FIXTURE / "models", tmp_path / "models")
    (tmp_path / "pyproject.toml").write_text('[tool.relulint]\ntargets = ["models"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(args: list[str]) -> dict:
    result = CliRunner().invoke(app, ["check", *TARGETS, *args])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_sarif_fingerprints_keep_their_values(project) -> None:
    recorded = json.loads((FIXTURE / "fingerprints.json").read_text(encoding="utf-8"))["results"]
    document = cli(["-f", "sarif"])
    now = [
        [
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["partialFingerprints"]["relulint/v1"],
        ]
        for r in document["runs"][0]["results"]
    ]
    assert len(recorded) == 20 and {row[0] for row in recorded} >= {"RL101", "RL301", "RL900", "RL901"}
    assert Counter(map(tuple, now)) == Counter(map(tuple, recorded))


def test_a_baseline_written_before_still_matches(project) -> None:
    baseline = FIXTURE / "baseline.json"
    document = cli(["-f", "json", "--baseline", str(baseline)])
    assert [f for t in document["targets"] for f in t["findings"]] == []
    assert document.get("fixed", []) == []
    # the fixture's RL900 entries carry the older key (the comment's text and the model it was attached
    # to), which the legacy match accepts; the other entries' keys are today's fingerprints
    entries = json.loads(baseline.read_text(encoding="utf-8"))["entries"]
    report = relulint.check(*TARGETS)
    fingerprints = {f.fingerprint for f in report.findings}
    unused = [e for e in entries if e["code"] == "RL900"]
    assert len(unused) == 2 and sum(e["count"] for e in unused) == 3
    assert all(e["key"] not in fingerprints for e in unused)
    assert all(e["key"] in fingerprints for e in entries if e["code"] != "RL900")
    legacy = {legacy_key(f, t) for t in report.targets for f in t.findings if f.code == "RL900"}
    assert legacy == {e["key"] for e in unused}


def test_a_baseline_written_now_matches_and_keys_by_the_fingerprint(project) -> None:
    report = relulint.check(*TARGETS)
    baseline = baseline_from_report(report)
    assert sum(e.count for e in baseline.entries) == len(report.findings) == 20
    assert {e.key for e in baseline.entries} == {f.fingerprint for f in report.findings}
    assert relulint.check(*TARGETS, baseline=None).findings == report.findings
    path = project / "now.json"
    path.write_text(json.dumps({"version": 1, "entries": [e.as_dict() for e in baseline.entries]}))
    assert relulint.check(*TARGETS, baseline=str(path)).findings == ()


def test_rules_leave_the_fingerprint_to_the_report(project) -> None:
    report = relulint.check("models/pinn.py:DeepNarrowPINN")
    (target,) = report.targets
    assert target.facts is not None
    raw = list(run_rules(target.facts, Options()))
    assert raw and all(f.fingerprint == "" for f in raw)
    assert all(f.fingerprint == fingerprint(f, target) == finding_key(f, target) for f in target.findings)
    assert len({f.fingerprint for f in target.findings}) == len(target.findings)


def test_hand_built_reports_are_fingerprinted_by_the_same_function() -> None:
    bare = make_finding()
    bare = dataclasses.replace(bare, fingerprint="")
    target = make_target([make_chain([3] * 12)], [bare])
    (filled,) = fingerprint_report(make_report(target)).findings
    assert filled.fingerprint == fingerprint(bare, target) != ""
    kept = fingerprint_report(make_report(make_target(findings=[make_finding()])), only_missing=True)
    assert kept.findings[0].fingerprint == make_finding().fingerprint  # set by hand: left alone


def test_a_model_finding_needs_its_model() -> None:
    with pytest.raises(ValueError, match="needs the model"):
        fingerprint(make_finding())
