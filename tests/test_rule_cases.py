"""Every rule's VALID and INVALID example models, run through the whole pipeline (Fixit-style).

Adding a rule under `rules/` adds its tests: INVALID cases must fire the rule at each line marked
`# expect: CODE` (and nowhere else), VALID cases must not fire it. A rule without its docs sections or
without examples fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import relulint
from relulint.options import Options
from relulint.registry import EXPECT_PATTERN, Case, Rule, all_rules

RULES = all_rules()
REQUIRED_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "References")


def cases(kind: str) -> list:
    params = []
    for code, rule in RULES.items():
        for number, case in enumerate(getattr(rule, kind)):
            params.append(pytest.param(rule, case, id=f"{code}-{kind.lower()}-{number}"))
    return params


def run_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> relulint.facts.Report:
    """Write the case's model (and extra files) to a fresh directory and lint it there."""
    (tmp_path / "model.py").write_text(case.source, encoding="utf-8")
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    options = Options(**{"kwargs": dict(case.kwargs), **case.options, "scripts": tuple(case.args)})
    return relulint.check(f"model.py:{case.target}", options=options, cwd=tmp_path)


def marks(case: Case, code: str) -> set[tuple[str, int]]:
    """(file, line) of every `# expect: CODE` mark, in the model file and the case's extra files."""
    found = {("model.py", line) for mark, line in case.expected() if mark == code}
    for name, text in case.files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            match = EXPECT_PATTERN.search(line)
            if match and code in [c.strip() for c in match.group("codes").split(",")]:
                found.add((name, number))
    return found


@pytest.mark.parametrize(("rule", "case"), cases("INVALID"))
def test_invalid_case_fires_at_marked_lines(rule: type[Rule], case: Case, tmp_path, monkeypatch) -> None:
    expected = marks(case, rule.code)
    assert expected, f"{rule.code} INVALID case {case.title!r} marks no line with '# expect: {rule.code}'"
    report = run_case(case, tmp_path, monkeypatch)
    fired = {(f.path, f.line) for f in report.findings if f.code == rule.code}
    assert fired == expected, [f"{f.code} {f.path}:{f.line} {f.message}" for f in report.findings]


@pytest.mark.parametrize(("rule", "case"), cases("VALID"))
def test_valid_case_stays_silent(rule: type[Rule], case: Case, tmp_path, monkeypatch) -> None:
    report = run_case(case, tmp_path, monkeypatch)
    fired = [f"{f.code}:{f.line} {f.message}" for f in report.findings if f.code == rule.code]
    assert not fired


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_has_docs_and_examples(rule: type[Rule]) -> None:
    assert rule.summary.strip() and rule.name == rule.name.lower()
    docs = rule.docs()
    for section in REQUIRED_SECTIONS:
        assert docs[section].strip(), f"{rule.code}: empty '{section}' section"
    assert rule.VALID and rule.INVALID, f"{rule.code}: needs VALID and INVALID example models"
    for case in rule.INVALID:
        assert marks(case, rule.code), f"{rule.code}: unmarked INVALID case"
