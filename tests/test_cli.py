"""The command line end to end: exit codes, errors (one line + hint, never relulint's traceback), stdout
kept clean for machine formats. Through typer's CliRunner and, for the real process, a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from model_sources import DEEP_NARROW
from project_files import invoke, write
from typer.testing import CliRunner

from relulint import __version__
from relulint.cli import app

REPO = Path(__file__).resolve().parents[1]
WIDE = """
    from torch import nn


    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
            for m in self.body:
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            return self.body(x)
"""

runner = CliRunner()


def assert_usage_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    text = result.stderr if hasattr(result, "stderr") else result.output
    assert "error:" in text and "hint:" in text, text
    for needle in needles:
        assert needle in text, text
    assert not re.search(
        r"relulint/(api|cli|load|sandbox|capture|extract|target)\.py", text.replace(os.sep, "/")
    ), text


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_findings_exit_1_and_json_on_stdout_only(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    result = invoke(["check", "model.py:Net", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["version"] == 1
    (target,) = document["targets"]
    assert target["path"] == "model.py"
    (chain,) = target["chains"]
    assert chain["hidden_widths"] == [3] * 12 and chain["depth"] == 12
    assert chain["p_upper"] == pytest.approx(1 - (7 / 8) ** 12)
    codes = {f["code"] for f in target["findings"]}
    assert "RL101" in codes
    rl101 = next(f for f in target["findings"] if f["code"] == "RL101")
    assert rl101["line"] == 8 and rl101["path"] == "model.py"


def test_clean_model_exits_0(tmp_path, monkeypatch) -> None:
    write(tmp_path, "wide.py", WIDE)
    result = invoke(["check", "wide.py:Wide"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output


def test_exit_zero_and_fail_on(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    assert invoke(["check", "model.py:Net", "--exit-zero"], tmp_path, monkeypatch).exit_code == 0
    assert invoke(["check", "model.py:Net", "--p", "0.9"], tmp_path, monkeypatch).exit_code in (0, 1)
    only_rl101 = ["check", "model.py:Net", "--select", "RL101", "--fail-on", "error"]
    assert invoke(only_rl101, tmp_path, monkeypatch).exit_code == 1  # 1 − (7/8)^12 ≈ 0.80 → error


def test_exit_zero_never_hides_a_usage_error(tmp_path, monkeypatch) -> None:
    result = invoke(["check", "missing.py:Net", "--exit-zero"], tmp_path, monkeypatch)
    assert_usage_error(result, "missing.py")


def test_kwargs_reach_the_constructor(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    args = ["check", "model.py:Net", "--kwargs", '{"width": 64, "depth": 3}', "--format", "json"]
    result = invoke(args, tmp_path, monkeypatch)
    (chain,) = json.loads(result.stdout)["targets"][0]["chains"]
    assert chain["hidden_widths"] == [64, 64, 64]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["check", "nope.py:Net"], ["nope.py"]),
        (["check", "model.py:Nett"], ["Nett"]),
        (["check", "model.py:net"], ["has no 'net'", "did you mean 'Net'"]),  # the case first
        (["check", "model.py::Net"], ["'::'", "relulint check model.py:Net"]),  # pytest's separator
        (["check", "model.py:torch"], ["torch"]),
        (["check", "model.py:Net", "--kwargs", "{width: 4}"], ["--kwargs"]),
        (["check", "model.py:Net", "--kwargs", '{"widht": 4}'], ["widht"]),
        (["check", "model.py:Net", "--format", "xml"], ["xml"]),
        (["check", "model.py:Net", "--p", "2"], ["--p"]),
        (["check", "model.py:Net", "--fail-on", "fatal"], ["fatal"]),
        (["check", "model.py:Net", "--input-shape", "8,x"], ["8,x"]),
        (["rule", "RL999"], ["RL999"]),
    ],
)
def test_user_mistakes_are_one_line_errors(args, needles, tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    assert_usage_error(invoke(args, tmp_path, monkeypatch), *needles)


def test_constructor_needing_arguments_names_them(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "model.py",
        """
        from torch import nn


        class Net(nn.Module):
            def __init__(self, width, depth):
                super().__init__()
                self.l = nn.Linear(width, depth)
        """,
    )
    assert_usage_error(invoke(["check", "model.py:Net"], tmp_path, monkeypatch), "width", "depth")


def test_exception_in_user_code_shows_their_traceback(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "model.py",
        """
        from torch import nn


        def helper():
            raise ValueError("bad width")


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                helper()
        """,
    )
    result = invoke(["check", "model.py:Net"], tmp_path, monkeypatch)
    assert_usage_error(result, "ValueError", "bad width", "model.py")
    assert "relulint/load.py" not in result.stderr.replace(os.sep, "/")
    assert "relulint/sites.py" not in result.stderr.replace(os.sep, "/")


def test_rules_catalogue_and_rule_docs(monkeypatch, tmp_path) -> None:
    result = invoke(["rules", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 0
    codes = [r["code"] for r in json.loads(result.stdout)["rules"]]
    assert "RL101" in codes and codes == sorted(codes)
    doc = invoke(["rule", "born-dead-relu-chain"], tmp_path, monkeypatch)
    assert doc.exit_code == 0
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "References"):
        assert section in doc.stdout


def test_prints_of_user_code_go_to_stderr(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", "print('hello from the model file')\n" + textwrap.dedent(DEEP_NARROW))
    result = invoke(["check", "model.py:Net", "--format", "json"], tmp_path, monkeypatch)
    json.loads(result.stdout)
    assert "hello from the model file" not in result.stdout


def test_real_process_errors_and_json(tmp_path) -> None:
    """The installed command in a real process: fd-level output, exit codes, no relulint traceback."""
    write(tmp_path, "model.py", "import os\nos.write(1, b'raw fd print\\n')\n" + textwrap.dedent(DEEP_NARROW))
    command = [sys.executable, "-m", "relulint", "check", "model.py:Net", "--format", "json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["targets"][0]["name"] == "Net"
    assert "raw fd print" in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "relulint", "check", "nope.py:Net"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and "hint:" in missing.stderr


def test_whole_file_target_lists_skipped(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "models.py",
        textwrap.dedent(WIDE)
        + textwrap.dedent(
            """

            class NeedsArgs(nn.Module):
                def __init__(self, width):
                    super().__init__()
                    self.l = nn.Linear(width, width)
            """
        ),
    )
    result = invoke(["check", "models.py", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [t["name"] for t in document["targets"]] == ["Wide"]
    assert [s["name"] for s in document["skipped"]] == ["NeedsArgs"]
    assert "width" in document["skipped"][0]["reason"]


def test_example_from_readme(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    bad = runner.invoke(app, ["check", "examples/pinn.py:DeepNarrowPINN", "--format", "json"])
    assert bad.exit_code == 1
    assert "RL101" in {f["code"] for f in json.loads(bad.stdout)["targets"][0]["findings"]}
    good = runner.invoke(app, ["check", "examples/pinn.py:WidePINN"])
    assert good.exit_code == 0, good.output


# ------------------------------------------------------------------------------- rule selection


def codes_fired(result) -> set[str]:
    assert result.exit_code in (0, 1), result.output
    return {f["code"] for t in json.loads(result.stdout)["targets"] for f in t["findings"]}


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--select", "XYZ", "'XYZ'"),
        ("--select", "RL101,RL1X", "'RL1X'"),
        ("--ignore", "RL999", "'RL999'"),
        ("--extend-select", "RL9999", "'RL9999'"),
        ("--ignore", "born-dead-relu-chain", "'BORN-DEAD-RELU-CHAIN'"),
    ],
)
@pytest.mark.parametrize("exit_zero", [False, True])
def test_bad_cli_selectors_are_usage_errors(flag, value, needle, exit_zero, tmp_path, monkeypatch) -> None:
    """Validated like `[tool.relulint] select`: a bad code would silently disable the gate."""
    write(tmp_path, "model.py", DEEP_NARROW)
    args = ["check", "model.py:Net", flag, value] + (["--exit-zero"] if exit_zero else [])
    result = invoke(args, tmp_path, monkeypatch)
    assert_usage_error(result, flag, needle)
    (message,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert message.startswith(f"relulint: error: {flag}: ")
    assert result.stdout == ""


def test_cli_selectors_accept_lowercase_and_all(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    fired = codes_fired(
        invoke(["check", "model.py:Net", "-f", "json", "--select", "rl101"], tmp_path, monkeypatch)
    )
    assert fired == {"RL101"}
    everything = ["check", "model.py:Net", "-f", "json", "--select", "ALL"]
    assert codes_fired(invoke(everything, tmp_path, monkeypatch)) == {"RL101", "RL102", "RL201", "RL202"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "RL101", "--ignore", "RL1"], {"RL101"}),  # the more specific selector wins
        (["--select", "RL1", "--ignore", "RL101"], {"RL102"}),
        (["--select", "RL1,RL201", "--ignore", "ALL"], {"RL101", "RL102", "RL201"}),  # RL1 beats RL
        (["--ignore", "RL1", "--extend-select", "RL102"], {"RL102", "RL201", "RL202"}),
        (["--select", "RL2", "--ignore", "RL2"], set()),  # equal specificity: ignore wins
    ],
)
def test_more_specific_selector_wins_on_the_command_line(args, expected, tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    result = invoke(["check", "model.py:Net", "-f", "json", *args], tmp_path, monkeypatch)
    assert codes_fired(result) == expected


def test_more_specific_selector_wins_in_the_config(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    write(tmp_path, "pyproject.toml", '[tool.relulint]\nselect = ["RL101"]\nignore = ["RL1"]\n')
    assert codes_fired(invoke(["check", "model.py:Net", "-f", "json"], tmp_path, monkeypatch)) == {"RL101"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"RL102", "RL202"}),  # the config alone: RL2 minus RL201, plus RL102
        (["--select", "RL201"], {"RL201"}),  # --select resets the config's select AND ignore ...
        (["--select", "RL101"], {"RL101"}),  # ... and its extend-select
        (["--extend-select", "RL101"], {"RL101", "RL102", "RL202"}),  # edits the config's rules
        (["--extend-select", "RL201"], {"RL102", "RL201", "RL202"}),  # a later layer beats its ignore
        (["--ignore", "RL202"], {"RL102"}),
        (["--ignore", "RL"], set()),
    ],
)
def test_cli_selection_layers_over_the_config_like_ruff(args, expected, tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    write(
        tmp_path,
        "pyproject.toml",
        '[tool.relulint]\nselect = ["RL2"]\nignore = ["RL201"]\nextend-select = ["RL102"]\n',
    )
    result = invoke(["check", "model.py:Net", "-f", "json", *args], tmp_path, monkeypatch)
    assert codes_fired(result) == expected
    assert result.exit_code == (1 if expected - {"RL102"} else 0), result.output  # RL102 is info


# ------------------------------------------------------------- files pre-commit passes without `.py`


def write_script(directory: Path, name: str, source: str) -> Path:
    path = write(directory, name, "#!/usr/bin/env python\n" + textwrap.dedent(source).lstrip())
    path.chmod(0o755)
    return path


def test_extensionless_python_script_is_linted(tmp_path, monkeypatch) -> None:
    """pre-commit's identify tags `bin/deploy` python by its shebang and passes it to the hook."""
    write_script(tmp_path, "bin/deploy", DEEP_NARROW)
    result = invoke(["check", "bin/deploy", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert target["path"] == "bin/deploy" and target["name"] == "Net"
    rl101 = next(f for f in target["findings"] if f["code"] == "RL101")
    assert (rl101["path"], rl101["line"]) == ("bin/deploy", 9)  # one line below model.py's: the shebang
    named = invoke(["check", "bin/deploy:Net", "--select", "RL101", "-f", "concise"], tmp_path, monkeypatch)
    assert named.exit_code == 1 and named.stdout.startswith("bin/deploy:9:1: RL101 "), named.output


def test_extensionless_scripts_without_models_are_scanned_or_ignored(tmp_path, monkeypatch) -> None:
    write(tmp_path, "wide.py", WIDE)
    write_script(tmp_path, "bin/train", "import torch\nopt = torch.optim.SGD([torch.zeros(1)], lr=0.1)\n")
    write(tmp_path, "bin/notes", "#!/bin/sh\necho 'class A(nn.Module): pass'\n")
    write(tmp_path, "bin/data", "class A(nn.Module): pass\n")  # no python shebang: not a Python file
    result = invoke(
        ["check", "wide.py", "bin/train", "bin/notes", "bin/data", "-f", "json"], tmp_path, monkeypatch
    )
    assert result.exit_code == 0, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert target["name"] == "Wide"
    only_others = invoke(["check", "bin/notes", "bin/data"], tmp_path, monkeypatch)
    assert only_others.exit_code == 0 and "nothing to check" in only_others.stderr, only_others.output


@pytest.mark.parametrize("missing", ["bin/nope", "nope.py"])  # a directory is a target (test_discover.py)
def test_missing_paths_are_usage_errors(missing, tmp_path, monkeypatch) -> None:
    (tmp_path / "models").mkdir()
    result = invoke(["check", missing, "--exit-zero"], tmp_path, monkeypatch)
    assert_usage_error(result, repr(missing))


# ------------------------------------------------------------------ whole-file mode and user errors

BREAKS = """
    from torch import nn


    def helper():
        raise ValueError("bad width")


    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            helper()
"""


@pytest.mark.parametrize("exit_zero", [False, True])
def test_whole_file_exception_in_user_code_is_exit_2(exit_zero, tmp_path, monkeypatch) -> None:
    """Skipping a module whose __init__ raises would pass the gate on a model that cannot even be built."""
    write(
        tmp_path,
        "bad.py",
        textwrap.dedent(WIDE) + textwrap.dedent(BREAKS).replace("from torch import nn\n", ""),
    )
    result = invoke(["check", "bad.py", *(["--exit-zero"] if exit_zero else [])], tmp_path, monkeypatch)
    assert_usage_error(result, "ValueError: bad width", "building Bad")
    (message,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert message == "relulint: error: ValueError: bad width while building Bad"
    assert 'File "bad.py"' in result.stderr and "helper()" in result.stderr  # the tail of THEIR traceback
    assert "skipped" not in result.stderr
    named = invoke(["check", "bad.py:Bad"], tmp_path, monkeypatch)
    assert_usage_error(named, "ValueError: bad width", "building Bad")


def test_whole_file_exception_while_importing_is_exit_2(tmp_path, monkeypatch) -> None:
    write(tmp_path, "broken.py", textwrap.dedent(WIDE) + "\nraise RuntimeError('no GPU here')\n")
    result = invoke(["check", "broken.py", "--exit-zero"], tmp_path, monkeypatch)
    assert_usage_error(result, "RuntimeError", "no GPU here", "broken.py")


def test_whole_file_exception_in_a_real_process(tmp_path) -> None:
    write(tmp_path, "bad.py", BREAKS)
    command = [sys.executable, "-m", "relulint", "check", "bad.py", "--format", "json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "" and "ValueError: bad width" in done.stderr and "hint:" in done.stderr


# ------------------------------------------------------------------------------------- baselines


def test_concise_reports_fixed_baseline_entries_on_stderr(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    written = invoke(
        ["check", "model.py:Net", "--write-baseline", "b.json", "-f", "concise"], tmp_path, monkeypatch
    )
    assert written.exit_code == 0, written.output
    same = invoke(["check", "model.py:Net", "--baseline", "b.json", "-f", "concise"], tmp_path, monkeypatch)
    assert same.exit_code == 0 and same.stdout == "" and "fixed:" not in same.stderr, same.output
    write(tmp_path, "model.py", DEEP_NARROW.replace("width: int = 3", "width: int = 4"))
    command = [
        sys.executable,
        "-m",
        "relulint",
        "check",
        "model.py:Net",
        "--baseline",
        "b.json",
        "-f",
        "concise",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )  # fresh import
    assert result.returncode == 1, result.stderr
    assert result.stdout and all(
        re.match(r"model\.py:\d+:\d+: RL\d{3} ", line) for line in result.stdout.splitlines()
    )
    fixed = [line for line in result.stderr.splitlines() if "fixed:" in line]
    assert "relulint: fixed: RL101 model.py:Net 1 → 3×12 → 1 (baseline entry no longer found)" in fixed
    assert len(fixed) == 4, result.stderr  # RL101, RL102, RL201, RL202 of the 3-wide chain


def test_write_baseline_ignores_the_configured_baseline(tmp_path, monkeypatch) -> None:
    """Re-writing must accept every finding, not only those new to the old file (nor fail without it)."""
    write(tmp_path, "model.py", DEEP_NARROW)
    write(tmp_path, "pyproject.toml", '[tool.relulint]\ntargets = ["model.py:Net"]\nbaseline = "b.json"\n')
    first = invoke(["check", "--write-baseline", "b.json"], tmp_path, monkeypatch)
    assert first.exit_code == 0 and "wrote 4 finding(s)" in first.stderr, first.output
    again = invoke(["check", "--write-baseline", "b.json"], tmp_path, monkeypatch)
    assert "wrote 4 finding(s)" in again.stderr, again.output
    assert len(json.loads((tmp_path / "b.json").read_text())["entries"]) == 4
    assert invoke(["check"], tmp_path, monkeypatch).exit_code == 0


# ------------------------------------------------------------------- files named on the command line


def test_named_file_is_imported_so_an_import_error_is_exit_2(tmp_path, monkeypatch) -> None:
    write(tmp_path, "boom.py", "import torch\n\n1 / 0\n")
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    result = invoke(["check", "boom.py"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "ZeroDivisionError" in result.output and "boom.py" in result.output


def test_under_pre_commit_a_file_without_models_is_not_imported(tmp_path, monkeypatch) -> None:
    write(tmp_path, "boom.py", "import torch\n\n1 / 0\n")
    monkeypatch.setenv("PRE_COMMIT", "1")
    result = invoke(["check", "boom.py"], tmp_path, monkeypatch)
    assert result.exit_code == 0 and "nothing to check" in result.output


@pytest.mark.parametrize(
    "source",
    [
        """
        from torch import nn


        class MLP(nn.Sequential):
            def __init__(self):
                layers = [nn.Linear(1, 3), nn.ReLU()]
                for _ in range(11):
                    layers += [nn.Linear(3, 3), nn.ReLU()]
                super().__init__(*layers, nn.Linear(3, 1))
        """,
        """
        from base import Deep


        class Child(Deep):
            pass
        """,
    ],
    ids=["sequential-subclass", "subclass-of-an-imported-model"],
)
def test_whole_file_finds_models_the_old_static_scan_missed(tmp_path, monkeypatch, source) -> None:
    write(tmp_path, "base.py", DEEP_NARROW.replace("class Net", "class Deep"))
    write(tmp_path, "models.py", source)
    for precommit in ("", "1"):  # the static scan (pre-commit) and the import (command line) agree
        monkeypatch.setenv("PRE_COMMIT", precommit)
        result = invoke(["check", "models.py", "--format", "json"], tmp_path, monkeypatch)
        assert result.exit_code == 1, result.output
        names = [t["name"] for t in json.loads(result.stdout)["targets"]]
        assert names in (["MLP"], ["Child"]), names


def test_training_script_that_defines_the_model_is_read_for_its_optimizer(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "train.py",
        textwrap.dedent(DEEP_NARROW)
        + "\n\nmodel = Net()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n",
    )
    result = invoke(
        ["check", "train.py:Net", "train.py", "--target-std", "0.01", "--format", "json"],
        tmp_path,
        monkeypatch,
    )
    document = json.loads(result.stdout)
    assert [t["name"] for t in document["targets"]] == ["Net"]  # checked once, not twice
    (rl401,) = [f for f in document["targets"][0]["findings"] if f["code"] == "RL401"]
    assert rl401["path"] == "train.py" and rl401["line"] == 18  # the SGD(...) line


def test_a_method_is_not_a_model(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "ok.py",
        "from torch import nn\n\n\nclass Ok(nn.Module):\n    def forward(self, x):\n        return x\n",
    )
    result = invoke(["check", "ok.py:Ok.forward"], tmp_path, monkeypatch)
    assert_usage_error(result, "Ok.forward is a method of Ok", "ok.py:Ok")


# ------------------------------------------------------------------------------ training facts (RL401)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--momentum", "1.5"], "--momentum"),
        (["--lr", "0"], "--lr"),
        (["--optimizer", "sgdd"], "sgdd"),
        (["--target-std", "-1"], "--target-std"),
        (["--targets", "missing.npy"], "missing.npy"),
    ],
)
def test_bad_training_flags_are_usage_errors(tmp_path, monkeypatch, flags, needle) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    assert_usage_error(
        invoke(["check", "model.py:Net", *flags, "--exit-zero"], tmp_path, monkeypatch), needle
    )


def test_rl401_from_the_command_line_flags_and_a_targets_file(tmp_path, monkeypatch) -> None:
    import numpy as np

    write(tmp_path, "model.py", DEEP_NARROW)
    np.save(tmp_path / "y.npy", np.linspace(0.0, 0.02, 1000))  # std ≈ 0.0058
    args = ["check", "model.py:Net", "--targets", "y.npy", "--optimizer", "SGD", "--lr", "0.1"]
    result = invoke([*args, "--momentum", "0.9", "--format", "json"], tmp_path, monkeypatch)
    (rl401,) = [f for f in json.loads(result.stdout)["targets"][0]["findings"] if f["code"] == "RL401"]
    assert rl401["severity"] == "warning" and "γ = 0.00578 (y.npy)" in rl401["message"]
    calm = invoke([*args, "--momentum", "0.0", "--format", "json"], tmp_path, monkeypatch)
    assert "RL401" not in {f["code"] for f in json.loads(calm.stdout)["targets"][0]["findings"]}


# the real command line, with the probe's progress hook writing one byte to a pipe once it has sampled a
# chunk: the parent sends Ctrl-C when the probe is known to be running (an event, not a guess of the time)
READY_WHEN_SAMPLING = """
import os, sys
import relulint.probe.progress as probe

ready = [int(sys.argv.pop(1))]
update = probe.Progress.update


def signalling_update(self, done):
    if done > 0 and ready:
        os.write(ready.pop(), b"r")  # once
    update(self, done)


probe.Progress.update = signalling_update
sys.argv[0] = "relulint"
from relulint.cli import main

main()
"""


def test_ctrl_c_during_a_probe_prints_the_partial_estimate(tmp_path) -> None:
    import signal

    write(tmp_path, "model.py", DEEP_NARROW)
    read_end, write_end = os.pipe()
    command = [sys.executable, "-c", READY_WHEN_SAMPLING, str(write_end)]
    command += ["probe", "model.py:Net", "--samples", "1000000000", "--max-memory", "16MiB"]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=(write_end,),
    )
    os.close(write_end)  # the child holds the only writer: its exit ends the wait below
    try:
        ready = os.read(read_end, 1)  # blocks until the probe has sampled its first chunk
    finally:
        os.close(read_end)
    if ready:
        process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate()
    assert ready == b"r", stderr  # the child exited before sampling: its error says why
    assert process.returncode == 130, stderr
    assert re.search(r"partial probe: P\(born dead\) = [\d.]+ %  \[95 % CI", stderr), stderr
    assert "interrupted:" in stderr and stdout == ""


def test_negative_seed_is_a_usage_error(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW)
    assert_usage_error(invoke(["probe", "model.py:Net", "--seed", "-1"], tmp_path, monkeypatch), "--seed")


def test_a_file_of_factories_says_how_to_name_them(tmp_path, monkeypatch) -> None:
    write(tmp_path, "factories.py", "from torch import nn\n\n\ndef make():\n    return nn.Linear(2, 2)\n")
    result = invoke(["check", "factories.py"], tmp_path, monkeypatch)
    assert result.exit_code == 0 and "file.py:make_model" in result.output


def test_wide_layers_never_print_a_negative_probability(tmp_path, monkeypatch) -> None:
    from relulint.theory.collapse import p_born_dead_upper

    assert str(p_born_dead_upper([2048])) == "0.0"
    write(
        tmp_path,
        "ffn.py",
        "from torch import nn\n\n\ndef FFN():\n    return nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 512))\n",
    )
    result = invoke(["check", "ffn.py:FFN"], tmp_path, monkeypatch)
    assert result.exit_code == 0 and "-0.0" not in result.output


def test_one_bad_file_of_several_never_hides_the_others(tmp_path, monkeypatch) -> None:
    """Several files or targets named (what the pre-commit hook passes): a failing one is listed and the
    run is exit 2, but every other target is checked and reported (json: `failures` beside `targets`)."""
    bad = (
        "from torch import nn\n\nraise RuntimeError('boom at import')\n\n\nclass Net(nn.Module):\n    pass\n"
    )
    write(tmp_path, "bad.py", bad)  # defines a model: pre-commit imports it too
    write(tmp_path, "deep.py", DEEP_NARROW)
    for precommit in ("", "1"):
        monkeypatch.setenv("PRE_COMMIT", precommit)
        result = invoke(["check", "bad.py", "deep.py", "--format", "json"], tmp_path, monkeypatch)
        assert result.exit_code == 2, result.output
        report = json.loads(result.stdout)
        assert [t["target"] for t in report["targets"]] == ["deep.py"]
        assert "RL101" in {f["code"] for f in report["targets"][0]["findings"]}
        assert [f["path"] for f in report["failures"]] == ["bad.py"]
    monkeypatch.delenv("PRE_COMMIT")
    result = invoke(["check", "deep.py:Nope", "deep.py:Net", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and json.loads(result.stdout)["targets"][0]["target"] == "deep.py:Net"
    result = invoke(["check", "deep.py:Nope"], tmp_path, monkeypatch)  # one target: its one-line error
    assert_usage_error(result, "has no 'Nope'")


def test_under_pre_commit_exclude_applies_to_the_files_it_passes(tmp_path, monkeypatch) -> None:
    """pre-commit passes every changed file, so `exclude` must be able to keep one out (ruff's hook does
    the same with --force-exclude); named by hand outside pre-commit, the file is checked."""
    old = "from torch import nn\n\nraise RuntimeError('old code')\n\n\nclass Old(nn.Module):\n    pass\n"
    write(tmp_path, "legacy/old.py", old)  # defines a model: pre-commit would import it
    write(tmp_path, "deep.py", DEEP_NARROW)
    write(tmp_path, "pyproject.toml", '[tool.relulint]\nexclude = ["legacy"]\n')
    monkeypatch.setenv("PRE_COMMIT", "1")
    result = invoke(["check", "legacy/old.py", "deep.py", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output  # deep.py's findings, legacy/old.py left out
    assert json.loads(result.stdout)["failures"] == []
    result = invoke(["check", "legacy/old.py"], tmp_path, monkeypatch)
    assert result.exit_code == 0 and "exclude" in result.stderr
    monkeypatch.delenv("PRE_COMMIT")
    result = invoke(["check", "legacy/old.py"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "old code" in result.output


SCRIPT_STYLE = """
    from torch import nn

    body = nn.Sequential(*[m for _ in range(15) for m in (nn.Linear(3, 3), nn.ReLU())])
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), body, nn.Linear(3, 1))
    same = model
"""


def test_a_file_without_classes_has_its_module_level_models_checked(tmp_path, monkeypatch) -> None:
    """`model = nn.Sequential(...)` at the top of a script (no class, no optimizer): named on the command
    line, the file's own models are checked, each once and not their parts (`body` is inside `model`)."""
    write(tmp_path, "net.py", SCRIPT_STYLE)
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    result = invoke(["check", "net.py", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert target["name"] == "model" and "RL101" in {f["code"] for f in target["findings"]}
    assert [chain["hidden_widths"] for chain in target["chains"]] == [[3] * 16]
