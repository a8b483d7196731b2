"""Regenerate the sample report in README.md from the real output of `relulint check examples/pinn.py`.

    python docs/sample_report.py          # rewrite README.md's sample block
    python docs/sample_report.py --check  # exit 1 when README.md's block differs (the test-suite runs this)

The block sits between the `<!-- sample-report -->` and `<!-- /sample-report -->` markers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from readme_block import update_readme_block

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- sample-report -->", "<!-- /sample-report -->"


def sample() -> str:
    env = {**os.environ, "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "relulint", "check", "examples/pinn.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{START}\n```\n$ relulint check examples/pinn.py\n{run.stdout.rstrip()}\n```\n{END}"


def main() -> int:
    return update_readme_block(START, END, sample, "sample-report")


if __name__ == "__main__":
    raise SystemExit(main())
