"""The verdict's edges: the probe never overrules a proof with noise (it clears a chain only when its
whole 95 % interval lies at or below p), a zero-width layer is a usage error, json names its two upper
bounds apart, and the text report shows "—" for a protected chain and every model's full name."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest
from graph_models import findings, run_json, thm8
from relulint.rules.rl101_born_dead import BornDeadReluChain
from torch import nn
from typer.testing import CliRunner

from relulint.api import check
from relulint.cli import app
from relulint.options import Options
from relulint.probe import wilson_interval
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts, ProbeResult
from relulint.records.report import Severity
from relulint.registry import RuleContext
from relulint.render import render
from relulint.verdict import chain_summary, decide

REPO = Path(__file__).resolve().parents[1]
HE = InitInfo(law="kaiming-normal", symmetric=True)


def chain_of(width: int, depth: int) -> Chain:
    hidden = [
        Layer(f"l{i}", 1 if i == 0 else width, width, False, "relu", weight_init=HE) for i in range(depth)
    ]
    return Chain(0, (*hidden, Layer("out", width, 1, False, None)), 1, 1, "output", Location("model.py", 5))


def probe_of(dead: int, samples: int) -> ProbeResult:
    return ProbeResult(samples, dead, wilson_interval(dead, samples), 0, "cpu", 0.1)


def rl101(chain: Chain, probe: ProbeResult | None) -> list:
    facts = ModelFacts(
        "model.py:Net", "Net", "model.py", Location("model.py", 1), "fx", None, (chain,),
        probes={0: probe} if probe else {},
    )  # fmt: skip
    return list(BornDeadReluChain().check(facts, RuleContext(Options())))


# ------------------------------------------------------------------------------ the probe's say


def test_decide_keeps_the_bound_unless_the_interval_is_on_one_side() -> None:
    bound, p = 0.023, 0.01
    assert decide(bound, None, p) == (bound, "bound")
    assert decide(bound, probe_of(0, 1), p) == (bound, "bound")  # interval 0–79 %
    assert decide(bound, probe_of(2, 300), p) == (bound, "bound")  # 0.67 %, interval up to 2.4 %
    cleared = probe_of(0, 2000)  # interval up to 0.19 %
    assert cleared.ci[1] < p and decide(bound, cleared, p) == (0.0, "probe")
    measured = probe_of(500, 1000)  # wholly above p: the measured value is the better number
    assert decide(0.9, measured, p) == (0.5, "probe")


def test_a_one_sample_probe_does_not_silence_rl101() -> None:
    chain = chain_of(7, 3)  # 1 − (1 − 2^-7)^3 = 2.3 %
    (finding,) = rl101(chain, probe_of(0, 1))
    assert finding.details["source"] == "bound" and finding.details["probability"] == pytest.approx(
        thm8(7, 7, 7)
    )
    assert "The probe saw 0 of 1 inits born dead" in finding.message and "the bound stands" in finding.message
    assert finding.details["probe_ci"] == pytest.approx(list(wilson_interval(0, 1)))


def test_300_samples_with_an_interval_reaching_above_p_keep_the_finding() -> None:
    probe = probe_of(2, 300)
    assert probe.estimate < 0.01 < probe.ci[1]
    (finding,) = rl101(chain_of(7, 3), probe)
    assert "2 of 300" in finding.message and finding.details["probe"] == pytest.approx(2 / 300)
    summary = chain_summary(chain_of(7, 3), 0.01, probe)
    assert summary["verdict"] == "at risk" and summary["p_probe"] == pytest.approx(2 / 300)


def test_an_interval_wholly_below_p_clears_the_chain() -> None:
    probe = probe_of(3, 4000)  # 0.075 %, interval up to 0.22 %
    assert rl101(chain_of(7, 3), probe) == []
    assert chain_summary(chain_of(7, 3), 0.01, probe)["verdict"] == "ok"


def test_the_readme_example_with_one_probe_sample_still_fails(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    args = ["check", "examples/pinn.py:DeepNarrowPINN", "--probe", "--samples", "1", "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    (finding,) = findings(json.loads(result.stdout))
    assert finding["details"]["source"] == "bound" and finding["details"]["probability"] == pytest.approx(
        thm8(*[5] * 16)
    )


NARROW = """
from torch import nn


def Net():
    return nn.Sequential(
        nn.Linear(1, 7), nn.ReLU(), nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 1)
    )
"""


def test_a_real_300_sample_probe_cannot_clear_a_two_percent_chain(tmp_path, monkeypatch) -> None:
    """Whatever 300 draws give, the Wilson interval reaches above 1 % (k = 0 already reaches 1.26 %)."""
    assert wilson_interval(0, 300)[1] > 0.01
    code, doc = run_json(
        tmp_path, monkeypatch, NARROW, "Net", "--probe", "--samples", "300", "--points", "32"
    )
    (finding,) = findings(doc)
    assert code == 1 and finding["details"]["probability"] >= thm8(7, 7, 7) - 1e-12


# ------------------------------------------------------------------------------- zero width


ZERO = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(2, 0)
        self.decode = nn.Linear(0, 1)

    def forward(self, x):
        return self.decode(torch.relu(self.encode(x)))
"""


@pytest.mark.parametrize("extra", [[], ["--exit-zero"]])
def test_a_zero_width_layer_is_a_usage_error(tmp_path, monkeypatch, extra) -> None:
    (tmp_path / "model.py").write_text(textwrap.dedent(ZERO), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, ["check", "model.py:Net", *extra])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "`encode`" in errors[0] and "Linear(2, 0)" in errors[0]
    assert "Traceback" not in result.output
    # torch's own "zero-element" warning (pointing at relulint's recorder) does not come before the error
    assert not [w for w in caught if "zero-element" in str(w.message)], [str(w.message) for w in caught]


# ------------------------------------------------------------------------------- json naming


HALF_NORMED = """
from torch import nn


def Net():
    layers = [nn.Linear(1, 3), nn.ReLU()]
    for i in range(11):
        layers += [nn.Linear(3, 3), nn.BatchNorm1d(3), nn.ReLU()] if i % 2 else [nn.Linear(3, 3), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(3, 1))
"""


def test_json_names_the_two_upper_bounds_apart(tmp_path, monkeypatch) -> None:
    """12 ReLU layers of width 3, 5 behind a BatchNorm: the bound over all 12 and over the 7 that can die."""
    code, doc = run_json(tmp_path, monkeypatch, HALF_NORMED, "Net")
    (chain,) = doc["targets"][0]["chains"]
    assert chain["p_upper_all"] == chain["p_upper"] == pytest.approx(thm8(*[3] * 12), rel=1e-12)
    assert chain["p_upper_unprotected"] == pytest.approx(thm8(*[3] * 7), rel=1e-12)
    (finding,) = findings(doc)
    details = finding["details"]
    assert "p_upper" not in details
    assert details["p_upper_unprotected"] == chain["p_upper_unprotected"]
    assert details["p_upper_all"] == chain["p_upper_all"]
    assert details["probability"] == details["p_upper_unprotected"]


# ------------------------------------------------------------------------------- text report


def plain(report) -> str:
    return render(report, "text", options=Options(), color=False)


def test_a_protected_chain_prints_a_dash() -> None:
    def net() -> nn.Module:
        layers: list[nn.Module] = [nn.Linear(1, 3), nn.BatchNorm1d(3), nn.ReLU()]
        for _ in range(9):
            layers += [nn.Linear(3, 3), nn.BatchNorm1d(3), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(3, 1))

    text = plain(check(net()))
    row = next(line for line in text.splitlines() if "3×10" in line)
    assert "—" in row and "≤ 0.0 %" not in text and "protected" in row


def test_a_long_model_name_is_printed_whole() -> None:
    name = "TabularResidualNetworkWithPreBatchNormBlocksAndAnUnusuallyDescriptiveClassNameForTheReport"
    model_class = type(name, (nn.Sequential,), {})
    text = plain(check(model_class(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))))
    flat = "".join(line.strip("│╭╮╰╯─ ") for line in text.splitlines())
    assert name in flat
    short = plain(check(nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))))
    assert short.splitlines()[0].startswith("╭─ ") and "Sequential" in short.splitlines()[0]


# ------------------------------------------------------------------------------- kill sets


def routed(index: int, widths: list[int], routes: tuple[str, ...] | None, norm: str | None = None) -> Chain:
    hidden = [
        Layer(f"c{index}.{i}", 9, w, False, "relu", norm=norm, weight_init=HE, routes=routes)
        for i, w in enumerate(widths)
    ]
    return Chain(index, (*hidden, Layer(f"c{index}.out", widths[-1], 9, False, None)), 9, 9, "other",
                 Location("model.py", 10 + index))  # fmt: skip


def facts_of(*chains: Chain, probes: dict | None = None) -> ModelFacts:
    return ModelFacts(
        "model.py:Net", "Net", "model.py", Location("model.py", 1), "fx", None, chains, probes=probes or {}
    )


def test_kill_sets_group_by_route_and_drop_what_cannot_die() -> None:
    from relulint.verdict import kill_sets

    chains = (
        routed(0, [4, 4], ("x→output[0]", "x→output[1]")),  # the trunk, on every path of both outputs
        routed(1, [3], ("x→output[0]",)),  # the first head
        routed(2, [2, 2], ()),  # a block with a skip around it
        routed(3, [2], ("x→output[0]",), norm="layernorm"),  # protected by a norm over ≥ 2 features
        routed(4, [5], None),  # a chain the graph could not place: judged alone
    )
    sets = kill_sets(chains)
    # x→output[1] (the trunk alone) lies inside x→output[0] and is left out
    assert [(k.chains, k.routes, k.widths) for k in sets] == [
        ((0, 1), ("x→output[0]",), (4, 4, 3)),
        ((4,), ("chain 4",), (5,)),
    ]
    assert sets[0].bound == pytest.approx(thm8(4, 4, 3), rel=1e-12)


def test_a_probe_on_one_chain_of_a_path() -> None:
    chains = (routed(0, [9] * 4, ("x→output",)), routed(1, [9] * 4, ("x→output",)))
    (finding,) = list(BornDeadReluChain().check(facts_of(*chains), RuleContext(Options())))
    assert finding.details["chains"] == [0, 1] and finding.details["source"] == "bound"
    # a probe cannot clear a chain of a path (it measures it on its own inputs): the bound stands
    cleared = facts_of(*chains, probes={0: probe_of(0, 5000), 1: probe_of(0, 5000)})
    (finding,) = list(BornDeadReluChain().check(cleared, RuleContext(Options())))
    assert finding.details["probability"] == pytest.approx(thm8(*[9] * 8), rel=1e-12)
    # but a chain measured dead more often than the path's bound raises it
    measured = facts_of(*chains, probes={1: probe_of(500, 1000)})
    (finding,) = list(BornDeadReluChain().check(measured, RuleContext(Options())))
    assert finding.details["source"] == "probe" and finding.details["probability"] == 0.5
    assert finding.details["p_upper_unprotected"] == pytest.approx(thm8(*[9] * 8), rel=1e-12)
    assert "The probe measured more on one of its chains alone: 50 %" in finding.message


NEGATIVE = """
    from torch import nn


    def Neg():
        layers = []
        for i in range(5):
            layer = nn.Linear(2 if i == 0 else 16, 16)
            nn.init.normal_(layer.weight, mean=-0.5, std=0.1)
            nn.init.zeros_(layer.bias)
            layers += [layer, nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(16, 1))
"""


def test_negative_mean_init_is_not_passed_by_the_symmetric_bound(tmp_path) -> None:
    (tmp_path / "neg.py").write_text(textwrap.dedent(NEGATIVE))
    report = check(f"{tmp_path / 'neg.py'}:Neg")
    (finding,) = [f for f in report.findings if f.code == "RL101"]
    assert "leaning negative" in finding.message and "does not hold" in finding.message
    probed = check(f"{tmp_path / 'neg.py'}:Neg", probe=True, samples=200, points=32)
    (measured,) = [f for f in probed.findings if f.code == "RL101"]
    assert measured.details["source"] == "probe" and measured.details["probability"] > 0.9


# ------------------------------------------------------------------------ an asymmetric init (RAI)


class RaiNarrow(nn.Module):
    """2 → 3×11 → 1 initialized with relulint's RAI: the symmetric Thm 8 bound (77 %) still bounds it, but
    RAI exists to lower it (dying Fig. 4: 88 % → 22 %), so the bound cannot call it likely dead."""

    def __init__(self) -> None:
        super().__init__()
        from relulint.init import apply_rai

        layers: list[nn.Module] = [nn.Linear(2, 3), nn.ReLU()]
        for _ in range(10):
            layers += [nn.Linear(3, 3), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(3, 1))
        apply_rai(self)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.net(x)


def test_a_bound_over_an_rai_chain_is_a_warning_that_does_not_advise_rai() -> None:
    """Built here, outside relulint's recorder: the pooled values tell RAI (`pool_chain_asymmetry`), and a
    layer's slightly negative sample mean is no "law leaning negative" (`negative_init` asks 3 SE)."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(0)
        report = check(RaiNarrow())
    (rl101,) = [f for f in report.findings if f.code == "RL101"]
    assert (
        rl101.details["probability"] == pytest.approx(thm8(*[3] * 11), rel=1e-12)
        and rl101.details["probability"] > 0.5
    )
    assert rl101.severity is Severity.WARNING and "apply_rai" not in (rl101.fix or "")
    assert "relulint probe" in (rl101.fix or "") and "asymmetric init (RAI) lowers it" in rl101.message
    (chain,) = json.loads(render(report, "json", options=Options()))["targets"][0]["chains"]
    assert chain["verdict"] == "at risk"
    # measured by a probe at ≥ 50 %, the verdict may say likely dead again
    measured = ProbeResult(
        samples=1000, born_dead=700, ci=(0.67, 0.73), near_constant=0, device="cpu", seconds=1
    )
    facts = report.targets[0].facts
    assert chain_summary(facts.chains[0], 0.01, measured)["verdict"] == "likely dead"


def test_a_law_leans_negative_when_recorded_so_or_clearly_so_in_the_values() -> None:
    """`negative_init`: a recorded mean is exact; one read off a 3×3 layer's values must lie 3 standard
    errors below zero (σ² = 0.5 → SE = √(0.5/3/9) = 0.136)."""
    from relulint.chain_facts import negative_init

    def chain_with(info: InitInfo) -> Chain:
        hidden = [Layer(str(i), 3, 3, True, "relu", weight_init=info) for i in range(4)]
        return Chain(0, (*hidden, Layer("out", 3, 1, True, None)), 3, 1, "output", Location("m.py", 1))

    assert negative_init(chain_with(InitInfo("normal", False, 0.5, -0.01, origin="recorded"))) is not None
    assert negative_init(chain_with(InitInfo("custom", False, 0.5, -0.3, origin="fingerprint"))) is None
    assert negative_init(chain_with(InitInfo("custom", False, 0.5, -0.45, origin="fingerprint"))) is not None
