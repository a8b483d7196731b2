"""Checkpoints: where the state dict is found, weights-only loading, and the errors (exit 2)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from audit_helpers import audit_json, net_class

from relulint.audit.checkpoint import find_state_dict, load_weights
from relulint.errors import DataError


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    return net_class(tmp_path)(width=4, depth=2)


class SideEffect:
    """Unpickling it would create a file: `__reduce__` makes pickle call `open(path, "w")`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_checkpoint_needing_arbitrary_unpickling_is_refused_without_running_it(tmp_path, model) -> None:
    marker = tmp_path / "pwned"
    state = model.state_dict()
    torch.save({"model_state_dict": state, "hook": SideEffect(marker)}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # torch's weights-only unpickler refuses the global
        torch.load(tmp_path / "evil.pt", weights_only=True)
    assert not marker.exists()
    run = audit_json("model.py:Net", "--weights", "evil.pt", "--kwargs", '{"width": 4, "depth": 2}')
    assert run.exit_code == 2
    assert "refusing to load evil.pt: it needs arbitrary unpickling" in run.output
    assert "nothing in it was run" in run.output and "hint:" in run.output
    assert "(it holds io.open)" in run.output  # the global it would have called
    assert "Traceback" not in run.output
    assert not marker.exists()


def test_the_side_effect_is_real(tmp_path) -> None:
    """The control: full unpickling of the same kind of file does create it."""
    marker = tmp_path / "created"
    torch.save({"hook": SideEffect(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_a_whole_pickled_module_is_refused_too(tmp_path, model) -> None:
    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")  # torch.save(model): an nn.Module pickled
    run = audit_json("model.py:Net", "--weights", "whole.pt", "--kwargs", '{"width": 4, "depth": 2}')
    assert run.exit_code == 2 and "refusing to load" in run.output


@pytest.mark.parametrize(
    ("wrap", "key", "prefix"),
    [
        (lambda s: s, None, None),
        (lambda s: {"epoch": 3, "model_state_dict": s, "optimizer_state_dict": {}}, "model_state_dict", None),
        (lambda s: {"state_dict": {f"model.{k}": v for k, v in s.items()}}, "state_dict", "model."),
        (lambda s: {"model": {f"module.{k}": v for k, v in s.items()}}, "model", "module."),
        (lambda s: {"ema_weights": s, "step": 10}, "ema_weights", None),
    ],
)
def test_the_state_dict_is_found_and_loaded(tmp_path, model, wrap, key, prefix) -> None:
    trained = {k: v + 1.0 for k, v in model.state_dict().items()}
    torch.save(wrap(trained), tmp_path / "w.pt")
    torch.manual_seed(5)
    fresh = type(model)(width=4, depth=2)
    found = load_weights(fresh, tmp_path / "w.pt")
    assert found.key == key and found.prefix == prefix
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, trained[name])


def test_safetensors(tmp_path, model) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    safetensors.save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    run = audit_json("model.py:Net", "--weights", "w.safetensors", "--kwargs", '{"width": 4, "depth": 2}')
    assert run.exit_code in (0, 1), run.output
    assert run.target["audit"]["weights"] == "w.safetensors"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: {k: v for k, v in s.items() if k != "head.bias"}, "missing head.bias"),
        (lambda s: {**s, "extra.weight": torch.zeros(1)}, "unexpected extra.weight"),
        (lambda s: {**s, "head.weight": torch.zeros(1, 5)}, "mis-shaped head.weight (1, 5) ≠ (1, 4)"),
    ],
)
def test_keys_that_do_not_fit_are_exit_2_naming_them(tmp_path, model, edit, message) -> None:
    torch.save(edit(model.state_dict()), tmp_path / "w.pt")
    run = audit_json("model.py:Net", "--weights", "w.pt", "--kwargs", '{"width": 4, "depth": 2}')
    assert run.exit_code == 2
    assert message in run.output and "--kwargs" in run.output


def test_errors_are_one_line_with_a_hint(tmp_path, model) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for args, text in (
        (["--weights", "nope.pt"], "weights file not found"),
        (["--weights", "junk.pt"], "cannot read weights junk.pt"),
    ):
        run = audit_json("model.py:Net", *args, "--kwargs", '{"width": 4, "depth": 2}')
        assert run.exit_code == 2 and text in run.output and "Traceback" not in run.output
    torch.save({"epoch": 1, "lr": 0.1}, tmp_path / "meta.pt")
    with pytest.raises(DataError, match="no state dict found"):
        find_state_dict(torch.load(tmp_path / "meta.pt", weights_only=True), model.state_dict())


def test_targets_must_match_the_inputs(tmp_path, model) -> None:
    import numpy as np

    torch.save(model.state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x.npy", np.linspace(-1, 1, 10))
    np.save(tmp_path / "y.npy", np.zeros(7))
    run = audit_json(
        "model.py:Net",
        "--weights",
        "w.pt",
        "--kwargs",
        '{"width": 4, "depth": 2}',
        "--data",
        "x.npy",
        "--targets",
        "y.npy",
    )
    assert run.exit_code == 2 and "--targets has 7 rows but the inputs have 10" in run.output


def test_keyed_data_files(tmp_path, model) -> None:
    import numpy as np

    torch.save(model.state_dict(), tmp_path / "w.pt")
    xs = np.linspace(-1, 1, 9)
    np.savez(tmp_path / "d.npz", x=xs, y=xs**2)
    (tmp_path / "d.csv").write_text("a,x,y\n" + "".join(f"0,{v},{v * v}\n" for v in xs))
    for data, targets in (("d.npz:x", "d.npz:y"), ("d.csv:x", "d.csv:y")):
        run = audit_json(
            "model.py:Net",
            "--weights",
            "w.pt",
            "--kwargs",
            '{"width": 4, "depth": 2}',
            "--data",
            data,
            "--targets",
            targets,
        )
        out = run.target["audit"]["output"]
        assert run.target["audit"]["inputs"] == 9
        assert out["target_mean"] == pytest.approx(float((xs**2).mean()))
        assert out["target_median"] == pytest.approx(0.25)


def test_inputs_that_do_not_fit_the_model_are_one_line(tmp_path, model) -> None:
    import numpy as np

    torch.save(model.state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x3.npy", np.zeros((5, 3)))
    run = audit_json(
        "model.py:Net", "--weights", "w.pt", "--kwargs", '{"width": 4, "depth": 2}', "--data", "x3.npy"
    )
    assert run.exit_code == 2 and "Net cannot run on the inputs (5 rows of 3 values)" in run.output
    assert "Traceback" not in run.output and "hint: --data holds one model input per row" in run.output
