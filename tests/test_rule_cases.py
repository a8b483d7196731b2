"""Every rule's VALID and INVALID example models, run through the whole pipeline (Fixit-style).

Adding a rule under `rules/` adds its tests: INVALID cases must fire the rule at each line marked
`# expect: CODE` (and nowhere else), VALID cases must not fire it. A rule without its docs sections or
without examples fails here.
"""

from __future__ import annotations

import importlib
import re
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


def run_case(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: type[Rule] | None = None
) -> relulint.records.report.Report:
    """Write the case's model (and extra files) to a fresh directory and lint it there (an "audit"-group
    rule's case is audited: `relulint.audit.audit`, the model as its code leaves the weights)."""
    (tmp_path / "model.py").write_text(case.source, encoding="utf-8")
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    options = Options(**{"kwargs": dict(case.kwargs), **case.options, "scripts": tuple(case.args)})
    if rule is not None and "audit" in rule.groups:
        from relulint.audit import audit

        return audit(f"model.py:{case.target}", options=options, cwd=tmp_path)
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
    report = run_case(case, tmp_path, monkeypatch, rule)
    fired = {(f.path, f.line) for f in report.findings if f.code == rule.code}
    assert fired == expected, [f"{f.code} {f.path}:{f.line} {f.message}" for f in report.findings]


@pytest.mark.parametrize(("rule", "case"), cases("VALID"))
def test_valid_case_stays_silent(rule: type[Rule], case: Case, tmp_path, monkeypatch) -> None:
    report = run_case(case, tmp_path, monkeypatch, rule)
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


RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
PAPERS = (
    "collapse",
    "dying",
    "nonconvergence",
    "momentum",
    "degenerate",
)  # the README's References keys of the papers
PAPER = re.compile(r"`(" + "|".join(PAPERS) + r")`")
RESULT = re.compile(r"\b(Eq|Thm|Theorem|Lemma|Prop|Proposition)\b\.?\s*\d|§\s*\d")
NO_PAPER = {"RL900", "RL901"}  # relulint's own rules


def rule_modules() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.py") if not p.stem.startswith("_"))


def test_rule_modules_are_found() -> None:
    assert len(rule_modules()) >= 8


@pytest.mark.parametrize("stem", rule_modules())
def test_every_rule_module_registers_exactly_one_rule(stem: str) -> None:
    module = importlib.import_module(f"relulint.rules.{stem}")
    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Rule)
        and value.__module__ == module.__name__
        and "code" in value.__dict__
    ]
    assert len(defined) == 1, f"rules/{stem}.py defines {[r.__name__ for r in defined]}"
    (rule,) = defined
    assert RULES[rule.code] is rule, f"rules/{stem}.py: {rule.code} is not the registered class"
    assert stem.startswith(rule.code.lower()), f"rules/{stem}.py holds {rule.code}"


def test_every_registered_rule_lives_in_its_own_module() -> None:
    modules = [rule.__module__ for rule in RULES.values()]
    assert len(set(modules)) == len(modules)
    assert sorted(m.rsplit(".", 1)[-1] for m in modules) == rule_modules()


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_why_cites_the_paper_and_the_result(rule: type[Rule]) -> None:
    why = rule.docs()["Why is this bad?"]
    if rule.code in NO_PAPER:
        return
    assert PAPER.search(why), f"{rule.code}: 'Why is this bad?' names no paper in backticks {PAPERS}"
    assert RESULT.search(why), f"{rule.code}: 'Why is this bad?' cites no equation/theorem/lemma/§"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("see `collapse` Theorem 8", True),
        ("see `dying` §4.3", True),
        ("as `momentum` Eq. 1 shows", True),
        ("see collapse Theorem 8", False),  # no backticks
        ("see `collapse`, which is a paper", False),  # no result
        ("see `resnet` Theorem 8", False),  # not one of the papers
    ],
)
def test_citation_check_is_not_toothless(text: str, ok: bool) -> None:
    assert bool(PAPER.search(text) and RESULT.search(text)) is ok


@pytest.mark.parametrize("rule", list(all_rules().values()), ids=lambda r: r.code)
def test_rule_doc_code_blocks_are_valid_python(rule: type[Rule]) -> None:
    docs = rule.docs()
    for section in ("Example", "Use instead"):
        if docs[section]:
            compile(docs[section], f"{rule.code} {section}", "exec")
