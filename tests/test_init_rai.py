"""relulint.init: RAI (`dying` §4.1, Eq. 4.2, Appendix G) — moments, structure, seeding, layer choice, and the
Monte-Carlo check of `dying` §5 (88 % born dead under He → 22 % under RAI, 10-layer width-2 net, d_in = 1).

Layer count: `dying` §5's "10-layer ReLU network" is an L = 10 network in the paper's count (Eq. 2.1): nine
hidden ReLU layers of width 2 plus a linear output layer. relulint counts ReLU layers, so the MC runs 9.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relulint.init import apply_rai, he_normal, rai_, rai_plan, rai_sigma_w_for, sample_rai
from relulint.theory.dying import beta_moments, p_born_dead_lower_din1, rai_sigma_w
from relulint.theory.layers import relu_layers_from_paper_layers


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sigma_w_is_computed_from_the_law_by_eq_4_2() -> None:
    assert rai_sigma_w_for() == pytest.approx(0.6007, abs=1e-4)
    assert rai_sigma_w_for() == pytest.approx(rai_sigma_w(*beta_moments(2, 1)), rel=1e-6)
    other = torch.distributions.Beta(torch.tensor(3.0), torch.tensor(1.0))
    assert rai_sigma_w_for(other) == pytest.approx(rai_sigma_w(*beta_moments(3, 1)), rel=1e-6)
    with pytest.raises(ValueError, match="on \\[0, M\\]"):
        rai_sigma_w_for(torch.distributions.Normal(0.0, 1.0))


def test_exactly_one_entry_per_row_of_v_from_the_positive_law() -> None:
    # a law far from the Gaussian bulk (σ_w ≈ 0.014 by Eq. 4.2) makes the chosen entry identifiable
    law = torch.distributions.Uniform(torch.tensor(0.99), torch.tensor(0.999))
    w, b = sample_rai(5, 7, batch=(4000,), dist=law, generator=gen())
    v = torch.cat([w, b.unsqueeze(-1)], dim=-1)  # [W, b], (4000, 5, 8)
    chosen = v >= 0.99
    assert torch.all(chosen.sum(-1) == 1)
    # the index is uniform over the fan_in + 1 columns, the bias included
    counts = chosen.sum(dim=(0, 1)).double()
    expected = 4000 * 5 / 8
    assert torch.all((counts - expected).abs() < 5 * math.sqrt(expected))


def test_moments_of_the_produced_weights() -> None:
    fan_in, cols, n = 16, 17, 20000
    w, b = sample_rai(8, fan_in, batch=(n,), generator=gen(1), dtype=torch.float64)
    v = torch.cat([w, b.unsqueeze(-1)], dim=-1)
    mu1, mu2 = beta_moments(2, 1)
    sigma2 = rai_sigma_w(mu1, mu2) ** 2 / fan_in
    mean = mu1 / cols
    second = mu2 / cols + (1 - 1 / cols) * sigma2
    m = v.mean().item()
    s = (v**2).mean().item()
    count = v.numel()
    assert abs(m - mean) < 4 * math.sqrt(second / count)
    assert abs(s - second) < 4 * math.sqrt((v**4).mean().item() / count)
    # the largest entry of each row is the Beta(2, 1) draw most of the time: mean ≈ 2/3, support [0, 1]
    top = v.max(dim=-1).values
    assert top.max() <= 1.0 + 6 * math.sqrt(sigma2)


def test_rai_on_a_linear_and_first_layer_he() -> None:
    layer = nn.Linear(256, 512)
    rai_(layer, first_layer=True, generator=gen())
    assert torch.all(layer.bias == 0)
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.02)
    assert abs(layer.weight.mean().item()) < 4 * math.sqrt(2 / 256) / math.sqrt(256 * 512)
    rai_(layer, generator=gen())
    v = torch.cat([layer.weight, layer.bias.unsqueeze(1)], dim=1)
    assert (v.max(dim=1).values > 0.2).float().mean() > 0.8  # the Beta entry stands out of N(0, 0.6²/256)


def test_generator_reproduces_and_leaves_the_global_rng_alone() -> None:
    a, b = nn.Linear(8, 8), nn.Linear(8, 8)
    state = torch.get_rng_state()
    rai_(a, generator=gen(7))
    rai_(b, generator=gen(7))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    rai_(b, generator=gen(8))
    assert not torch.equal(a.weight, b.weight)


def test_rai_rejects_non_linear_layers() -> None:
    with pytest.raises(TypeError):
        rai_(nn.ReLU())


def test_rai_plan_sequential_breaks_at_other_activations() -> None:
    model = nn.Sequential(
        nn.Linear(3, 4),
        nn.Tanh(),
        nn.Linear(4, 4),
        nn.ReLU(),
        nn.Dropout(),
        nn.Linear(4, 4),
        nn.ReLU(),
        nn.Linear(4, 1),
    )
    assert rai_plan(model) == {"2": True, "5": False, "7": False}


def test_rai_plan_functional_relu_falls_back_to_registration_order() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(2, 4)
            self.hidden = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            self.out = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.first(x))
            for layer in self.hidden:
                x = torch.relu(layer(x))
            return self.out(x)

    plan = rai_plan(Net())
    assert plan == {"first": True, "hidden.0": False, "hidden.1": False, "hidden.2": False, "out": False}


def test_apply_rai_initializes_every_chain_layer() -> None:
    model = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    before = model[2].weight.clone()
    assert apply_rai(model, generator=gen()) is model
    assert torch.all(model[0].bias == 0)
    assert not torch.equal(before, model[2].weight)
    assert (model[2].weight.max(dim=1).values > 0.3).float().mean() > 0.5


def test_apply_rai_leaves_the_global_rng_alone() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    state = torch.get_rng_state()
    apply_rai(model, generator=gen())
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------------------------- dying §5 Monte Carlo


def born_dead_fraction(init: str, samples: int, relu_layers: int, width: int, seed: int) -> float:
    """Fraction of ``samples`` nets (d_in = 1) constant on D = 64 points of [−√3, √3] (`dying` Eq. 3.1, §5).

    Born dead ⇔ some hidden layer is zero for every x in D (`collapse` Lemma 1). The first layer is He with
    zero bias in both cases (`dying` §4.1); later layers are He with zero bias, or RAI drawn by the same
    `sample_rai` that `rai_` uses. D is §5's training domain [−√3, √3]; RAI's biases make the probability
    depend on D (not on its density: 16 and 256 points give the same figure).
    """
    g = gen(seed)
    x = torch.linspace(-math.sqrt(3), math.sqrt(3), 64, dtype=torch.float64).view(1, -1, 1)
    h = torch.relu(
        x @ he_normal(width, 1, batch=(samples,), generator=g, dtype=torch.float64).transpose(1, 2)
    )
    dead = ~h.any(dim=2).any(dim=1)
    for _ in range(relu_layers - 1):
        if init == "he":
            w = he_normal(width, width, batch=(samples,), generator=g, dtype=torch.float64)
            b = torch.zeros(samples, width, dtype=torch.float64)
        else:
            w, b = sample_rai(width, width, batch=(samples,), generator=g, dtype=torch.float64)
        h = torch.relu(h @ w.transpose(1, 2) + b.unsqueeze(1))
        dead |= ~h.any(dim=2).any(dim=1)
    return dead.double().mean().item()


def test_monte_carlo_he_88_percent_to_rai_22_percent() -> None:
    samples = 4000
    relu_layers = relu_layers_from_paper_layers(10)  # `dying` §5's 10-layer net: 9 hidden ReLU layers
    assert relu_layers == 9
    he = born_dead_fraction("he", samples, relu_layers, 2, seed=0)
    rai = born_dead_fraction("rai", samples, relu_layers, 2, seed=1)

    def se(p: float) -> float:
        return math.sqrt(p * (1 - p) / samples)

    # `dying` Thm 3.3's lower bound p_low(10, 2) = 0.870; the Markov chain of `collapse` Prop. 10 (0.874)
    # sits slightly below Monte Carlo (0.880 with 400 000 nets), so the paper's 88 % is the reference.
    assert he >= p_born_dead_lower_din1(relu_layers, 2) - 4 * se(0.88)
    assert abs(he - 0.88) <= 4 * se(0.88)
    assert abs(rai - 0.22) <= 4 * se(0.22)
