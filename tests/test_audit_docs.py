"""The audit's documentation is generated from real runs: README's "After training" report, and the json
keys docs/json-format.md lists are the keys the document has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import torch
from audit_helpers import audit_json, grid, last_layer_dead_seed, net_class, save_data

ROOT = Path(__file__).resolve().parents[1]


def test_readme_audit_report_is_the_real_output() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "docs" / "audit_report.py"), "--check"], check=False)
    assert run.returncode == 0, "README's audit report is stale: run python docs/audit_report.py"


def test_readme_audit_report_shows_a_collapse() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- audit-report -->", 1)[1].split("<!-- /audit-report -->", 1)[0]
    assert "error RL501 collapsed-network" in block and "training converged to the mean" in block


def documented_keys(heading: str) -> set[str]:
    text = (ROOT / "docs" / "json-format.md").read_text(encoding="utf-8")
    block = text.split(heading, 1)[1].split("\n## ", 1)[0]
    fence = block.split("```json", 1)[1].split("```", 1)[0]
    return set(re.findall(r'"(\w+)":', fence))


def test_json_format_documents_every_audit_key(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cls = net_class(tmp_path)
    torch.manual_seed(last_layer_dead_seed(cls, grid()))
    model = cls()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    save_data(tmp_path, grid(), torch.exp(grid()))
    run = audit_json("model.py:Net", "--weights", "w.pt", "--data", "x.npy", "--targets", "y.npy")
    audit = run.target["audit"]
    seen = set(audit) | set(audit["output"]) | set(audit["chains"][0]) | set(audit["chains"][0]["layers"][0])
    if audit["degenerate"]:
        seen |= set(audit["degenerate"][0])
    assert seen <= documented_keys("## `targets[].audit`")
