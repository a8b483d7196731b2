"""Writing model files into a temporary project and running the command line there (one copy for the
command-line tests)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relulint.cli import app

runner = CliRunner()


def write(directory: Path, name: str, source: str) -> Path:
    """Write `source` (dedented) to `directory/name`, creating folders."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def invoke(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch):
    """`relulint ARGS` in-process, from `cwd`."""
    monkeypatch.chdir(cwd)
    return runner.invoke(app, args)
