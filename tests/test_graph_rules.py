"""Rules see the model: `ModelFacts.graph` holds the captured forward pass as plain records
(`relulint.graph`), and a rule about the graph — not about ReLU chains — is one file, registered as a plugin
through the ``relulint.rules`` entry-point group (`relulint.registry.ENTRY_POINT_GROUP`).

The plugin tests run `relulint` in a fresh process (the plugin must not stay registered in this one, where
the other tests list every rule)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import relulint
from relulint.records.model_facts import GRAPH_ROLES, ModelGraph
from relulint.registry import ENTRY_POINT_GROUP, all_rules

PLUGIN = Path(__file__).parent / "fixtures" / "plugin_rule" / "relu_after_sigmoid.py"

# NeRF-style colour heads: one squashes the colour with a sigmoid and then (needlessly) clamps it with a
# ReLU, twice (functional and module spellings); the other does it the right way round
MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn
    import torch.nn.functional as F


    class ClampedColour(nn.Module):
        def __init__(self, width: int = 32):
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
            self.rgb = nn.Linear(width, 3)
            self.sigma = nn.Linear(width, 1)
            self.density = nn.Sequential(nn.Sigmoid(), nn.ReLU())

        def forward(self, x):
            h = self.trunk(x)
            rgb = F.relu(torch.sigmoid(self.rgb(h)))
            return torch.cat([rgb, self.density(self.sigma(h))], dim=-1)


    class Colour(nn.Module):
        def __init__(self, width: int = 32):
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
            self.rgb = nn.Linear(width, 3)
            self.sigma = nn.Linear(width, 1)

        def forward(self, x):
            h = self.trunk(x)
            return torch.cat([torch.sigmoid(self.rgb(h)), F.softplus(self.sigma(h))], dim=-1)
    """
).lstrip()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


# ------------------------------------------------------------------------------------------- records


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    (tmp_path / "heads.py").write_text(MODELS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def graph_of(report, name: str) -> ModelGraph:
    facts = next(t.facts for t in report.targets if t.name == name)
    assert facts is not None
    return facts.graph


def test_the_graph_names_each_node_its_module_and_role(models) -> None:
    graph = graph_of(relulint.check("heads.py"), "ClampedColour")
    assert graph.method == "fx"
    assert {n.role for n in graph.nodes} <= set(GRAPH_ROLES)
    by_target = {n.target: n for n in graph.nodes}
    rgb = by_target["rgb"]
    assert (rgb.kind, rgb.role, rgb.module, rgb.module_type) == ("module", "linear", "rgb", "Linear")
    assert rgb.location is not None and rgb.location.line == line_of(MODELS, "rgb = F.relu")
    (sigmoid,) = graph.consumers(rgb)
    assert (sigmoid.kind, sigmoid.role, sigmoid.name, sigmoid.module) == (
        "function",
        "activation",
        "sigmoid",
        None,
    )
    (relu,) = graph.consumers(sigmoid)
    assert (relu.role, relu.target) == ("relu", "relu") and graph.inputs(relu) == (sigmoid,)
    module_sigmoid = by_target["density.0"]
    assert (module_sigmoid.role, module_sigmoid.name, module_sigmoid.module_type) == (
        "activation",
        "sigmoid",
        "Sigmoid",
    )
    assert [n.target for n in graph.consumers(module_sigmoid)] == ["density.1"]
    assert graph.node(by_target["density.1"].id).role == "relu"
    assert [n.role for n in graph.with_role("input")] == ["input"] and graph.nodes[-1].role == "output"
    (cat,) = graph.with_role("concat")
    assert cat.args == {"dim": -1}
    # every ReLU of the trunk, the functional one and the module one
    assert len(graph.with_role("relu")) == 4


def test_the_graph_is_plain_data(models) -> None:
    report = relulint.check("heads.py")
    for target in report.targets:
        assert target.facts is not None
        plain = dataclasses.asdict(target.facts.graph)
        assert json.loads(json.dumps(plain)) == json.loads(json.dumps(plain))  # no torch object in it
        with pytest.raises(dataclasses.FrozenInstanceError):
            target.facts.graph.nodes[0].role = "other"  # type: ignore[misc]


def test_a_fallback_capture_has_a_graph_too(tmp_path, monkeypatch) -> None:
    (tmp_path / "branchy.py").write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn


            class Branchy(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(8, 4), nn.Sigmoid(), nn.ReLU(), nn.Linear(4, 1))

                def forward(self, x):
                    if x.sum() > 0:
                        return self.body(x)
                    return self.body(-x)
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    graph = graph_of(relulint.check("branchy.py"), "Branchy")
    assert graph.method == "hooks"
    assert [(n.module_type, n.role) for n in graph.nodes if n.kind == "module"] == [
        ("Linear", "linear"),
        ("Sigmoid", "activation"),
        ("ReLU", "relu"),
        ("Linear", "linear"),
    ]


# ------------------------------------------------------------------------------------------- plugins


def install_plugin(site: Path, module_text: str) -> dict[str, str]:
    """A distribution on `site` (a directory put on PYTHONPATH) declaring `module_text` as a rule plugin;
    the environment of a process that has it installed."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "relu_after_sigmoid.py").write_text(module_text, encoding="utf-8")
    info = site / "relulint_relu_after_sigmoid-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: relulint-relu-after-sigmoid\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nrelu-after-sigmoid = relu_after_sigmoid\n", encoding="utf-8"
    )
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def relulint_process(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "relulint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_graph_rule_in_one_file_runs_through_relulint_check(tmp_path) -> None:
    assert "RL990" not in all_rules()  # not installed here: only in the process below
    env = install_plugin(tmp_path / "site", PLUGIN.read_text(encoding="utf-8"))
    (tmp_path / "heads.py").write_text(MODELS, encoding="utf-8")
    done = relulint_process(["check", "heads.py", "--format", "json", "--fail-on", "info"], tmp_path, env)
    assert done.returncode == 1, done.stderr  # the wide trunks are safe: RL990 (info) alone fails the run
    document = json.loads(done.stdout)
    fired = {
        t["name"]: sorted(f["line"] for f in t["findings"] if f["code"] == "RL990")
        for t in document["targets"]
    }
    assert fired == {
        "ClampedColour": sorted(
            [line_of(MODELS, "rgb = F.relu"), line_of(MODELS, "self.density(self.sigma")]
        ),
        "Colour": [],
    }
    finding = next(f for t in document["targets"] for f in t["findings"] if f["code"] == "RL990")
    assert finding["name"] == "relu-after-sigmoid" and finding["severity"] == "info"
    assert finding["fingerprint"]  # fingerprinted at report time like every other finding
    # the plugin is a rule like the others: selected, ignored, documented
    ignored = relulint_process(["check", "heads.py", "--format", "json", "--ignore", "RL990"], tmp_path, env)
    codes = {f["code"] for t in json.loads(ignored.stdout)["targets"] for f in t["findings"]}
    assert "RL990" not in codes
    shown = relulint_process(["rule", "RL990"], tmp_path, env)
    assert shown.returncode == 0 and "relu-after-sigmoid" in shown.stdout


def test_a_broken_plugin_is_a_one_line_error(tmp_path) -> None:
    env = install_plugin(tmp_path / "site", "raise ImportError('no module named sklearn')\n")
    (tmp_path / "heads.py").write_text(MODELS, encoding="utf-8")
    done = relulint_process(["check", "heads.py"], tmp_path, env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "rule plugin 'relu-after-sigmoid' (relu_after_sigmoid) failed to load" in done.stderr
    assert "no module named sklearn" in done.stderr
