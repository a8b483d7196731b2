"""`relulint.project`: the one module that walks up the tree for the configuration, the code's project root
and the root findings' paths are relative to."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import relulint
from relulint.errors import ConfigError
from relulint.project import find_pyproject, fingerprint_root, project_path, project_root

PACKAGE = Path(relulint.__file__).parent


@pytest.fixture
def tree(tmp_path) -> Path:
    """repo/.git, repo/pyproject.toml (no relulint table), repo/app/pyproject.toml ([tool.relulint]),
    repo/app/lib/setup.py, repo/app/lib/deep/, repo/other/."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n", encoding="utf-8")
    (repo / "app" / "lib" / "deep").mkdir(parents=True)
    (repo / "app" / "pyproject.toml").write_text("[tool.relulint]\np = 0.05\n", encoding="utf-8")
    (repo / "app" / "lib" / "setup.py").write_text("", encoding="utf-8")
    (repo / "other").mkdir()
    return repo


def test_the_configuration_is_the_nearest_relulint_table(tree) -> None:
    deep = tree / "app" / "lib" / "deep"
    assert find_pyproject(deep) == tree / "app" / "pyproject.toml"
    assert find_pyproject(tree / "app" / "lib" / "setup.py") == tree / "app" / "pyproject.toml"  # a file
    assert find_pyproject(tree / "other") is None  # repo/pyproject.toml has no [tool.relulint]


def test_the_code_root_is_the_nearest_marker(tree) -> None:
    assert project_root(tree / "app" / "lib" / "deep") == tree / "app" / "lib"  # setup.py
    assert project_root(tree / "other") == tree  # repo/pyproject.toml counts here (any project marker)


def test_the_fingerprint_root_is_the_configuration_else_git_else_cwd(tree, tmp_path) -> None:
    assert fingerprint_root(tree / "app" / "lib" / "deep") == tree / "app"
    assert fingerprint_root(tree / "other") == tree  # the git root
    (tmp_path / "loose").mkdir()
    assert fingerprint_root(tmp_path / "loose") == (tmp_path / "loose").resolve()
    path = str(tree / "app" / "lib" / "deep" / "model.py")
    assert project_path(path, fingerprint_root(tree / "app" / "lib")) == "lib/deep/model.py"
    assert project_path("<module>", tree) == "<module>"


def test_a_broken_configuration_is_an_error_for_the_config_not_for_fingerprints(tree) -> None:
    (tree / "app" / "pyproject.toml").write_bytes(b"[tool.relulint]\np = \xff\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        find_pyproject(tree / "app")
    assert fingerprint_root(tree / "app") == tree  # falls back to the git root; the config reports it


def _walks(path: Path) -> list[str]:
    """String constants of `path` that name a file a walk up the tree looks for."""
    markers = {"pyproject.toml", ".git", "setup.py", "setup.cfg"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # `directory / "pyproject.toml"`
            right = node.right
            if isinstance(right, ast.Constant) and right.value in markers:
                found.append(right.value)
    return found


def test_no_other_module_walks_up_for_a_project_file() -> None:
    offenders = {
        str(p.relative_to(PACKAGE)): _walks(p)
        for p in PACKAGE.rglob("*.py")
        if p.name != "project.py" and _walks(p)
    }
    assert offenders == {}
    assert _walks(PACKAGE / "project.py")  # the check sees the walks where they are


def _imports(path: Path) -> set[str]:
    """relulint modules `path` imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relulint"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("relulint")}
    return out


def _module_file(name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        path = _module_file(todo.pop())
        for name in _imports(path) if path is not None else ():
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def test_the_config_registry_circle_is_gone() -> None:
    assert "relulint.config" not in _reachable("relulint.registry")
    assert "relulint.registry" not in _reachable("relulint.project")
    assert _imports(PACKAGE / "project.py") == {"relulint.errors"}
