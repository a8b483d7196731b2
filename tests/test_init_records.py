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
from relulint.init_recorder import InitRecorder

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


def test_meta_device_build_then_to_empty_and_reset() -> None:
    """The big-model idiom: build on the meta device (nothing to record), `to_empty` (torch makes new
    parameter objects), then initialise: the inits land on the module's parameters by module and name."""
    with InitRecorder() as rec:
        with torch.device("meta"):
            model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
        model = model.to_empty(device="cpu")
        for layer in (model[0], model[2]):
            layer.reset_parameters()
        nn.init.zeros_(model[2].weight.data)
    events = rec.events_for(model)
    assert [e.kind for e in of(events, "0.weight")] == ["kaiming_uniform"]
    assert [e.kind for e in of(events, "2.weight")] == ["kaiming_uniform", "zeros"]


def test_conversion_that_replaces_parameter_objects_keeps_the_record() -> None:
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        with InitRecorder() as rec:
            layer = nn.Linear(8, 8)
            before = layer.weight
            layer.double()
            assert layer.weight is not before  # a new Parameter, assigned without the registration hook
            layer.weight.data.normal_()
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(False)
    assert [e.kind for e in of(rec.events_for(layer), "weight")] == ["kaiming_uniform", "normal"]


def test_lazy_modules_build_and_keep_their_record() -> None:
    with InitRecorder() as rec:
        model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 1))
        model(torch.zeros(2, 3))  # materialises the lazy parameters in place, then reset_parameters
    assert [e.kind for e in of(rec.events_for(model), "0.weight")] == ["kaiming_uniform"]


def test_tied_parameters_get_each_event_once_under_every_name() -> None:
    with InitRecorder() as rec:
        a, b = nn.Linear(4, 4), nn.Linear(4, 4)
        b.weight = a.weight  # tied after both were initialised
        with torch.no_grad():
            a.weight[0].fill_(1.0)  # a view: found by storage
        w = torch.empty(3, 3)
        nn.init.normal_(w)  # before it is a parameter, then one parameter held by two modules
        shared = nn.Parameter(w)
        c, d = nn.Linear(3, 3), nn.Linear(3, 3)
        c.weight = shared
        d.weight = shared
    events = rec.events_for(nn.ModuleDict({"a": a, "b": b, "c": c, "d": d}))
    for name in ("a.weight", "b.weight"):
        assert [(e.kind, e.args.get("partial")) for e in of(events, name)] == [
            ("kaiming_uniform", None),
            ("constant", True),
        ]
    for name in ("c.weight", "d.weight"):
        assert [e.kind for e in of(events, name)] == ["normal"]


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


def test_recorder_reuses_its_wrappers_and_follows_a_replaced_original(monkeypatch) -> None:
    """A wrapper is made once per original (not per recording), and a function replaced since (a test's
    monkeypatch, another tool's patch) gets a wrapper of its own and is what is restored afterwards."""
    with InitRecorder():
        first = (nn.init.kaiming_uniform_, torch.Tensor.uniform_, nn.Module._apply)
    with InitRecorder():
        assert (nn.init.kaiming_uniform_, torch.Tensor.uniform_, nn.Module._apply) == first
    calls: list[str] = []
    original = nn.init.zeros_

    def replaced(tensor: torch.Tensor) -> torch.Tensor:
        calls.append("replaced")
        return original(tensor)

    monkeypatch.setattr(nn.init, "zeros_", replaced)
    layer = nn.Linear(3, 3)
    with InitRecorder() as rec:
        assert nn.init.zeros_ is not replaced
        nn.init.zeros_(layer.bias)
    assert nn.init.zeros_ is replaced
    assert calls == ["replaced"]
    assert [e.kind for e in rec.events_for(layer)] == ["zeros"]


# ------------------------------------------------------------------------------ a recorded law is kept

RAI_MODELS = """
    import torch
    from torch import nn

    from relulint.init import apply_rai


    def chain(width, depth):
        layers = [nn.Linear(1, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(width, 1))


    def Narrow():
        return apply_rai(chain(2, 30), generator=torch.Generator().manual_seed(0))


    def Wide():
        return apply_rai(chain(64, 6), generator=torch.Generator().manual_seed(1))


    def Float64():
        return apply_rai(chain(2, 12), generator=torch.Generator().manual_seed(2)).double()
"""


@pytest.fixture(scope="module")
def rai_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rai") / "rai_models.py"
    path.write_text(textwrap.dedent(RAI_MODELS), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["Narrow", "Wide", "Float64"])
def test_apply_rai_stays_rai_and_the_probe_samples_it_batched(rai_file, monkeypatch, name) -> None:
    """Every layer after the first keeps the recorded RAI (weight and bias), in the form the probe's batched
    sampler resolves (law "rai", Beta(2, 1) moments in args), and the probe takes the batched path."""
    from relulint.probe.laws import resolve_bias, resolve_weight
    from relulint.records.model_facts import InitInfo

    _, report = check_json(rai_file, name, monkeypatch, "--probe-all", "--samples", "64")
    (chain,) = report["targets"][0]["chains"]
    first, *rest = chain["layers"]
    assert first["init"]["weight"]["law"] == "kaiming-normal" and first["init"]["bias"]["law"] == "zeros"
    for layer in rest:
        for part in ("weight", "bias"):
            info = layer["init"][part]
            assert info["law"] == "rai" and info["origin"] == "recorded" and info["symmetric"] is False, info
            assert info["args"]["mu1"] == pytest.approx(2 / 3) and info["args"]["mu2"] == pytest.approx(0.5)
        law = resolve_weight(InitInfo("rai", False, args=layer["init"]["weight"]["args"]), 2, 2)
        assert law is not None and law.kind == "rai"
        assert resolve_bias(InitInfo("rai", False, args=layer["init"]["bias"]["args"]), 2).kind == "rai"
    probe = chain["probe"]
    assert probe["method"] == "batched" and probe["init"] == "recorded", probe


def rai_linear(out_features: int, in_features: int, seed: int) -> tuple[nn.Linear, tuple]:
    from relulint.init import rai_

    with InitRecorder() as rec:
        layer = rai_(nn.Linear(in_features, out_features), generator=torch.Generator().manual_seed(seed))
    return layer, rec.events_for(layer)


def resolved(layer: nn.Linear, events) -> tuple:
    from relulint.init_reconcile import describe_layer
    from relulint.records.loaded import LoadedModel, Target
    from relulint.records.location import Location

    loaded = LoadedModel(Target("t"), "t", layer, "t.py", Location("t.py", 1), {}, init_events=events)
    return describe_layer(loaded, "")


def test_rai_values_keep_rai_at_every_size() -> None:
    """RAI's own values are never taken for a contradiction (`_rai_contradiction`: P(|Z| > 5) ≈ 6e-7 per
    layer): 120 seeded layers from 8 × 16 (the smallest size the test runs on) to 128 × 256."""
    for seed in range(120):
        rows, cols = [(8, 16), (32, 32), (64, 64), (128, 256)][seed % 4]
        weight, bias = resolved(*rai_linear(rows, cols, seed))
        assert weight.law == "rai" and weight.origin == "recorded", (seed, weight.note)
        assert bias.law == "rai"


def test_values_that_contradict_a_recorded_rai_override_it() -> None:
    """Symmetric values put in place of a recorded RAI (an assignment no hook sees) are overridden: at 64
    rows the row-sum z is about 8.2 (power 0.9993 at |z| > 5); over 200 seeds at least 98 % are caught."""
    caught = 0
    for seed in range(200):
        layer, events = rai_linear(64, 64, seed)
        g = torch.Generator().manual_seed(10_000 + seed)
        with torch.no_grad():
            layer.weight.data[:] = torch.randn(64, 64, generator=g) * 0.6007 / 8  # RAI's bulk, no outlier
        weight, _ = resolved(layer, events)
        caught += weight.origin == "reconciled" and "RAI's" in (weight.note or "")
    assert caught / 200 >= 0.98


def test_recorded_normal_with_uniform_values_is_overridden_and_normal_values_kept() -> None:
    """The shape test at n = 4096 entries: a normal law's half-range is ~3.5 std, a uniform one's √3 std
    (within 6 SE): uniform values under a normal record are always overridden, normal ones never."""
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        with InitRecorder() as rec:
            layer = nn.Linear(64, 64)
            nn.init.normal_(layer.weight, std=0.1, generator=g)
        kept, _ = resolved(layer, rec.events_for(layer))
        assert kept.law == "normal" and kept.origin == "recorded"
        with torch.no_grad():
            layer.weight.data[:] = (torch.rand(64, 64, generator=g) * 2 - 1) * 0.1 * math.sqrt(3)
        overridden, _ = resolved(layer, rec.events_for(layer))
        assert overridden.origin == "reconciled" and "uniform, not normal" in overridden.note


# ------------------------------------------------------------------------------------------- bf16

BF16 = """
    import torch
    from torch import nn


    def chain(width):
        layers = []
        for i in range(6):
            layers += [nn.Linear(4 if i == 0 else width, width), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(width, 1))


    def Narrow():
        return chain(3).to(torch.bfloat16)


    def Wide():
        model = chain(64)
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        return model.to(torch.bfloat16)


    def Unrecorded():  # an assignment no hook sees: the pooled re-read computes on the bf16 values
        model = chain(3)
        with torch.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    m.weight.data[:] = torch.rand(m.weight.shape)  # all positive
        return model.to(torch.bfloat16)
"""


@pytest.mark.parametrize("name", ["Narrow", "Wide", "Unrecorded"])
def test_bf16_chains_are_checked_not_crashed(tmp_path, monkeypatch, name) -> None:
    path = tmp_path / "bf16_models.py"
    path.write_text(textwrap.dedent(BF16), encoding="utf-8")
    code, report = check_json(path, name, monkeypatch, "--probe-all", "--samples", "32")
    (chain,) = report["targets"][0]["chains"]
    assert chain["hidden_widths"] == [3] * 6 if name != "Wide" else [64] * 6
    hidden = chain["layers"][1]["init"]["weight"]
    if name == "Wide":  # 4096 entries: the values confirm the record (σ_w² = 2 within the bf16 rounding)
        assert code == 0 or "RL201" not in {f["code"] for f in report["targets"][0]["findings"]}
        assert hidden["law"] == "kaiming-normal" and hidden["origin"] == "recorded"
    elif name == "Narrow":
        assert code == 1 and hidden["law"] == "pytorch-default" and hidden["origin"] == "recorded"
    else:  # pooled over 5 layers the positive mean is unmistakable (dying §4.1's asymmetry)
        assert hidden["law"] == "custom" and hidden["symmetric"] is False and "pooled" in hidden["note"]
    assert chain["probe"]["samples"] == 32


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_rounding_to_a_half_dtype_is_no_contradiction(dtype) -> None:
    """bf16 rounds 0.1 to 0.100098 and puts an orthogonal Gram ≈ 0.3·eps = 2.3e-3 from c·I (above the
    float32 tolerance 1e-3): exact comparisons allow for the dtype's rounding unit, so records stand."""
    with InitRecorder() as rec:
        layer = nn.Linear(64, 64)
        nn.init.orthogonal_(layer.weight, gain=1.5)
        nn.init.constant_(layer.bias, 0.1)
        layer = layer.to(dtype)
    weight, bias = resolved(layer, rec.events_for(layer))
    assert weight.law == "orthogonal" and weight.origin == "recorded", weight.note
    assert bias.law == "constant" and bias.origin == "recorded" and bias.mean == pytest.approx(0.1)
    with torch.no_grad():
        layer.weight.mul_(2.0)  # an unrecorded change the values still show, at any dtype
    weight, _ = resolved(layer, rec.events_for(layer))
    assert weight.origin == "reconciled" and "gain is 3" in weight.note


@pytest.mark.parametrize("bias", [True, False])
def test_recorded_rai_moments_match_a_monte_carlo_of_the_sampler(bias) -> None:
    """The record's entry mean and σ_w² = fan_in·Var (1/cols chance of the Beta(2, 1) draw, cols = fan_in
    + 1 with a bias, fan_in without) against 200 draws of `relulint.init.sample_rai` (12,800 rows), within
    5 standard errors; at fan_in = 4 the two column counts give means 0.133 and 0.167, 18 SE apart."""
    from relulint.init import rai_, sample_rai

    with InitRecorder() as rec:
        layer = rai_(nn.Linear(4, 64, bias=bias), generator=torch.Generator().manual_seed(3))
    weight, _ = resolved(layer, rec.events_for(layer))
    assert weight.law == "rai" and weight.origin == "recorded"
    w, _ = sample_rai(64, 4, bias=bias, batch=(200,), generator=torch.Generator().manual_seed(4))
    x = w.double().reshape(-1)
    n = x.numel()
    assert weight.mean == pytest.approx(float(x.mean()), abs=5 * float(x.std()) / math.sqrt(n))
    var = float(x.var())
    fourth = float(((x - x.mean()) ** 4).mean())
    se_var = math.sqrt((fourth - var**2) / n)
    assert weight.sigma2 / 4 == pytest.approx(var, abs=5 * se_var)
