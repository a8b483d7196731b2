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
from typer.testing import CliRunner

from relulint import __version__
from relulint.cli import app

REPO = Path(__file__).resolve().parents[1]
DEEP_NARROW = """
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, width: int = 3, depth: int = 12):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(1, width)] + [nn.Linear(width, width) for _ in range(depth - 1)])
            self.out = nn.Linear(width, 1)

        def forward(self, x):
            for layer in self.layers:
                x = torch.relu(layer(x))
            return self.out(x)
"""
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


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def invoke(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(cwd)
    return runner.invoke(app, args)


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
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
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
