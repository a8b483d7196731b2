"""What a `relulint check` process imports: a pre-commit hook pays for every module on every run.

The machine formats are plain strings and never load rich; the command line never loads pydantic (typer
0.29 made it a dependency and builds a pydantic adapter per CLI parameter, so relulint keeps typer < 0.29).
The time itself is measured by `benchmarks/bench_check.py`, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pinn.py"

# run `python -m relulint ...` and then write, to stderr, the top-level packages it had imported
PROBE = """
import json, runpy, sys
sys.argv = ["relulint", *sys.argv[1:]]
try:
    runpy.run_module("relulint", run_name="__main__", alter_sys=True)
finally:
    tops = sorted({name.split(".")[0] for name in sys.modules})
    sys.stderr.write("@@modules " + json.dumps(tops) + "\\n")
"""


def imported_packages(*arguments: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, timeout=120
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith("@@modules "))
    return done.returncode, set(json.loads(line.removeprefix("@@modules ")))


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "concise"])
def test_machine_formats_load_neither_rich_nor_pydantic(fmt: str) -> None:
    code, packages = imported_packages("check", f"{EXAMPLE}:DeepNarrowPINN", "--format", fmt)
    assert code == 1  # the deep, narrow example fires
    assert "torch" in packages and "relulint" in packages  # the probe saw the real run
    assert "rich" not in packages and "pydantic" not in packages


def test_the_text_report_loads_rich_but_not_pydantic() -> None:
    code, packages = imported_packages("check", f"{EXAMPLE}:WidePINN")
    assert code == 0
    assert "rich" in packages and "pydantic" not in packages
