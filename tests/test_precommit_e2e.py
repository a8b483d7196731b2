"""pre-commit for real: a temporary git repository, `pre-commit try-repo` pointing at this checkout (it
makes a shadow commit of uncommitted changes, so the working tree's hooks are what runs), the `relulint`
hook (`language: unsupported`, so `relulint` must be on PATH: a shim runs this interpreter's relulint).

Staging a deep, narrow model fails the hook with RL101; the fixed model passes; a change with no model
in it passes without linting anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from model_sources import DEEP_NARROW

REPO = Path(__file__).resolve().parents[1]


FIXED = """
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
            for m in self.body:
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            return self.body(x)
"""

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs this checkout to be a git repository"),
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with a `relulint` shim for this interpreter, a private pre-commit cache, a git identity."""
    pytest.importorskip("pre_commit")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "relulint"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m relulint "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k not in {"PRE_COMMIT", "GIT_DIR", "GIT_WORK_TREE"}}
    identity = {"GIT_AUTHOR_NAME": "relulint tests", "GIT_AUTHOR_EMAIL": "tests@relulint.invalid"}
    identity |= {"GIT_COMMITTER_NAME": "relulint tests", "GIT_COMMITTER_EMAIL": "tests@relulint.invalid"}
    environ.update(identity)
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}"
    environ["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-cache")
    environ["NO_COLOR"] = "1"
    environ.pop("PYTHONPATH", None)
    return environ


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, env, "init", "-q")
    git(root, env, "config", "user.name", "relulint tests")
    git(root, env, "config", "user.email", "tests@relulint.invalid")
    git(root, env, "config", "commit.gpgsign", "false")
    write(root, "README.md", "# a project\n")
    git(root, env, "add", "README.md")
    git(root, env, "commit", "-q", "-m", "initial")
    return root


def git(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True)


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def hook_repo(env: dict[str, str], scratch: Path) -> Path:
    """This checkout, once `.pre-commit-hooks.yaml` is tracked (try-repo copies tracked and staged changes
    only); before that, a scratch repository holding this checkout's manifest."""
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".pre-commit-hooks.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
    )
    if tracked.returncode == 0:
        return REPO
    mirror = scratch / "hook-repo"
    if not mirror.exists():
        mirror.mkdir()
        shutil.copy(REPO / ".pre-commit-hooks.yaml", mirror / ".pre-commit-hooks.yaml")
        git(mirror, env, "init", "-q")
        git(mirror, env, "add", ".pre-commit-hooks.yaml")
        git(mirror, env, "commit", "-q", "-m", "hooks")
    return mirror


def try_repo(root: Path, env: dict[str, str], hook: str = "relulint") -> subprocess.CompletedProcess:
    """`pre-commit try-repo <this checkout> relulint` on the staged files, as a commit would run it."""
    repo = hook_repo(env, root.parent)
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(repo), hook, "--color", "never"]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_commit_adding_a_deep_narrow_model_fails_and_the_fix_passes(
    project: Path, env: dict[str, str]
) -> None:
    write(project, "models/pinn.py", DEEP_NARROW)
    git(project, env, "add", "models/pinn.py")
    failed = try_repo(project, env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "RL101" in failed.stdout, failed.stdout
    assert "Failed" in failed.stdout

    write(project, "models/pinn.py", FIXED)
    git(project, env, "add", "models/pinn.py")
    passed = try_repo(project, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
    git(project, env, "commit", "-q", "-m", "a wide model")


def test_change_without_models_passes(project: Path, env: dict[str, str]) -> None:
    write(project, "train.py", "EPOCHS = 10\n")
    write(project, "README.md", "# still no model\n")
    git(project, env, "add", "train.py", "README.md")
    result = try_repo(project, env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_commit_adding_an_executable_script_without_suffix_fails(project: Path, env: dict[str, str]) -> None:
    """identify tags `bin/deploy` (a python shebang, executable) `python`: pre-commit passes it to the hook,
    which must lint it rather than stop with "not a Python file"."""
    write(project, "bin/deploy", "#!/usr/bin/env python\n" + textwrap.dedent(DEEP_NARROW).lstrip())
    (project / "bin" / "deploy").chmod(0o755)
    git(project, env, "add", "bin/deploy")
    failed = try_repo(project, env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "bin/deploy:9" in failed.stdout and "RL101" in failed.stdout, failed.stdout
    assert "not a Python file" not in failed.stdout
