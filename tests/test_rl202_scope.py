"""RL202's scope (`collapse` Eq. 2–3): a shrinking signal is reported when it vanishes (no biases) or when
the biases dominate the output (the network is nearly constant); not when wide layers with PyTorch's small
default biases merely scale it down; a LayerNorm after each ReLU restarts the length map. The map runs over
the hidden layers only (a small output layer is by design: RL actors and critics), and RAI layers follow
RAI's own map (`dying` Thm 4.3, Eq. 4.2), checked against a Monte Carlo of relulint.init's RAI."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from relulint.api import check
from relulint.options import Options
from relulint.records.location import Location
from relulint.records.model_facts import Chain, InitInfo, Layer, ModelFacts
from relulint.registry import RuleContext

HERE = Location("model.py", 1)


def check_facts(facts: ModelFacts) -> list:
    """RL202 alone on hand-made facts."""
    from relulint import registry

    registry._discover()
    return list(registry.all_rules()["RL202"]().check(facts, RuleContext(Options())))


def mlp(width: int, depth: int, *, bias: bool = True, norm_after: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(8 if i == 0 else width, width, bias=bias), nn.ReLU()]
        if norm_after:
            layers.append(nn.LayerNorm(width))
    return nn.Sequential(*layers, nn.Linear(width, 1, bias=bias))


def rl202(model: nn.Module):
    return [f for f in check(model).findings if f.code == "RL202"]


def input_share(model: nn.Sequential, samples: int = 4096) -> float:
    """Monte Carlo: the part of the output's E[q] that depends on the input, 1 − E[q | x = 0] / E[q]."""
    with torch.no_grad():
        x = (torch.rand(samples, 8) * 2 - 1) * 3**0.5
        total = model(x).pow(2).mean().item()
        constant = model(torch.zeros(1, 8)).pow(2).item()
    return 1 - constant / total


def test_wide_default_init_mlp_is_not_reported() -> None:
    torch.manual_seed(0)
    model = mlp(1024, 4)
    assert rl202(model) == []
    assert input_share(model) > 0.05  # the input still drives the output: not nearly constant


def test_deep_narrow_default_init_is_reported_with_biases_dominating(tmp_path) -> None:
    # built from a file, so relulint records PyTorch's default init even on layers too small to fingerprint
    (tmp_path / "narrow.py").write_text(
        "from torch import nn\n\n\ndef Net():\n"
        "    layers = [nn.Linear(8, 5), nn.ReLU()]\n"
        "    for _ in range(15):\n"
        "        layers += [nn.Linear(5, 5), nn.ReLU()]\n"
        "    return nn.Sequential(*layers, nn.Linear(5, 1))\n"
    )
    (finding,) = [f for f in check(f"{tmp_path / 'narrow.py'}:Net").findings if f.code == "RL202"]
    assert finding.details["input_share"] < 0.01 and "The biases dominate" in finding.message


def test_bias_free_decay_is_reported() -> None:
    (finding,) = rl202(mlp(64, 8, bias=False))
    assert finding.details["total"] < 1e-3 and finding.details["q_out"] == finding.details["total"]


def test_layernorm_after_each_relu_restarts_the_length_map() -> None:
    assert rl202(mlp(5, 16, norm_after=True)) == []
    chain = check(mlp(5, 16, norm_after=True)).targets[0].facts.chains[0]
    assert all(layer.norm_after == "layernorm" for layer in chain.hidden)


# ------------------------------------------------------------------ the output layer is not on the path


RL_MODELS = '''
import math

import torch
from torch import nn


class DDPGActor(nn.Module):
    """DDPG (Lillicrap et al.): fan-in uniform hidden layers, final layer from ±3e-3, tanh."""

    def __init__(self, obs: int = 17, act: int = 6):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(obs, 400), nn.Linear(400, 300), nn.Linear(300, act)
        for layer in (self.l1, self.l2):
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.weight, -bound, bound)
        nn.init.uniform_(self.l3.weight, -3e-3, 3e-3)
        nn.init.uniform_(self.l3.bias, -3e-3, 3e-3)

    def forward(self, state):
        return torch.tanh(self.l3(torch.relu(self.l2(torch.relu(self.l1(state))))))


class HeActorSmallHead(nn.Module):
    """A He-initialized hidden stack (6 ReLU layers of width 64) with a ±3e-3 output layer."""

    def __init__(self, obs: int = 11, act: int = 3, width: int = 64, depth: int = 6):
        super().__init__()
        sizes = [obs] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        for layer in self.hidden:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        self.mu = nn.Linear(width, act)
        nn.init.uniform_(self.mu.weight, -3e-3, 3e-3)
        nn.init.zeros_(self.mu.bias)

    def forward(self, state):
        h = state
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return torch.tanh(self.mu(h))


class SB3ActorCritic(nn.Module):
    """Stable-Baselines3 style: orthogonal gain √2 hidden layers, policy head gain 0.01, value head gain 1."""

    def __init__(self, obs: int = 8, act: int = 2, width: int = 64):
        super().__init__()
        self.policy_net = nn.Sequential(nn.Linear(obs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.action_net = nn.Linear(width, act)
        for module, gain in ((self.policy_net, math.sqrt(2)), (self.action_net, 0.01)):
            for layer in module.modules() if isinstance(module, nn.Sequential) else [module]:
                if isinstance(layer, nn.Linear):
                    nn.init.orthogonal_(layer.weight, gain=gain)
                    nn.init.zeros_(layer.bias)

    def forward(self, obs):
        return self.action_net(self.policy_net(obs))


class ZeroHeadCritic(nn.Module):
    """A critic whose value head starts at zero (a common trick), He hidden layers."""

    def __init__(self, obs: int = 12, width: int = 32, depth: int = 5):
        super().__init__()
        layers = []
        for i in range(depth):
            layer = nn.Linear(obs if i == 0 else width, width)
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
            layers += [layer, nn.ReLU()]
        head = nn.Linear(width, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.net = nn.Sequential(*layers, head)

    def forward(self, obs):
        return self.net(obs)


class DeepDefaultCritic(nn.Module):
    """Control: PyTorch's default init over 8 bias-free ReLU layers does decay (×1/6 per layer)."""

    def __init__(self, obs: int = 12, width: int = 64, depth: int = 8):
        super().__init__()
        sizes = [obs] + [width] * depth
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b, bias=False), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, obs):
        return self.net(obs)
'''


def run_cli(path, *args: str) -> dict:
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "relulint", "check", str(path), "--format", "json", "--exit-zero", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_small_output_layers_of_rl_models_are_not_a_decaying_signal(tmp_path) -> None:
    (tmp_path / "agents.py").write_text(RL_MODELS)
    report = run_cli(tmp_path / "agents.py", "--select", "RL202")
    codes = {t["name"]: [f["code"] for f in t["findings"]] for t in report["targets"]}
    assert set(codes) == {
        "DDPGActor",
        "HeActorSmallHead",
        "SB3ActorCritic",
        "ZeroHeadCritic",
        "DeepDefaultCritic",
    }
    for name in ("DDPGActor", "HeActorSmallHead", "SB3ActorCritic", "ZeroHeadCritic"):
        assert codes[name] == [], name
    assert codes["DeepDefaultCritic"] == ["RL202"]
    (control,) = [t for t in report["targets"] if t["name"] == "DeepDefaultCritic"][0]["findings"]
    assert "across its 8 ReLU layers" in control["message"]
    factors = control["details"]["factors"]
    assert len(factors) == 8 and factors[1] == pytest.approx(1 / 6, rel=0.05)  # the head is not counted


# ---------------------------------------------------------- RAI's own length map (dying Thm 4.3, Eq. 4.2)


def rai_q_monte_carlo(width: int, relu_layers: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """E[q^l] and its standard error for l = 1..relu_layers over `samples` draws of relulint.init's RAI
    (He first layer with zero bias, RAI after it, `dying` §4.1), at the input x = (1, −1) (q⁰ = |x|²/d_in = 1)."""
    from relulint.init import he_normal, sample_rai

    generator = torch.Generator().manual_seed(seed)
    x = torch.tensor([1.0, -1.0], dtype=torch.float64)
    h = he_normal(width, 2, batch=(samples,), generator=generator, dtype=torch.float64) @ x
    qs = [h.pow(2).mean(-1)]
    for _ in range(relu_layers - 1):
        w, b = sample_rai(width, width, batch=(samples,), generator=generator, dtype=torch.float64)
        assert b is not None
        h = (w @ h.clamp_min(0).unsqueeze(-1)).squeeze(-1) + b
        qs.append(h.pow(2).mean(-1))
    q = torch.stack(qs, 1).numpy()
    return q.mean(0), q.std(0, ddof=1) / math.sqrt(samples)


def rai_chain(width: int, relu_layers: int) -> Chain:
    from relulint.theory.dying import rai_sigma_w

    rai = InitInfo("rai", False, args={"sigma_w": rai_sigma_w(), "mu1": 2 / 3, "mu2": 0.5}, origin="recorded")
    he = InitInfo("kaiming-normal", True, sigma2=2.0, mean=0.0, origin="recorded")
    zeros = InitInfo("zeros", True, sigma2=0.0, mean=0.0, origin="recorded")
    layers = [Layer("0", 2, width, True, "relu", weight_init=he, bias_init=zeros)]
    layers += [
        Layer(str(i), width, width, True, "relu", weight_init=rai, bias_init=rai)
        for i in range(1, relu_layers)
    ]
    layers.append(Layer("out", width, 1, True, None, weight_init=rai, bias_init=rai))
    return Chain(0, tuple(layers), 2, 1, "output")


def test_rai_length_map_brackets_a_monte_carlo_of_apply_rai() -> None:
    from relulint import registry

    registry._discover()
    module = sys.modules[registry.all_rules()["RL202"].__module__]
    width, depth = 5, 12
    chain = rai_chain(width, depth)
    factors = [module.layer_factor(layer, first=i == 0) for i, layer in enumerate(chain.layers)]
    mean, se = rai_q_monte_carlo(width, depth, samples=20_000, seed=3)
    assert mean[0] == pytest.approx(2.0, abs=4 * se[0])  # He: E[q¹] = σ_w² q⁰
    # right after the He layer the pre-activations are symmetric: the map is exact,
    # E[q²] = m₂ (N E[q¹]/2 + 1) with m₂ = (μ₂ + σ_w²)/(N + 1)
    m2 = (0.5 + module.rai_sigma_w() ** 2) / (width + 1)
    assert module.rai_length_bounds(chain.layers[1], previous_rai=False) == pytest.approx(
        (m2 * width / 2,) * 2 + (m2,)
    )
    assert mean[1] == pytest.approx(m2 * (width * 2.0 / 2 + 1), abs=4 * se[1])
    for relu_layers in range(2, depth + 1):
        low, high = module.rai_q_range(chain, list(range(relu_layers)), factors)
        assert low - 4 * se[relu_layers - 1] <= mean[relu_layers - 1] <= high + 4 * se[relu_layers - 1]
    # the signal keeps an O(1) length: E[q_out]/E[q_in] ≈ 0.4, nowhere near the reported ×1/7.74e+04
    assert 0.2 < mean[-1] < 0.8 and low > 0.1


def test_rl202_is_silent_on_relulints_own_fix(tmp_path) -> None:
    (tmp_path / "fixed.py").write_text(
        "import torch\nfrom torch import nn\nfrom relulint.init import apply_rai\n\n\ndef Net():\n"
        "    layers = [nn.Linear(2, 5), nn.ReLU()]\n"
        "    for _ in range(11):\n"
        "        layers += [nn.Linear(5, 5), nn.ReLU()]\n"
        "    model = nn.Sequential(*layers, nn.Linear(5, 1))\n"
        "    return apply_rai(model, generator=torch.Generator().manual_seed(0))\n"
    )
    report = run_cli(f"{tmp_path / 'fixed.py'}:Net")
    (target,) = report["targets"]
    assert "RL202" not in [f["code"] for f in target["findings"]]


def test_rl202_reports_a_rai_whose_law_does_not_keep_the_length() -> None:
    """A RAI chain with a tiny σ_w and a tiny law P: even the map's upper end shrinks beyond the factor."""
    chain = rai_chain(5, 20)
    tiny = InitInfo("rai", False, args={"sigma_w": 0.01, "mu1": 0.01, "mu2": 1e-4}, origin="recorded")
    layers = [chain.layers[0]] + [
        Layer(
            layer.module,
            layer.in_features,
            layer.out_features,
            True,
            layer.activation,
            weight_init=tiny,
            bias_init=tiny,
        )
        for layer in chain.layers[1:]
    ]
    facts = ModelFacts("t", "Net", "model.py", HERE, "fx", None, (Chain(0, tuple(layers), 2, 1, "output"),))
    findings = [f for f in check_facts(facts) if f.code == "RL202"]
    assert len(findings) == 1 and "RAI's length map" in findings[0].message
    assert findings[0].details["q_out_range"][1] < 1e-3
    facts = ModelFacts("t", "Net", "model.py", HERE, "fx", None, (rai_chain(5, 20),))
    assert [f for f in check_facts(facts) if f.code == "RL202"] == []
