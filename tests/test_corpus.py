"""The verdict on code written the way real libraries write models: one table, one CLI run.

`tests/corpus/` holds small model files of our own that imitate PINN and operator libraries (DeepXDE,
physicsnemo, DeepONet, FNO), tabular libraries (rtdl), RL libraries (DDPG, Stable-Baselines3, SAC, CleanRL),
a pre-LN GPT, NeRF and DeepSDF decoders, TorchScript, and the ways a ReLU or a norm is spelled in practice.
`TABLE` states, for each model, the TRUE verdict: the rule codes that must fire at warning or error level,
the codes that must not, and why, with every probability computed here from `relulint.theory`:

* RL101 decides on `collapse` Thm 8 (= `dying` Thm 3.2), 1 − ∏(1 − 2^−N_l), over the ReLU layers that every
  input→output path passes through: a layer that is dead for every input makes everything after it
  constant, whatever sits between (a Tanh, a Linear without activation); a layer that a residual add or a
  concat of the input bypasses leaves `x + const`, never a constant network (`collapse` Lemma 1's
  setting). A norm before the ReLU over ≥ 2 features keeps a unit alive (`collapse` §5.2); one over a
  single feature outputs its β (0 at init) for every input, up to rounding, so the ReLU after it is dead
  for certain.
* RL201 fires with RL101 when the hidden layers' law is symmetric about zero (`dying` Thm 3.2).
* RL202 follows the length map of `collapse` Eq. 2–3 over the hidden layers only (a deliberately small
  output layer is not a decaying signal): it fires when the input's share of E[q] changes by more than
  10³ and, when it shrinks, the chain has no biases or the biases carry ≥ 99 % of E[q].
* RL301 fires when weight normalization stands in for a cure on a chain at risk (`collapse` §5.2): at risk
  as RL101 decides it, on the path through the chain.
* RL102 (info, not in the table) reports exactly where RL101 does: once per path at risk, at RL101's
  location (`test_rl102_mirrors_rl101`).

relulint runs once, as a user runs it (`relulint check FILE:Name ... --format json`), over every model of
the corpus. The reasons' claims are checked independently of relulint: which layers lie on every path (a
forward pass with one layer killed), and that the single-feature-norm nets are constant. Rows may fail
while capture and graph analysis catch up; they are not marked xfail: the table is the specification.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from relulint.theory import (
    p_born_dead_upper,
    pytorch_default_linear_sigma_b2,
    pytorch_default_linear_sigma_w2,
    signal_length,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
P = 0.01  # relulint's default `p`, passed explicitly so that no configuration can move it
RL202_FACTOR = 1e3  # RL202's default `factor`
RL202_BIAS_SHARE = 0.01  # RL202: a shrinking signal counts when the input carries < 1 % of E[q]
REPORTED = {"warning", "error"}


# ------------------------------------------------------------------------------------------ σ² of the inits


def default_w() -> float:
    """PyTorch's default `nn.Linear`/`nn.Conv1d` weight, and DDPG's fan-in uniform(±1/√fan_in): σ_w² = 1/3."""
    return pytorch_default_linear_sigma_w2()


def default_b(fan_in: int) -> float:
    """PyTorch's default bias uniform(±1/√fan_in): σ_b² = 1/(3 fan_in)."""
    return pytorch_default_linear_sigma_b2(fan_in)


def xavier_w(fan_in: int, fan_out: int) -> float:
    """Xavier/Glorot: Var(W) = 2/(fan_in + fan_out), so σ_w² = fan_in · Var(W)."""
    return 2.0 * fan_in / (fan_in + fan_out)


def orthogonal_w(fan_in: int, fan_out: int, gain: float) -> float:
    """`orthogonal_(gain)` on a (fan_out, fan_in) weight: min(fan_in, fan_out) orthonormal rows or columns, so
    the squared entries sum to gain²·min and σ_w² = fan_in · gain²·min / (fan_in·fan_out)."""
    return gain * gain * min(fan_in, fan_out) / fan_out


def rl202_fires(sigma_w2s: list[float], sigma_b2s: list[float]) -> bool:
    """RL202's decision on the hidden layers' length map (`collapse` Eq. 2–3, `signal_length`)."""
    total = signal_length(1.0, sigma_w2s)[-1]  # the input's part of E[q]: the map without biases
    if total > RL202_FACTOR:
        return True
    if total >= 1.0 / RL202_FACTOR:
        return False
    if not any(sigma_b2s):
        return True  # bias-free: the whole signal vanishes
    return total / signal_length(1.0, sigma_w2s, sigma_b2s)[-1] < RL202_BIAS_SHARE


# ------------------------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Row:
    """One model's true verdict. `risk` is the born-dead probability RL101 must act on (the ReLU layers on
    every path); `reason` is formatted with `risk` and `numbers` as percentages; `length` gives the hidden
    layers' (σ_w², σ_b²) for rows that state RL202; `needs` names the item of issue 11 the row exercises."""

    target: str
    fire: frozenset[str]
    silent: frozenset[str]
    risk: Callable[[], float]
    reason: str
    needs: str
    numbers: Mapping[str, Callable[[], float]] = field(default_factory=dict)
    length: Callable[[], tuple[list[float], list[float]]] | None = None

    @property
    def file(self) -> str:
        return self.target.split(":")[0]

    def text(self) -> str:
        values = {name: percent(f()) for name, f in self.numbers.items()}
        return self.reason.format(risk=percent(self.risk()), **values)


def percent(p: float) -> str:
    return "100 %" if p == 1.0 else f"{100 * p:.3g} %"


def row(target: str, fire: str, silent: str, risk: Callable[[], float], reason: str, needs: str, **kw) -> Row:
    return Row(target, frozenset(fire.split()), frozenset(silent.split()), risk, reason, needs, **kw)


def ub(*widths: int) -> Callable[[], float]:
    return lambda: p_born_dead_upper(widths)


def certain() -> float:
    """A single-feature norm outputs its β = 0 for every input (up to rounding): the ReLU after it is dead."""
    return 1.0


def protected() -> float:
    """Every ReLU on every path follows a norm over ≥ 2 features: no layer can be dead (`collapse` §5.2)."""
    return p_born_dead_upper([])


def all_bypassed() -> float:
    """No ReLU layer lies on every input→output path: Thm 8 over no layers."""
    return p_born_dead_upper([])


TABLE: tuple[Row, ...] = (
    row("deepxde_fnn.py:FNN", "RL101 RL201 RL202", "", ub(*[8] * 12),
        "12 ReLU layers of width 8: Thm 8 bound {risk} > 1 %; Glorot normal is symmetric; Glorot's σ_w² = 1 "
        "halves E[q] per layer with zero biases (Eq 3)", "regression (fx, functional torch.relu)",
        length=lambda: ([xavier_w(2, 8)] + [xavier_w(8, 8)] * 11, [0.0] * 12)),
    row("deepxde_fnn_he_wide.py:WideFNN", "", "RL101 RL201 RL202", ub(*[50] * 4),
        "4 ReLU layers of width 50: Thm 8 bound {risk}; He keeps E[q] constant (Eq 3)", "regression",
        length=lambda: ([2.0] * 4, [0.0] * 4)),
    row("pinn_list_input.py:SpaceTimePINN", "RL101 RL201", "", ub(*[6] * 10),
        "forward(spatial: list[Tensor], t) and F.relu: 10 ReLU layers of width 6, Thm 8 bound {risk} > 1 %",
        "capture: list inputs from forward's annotations; functional ReLUs read from the source"),
    row("pinn_float64.py:DoublePINN", "RL101 RL201 RL202", "", ub(*[5] * 16),
        "README's PINN after .double(): 16 ReLU layers of width 5, Thm 8 bound {risk}; PyTorch's default init "
        "is symmetric and shrinks E[q] ×1/6 per layer until the biases carry it (Eq 3)",
        "inits: the init record survives .double() (matched by module and name)",
        length=lambda: ([default_w()] * 16, [default_b(2)] + [default_b(5)] * 15)),
    row("deeponet.py:DeepONet", "RL101 RL201", "", ub(*[8] * 13),
        "branch: 12 ReLU layers of width 8 ({branch}), trunk: 13 with its activated output ({risk}); a dead "
        "branch makes G(u)(y) constant in u, a dead trunk constant in y",
        "capture: a tuple input and a shape check that breaks fx; functional ReLUs",
        numbers={"branch": ub(*[8] * 12)}),
    row("fno_channel_mlp.py:PointwiseOperator", "RL101 RL201", "", ub(*[6] * 10),
        "1×1 Conv1d lifting + 9 1×1 convs, ReLU after each: a channel MLP of 10 ReLU layers of width 6, "
        "Thm 8 bound {risk}", "capture: 1×1 Conv1d/Conv2d are Linears over channels"),
    row("rtdl_resnet.py:TabularResNet", "", "RL101", protected,
        "8 pre-norm blocks bypassed by the residual stream (each ReLU layer alone 2^-4 = {block}); the only "
        "ReLU on every path is the head's, after BatchNorm1d(16): protected, P = {risk}",
        "graph analysis: bypass with a pre-norm and dropouts between the stream and the Linear",
        numbers={"block": ub(4)}),
    row("rtdl_mlp.py:MLP", "RL202", "RL101 RL201", ub(*[32] * 6),
        "6 ReLU layers of width 32: Thm 8 bound {risk}; the default init shrinks E[q] ×1/6 per layer and the "
        "biases carry > 99 % of it at the output (Eq 2–3)", "regression",
        length=lambda: ([default_w()] * 6, [default_b(20)] + [default_b(32)] * 5)),
    row("gpt_pre_ln.py:TinyGPT", "", "RL101", all_bypassed,
        "every 6-unit ReLU feed-forward (alone 2^-6 = {block}) is bypassed by the residual stream after "
        "ln_2; no ReLU on every path: P = {risk}", "graph analysis: pre-LN residual blocks; capture: token ids",
        numbers={"block": ub(6)}),
    row("ddpg.py:Actor", "", "RL101 RL202", ub(400, 300),
        "ReLU layers of width 400 and 300: Thm 8 bound {risk}; hidden layers ×1/3 then ×1/6 on E[q]; the "
        "±3e-3 output layer is deliberate, not a decaying signal", "RL202: hidden layers only",
        length=lambda: ([default_w()] * 2, [default_b(17), default_b(400)])),
    row("ddpg.py:Critic", "", "RL101 RL202", ub(400, 300),
        "ReLU layers of width 400 and 300 (action concatenated at the second): Thm 8 bound {risk}; ±3e-3 "
        "output layer excluded from the length map", "RL202: hidden layers only",
        length=lambda: ([default_w()] * 2, [default_b(17), default_b(406)])),
    row("sb3_policy.py:ActorCriticPolicy", "", "RL101 RL202", ub(64, 64),
        "policy and value nets 64-64: Thm 8 bound {risk}; orthogonal gain √2 keeps E[q]; the gain-0.01 "
        "action head is good practice, not decay", "RL202: hidden layers only",
        length=lambda: ([orthogonal_w(8, 64, math.sqrt(2)), orthogonal_w(64, 64, math.sqrt(2))], [0.0, 0.0])),
    row("sac_actor.py:SquashedGaussianActor", "RL101 RL201", "", ub(*[6] * 10),
        "10 ReLU layers of width 6 before both heads: Thm 8 bound {risk}; `mu * 0.0 + sigma` adds two heads, "
        "it is no residual", "graph analysis: an add is residual only when it carries the stream"),
    row("dqn.py:QNetwork", "", "RL101 RL202", ub(120, 84),
        "ReLU layers of width 120 and 84: Thm 8 bound {risk}; E[q] ×1/18 over the hidden layers", "regression",
        length=lambda: ([default_w()] * 2, [default_b(4), default_b(120)])),
    row("dict_obs_policy.py:DictObsPolicy", "RL101 RL201", "", ub(*[6] * 10),
        "forward(obs: dict) with an unbatched-input check, F.relu: 10 ReLU layers of width 6, Thm 8 bound "
        "{risk}", "capture: dict inputs when fx fails; functional ReLUs"),
    row("nerf_mlp.py:TinyNeRF", "RL101 RL201", "", ub(6, 6, 6),
        "layers 0–4 are bypassed by the concat of the positions; layers 5–7 (3 ReLU layers of width 6) are on "
        "every path to the density: Thm 8 bound {risk}", "graph analysis: concat skips decided on paths"),
    row("deepsdf_decoder.py:Decoder", "RL101 RL301", "", ub(*[8] * 6),
        "layers 0–3 are bypassed by re-injecting the input at layer 4; layers 4–9 (6 ReLU layers of width 8) "
        "are on every path: Thm 8 bound {risk}; weight norm is no cure (§5.2)",
        "regression (parametrized weight norm, concat skip)"),
    row("jit_mlp.py:scripted_value_net", "RL101 RL201", "", ub(*[5] * 12),
        "a top-level torch.jit.script module: 12 ReLU layers of width 5, Thm 8 bound {risk}",
        "capture: TorchScript graphs (aten::linear / aten::relu)"),
    row("jit_mlp.py:ScriptedBody", "RL101 RL201", "", ub(*[5] * 12),
        "a scripted submodule: 12 ReLU layers of width 5, Thm 8 bound {risk}",
        "capture: TorchScript submodules"),
    row("tanh_split.py:TanhMiddle", "RL101 RL201", "", ub(*[9] * 8),
        "8 ReLU layers of width 9 on one path: Thm 8 bound {risk} > 1 % (split at the Tanh: {half} each)",
        "graph analysis: one path is one network (a Tanh between ReLU runs)", numbers={"half": ub(*[9] * 4)}),
    row("tanh_split.py:LinearBottleneck", "RL101 RL201", "", ub(*[9] * 8),
        "8 ReLU layers of width 9 on one path: Thm 8 bound {risk} > 1 % (split at the bare Linear: {half} "
        "each)", "graph analysis: one path is one network (two Linears in a row)",
        numbers={"half": ub(*[9] * 4)}),
    row("tanh_split.py:WeightNormTanhMiddle", "RL101 RL201 RL301", "", ub(*[9] * 8),
        "TanhMiddle with weight norm on every ReLU layer: the path's Thm 8 bound {risk} > 1 % (each chain "
        "alone {half}), so RL301 warns on both chains; weight norm is no cure (§5.2)",
        "RL301 decides on paths, as RL101 does", numbers={"half": ub(*[9] * 4)}),
    row("residual_identity.py:ResidualMLP", "", "RL101", ub(16),
        "8 blocks with an nn.Identity shortcut (each 4-unit branch alone {block}); only the stem's 16-unit "
        "ReLU is on every path: P ≤ 2^-16 = {risk}", "graph analysis: Identity shortcuts",
        numbers={"block": ub(4)}),
    row("summed_branches.py:MeanSAGE", "RL101 RL201", "", ub(*[4] * 9),
        "the input layer's ReLU and 8 ReLUs after lin_l(mean) + lin_r(x), each a layer of width 4 on every "
        "path: Thm 8 bound {risk}", "extraction: a ReLU after a sum of Linear branches is a layer"),
    row("summed_branches.py:ProjectionResMLP", "RL101 RL201", "", ub(*[6] * 9),
        "the stem's ReLU and the 8 ReLUs after fc2(..) + proj(x) lie on every path; the fc1 ReLUs are "
        "bypassed by the projection: Thm 8 bound {risk} (all 17 counted: {all})",
        "extraction: a ReLU after a sum of Linear branches is a layer", numbers={"all": ub(*[6] * 17)}),
    row("physicsnemo_fc.py:FullyConnected", "", "RL101", ub(8, 8),
        "skips every 2 layers with swapped variables: only the first and last of 8 layers of width 8 are on "
        "every path, Thm 8 bound {risk} ≤ 1 % (pairs of bypassed layers add O(2^-16); all 8 on one path: "
        "{all})",
        "graph analysis: bypass with swapped variables", numbers={"all": ub(*[8] * 8)}),
    row("degenerate_norms.py:ScalarGateNet", "RL101", "", certain,
        "LayerNorm(1) outputs β = 0 for every input: the ReLU after it is dead, P = {risk}",
        "graph analysis: degenerate norms are not protection"),
    row("degenerate_norms.py:PerUnitGroupNormMLP", "RL101", "", certain,
        "GroupNorm(16, 16) on (N, 16) features outputs β = 0: every ReLU is dead, P = {risk}",
        "graph analysis: degenerate norms are not protection"),
    row("layernorm_narrow.py:PreNormNarrowMLP", "", "RL101", protected,
        "LayerNorm over 4 features before each of 20 ReLU layers keeps a unit alive: P = {risk} (unprotected, "
        "Thm 8 would give {bare})", "regression (norm protection)", numbers={"bare": ub(*[4] * 20)}),
    row("relu_spellings.py:ConfigurableActMLP", "RL101 RL201", "", ub(*[5] * 12),
        "nn.LeakyReLU(0.0) is ReLU: 12 layers of width 5, Thm 8 bound {risk}", "capture: LeakyReLU(0.0)"),
    row("relu_spellings.py:ClampMinMLP", "RL101 RL201", "", ub(*[5] * 12),
        "h.clamp_min(0) is ReLU: 12 layers of width 5, Thm 8 bound {risk}", "capture: clamp_min(0)"),
    row("relu_spellings.py:MaximumMLP", "RL101 RL201", "", ub(*[5] * 12),
        "torch.maximum(h, 0) is ReLU: 12 layers of width 5, Thm 8 bound {risk}", "capture: torch.maximum"),
    row("view_relu.py:HeadwiseMLP", "RL101 RL201", "", ub(*[6] * 10),
        "ReLU on an (N, 2, 3) view of each Linear's output: 10 ReLU layers of width 6, Thm 8 bound {risk}",
        "capture: a ReLU on a view"),
    row("image_input.py:DigitClassifier", "RL101 RL201", "", ub(*[6] * 10),
        "needs (N, 1, 28, 28) input: 10 ReLU layers of width 6 after the flatten, Thm 8 bound {risk}",
        "capture: 4-D example inputs implied by the first layer"),
    row("autoencoder.py:Autoencoder", "RL101 RL201", "", ub(32, 16, 4, 2, 4, 16, 32),
        "a ReLU on the 2-D latent code: widths 32-16-4-2-4-16-32, Thm 8 bound {risk}", "regression"),
)  # fmt: skip

ROWS = {r.target: r for r in TABLE}


# ------------------------------------------------------------------------------- one CLI run over the table


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def report(self) -> dict:
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"relulint exited {self.code} without a json report; stderr:\n{self.stderr[-4000:]}")

    def reported_codes(self, target: str) -> set[str] | None:
        """The codes of the findings at warning or error level on one target; None when it was not checked."""
        for entry in self.report()["targets"]:
            if entry["target"] == target:
                return {f["code"] for f in entry["findings"] if f["severity"] in REPORTED}
        return None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`relulint check` once over every row, on a copy of the corpus in an empty directory (no
    pyproject.toml above it can configure the run)."""
    workdir = tmp_path_factory.mktemp("corpus")
    for source in CORPUS.glob("*.py"):
        shutil.copy(source, workdir / source.name)
    command = [sys.executable, "-m", "relulint", "check", *ROWS, "--format", "json", "--p", str(P)]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    return Run(done.returncode, done.stdout, done.stderr)


# -------------------------------------------------------------------------------------------------- tests


def test_corpus_is_large_and_every_file_has_rows() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.py"))
    assert len(files) >= 20, files
    assert set(files) == {r.file for r in TABLE}, "every corpus file has a row and every row a file"
    assert len(ROWS) == len(TABLE), "one row per target"


@pytest.mark.parametrize("entry", TABLE, ids=lambda r: r.target)
def test_table_agrees_with_the_theory(entry: Row) -> None:
    """The row's claims follow from its own numbers: RL101 ⟺ risk > p; RL201 needs RL101; RL202 ⟺ the map."""
    assert not entry.fire & entry.silent
    assert "RL101" in entry.fire | entry.silent, "every row says RL101 yes or no"
    risk = entry.risk()
    assert 0.0 <= risk <= 1.0
    assert ("RL101" in entry.fire) == (risk > P), f"{entry.target}: {entry.text()}"
    if "RL201" in entry.fire or "RL301" in entry.fire:
        assert "RL101" in entry.fire, "RL201/RL301 warn only on a chain at risk"
    if entry.length is not None:
        ws, bs = entry.length()
        assert ("RL202" in entry.fire) == rl202_fires(ws, bs)
        assert ("RL202" in entry.silent) == (not rl202_fires(ws, bs))
    else:
        assert "RL202" not in entry.fire | entry.silent, "an RL202 claim needs the hidden layers' σ²"
    assert "{" not in entry.text()


def test_cli_exit_code_and_report(run: Run) -> None:
    """Findings at warning level exist, and nothing is a usage or user-code error: exit 1, one json."""
    assert run.code == 1, run.stderr[-4000:]
    data = run.report()
    assert data["version"] == 1
    skipped = {s["name"]: s["reason"] for s in data["skipped"]}
    assert not skipped, f"models not checked: {skipped}"


@pytest.mark.parametrize("entry", TABLE, ids=lambda r: r.target)
def test_verdict(entry: Row, run: Run) -> None:
    codes = run.reported_codes(entry.target)
    assert codes is not None, f"{entry.target} was not checked (needs: {entry.needs})"
    missing, unwanted = entry.fire - codes, entry.silent & codes
    assert not missing and not unwanted, (
        f"{entry.target}: missing {sorted(missing)}, unwanted {sorted(unwanted)}; "
        f"reported {sorted(codes)}. Why: {entry.text()}. Needs: {entry.needs}"
    )


def _said(run: Run, target: str, code: str) -> list[tuple[int, int | None, tuple[int, ...], float]]:
    """(line, chain, chains of its path, probability) of each finding of `code` on `target`."""
    entry = next(t for t in run.report()["targets"] if t["target"] == target)
    said = []
    for f in entry["findings"]:
        if f["code"] == code and f["details"].get("source") != "bound-not-applicable":
            chains = tuple(f["details"].get("chains", [f["chain"]]))
            probability = f["details"]["p_born_dead" if code == "RL102" else "probability"]
            said.append((f["line"], f["chain"], chains, probability))
    return sorted(said)


@pytest.mark.parametrize("entry", TABLE, ids=lambda r: r.target)
def test_rl102_mirrors_rl101(entry: Row, run: Run) -> None:
    """RL102 (info) gives the restarts for exactly what RL101 reports: one finding per path at risk, at the
    same place, for the same chains and the same born-dead probability — never one per chain of a path."""
    rl101, rl102 = _said(run, entry.target, "RL101"), _said(run, entry.target, "RL102")
    assert [x[:3] for x in rl102] == [x[:3] for x in rl101], entry.target
    for (*_, said), (*_, expected) in zip(rl102, rl101, strict=True):
        assert said == pytest.approx(expected, rel=1e-12)
    if entry.target.startswith("tanh_split.py:"):  # the models: one path of 8 layers, 2 chains
        ((_, chain, chains, probability),) = rl102
        assert chain == 0 and chains == (0, 1) and probability == pytest.approx(entry.risk(), rel=1e-12)


def test_rl301_warns_on_each_chain_of_a_path_at_risk(run: Run) -> None:
    """Each half of the weight-normalized Tanh split is 0.78 % alone, below p: RL301 warns on both because
    RL101 finds the path at risk (1.6 %), and names the path."""
    target = "tanh_split.py:WeightNormTanhMiddle"
    entry = next(t for t in run.report()["targets"] if t["target"] == target)
    findings = [f for f in entry["findings"] if f["code"] == "RL301"]
    assert [f["chain"] for f in findings] == [0, 1]
    for f in findings:
        assert f["severity"] == "warning" and f["details"]["chains"] == [0, 1]
        assert f["details"]["probability"] == pytest.approx(ROWS[target].risk(), rel=1e-12)
        assert "ReLU path through chains #0" in f["message"] and "#1" in f["message"]
    assert ub(*[9] * 4)() <= P < ROWS[target].risk()


def load_corpus_model(target: str) -> torch.nn.Module:
    file, name = target.split(":")
    spec = importlib.util.spec_from_file_location(f"corpus_{Path(file).stem}", CORPUS / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


@pytest.mark.parametrize("target", [r.target for r in TABLE if r.risk is certain])
def test_single_feature_norm_nets_are_constant(target: str) -> None:
    """The P = 1 rows, checked independently: in float64 the output is the same for 1000 random inputs up to
    rounding (a single-feature norm computes x·rstd − mean·rstd, zero up to rounding, with rstd ≤ 1/√eps)."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        model = load_corpus_model(target).double()
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        with torch.no_grad():
            out = model(3.0 * torch.randn(1000, first.in_features, dtype=torch.float64))
    finally:
        torch.random.set_rng_state(state)
    spread = (out - out[:1]).abs().max().item()
    assert spread <= 1e-12 * (1.0 + out.abs().max().item())


# ------------------------------------------------------------- the path claims, checked by killing layers


@dataclass(frozen=True)
class Paths:
    """Which ReLU layers of a model lie on every input→output path: killing one (a bias of −10⁴ makes its
    ReLU zero for every input) must make the selected output constant; killing a bypassed one must not."""

    target: str
    inputs: Callable[[], tuple]
    on_every_path: tuple[str, ...]
    bypassed: tuple[str, ...]
    select: Callable[[torch.Tensor], torch.Tensor] = lambda out: out


def _randn(*shape: int) -> Callable[[], tuple]:
    return lambda: (torch.randn(*shape, dtype=torch.float64),)


PATHS = (
    Paths("physicsnemo_fc.py:FullyConnected", _randn(256, 3), ("layers.0.linear", "layers.7.linear"),
          tuple(f"layers.{i}.linear" for i in range(1, 7))),
    Paths("rtdl_resnet.py:TabularResNet", _randn(256, 12), (), tuple(f"blocks.{i}.linear_first" for i in range(8))),
    Paths("gpt_pre_ln.py:TinyGPT", lambda: (torch.randint(0, 64, (16, 16)),), (),
          tuple(f"h.{i}.mlp.c_fc" for i in range(6))),
    Paths("residual_identity.py:ResidualMLP", _randn(256, 3), ("stem.0",),
          tuple(f"blocks.{i}.branch.0" for i in range(8))),
    Paths("summed_branches.py:ProjectionResMLP", _randn(256, 2),
          ("stem.0", *(f"blocks.{i}.fc2" for i in range(8))), tuple(f"blocks.{i}.fc1" for i in range(8))),
    Paths("summed_branches.py:MeanSAGE", _randn(256, 3),
          ("lin_in", *(f"convs.{i}.lin_l" for i in range(8))), (), select=lambda out: out[:, 0]),
    Paths("nerf_mlp.py:TinyNeRF", _randn(256, 6), tuple(f"pts_linears.{i}" for i in (5, 6, 7)),
          tuple(f"pts_linears.{i}" for i in range(5)), select=lambda out: out[:, 3]),  # the density
    Paths("deepsdf_decoder.py:Decoder", _randn(256, 6), tuple(f"lin{i}" for i in range(4, 10)),
          tuple(f"lin{i}" for i in range(4))),
    Paths("tanh_split.py:TanhMiddle", _randn(256, 2),
          tuple(f"encoder.{i}" for i in (0, 2, 4, 6)) + tuple(f"decoder.{i}" for i in (0, 2, 4, 6)), ()),
    Paths("tanh_split.py:LinearBottleneck", _randn(256, 2),
          ("inp", *(f"pre.{i}" for i in range(3)), *(f"post.{i}" for i in range(4))), ()),
    # a dead branch makes G(u)(y) constant in u (one query point y for the whole batch) ...
    Paths("deeponet.py:DeepONet",
          lambda: ((torch.randn(256, 100, dtype=torch.float64), torch.full((256, 1), 0.3, dtype=torch.float64)),),
          tuple(f"branch.linears.{i}" for i in range(12)), ()),
    # ... and a dead trunk makes it constant in y (one input function u for the whole batch)
    Paths("deeponet.py:DeepONet",
          lambda: ((torch.randn(1, 100, dtype=torch.float64).expand(256, 100), torch.randn(256, 1, dtype=torch.float64)),),
          tuple(f"trunk.linears.{i}" for i in range(13)), ()),
)  # fmt: skip


def _layer_cases() -> list[tuple[Paths, str, bool]]:
    cases = [(p, name, True) for p in PATHS for name in p.on_every_path]
    return cases + [(p, name, False) for p in PATHS for name in p.bypassed]


@pytest.mark.parametrize(
    ("paths", "layer", "kills"),
    _layer_cases(),
    ids=[f"{p.target}-{name}-{'kills' if kills else 'bypassed'}" for p, name, kills in _layer_cases()],
)
def test_path_claims(paths: Paths, layer: str, kills: bool) -> None:
    """The table's reasons say which layers every path crosses; a forward pass with one layer killed decides."""
    assert paths.target in ROWS
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        model = load_corpus_model(paths.target).double().eval()  # eval: no dropout noise
        inputs = paths.inputs()
        with torch.no_grad():
            model.get_submodule(layer).bias.fill_(-1e4)
            out = paths.select(model(*inputs)).reshape(-1)
    finally:
        torch.random.set_rng_state(state)
    spread = (out - out[0]).abs().max().item()
    if kills:
        assert spread <= 1e-9 * (1.0 + out.abs().max().item()), f"killing {layer} left the output varying"
    else:
        assert spread > 1e-6, f"killing the bypassed {layer} made the output constant"
