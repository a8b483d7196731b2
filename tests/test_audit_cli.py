"""`relulint audit` on the command line: every format goes through the same sinks as `check`, exit codes
as `check`, and the flags come from the option specs."""

from __future__ import annotations

import json

import pytest
import torch
from audit_helpers import grid, last_layer_dead_seed, net_class, save_data
from typer.testing import CliRunner

from relulint.cli import app
from relulint.option_specs import cli_specs


@pytest.fixture
def collapsed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cls = net_class(tmp_path)
    torch.manual_seed(last_layer_dead_seed(cls, grid()))
    torch.save(cls().state_dict(), tmp_path / "w.pt")
    save_data(tmp_path, grid(), torch.exp(grid()))
    return ["model.py:Net", "--weights", "w.pt", "--data", "x.npy", "--targets", "y.npy"]


def invoke(*args: str):
    return CliRunner().invoke(app, ["audit", *args])


def test_audit_flags_come_from_the_specs() -> None:
    flags = {s.flag for s in cli_specs("audit")}
    assert {"--weights", "--loss", "--dead-fraction", "--data", "--targets", "--domain", "--points"} <= flags
    assert {"--fail-on", "--exit-zero", "--select", "--ignore", "--kwargs"} <= flags
    assert "--weights" not in {s.flag for s in cli_specs("check")}
    help_text = invoke("--help").output
    assert "--weights" in help_text and "--dead-fraction" in help_text


def test_text_report(collapsed) -> None:
    run = invoke(*collapsed)
    assert run.exit_code == 1
    assert "error RL501 collapsed-network" in run.stdout
    assert "is zero on every input (collapsed)" in run.stdout
    assert "output: constant" in run.stdout  # untrained: its constant is neither the mean nor the median
    assert "matches the" not in run.stdout and "neither within 0.05 σ" in run.stdout


def test_exit_codes(collapsed) -> None:
    assert invoke(*collapsed, "--exit-zero").exit_code == 0
    assert invoke(*collapsed, "--ignore", "RL501,RL502,RL503").exit_code == 0
    assert invoke(*collapsed, "--fail-on", "error", "--ignore", "RL501").exit_code == 0
    bad = invoke(*collapsed, "--loss", "huber", "--exit-zero")
    assert bad.exit_code == 2 and "--loss" in bad.output  # --exit-zero never hides a 2
    assert invoke(*collapsed, "--dead-fraction", "2").exit_code == 2


def test_sarif_and_github_and_concise(collapsed) -> None:
    sarif = json.loads(invoke(*collapsed, "--format", "sarif").stdout)
    results = sarif["runs"][0]["results"]
    assert "RL501" in {r["ruleId"] for r in results}
    rule_ids = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert {"RL501", "RL502", "RL503"} <= set(rule_ids)
    (rl501,) = [r for r in results if r["ruleId"] == "RL501"]
    assert rl501["level"] == "error"
    assert rl501["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "model.py"
    github = invoke(*collapsed, "--format", "github").stdout
    assert "::error file=model.py," in github and "title=RL501 collapsed-network::" in github
    concise = invoke(*collapsed, "--format", "concise").stdout
    assert "RL501" in concise and "model.py:" in concise


def test_suppression_comment_works_for_audit_findings(tmp_path, collapsed) -> None:
    source = (tmp_path / "model.py").read_text()
    line = json.loads(invoke(*collapsed, "--format", "json").stdout)["targets"][0]["findings"]
    rl501 = next(f for f in line if f["code"] == "RL501")
    lines = source.splitlines()
    lines[rl501["line"] - 1] += "  # relulint: ignore[RL501]"
    (tmp_path / "model.py").write_text("\n".join(lines) + "\n")
    codes = [
        f["code"] for f in json.loads(invoke(*collapsed, "--format", "json").stdout)["targets"][0]["findings"]
    ]
    assert "RL501" not in codes and "RL900" not in codes


def test_check_does_not_run_the_audit_rules(collapsed) -> None:
    run = CliRunner().invoke(app, ["check", "model.py:Net", "--format", "json"])
    document = json.loads(run.stdout)
    assert "audit" not in document["targets"][0]
    assert not {f["code"] for f in document["targets"][0]["findings"]} & {"RL501", "RL502", "RL503"}
