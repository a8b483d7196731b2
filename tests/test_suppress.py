"""`# relulint: ignore[...]` comments, per-file ignores and RL900 unused-suppression, on hand-built findings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_render import make_finding, make_report, make_target

from relulint.options import Options
from relulint.records.report import Severity
from relulint.suppress import (
    apply_suppressions,
    glob_matches,
    parse_directive,
    scan_source,
    suppress_report,
)

MODEL = textwrap.dedent(
    """
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(1, 3)  # relulint: ignore[RL101]
            self.b = nn.Linear(3, 3)  # relulint: ignore[RL101, RL901]
            self.c = nn.Linear(3, 3)  # relulint: ignore
            self.d = nn.Linear(3, 3)  # noqa  # relulint: ignore[rl101]
            text = "# relulint: ignore[RL101]"


    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.x = nn.Linear(1, 1)  # relulint: ignore[RL101]
    """
).lstrip()


@pytest.fixture
def model(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    return tmp_path


def test_parse_directive_forms() -> None:
    assert parse_directive("# relulint: ignore[RL101, rl2 ]").codes == ("RL101", "RL2")
    assert parse_directive("#relulint:ignore").codes == ()
    assert parse_directive("# relulint: ignore[RL101]  # expect: RL900").codes == ("RL101",)
    assert parse_directive("# relulint: ignored") is None
    assert parse_directive("# noqa") is None


def test_scan_skips_strings() -> None:
    lines = [d.line for d in scan_source(MODEL, "model.py")]
    assert lines == [7, 8, 9, 10, 17]


def test_comment_on_the_finding_line_suppresses(model) -> None:
    findings = [make_finding(line=7), make_finding(line=9, code="RL202"), make_finding(line=10)]
    kept, suppressed, unused = apply_suppressions(findings)
    assert kept == [] and len(suppressed) == 3 and unused == []


def test_other_codes_and_other_lines_are_kept(model) -> None:
    findings = [make_finding(line=7, code="RL901"), make_finding(line=5), make_finding(line=8, code="RL202")]
    kept, suppressed, _ = apply_suppressions(findings)
    assert [(f.code, f.line) for f in kept] == [("RL901", 7), ("RL101", 5), ("RL202", 8)]
    assert suppressed == []


def test_custom_read_line() -> None:
    lines = {("x.py", 3): "layer = nn.Linear(1, 2)  # relulint: ignore[RL1]"}
    kept, suppressed, unused = apply_suppressions(
        [make_finding(path="x.py", line=3)], lambda path, line: lines.get((path, line))
    )
    assert kept == [] and len(suppressed) == 1 and unused == []


def test_unused_suppressions_become_rl900(model) -> None:
    findings = [make_finding(line=7)]
    kept, suppressed, unused = apply_suppressions(findings, paths=["model.py"])
    assert len(suppressed) == 1
    by_line = {f.line: f for f in unused}
    assert sorted(by_line) == [8, 9, 10, 17]
    assert all(f.code == "RL900" and f.name == "unused-suppression" for f in unused)
    assert by_line[8].severity is Severity.WARNING
    assert "no RL101, RL901 finding" in by_line[8].message
    assert by_line[9].message.endswith("no finding on this line")
    assert by_line[8].location.col == 35
    assert len({f.fingerprint for f in unused}) == 4


def test_partly_used_directive_names_the_unused_code(model) -> None:
    findings = [make_finding(line=8)]
    _, _, unused = apply_suppressions(findings, paths=["model.py"])
    (line8,) = [f for f in unused if f.line == 8]
    assert line8.message.endswith("no RL901 finding on this line")  # RL101 was used


def test_rl900_respects_selection(model) -> None:
    _, _, unused = apply_suppressions([], options=Options(ignore=("RL900",)), paths=["model.py"])
    assert unused == []
    _, _, unused = apply_suppressions([], options=Options(select=("RL9",)), paths=["model.py"])
    # RL101 is not selected this run: its comments are left alone; RL901 and the bare ignore are not
    assert [f.line for f in unused] == [8, 9]
    assert "RL101" not in unused[0].message.split(":")[-1]


def test_rl900_severity_override_and_per_file_ignore(model) -> None:
    options = Options(severity_overrides={"RL900": Severity.INFO})
    _, _, unused = apply_suppressions([], options=options, paths=["model.py"])
    assert {f.severity for f in unused} == {Severity.INFO}
    _, suppressed, unused = apply_suppressions(
        [], options=Options(per_file_ignores={"model.py": ("RL900",)}), paths=["model.py"]
    )
    assert unused == [] and len(suppressed) == 5


def test_explicit_rl900_suppresses_its_own_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("x = 1  # relulint: ignore[RL101, RL900]\n", encoding="utf-8")
    assert apply_suppressions([], paths=["m.py"])[2] == []


def test_per_file_ignores(model) -> None:
    options = Options(per_file_ignores={"tests/*.py": ("RL1",), "*_gen.py": ("RL101",)})
    findings = [
        make_finding(path="tests/test_x.py", line=1),
        make_finding(path="src/a_gen.py", line=1),
        make_finding(path="src/a.py", line=1),
    ]
    kept, suppressed, _ = apply_suppressions(findings, options=options)
    assert [f.path for f in kept] == ["src/a.py"] and len(suppressed) == 2


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("model.py", "model.py", True),
        ("*.py", "pkg/deep/model.py", True),
        ("tests/*.py", "tests/a.py", True),
        ("tests/*.py", "src/tests/a.py", False),
        ("**/gen/*.py", "gen/a.py", True),
        ("**/gen/*.py", "x/gen/a.py", True),
    ],
)
def test_glob_matches(pattern, path, matches, tmp_path) -> None:
    assert glob_matches(pattern, path, tmp_path) is matches


def test_absolute_glob_from_a_config_elsewhere(tmp_path) -> None:
    pattern = (tmp_path.resolve() / "tests/*.py").as_posix()
    assert glob_matches(pattern, "tests/a.py", tmp_path)
    assert not glob_matches(pattern, "src/a.py", tmp_path)


def test_report_level_shares_comments_between_models_in_a_file(model) -> None:
    net = make_target(findings=[make_finding(line=7)], name="Net", target="model.py")
    other = make_target(findings=[make_finding(line=17, target="model.py")], name="Other", target="model.py")
    report = suppress_report(make_report(net, other))
    assert report.findings and all(f.code == "RL900" for f in report.findings)
    assert sorted(f.line for f in report.findings) == [8, 9, 10]
    assert all(f.target == "model.py" for f in report.findings)


def test_report_level_ignores_modules_not_linted(model) -> None:
    net = make_target(findings=[make_finding(line=7)], name="Net")
    report = suppress_report(make_report(net))
    assert 17 not in [f.line for f in report.findings]  # inside class Other, which was not linted


def test_missing_file_reads_as_empty(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    kept, _, unused = apply_suppressions([make_finding(path="gone.py")], paths=["gone.py"])
    assert len(kept) == 1 and unused == []
