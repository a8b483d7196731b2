"""Misses and false alarms of `relulint check` on the corpus of real-style models (tests/corpus/).

    python benchmarks/verdict_counts.py                       # this checkout
    python benchmarks/verdict_counts.py --python OTHER/python # another install (e.g. an older relulint)

One CLI run over every row of `tests/test_corpus.py`'s table, in a copy of the corpus in an empty
directory; prints RL101's misses (at-risk models it passes) and false alarms (healthy models it flags, with
the number of findings), and the same counts over every code the table states.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import test_corpus  # noqa: E402  (the table lives with its test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose relulint runs")
    python = parser.parse_args().python
    rows = test_corpus.TABLE
    with tempfile.TemporaryDirectory() as directory:
        for source in test_corpus.CORPUS.glob("*.py"):
            shutil.copy(source, directory)
        command = [python, "-m", "relulint", "check", *(r.target for r in rows), "--format", "json"]
        command += ["--p", str(test_corpus.P)]
        env = {**os.environ, "NO_COLOR": "1"}
        done = subprocess.run(command, cwd=directory, capture_output=True, text=True, env=env, check=False)
    reported = {
        t["target"]: [f["code"] for f in t["findings"] if f["severity"] in ("warning", "error")]
        for t in json.loads(done.stdout)["targets"]
    }
    at_risk = [r for r in rows if "RL101" in r.fire]
    healthy = [r for r in rows if "RL101" in r.silent]
    misses = [r.target for r in at_risk if "RL101" not in reported.get(r.target, [])]
    alarms = [r.target for r in healthy if "RL101" in reported.get(r.target, [])]
    findings = sum(reported.get(t, []).count("RL101") for t in alarms)
    missing = sum(len(r.fire - set(reported.get(r.target, []))) for r in rows)
    unwanted = sum(len(r.silent & set(reported.get(r.target, []))) for r in rows)
    print(f"RL101 misses:       {len(misses)}/{len(at_risk)} at-risk models  {misses}")
    print(f"RL101 false alarms: {len(alarms)}/{len(healthy)} healthy models ({findings} findings)  {alarms}")
    print(f"every stated code:  {missing} missing, {unwanted} unwanted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
