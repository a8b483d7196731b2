"""Each option declared once: `Options`, the config reader, the command line's flags and help, `relulint
config`, its JSON Schema and the README's table all come from the same specs, and agree."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import typer
from typer.testing import CliRunner

from relulint.cli import app
from relulint.cli_options import option_help
from relulint.config import load_config
from relulint.errors import ConfigError
from relulint.option_docs import config_name, json_schema, markdown
from relulint.option_specs import TRAINING, all_specs, cli_specs, config_specs, option_specs
from relulint.options import Options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

# the flags of each command that are not options (they choose the output, not what is checked)
OWN_FLAGS = {
    "check": {"--format", "--output", "--statistics", "--write-baseline", "--plot", "--debug"},
    "probe": {"--format", "--output", "--debug"},
}


# ------------------------------------------------------------------------------------ one declaration


def test_options_fields_are_the_specs() -> None:
    fields = dataclasses.fields(Options)
    assert [f.name for f in fields] == [s.name for s in option_specs()]
    defaults = Options()
    for spec in option_specs():
        assert getattr(defaults, spec.name) == spec.default, spec.name


def test_config_keys_are_the_specs_keys(tmp_path, monkeypatch) -> None:
    """Every key of `[tool.relulint]` the reader knows is a spec's key, and an unknown one lists them."""
    (tmp_path / "pyproject.toml").write_text("[tool.relulint]\nnope = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    listed = raised.value.hint.removeprefix("keys are: ").split(", ")
    assert sorted(listed) == sorted([*config_specs(), "training"])


@pytest.mark.parametrize("command", ["check", "probe"])
def test_every_flag_is_declared_from_its_spec(command: str) -> None:
    click_command = typer.main.get_command(app).commands[command]
    params = {opt: p for p in click_command.params if p.param_type_name == "option" for opt in p.opts}
    for spec in cli_specs(command):
        param = params.pop(spec.flag)
        assert param.opts == [spec.flag] and param.name == spec.name
        assert param.help == option_help(spec)
        assert param.help.startswith(spec.help)
        if spec.kind.is_flag:
            assert param.is_flag and param.default is False
        else:
            assert param.default is None and param.metavar == spec.kind.metavar  # unset: the config stands
            assert param.multiple is spec.kind.multiple
        if spec.default not in (None, False, (), {}):
            assert f"\\[default: {spec.kind.show(spec.default)}]" in param.help
    assert set(params) - {"-f", "-o"} == OWN_FLAGS[command]


def test_help_shows_the_specs_defaults() -> None:
    result = runner.invoke(app, ["check", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for phrase in (
        "[default: 0.01]",
        "[default: 120]",
        "[default: 10000]",
        "[default: 1GiB]",
        "[default: auto]",
    ):
        assert phrase in text, phrase


# -------------------------------------------------------------------------------------- relulint config


def test_config_lists_every_option() -> None:
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for spec in all_specs():
        name = config_name(spec) or spec.title
        head = f"{name}  ({spec.kind.type_name}, default "
        assert head in text, name
        block = text.split(head, 1)[1]
        assert spec.help in block.split("\n", 3)[1]
        where = block.split("\n", 3)[2]
        assert where.startswith("    set by: ")
        if spec.flag:
            assert spec.flag in where
        if spec.key:
            assert f"[{spec.table}" in where


def test_config_shows_one_option() -> None:
    result = runner.invoke(app, ["config", "fail-on"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:4] == [
        "fail-on",
        "  Exit 1 on findings at or above this severity: info, warning or error.",
        "  type: str",
        "  default: warning",
    ]
    assert "--fail-on" in result.stdout and '[tool.relulint] fail-on = "warning"' in result.stdout
    assert runner.invoke(app, ["config", "training.lr"]).stdout.startswith("training.lr\n  Learning rate.")
    unknown = runner.invoke(app, ["config", "fial-on"])
    assert unknown.exit_code == 2 and "no option 'fial-on'" in unknown.stderr and "fail-on" in unknown.stderr


def test_config_json_records() -> None:
    result = runner.invoke(app, ["config", "--format", "json"])
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == [s.name for s in all_specs()]
    p = next(r for r in records if r["name"] == "p")
    assert p == {
        "name": "p",
        "type": "float",
        "default": 0.01,
        "flag": "--p",
        "commands": ["check"],
        "config": "p",
        "table": "tool.relulint",
        "api": "relulint.check(p=...)",
        "help": p["help"],
    }


def test_readme_options_table_is_generated() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    begin = "<!-- options-table: generated by `relulint config --format markdown`"
    section = readme.split(begin, 1)[1].split("\n", 1)[1].split("<!-- options-table: end -->", 1)[0]
    assert section == markdown(), "README's options table is stale: paste `relulint config --format markdown`"
    assert runner.invoke(app, ["config", "--format", "markdown"]).stdout == markdown()
    assert len(section.strip().splitlines()) == 2 + len(all_specs())


# ------------------------------------------------------------------------------------------ the schema

GOOD = [
    """
    targets = ["model.py:Net", { target = "pkg.nets:MLP", kwargs = { width = 8 }, input-shape = [4, 2] }]
    select = ["RL1", "rl901"]
    ignore = "RL102,RL201"
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
    targets-file = "y.npy"
    probe = true
    probe-all = false
    samples = 500
    points = 64
    seed = 3
    device = "cuda:0"
    domain = [-1, 1.5]
    data = "x.npy"
    compare = "rai"
    max-memory = "512MiB"

    [tool.relulint.rules.RL202]
    factor = 1e4

    [tool.relulint.rules.born-dead-relu-chain]
    p = 0.1
    """,
    """
    targets = "model.py:Net"
    select = "ALL"
    max-memory = 1048576

    [tool.relulint.training]
    target-std = 0.05
    optimizer = "Adam"
    lr = 1e-3
    momentum = 0.5
    betas = [0.9, 0.999]
    dampening = 0
    nesterov = false
    """,
]

BAD = [
    "p = 2",
    "p = 0",
    "timeout = -1",
    "samples = 0",
    "points = 1.5",
    "seed = -1",
    "device = 'tpu'",
    "fail-on = 'fatal'",
    "compare = 'he'",
    "domain = [1]",
    "input-shape = [8, 0]",
    "max-memory = 'lots'",
    "select = ['RL1x']",
    "probe = 'yes'",
    "selct = ['RL1']",
    "severity = { RL101 = 'fatal' }",
    "per-file-ignores = { 'a.py' = 'RL1x' }",
    "targets = [{ target = 'm.py:Net', kwarg = {} }]",
    "targets = [{ kwargs = {} }]",
    "[tool.relulint.rules.RL202]\nfactor = -5",
    "[tool.relulint.rules.RL202]\nfactor = 1",
    "[tool.relulint.rules.RL101]\npp = 0.1",
    "[tool.relulint.training]\nlr = 0",
    "[tool.relulint.training]\nmomentum = 1",
    "[tool.relulint.training]\nbetas = [0.9]",
    "[tool.relulint.training]\nlearning-rate = 0.1",
    "[tool.relulint.training]\ntarget-std = 0.1\ntargets = 'y.npy'",
]


def relulint_table(body: str) -> dict:
    return tomllib.loads("[tool.relulint]\n" + textwrap.dedent(body))["tool"]["relulint"]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    printed = runner.invoke(app, ["config", "--schema"])
    assert printed.exit_code == 0 and json.loads(printed.stdout) == schema
    assert set(schema["properties"]) == {*config_specs(), "training"}
    assert set(schema["properties"]["training"]["properties"]) == {s.key for s in TRAINING}


@pytest.mark.parametrize("body", GOOD)
def test_schema_accepts_what_relulint_accepts(body, tmp_path, monkeypatch) -> None:
    jsonschema.Draft202012Validator(json_schema()).validate(relulint_table(body))
    (tmp_path / "pyproject.toml").write_text("[tool.relulint]\n" + textwrap.dedent(body), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_config(tmp_path).path is not None  # and relulint reads it without an error


@pytest.mark.parametrize("body", BAD)
def test_schema_rejects_what_relulint_rejects(body, tmp_path, monkeypatch) -> None:
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(relulint_table(body)))
    assert errors, body
    (tmp_path / "pyproject.toml").write_text("[tool.relulint]\n" + body + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        load_config(tmp_path)


@pytest.mark.parametrize("spec", [s for s in all_specs() if s.sample is not None], ids=lambda s: s.title)
def test_every_example_in_hints_and_docs_is_accepted(spec) -> None:
    """The hints (`--timeout 120`, `timeout = 120`) and `relulint config KEY` examples are valid input."""
    spec.kind.check(spec.sample)
    if spec.flag and not spec.kind.is_flag:
        (text,) = shlex.split(spec.kind.cli_text(spec.sample))  # one shell word
        assert spec.kind.check(spec.kind.from_cli(text)) == spec.kind.check(spec.sample)
    if spec.key:
        value = tomllib.loads(f"x = {spec.kind.toml_text(spec.sample)}")["x"]
        assert spec.kind.check(value) == spec.kind.check(spec.sample)
        table = json_schema() if spec.table == "tool.relulint" else json_schema()["properties"]["training"]
        jsonschema.validate({spec.key: value}, {**table, "$schema": json_schema()["$schema"]})
