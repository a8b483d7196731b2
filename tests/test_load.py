"""Loading targets: importing user files like pytest does, building models in the sandbox, and recording
where every submodule was built. Real user files live in `tests/fixtures/load/`; error cases in `tmp_path`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from model_sources import DEEP_NARROW
from project_files import write
from torch import nn

from relulint.errors import LoadError, UserCodeError
from relulint.load import from_module, import_file, load, package_layout, project_root
from relulint.records.location import Location
from relulint.target import parse_target

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "load"
DEEP = DEEP_NARROW
MODULE_INIT = nn.Module.__dict__["__init__"]


def site(path: Path, marker: str) -> int:
    """The line of ``# site: marker`` in a fixture file."""
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.rstrip().endswith(f"# site: {marker}"):
            return number
    raise AssertionError(f"no site {marker!r} in {path}")


def load_one(spec: str, cwd: Path, **kwargs):
    target = parse_target(spec, cwd=cwd, kwargs=kwargs.pop("kwargs", None))
    models, skipped = load(target, **kwargs)
    assert len(models) == 1 and not skipped, (models, skipped)
    return models[0]


@pytest.fixture
def in_fixtures(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(FIXTURES)
    return FIXTURES


# ------------------------------------------------------------------------------------------ importing


def test_package_layout_and_project_root() -> None:
    root, parts = package_layout(FIXTURES / "loadpkg" / "models.py")
    assert root == FIXTURES and parts == ["loadpkg", "models"]
    assert package_layout(FIXTURES / "loadpkg" / "__init__.py") == (FIXTURES, ["loadpkg"])
    assert package_layout(FIXTURES / "located.py") == (FIXTURES, ["located"])
    assert project_root(FIXTURES) == FIXTURES.parents[2]  # the repository: pyproject.toml


def test_package_with_relative_imports(in_fixtures: Path) -> None:
    loaded = load_one("loadpkg/models.py:PkgNet", in_fixtures)
    assert type(loaded.module).__module__ == "loadpkg.models"
    assert sys.modules["loadpkg.models"].__file__ == str(FIXTURES / "loadpkg" / "models.py")
    assert loaded.path == "loadpkg/models.py" and loaded.name == "PkgNet"
    assert loaded.location == Location("loadpkg/models.py", 6)
    blocks, models = FIXTURES / "loadpkg" / "blocks.py", FIXTURES / "loadpkg" / "models.py"
    where = loaded.module_locations
    assert where["block"] == Location("loadpkg/models.py", site(models, "pkg-block"))
    assert where["block.fc"] == Location("loadpkg/blocks.py", site(blocks, "block-fc"))
    assert where["body"] == Location("loadpkg/blocks.py", site(blocks, "helper-sequential"))
    assert where["body.0"] == where["body.2"] == Location("loadpkg/blocks.py", site(blocks, "helper-linear"))
    assert where[""] == loaded.location
    assert {e.param for e in loaded.init_events} >= {"block.fc.weight", "out.bias"}


def test_dotted_module_target(in_fixtures: Path) -> None:
    loaded = load_one("loadpkg.models:PkgNet", in_fixtures, kwargs={"depth": 2})
    assert loaded.path == "loadpkg/models.py"
    assert len(loaded.module.body) == 2
    assert loaded.module_locations["block.fc"].path == "loadpkg/blocks.py"


def test_sibling_import_and_helper_in_another_file(in_fixtures: Path) -> None:
    loaded = load_one("sibling_model.py:SiblingNet", in_fixtures)
    line = site(FIXTURES / "sibling_helpers.py", "sibling-helper")
    assert loaded.module_locations["layers"] == Location("sibling_helpers.py", line)
    assert loaded.module_locations["layers.1"] == Location("sibling_helpers.py", line)
    assert loaded.module_locations["out"].path == "sibling_model.py"


def test_each_file_is_imported_once(in_fixtures: Path) -> None:
    first = import_file(FIXTURES / "located.py")
    assert import_file(FIXTURES / "located.py") is first
    one = load_one("located.py:Inner", in_fixtures)
    two = load_one("located.py:Inner", in_fixtures)
    assert type(one.module) is type(two.module) is first.Inner
    assert one.module is not two.module


WIDTH_MODEL = """
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, {width})
"""


def rewrite(path: Path, source: str) -> None:
    """Write a new version of a file; its modification time moves on by a second whatever the clock's
    resolution (the size alone may not change: 3 → 7)."""
    before = path.stat().st_mtime_ns
    write(path.parent, path.name, source)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_an_edited_file_is_imported_again(tmp_path: Path) -> None:
    """The Python API in a notebook: check, widen the layer in the file, check again."""
    import relulint

    path = write(tmp_path, "relulint_edited.py", WIDTH_MODEL.format(width=3))
    first = relulint.check("relulint_edited.py:Net", cwd=tmp_path)
    assert first.targets[0].facts is not None
    assert load_one("relulint_edited.py:Net", tmp_path).module.fc.out_features == 3
    rewrite(path, WIDTH_MODEL.format(width=64))
    assert load_one("relulint_edited.py:Net", tmp_path).module.fc.out_features == 64
    rewrite(path, WIDTH_MODEL.format(width=7))  # same size as width 3
    assert load_one("relulint_edited.py:Net", tmp_path).module.fc.out_features == 7


def test_an_edit_to_a_sibling_module_is_seen_too(tmp_path: Path) -> None:
    helpers = write(tmp_path, "relulint_widths.py", "WIDTH = 3\n")
    write(
        tmp_path,
        "relulint_uses_widths.py",
        """
        from relulint_widths import WIDTH
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(1, WIDTH)
        """,
    )
    assert load_one("relulint_uses_widths.py:Net", tmp_path).module.fc.out_features == 3
    rewrite(helpers, "WIDTH = 64\n")
    assert load_one("relulint_uses_widths.py:Net", tmp_path).module.fc.out_features == 64


def test_the_api_reports_the_edited_width(tmp_path: Path) -> None:
    import relulint

    path = write(tmp_path, "relulint_api_edit.py", DEEP)
    widths = [
        c.hidden_widths
        for c in relulint.check("relulint_api_edit.py:Net", cwd=tmp_path).targets[0].facts.chains
    ]
    assert widths == [(3,) * 12]
    rewrite(path, DEEP.replace("width: int = 3", "width: int = 64"))
    widths = [
        c.hidden_widths
        for c in relulint.check("relulint_api_edit.py:Net", cwd=tmp_path).targets[0].facts.chains
    ]
    assert widths == [(64,) * 12]


def test_same_basename_in_two_directories_gets_a_unique_name(tmp_path: Path) -> None:
    source = """
        from torch import nn


        class Same(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear({n}, 1)
    """
    for n in (2, 3):
        write(tmp_path / f"d{n}", "relulint_same_name.py", source.format(n=n))
    a = load_one("d2/relulint_same_name.py:Same", tmp_path)
    b = load_one("d3/relulint_same_name.py:Same", tmp_path)
    assert a.module.fc.in_features == 2 and b.module.fc.in_features == 3
    assert type(a.module).__module__ == "relulint_same_name"
    assert type(b.module).__module__.startswith("relulint_same_name_")


def test_prints_at_import_and_build_go_to_stderr(
    in_fixtures: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    load_one("noisy.py:Noisy", in_fixtures)
    out, err = capfd.readouterr()
    assert out == ""
    for text in ("print at import", "os.write(1) at import", "sys.stdout.write", "print in the constructor"):
        assert f"noisy: {text}" in err


def test_timeout_while_importing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "relulint_spin.py", "while True:\n    pass\n")
    with pytest.raises(LoadError, match=r"timed out after 1 s while importing relulint_spin\.py") as caught:
        load(parse_target("relulint_spin.py:Net", cwd=tmp_path), timeout=1)
    assert "--timeout" in caught.value.hint and "__main__" in caught.value.hint


def test_exception_at_import_shows_their_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        "relulint_raiser.py",
        """
        def configure():
            return {"width": 4}["depth"]


        settings = configure()
        """,
    )
    with pytest.raises(UserCodeError) as caught:
        load(parse_target("relulint_raiser.py:Net", cwd=tmp_path))
    error = caught.value
    assert error.message == "KeyError: 'depth' while importing relulint_raiser.py"
    assert 'File "relulint_raiser.py", line 5, in <module>' in error.detail
    assert 'File "relulint_raiser.py", line 2, in configure' in error.detail
    assert 'return {"width": 4}["depth"]' in error.detail
    assert "relulint/" not in error.detail and "importlib" not in error.detail
    assert "relulint_raiser" not in sys.modules


def test_exit_at_import(tmp_path: Path) -> None:
    write(tmp_path, "relulint_exits.py", "import sys\n\nsys.exit(3)\n")
    with pytest.raises(UserCodeError, match=r"sys\.exit\(3\) while importing") as caught:
        load(parse_target("relulint_exits.py:Net", cwd=tmp_path))
    assert "__main__" in caught.value.hint


# ------------------------------------------------------------------------------------------- resolving

ERRORS = """
    from torch import nn


    def helper(width):
        raise ValueError(f"bad width {width}")


    class Raises(nn.Module):
        def __init__(self, width: int = 3):
            super().__init__()
            helper(width)


    class Net(nn.Module):
        def __init__(self, width: int = 3, depth: int = 2):
            super().__init__()
            self.fc = nn.Linear(width, depth)


    class NeedsArgs(nn.Module):
        def __init__(self, width: int, depth, *, scale: float = 1.0):
            super().__init__()
            self.fc = nn.Linear(width, depth)


    def make_net(width: int = 5):
        return Net(width)


    def make_list():
        return [Net()]


    class Plain:
        pass


    count = 3
"""


@pytest.fixture
def errors_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write(tmp_path, "relulint_errors_model.py", ERRORS)


def load_error(spec: str, cwd: Path, kwargs=None) -> LoadError:
    with pytest.raises(LoadError) as caught:
        load(parse_target(spec, cwd=cwd, kwargs=kwargs))
    return caught.value


def test_constructor_raising_shows_their_traceback(errors_file: Path) -> None:
    error = load_error("relulint_errors_model.py:Raises", errors_file.parent)
    assert isinstance(error, UserCodeError)
    assert error.message == "ValueError: bad width 3 while building Raises"
    lines = error.detail.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad width 3"
    assert 'File "relulint_errors_model.py", line 11, in __init__' in error.detail
    assert 'raise ValueError(f"bad width {width}")' in error.detail
    assert "load.py" not in error.detail and "sandbox.py" not in error.detail
    assert "sites.py" not in error.detail and "import_user.py" not in error.detail  # load's helpers
    assert nn.Module.__dict__["__init__"] is MODULE_INIT  # the construction-site patch is undone


def test_constructor_needing_arguments(errors_file: Path) -> None:
    error = load_error("relulint_errors_model.py:NeedsArgs", errors_file.parent)
    assert error.message == "NeedsArgs() needs arguments width, depth to build"
    assert '--kwargs \'{"width": 4, "depth": 4}\'' in error.hint
    loaded = load_one(
        "relulint_errors_model.py:NeedsArgs", errors_file.parent, kwargs={"width": 6, "depth": 2}
    )
    assert loaded.module.fc.in_features == 6


def test_unexpected_keyword_is_named(errors_file: Path) -> None:
    error = load_error("relulint_errors_model.py:Net", errors_file.parent, kwargs={"widht": 4})
    assert "'widht'" in error.message
    assert "did you mean 'width'?" in error.hint and "width, depth" in error.hint


def test_factory_function(errors_file: Path) -> None:
    loaded = load_one("relulint_errors_model.py:make_net", errors_file.parent, kwargs={"width": 7})
    assert loaded.name == "make_net" and loaded.module.fc.in_features == 7
    assert loaded.location == Location("relulint_errors_model.py", 26)
    assert loaded.module_locations[""] == Location("relulint_errors_model.py", 27)  # `return Net(width)`
    fresh = loaded.rebuild()
    assert isinstance(fresh, nn.Module) and fresh is not loaded.module and fresh.fc.in_features == 7


def test_factory_returning_something_else(errors_file: Path) -> None:
    error = load_error("relulint_errors_model.py:make_list", errors_file.parent)
    assert error.message == "make_list() returned a list, not an nn.Module"


@pytest.mark.parametrize(
    ("name", "what"),
    [("count", "is an int"), ("nn", "is a module"), ("Plain", "is a class but not an nn.Module subclass")],
)
def test_names_that_are_not_models(errors_file: Path, name: str, what: str) -> None:
    error = load_error(f"relulint_errors_model.py:{name}", errors_file.parent)
    assert what in error.message and "not an nn.Module class or factory" in error.message
    assert "Raises, Net, NeedsArgs" in error.hint


def test_missing_name_suggests_a_close_match(errors_file: Path) -> None:
    error = load_error("relulint_errors_model.py:Nett", errors_file.parent)
    assert error.message == "relulint_errors_model.py has no 'Nett'"
    assert error.hint == "did you mean 'Net'?"
    error = load_error("relulint_errors_model.py:Zzyzx", errors_file.parent)
    assert "Raises, Net, NeedsArgs" in error.hint


def test_module_instance_at_top_level(in_fixtures: Path) -> None:
    loaded = load_one("located.py:prebuilt", in_fixtures)
    assert loaded.name == "prebuilt" and loaded.path == "located.py"
    # built at import time: the sites were recorded then (the Linear's own line, the instance's line)
    assert loaded.module_locations["fc"] == Location("located.py", 10)
    assert loaded.location == Location("located.py", 49)


# ------------------------------------------------------------------------------------------ whole file


def test_whole_file_builds_every_module_and_skips_with_reasons(in_fixtures: Path) -> None:
    models, skipped = load(parse_target("several.py", cwd=in_fixtures))
    assert [m.name for m in models] == ["First", "Container"]
    assert [(s.name, s.location) for s in skipped] == [
        ("NeedsWidth", Location("several.py", 10)),
        ("Breaks", Location("several.py", 16)),
    ]
    assert "width, depth" in skipped[0].reason
    assert skipped[1].reason == "RuntimeError: cannot build me while building Breaks"


def test_whole_file_passes_each_class_the_kwargs_it_accepts(in_fixtures: Path) -> None:
    target = parse_target("several.py", cwd=in_fixtures, kwargs={"width": 5, "depth": 2})
    models, skipped = load(target)
    assert [m.name for m in models] == ["First", "NeedsWidth", "Container"]
    assert models[0].module.fc.in_features == 5 and [s.name for s in skipped] == ["Breaks"]


def test_whole_file_without_modules(tmp_path: Path) -> None:
    write(tmp_path, "relulint_no_modules.py", "import torch\n\nX = torch.zeros(2)\n")
    assert load(parse_target("relulint_no_modules.py", cwd=tmp_path)) == ([], [])


# ---------------------------------------------------------------------------------------------- sites


def test_construction_sites(in_fixtures: Path) -> None:
    loaded = load_one("located.py:Located", in_fixtures)
    path = FIXTURES / "located.py"
    where = loaded.module_locations

    def at(marker: str) -> Location:
        return Location("located.py", site(path, marker))

    assert where[""] == loaded.location == Location("located.py", 16)
    assert where["seq"] == Location("located.py", site(path, "seq-0") - 1)  # `nn.Sequential(` line
    assert where["seq.0"] == at("seq-0") and where["seq.1"] == at("seq-1")
    assert where["stack"] == where["stack.0"] == where["stack.2"] == at("stack")
    assert where["inner"] == at("inner") and where["inner.fc"] == at("inner-fc")
    assert where["clones"] == where["clones.0"] == where["clones.1.fc"] == at("clones")  # deepcopy: parent's
    assert where["late"] == at("late")
    assert set(where) == {name for name, _ in loaded.module.named_modules(remove_duplicate=False)}


def test_factory_and_recursive_sites(in_fixtures: Path) -> None:
    path = FIXTURES / "located.py"
    loaded = load_one("located.py:make_located", in_fixtures)
    assert loaded.module_locations[""] == Location("located.py", site(path, "factory-root"))
    assert loaded.module_locations["stack.1"] == Location("located.py", site(path, "stack"))
    tree = load_one("located.py:Tree", in_fixtures)
    assert tree.module_locations["child"] == Location("located.py", site(path, "tree-child"))
    assert tree.module_locations["child.child"] == Location("located.py", site(path, "tree-child"))


def test_paths_outside_the_working_directory_are_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_one(str(FIXTURES / "located.py") + ":Inner", tmp_path)
    assert loaded.path == (FIXTURES / "located.py").as_posix()
    assert loaded.module_locations["fc"].path == (FIXTURES / "located.py").as_posix()


# -------------------------------------------------------------------------------------------- the API


def test_from_module(in_fixtures: Path) -> None:
    import located

    model = located.Located()
    loaded = from_module(model)
    assert loaded.name == "Located" and loaded.path == "located.py"
    assert loaded.location == Location("located.py", 16)
    assert loaded.module_locations["inner"] == Location("located.py", 7)  # class Inner
    assert loaded.module_locations["inner.fc"] == Location("located.py", 7)  # torch class: the parent's
    assert loaded.module_locations["stack.0"] == Location("located.py", 16)  # the root class
    assert loaded.init_events == () and loaded.rebuild is None
    assert from_module(nn.Linear(2, 2), name="lin").name == "lin"


def test_the_model_is_left_as_built(in_fixtures: Path) -> None:
    loaded = load_one("located.py:Located", in_fixtures)
    assert loaded.module.training
    assert all(p.device == torch.device("cpu") for p in loaded.module.parameters())
