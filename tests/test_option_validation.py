"""One validator for every option: the command line, `[tool.relulint]` and the Python API accept and reject
the same values, with the same one-line problem; only the name differs (`--p`, `'p'` in the file, `p`).

Each case of the table goes through all three real entry points: `relulint.check(...)` (a `UsageError`),
`relulint check ... --flag TEXT` (exit 2, `relulint: error: --flag ...`), and `relulint check` under a
`pyproject.toml` (exit 2, `relulint: error: pyproject.toml: [tool.relulint] 'key' ...`).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
from model_sources import DEEP_NARROW
from typer.testing import CliRunner

import relulint
from relulint.cli import app, collect_cli
from relulint.config import load_config
from relulint.errors import ConfigError, UsageError
from relulint.options import Options

runner = CliRunner()

# (field, API value, flag text or None (no flag), TOML text, words the problem must hold)
BAD: list[tuple[str, Any, str | None, str, str]] = [
    ("p", 2, "2", "2", "must be a probability between 0 and 1 (exclusive), got 2"),
    ("p", 0, "0", "0", "must be a probability between 0 and 1 (exclusive), got 0"),
    ("p", math.nan, "nan", "nan", "must be a probability between 0 and 1 (exclusive), got nan"),
    ("p", "high", "high", "'high'", "got 'high'"),
    ("timeout", -1, "-1", "-1", "must be a positive number, got -1"),
    ("timeout", math.nan, "nan", "nan", "must be a positive number, got nan"),
    ("timeout", math.inf, "inf", "inf", "must be a positive number, got inf"),
    ("points", 0, "0", "0", "must be an integer >= 1, got 0"),
    ("samples", 0, "0", "0", "must be an integer >= 1, got 0"),
    ("samples", 1.5, "1.5", "1.5", "must be an integer >= 1, got 1.5"),
    ("seed", -1, "-1", "-1", "must be an integer >= 0"),
    ("device", "tpu", "tpu", "'tpu'", "must be one of 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ("device", "cuda:x", "cuda:x", "'cuda:x'", "got 'cuda:x'"),
    ("compare", "he", "he", "'he'", "must be one of 'rai', got 'he'"),
    ("fail_on", "fatal", "fatal", "'fatal'", "must be one of 'info', 'warning', 'error', got 'fatal'"),
    ("domain", (1, -1), "1,-1", "[1, -1]", "LOW < HIGH, got [1, -1]"),
    ("domain", (0, math.inf), "0,inf", "[0, inf]", "two finite numbers"),
    ("max_memory", "lots", "lots", "'lots'", "must be a positive number of bytes or a size like '1GiB'"),
    ("max_memory", 0, "0", "0", "got 0"),
    ("input_shape", (8, 0), "8,0", "[8, 0]", "must be a list of positive integers"),
    ("select", ("RL999",), "RL999", "['RL999']", "unknown rule 'RL999'"),
    ("select", "RL999", "RL999", "'RL999'", "unknown rule 'RL999'"),
    ("ignore", ("RL6",), "RL6", "['RL6']", "'RL6' matches no rule"),
    ("extend_select", ("XYZ",), "XYZ", "['XYZ']", "'XYZ' is not a rule code or prefix"),
    ("ignore", "RL102,RL999", "RL102,RL999", "'RL102,RL999'", "unknown rule 'RL999'"),
]

FLAGS = {"fail_on": "--fail-on", "max_memory": "--max-memory", "input_shape": "--input-shape"}


def flag_of(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def key_of(name: str) -> str:
    return name.replace("_", "-")


def api_error(name: str, value: Any, tmp_path: Path) -> UsageError:
    with pytest.raises(UsageError) as raised:
        relulint.check(str(tmp_path / "model.py") + ":Net", **{name: value})
    return raised.value


def cli_lines(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (tmp_path / "model.py").write_text(DEEP_NARROW, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "model.py:Net", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr.splitlines()


@pytest.mark.parametrize(("name", "value", "text", "toml", "words"), BAD)
def test_every_entry_point_rejects_alike(name, value, text, toml, words, tmp_path, monkeypatch) -> None:
    # the Python API: a UsageError, one line, naming the keyword
    error = api_error(name, value, tmp_path)
    assert "\n" not in error.message and error.hint, error.message
    assert error.message.startswith(name) and words in error.message, error.message
    problem = error.message[len(name) :]  # " must be ..." or ": unknown rule ..."
    # the command line: exit 2, the same problem named by the flag
    flag = flag_of(name)
    lines = cli_lines([flag, text], tmp_path, monkeypatch)
    assert lines[0] == f"relulint: error: {flag}{problem}", lines
    assert lines[1].startswith("  hint: ")
    # the config: exit 2, the same problem naming the file and the key
    key = key_of(name)
    (tmp_path / "pyproject.toml").write_text(f"[tool.relulint]\n{key} = {toml}\n", encoding="utf-8")
    lines = cli_lines([], tmp_path, monkeypatch)
    assert lines[0] == f"relulint: error: pyproject.toml: [tool.relulint] '{key}'{problem}", lines
    assert lines[1].startswith("  hint: ")


# (field, API value, flag text, TOML text, the value `Options` holds)
GOOD: list[tuple[str, Any, str, str, Any]] = [
    ("device", "cuda:0", "cuda:0", "'cuda:0'", "cuda:0"),
    ("device", "CPU", "CPU", "'CPU'", "cpu"),
    ("ignore", "RL102", "RL102", "'RL102'", ("RL102",)),
    ("ignore", "RL102,RL201", "RL102,RL201", "'RL102,RL201'", ("RL102", "RL201")),
    ("select", ["rl1", "ALL"], "rl1,ALL", "['rl1', 'ALL']", ("RL1", "RL")),
    ("p", 0.5, "0.5", "0.5", 0.5),
    ("timeout", 3, "3", "3", 3.0),
    ("domain", (-1, 2), "-1,2", "[-1, 2]", (-1.0, 2.0)),
    ("max_memory", "512MiB", "512MiB", "'512MiB'", 512 << 20),
    ("input_shape", [4, 2], "4,2", "[4, 2]", (4, 2)),
]


@pytest.mark.parametrize(("name", "value", "text", "toml", "held"), GOOD)
def test_every_entry_point_accepts_alike(name, value, text, toml, held, tmp_path, monkeypatch) -> None:
    assert getattr(Options(**{name: value}), name) == held
    cli = collect_cli(**{name: [text] if name in ("select", "ignore") else text})
    assert cli.overrides[name] == held
    (tmp_path / "pyproject.toml").write_text(f"[tool.relulint]\n{key_of(name)} = {toml}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_config(tmp_path).options[name] == held


def test_device_cuda_index_in_the_config_runs(tmp_path, monkeypatch) -> None:
    """`device = "cuda:0"` was exit 2 while `--device cuda:0` was accepted."""
    (tmp_path / "model.py").write_text(DEEP_NARROW, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.relulint]\ndevice = "cuda:0"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "model.py:Net", "-f", "json"])
    assert result.exit_code == 1, result.output  # the findings of the deep, narrow net; no usage error


def test_ignore_as_a_string_is_one_code(tmp_path) -> None:
    """`ignore="RL102"` was read letter by letter (R, L, 1, 0, 2) and dropped every finding."""
    (tmp_path / "model.py").write_text(DEEP_NARROW, encoding="utf-8")
    target = str(tmp_path / "model.py") + ":Net"
    every = {f.code for f in relulint.check(target, cwd=tmp_path).findings}
    kept = {f.code for f in relulint.check(target, cwd=tmp_path, ignore="RL102").findings}
    assert "RL102" in every and "RL101" in every
    assert kept == every - {"RL102"}


def test_unknown_code_names_the_known_ones(tmp_path) -> None:
    error = api_error("select", ("RL999",), tmp_path)
    assert error.message.startswith("select: unknown rule 'RL999'"), error.message
    assert error.hint is not None and "RL101" in error.hint and "RL202" in error.hint


def test_options_record_validates_too() -> None:
    with pytest.raises(UsageError, match=r"^p must be a probability"):
        Options(p=2)
    with pytest.raises(UsageError, match=r"^timeout must be a positive number"):
        Options().replace(timeout=-1)
    assert Options(fail_on="error").fail_on.label == "error"


# ---------------------------------------------------------------------------------- RL202's factor

BAD_FACTORS = [(-5, "-5"), (0, "0"), (1, "1"), (0.5, "0.5"), (math.inf, "inf"), ("big", '"big"')]


@pytest.mark.parametrize(("value", "toml"), BAD_FACTORS)
def test_rl202_factor_must_exceed_one(value, toml, tmp_path, monkeypatch) -> None:
    """A factor ≤ 1 has no band [1/factor, factor] around 1 (−5 printed "limit ×−5"; 0 divided by zero)."""
    with pytest.raises(UsageError) as raised:
        relulint.check(str(tmp_path / "m.py") + ":Net", rule_options={"RL202": {"factor": value}})
    message = raised.value.message
    assert message.startswith("rule_options['RL202']['factor'] must be a number > 1, got "), message
    problem = message.split("['factor']", 1)[1]
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.relulint.rules.RL202]\nfactor = {toml}\n", encoding="utf-8"
    )
    lines = cli_lines([], tmp_path, monkeypatch)
    assert lines[0] == f"relulint: error: pyproject.toml: [tool.relulint.rules.RL202] 'factor'{problem}"


def test_rl202_factor_in_range_is_used(tmp_path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.relulint.rules.RL202]\nfactor = 1e4\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Options().replace(**load_config(tmp_path).options).rule_option("RL202", "factor", 0) == 1e4


# ------------------------------------------------------------------------------- pyproject encoding


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("# café\n[tool.relulint]\nselect = ['RL1']\n".encode("latin-1"), "invalid continuation byte"),
        ("[tool.relulint]\nselect = ['RL1']\n".encode("utf-16"), "invalid start byte"),
    ],
)
def test_pyproject_that_is_not_utf8_is_exit_2(data, why, tmp_path, monkeypatch) -> None:
    """It was skipped silently (every rule ran); it is a bad config like any other."""
    (tmp_path / "pyproject.toml").write_bytes(data)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert (
        raised.value.message.startswith("pyproject.toml: not valid UTF-8 (") and why in raised.value.message
    )
    lines = cli_lines([], tmp_path, monkeypatch)
    assert lines[0] == f"relulint: error: {raised.value.message}" and "UTF-8" in lines[1]


def test_non_utf8_pyproject_without_relulint_is_not_ours(tmp_path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_bytes("# café\n[tool.black]\n".encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    assert load_config(tmp_path).path is None


def test_config_message_names_the_nested_file(tmp_path, monkeypatch) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent("[tool.relulint]\ntimeout = nan\n"), encoding="utf-8"
    )
    monkeypatch.chdir(project / "sub")
    with pytest.raises(ConfigError) as raised:
        load_config(project / "sub")
    assert (
        raised.value.message
        == "../pyproject.toml: [tool.relulint] 'timeout' must be a positive number, got nan"
    )
    assert raised.value.hint == "timeout = 120"


def test_unknown_keyword_suggests_the_close_one(tmp_path) -> None:
    with pytest.raises(UsageError) as raised:
        relulint.check(str(tmp_path / "m.py") + ":Net", fail_onn="error")
    assert raised.value.message == "unknown option 'fail_onn' for relulint.check (did you mean 'fail_on'?)"
    assert raised.value.hint is not None and "relulint config" in raised.value.hint


@pytest.mark.parametrize("value", [0, -0.1, math.inf])
def test_rl401_max_target_std_is_a_positive_std(value) -> None:
    with pytest.raises(UsageError, match=r"\['max-target-std'\] must be a number > 0, got "):
        Options(rule_options={"RL401": {"max-target-std": value}})
    assert (
        Options(rule_options={"RL401": {"max-target-std": 0.5}}).rule_option("RL401", "max-target-std", 0)
        == 0.5
    )
