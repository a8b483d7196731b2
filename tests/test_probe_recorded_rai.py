"""A chain initialised by `relulint.init.rai_` (as the recorder records it) is sampled by the batched RAI
sampler on the recorded arguments (`dying` §4.1, Eq. 4.2, Appendix G), and agrees with rebuilding the model
per sample. Tolerances: two estimates agree within 4 combined standard errors."""

from __future__ import annotations

import math

import pytest
import torch
from probe_helpers import RaiMLP, loaded_model, make_chain, recorded_chain

from relulint.probe import probe_chain
from relulint.probe.laws import Law, draw_rai, rai_law, resolve_bias, resolve_weight
from relulint.theory.dying import beta_moments, rai_sigma_w


def se2(p1: float, n1: int, p2: float, n2: int) -> float:
    p = (p1 * n1 + p2 * n2) / (n1 + n2)
    return math.sqrt(max(p * (1.0 - p), 1.0 / (n1 + n2)) * (1.0 / n1 + 1.0 / n2))


def test_the_recorded_rai_chain_resolves_to_the_batched_laws() -> None:
    chain = recorded_chain(lambda: RaiMLP(1, [2] * 4))
    first, *rest = chain.layers
    he = resolve_weight(first.weight_init, first.in_features, first.out_features)
    assert he == Law("normal", std=math.sqrt(2.0))  # He normal on the first layer (dying §4.1)
    assert resolve_bias(first.bias_init, first.in_features) == Law("constant", mean=0.0)
    for layer in rest:
        law = resolve_weight(layer.weight_init, layer.in_features, layer.out_features)
        assert law is not None and law.kind == "rai" and law.positive == ("beta", 2.0, 1.0)
        assert law.sigma_w == pytest.approx(rai_sigma_w(*beta_moments(2.0, 1.0)), rel=1e-6)
        assert resolve_bias(layer.bias_init, layer.in_features) == law


def test_recorded_rai_runs_batched_and_agrees_with_rebuilding_per_sample() -> None:
    factory = lambda: RaiMLP(1, [2] * 5)  # noqa: E731
    chain = recorded_chain(factory)
    loaded = loaded_model(factory)
    n1, n2 = 20_000, 2_000
    batched = probe_chain(loaded, chain, samples=n1, seed=1, device="cpu")
    slow = probe_chain(loaded, chain, samples=n2, seed=2, device="cpu", path="reinstantiate")
    assert batched.method.startswith("batched") and slow.method == "reinstantiate"
    assert not any("custom" in note or "unknown" in note for note in batched.notes)
    assert abs(batched.estimate - slow.estimate) <= 4 * se2(batched.estimate, n1, slow.estimate, n2)
    # not toothless: the symmetric He chain of the same shape dies several times as often
    he = probe_chain(None, make_chain(1, [2] * 5, bias=True), samples=n2, seed=3, device="cpu")
    assert he.estimate - batched.estimate > 4 * se2(he.estimate, n2, batched.estimate, n1)


@pytest.mark.parametrize(
    ("dist", "expected"),
    [
        ("Beta(2, 1)", ("beta", 2.0, 1.0)),
        ("Beta(3, 1)", ("beta", 3.0, 1.0)),
        ("Beta(1, 2)", ("beta", 1.0, 2.0)),
        ("Uniform(0, 1)", ("uniform", 0.0, 1.0)),
        ("Beta(2, 3)", None),  # no closed-form inverse CDF: the model's own construction samples it
        ("Gamma(2, 1)", None),
        ("Uniform(-1, 1)", None),  # P must live on [0, M]
    ],
)
def test_rai_law_reads_the_recorded_dist(dist: str, expected: tuple[str, float, float] | None) -> None:
    law = rai_law({"dist": dist})
    assert (law.positive if law is not None else None) == expected


def test_rai_law_refuses_moments_that_are_not_the_named_laws() -> None:
    assert rai_law({"dist": "Beta(2, 1)", "mu1": 0.5, "mu2": 1 / 3}) is None
    assert rai_law({"dist": "Beta(2, 1)", "mu1": 2 / 3, "mu2": 0.5, "sigma_w": 0.9}) == Law(
        "rai", sigma_w=0.9
    )


@pytest.mark.parametrize("dist", ["Beta(2, 1)", "Beta(3, 1)", "Beta(1, 2)", "Uniform(0, 1)"])
def test_the_positive_entry_has_the_laws_moments(dist: str) -> None:
    """One input and no bias: the one column is the positive entry; its mean and second moment are P's."""
    law = rai_law({"dist": dist})
    assert law is not None
    n = 200_000
    gen = torch.Generator().manual_seed(5)
    weight, _ = draw_rai(n, 1, 1, False, gen, dtype=torch.float64, counter=None, law=law)
    x = weight.flatten()
    name, a, b = law.positive
    mean, second = ((a + b) / 2, (a * a + a * b + b * b) / 3) if name == "uniform" else beta_moments(a, b)
    assert bool((x >= 0).all())
    assert abs(float(x.mean()) - mean) <= 4 * math.sqrt((second - mean**2) / n)
    fourth = float((x**4).mean())
    assert abs(float((x**2).mean()) - second) <= 4 * math.sqrt(max(fourth - second**2, 1e-12) / n)


def test_the_recorded_sigma_w_scales_the_gaussian_entries() -> None:
    """Fan-in 400: almost every entry is Gaussian N(0, σ_w² / fan_in) (Appendix G), σ_w as recorded."""
    law = rai_law({"dist": "Beta(2, 1)", "sigma_w": 1.5})
    assert law is not None
    weight, _ = draw_rai(
        50, 20, 400, False, torch.Generator().manual_seed(6), dtype=torch.float64, counter=None, law=law
    )
    rows = weight.reshape(-1, 400)
    bulk = rows.sort(dim=1).values[:, :-1]  # each row without its largest entry (the positive draw)
    assert float(bulk.std()) * math.sqrt(400) == pytest.approx(1.5, rel=0.02)
