"""`relulint check DIR`: which files are listed (git or a walk, skipped directories), include / exclude,
the static filter (nothing imported that defines no model), configured targets merged in, and a run in
which one file fails while every other file is still checked (exit 2 at the end)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relulint.cli import _with_progress
from relulint.discover import discover, python_files, skipped_directory
from relulint.output import Sink
from relulint.records.loaded import Failure
from relulint.records.report import Report
from relulint.render import render

runner = CliRunner()

# one ReLU layer of width 2 (Thm 8: 25 %) and one of width 64 (clean with He init)
NARROW = """
    import torch
    from torch import nn


    class Narrow(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 2)
            self.out = nn.Linear(2, 1)

        def forward(self, x):
            return self.out(torch.relu(self.fc(x)))
"""
BLOCK = """
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(width, width)

        def forward(self, x):
            return torch.relu(self.fc(x))
"""
HEAD = """
    import discpkg.layers as L


    class Head(L.Block):
        def __init__(self):
            super().__init__(3)
"""
ALIASED = """
    import torch
    from torch.nn import Linear, Module as Base


    class Tiny(Base):
        def __init__(self):
            super().__init__()
            self.fc = Linear(1, 4)

        def forward(self, x):
            return torch.relu(self.fc(x))
"""
BROKEN = """
    import torch
    import relulint_no_such_module_anywhere


    class Net(torch.nn.Module):
        pass
"""
# imported, this file would leave a marker: the static filter must never import it
NO_MODEL = """
    from pathlib import Path

    Path(__file__).with_name("IMPORTED").write_text("yes")


    def helper():
        return 1
"""


def write(root: Path, name: str, source: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def project(root: Path) -> Path:
    """A tree: nested packages, a virtualenv, site-packages, build/, dist/, a hidden directory."""
    write(root, "discpkg/__init__.py", "")
    write(root, "discpkg/sub/__init__.py", "")
    write(root, "discpkg/sub/narrow.py", NARROW)
    write(root, "discpkg/layers.py", BLOCK)
    write(root, "discpkg/heads.py", HEAD)
    write(root, "discpkg/aliased.py", ALIASED)
    write(root, "util.py", NO_MODEL)
    for ignored in ("env/lib/python3/m.py", "site-packages/m.py", "build/m.py", "dist/m.py", ".hidden/m.py"):
        write(root, ignored, NARROW)
    (root / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    return root


def names(found) -> list[str]:
    return sorted(str(t) for t in found.targets)


# ------------------------------------------------------------------------------------- listing, filter


def test_walk_skips_virtualenvs_and_build_dirs_and_imports_nothing(tmp_path: Path) -> None:
    project(tmp_path)
    found = discover(["."], cwd=tmp_path)
    assert found.listing == "walk"
    assert names(found) == [
        "discpkg/aliased.py",
        "discpkg/heads.py",
        "discpkg/layers.py",
        "discpkg/sub/narrow.py",
    ]
    assert "util.py" in found.files and not any(
        f.startswith(("env/", "build/", "dist/")) for f in found.files
    )
    assert not any("site-packages" in f or ".hidden" in f for f in found.files)
    assert not (tmp_path / "IMPORTED").exists()  # read with ast, never imported


def test_skipped_directories(tmp_path: Path) -> None:
    for name in ("venv", "site-packages", "build", "dist", ".tox", "__pycache__"):
        assert skipped_directory(tmp_path / name), name
    (tmp_path / "myenv").mkdir()
    assert not skipped_directory(tmp_path / "myenv")
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("", encoding="utf-8")
    assert skipped_directory(tmp_path / "myenv")
    (tmp_path / "conda" / "conda-meta").mkdir(parents=True)
    assert skipped_directory(tmp_path / "conda") and not skipped_directory(tmp_path / "models")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_work_tree_lists_what_git_knows(tmp_path: Path) -> None:
    project(tmp_path)
    write(tmp_path, "scratch/ignored.py", NARROW)
    write(tmp_path, ".gitignore", "scratch/\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "discpkg", ".gitignore"], check=True)
    write(tmp_path, "new_model.py", NARROW)  # untracked, not ignored: listed
    found = discover(["."], cwd=tmp_path)
    assert found.listing == "git"
    assert "scratch/ignored.py" not in found.files
    assert "new_model.py" in names(found) and "discpkg/sub/narrow.py" in names(found)
    # the skips apply to git's list too (a committed virtualenv or build/)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-f", "env", "build"], check=True)
    assert not any(f.startswith(("env/", "build/")) for f in discover(["."], cwd=tmp_path).files)
    # from a subdirectory: paths stay relative to the working directory
    assert names(discover(["sub"], cwd=tmp_path / "discpkg")) == ["sub/narrow.py"]


def test_subclass_of_a_project_class_in_another_file(tmp_path: Path) -> None:
    """`class Head(L.Block)` after `import discpkg.layers as L`: found through Block, defined in layers.py."""
    project(tmp_path)
    assert "discpkg/heads.py" in names(discover(["discpkg"], cwd=tmp_path))
    # without layers.py in the listing nothing tells that Block is a module
    assert "discpkg/heads.py" not in names(discover(["discpkg"], cwd=tmp_path, exclude=["layers.py"]))


@pytest.mark.parametrize(
    ("exclude", "gone"),
    [
        (["sub"], ["discpkg/sub/narrow.py"]),  # a directory name anywhere
        (["discpkg/sub/"], ["discpkg/sub/narrow.py"]),  # a path from the root
        (["*ed.py"], ["discpkg/aliased.py"]),  # a file-name glob
        (["discpkg/**/narrow.py"], ["discpkg/sub/narrow.py"]),
        (
            ["discpkg"],
            ["discpkg/aliased.py", "discpkg/heads.py", "discpkg/layers.py", "discpkg/sub/narrow.py"],
        ),
    ],
)
def test_exclude_patterns(tmp_path: Path, exclude: list[str], gone: list[str]) -> None:
    project(tmp_path)
    every = set(names(discover(["."], cwd=tmp_path)))
    assert set(names(discover(["."], cwd=tmp_path, exclude=exclude))) == every - set(gone)


def test_include_patterns(tmp_path: Path) -> None:
    project(tmp_path)
    write(tmp_path, "scripts/model.pyw", NARROW)
    files, _ = python_files([tmp_path], tmp_path, include=["*.pyw"])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["scripts/model.pyw"]
    assert names(discover(["."], cwd=tmp_path, include=["narrow.py"])) == ["discpkg/sub/narrow.py"]


def test_configured_targets_merge_with_discovered_ones(tmp_path: Path) -> None:
    """A configured target under the path keeps its kwargs and replaces the whole-file target; one outside
    the path is left out; one whose file is excluded is still checked."""
    project(tmp_path)
    configured = [
        {"target": "discpkg/layers.py:Block", "kwargs": {"width": 8}},
        "discpkg/sub/narrow.py:Narrow",
        "elsewhere/other.py:Net",
    ]
    write(tmp_path, "elsewhere/other.py", NARROW)
    found = discover(["discpkg"], configured, cwd=tmp_path, exclude=["sub"])
    specs = [t if isinstance(t, str) else t["target"] for t in found.targets]
    assert configured[0] in found.targets and "discpkg/sub/narrow.py:Narrow" in specs
    assert "discpkg/layers.py" not in specs and "elsewhere/other.py:Net" not in specs
    assert {"discpkg/aliased.py", "discpkg/heads.py"} <= set(specs)


# ------------------------------------------------------------------------------------------ the CLI


def check(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(cwd)
    return runner.invoke(app_(), ["check", *args])


def app_():
    from relulint.cli import app

    return app


def test_directory_run_checks_every_model_and_lists_skips(tmp_path: Path, monkeypatch) -> None:
    project(tmp_path)
    result = check([".", "-f", "json", "--exit-zero"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    checked = sorted((t["path"], t["name"]) for t in document["targets"])
    assert checked == [
        ("discpkg/aliased.py", "Tiny"),
        ("discpkg/heads.py", "Head"),
        ("discpkg/sub/narrow.py", "Narrow"),
    ]
    # Block needs an argument: a skip with the reason, not an error, in directory mode
    (skipped,) = document["skipped"]
    assert skipped["name"] == "Block" and "width" in skipped["reason"]
    assert document["failures"] == []
    # the same file named on its own keeps today's exit 2 (nothing could be built)
    alone = check(["discpkg/layers.py"], tmp_path, monkeypatch)
    assert alone.exit_code == 2 and "no model in discpkg/layers.py could be built" in alone.stderr


def test_one_bad_file_never_hides_the_others(tmp_path: Path, monkeypatch) -> None:
    project(tmp_path)
    write(tmp_path, "discpkg/broken.py", BROKEN)
    result = check(["discpkg", "-f", "json", "--exit-zero"], tmp_path, monkeypatch)
    assert result.exit_code == 2  # --exit-zero never hides a 2
    document = json.loads(result.stdout)
    assert len(document["targets"]) == 3  # every other model was checked
    (failure,) = document["failures"]
    assert failure["path"] == "discpkg/broken.py" and "relulint_no_such_module_anywhere" in failure["message"]
    assert "could not be checked" in result.stderr and "hint:" in result.stderr
    text = check(["discpkg", "--exit-zero"], tmp_path, monkeypatch)
    lines = [line for line in text.stdout.splitlines() if line.strip().startswith("error:")]
    assert len(lines) == 1 and f"error: discpkg/broken.py: {failure['message']}" in " ".join(
        text.stdout.split()
    )
    excluded = check(
        ["discpkg", "--exclude", "broken.py", "-f", "json", "--exit-zero"], tmp_path, monkeypatch
    )
    assert excluded.exit_code == 0 and json.loads(excluded.stdout)["failures"] == []


def test_no_argument_means_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "discmodels/narrow.py", NARROW)
    result = check(["-f", "json", "--exit-zero"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert [t["name"] for t in json.loads(result.stdout)["targets"]] == ["Narrow"]
    # configured targets: those, not the directory
    write(tmp_path, "other.py", NARROW.replace("Narrow", "Other"))
    write(tmp_path, "pyproject.toml", '[tool.relulint]\ntargets = ["other.py:Other"]\n')
    configured = check(["-f", "json", "--exit-zero"], tmp_path, monkeypatch)
    assert [t["name"] for t in json.loads(configured.stdout)["targets"]] == ["Other"]


def test_config_include_exclude_are_relative_to_its_directory(tmp_path: Path, monkeypatch) -> None:
    project(tmp_path)
    write(tmp_path, "pyproject.toml", '[tool.relulint]\nexclude = ["discpkg/sub"]\n')
    result = check(["..", "-f", "json", "--exit-zero"], tmp_path / "discpkg", monkeypatch)
    assert result.exit_code == 0, result.output
    paths = {t["path"] for t in json.loads(result.stdout)["targets"]}
    assert paths == {"aliased.py", "heads.py"}  # discpkg/sub excluded though run from discpkg/
    # --exclude replaces the config's patterns
    flag = check(
        ["..", "--exclude", "aliased.py", "-f", "json", "--exit-zero"], tmp_path / "discpkg", monkeypatch
    )
    assert {t["path"] for t in json.loads(flag.stdout)["targets"]} == {"heads.py", "sub/narrow.py"}


def test_empty_directory_is_nothing_to_check(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "src/util.py", NO_MODEL)
    result = check(["src"], tmp_path, monkeypatch)
    assert result.exit_code == 0 and "nothing to check" in result.stderr and "1 Python file" in result.stderr
    assert not (tmp_path / "src" / "IMPORTED").exists()


# --------------------------------------------------------------------------------- report and progress


def test_failures_in_every_format() -> None:
    report = Report(
        targets=(), failures=(Failure("discpkg/bad.py", "discpkg/bad.py", "ImportError: nope", "fix it"),)
    )
    sarif = json.loads(render(report, "sarif"))
    run = sarif["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "error" and note["message"]["text"] == "discpkg/bad.py: ImportError: nope"
    github = render(report, "github")
    assert "::error file=discpkg/bad.py,title=relulint could not check this file::ImportError: nope" in github
    assert json.loads(render(report, "json"))["failures"] == [
        {
            "target": "discpkg/bad.py",
            "path": "discpkg/bad.py",
            "message": "ImportError: nope",
            "hint": "fix it",
        }
    ]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_for_more_than_a_few(monkeypatch) -> None:
    from relulint.api import LOADING

    def work(progress):
        for i in range(5):
            if progress:
                progress(f"{LOADING}model{i}.py")
        return "done"

    monkeypatch.delenv("TERM", raising=False)
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _with_progress(work, Sink(fmt="json"), total=5) == "done"
    assert "5/5" in terminal.getvalue() and "relulint" in terminal.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    assert _with_progress(work, Sink(fmt="json"), total=5) == "done"
    assert piped.getvalue() == ""  # not a terminal: nothing drawn


def test_configured_table_target_gives_its_kwargs_in_a_directory_run(tmp_path: Path, monkeypatch) -> None:
    project(tmp_path)
    write(
        tmp_path,
        "pyproject.toml",
        '[tool.relulint]\ntargets = [{ target = "discpkg/layers.py:Block", kwargs = { width = 8 } }]\n',
    )
    result = check(["discpkg", "-f", "json", "--exit-zero"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    checked = {(t["path"], t["name"]) for t in document["targets"]}
    assert ("discpkg/layers.py", "Block") in checked and ("discpkg/sub/narrow.py", "Narrow") in checked
    (block,) = [t for t in document["targets"] if t["name"] == "Block"]
    assert block["chains"][0]["hidden_widths"] == [8]  # built with the configured kwargs
    assert document["skipped"] == []  # the configured target replaced the whole-file one


TWO_MODELS_LOGGED = """
    from pathlib import Path

    import torch
    from torch import nn

    with Path(__file__).with_name("imports.log").open("a") as log:
        log.write("imported\\n")


    class First(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 8)

        def forward(self, x):
            return torch.relu(self.fc(x))


    class Second(First):
        pass
"""


def test_each_file_is_imported_once(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "pyproject.toml", "[project]\nname = 'demo'\n")  # the project root: on sys.path
    write(
        tmp_path, "discmodels/__init__.py", ""
    )  # a package: `discmodels.two` is one module whoever imports it
    write(tmp_path, "discmodels/two.py", TWO_MODELS_LOGGED)
    write(
        tmp_path,
        "discmodels/uses_two.py",
        "from discmodels.two import First\n\n\nclass Third(First):\n    pass\n",
    )
    result = check([".", "-f", "json", "--exit-zero"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    names = sorted(t["name"] for t in json.loads(result.stdout)["targets"])
    assert names == ["First", "Second", "Third"]
    assert (tmp_path / "discmodels" / "imports.log").read_text().splitlines() == ["imported"]


def test_include_exclude_options_are_checked_like_every_option(tmp_path: Path, monkeypatch) -> None:
    import jsonschema

    from relulint.config import load_config
    from relulint.errors import ConfigError, UsageError
    from relulint.option_docs import json_schema
    from relulint.options import Options

    assert Options(exclude="legacy, *_old.py").exclude == ("legacy", "*_old.py")
    with pytest.raises(UsageError, match="exclude"):
        Options(exclude=3)
    write(tmp_path, "pyproject.toml", '[tool.relulint]\nexclude = "legacy"\ninclude = ["*.py", "*.pyw"]\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(tmp_path)
    assert config.options["exclude"] == ("legacy",) and config.options["include"] == ("*.py", "*.pyw")
    jsonschema.validate({"exclude": "legacy", "include": ["*.py"]}, json_schema())
    write(tmp_path, "pyproject.toml", "[tool.relulint]\nexclude = [1]\n")
    with pytest.raises(ConfigError, match="'exclude'"):
        load_config(tmp_path)
    flag = check(["--exclude", "", "."], tmp_path, monkeypatch)
    assert flag.exit_code == 2 and "--exclude" in flag.stderr
