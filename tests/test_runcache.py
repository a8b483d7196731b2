"""What a run memoizes, and for how long: `relulint.runcache` (look-ups kept for one run only, the console
script's GC freeze) and `relulint.sandbox.rng_guard` (the caller's RNG states saved once per run)."""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import relulint
from relulint.errors import LoadError, UserCodeError
from relulint.import_user import _file_layout
from relulint.runcache import cached, memo, realpath, run_scope
from relulint.sandbox import display_path, rng_guard, seeded_global_rng


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_outside_a_run_nothing_is_cached() -> None:
    calls: list[int] = []
    assert memo("anything") is None
    assert [cached("square", 3, lambda: calls.append(3) or 9) for _ in range(2)] == [9, 9]
    assert calls == [3, 3]


def test_a_run_computes_once_and_the_next_run_afresh() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with run_scope():
        assert cached("count", "key", compute) == cached("count", "key", compute) == 1
        assert cached("count", "other key", compute) == 2
        assert cached("another cache", "key", compute) == 3
    assert memo("count") is None
    with run_scope():
        assert cached("count", "key", compute) == 4  # not the last run's answer


def test_a_nested_scope_shares_the_outer_caches_and_leaves_them_to_it() -> None:
    with run_scope():
        cached("c", 1, lambda: "outer")
        with run_scope():
            assert cached("c", 1, lambda: "inner") == "outer"
        assert memo("c") == {1: "outer"}  # the inner scope's end dropped nothing
    assert memo("c") is None


def test_the_caches_go_with_an_error() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with run_scope():
            cached("c", 1, lambda: "kept for the run")
            raise RuntimeError("boom")
    assert memo("c") is None
    with run_scope():
        assert memo("c") == {}


def test_a_failing_look_up_is_not_cached() -> None:
    answers = iter([ValueError("first"), "second"])

    def compute() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with run_scope():
        with pytest.raises(ValueError, match="first"):
            cached("c", 1, compute)
        assert cached("c", 1, compute) == "second"


def test_project_roots_are_per_directory_within_a_run(tmp_path) -> None:
    """Two packages of one run, each under its own pyproject.toml: each gets its own root."""
    first = write(tmp_path, "a/pyproject.toml", "[project]\nname = 'a'\n").parent
    second = write(tmp_path, "a/b/pyproject.toml", "[project]\nname = 'b'\n").parent
    one = write(first, "pkg/__init__.py", "")
    two = write(second, "pkg2/__init__.py", "")
    model_a, model_b = write(first, "pkg/m.py", ""), write(second, "pkg2/m.py", "")
    with run_scope():
        assert _file_layout(model_a.resolve())[2] == first.resolve()
        assert _file_layout(model_b.resolve())[2] == second.resolve()
        assert _file_layout(model_a.resolve())[2] == first.resolve()  # asked again: the cached answer
    assert one.is_file() and two.is_file()


def test_a_project_root_found_in_one_run_is_not_kept_for_the_next(tmp_path) -> None:
    outer = write(tmp_path, "repo/pyproject.toml", "[project]\nname = 'repo'\n").parent
    model = write(outer, "sub/model.py", "")
    with run_scope():
        assert _file_layout(model.resolve())[2] == outer.resolve()
    write(outer, "sub/pyproject.toml", "[project]\nname = 'sub'\n")  # between two runs (a notebook)
    with run_scope():
        assert _file_layout(model.resolve())[2] == model.parent.resolve()
    assert _file_layout(model.resolve())[2] == model.parent.resolve()  # and outside a run


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_realpath_is_kept_for_one_run_only(tmp_path) -> None:
    first, second = write(tmp_path, "first.py", ""), write(tmp_path, "second.py", "")
    link = tmp_path / "link.py"
    link.symlink_to(first)
    with run_scope():
        assert realpath(str(link)) == str(first.resolve())
        link.unlink()
        link.symlink_to(second)
        assert realpath(str(link)) == str(first.resolve())  # the run takes the tree as fixed
    with run_scope():
        assert realpath(str(link)) == str(second.resolve())


def test_a_files_package_layout_is_kept_for_one_run_only(tmp_path) -> None:
    model = write(tmp_path, "pkg/model.py", "").resolve()
    with run_scope():
        assert _file_layout(model)[1] == ["model"]  # no __init__.py: a plain module
        write(tmp_path, "pkg/__init__.py", "")
        assert _file_layout(model) is _file_layout(model)  # the import and the context share one answer
    with run_scope():
        assert _file_layout(model)[1] == ["pkg", "model"]


def test_display_paths_follow_the_working_directory_within_a_run(tmp_path, monkeypatch) -> None:
    inner = write(tmp_path, "a/b/model.py", "")
    with run_scope():
        monkeypatch.chdir(tmp_path)
        assert display_path("a/b/model.py") == "a/b/model.py"
        assert display_path(inner, cwd=tmp_path / "a") == "b/model.py"
        monkeypatch.chdir(tmp_path / "a")
        assert display_path("b/model.py") == "b/model.py"
        assert display_path(inner) == "b/model.py"
        assert display_path("b/model.py", cwd=tmp_path) == "a/b/model.py"  # relative to the new directory


# ------------------------------------------------------------------------------------- the RNG guard


def _states() -> tuple[torch.Tensor, tuple, object]:
    return torch.get_rng_state().clone(), np.random.get_state(), random.getstate()


def _same(before: tuple[torch.Tensor, tuple, object], after: tuple[torch.Tensor, tuple, object]) -> bool:
    (t0, n0, r0), (t1, n1, r1) = before, after
    numpy_same = n0[0] == n1[0] and np.array_equal(n0[1], n1[1]) and n0[2:] == n1[2:]
    return bool(torch.equal(t0, t1)) and numpy_same and r0 == r1


def test_inside_the_guard_each_stage_is_seeded_and_the_callers_state_comes_back() -> None:
    np.random.seed(5)
    random.seed(6)
    torch.manual_seed(7)
    before = _states()
    draws = []
    with rng_guard():
        for _ in range(2):
            with seeded_global_rng():
                draws.append((np.random.rand(), random.random(), float(torch.rand(()))))
    assert draws[0] == draws[1]  # every stage starts from the build seed
    assert _same(before, _states())


def test_the_guard_restores_the_callers_state_after_an_error() -> None:
    np.random.seed(1)
    random.seed(2)
    before = _states()
    with pytest.raises(RuntimeError, match="boom"):
        with rng_guard():
            with seeded_global_rng():
                np.random.rand(3)
                random.random()
                raise RuntimeError("boom")
    assert _same(before, _states())


def test_a_timed_out_run_leaves_the_callers_rng_and_torch_as_they_were(tmp_path) -> None:
    path = write(
        tmp_path,
        "slow.py",
        """
        import random
        import numpy as np
        import torch
        from torch import nn

        random.random(), np.random.rand(), torch.rand(())


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 4)
                while True:
                    pass
        """,
    )
    np.random.seed(3)
    random.seed(4)
    before = _states()
    patched = (nn.init.kaiming_uniform_, torch.Tensor.__dict__.get("uniform_"), nn.Module._apply)
    init = nn.Module.__dict__["__init__"]
    with pytest.raises(LoadError, match="timed out"):
        relulint.check(f"{path}:Net", cwd=tmp_path, timeout=1.0)
    assert _same(before, _states())
    assert (nn.init.kaiming_uniform_, torch.Tensor.__dict__.get("uniform_"), nn.Module._apply) == patched
    assert nn.Module.__dict__["__init__"] is init
    assert memo("project_root") is None


def test_a_failing_build_leaves_the_recorder_unpatched(tmp_path) -> None:
    path = write(
        tmp_path,
        "broken.py",
        """
        import numpy as np
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 4)
                np.random.rand(5)
                raise ValueError("bad width")
        """,
    )
    np.random.seed(8)
    before = _states()
    originals = (nn.init.kaiming_uniform_, nn.Module._apply, nn.Module.__dict__["__init__"])
    with pytest.raises(UserCodeError, match="bad width"):
        relulint.check(f"{path}:Net", cwd=tmp_path)
    assert (nn.init.kaiming_uniform_, nn.Module._apply, nn.Module.__dict__["__init__"]) == originals
    assert "uniform_" not in torch.Tensor.__dict__
    assert _same(before, _states())


# ------------------------------------------------------------------------------------------ the freeze

FROZEN = """
import gc, sys
from relulint.cli import main

sys.argv = ["relulint", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write(f"@@frozen {gc.get_freeze_count()}\\n")
"""


def test_the_console_script_freezes_the_imports_once_before_the_users_code(tmp_path) -> None:
    model = """
        import gc
        from pathlib import Path
        from torch import nn

        Path(__file__).with_suffix(".frozen").write_text(str(gc.get_freeze_count()))


        class Net(nn.Module):
            pass
        """
    for name in ("a.py", "b.py"):
        write(tmp_path, name, model)
    done = subprocess.run(
        [sys.executable, "-c", FROZEN, "check", ".", "-f", "json", "--exit-zero"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("@@frozen ")]
    frozen = int(line.split()[1])
    assert frozen > 10_000  # torch's objects
    # frozen before the first file was imported, and never again (nothing of the user's is frozen): the
    # count only falls from then on, as frozen objects are freed
    at_import = [int((tmp_path / f"{n}.frozen").read_text()) for n in "ab"]
    assert at_import[0] >= at_import[1] >= frozen


def test_in_process_runs_never_freeze(tmp_path) -> None:
    path = write(tmp_path, "model.py", "from torch import nn\n\n\nclass Net(nn.Module):\n    pass\n")
    frozen = gc.get_freeze_count()
    relulint.check(f"{path}:Net", cwd=tmp_path)
    assert gc.get_freeze_count() == frozen
