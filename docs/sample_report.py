"""Regenerate the sample report in README.md from the real output of `relulint check examples/pinn.py`.

    python docs/sample_report.py          # rewrite README.md's sample block
    python docs/sample_report.py --check  # exit 1 when README.md's block differs (the test-suite runs this)

The block sits between the `<!-- sample-report -->` and `<!-- /sample-report -->` markers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print("README.md has no sample-report block", file=sys.stderr)
        return 1
    new = pattern.sub(lambda _: sample(), text)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
