"""Run `relulint check … --format json` in-process (typer's CliRunner) and index the json by model name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from relulint.cli import app

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "capture"


@dataclass
class Run:
    exit_code: int
    document: dict[str, Any] | None
    stderr: str

    def target(self, name: str) -> dict[str, Any]:
        assert self.document is not None, self.stderr
        for target in self.document["targets"]:
            if target["name"] == name:
                return target
        raise AssertionError(f"no target {name}: {[t['name'] for t in self.document['targets']]}")


def check_json(*args: str) -> Run:
    """`relulint check ARGS --format json`; the json document (None when stdout is not json)."""
    result = CliRunner().invoke(app, ["check", *args, "--format", "json"])
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    stderr = getattr(result, "stderr", "") or ""
    return Run(result.exit_code, document, stderr if stderr else result.output)


def chains(target: dict[str, Any]) -> list[tuple[int, list[int], int]]:
    """(input_dim, hidden_widths, output_dim) of each chain."""
    return [(c["input_dim"], c["hidden_widths"], c["output_dim"]) for c in target["chains"]]


def codes(target: dict[str, Any]) -> list[str]:
    return sorted(f["code"] for f in target["findings"])


def finding(target: dict[str, Any], code: str) -> dict[str, Any]:
    found = [f for f in target["findings"] if f["code"] == code]
    assert len(found) == 1, [f["code"] for f in target["findings"]]
    return found[0]
