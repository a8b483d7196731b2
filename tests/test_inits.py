"""relulint.init_*: every recorded init path, every fingerprint class, and their reconciliation (real modules)."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
from torch import nn

from relulint.init import rai_
from relulint.init_fingerprint import fingerprint
from relulint.init_reconcile import describe_layer, resolve
from relulint.init_recorder import InitRecorder
from relulint.options import Options
from relulint.records.loaded import InitEvent, LoadedModel, Target
from relulint.records.location import Location


def line_of(marker: str) -> int:
    """The line of this file that contains ``marker`` (so tests do not hard-code line numbers)."""
    with open(__file__, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if marker in text and "line_of(" not in text:
                return number
    raise AssertionError(marker)


def loaded(module: nn.Module, events: tuple[InitEvent, ...]) -> LoadedModel:
    return LoadedModel(
        target=Target("test"),
        name=type(module).__name__,
        module=module,
        path=__file__,
        location=Location(__file__, 1),
        module_locations={},
        init_events=events,
    )


def of(events: tuple[InitEvent, ...], param: str) -> list[InitEvent]:
    return [e for e in events if e.param == param]


# ----------------------------------------------------------------------------------------- recording


def test_default_reset_parameters_is_recorded_as_pytorch_default() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(16, 32)  # MARK-default
    events = rec.events_for(layer)
    (weight,) = of(events, "weight")
    (bias,) = of(events, "bias")
    assert weight.kind == "kaiming_uniform" and weight.source == "reset_parameters"
    assert weight.args["a"] == pytest.approx(math.sqrt(5))
    assert bias.kind == "uniform" and bias.args["b"] == pytest.approx(1 / 4)
    assert weight.location == Location(weight.location.path, line_of("MARK-default"))
    assert weight.location.path.endswith("test_inits.py")
    w, b = describe_layer(loaded(layer, events), "")
    assert w.law == "pytorch-default" and w.symmetric and w.origin == "recorded"
    assert w.sigma2 == pytest.approx(1 / 3)
    assert b.law == "pytorch-default" and b.sigma2 == pytest.approx(1 / (3 * 16))


def test_nn_init_call_records_arguments_and_only_the_outermost_call() -> None:
    layer = nn.Linear(8, 8)
    with InitRecorder() as rec:
        nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")  # MARK-nninit
    events = rec.events_for(layer)
    assert [e.kind for e in events] == ["kaiming_normal"]  # not also the inner tensor.normal_
    (event,) = events
    assert event.source == "nn.init"
    assert event.args == {"a": 0, "mode": "fan_out", "nonlinearity": "relu"}
    assert event.location.line == line_of("MARK-nninit")


@pytest.mark.parametrize(
    ("call", "kind", "args"),
    [
        (lambda w: w.data.normal_(0.0, 0.02), "normal", {"mean": 0.0, "std": 0.02}),
        (lambda w: w.data.uniform_(-0.1, 0.1), "uniform", {"from": -0.1, "to": 0.1}),
        (lambda w: w.data.fill_(0.5), "constant", {"value": 0.5}),
        (lambda w: w.data.zero_(), "zeros", {}),
        (lambda w: w.data.copy_(torch.ones(4, 4)), "copy", {"src_shape": [4, 4]}),
        (lambda w: w.data.exponential_(), "exponential", {"lambd": 1.0}),
    ],
)
def test_in_place_data_methods_are_recorded(call, kind, args) -> None:
    layer = nn.Linear(4, 4)
    with InitRecorder() as rec:
        with torch.no_grad():
            call(layer.weight)
    (event,) = of(rec.events_for(layer), "weight")
    assert event.kind == kind and event.source == "tensor-method"
    assert dict(event.args) == args


def test_init_inside_model_apply_has_source_apply() -> None:
    def init_fn(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)  # MARK-apply
            module.bias.data.fill_(0.1)

    with InitRecorder() as rec:
        model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
        model.apply(init_fn)
    events = rec.events_for(model)
    last = of(events, "0.weight")[-1]
    assert last.kind == "xavier_uniform" and last.source == "apply"
    assert last.location.line == line_of("MARK-apply")
    assert of(events, "2.bias")[-1].source == "apply"


def test_overwrites_keep_every_event_and_the_last_one_wins() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(64, 64)
        nn.init.orthogonal_(layer.weight)
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    events = of(rec.events_for(layer), "weight")
    assert [e.kind for e in events] == ["kaiming_uniform", "orthogonal", "kaiming_normal"]
    info, _ = describe_layer(loaded(layer, rec.events_for(layer)), "")
    assert info.law == "kaiming-normal" and info.sigma2 == pytest.approx(2.0)


def test_partial_init_and_tied_weights() -> None:
    with InitRecorder() as rec:
        a = nn.Linear(4, 4)
        b = nn.Linear(4, 4)
        b.weight = a.weight  # tied
        with torch.no_grad():
            a.weight[0].fill_(1.0)
    model = nn.ModuleDict({"a": a, "b": b})
    events = rec.events_for(model)
    assert of(events, "a.weight")[-1].args.get("partial") is True
    assert of(events, "b.weight")[-1].kind == "constant"


def test_recorder_restores_everything_even_on_exceptions() -> None:
    originals = (torch.nn.init.kaiming_uniform_, torch.Tensor.uniform_, torch.Tensor.copy_)
    with pytest.raises(RuntimeError, match="boom"):
        with InitRecorder():
            assert torch.nn.init.kaiming_uniform_ is not originals[0]
            nn.Linear(2, 2)
            raise RuntimeError("boom")
    assert (torch.nn.init.kaiming_uniform_, torch.Tensor.uniform_, torch.Tensor.copy_) == originals
    assert "uniform_" not in torch.Tensor.__dict__


def test_nested_recorders_both_see_events() -> None:
    with InitRecorder() as outer:
        with InitRecorder() as inner:
            layer = nn.Linear(3, 3)
        nn.init.zeros_(layer.bias)
    assert len(inner.events_for(layer)) == 2
    assert len(outer.events_for(layer)) == 3
    assert "uniform_" not in torch.Tensor.__dict__


def test_rai_is_recorded_as_rai_not_as_copy() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(6, 6)
        rai_(layer, generator=torch.Generator().manual_seed(0))
    kinds = [e.kind for e in of(rec.events_for(layer), "weight")]
    assert kinds == ["kaiming_uniform", "rai"]
    assert of(rec.events_for(layer), "weight")[-1].source == "relulint.init"


# ---------------------------------------------------------------------------------------- fingerprint


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_fingerprint_zero_and_constant() -> None:
    assert fingerprint(torch.zeros(3, 3)).law == "zeros"
    info = fingerprint(torch.full((8,), 10.0), "bias")
    assert info.law == "constant" and info.symmetric is False and info.mean == 10.0
    assert "positive constant bias" in info.note
    assert fingerprint(torch.full((2,), -1.0), "bias").note is None


def test_fingerprint_orthogonal_even_when_small() -> None:
    for shape in [(2, 2), (16, 32), (32, 16)]:
        w = torch.empty(shape)
        nn.init.orthogonal_(w, gain=1.5, generator=gen())
        info = fingerprint(w)
        assert info.law == "orthogonal" and info.symmetric
        assert info.args["gain"] == pytest.approx(1.5, rel=1e-4)
    assert fingerprint(torch.eye(4)).law == "identity"
    assert fingerprint(torch.randn(16, 16, generator=gen())).law != "orthogonal"


@pytest.mark.parametrize(
    ("init", "law", "sigma2"),
    [
        (lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=gen()), "pytorch-default", 1 / 3),
        (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=gen()), "kaiming-normal", 2.0),
        (lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=gen()), "kaiming-uniform", 2.0),
        (lambda w: nn.init.xavier_uniform_(w, generator=gen()), "xavier-uniform", 2 * 128 / (128 + 64)),
        (lambda w: nn.init.normal_(w, std=0.02, generator=gen()), "normal", 128 * 0.02**2),
        (lambda w: nn.init.trunc_normal_(w, std=1.0, a=-2.0, b=2.0, generator=gen()), "trunc-normal", None),
        (lambda w: nn.init.sparse_(w, 0.5, generator=gen()), "sparse", None),
    ],
)
def test_fingerprint_names_symmetric_laws_and_measures_sigma2(init, law, sigma2) -> None:
    w = torch.empty(64, 128)
    init(w)
    info = fingerprint(w)
    assert info.law == law and info.symmetric is True and info.origin == "fingerprint"
    if sigma2 is not None:
        assert info.sigma2 == pytest.approx(sigma2, rel=0.06)


def test_fingerprint_pytorch_default_bias_needs_fan_in() -> None:
    layer = nn.Linear(64, 512)
    assert fingerprint(layer.bias, "bias", fan_in=64).law == "pytorch-default"
    assert fingerprint(layer.bias, "bias").law == "uniform"


def test_fingerprint_asymmetric_values() -> None:
    w = torch.randn(16, 16, generator=gen()).abs()
    info = fingerprint(w)
    assert info.symmetric is False and "all entries ≥ 0" in info.note
    shifted = torch.randn(32, 32, generator=gen()) + 0.5
    assert fingerprint(shifted).symmetric is False


def test_fingerprint_rai_signature_of_the_real_rai() -> None:
    layer = nn.Linear(64, 128)
    rai_(layer, generator=gen(3))
    info = fingerprint(layer.weight)
    assert info.law == "rai" and info.symmetric is False
    assert info.args["sigma_w"] == pytest.approx(0.6007, rel=0.1)
    assert 0.4 < info.args["positive_mean"] < 1.0 and info.args["positive_max"] <= 1.0
    # a symmetric heavy-tailed law is not RAI
    laplace = torch.distributions.Laplace(0.0, 1.0).sample((128, 64))
    assert fingerprint(laplace).law != "rai"


def test_fingerprint_too_few_entries() -> None:
    info = fingerprint(torch.randn(2, 2, generator=gen()))
    assert info.law == "unknown" and info.symmetric is None
    assert "too few entries to fingerprint" in info.note


# ------------------------------------------------------------------------------------- reconciliation


def test_fingerprint_overrides_a_record_contradicted_by_an_unrecorded_op() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(32, 32)
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.weight.data.abs_()  # not recorded
    info, _ = describe_layer(loaded(layer, rec.events_for(layer)), "")
    assert info.origin == "reconciled" and info.symmetric is False
    assert "kaiming_normal_" in info.note and "trusting the values" in info.note


def test_variance_changed_after_the_recorded_init() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(64, 64)
        layer.weight.data.mul_(0.01)  # not recorded
    info, _ = describe_layer(loaded(layer, rec.events_for(layer)), "")
    assert info.origin == "reconciled" and "variance" in info.note
    assert info.sigma2 == pytest.approx(1 / 3 * 1e-4, rel=0.2)


def test_small_tensors_trust_the_record() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(2, 2)
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    info, bias = describe_layer(loaded(layer, rec.events_for(layer)), "")
    assert info.law == "kaiming-normal" and info.origin == "recorded" and info.symmetric is True
    assert "too few entries" in info.note
    assert bias.law == "pytorch-default"


def test_copy_takes_the_law_from_the_values() -> None:
    with InitRecorder() as rec:
        layer = nn.Linear(64, 64)
        q, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen()))
        layer.weight.data.copy_(q)
    info, _ = describe_layer(loaded(layer, rec.events_for(layer)), "")
    assert info.law == "orthogonal" and info.origin == "reconciled" and "copy" in info.note


def test_no_record_is_a_pure_fingerprint() -> None:
    layer = nn.Linear(64, 64)
    info = resolve((), layer.weight, "weight")
    assert info.origin == "fingerprint" and info.law == "pytorch-default"
    assert resolve((), None) is None


def test_describe_layer_missing_bias_and_missing_module() -> None:
    with InitRecorder() as rec:
        model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU())
    weight, bias = describe_layer(loaded(model, rec.events_for(model)), "0")
    assert bias is None and weight.law == "pytorch-default"
    assert describe_layer(loaded(model, ()), "missing") == (None, None)


def test_parameter_created_from_randn_is_fingerprinted() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(64, 64) * math.sqrt(2 / 64))
            self.bias = nn.Parameter(torch.zeros(64))

    with InitRecorder() as rec:
        module = Custom()
    assert rec.events_for(module) == ()
    weight, bias = describe_layer(loaded(module, ()), "")
    assert weight.law == "kaiming-normal" and weight.origin == "fingerprint"
    assert bias.law == "zeros"


def test_module_is_importable_without_side_effects() -> None:
    assert "uniform_" not in torch.Tensor.__dict__
    assert sys.modules["relulint.init_recorder"].InitRecorder is InitRecorder


def test_json_report_carries_each_layers_init(tmp_path) -> None:
    """`relulint check --format json` on a real file: chains[].layers[].init.{weight,bias} (issue contract)."""
    from relulint.api import check
    from relulint.render import render

    (tmp_path / "net.py").write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = nn.Linear(32, 32)\n"
        "        self.b = nn.Linear(32, 1)\n"
        "        nn.init.kaiming_normal_(self.a.weight, mode='fan_out', nonlinearity='relu')\n"
        "        nn.init.constant_(self.a.bias, 0.1)\n"
        "    def forward(self, x):\n"
        "        return self.b(self.a(x).relu())\n"
    )
    report = check(f"{tmp_path / 'net.py'}:Net", cwd=tmp_path)
    document = json.loads(render(report, "json", options=Options()))
    first, last = document["targets"][0]["chains"][0]["layers"]
    assert first["module"] == "a" and first["line"] == 5
    weight, bias = first["init"]["weight"], first["init"]["bias"]
    assert weight["law"] == "kaiming-normal" and weight["origin"] == "recorded"
    assert weight["args"]["mode"] == "fan_out" and weight["sigma2"] == pytest.approx(2.0)
    assert bias["law"] == "constant" and bias["mean"] == pytest.approx(0.1) and bias["origin"] == "recorded"
    assert last["init"]["weight"]["law"] == "pytorch-default"


@pytest.mark.parametrize("size", [1, 2, 3, 4, 63, 64, 4096])
def test_median_matches_numpy_on_odd_even_and_tied_sizes(size: int) -> None:
    import numpy as np

    from relulint.init_fingerprint import _median

    draws = np.random.default_rng(size)
    for values in (draws.standard_normal(size), draws.integers(0, 3, size).astype(float)):
        assert _median(values.reshape(-1, 1)) == np.median(values)


def test_median_of_values_with_nan_is_nan_as_numpy() -> None:
    import numpy as np

    from relulint.init_fingerprint import _median

    assert math.isnan(_median(np.array([1.0, float("nan"), 2.0])))
