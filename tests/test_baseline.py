"""Baselines: write today's findings, report only new ones, list fixed entries; keys ignore line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_sources import DEEP_NARROW
from test_render import make_chain, make_finding, make_report, make_target
from typer.testing import CliRunner

import relulint
from relulint.baseline import (
    BASELINE_VERSION,
    Baseline,
    baseline_from_report,
    filter_baseline,
    filter_report,
    finding_key,
    read_baseline,
    write_baseline,
)
from relulint.cli import app
from relulint.errors import DataError


def deep_narrow(line: int = 8, target: str = "model.py:Net", widths=(3,) * 12, extra=()):
    chains = [make_chain(list(widths), line=line)]
    findings = [make_finding(line=line, target=target), *extra]
    return make_target(chains, findings, target=target)


def test_write_and_read_round_trip(tmp_path) -> None:
    report = make_report(deep_narrow())
    path = tmp_path / "ci" / "baseline.json"
    assert write_baseline(report, path) == 1
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == BASELINE_VERSION and document["relulint"] == "0.1.0"
    (entry,) = document["entries"]
    assert entry["code"] == "RL101" and entry["path"] == "model.py" and entry["model"] == "Net"
    assert entry["shape"] == "1 → 3×12 → 1" and entry["count"] == 1
    assert "line" not in entry
    assert read_baseline(path).entries == baseline_from_report(report).entries


def test_same_report_filters_to_nothing(tmp_path) -> None:
    path = tmp_path / "b.json"
    write_baseline(make_report(deep_narrow()), path)
    filtered = filter_report(make_report(deep_narrow()), path)
    assert filtered.findings == () and filtered.fixed == ()


def test_key_ignores_lines_and_target_spelling() -> None:
    one = deep_narrow(line=8)
    two = deep_narrow(line=40, target="model.py")
    assert finding_key(one.findings[0], one) == finding_key(two.findings[0], two)


def test_key_depends_on_code_model_and_chain_shape() -> None:
    base = deep_narrow()
    wider = deep_narrow(widths=(4,) * 12)
    other_code = deep_narrow(extra=[make_finding("RL901", chain=None)])
    key = finding_key(base.findings[0], base)
    assert finding_key(wider.findings[0], wider) != key
    assert finding_key(other_code.findings[1], other_code) != key


def test_new_findings_are_reported_and_fixed_entries_listed(tmp_path) -> None:
    path = tmp_path / "b.json"
    write_baseline(make_report(deep_narrow()), path)
    changed = deep_narrow(widths=(2,) * 12, extra=[])  # the old chain is gone, a new one appeared
    filtered = filter_report(make_report(changed), path)
    assert len(filtered.findings) == 1
    assert filtered.fixed == ("RL101 model.py:Net 1 → 3×12 → 1",)


def test_counts_absorb_duplicates() -> None:
    target = deep_narrow(extra=[make_finding()])  # two identical findings
    baseline = baseline_from_report(make_report(target))
    assert [e.count for e in baseline.entries] == [2]
    keyed = [(finding_key(f, target), f) for f in target.findings]
    new, fixed = filter_baseline(keyed + keyed[:1], baseline)
    assert len(new) == 1 and fixed == []


def test_entries_of_models_not_linted_are_not_fixed(tmp_path) -> None:
    path = tmp_path / "b.json"
    other = make_target([make_chain([2] * 9)], [make_finding()], name="Other", path="other.py")
    write_baseline(make_report(deep_narrow(), other), path)
    filtered = filter_report(make_report(make_target([make_chain([64])], [])), path)
    assert filtered.fixed == ("RL101 model.py:Net 1 → 3×12 → 1",)


def test_entries_of_rules_that_did_not_run_are_not_fixed(tmp_path) -> None:
    path = tmp_path / "b.json"
    write_baseline(make_report(deep_narrow()), path)
    gone = make_report(make_target([make_chain([3] * 12)], []))  # the model is there, RL101 not run
    assert filter_report(gone, path, codes={"RL201"}).fixed == ()
    assert filter_report(gone, path, codes={"RL101"}).fixed == ("RL101 model.py:Net 1 → 3×12 → 1",)


def test_empty_baseline_keeps_everything() -> None:
    report = make_report(deep_narrow())
    assert filter_report(report, Baseline()).findings == report.findings


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "cannot read baseline"),
        ('{"version": 99, "entries": []}', "unsupported version 99"),
        ("[]", "unsupported version"),
        ('{"version": 1, "entries": [{"code": "RL101"}]}', "malformed entry"),
        ('{"version": 1, "entries": [3]}', "malformed entry"),
    ],
)
def test_bad_baseline_files_are_data_errors(tmp_path, text, needle) -> None:
    path = tmp_path / "b.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=needle):
        read_baseline(path)


def test_missing_baseline_hints_at_write_baseline(tmp_path) -> None:
    with pytest.raises(DataError) as raised:
        read_baseline(tmp_path / "nope.json")
    assert "--write-baseline" in raised.value.hint


def test_baseline_file_is_deterministic(tmp_path) -> None:
    report = make_report(
        deep_narrow(), make_target([make_chain([2] * 9)], [make_finding()], name="A", path="a.py")
    )
    write_baseline(report, tmp_path / "one.json")
    write_baseline(report, tmp_path / "two.json")
    assert (tmp_path / "one.json").read_text() == (tmp_path / "two.json").read_text()
    paths = [e["path"] for e in json.loads((tmp_path / "one.json").read_text())["entries"]]
    assert paths == sorted(paths)


# ------------------------------------------------------------------ the command line, any directory


def project(root: Path, config: str | None) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "model.py").write_text(DEEP_NARROW, encoding="utf-8")
    (root / "tools" / "deep").mkdir(parents=True)
    if config is not None:
        (root / "pyproject.toml").write_text(config, encoding="utf-8")
    return root


def cli(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args)


def test_baseline_written_at_the_root_matches_from_a_subdirectory(tmp_path, monkeypatch) -> None:
    config = '[tool.relulint]\ntargets = ["models/model.py:Net"]\nbaseline = "relulint-baseline.json"\n'
    root = project(tmp_path, config)
    written = cli(["check", "--write-baseline", "relulint-baseline.json"], root, monkeypatch)
    assert written.exit_code == 0 and "wrote 4 finding(s)" in written.stderr, written.output
    entries = json.loads((root / "relulint-baseline.json").read_text(encoding="utf-8"))["entries"]
    assert {e["path"] for e in entries} == {"models/model.py"}
    for where in (root, root / "tools", root / "tools" / "deep"):
        result = cli(["check", "--format", "json"], where, monkeypatch)
        assert result.exit_code == 0, (where, result.output)
        document = json.loads(result.stdout)
        assert document["targets"][0]["name"] == "Net" and document["targets"][0]["findings"] == []
        assert document["fixed"] == [], where  # the entries are matched, not reported as fixed
    # an explicit target spelled from the subdirectory (outside it: an absolute path) matches too
    spelled = cli(["check", "../models/model.py:Net", "-f", "json"], root / "tools", monkeypatch)
    assert spelled.exit_code == 0 and json.loads(spelled.stdout)["targets"][0]["findings"] == [], (
        spelled.output
    )


def test_without_config_keys_are_relative_to_the_git_root(tmp_path, monkeypatch) -> None:
    root = project(tmp_path, None)
    (root / ".git").mkdir()
    written = cli(["check", "models/model.py:Net", "--write-baseline", "b.json"], root, monkeypatch)
    assert written.exit_code == 0, written.output
    result = cli(
        ["check", "../models/model.py", "--baseline", "../b.json", "-f", "json"], root / "tools", monkeypatch
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"][0]["findings"] == []


def test_key_is_the_sarif_fingerprint(tmp_path, monkeypatch) -> None:
    """One implementation: the baseline key of a chain finding is the finding's own fingerprint."""
    root = project(tmp_path, '[tool.relulint]\ntargets = ["models/model.py:Net"]\n')
    monkeypatch.chdir(root / "tools")
    report = relulint.check("../models/model.py:Net")
    (target,) = report.targets
    assert target.findings
    for finding in target.findings:
        assert finding_key(finding, target) == finding.fingerprint
    monkeypatch.chdir(root)
    again = relulint.check("models/model.py:Net")
    assert [f.fingerprint for f in again.findings] == [f.fingerprint for f in report.findings]
