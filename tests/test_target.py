"""Parsing targets, --kwargs and --input-shape: the forms, and one-line errors with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from relulint.errors import LoadError, UsageError
from relulint.target import parse_kwargs, parse_shape, parse_target, split_target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "model.py").write_text("X = 1\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "deep.py").write_text("X = 1\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "relulint_target_pkg").mkdir()
    (tmp_path / "relulint_target_pkg" / "__init__.py").write_text("raise RuntimeError('never executed')\n")
    (tmp_path / "relulint_target_pkg" / "nets.py").write_text("X = 1\n")
    return tmp_path


def test_file_and_name(project: Path) -> None:
    target = parse_target("model.py:Net", cwd=project)
    assert target.path == (project / "model.py").resolve() and target.name == "Net" and target.module is None
    assert target.spec == target.display == "model.py:Net"
    assert parse_target("models/deep.py:Outer.Inner", cwd=project).name == "Outer.Inner"
    assert parse_target(str(project / "model.py") + ":Net").path == (project / "model.py").resolve()


def test_whole_file(project: Path) -> None:
    target = parse_target("models/deep.py", cwd=project)
    assert target.path == (project / "models" / "deep.py").resolve() and target.name is None


def test_dotted_module_is_found_without_running_it(project: Path) -> None:
    target = parse_target("relulint_target_pkg.nets:Net", cwd=project)
    assert target.module == "relulint_target_pkg.nets" and target.path is None and target.name == "Net"
    assert parse_target("json:JSONDecoder").module == "json"


def test_kwargs_and_shape(project: Path) -> None:
    target = parse_target("model.py:Net", cwd=project, kwargs={"width": 4}, input_shape="8,16")
    assert target.kwargs == {"width": 4} and target.input_shape == (8, 16)
    assert parse_target("model.py:Net", cwd=project, input_shape=[2, 3]).input_shape == (2, 3)
    with pytest.raises(UsageError, match="kwargs"):
        parse_target("model.py:Net", cwd=project, kwargs=[("width", 4)])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="'1x'"):
        parse_target("model.py:Net", cwd=project, kwargs={"1x": 4})
    with pytest.raises(UsageError, match="positive"):
        parse_target("model.py:Net", cwd=project, input_shape=(8, 0))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a:b:c", "more than one ':'"),
        ("model.py:", "empty name"),
        (":Net", "no file or module"),
        ("", "empty target"),
        ("model.py:Net()", "not a Python name"),
        ("notes.txt:Net", "not a Python file"),
        ("notes.txt", "not a Python file"),
        ("train.ipynb:Net", "not a Python file"),
        ("models/", "is a directory"),
        ("relulint_target_pkg.nets", "names a module but no class"),
    ],
)
def test_usage_errors(project: Path, spec: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_target(spec, cwd=project)
    assert message in caught.value.message and caught.value.hint
    assert "\n" not in caught.value.message


def test_directory_hint_names_a_file_in_it(project: Path) -> None:
    with pytest.raises(UsageError) as caught:
        parse_target("models/", cwd=project)
    assert caught.value.hint == "name a file in it, e.g. models/deep.py:Net"


def test_missing_file_suggests_a_similar_one(project: Path) -> None:
    with pytest.raises(LoadError) as caught:
        parse_target("mdoel.py:Net", cwd=project)
    assert caught.value.message == "file not found: mdoel.py"
    assert caught.value.hint == "did you mean model.py?"
    with pytest.raises(LoadError) as caught:
        parse_target("modles/deep.py:Net", cwd=project)
    assert caught.value.hint == "did you mean models?"
    with pytest.raises(LoadError) as caught:
        parse_target("zzz.py:Net", cwd=project)
    assert caught.value.hint.startswith("check the path")


def test_missing_module_is_a_load_error(project: Path) -> None:
    with pytest.raises(LoadError) as caught:
        parse_target("relulint_no_such_pkg.models:Net", cwd=project)
    assert "no module named 'relulint_no_such_pkg'" in caught.value.message
    assert "pip install -e ." in caught.value.hint


def test_parse_kwargs() -> None:
    assert parse_kwargs('{"width": 4, "act": "relu", "sizes": [1, 2]}') == {
        "width": 4,
        "act": "relu",
        "sizes": [1, 2],
    }
    assert parse_kwargs("{}") == {}
    with pytest.raises(UsageError) as caught:
        parse_kwargs("{width: 4}")
    assert "--kwargs is not valid JSON" in caught.value.message and "column 2" in caught.value.message
    assert "double quotes" in caught.value.hint
    with pytest.raises(UsageError, match="must be a JSON object, got list"):
        parse_kwargs("[1, 2]")
    with pytest.raises(UsageError, match="line 2 column"):
        parse_kwargs('{"a": 1,\n}')
    with pytest.raises(UsageError, match="not a parameter name"):
        parse_kwargs('{"not a name": 1}')


def test_parse_kwargs_never_evaluates() -> None:
    with pytest.raises(UsageError):
        parse_kwargs("__import__('os').system('false')")


@pytest.mark.parametrize(
    ("text", "shape"), [("8,16", (8, 16)), ("(8, 16)", (8, 16)), ("[4]", (4,)), ("32", (32,)), ("8,", (8,))]
)
def test_parse_shape(text: str, shape: tuple[int, ...]) -> None:
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["8,x", "0", "-1,3", "", "8,,3", "1.5"])
def test_parse_shape_errors(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_shape(text)
    assert repr(text) in caught.value.message and "--input-shape 8,16" in caught.value.hint


def test_split_target() -> None:
    assert split_target("dir/model.py:Net") == ("dir/model.py", "Net")
    assert split_target(" model.py ") == ("model.py", None)
