"""The YAML the docs tell users to copy is valid, and the GitHub Actions workflow in it gates pull requests
(`--format github` annotations) and uploads SARIF to code scanning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
YAML_BLOCK = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.M | re.S)


def yaml_blocks() -> list:
    params = []
    for path in DOCS:
        for number, match in enumerate(YAML_BLOCK.finditer(path.read_text(encoding="utf-8"))):
            params.append(pytest.param(match.group(1), id=f"{path.name}-{number}"))
    return params


def workflows() -> list:
    """Every YAML block that is a GitHub Actions workflow (has `jobs`)."""
    found = []
    for block in yaml_blocks():
        document = yaml.safe_load(block.values[0])
        if isinstance(document, dict) and "jobs" in document:
            found.append(pytest.param(document, id=block.id))
    return found


def test_docs_have_yaml_blocks() -> None:
    assert len(yaml_blocks()) >= 3  # the workflow and two pre-commit configs in docs/ci.md


@pytest.mark.parametrize("block", yaml_blocks())
def test_every_yaml_block_parses(block: str) -> None:
    document = yaml.safe_load(block)
    assert isinstance(document, (dict, list)), document


def test_the_yaml_check_catches_an_unquoted_colon() -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("steps:\n  - name: Install (CPU torch is enough: relulint never trains)\n")


def test_docs_show_the_workflow() -> None:
    assert [w.id for w in workflows() if w.id.startswith("ci.md")], "docs/ci.md shows no workflow"


@pytest.mark.parametrize("workflow", workflows())
def test_workflow_gates_pull_requests_and_uploads_sarif(workflow: dict) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "pull_request" in triggers, triggers
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = [step.get("run", "") for step in steps]
    gate = [r for r in runs if re.search(r"\brelulint check\b.*--format github", r)]
    assert gate, runs
    assert not any("--exit-zero" in r for r in gate), "the gate must be able to fail the check"
    sarif = [r for r in runs if re.search(r"\brelulint check\b.*--format sarif.*-o (\S+)", r)]
    assert sarif, runs
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")]
    assert len(uploads) == 1, steps
    sarif_file = re.search(r"-o (\S+)", sarif[0]).group(1)
    assert uploads[0]["with"]["sarif_file"] == sarif_file
    assert workflow["permissions"]["security-events"] == "write"
