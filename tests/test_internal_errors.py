"""Exit 1 means findings. Anything relulint did not foresee is "relulint: internal error: … (a bug; --debug
shows the traceback)" with exit 2 (also with --exit-zero), never a raw traceback; and the triggers found so
far get a proper answer: stdout on a full disk, a `statistics.py` / `rich.py` / `numpy.py` … beside the
user's model, a KeyboardInterrupt raised by the user's import."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from model_sources import DEEP_NARROW
from project_files import write
from typer.testing import CliRunner

import relulint.api
import relulint.output
from relulint import import_user
from relulint.cli import app

REPO = Path(__file__).resolve().parents[1]
INTERNAL = re.compile(
    r"^relulint: internal error: ZeroDivisionError: boom \(a bug; --debug shows the traceback\)$"
)
runner = CliRunner()


def boom(*args: object, **kwargs: object) -> None:
    raise ZeroDivisionError("boom")


# ------------------------------------------------------------------------------- unforeseen errors


@pytest.mark.parametrize("flags", [[], ["--exit-zero"], ["--format", "json"]])
def test_an_unforeseen_exception_is_exit_2_in_one_line(tmp_path, monkeypatch, flags) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(relulint.api, "lint_model", boom)
    result = runner.invoke(app, ["check", "model.py:Net", *flags])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert [line for line in result.stderr.splitlines() if INTERNAL.match(line)], result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_relulints_traceback(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(relulint.api, "lint_model", boom)
    result = runner.invoke(app, ["check", "model.py:Net", "--debug"])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr and "ZeroDivisionError: boom" in result.stderr
    assert "relulint: internal error: ZeroDivisionError: boom" in result.stderr


def test_probe_rules_and_rule_are_guarded_too(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(relulint.api, "lint_model", boom)
    probe = runner.invoke(app, ["probe", "model.py:Net"])
    assert probe.exit_code == 2 and "internal error: ZeroDivisionError" in probe.stderr
    monkeypatch.setattr(relulint.output.Sink, "emit_rules", boom)
    monkeypatch.setattr(relulint.output.Sink, "emit_rule_doc", boom)
    for args in (["rules"], ["rule", "RL101"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "internal error: ZeroDivisionError" in result.stderr, args


PATCHED_MAIN = (
    "import relulint.api as api, sys\n"
    "def boom(*a, **k):\n"
    "    raise ZeroDivisionError('boom')\n"
    "api.lint_model = boom\n"
    "sys.argv[0] = 'relulint'\n"
    "from relulint.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_error_in_the_real_process(tmp_path, debug) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    command = [sys.executable, "-c", PATCHED_MAIN, "check", "model.py:Net", "--exit-zero"]
    done = subprocess.run(
        command + (["--debug"] if debug else []), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert ("Traceback" in done.stderr) is debug, done.stderr
    assert "relulint: internal error: ZeroDivisionError: boom" in done.stderr


# ------------------------------------------------------------------------------------ a full disk


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("arguments", [["check", "model.py:Net"], ["check", "model.py:Net", "-f", "json"]])
def test_stdout_on_a_full_disk_is_one_clear_line(tmp_path, arguments) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "relulint", *arguments],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("relulint: error:")]
    assert errors == ["relulint: error: cannot write the report to stdout: No space left on device"]
    assert (
        "hint:" in done.stderr and "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_version_on_a_full_disk_is_one_clear_line(tmp_path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "relulint", "--version"],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert "relulint: error: cannot write to stdout: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


# ------------------------------------------------------------- modules named like relulint's imports


def imported_top_level_names() -> set[str]:
    """Every top-level module relulint's own code imports (the package and its rules), by the AST."""
    names: set[str] = set()
    for path in [*(REPO / "relulint").rglob("*.py"), *(REPO / "rules").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names - {"relulint", "__future__"}


def test_own_imports_lists_every_module_relulint_imports() -> None:
    missing = imported_top_level_names() - import_user.OWN_IMPORTS
    assert not missing, f"add to relulint.import_user.OWN_IMPORTS: {sorted(missing)}"


def test_relulints_imports_are_found_past_the_users_directory(tmp_path, monkeypatch) -> None:
    user = tmp_path / "project"
    write(user, "statistics.py", "raise RuntimeError('the user statistics.py')\n")
    write(user, "my_helpers.py", "VALUE = 1\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(import_user, "_USER_ENTRIES", set())
    import_user._prepend_sys_path(user)
    assert sys.path[0] == str(user)
    found = importlib.util.find_spec("statistics")
    assert found is not None and Path(found.origin).parent != user  # the standard library's
    own = importlib.util.find_spec("my_helpers")  # any other name: the user's directory as before
    assert own is not None and Path(own.origin) == user / "my_helpers.py"


# a model with 32-wide layers: its inits are fingerprinted (the RAI test lazily imports `statistics`)
WIDE_DEEP = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(1, 3)] + [nn.Linear(3, 3) for _ in range(11)])
        self.wide = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32))
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.out(x) + self.wide(torch.zeros(x.shape[0], 32)).sum()
"""


ALL = "every module relulint imports"


@pytest.mark.parametrize(
    ("shadows", "arguments"),
    [
        (["statistics"], ["-f", "json"]),  # imported lazily by the RAI fingerprint
        (["rich"], ["-f", "text"]),  # imported lazily by the text report
        (ALL, ["-f", "text"]),
        (ALL, ["-f", "json", "--probe", "--samples", "200"]),
    ],
    ids=["statistics", "rich", "all-text", "all-json-probe"],
)
def test_modules_beside_the_model_named_like_relulints_imports(tmp_path, shadows, arguments) -> None:
    """statistics.py, rich.py, typer.py, numpy.py, … beside the model (the user's directory goes on
    sys.path before relulint's lazy imports run): relulint still gets its own modules."""
    project = tmp_path / "project"
    write(project, "model.py", WIDE_DEEP)
    for name in sorted(import_user.OWN_IMPORTS) if shadows == ALL else shadows:
        write(project, f"{name}.py", f"raise RuntimeError('the user file {name}.py was imported')\n")
    command = [sys.executable, "-m", "relulint", "check", "project/model.py:Net", *arguments]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # the 12-layer width-3 chain fires
    assert "was imported" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "RL101" in done.stdout


# ------------------------------------------------------------------------------ KeyboardInterrupt


def test_a_keyboard_interrupt_raised_by_the_users_import_names_the_file(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW + "\n\nraise KeyboardInterrupt\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "model.py:Net"])
    assert result.exit_code == 130, result.output
    (line,) = [line for line in result.stderr.splitlines() if "interrupted" in line]
    line_number = DEEP_NARROW.count("\n") + 3
    assert line == f"relulint: interrupted while importing model.py (at model.py:{line_number})"


@pytest.mark.skipif(os.name != "posix", reason="the real process's exit status of a signal")
def test_a_keyboard_interrupt_while_building_in_the_real_process(tmp_path) -> None:
    source = DEEP_NARROW.replace("super().__init__()", "super().__init__()\n        raise KeyboardInterrupt")
    write(tmp_path, "model.py", source)
    done = subprocess.run(
        [sys.executable, "-m", "relulint", "check", "model.py:Net"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 130, done.stderr
    assert "relulint: interrupted while building Net (at model.py:" in done.stderr
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------------------------------- os._exit


def test_os_exit_at_import_ends_relulint_with_that_code_and_no_output(tmp_path) -> None:
    """What README says cannot be caught: the process ends inside the user's import."""
    write(tmp_path, "model.py", DEEP_NARROW + "\n\nimport os\n\nos._exit(3)\n")
    done = subprocess.run(
        [sys.executable, "-m", "relulint", "check", "model.py:Net", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3 and done.stdout == "" and "relulint:" not in done.stderr
