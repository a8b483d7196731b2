"""CONTRIBUTING.md's example rule is a working rule: installed as a plugin, it documents itself and its own
`# expect:` cases hold through `relulint check` (run in a fresh process, as in `test_graph_rules`)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from test_graph_rules import install_plugin, relulint_process

CONTRIBUTING = Path(__file__).resolve().parent.parent / "CONTRIBUTING.md"


def example_rule() -> str:
    text = CONTRIBUTING.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    (rule,) = [b for b in blocks if "class ReluAfterSigmoid(Rule)" in b]
    return rule


def case_sources(rule: str, kind: str) -> list[str]:
    """The `code` of each case in the rule's VALID or INVALID tuple, read from its source text."""
    section = rule.split(f"    {kind} = (", 1)[1]
    section = section.split("\n    )\n", 1)[0]
    return [
        textwrap.dedent(code).strip("\n") + "\n" for code in re.findall(r'code="""\n(.*?)"""', section, re.S)
    ]


def test_the_example_rule_compiles_and_has_cases() -> None:
    rule = example_rule()
    compile(rule, "CONTRIBUTING.md", "exec")
    assert case_sources(rule, "INVALID") and case_sources(rule, "VALID")


def test_the_example_rule_runs_as_a_plugin(tmp_path) -> None:
    rule = example_rule()
    env = install_plugin(tmp_path / "site", rule)
    invalid, valid = case_sources(rule, "INVALID")[0], case_sources(rule, "VALID")[0]
    (tmp_path / "invalid.py").write_text(invalid, encoding="utf-8")
    (tmp_path / "valid.py").write_text(valid, encoding="utf-8")
    args = ["check", "invalid.py", "valid.py", "--format", "json", "--select", "RL950", "--fail-on", "info"]
    done = relulint_process(args, tmp_path, env)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    fired = {
        (t["path"], f["line"]) for t in document["targets"] for f in t["findings"] if f["code"] == "RL950"
    }
    expected = {
        ("invalid.py", n) for n, line in enumerate(invalid.splitlines(), start=1) if "# expect: RL950" in line
    }
    assert expected and fired == expected
    shown = relulint_process(["rule", "RL950"], tmp_path, env)
    assert shown.returncode == 0, shown.stderr
    assert "relu-after-sigmoid" in shown.stdout and "Why is this bad?" in shown.stdout
