"""`[tool.relulint]`: discovery upward, every key mapped to `Options`, one-line errors naming the key."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from relulint.config import ConfigResult, find_pyproject, load_config
from relulint.errors import ConfigError
from relulint.options import Options
from relulint.records.report import Severity


def write_config(directory: Path, body: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def load(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> ConfigResult:
    write_config(tmp_path, body)
    monkeypatch.chdir(tmp_path)
    return load_config(tmp_path)


def error(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, body, monkeypatch)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("pyproject.toml: "), message
    return message


# ------------------------------------------------------------------------------------------ discovery


def test_no_config_is_empty(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = load_config(tmp_path)
    assert result == ConfigResult() and Options().replace(**result.options) == Options()


def test_nearest_pyproject_with_a_relulint_table_upward(tmp_path) -> None:
    write_config(tmp_path, "[tool.relulint]\np = 0.05\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    write_config(tmp_path / "a", "[project]\nname = 'x'\n")  # no [tool.relulint]: skipped, like ruff
    assert find_pyproject(sub) == tmp_path / "pyproject.toml"
    write_config(sub, "[tool.relulint]\np = 0.2\n")
    assert find_pyproject(sub) == sub / "pyproject.toml"
    assert load_config(sub).options == {"p": 0.2}


def test_invalid_toml_is_a_config_error(tmp_path, monkeypatch) -> None:
    assert "invalid TOML" in error(tmp_path, "[tool.relulint]\np = = 1\n", monkeypatch)


# ------------------------------------------------------------------------------------------ mapping


def test_every_key_maps_to_options(tmp_path, monkeypatch) -> None:
    result = load(
        tmp_path,
        """
        [tool.relulint]
        targets = ["model.py:Net", { target = "pkg.nets:MLP", kwargs = { width = 8 }, input-shape = [4, 2] }]
        select = ["RL1", "rl901"]
        ignore = ["RL901"]
        extend-select = ["RL900"]
        fail-on = "error"
        p = 0.05
        timeout = 30
        input-shape = [8, 1]
        kwargs = { depth = 3 }
        per-file-ignores = { "tests/*.py" = ["RL101"] }
        severity = { RL901 = "warning", born-dead-relu-chain = "info" }
        baseline = "relulint-baseline.json"
        scripts = ["train.py"]
        probe = true
        probe-all = false
        samples = 500
        points = 64
        seed = 3
        device = "cpu"
        domain = [-1, 1]
        compare = "rai"
        max-memory = "512MiB"

        [tool.relulint.rules.RL101]
        p = 0.1
        """,
        monkeypatch,
    )
    assert result.targets == (
        "model.py:Net",
        {"target": "pkg.nets:MLP", "kwargs": {"width": 8}, "input-shape": [4, 2]},
    )
    assert result.base_dir == tmp_path.resolve() and result.path == tmp_path.resolve() / "pyproject.toml"
    options = Options().replace(**result.options)
    assert options.select == ("RL1", "RL901") and options.ignore == ("RL901",)
    assert options.extend_select == ("RL900",)
    assert options.fail_on is Severity.ERROR and options.p == 0.05 and options.timeout == 30.0
    assert options.input_shape == (8, 1) and options.kwargs == {"depth": 3}
    assert options.per_file_ignores == {"tests/*.py": ("RL101",)}
    assert options.severity_overrides == {"RL901": Severity.WARNING, "RL101": Severity.INFO}
    assert options.rule_options == {"RL101": {"p": 0.1}}
    assert options.rule_option("RL101", "p", 0.01) == 0.1
    assert options.baseline == "relulint-baseline.json" and options.scripts == ("train.py",)
    assert options.probe is True and options.probe_all is False
    assert (options.samples, options.points, options.seed, options.device) == (500, 64, 3, "cpu")
    assert options.domain == (-1.0, 1.0) and options.compare == "rai" and options.max_memory == 512 << 20


def test_paths_are_relative_to_the_config_directory(tmp_path, monkeypatch) -> None:
    write_config(
        tmp_path,
        """
        [tool.relulint]
        targets = ["models/net.py:Net", "pkg.mod:Net", { target = "models/other.py" }]
        baseline = "ci/baseline.json"
        per-file-ignores = { "tests/*.py" = ["RL1"], "*.py" = ["RL9"] }
        """,
    )
    sub = tmp_path / "models"
    sub.mkdir()
    monkeypatch.chdir(sub)
    result = load_config(sub)
    assert result.targets == ("net.py:Net", "pkg.mod:Net", {"target": "other.py"})
    assert result.options["baseline"] == "../ci/baseline.json"
    assert result.options["per_file_ignores"] == {
        (tmp_path.resolve() / "tests/*.py").as_posix(): ("RL1",),
        "*.py": ("RL9",),
    }


def test_cli_overrides_config(tmp_path, monkeypatch) -> None:
    result = load(tmp_path, "[tool.relulint]\np = 0.05\nselect = ['RL1']\n", monkeypatch)
    options = Options().replace(**result.options).replace(p=0.2)
    assert options.p == 0.2 and options.select == ("RL1",)


def test_single_string_selector_and_all(tmp_path, monkeypatch) -> None:
    assert load(tmp_path, "[tool.relulint]\nselect = 'ALL'\n", monkeypatch).options == {"select": ("RL",)}


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("selct = ['RL1']", ["unknown key 'selct'", "did you mean 'select'?"]),
        ("extend_select = ['RL1']", ["unknown key 'extend_select'", "'extend-select'"]),
        ("fail_on = 'error'", ["'fail_on'", "'fail-on'"]),
        ("p = 'high'", ["'p' must be a probability"]),
        ("p = 1.5", ["'p'"]),
        ("p = true", ["'p'"]),
        ("timeout = -1", ["'timeout' must be a positive number"]),
        ("select = 'RL1x'", ["'select'", "RL1X"]),
        ("select = [1]", ["'select' must be a list of strings"]),
        ("ignore = ['RL999']", ["'ignore'", "unknown rule 'RL999'"]),
        ("fail-on = 'fatal'", ["'fail-on' must be one of"]),
        ("input-shape = [8, 'x']", ["'input-shape'"]),
        ("input-shape = []", ["'input-shape'"]),
        ("samples = 0", ["'samples' must be an integer >= 1"]),
        ("seed = 1.5", ["'seed' must be an integer"]),
        ("device = 'tpu'", ["'device' must be one of"]),
        ("domain = [1, -1]", ["'domain'"]),
        ("max-memory = 'lots'", ["'max-memory'"]),
        ("probe = 'yes'", ["'probe' must be true or false"]),
        ("targets = 3", ["'targets'"]),
        (
            "targets = [{ target = 'm.py:Net', kwarg = {} }]",
            ["[tool.relulint.targets[0]]", "unknown key 'kwarg'"],
        ),
        ("targets = [{ kwargs = {} }]", ["missing key 'target'"]),
        ("targets = [{ target = 'm.py:Net', input-shape = 'x' }]", ["'input-shape'"]),
        ("severity = { RL101 = 'fatal' }", ["[tool.relulint.severity]", "'RL101' must be one of"]),
        ("severity = { RL999 = 'error' }", ["unknown rule 'RL999'"]),
        ("per-file-ignores = { 'a.py' = 'RL1x' }", ["[tool.relulint.per-file-ignores]", "'a.py'"]),
        ("per-file-ignores = ['a.py']", ["'per-file-ignores'"]),
        ("rules = 1", ["'rules'"]),
        ("[tool.relulint.rules.RL999]\np = 0.1", ["unknown rule 'RL999'"]),
        ("[tool.relulint.rules.RL101]\npp = 0.1", ["[tool.relulint.rules.RL101]", "unknown key 'pp'", "'p'"]),
        (
            "[tool.relulint.rules.RL101]\np = 'x'",
            ["[tool.relulint.rules.RL101]", "'p' must be a probability"],
        ),
        ("[tool.relulint.rules.RL901]\nx = 1", ["RL901 has no options"]),
    ],
)
def test_one_line_error_naming_the_key(body, needles, tmp_path, monkeypatch) -> None:
    message = error(tmp_path, "[tool.relulint]\n" + body + "\n", monkeypatch)
    for needle in needles:
        assert needle in message, message


def test_errors_carry_a_hint(tmp_path, monkeypatch) -> None:
    write_config(tmp_path, "[tool.relulint]\nselct = 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert raised.value.hint and "select" in raised.value.hint


def test_rule_option_types_follow_defaults(tmp_path, monkeypatch) -> None:
    from relulint.config import _Reader

    reader = _Reader(path=tmp_path / "pyproject.toml", base_dir=tmp_path, cwd=tmp_path)
    table = "tool.relulint.rules.RLX"
    assert reader.option_value("factor", 10, 1e3, table) == 10.0
    assert reader.option_value("count", 3, 2, table) == 3
    assert reader.option_value("flag", True, False, table) is True
    with pytest.raises(ConfigError, match="'count' must be an integer"):
        reader.option_value("count", 1.5, 2, table)
    with pytest.raises(ConfigError, match="'flag' must be true or false"):
        reader.option_value("flag", 1, False, table)
    with pytest.raises(ConfigError, match="'factor' must be a number"):
        reader.option_value("factor", "big", 1e3, table)


# ------------------------------------------------------------------------------------------ training


@pytest.mark.skipif(
    importlib.util.find_spec("relulint.training") is None, reason="relulint.training not written yet"
)
def test_training_table_is_delegated(tmp_path, monkeypatch) -> None:
    from relulint.records.model_facts import TrainingFacts

    result = load(tmp_path, "[tool.relulint.training]\ntarget-std = 0.05\n", monkeypatch)
    assert isinstance(result.options["training"], TrainingFacts)
    assert result.options["training"].target_std == 0.05


def test_training_must_be_a_table(tmp_path, monkeypatch) -> None:
    assert "'training' must be a table" in error(tmp_path, "[tool.relulint]\ntraining = 1\n", monkeypatch)


@pytest.mark.skipif(
    importlib.util.find_spec("relulint.training") is None, reason="relulint.training not written yet"
)
def test_training_errors_name_the_file_and_key(tmp_path, monkeypatch) -> None:
    message = error(tmp_path, "[tool.relulint.training]\ntarget-sdt = 0.05\n", monkeypatch)
    assert "target-sdt" in message


@pytest.mark.parametrize(
    ("value", "flag"),
    [("XYZ", "--select"), ("RL999", "--ignore"), ("RL1X", "--extend-select")],
)
def test_config_and_cli_selectors_are_validated_alike(value, flag, tmp_path, monkeypatch) -> None:
    """One implementation (`config.parse_selectors`): the same message and hint, naming key or flag."""
    from typer.testing import CliRunner

    from relulint.cli import app

    key = flag.removeprefix("--")
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, f"[tool.relulint]\n{key} = [{value!r}]\n", monkeypatch)
    config_message = raised.value.message
    assert config_message.startswith(f"pyproject.toml: [tool.relulint] '{key}': ")
    (tmp_path / "pyproject.toml").unlink()
    result = CliRunner().invoke(app, ["check", "model.py:Net", flag, value])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"relulint: error: {flag}: " + config_message.split(f"'{key}': ", 1)[1]
    assert lines[1] == f"  hint: {raised.value.hint}"


def test_script_targets_are_rebased_like_py_files(tmp_path, monkeypatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "deploy").write_text("#!/usr/bin/env python\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    write_config(tmp_path, '[tool.relulint]\ntargets = ["bin/deploy:Net", "pkg.mod:Net"]\n')
    monkeypatch.chdir(tmp_path / "sub")
    assert load_config(tmp_path / "sub").targets == ("../bin/deploy:Net", "pkg.mod:Net")
