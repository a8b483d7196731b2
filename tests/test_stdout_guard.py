"""The report on stdout is the report: whatever the user's code writes to stdout, whenever it writes it (an
``atexit`` handler after the report, a daemon thread before and after it, a second process made by
``os.fork()`` at import), the real command line's stdout holds the json report and nothing else.

Through the real process (the guard lives in the console script's `main`), json checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from model_sources import DEEP_NARROW

# what the user's file does at import, after defining the deep, narrow Net (12 ReLU layers of width 3)
ATEXIT = """
import atexit
import os


@atexit.register
def goodbye():
    print("ATEXIT print")
    os.write(1, b"ATEXIT fd 1\\n")
"""

DAEMON_THREAD = """
import atexit
import sys
import threading
import time

printed = threading.Condition()
count = [0]
stop = threading.Event()


def chatter():
    while not stop.is_set():
        print("THREAD print")
        sys.stdout.flush()
        with printed:
            count[0] += 1
            printed.notify_all()
        time.sleep(0.001)


thread = threading.Thread(target=chatter, daemon=True)
thread.start()
with printed:  # the thread is printing before relulint writes anything
    printed.wait_for(lambda: count[0] > 0)


@atexit.register
def print_after_the_report_then_stop():
    # atexit runs after the report was written: wait for a print that started after now, then stop the
    # thread (a daemon thread still writing while the interpreter finalizes may abort it)
    with printed:
        seen = count[0]
        printed.wait_for(lambda: count[0] > seen + 1)
    stop.set()
    thread.join()
    print("THREAD stopped after", count[0], "prints")
"""

FORK = """
import os

CHILD = os.fork() == 0  # both processes go on importing, building and (before the guard) reporting
print("FORK child" if CHILD else "FORK parent")
_init = Net.__init__


def _noisy_init(self, *args, **kwargs):
    print(f"BUILD in process {os.getpid()}")
    _init(self, *args, **kwargs)


Net.__init__ = _noisy_init
"""


def builders(stderr: str) -> set[str]:
    return {line.split()[-1] for line in stderr.splitlines() if line.startswith("BUILD in process")}


def run_check(tmp_path: Path, extra: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    source = textwrap.dedent(DEEP_NARROW).lstrip() + "\n" + textwrap.dedent(extra)
    (tmp_path / "model.py").write_text(source, encoding="utf-8")
    command = [sys.executable, "-m", "relulint", "check", "model.py:Net", *arguments]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def only_the_report(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 1, done.stderr  # the deep, narrow net fires RL101
    document = json.loads(done.stdout)  # raises on anything before or after the report
    assert document["version"] == 1
    (target,) = document["targets"]
    assert target["name"] == "Net" and target["chains"][0]["hidden_widths"] == [3] * 12
    return document


def test_an_atexit_print_after_the_report_goes_to_stderr(tmp_path: Path) -> None:
    done = run_check(tmp_path, ATEXIT, "--format", "json")
    only_the_report(done)
    assert "ATEXIT print" in done.stderr and "ATEXIT fd 1" in done.stderr
    assert "ATEXIT" not in done.stdout


def test_a_daemon_thread_printing_throughout_goes_to_stderr(tmp_path: Path) -> None:
    done = run_check(tmp_path, DAEMON_THREAD, "--format", "json")
    only_the_report(done)
    assert "THREAD print" in done.stderr and "THREAD stopped after" in done.stderr
    assert "THREAD" not in done.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_fork_at_import_reports_once(tmp_path: Path) -> None:
    done = run_check(tmp_path, FORK, "--format", "json")
    only_the_report(done)
    assert "FORK parent" in done.stderr and "FORK child" in done.stderr  # both ran the user's import
    # the child left as soon as it was back in relulint: only one process built the model
    assert len(builders(done.stderr)) == 1, done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_fork_at_import_writes_the_output_file_once(tmp_path: Path) -> None:
    done = run_check(tmp_path, FORK, "--format", "json", "-o", "report.json")
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["targets"][0]["name"] == "Net"
    assert len(builders(done.stderr)) == 1, done.stderr


def test_every_format_keeps_stdout_to_the_report(tmp_path: Path) -> None:
    done = run_check(tmp_path, ATEXIT, "--format", "sarif")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["version"] == "2.1.0"
    concise = run_check(tmp_path, ATEXIT, "--format", "concise")
    assert concise.returncode == 1 and concise.stdout.splitlines()
    assert all(line.startswith("model.py:") for line in concise.stdout.splitlines()), concise.stdout


def test_help_and_version_still_go_to_stdout(tmp_path: Path) -> None:
    version = subprocess.run(
        [sys.executable, "-m", "relulint", "--version"], cwd=tmp_path, capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("relulint "), version.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "relulint", "check", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert helped.returncode == 0 and "--format" in helped.stdout and "--debug" in helped.stdout
