"""Which targets a pre-commit run lints, read statically (no torch import), and the hooks manifest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from relulint.precommit import (
    defines_modules,
    module_classes_in,
    python_script,
    relevant_targets,
    target_file,
)

REPO = Path(__file__).resolve().parents[1]

MODELS = """
    import torch
    from torch import nn
    from torch.nn import Module


    class A(nn.Module):
        pass


    class B(torch.nn.Module):
        pass


    class C(Module):
        pass


    class D(A):
        pass


    class E(pl.LightningModule):
        pass


    class NotAModel(object):
        pass


    def factory():
        return nn.Linear(1, 1)
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_module_classes_detected_statically(tmp_path) -> None:
    path = write(tmp_path, "models.py", MODELS)
    assert module_classes_in(path) == {"A", "B", "C", "D", "E"}
    assert defines_modules(path)


def test_files_without_modules(tmp_path) -> None:
    assert not defines_modules(
        write(tmp_path, "train.py", "import torch\nopt = torch.optim.SGD([], lr=0.1)\n")
    )
    assert not defines_modules(write(tmp_path, "README.md", "class A(nn.Module): pass\n"))
    assert not defines_modules(tmp_path / "missing.py")


def test_unparsable_file_counts_when_it_mentions_module(tmp_path) -> None:
    assert defines_modules(write(tmp_path, "broken.py", "class A(nn.Module):\n  def f(:\n"))
    assert not defines_modules(write(tmp_path, "broken2.py", "def f(:\n"))


def test_changed_model_files_are_targets(tmp_path) -> None:
    write(tmp_path, "models.py", MODELS)
    write(tmp_path, "train.py", "x = 1\n")
    write(tmp_path, "notes.txt", "class A(nn.Module): pass\n")
    assert relevant_targets(["models.py", "train.py", "notes.txt"], [], cwd=tmp_path) == ["models.py"]


def test_nothing_relevant_is_empty(tmp_path) -> None:
    write(tmp_path, "train.py", "x = 1\n")
    assert relevant_targets(["train.py", "gone.py"], ["models.py:A"], cwd=tmp_path) == []


def test_configured_targets_whose_file_changed(tmp_path) -> None:
    write(tmp_path, "models.py", MODELS)
    write(tmp_path, "pkg/__init__.py", "raise RuntimeError('never imported')\n")
    write(tmp_path, "pkg/nets.py", "from torch import nn\n\n\ndef MLP():\n    return nn.Linear(1, 1)\n")
    write(tmp_path, "src/lib/deep.py", "from torch import nn\n\n\ndef Deep():\n    return nn.Linear(1, 1)\n")
    configured = [
        "models.py:A",
        {"target": "models.py:B", "kwargs": {"width": 3}},
        "pkg.nets:MLP",
        "lib.deep:Deep",
        "untouched.py:X",
    ]
    chosen = relevant_targets(["models.py", "pkg/nets.py", "src/lib/deep.py"], configured, cwd=tmp_path)
    assert chosen == [
        "models.py:A",
        {"target": "models.py:B", "kwargs": {"width": 3}},
        "pkg.nets:MLP",
        "lib.deep:Deep",
        "models.py:C",
        "models.py:D",
        "models.py:E",
    ]


def test_whole_file_configured_target_covers_the_file(tmp_path) -> None:
    write(tmp_path, "models.py", MODELS)
    assert relevant_targets(["models.py"], ["models.py"], cwd=tmp_path) == ["models.py"]


def test_absolute_and_dotted_paths(tmp_path) -> None:
    path = write(tmp_path, "sub/models.py", MODELS)
    assert relevant_targets([str(path)], [], cwd=tmp_path) == [str(path)]
    assert relevant_targets(["./sub/models.py"], ["sub/models.py:A"], cwd=tmp_path)[0] == "sub/models.py:A"
    assert target_file("sub.models:A", tmp_path) == path.resolve()
    assert target_file("nowhere.mod:A", tmp_path) is None


def test_no_torch_import() -> None:
    """The pre-commit decision imports neither torch nor numpy."""
    code = (
        "import sys, pathlib; from relulint.precommit import relevant_targets; "
        "relevant_targets(['README.md'], ['x.py:Net'], cwd=pathlib.Path('.')); "
        "print('torch' in sys.modules, 'numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_hooks_manifest_is_valid() -> None:
    pytest.importorskip("pre_commit")
    yaml = pytest.importorskip("yaml")
    manifest = REPO / ".pre-commit-hooks.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(manifest)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = {hook["id"]: hook for hook in yaml.safe_load(manifest.read_text(encoding="utf-8"))}
    assert hooks["relulint"]["language"] == "unsupported"
    assert hooks["relulint-isolated"]["language"] == "python"
    for hook in hooks.values():
        assert hook["entry"] == "relulint check"
        assert hook["types"] == ["python"] and hook["require_serial"] is True


def test_python_scripts_without_the_suffix(tmp_path) -> None:
    """identify tags an executable with a python shebang `python`, so pre-commit passes `bin/deploy`."""
    deploy = write(tmp_path, "bin/deploy", "#!/usr/bin/env python3\n" + textwrap.dedent(MODELS).lstrip())
    write(tmp_path, "bin/train", "#!/usr/bin/env python\nimport torch\nopt = torch.optim.SGD([], lr=0.1)\n")
    write(tmp_path, "bin/shell", "#!/bin/sh\nclass A(nn.Module): pass\n")
    write(tmp_path, "bin/plain", "class A(nn.Module): pass\n")
    write(tmp_path, "bin/broken", "#!/usr/bin/env python\nclass A(nn.Module):\n  def f(:\n")
    (tmp_path / "bin" / "blob").write_bytes(b"#!/usr/bin/env python\nclass A(nn.Module): pass\n\0\0")
    names = ["bin/deploy", "bin/train", "bin/shell", "bin/plain", "bin/broken", "bin/blob"]
    assert relevant_targets(names, [], cwd=tmp_path) == ["bin/deploy"]
    assert defines_modules(deploy) and module_classes_in(deploy) == {"A", "B", "C", "D", "E"}
    assert [n for n in names if python_script(tmp_path / n)] == ["bin/deploy", "bin/train"]
    covered = relevant_targets(["bin/deploy"], ["bin/deploy:A"], cwd=tmp_path)
    assert covered == ["bin/deploy:A", "bin/deploy:B", "bin/deploy:C", "bin/deploy:D", "bin/deploy:E"]


def test_a_training_script_with_a_dataset_class_is_not_a_model_file(tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import torch\nfrom torch.utils.data import Dataset\n\n\nclass Data(Dataset):\n    pass\n\n\n"
        "raise SystemExit('training ran at import')\n"
    )
    assert not defines_modules(script)
