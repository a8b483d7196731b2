"""Where the papers' numbers stop holding, measured: docs/theory.md ("Theory and its limits") and the places
where RL101 must not quote `dying` Thm 3.3 / `collapse` Prop 10 (biases, orthogonal init).

Every number on docs/theory.md is recomputed here: the closed forms from `relulint.theory`, the Monte-Carlo
columns by a seeded, vectorised Monte Carlo (smaller than the page's, which `python
tests/test_theory_limits.py` reproduces at full size) and compared within the standard errors of both runs
plus the page's rounding.

Monte-Carlo set-up (the `dying` Thm 3.3 / `collapse` Prop 10 setting): d_in = 1, born dead = some hidden
layer zero on the whole input set (`collapse` Lemma 1). Bias-free nets are positively homogeneous, so a
layer is zero on any set with inputs on both sides of 0 iff it is zero at −1 and +1; with biases the input
set is the probe's default domain [−√3, √3] (`relulint.probe`), checked exactly at its ends and kinks.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from relulint.theory.collapse import p_born_dead_upper, p_collapse_width2
from relulint.theory.dying import p_born_dead_lower_din1, rai_sigma_w
from relulint.theory.momentum import critical_beta, critical_momentum_sgd, dead_cone_threshold, in_dead_cone

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "theory.md"
HALF = math.sqrt(3.0)  # the probe's default domain [-√3, √3]


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo estimate of a probability from ``n`` samples; its standard error is binomial unless given."""

    p: float
    n: int
    standard_error: float | None = None

    @property
    def se(self) -> float:
        if self.standard_error is not None:
            return self.standard_error
        return math.sqrt(max(self.p * (1.0 - self.p), 1.0 / self.n) / self.n)


# --------------------------------------------------------------------------------------- Monte Carlo


@functools.cache
def mc_iid_gaussian(
    width: int, relu_layers: int, n: int, seed: int, chunk: int = 250_000
) -> tuple[Estimate, ...]:
    """Born-dead probability by each of ``relu_layers`` ReLU layers of i.i.d. Gaussian, bias-free nets, d_in = 1.

    Given the previous layer's outputs ``u = h(+1), v = h(−1)``, the pre-activations of one unit of the next
    layer at the two points are bivariate normal with covariance the Gram matrix of (u, v), independently
    for its N units: the probe's Gaussian reduction, 2N normals per sample and layer instead of N² weights.
    So the next layer is zero at both points with probability ``q = (1/4 + asin ρ / 2π)^N`` (ρ the
    correlation of the pair; 1/2 per unit when one side is already zero). Two unbiased estimators of
    P(dead by layer L), from one pass that draws every layer and drops the samples that died:

    * narrow nets (N ≤ 3): ``1{dead by L − 1} + 1{alive at L − 1} q_L`` (the last layer's indicator replaced
      by its conditional expectation: never more variance than counting);
    * wider nets: ``Σ_{l ≤ L} 1{alive at l − 1} q_l`` (every layer's; far less variance when deaths are
      rare, more when they are common).

    The pair is rescaled each layer (homogeneity); float32 (only signs and exact zeros matter); cached, so
    tests share a run.
    """
    generator = torch.Generator().manual_seed(seed)
    totals = torch.zeros(relu_layers, dtype=torch.float64)
    squares = torch.zeros(relu_layers, dtype=torch.float64)
    done = 0
    while done < n:
        m = min(chunk, n - done)
        contribution = torch.zeros((m, relu_layers), dtype=torch.float64)
        last = torch.zeros((m, relu_layers), dtype=torch.float64)
        dead = torch.zeros(m, dtype=torch.float64)
        index = torch.arange(m)
        w = torch.randn((m, width), generator=generator)
        u, v = w.clamp_min(0), (-w).clamp_min(0)  # layer 1 is never zero at both ±1
        for layer in range(1, relu_layers):
            a, b, c = (u * u).sum(1), (u * v).sum(1), (v * v).sum(1)
            scale = a + c
            a, b, c = a / scale, b / scale, c / scale
            both = (a > 0) & (c > 0)
            rho = torch.where(both, b / (a * c).clamp_min(1e-30).sqrt(), torch.zeros_like(b)).clamp(-1, 1)
            per_unit = torch.where(both, 0.25 + torch.asin(rho.double()).float() / (2 * math.pi), 0.5)
            q = per_unit.double() ** width
            contribution[index, layer] = q
            last[:, layer] = dead
            last[index, layer] += q
            l11 = a.sqrt()
            l21 = torch.where(l11 > 0, b / l11.clamp_min(1e-30), torch.zeros_like(b))
            l22 = (c - l21 * l21).clamp_min(0).sqrt()
            z = torch.randn((2, len(u), width), generator=generator)
            u = (l11[:, None] * z[0]).clamp_min(0)
            v = (l21[:, None] * z[0] + l22[:, None] * z[1]).clamp_min(0)
            alive = (u > 0).any(1) | (v > 0).any(1)
            dead[index[~alive]] = 1.0
            u, v, index = u[alive], v[alive], index[alive]
        cumulative = contribution.cumsum(1) if width > 3 else last
        totals += cumulative.sum(0)
        squares += cumulative.pow(2).sum(0)
        done += m
    means = totals / n
    ses = ((squares / n - means.pow(2)).clamp_min(0) / (n - 1)).sqrt()
    return tuple(Estimate(float(p), n, float(se)) for p, se in zip(means, ses, strict=True))


#: (samples, seed) of the tests' i.i.d. runs at 10 ReLU layers, per width: shared through the cache
IID_RUNS = {2: (600_000, 102), 3: (40_000, 103), **{w: (20_000, 100 + w) for w in range(4, 11)}}


def iid_depth10(width: int) -> tuple[Estimate, ...]:
    n, seed = IID_RUNS[width]
    return mc_iid_gaussian(width, 10, n, seed)


def haar_orthogonal(generator: torch.Generator, m: int, rows: int, cols: int) -> torch.Tensor:
    """``m`` draws of ``nn.init.orthogonal_`` for a (rows, cols) weight: QR of a Gaussian, signs fixed by R."""
    a = torch.randn((m, max(rows, cols), min(rows, cols)), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    return q if rows >= cols else q.transpose(1, 2)


def mc_orthogonal(width: int, relu_layers: int, n: int, seed: int) -> list[Estimate]:
    """As :func:`mc_iid_gaussian` with orthogonal weights (dependent entries), full matrices."""
    generator = torch.Generator().manual_seed(seed)
    w = haar_orthogonal(generator, n, width, 1)[..., 0]
    u, v = w.clamp_min(0), (-w).clamp_min(0)
    dead = [0] * relu_layers
    for layer in range(relu_layers):
        if layer:
            q = haar_orthogonal(generator, len(u), width, width)
            u = (q @ u[..., None])[..., 0].clamp_min(0)
            v = (q @ v[..., None])[..., 0].clamp_min(0)
        zero = ~((u > 0).any(1) | (v > 0).any(1))
        died = int(zero.sum())
        for later in range(layer, relu_layers):
            dead[later] += died
        u, v = u[~zero], v[~zero]
    return [Estimate(d / n, n) for d in dead]


def mc_pytorch_default_two_layers(width: int, n: int, seed: int) -> Estimate:
    """1 → width×2 → 1 with PyTorch's default ``nn.Linear`` init, biases included, on D = [−√3, √3].

    Weights and biases ``U(−1/√fan_in, 1/√fan_in)``. Layer 1 is affine in x on D; layer 2's pre-activations
    are piecewise linear with kinks where a layer-1 unit switches (x = −b₁/w₁), so each layer is zero on
    all of D iff it is zero at the ends of D and at the kinks inside it: exact, no grid.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(shape: tuple[int, ...], bound: float) -> torch.Tensor:
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    w1, b1 = uniform((n, width), 1.0), uniform((n, width), 1.0)
    w2, b2 = uniform((n, width, width), width**-0.5), uniform((n, width), width**-0.5)
    ends = torch.tensor([-HALF, HALF], dtype=torch.float64).expand(n, 2)
    xs = torch.cat([ends, (-b1 / w1).clamp(-HALF, HALF)], 1)
    h1 = (w1[:, :, None] * xs[:, None, :] + b1[:, :, None]).clamp_min(0)
    zero1 = ~(h1 > 0).flatten(1).any(1)
    zero2 = ~((w2 @ h1 + b2[:, :, None]) > 0).flatten(1).any(1)
    return Estimate(float((zero1 | zero2).double().mean()), n)


def critical_by_eigenvalues(matrix, low: float = 0.0, high: float = 0.999999) -> float:
    """Smallest momentum in [low, high] at which ``matrix(momentum)`` has complex eigenvalues (bisection)."""

    def complex_(m: float) -> bool:
        return bool(np.abs(np.linalg.eigvals(np.array(matrix(m))).imag).max() > 1e-12)

    assert complex_(high) and not complex_(low)
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (low, mid) if complex_(mid) else (mid, high)
    return high


def pytorch_sgd_matrix(lr: float):
    """torch.optim.SGD (dampening 0) on a unit-curvature coordinate, state (buf, error):
    buf' = μ buf + a, a' = a − lr buf' (PyTorch's update rule written out, not relulint's)."""
    return lambda mu: [[mu, 1.0], [-lr * mu, 1.0 - lr]]


def paper_ema_matrix(eta: float):
    """`momentum` Eq. 6–7: m' = β m + (1 − β) a, a' = a − η m' (Eq. 20's A)."""
    return lambda beta: [[beta, 1.0 - beta], [-eta * beta, 1.0 - eta * (1.0 - beta)]]


def rai_q_monte_carlo(width: int, relu_layers: int, n: int, seed: int) -> tuple[float, float]:
    """E[q] after ``relu_layers`` ReLU layers of relulint.init's RAI (He first), x = (1, −1), and its standard error."""
    from relulint.init import he_normal, sample_rai

    generator = torch.Generator().manual_seed(seed)
    x = torch.tensor([1.0, -1.0], dtype=torch.float64)
    h = he_normal(width, 2, batch=(n,), generator=generator, dtype=torch.float64) @ x
    for _ in range(relu_layers - 1):
        w, b = sample_rai(width, width, batch=(n,), generator=generator, dtype=torch.float64)
        h = (w @ h.clamp_min(0).unsqueeze(-1)).squeeze(-1) + b
    q = h.pow(2).mean(-1)
    return float(q.mean()), float(q.std()) / math.sqrt(n)


def rai_paper_upper(width: int, relu_layers: int) -> float:
    """`dying` Cor. 4.4's upper map E[q'] ≤ A_upp/2 E[q] + σ_b², A_upp/2 = N/(N + 1) by Eq. 4.2, from E[q¹] = 2."""
    sigma_b2 = (0.5 + rai_sigma_w() ** 2) / (width + 1)
    q = 2.0
    for _ in range(relu_layers - 1):
        q = width / (width + 1) * q + sigma_b2
    return q


# ---------------------------------------------------------------------------------------- the page


def page_tables() -> dict[str, list[list[str]]]:
    """docs/theory.md's tables by the id in the HTML comment above each (``<!-- table: thm8 -->``)."""
    tables: dict[str, list[list[str]]] = {}
    current: str | None = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        marker = re.match(r"<!-- table: (\w+) -->", line.strip())
        if marker:
            current = marker.group(1)
            tables[current] = []
        elif current and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                tables[current].append(cells)
        elif current and tables[current] and not line.strip():
            current = None
    return {name: rows[1:] for name, rows in tables.items()}  # without the header row


def number(cell: str) -> tuple[float, float]:
    """A page cell as a probability (``15.3 %`` → 0.153) or plain number, and half a unit of its last digit."""
    match = re.search(r"[-+]?\d+(?:\.(\d+))?(?:e[-+]?\d+)?", cell.replace("×", ""))
    assert match, cell
    text = match.group(0)
    decimals = len(match.group(1) or "")
    exponent = int(text.split("e")[1]) if "e" in text else 0
    value, half = float(text), 0.5 * 10.0 ** (exponent - decimals)
    if "%" in cell[match.end() : match.end() + 3]:
        return value / 100, half / 100
    return value, half


def close(cell: str, estimate: Estimate, page_n: int, k: float = 4.0) -> None:
    """The page's Monte-Carlo number agrees with this run within k standard errors of both, plus rounding."""
    value, half = number(cell)
    se = math.sqrt(estimate.se**2 + Estimate(value, page_n).se ** 2)
    assert abs(value - estimate.p) <= k * se + half, (cell, estimate)


def exact(cell: str, value: float) -> None:
    page, half = number(cell)
    assert abs(page - value) <= half * 1.0000001, (cell, value)


#: sample sizes of the page's Monte-Carlo columns (stated on the page, checked below)
PAGE_N_THM8 = 2_000_000
PAGE_N_SMALL = 1_000_000
PAGE_N_ORTHO_DEEP = 400_000


def test_page_states_its_sample_sizes() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for n in (PAGE_N_THM8, PAGE_N_SMALL, PAGE_N_ORTHO_DEEP):
        assert f"{n:,}" in text


def test_thm8_table_bound_vs_monte_carlo() -> None:
    rows = page_tables()["thm8"]
    assert [int(r[0]) for r in rows] == list(range(2, 11))
    for cells in rows:
        width = int(cells[0])
        bound = p_born_dead_upper([width] * 10)
        exact(cells[1], bound)
        exact(cells[2], p_born_dead_lower_din1(10, width))
        mc = iid_depth10(width)[-1]
        close(cells[3], mc, PAGE_N_THM8)
        ratio, half = number(cells[4])
        page_mc, page_half = number(cells[3])
        assert abs(ratio - bound / page_mc) <= half + ratio * page_half / page_mc  # the page's own rounding
        assert bound / (mc.p + 4 * mc.se) <= ratio + half  # the looseness is real, not rounding


def test_prop10_chain_under_estimates_from_four_relu_layers() -> None:
    rows = page_tables()["prop10"]
    mc = iid_depth10(2)
    assert [int(r[0]) for r in rows] == list(range(2, 11))
    for cells in rows:
        depth = int(cells[0])
        chain = p_collapse_width2(depth)
        exact(cells[1], chain)
        close(cells[2], mc[depth - 1], PAGE_N_THM8)
        gap, half = number(cells[3])
        assert abs(gap / 100 - (number(cells[2])[0] - chain)) <= half / 100 + number(cells[2])[1]
        if depth >= 4:  # the chain is below the measurement by more than sampling error
            assert chain < mc[depth - 1].p - 4 * mc[depth - 1].se
        else:  # exact for L ≤ 3 (Gaussian weights)
            assert abs(chain - mc[depth - 1].p) <= 4 * mc[depth - 1].se
    # "from 13 layers on the chain even drops below that proven bound"
    assert p_collapse_width2(12) >= p_born_dead_lower_din1(12, 2)
    assert all(p_collapse_width2(depth) < p_born_dead_lower_din1(depth, 2) for depth in range(13, 30))


def test_orthogonal_and_biases_are_below_thm33() -> None:
    rows = {r[0]: r for r in page_tables()["below"]}
    cases = {
        "orthogonal 1 → 2×2 → 1": (mc_orthogonal(2, 2, 100_000, seed=21)[-1], p_born_dead_lower_din1(2, 2)),
        "orthogonal 1 → 4×4 → 1": (mc_orthogonal(4, 2, 150_000, seed=22)[-1], p_born_dead_lower_din1(2, 4)),
        "PyTorch default, biases, 1 → 2×2 → 1": (
            mc_pytorch_default_two_layers(2, 200_000, seed=23),
            p_born_dead_lower_din1(2, 2),
        ),
    }
    assert set(rows) == set(cases)
    for name, (mc, bound) in cases.items():
        cells = rows[name]
        exact(cells[1], bound)
        close(cells[2], mc, PAGE_N_SMALL)
        assert mc.p + 4 * mc.se < bound  # below the "lower bound": the theorem does not cover it
    # orthogonal 1 → 2×2 → 1 is exactly 1/8: the first layer's unit column lies in an open quadrant with
    # probability 1/2 (then Qw is uniform on the circle: 1/4) and otherwise feeds e₁ and e₂ directions,
    # which no orthogonal Q maps both into the negative quadrant
    assert abs(cases["orthogonal 1 → 2×2 → 1"][0].p - 1 / 8) <= 4 * cases["orthogonal 1 → 2×2 → 1"][0].se


def test_orthogonal_a_little_lower_than_iid_at_depth_10() -> None:
    rows = page_tables()["ortho"]
    assert [int(r[0]) for r in rows] == [3, 4, 5]
    for cells in rows:
        width = int(cells[0])
        iid = iid_depth10(width)[-1]
        ortho = mc_orthogonal(width, 10, 25_000, seed=400 + width)[-1]
        close(cells[1], iid, PAGE_N_THM8)
        close(cells[2], ortho, PAGE_N_ORTHO_DEEP)
        assert ortho.p < iid.p  # lower, as collapse §5.1 says
        assert 0 < number(cells[1])[0] - number(cells[2])[0] < 0.03  # by less than 3 points


def test_sgd_critical_momentum_pytorch_vs_paper() -> None:
    rows = page_tables()["momentum"]
    assert [float(r[0]) for r in rows] == [0.01, 0.1, 0.5]
    for cells in rows:
        lr = float(cells[0])
        torch_mu = critical_by_eigenvalues(pytorch_sgd_matrix(lr))
        paper_beta = critical_by_eigenvalues(paper_ema_matrix(lr))
        assert torch_mu == pytest.approx((1 - math.sqrt(lr)) ** 2, abs=1e-9)
        assert paper_beta == pytest.approx(((1 - lr) / (1 + lr)) ** 2, abs=1e-9)
        assert critical_momentum_sgd(lr) == pytest.approx(torch_mu, abs=1e-9)
        assert critical_beta(lr) == pytest.approx(paper_beta, abs=1e-9)
        exact(cells[1], torch_mu)
        exact(cells[2], paper_beta)


def test_sgd_critical_momentum_in_real_torch_optim() -> None:
    """torch.optim.SGD itself at lr = 0.1: the error changes sign again and again just above (1 − √lr)²,
    at most once just below, although both are below the paper's ((1 − η)/(1 + η))² = 0.669."""
    lr = 0.1
    critical = (1 - math.sqrt(lr)) ** 2

    def sign_changes(mu: float) -> int:
        theta = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        opt = torch.optim.SGD([theta], lr=lr, momentum=mu)
        errors = []
        for _ in range(200):
            opt.zero_grad()
            (0.5 * theta.pow(2).sum()).backward()
            opt.step()
            errors.append(theta.item())
        return sum(1 for a, b in zip(errors, errors[1:], strict=False) if a * b < 0)

    assert sign_changes(critical + 0.05) >= 3
    assert sign_changes(critical - 0.05) <= 1


def test_dead_cone_numbers() -> None:
    rows = {r[0]: r for r in page_tables()["cone"]}
    exact(rows["Φ⁻¹(0.05)"][1], dead_cone_threshold(0.05))
    exact(rows["Φ⁻¹(0.01)"][1], dead_cone_threshold(0.01))
    assert not in_dead_cone(0.0, 1.0, 0.05) and 0.0 < -dead_cone_threshold(0.05)  # printed form: "dead"


def test_rai_length_map_numbers() -> None:
    rows = {r[0]: r for r in page_tables()["rai"]}
    from relulint import registry

    registry._discover()
    module = sys.modules[registry.all_rules()["RL202"].__module__]
    sys.path.insert(0, str(Path(__file__).parent))
    from test_rl202_scope import rai_chain

    chain = rai_chain(5, 12)
    factors = [module.layer_factor(layer, first=i == 0) for i, layer in enumerate(chain.layers)]
    low, high = module.rai_q_range(chain, list(range(12)), factors)
    mc, se = rai_q_monte_carlo(5, 12, 10_000, seed=5)
    exact(rows["relulint's bracket (Thm 4.3, lower and unrectified ends)"][1], low)
    exact(rows["relulint's bracket (Thm 4.3, lower and unrectified ends)"][2], high)
    exact(rows["dying Cor. 4.4 upper map (A_upp/2 = N/(N + 1))"][2], rai_paper_upper(5, 12))
    value, half = number(rows["Monte Carlo of relulint.init's RAI"][1])
    assert abs(value - mc) <= 4 * se * math.sqrt(2) + half
    assert low <= mc <= high < rai_paper_upper(5, 12)


def test_rl101_docs_numbers() -> None:
    """RL101's why text: the Thm 8 bounds and Monte-Carlo values it quotes for 10 ReLU layers."""
    from relulint import registry

    registry._discover()
    why = " ".join(registry.all_rules()["RL101"].why.split())
    quoted = re.search(r"bound is (\S+ %) at width 10, (\S+ %) at width 5 and (\S+ %) at width 3", why)
    measured = re.search(
        r"gives (\S+ %), (\S+ %) and (\S+ %) \(the bound is (\S+)× the truth at width 10\)", why
    )
    assert quoted and measured, why
    for cell, width in zip(quoted.groups(), (10, 5, 3), strict=True):
        exact(cell, p_born_dead_upper([width] * 10))
    mc = {w: iid_depth10(w)[-1] for w in (10, 5, 3)}
    for cell, width in zip(measured.groups()[:3], (10, 5, 3), strict=True):
        close(cell, mc[width], PAGE_N_THM8)
    ratio = float(measured.group(4))
    assert abs(ratio - p_born_dead_upper([10] * 10) / mc[10].p) <= 4 * mc[10].se / mc[10].p * ratio + 0.05
    orthogonal = re.search(r"\((\S+ %) against (\S+ %) at width 2\)", why)
    assert orthogonal, why
    close(orthogonal.group(1), mc_orthogonal(2, 2, 100_000, seed=21)[-1], PAGE_N_SMALL)
    exact(orthogonal.group(2), p_born_dead_lower_din1(2, 2))


def test_rl201_docs_numbers() -> None:
    """RL201's why text: Thm 8 bound against Monte Carlo at 10 ReLU layers, widths 2, 5 and 10."""
    from relulint import registry

    registry._discover()
    why = " ".join(registry.all_rules()["RL201"].why.split())
    pairs = re.findall(r"(\S+ %) against (\S+ %)(?: measured)? at width (\d+)", why)
    assert [int(w) for _, _, w in pairs] == [2, 5, 10], why
    for bound, measured, width in pairs:
        exact(bound, p_born_dead_upper([int(width)] * 10))
        close(measured, iid_depth10(int(width))[-1], PAGE_N_THM8)


# ------------------------------------------------ RL101 quotes Thm 3.3 / Prop 10 only where they hold


INITS = {
    "default": "",
    "orthogonal": "nn.init.orthogonal_(layer.weight)",
    "he": "nn.init.kaiming_normal_(layer.weight, nonlinearity='relu')",
}


def chain_file(tmp_path: Path, widths: list[int], init: str, *, bias: bool) -> str:
    """A model file (so relulint records the init) with a d_in = 1 chain: `path:Net`."""
    path = tmp_path / f"net_{init}_{'x'.join(map(str, widths))}_{bias}.py"
    path.write_text(
        "from torch import nn\n\n\ndef Net():\n"
        "    layers, fan_in = [], 1\n"
        f"    for width in {widths!r}:\n"
        f"        layer = nn.Linear(fan_in, width, bias={bias})\n"
        f"        {INITS[init] or 'pass'}\n"
        "        layers += [layer, nn.ReLU()]\n"
        "        fan_in = width\n"
        f"    return nn.Sequential(*layers, nn.Linear(fan_in, 1, bias={bias}))\n"
    )
    return f"{path}:Net"


def rl101(target: str):
    from relulint.api import check

    return [f for f in check(target).findings if f.code == "RL101"]


@pytest.mark.parametrize(
    ("widths", "init", "bias", "reason"),
    [
        ([2, 2], "default", True, "zero biases"),
        ([2, 2], "orthogonal", False, "independent weights; orthogonal rows are not"),
        ([4, 4], "orthogonal", False, "independent weights; orthogonal rows are not"),
    ],
)
def test_rl101_quotes_no_lower_bound_outside_the_theorem(tmp_path, widths, init, bias, reason) -> None:
    (finding,) = rl101(chain_file(tmp_path, widths, init, bias=bias))
    assert "at least" not in finding.message and "width-2 value" not in finding.message
    assert f"no lower bound applies (dying Thm 3.3 assumes {reason}): --probe measures it" in finding.message
    assert finding.details["p_lower"] is None and finding.details["p_width2"] is None


def test_rl101_quotes_the_bounds_for_bias_free_iid_init(tmp_path) -> None:
    (two,) = rl101(chain_file(tmp_path, [2, 2], "he", bias=False))
    assert "width-2 value 16 % (collapse Prop 10)" in two.message  # 5/32 = 15.625 %, exact here
    assert two.details["p_width2"] == pytest.approx(5 / 32)
    mc = mc_iid_gaussian(2, 2, 100_000, seed=31)[-1]
    assert abs(mc.p - 5 / 32) <= 4 * mc.se
    (four,) = rl101(chain_file(tmp_path, [4, 4], "he", bias=False))
    assert "at least 1.1 % (dying Thm 3.3)" in four.message
    mc = mc_iid_gaussian(4, 2, 200_000, seed=32)[-1]
    assert mc.p + 4 * mc.se >= four.details["p_lower"]  # a true lower bound (exact at 2 layers)


def test_summary_lower_bound_follows_the_same_hypotheses(tmp_path) -> None:
    from relulint.api import check
    from relulint.verdict import chain_summary

    for init, bias, expected in (("he", False, True), ("default", True, False), ("orthogonal", False, False)):
        chain = check(chain_file(tmp_path, [4] * 3, init, bias=bias)).targets[0].facts.chains[0]
        assert (chain_summary(chain, 0.01)["p_lower"] is not None) is expected, init


# ------------------------------------------------------------------------ regenerate the page's numbers


def main() -> None:  # pragma: no cover - run by hand: python tests/test_theory_limits.py
    from relulint.formatting import percent

    print("thm8 (width, bound, Thm 3.3, MC, ratio)")
    for width in range(2, 11):
        mc = mc_iid_gaussian(width, 10, PAGE_N_THM8, seed=width)
        bound = p_born_dead_upper([width] * 10)
        if width == 2:
            width2 = mc
        p = mc[-1].p
        print(
            width,
            percent(bound),
            percent(p_born_dead_lower_din1(10, width)),
            f"{100 * p:.3g} %",
            f"{bound / p:.2f}",
        )
    print("prop10 (depth, chain, MC, gap in points)")
    for depth in range(2, 11):
        c, m = p_collapse_width2(depth), width2[depth - 1].p
        print(depth, f"{100 * c:.2f} %", f"{100 * m:.2f} %", f"{100 * (m - c):+.2f}")
    print("below")
    print("ortho 2", mc_orthogonal(2, 2, PAGE_N_SMALL, seed=1)[-1])
    print("ortho 4", mc_orthogonal(4, 2, PAGE_N_SMALL, seed=2)[-1])
    print("default biased", mc_pytorch_default_two_layers(2, PAGE_N_SMALL, seed=3))
    print("ortho vs iid at depth 10")
    for width in (3, 4, 5):
        print(
            width,
            mc_iid_gaussian(width, 10, PAGE_N_THM8, seed=width)[-1],
            mc_orthogonal(width, 10, PAGE_N_ORTHO_DEEP, seed=10 + width)[-1],
        )
    print("rai", rai_q_monte_carlo(5, 12, 200_000, seed=1), rai_paper_upper(5, 12))


if __name__ == "__main__":  # pragma: no cover
    main()
