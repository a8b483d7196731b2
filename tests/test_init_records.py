"""The init record survives what users do after building a model: ``.double()`` / ``.half()`` /
``.to(dtype)`` (new storage for every parameter), inits through ``.data`` after a conversion, parameters
replaced or wrapped after their init; bf16 values are upcast where relulint computes on them; and a
recorded law (RAI in particular) is kept unless the values contradict it decisively."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from relulint.cli import app
from relulint.inits import InitRecorder

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pinn.py"

runner = CliRunner()


def of(events, param: str) -> list:
    return [e for e in events if e.param == param]


def check_json(path: Path, name: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, dict]:
    monkeypatch.chdir(path.parent)
    result = runner.invoke(app, ["check", f"{path.name}:{name}", "--format", "json", *extra])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


# ----------------------------------------------------------------------------------- conversions

CONVERTED_PINN = f"""
    import importlib.util

    import torch

    _spec = importlib.util.spec_from_file_location("relulint_example_pinn", {str(EXAMPLE)!r})
    pinn = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(pinn)


    def Float32():
        return pinn.DeepNarrowPINN()


    def Float64():
        return pinn.DeepNarrowPINN().double()  # the usual PINN dtype


    def Half():
        return pinn.DeepNarrowPINN().half()


    def ToFloat64():
        return pinn.DeepNarrowPINN().to(torch.float64)
"""


@pytest.fixture(scope="module")
def pinn_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("converted") / "converted_pinn.py"
    path.write_text(textwrap.dedent(CONVERTED_PINN), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["Float64", "Half", "ToFloat64"])
def test_converted_example_pinn_keeps_rl201_rl202(pinn_file, monkeypatch, name) -> None:
    """README's own example: PyTorch's default init on 16 width-5 layers is recorded (each tensor has 25
    entries, too few to fingerprint), so RL201 and RL202 stand after a dtype conversion as before it."""
    _, reference = check_json(pinn_file, "Float32", monkeypatch)
    code, report = check_json(pinn_file, name, monkeypatch)
    assert code == 1
    (target,) = report["targets"]
    codes = {f["code"] for f in target["findings"]}
    assert {"RL101", "RL201", "RL202"} <= codes, codes
    assert codes == {f["code"] for f in reference["targets"][0]["findings"]}
    (chain,) = target["chains"]
    for layer in chain["layers"]:
        weight = layer["init"]["weight"]
        assert weight["law"] == "pytorch-default" and weight["origin"] == "recorded", weight
        assert weight["args"]["source"] == "reset_parameters"


def test_record_follows_the_parameter_not_its_storage() -> None:
    with InitRecorder() as rec:
        model = nn.Sequential(nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 40)).double()
        model[2].weight.data.normal_(0.0, 0.1)  # after the conversion, through .data (a new tensor object)
        w = torch.empty(40, 40)
        nn.init.orthogonal_(w)  # before it is a parameter
        model[0].weight = nn.Parameter(w)  # replaces the default-initialised parameter
        model.half()
    events = rec.events_for(model)
    assert [e.kind for e in of(events, "0.weight")] == ["orthogonal"]
    assert [e.kind for e in of(events, "2.weight")] == ["kaiming_uniform", "normal"]
    assert [e.kind for e in of(events, "0.bias")] == ["uniform"]
    assert not any(e.args.get("partial") for e in events)


def test_partial_init_after_conversion_is_partial() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(8, 8).to(torch.float64)
        with torch.no_grad():
            layer.weight[:2].zero_()
    (default, rows) = of(rec.events_for(layer), "weight")
    assert default.kind == "kaiming_uniform" and rows.kind == "zeros" and rows.args["partial"] is True


def test_a_fresh_parameter_without_an_init_gets_no_old_events() -> None:
    """A replaced parameter's events stay with the replaced one, even where (module, name) is reused."""
    with InitRecorder() as rec:
        layer = nn.Linear(64, 64)
        layer.weight = nn.Parameter(torch.randn(64, 64) * math.sqrt(2 / 64))
    assert of(rec.events_for(layer), "weight") == []
    assert [e.kind for e in of(rec.events_for(layer), "bias")] == ["uniform"]


def test_module_registered_before_recording_falls_back_to_storage() -> None:
    layer = nn.Linear(16, 16)
    with InitRecorder() as rec:
        nn.init.zeros_(layer.bias)
    assert [e.kind for e in rec.events_for(layer)] == ["zeros"]


def test_recorder_restores_module_apply_and_hooks() -> None:
    from torch.nn.modules import module as torch_module

    original = nn.Module._apply
    hooks = dict(torch_module._global_parameter_registration_hooks)
    with InitRecorder():
        assert nn.Module._apply is not original
    assert nn.Module._apply is original
    assert dict(torch_module._global_parameter_registration_hooks) == hooks
