"""README.md keeps its promises: exactly two set-up commands, and a sample report that is the real output
of `relulint check examples/pinn.py` (regenerate with `python docs/sample_report.py`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_set_up_has_exactly_two_commands() -> None:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) == 1 for b in blocks)
    install, tests = (b.strip() for b in blocks)
    assert install.startswith("pip install torch==2.13.0") and "relulint check examples/" in install
    assert tests == 'pip install -e ".[test]" && python -m pytest -q'
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_sample_report_is_the_real_output() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "docs" / "sample_report.py"), "--check"], check=False)
    assert run.returncode == 0, "README's sample report is stale: run python docs/sample_report.py"
    assert "examples/pinn.py:DeepNarrowPINN" in README and "examples/pinn.py:WidePINN" in README


def test_api_docstring_example_runs(monkeypatch) -> None:
    import doctest

    import relulint.api

    monkeypatch.chdir(ROOT)
    result = doctest.testmod(relulint.api)
    assert result.attempted >= 4 and result.failed == 0
