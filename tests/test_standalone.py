"""The repository stands alone: a fresh clone with nothing beside it installs `.[test]` and passes.

Two things break that silently on a developer's machine and only show in a clean clone: a test importing a
package that happens to be installed (PyYAML came only through pre-commit), and a file reading or citing
something outside the repository (the SARIF schema and the papers used to live in a directory beside the
clone, which a user's clone does not have). `.ci/run` proves the whole suite in a fresh clone; these tests name the culprit.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".ini", ".c", ".sh", ""}

# Paths into the project machines' directory beside the clone, or to its files: papers are cited by key and
# the full reference (README, References), the SARIF schema lives in tests/data/. The directory's name is
# joined from two pieces so that this file does not name it itself.
_BESIDE = "sha" + "red"
OUTSIDE = re.compile(rf"\b{_BESIDE}/|[\"']{_BESIDE}[\"']|\bDESIGN\.md\b|/work/")


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared_distributions() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {requirement_name(r) for r in requirements}


def local_modules() -> set[str]:
    names = {p.stem for p in TESTS.rglob("*.py")} | {p.name for p in TESTS.rglob("*") if p.is_dir()}
    return names | {"relulint", "rules"}


def imported_top_level(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_of_the_tests_is_declared() -> None:
    declared = declared_distributions()
    providers = importlib.metadata.packages_distributions()
    local = local_modules()
    undeclared: dict[str, set[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for name in imported_top_level(path) - local - set(sys.stdlib_module_names) - {"__future__"}:
            distributions = {d.lower().replace("_", "-") for d in providers.get(name, [name])}
            if not distributions & declared:
                undeclared.setdefault(name, set()).add(str(path.relative_to(REPO)))
    assert not undeclared, (
        f"imported by the tests but not in [project] dependencies or the test extra: {undeclared}"
    )


def repository_text_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        parts = path.relative_to(REPO).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            files.append(path)
    return files


def test_nothing_points_outside_the_repository() -> None:
    offenders = []
    for path in repository_text_files():
        relative = path.relative_to(REPO).as_posix()
        if relative == "tests/test_standalone.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_sarif_schema_is_in_the_repository() -> None:
    schema = TESTS / "data" / "sarif-schema-2.1.0.json"
    assert schema.is_file()
    assert "sarif-schema-2.1.0.json" in (TESTS / "data" / "README.md").read_text(encoding="utf-8")


def test_the_package_builds_and_loads_no_native_code() -> None:
    """No C source, shared library or ``ctypes`` import in the package or the rules: relulint invokes no
    compiler and loads no library at run time (speed comes from PyTorch)."""
    native = [
        path.relative_to(REPO).as_posix()
        for folder in ("relulint", "rules")
        for path in (REPO / folder).rglob("*")
        if path.suffix in {".c", ".h", ".cc", ".cpp", ".so", ".dll", ".dylib", ".pyd"}
    ]
    assert native == []
    ctypes_users = []
    for folder in ("relulint", "rules"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(name.split(".")[0] == "ctypes" for name in names):
                    ctypes_users.append(f"{path.relative_to(REPO).as_posix()}:{node.lineno}")
    assert ctypes_users == []
