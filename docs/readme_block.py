"""Rewrite (or check) one generated block of README.md: the text between a start and an end marker.

    sys.exit(update_readme_block("<!-- sample-report -->", "<!-- /sample-report -->", sample, "sample-report"))

`make()` returns the whole block, markers included. With ``--check`` on the command line nothing is written
and the exit code says whether README.md is current (0) or stale (1); the test-suite runs the scripts so.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def update_readme_block(start: str, end: str, make: Callable[[], str], label: str) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        print(f"README.md has no {label} block", file=sys.stderr)
        return 1
    new = pattern.sub(lambda _: make(), text)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    readme.write_text(new, encoding="utf-8")
    return 0
