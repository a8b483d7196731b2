"""`--format sarif`: every document validated against the official SARIF 2.1.0 schema (kept in tests/data/,
its origin and licence in tests/data/README.md; a missing schema fails the suite rather than skipping it),
plus what GitHub code scanning needs: rule metadata, levels, relative URIs under %SRCROOT%,
startLine >= 1, stable partialFingerprints and rule indices."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
from model_sources import DEEP_NARROW
from test_render import make_chain, make_finding, make_report, make_target, mixed_report
from typer.testing import CliRunner

from relulint.cli import app
from relulint.options import Options
from relulint.records.loaded import Skipped
from relulint.records.location import Location
from relulint.records.report import Severity
from relulint.registry import all_rules
from relulint.render import render
from relulint.render.sarif import artifact_location, sarif_document

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"


@lru_cache(maxsize=1)
def validator() -> jsonschema.protocols.Validator:
    assert SCHEMA_PATH.is_file(), f"the official SARIF schema is missing: {SCHEMA_PATH}"
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_sarif(document: dict) -> None:
    """Fail with every schema error listed."""
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def sarif(report, **kwargs) -> dict:
    document = json.loads(render(report, "sarif", **kwargs))
    validate_sarif(document)
    return document


def test_schema_is_present_and_catches_errors() -> None:
    document = sarif(mixed_report())
    broken = json.loads(json.dumps(document))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator().iter_errors(broken))


def test_rules_carry_metadata_and_indices_match() -> None:
    document = sarif(mixed_report())
    run = document["runs"][0]
    assert document["version"] == "2.1.0"
    driver = run["tool"]["driver"]
    assert driver["name"] == "relulint" and driver["version"] == "0.1.0"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == list(all_rules())
    for rule in rules:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"].startswith(f"# {rule['id']}")
        assert rule["defaultConfiguration"]["level"] in {"note", "warning", "error"}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_results_levels_locations_fingerprints() -> None:
    report = mixed_report()
    run = sarif(report)["runs"][0]
    results = run["results"]
    assert len(results) == len(report.findings)
    assert [r["level"] for r in results] == ["error", "note", "warning"]
    first = results[0]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "model.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 8
    assert first["partialFingerprints"] == {"relulint/v1": report.findings[0].fingerprint}
    assert first["message"]["text"].startswith("ReLU chain")
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert "NeedsArgs" in notes[0]["message"]["text"]


def test_stable_across_runs_and_line_moves() -> None:
    one = sarif(make_report(make_target(findings=[make_finding(line=8)])))
    two = sarif(make_report(make_target(findings=[make_finding(line=30)])))
    fingerprints = [r["partialFingerprints"] for d in (one, two) for r in d["runs"][0]["results"]]
    assert fingerprints[0] == fingerprints[1]
    assert one["runs"][0]["tool"] == two["runs"][0]["tool"]


def test_line_zero_and_odd_paths_stay_valid(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    findings = [
        make_finding(line=0, path="dir with space/model.py"),
        make_finding(path=str(tmp_path / "inside.py")),
        make_finding(path="/elsewhere/outside.py"),
        make_finding("RL999", name="future-rule", severity=Severity.INFO, chain=None),
    ]
    run = sarif(make_report(make_target(findings=findings)))["runs"][0]
    locations = [r["locations"][0]["physicalLocation"] for r in run["results"]]
    assert locations[0]["region"]["startLine"] == 1
    assert locations[0]["artifactLocation"]["uri"] == "dir%20with%20space/model.py"
    assert locations[1]["artifactLocation"] == {"uri": "inside.py", "uriBaseId": "%SRCROOT%"}
    assert locations[2]["artifactLocation"] == {"uri": "file:///elsewhere/outside.py"}
    assert run["tool"]["driver"]["rules"][run["results"][3]["ruleIndex"]]["id"] == "RL999"


def test_empty_report_and_skips_without_location_are_valid() -> None:
    report = make_report(make_target([make_chain([64, 64])], []), skipped=[Skipped("X", "why")], fixed=["a"])
    run = sarif(report)["runs"][0]
    assert run["results"] == []
    assert run["properties"]["fixedBaselineEntries"] == ["a"]


def test_severity_override_changes_default_level() -> None:
    options = Options(severity_overrides={"RL101": Severity.INFO})
    document = sarif_document(mixed_report(), options=options)
    validate_sarif(document)
    rule = next(r for r in document["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "RL101")
    assert rule["defaultConfiguration"]["level"] == "note"


def test_artifact_location_windows_style_relative() -> None:
    assert artifact_location("pkg/sub/../model.py", Path.cwd())["uri"] == "pkg/model.py"


@pytest.mark.parametrize("line", [1, 10_000])
def test_finding_lines_pass_through(line) -> None:
    finding = make_finding(line=line)
    run = sarif(make_report(make_target(findings=[finding])))["runs"][0]
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == line


def test_location_columns() -> None:
    finding = make_finding()
    finding = type(finding)(**{**finding.__dict__, "location": Location("m.py", 3, 7)})
    run = sarif(make_report(make_target(findings=[finding])))["runs"][0]
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3,
        "startColumn": 7,
    }


# ------------------------------------------------------------------------- real `relulint check` runs


def sarif_project(root: Path) -> Path:
    (root / "models").mkdir()
    (root / "models" / "model.py").write_text(DEEP_NARROW, encoding="utf-8")
    (root / "models" / "suppressed.py").write_text(
        DEEP_NARROW.replace("class Net", "class Other").replace(
            "self.out = nn.Linear(width, 1)", "self.out = nn.Linear(width, 1)  # relulint: ignore[RL202]"
        ),
        encoding="utf-8",
    )
    (root / "tools").mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.relulint]\ntargets = ["models/model.py:Net", "models/suppressed.py:Other"]\n', encoding="utf-8"
    )
    return root


def test_sarif_of_a_real_check_run_is_valid(tmp_path) -> None:
    """`relulint check -f sarif -o FILE` in a real process, on real model files (with an RL900 too)."""
    root = sarif_project(tmp_path)
    command = [sys.executable, "-m", "relulint", "check", "-f", "sarif", "-o", "out.sarif"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    document = json.loads((root / "out.sarif").read_text(encoding="utf-8"))
    validate_sarif(document)
    results = document["runs"][0]["results"]
    assert {"RL101", "RL201", "RL202", "RL900"} <= {r["ruleId"] for r in results}
    where = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r for r in results
    }
    location = where["RL101", "models/model.py"]["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "models/model.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 8, "startColumn": 1},
    }
    unused = where["RL900", "models/suppressed.py"]["locations"][0]["physicalLocation"]
    assert unused["region"]["startLine"] == 9
    assert all(r["partialFingerprints"]["relulint/v1"] for r in results)


def test_partial_fingerprints_do_not_depend_on_the_working_directory(tmp_path, monkeypatch) -> None:
    root = sarif_project(tmp_path)
    runs = []
    for where in (root, root / "tools"):
        monkeypatch.chdir(where)
        result = CliRunner().invoke(app, ["check", "--format", "sarif"])  # RL900 included
        assert result.exit_code == 1, result.output
        document = json.loads(result.stdout)
        validate_sarif(document)
        runs.append(document["runs"][0]["results"])
    at_root, in_subdir = (
        [(r["ruleId"], r["partialFingerprints"]["relulint/v1"]) for r in run] for run in runs
    )
    assert at_root and at_root == in_subdir
    assert "RL900" in {code for code, _ in at_root}  # unused suppressions are stable too
    assert len({fingerprint for _, fingerprint in at_root}) == len(at_root)  # Net and Other differ
