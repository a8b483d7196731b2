"""Loading real user code the way real repositories lay it out, and the hints when it cannot be loaded:
a repo's own `models/` package that is not on sys.path, constructor arguments that JSON cannot spell
(an env, a config, a callable), a script whose argparse runs at import, a target re-exported by a
package's `__init__.py`, a ':' in a directory name, and file mode where some or all classes cannot be
built. Through the real command line (typer's runner) where it fits, json checked."""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
import textwrap

import pytest
from model_sources import DEEP_NARROW
from project_files import invoke, write
from typer.testing import CliRunner

from relulint.errors import UsageError
from relulint.load import json_expressible
from relulint.target import split_target

runner = CliRunner()


def report(result) -> dict:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------------------ a repo's own package


@pytest.fixture
def forget_new_modules(monkeypatch: pytest.MonkeyPatch):
    """`models` and `scripts` (common names, which other tests' files may have taken in this process) are
    neither in ``sys.modules`` nor on ``sys.path`` (other tests' directories) during the test; those it
    imports are dropped when it ends."""
    temporary = tempfile.gettempdir()
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if not entry.startswith(temporary)])
    for name in list(sys.modules):
        if name.split(".")[0] in ("models", "scripts"):
            monkeypatch.delitem(sys.modules, name)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("models", "scripts"):
            del sys.modules[name]


def test_a_local_package_that_is_not_on_sys_path_is_not_install_it(
    tmp_path, monkeypatch, forget_new_modules
) -> None:
    """repo/models/ (the repo's own code) imported by repo/scripts/train.py, run from scripts/."""
    repo = tmp_path / "repo"
    write(repo, "models/__init__.py", "")
    write(repo, "models/mlp.py", DEEP_NARROW)
    write(repo, "scripts/train.py", "from models.mlp import Net\n")
    result = invoke(["check", "train.py:Net"], repo / "scripts", monkeypatch)
    assert result.exit_code == 2
    (hint,) = [line for line in result.stderr.splitlines() if "hint:" in line]
    assert "install it" not in hint and "not a package to install" in hint, result.stderr
    shown = (repo / "models").as_posix()
    assert f"'models' is your own code ({shown}/)" in hint
    assert f"cd {repo.as_posix()} && relulint check scripts.train:Net" in hint
    # the advice works: from the repo root, the module form finds models/
    done = invoke(["check", "scripts.train:Net", "--format", "json"], repo, monkeypatch)
    assert done.exit_code == 1 and report(done)["targets"][0]["path"] == "models/mlp.py"


def test_a_missing_installed_package_still_says_install_it(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", "import surely_not_installed_anywhere\n")
    result = invoke(["check", "model.py:Net"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "install it" in result.stderr


# ------------------------------------------------------------------------ constructor arguments


def parameter(text: str) -> inspect.Parameter:
    namespace: dict = {}
    exec(f"from typing import *\nimport torch\ndef f({text}): pass", namespace)  # noqa: S102
    return next(iter(inspect.signature(namespace["f"]).parameters.values()))


@pytest.mark.parametrize(
    ("text", "expressible"),
    [
        ("width", True),
        ("width: int", True),
        ("dims: list[int]", True),
        ("act: Literal['relu', 'tanh']", True),
        ("dropout: Optional[float]", True),
        ("env", False),
        ("config", False),
        ("activation_fn", False),
        ("obs_space", False),
        ("env: Any", False),
        ("net: torch.nn.Module", False),
        ("make: Callable[[int], torch.nn.Module]", False),
        ("cfg: 'TrainConfig'", False),
        ("width: Any", True),
    ],
)
def test_json_expressible(text: str, expressible: bool) -> None:
    assert json_expressible(parameter(text)) is expressible


POLICY = """
import gymnasium_like as gym
from torch import nn


class Policy(nn.Module):
    def __init__(self, env: "gym.Env", hidden: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(env.obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, env.act_dim))

    def forward(self, obs):
        return self.body(obs)
"""


def test_an_env_argument_gets_a_factory_example(tmp_path, monkeypatch) -> None:
    write(tmp_path, "gymnasium_like.py", "class Env:\n    obs_dim, act_dim = 4, 2\n")
    write(tmp_path, "policy.py", POLICY)
    result = invoke(["check", "policy.py:Policy"], tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert "relulint: error: Policy() needs arguments env, hidden to build" in result.stderr
    assert "--kwargs '{" not in result.stderr  # {"env": 4} would be nonsense
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if "hint:" in line)
    assert "env is an object" in lines[start]
    assert [line.strip() for line in lines[start + 1 : start + 4]] == [
        "def make_policy():",
        "return Policy(env=..., hidden=4)  # env: as your training code builds it",
        "relulint check policy.py:make_policy",
    ]
    # and the advice works
    write(
        tmp_path,
        "policy.py",
        POLICY + "\n\ndef make_policy():\n    return Policy(env=gym.Env(), hidden=4)\n",
    )
    done = invoke(["check", "policy.py:make_policy", "--format", "json"], tmp_path, monkeypatch)
    assert done.exit_code in (0, 1) and report(done)["targets"][0]["name"] == "make_policy"


def test_a_plain_argument_keeps_the_kwargs_hint(tmp_path, monkeypatch) -> None:
    write(tmp_path, "model.py", DEEP_NARROW.replace("width: int = 3", "width: int"))
    result = invoke(["check", "model.py:Net"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and """--kwargs '{"width": 4}'""" in result.stderr


# ------------------------------------------------------------------------------------ sys.argv


def test_a_script_parsing_its_arguments_at_import_sees_only_its_own_name(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "relulint_argv_train.py",
        DEEP_NARROW
        + textwrap.dedent(
            """
            import argparse
            import sys

            SEEN = list(sys.argv)
            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=0.1)
            args = parser.parse_args()
            """
        ),
    )
    argv = ["relulint", "check", "relulint_argv_train.py:Net", "--format", "json"]
    monkeypatch.setattr(sys, "argv", argv)
    result = invoke(argv[1:], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    assert "unrecognized arguments" not in result.stderr
    assert report(result)["targets"][0]["name"] == "Net"
    assert sys.modules["relulint_argv_train"].SEEN == [str(tmp_path / "relulint_argv_train.py")]
    assert sys.argv == argv  # restored


# ------------------------------------------------------------------------------------- re-exports


def test_a_re_exported_target_reports_where_it_is_defined(tmp_path, monkeypatch) -> None:
    """`torchvision.models:resnet18` style: the package's __init__.py re-exports the class and factory."""
    write(tmp_path, "zoo/__init__.py", '"""The model zoo."""\n\nfrom .mlps import Net, make_net\n')
    write(
        tmp_path,
        "zoo/mlps.py",
        DEEP_NARROW + "\n\ndef make_net():\n    return Net()\n",
    )
    source = (tmp_path / "zoo" / "mlps.py").read_text().splitlines()
    class_line = next(i for i, line in enumerate(source, 1) if line.startswith("class Net"))
    factory_line = next(i for i, line in enumerate(source, 1) if line.startswith("def make_net"))
    for name, line in (("Net", class_line), ("make_net", factory_line)):
        result = invoke(["check", f"zoo:{name}", "--format", "json"], tmp_path, monkeypatch)
        (target,) = report(result)["targets"]
        assert (target["path"], target["line"]) == ("zoo/mlps.py", line), name
        assert {f["path"] for f in target["findings"]} == {"zoo/mlps.py"}


# --------------------------------------------------------------------------- ':' in directory names


def test_split_target_at_the_last_colon_of_an_existing_file(tmp_path) -> None:
    write(tmp_path, "dir:x/model.py", DEEP_NARROW)
    assert split_target("dir:x/model.py:Net", tmp_path) == ("dir:x/model.py", "Net")
    assert split_target("dir:x/model.py", tmp_path) == ("dir:x/model.py", None)
    assert split_target("model.py:Net", tmp_path) == ("model.py", "Net")
    assert split_target("pkg.mod:Net", tmp_path) == ("pkg.mod", "Net")
    with pytest.raises(UsageError, match="more than one ':'"):
        split_target("a:b:c", tmp_path)


@pytest.mark.skipif(sys.platform == "win32", reason="':' is not allowed in Windows file names")
@pytest.mark.parametrize("spec", ["dir:x/model.py:Net", "dir:x/model.py"])
def test_a_colon_in_a_directory_name_is_usable(tmp_path, monkeypatch, spec) -> None:
    write(tmp_path, "dir:x/model.py", DEEP_NARROW)
    result = invoke(["check", spec, "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    (target,) = report(result)["targets"]
    assert target["path"] == "dir:x/model.py" and target["chains"][0]["hidden_widths"] == [3] * 12


def test_a_missing_file_under_a_colon_directory_is_file_not_found(tmp_path, monkeypatch) -> None:
    (tmp_path / "dir:x").mkdir()
    result = invoke(["check", "dir:x/nope.py:Net"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "file not found: dir:x/nope.py" in result.stderr


# ------------------------------------------------------------------------------------- file mode

FORWARDING = """
from torch import nn


class SamePadConv(nn.Conv2d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, padding="same", **kwargs)
"""


def test_file_mode_skips_a_class_that_forwards_its_arguments(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        "layers.py",
        FORWARDING + "\n\n" + DEEP_NARROW.replace("import torch\n", "import torch\n", 1),
    )
    result = invoke(["check", "layers.py", "--format", "json"], tmp_path, monkeypatch)
    assert result.exit_code == 1, result.output
    document = report(result)
    assert [t["name"] for t in document["targets"]] == ["Net"]  # the other model's results stay
    (skipped,) = document["skipped"]
    assert skipped["name"] == "SamePadConv"
    assert "TypeError" in skipped["reason"] and "in_channels" in skipped["reason"]
    assert "*args/**kwargs" in skipped["reason"]
    assert "skipped SamePadConv: TypeError" in result.stderr


NEEDS_ARGUMENTS = """
from torch import nn


class Critic(nn.Module):
    def __init__(self, obs_dim: int, hidden: int):
        super().__init__()
        self.q = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class Actor(nn.Module):
    def __init__(self, env):
        super().__init__()
        self.pi = nn.Linear(env.obs_dim, env.act_dim)
"""


def test_a_file_where_no_model_can_be_built_is_exit_2(tmp_path, monkeypatch) -> None:
    write(tmp_path, "agents.py", NEEDS_ARGUMENTS)
    for flags in ([], ["--exit-zero"], ["--format", "json"]):
        result = invoke(["check", "agents.py", *flags], tmp_path, monkeypatch)
        assert result.exit_code == 2, (flags, result.output)
        assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == "relulint: error: no model in agents.py could be built: 2 nn.Module classes skipped, nothing checked"
    )
    assert any(
        line.startswith("  Critic (agents.py:4): its constructor needs arguments obs_dim, hidden")
        for line in lines
    )
    assert any(line.startswith("  Actor (agents.py:10):") and "factory" in line for line in lines)
    hint = result.stderr[result.stderr.index("hint:") :]
    assert (
        "--kwargs" in hint and "def make_critic():" in hint and "relulint check agents.py:make_critic" in hint
    )


def test_under_pre_commit_such_a_file_is_skipped_quietly(tmp_path, monkeypatch) -> None:
    write(tmp_path, "agents.py", NEEDS_ARGUMENTS)
    monkeypatch.setenv("PRE_COMMIT", "1")
    result = invoke(["check", "agents.py"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "error:" not in result.stderr and "skipped Critic" in result.stderr


def test_kwargs_build_one_class_and_the_file_passes(tmp_path, monkeypatch) -> None:
    write(tmp_path, "agents.py", NEEDS_ARGUMENTS)
    result = invoke(
        ["check", "agents.py", "--kwargs", '{"obs_dim": 4, "hidden": 64}', "--format", "json"],
        tmp_path,
        monkeypatch,
    )
    assert result.exit_code == 0, result.output
    document = report(result)
    assert [t["name"] for t in document["targets"]] == ["Critic"]
    assert [s["name"] for s in document["skipped"]] == ["Actor"]


def test_a_missing_submodule_of_a_local_package_is_not_a_sys_path_hint(
    tmp_path, monkeypatch, forget_new_modules
) -> None:
    write(tmp_path, "models/__init__.py", "")
    write(tmp_path, "train.py", "from models.resnet import Net\n")
    result = invoke(["check", "train.py:Net"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "No module named 'models.resnet'" in result.stderr
    assert "is your own code" not in result.stderr
